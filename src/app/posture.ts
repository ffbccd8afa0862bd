/**
 * The compliance summary each evaluation writes to the log: per service and rule, how many resources
 * pass, fail and are unknown once the evaluation is done, and how many it fixed. In Azure the log line
 * reaches Application Insights as a trace (pino writes to the invocation context); host.json keeps
 * traces out of sampling, so every summary arrives and a Log Analytics query can add them up
 * (infra/workbook.json: the posture view). The shape is versioned (`v`) and only grows.
 */
import { parseServiceId } from "../model/arm.js";
import type { Finding } from "../model/rule.js";

/** The log line's `msg`; the workbook and alert queries look for it. */
export const COMPLIANCE_SUMMARY_MSG = "compliance summary";

export interface RulePosture {
  ruleId: string;
  pass: number;
  fail: number;
  unknown: number;
  /** Failing when the evaluation began and fixed (applied and verified) by it; counted in `pass`. */
  fixed: number;
}

export interface PostureSummary {
  v: 1;
  serviceId: string;
  service: string;
  subscriptionId: string;
  resourceGroup: string;
  /** Why the evaluation ran (the queue message's reason: sweep, event, manual, ...). */
  trigger: string;
  /** "full": every rule on every resource (a sweep); "partial": the rules and APIs a change can affect. */
  scope: "full" | "partial";
  correlationId: string;
  totals: Omit<RulePosture, "ruleId">;
  rules: RulePosture[];
}

/**
 * The summary from the verdicts the evaluation recorded (findings after fixing: a drift fixed now is
 * `pass`, a change Azure is still applying `unknown`) and the rules it evaluated (each listed, zeros included).
 */
export function postureSummary(input: {
  serviceId: string;
  trigger: string;
  partial: boolean;
  correlationId: string;
  rulesEvaluated: string[];
  verdicts: Array<Pick<Finding, "ruleId" | "status">>;
  fixed: Array<{ ruleId: string }>;
}): PostureSummary {
  const ref = parseServiceId(input.serviceId);
  const byRule = new Map<string, RulePosture>();
  const row = (ruleId: string) => {
    let r = byRule.get(ruleId);
    if (!r) byRule.set(ruleId, (r = { ruleId, pass: 0, fail: 0, unknown: 0, fixed: 0 }));
    return r;
  };
  for (const id of input.rulesEvaluated) row(id);
  for (const v of input.verdicts) row(v.ruleId)[v.status]++;
  for (const f of input.fixed) row(f.ruleId).fixed++;
  const rules = [...byRule.values()].sort((a, b) => a.ruleId.localeCompare(b.ruleId));
  const totals = { pass: 0, fail: 0, unknown: 0, fixed: 0 };
  for (const r of rules) for (const k of ["pass", "fail", "unknown", "fixed"] as const) totals[k] += r[k];
  return {
    v: 1,
    serviceId: ref?.id ?? input.serviceId,
    service: ref?.name ?? input.serviceId.split("/").pop() ?? input.serviceId,
    subscriptionId: ref?.subscriptionId ?? "",
    resourceGroup: ref?.resourceGroup ?? "",
    trigger: input.trigger,
    scope: input.partial ? "partial" : "full",
    correlationId: input.correlationId,
    totals,
    rules,
  };
}
