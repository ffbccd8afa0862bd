/**
 * Each evaluation writes one compliance summary to the log (src/app/posture.ts): per service and rule,
 * pass / fail / unknown after the evaluation and what it fixed. In Azure that line is a trace in
 * Application Insights (unsampled: host.json), which the workbook's posture view and the alert rules
 * query; here the app runs over the emulator and Azurite with its log lines captured.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleEvents, report, sweep, type AppDeps } from "../../src/app/app.js";
import { COMPLIANCE_SUMMARY_MSG, type PostureSummary } from "../../src/app/posture.js";
import { createLogger, SecretRegistry } from "../../src/common/logger.js";
import { drainQueue } from "../../src/local/driver.js";
import { PORTAL_USER, startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { appFor, clearAppStorage } from "../helpers/app.js";

const DEMO = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const DEV = `/subscriptions/${SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
const PROD = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso-prod`;

describe("the compliance summary in the log", () => {
  let env: TestEnv;
  let deps: AppDeps;
  const lines: Array<Record<string, unknown>> = [];
  const summaries = () => lines.filter((l) => l["msg"] === COMPLIANCE_SUMMARY_MSG).map((l) => l["posture"] as PostureSummary);

  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, LOG_LEVEL: "info" });
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split("\n").filter((x) => x.length > 0)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    deps.log = createLogger({ level: "info", registry: new SecretRegistry(), destination });
    await clearAppStorage(deps);
  }, 60_000);
  afterAll(async () => env?.emu.stop());

  it("a sweep: one summary per service, per rule pass/fail/unknown/fixed, the same counts the compliance table holds", async () => {
    await sweep(deps, "posture-sweep");
    await drainQueue(deps, { visibilityTimeout: 60 });
    const byService = new Map(summaries().map((s) => [s.serviceId, s]));
    expect(byService.size).toBe(3);
    const dev = byService.get(DEV) as PostureSummary;
    expect(dev).toMatchObject({ v: 1, service: "apim-contoso-dev", subscriptionId: SUB, resourceGroup: "rg-apim-dev", trigger: "sweep", scope: "full", correlationId: "posture-sweep" });
    // the API revisions that accepted http were fixed: passing now, and counted as fixed
    const https = dev.rules.find((r) => r.ruleId === "api-https-only");
    expect(https).toMatchObject({ fail: 0, fixed: 3 });
    expect(https?.pass).toBeGreaterThanOrEqual(3);
    // ticket-only rules still fail
    expect(dev.rules.find((r) => r.ruleId === "backend-https")?.fail).toBe(4);
    // totals add up, and every count matches what GET /api/report shows for the service
    for (const k of ["pass", "fail", "unknown", "fixed"] as const) expect(dev.totals[k]).toBe(dev.rules.reduce((a, r) => a + r[k], 0));
    const latest = (await report(deps)).services.find((s) => s.serviceId.toLowerCase() === DEV.toLowerCase());
    for (const r of dev.rules) {
      const findings = latest?.rules[r.ruleId]?.findings ?? [];
      expect({ rule: r.ruleId, pass: r.pass, fail: r.fail }).toEqual({ rule: r.ruleId, pass: findings.filter((f) => f.status === "pass").length, fail: findings.filter((f) => f.status === "fail").length });
    }
    expect(byService.get(PROD)?.totals.fail).toBe(0);
  }, 120_000);

  it("an event: a partial summary of the rules the change can affect", async () => {
    lines.length = 0;
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const api = await user.api.get("rg-apim-prod", "apim-contoso-prod", "orders");
    await user.api.update("rg-apim-prod", "apim-contoso-prod", "orders", api.eTag as string, { protocols: ["http", "https"] });
    for (const e of env.emu.events.list()) await handleEvents(e, deps);
    await drainQueue(deps, { visibilityTimeout: 60 });
    const prod = summaries().find((s) => s.serviceId === PROD);
    expect(prod).toMatchObject({ trigger: "event", scope: "partial" });
    expect(prod?.rules.find((r) => r.ruleId === "api-https-only")).toMatchObject({ fail: 0, fixed: 1 });
  }, 120_000);
});
