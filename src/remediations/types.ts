/**
 * The shape of a rule, ESLint-rule style: `meta` describes it, `detect` is a
 * pure function of a service snapshot returning one finding per resource the
 * rule applies to. Auto-fixable rules add `plan`/`apply` (remediations issue).
 */
import { pick, str } from "../model/arm.js";
import type { DataNeed, ServiceSnapshot } from "../model/snapshot.js";

/** The service's SKU name ("" when unknown). */
export function skuOf(s: ServiceSnapshot): string {
  return str(pick(s.service, "sku.name")) ?? "";
}

export type Severity = "critical" | "high" | "medium" | "low";
export type Action = "auto" | "ticket";
export type Status = "fail" | "pass" | "unknown";

export interface RuleMeta {
  id: string;
  title: string;
  severity: Severity;
  description: string;
  /** Why it matters, for tickets and docs. */
  rationale: string;
  defaultAction: Action;
  references: {
    /** Azure Policy built-in definition GUID. */
    azurePolicy?: string;
    /** Defender for Cloud recommendation name. */
    defender?: string;
    /** PSRule for Azure rule name. */
    psrule?: string;
    /** Microsoft cloud security benchmark / APIM security baseline control. */
    baseline?: string;
    /** Documentation links. */
    links?: string[];
  };
  /** The ARM data detect() reads. */
  needs: DataNeed[];
  /** The ARM actions a fix needs (for the least-privilege role). */
  fixActions: string[];
  /** What a finding's resource is: the service itself, or its children of one kind. */
  target: "service" | "apis" | "namedValues" | "backends" | "subscriptions" | "policies";
  /** Service SKUs the rule does not apply to. */
  notApplicableSkus?: string[];
}

export interface Finding {
  ruleId: string;
  resourceId: string;
  status: Status;
  severity: Severity;
  message: string;
  action: Action;
}

export interface RuleOptions {
  /** Minimum API version for `min-api-version`. */
  minApiVersion: string;
  /** Cipher customProperties suffixes that must be disabled for `gateway-weak-ciphers`. */
  weakCiphers: string[];
  /** Look-back window of `unused-api`. */
  unusedDays: number;
}

export interface Rule {
  meta: RuleMeta;
  detect(snapshot: ServiceSnapshot, options: RuleOptions): Finding[];
}

/** What a rule's detect returns before the engine stamps rule id, severity and action. */
export interface Verdict {
  resourceId: string;
  status: Status;
  message: string;
}

/** Builds a rule from its meta and a detect that returns verdicts. */
export function defineRule(meta: RuleMeta, detect: (s: ServiceSnapshot, o: RuleOptions) => Verdict[]): Rule {
  return {
    meta,
    detect(snapshot, options) {
      const sku = skuOf(snapshot);
      if (meta.notApplicableSkus?.some((s) => s.toLowerCase() === sku.toLowerCase())) return [];
      if (meta.target === "service" && !snapshot.serviceKnown) return [];
      const missing = meta.needs.filter((n) => !snapshot.collected.has(n));
      if (missing.length > 0 && !meta.needs.every((n) => n === "service")) {
        return [{ ruleId: meta.id, resourceId: snapshot.service.id, status: "unknown", severity: meta.severity, action: meta.defaultAction, message: `Not evaluated: the input has no ${missing.join(", ")} data.` }];
      }
      return detect(snapshot, options).map((v) => ({ ruleId: meta.id, severity: meta.severity, action: meta.defaultAction, ...v }));
    },
  };
}
