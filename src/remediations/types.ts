/**
 * The shape of a rule, ESLint-rule style: `meta` describes it, `detect` is a
 * pure function of a service snapshot returning one finding per resource the
 * rule applies to. Auto-fixable rules add `plan`/`apply` (remediations issue).
 */
import { pick, str } from "../model/arm.js";
import type { Rule, RuleMeta, RuleOptions, Verdict } from "../model/rule.js";
import type { ServiceSnapshot } from "../model/snapshot.js";

/** The service's SKU name ("" when unknown). */
export function skuOf(s: ServiceSnapshot): string {
  return str(pick(s.service, "sku.name")) ?? "";
}

/**
 * The v2 tiers' SKU names (ARM `sku.name`; Microsoft Learn, "Azure API Management v2 tiers"). Their
 * features differ from the classic tiers': see the applicability table in docs/rules/README.md.
 */
export const V2_SKUS = ["BasicV2", "StandardV2", "PremiumV2"] as const;

/** Builds a rule from its meta and a detect that returns verdicts. */
export function defineRule(meta: RuleMeta, detect: (s: ServiceSnapshot, o: RuleOptions) => Verdict[]): Rule {
  return {
    meta,
    detect(snapshot, options) {
      const sku = skuOf(snapshot);
      if (meta.notApplicableSkus?.some((s) => s.toLowerCase() === sku.toLowerCase())) return [];
      if (meta.target === "service" && !snapshot.serviceKnown) return [];
      // a collection that failed for good (e.g. a feature the tier lacks): this rule cannot decide, the others run
      const failed = meta.needs.flatMap((n) => {
        const why = snapshot.failed?.get(n);
        return why === undefined ? [] : [`the ${n} data could not be read: ${why}`];
      });
      if (failed.length > 0) {
        return [{ ruleId: meta.id, resourceId: snapshot.service.id, status: "unknown", severity: meta.severity, action: meta.defaultAction, message: `Not evaluated: ${failed.join("; ")}.` }];
      }
      const missing = meta.needs.filter((n) => !snapshot.collected.has(n));
      if (missing.length > 0 && !meta.needs.every((n) => n === "service")) {
        return [{ ruleId: meta.id, resourceId: snapshot.service.id, status: "unknown", severity: meta.severity, action: meta.defaultAction, message: `Not evaluated: the input has no ${missing.join(", ")} data.` }];
      }
      return detect(snapshot, options).map((v) => ({ ruleId: meta.id, severity: meta.severity, action: meta.defaultAction, ...v }));
    },
  };
}

/** Errors an apply can raise, which the engine treats specially. */
export class BlockedError extends Error {}

/**
 * The fix started something Azure is still completing (e.g. a role assignment that is not in effect yet):
 * nothing is broken and nothing needs a person; the engine reports the action as `in-progress`, not failed,
 * and a later evaluation continues where this one stopped. `retryAfterMs`: when trying again is worthwhile
 * (for a delayed re-evaluation).
 */
export class InProgressError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

// The rule vocabulary lives in src/model/rule.ts; rule files import it from here with the helpers above.
export type { Severity, Action, Status, RuleMeta, Finding, RuleOptions, Rule, Verdict, Change, Plan, PlanResult, RemediationSettings, PlanContext, Remediation, ApplyContext } from "../model/rule.js";
