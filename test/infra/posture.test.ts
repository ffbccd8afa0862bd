/**
 * Posture where operators look: the compliance summary each evaluation logs reaches Application
 * Insights unsampled (host.json), the workbook's posture view reads the fields the summary has, and
 * the Bicep deploys log alert rules for poisoned evaluations and failed remediations that match the
 * log lines the app writes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMPLIANCE_SUMMARY_MSG, postureSummary } from "../../src/app/posture.js";
import { arrayItems, INFRA, only, parseBicep, prop, str } from "./bicep.js";

const host = JSON.parse(readFileSync(join(process.cwd(), "host.json"), "utf8")) as { logging: { applicationInsights: { samplingSettings: { isEnabled: boolean; excludedTypes: string } } } };
const workbook = JSON.parse(readFileSync(join(INFRA, "workbook.json"), "utf8")) as { items: Array<{ type: number; name: string; content: { query?: string; title?: string; visualization?: string } }> };
const mon = parseBicep("modules/monitoring.bicep");
const main = parseBicep("main.bicep");
const SERVICE = "/subscriptions/8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev";

describe("posture in Application Insights", () => {
  it("the summary is a log line (a trace), and traces are not sampled", () => {
    // pino lines go to the invocation context: Application Insights stores them as traces. Sampling is
    // configured per telemetry type; excludedTypes are never sampled (Microsoft Learn, host.json reference:
    // https://learn.microsoft.com/azure/azure-functions/functions-host-json#applicationinsightssamplingsettings)
    const excluded = host.logging.applicationInsights.samplingSettings.excludedTypes.split(";");
    expect(excluded).toContain("Trace");
    expect(excluded).toContain("Exception");
    expect(readFileSync(join(process.cwd(), "src/app/app.ts"), "utf8")).toMatch(/deps\.log\.info\(\{ posture: postureSummary\(/);
  });

  it("the workbook's posture view reads the summary's fields: compliance over time, failing rules by service, mean time to fix", () => {
    const byName = new Map(workbook.items.map((i) => [i.name, i]));
    const views = ["posture-over-time", "posture-failing-rules", "posture-time-to-fix"].map((n) => byName.get(n));
    for (const v of views) expect(v?.type).toBe(3);
    const [overTime, failing, mttf] = views as Array<{ content: { query: string; title: string; visualization: string } }>;
    expect(overTime.content.visualization).toBe("timechart");
    expect(failing.content.title).toMatch(/Failing rules by service/);
    expect(mttf.content.title).toMatch(/Mean time to fix/);
    // the fields the queries read are the ones postureSummary writes
    const sample = postureSummary({ serviceId: SERVICE, trigger: "sweep", partial: false, correlationId: "c", rulesEvaluated: ["api-https-only"], verdicts: [{ ruleId: "api-https-only", status: "pass" }], fixed: [{ ruleId: "api-https-only" }] });
    const has = (path: string) => path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], { posture: sample, rule: sample.rules[0] }) !== undefined;
    for (const v of [overTime, failing, mttf]) {
      const q = v.content.query;
      expect(q).toMatch(/^traces\b/);
      expect(q).toContain(`tostring(j.msg) == "${COMPLIANCE_SUMMARY_MSG}"`);
      for (const m of q.matchAll(/j\.(posture(?:\.\w+)+)/g)) expect(has(m[1] as string), `${v.content.title}: ${m[1]}`).toBe(true);
      for (const m of q.matchAll(/\br\.(\w+)/g)) expect(has(`rule.${m[1]}`), `${v.content.title}: rule.${m[1]}`).toBe(true);
    }
    expect(sample).toMatchObject({ scope: "full", service: "apim-contoso-dev", totals: { pass: 1, fail: 0, unknown: 0, fixed: 1 } });
    // compliance over time and failing rules use sweeps (every rule judged), not partial event evaluations
    for (const v of [overTime, failing]) expect(v.content.query).toContain('tostring(j.posture.scope) == "full"');
    // time to fix: from the first failing summary to the first `applied` audit record of that rule on that service
    expect(mttf.content.query).toContain('tostring(j.audit.outcome) == "applied"');
    expect(mttf.content.query).toMatch(/firstFail = min\(timestamp\)[\s\S]*fixedAt = min\(timestamp\)/);
  });

  it("Bicep deploys log alert rules for poisoned evaluations and failed remediations, on Application Insights", () => {
    const rules = only(mon, "Microsoft.Insights/scheduledQueryRules");
    expect(rules.loop).toBe(true);
    expect(prop(rules.body, "properties.scopes")?.replace(/\s+/g, "")).toBe("[appInsights.id]");
    expect(str(prop(rules.body, "kind"))).toBe("LogAlert");
    const criterion = arrayItems(prop(rules.body, "properties.criteria.allOf") as string)[0] as string;
    expect(str(prop(criterion, "operator"))).toBe("GreaterThan");
    expect(prop(criterion, "threshold")).toBe("0");
    expect(str(prop(criterion, "timeAggregation"))).toBe("Count");
    // an optional action group, from main.bicep
    expect(prop(rules.body, "properties.actions.actionGroups")).toContain("alertActionGroupId");
    expect(mon.params.get("alertActionGroupId")?.default).toBe("''");
    expect(prop(main.modules.find((m) => m.symbol === "monitoring")?.body ?? "{}", "params.alertActionGroupId")).toBe("alertActionGroupId");
    // the two alerts match what the app logs: onPoison's alert field, and audit outcomes failed / rolled-back
    const alerts = arrayItems(mon.vars.get("alerts") as string);
    expect(alerts.map((a) => str(prop(a, "name"))).sort()).toEqual(["failed-remediation", "poison"]);
    const query = (name: string) => prop(alerts.find((a) => str(prop(a, "name")) === name) as string, "query") as string;
    expect(readFileSync(join(process.cwd(), "src/app/app.ts"), "utf8")).toContain('alert: "apim-remediator-poison"');
    expect(query("poison")).toContain('tostring(j.alert) == "apim-remediator-poison"');
    expect(query("failed-remediation")).toContain('tostring(j.audit.outcome) in ("failed", "rolled-back")');
    for (const name of ["poison", "failed-remediation"]) expect(query(name)).toMatch(/^'\$\{appLines\} \|/);
    expect(mon.vars.get("appLines")).toMatch(/^'traces \| where .*tostring\(j\.app\) == "apim-remediator"'$/);
  });
});
