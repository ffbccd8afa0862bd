import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { engineFor } from "../helpers/engine.js";
import { RULES } from "../../src/remediations/index.js";

const DEMO = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const DEV = `/subscriptions/${SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
const PROD = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso-prod`;
const KV_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`;
/** The demo estate's Log Analytics workspace, as `npm run demo` configures it. */
const LAW_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.OperationalInsights/workspaces/law-contoso-apim`;
const AUTO = new Set(RULES.filter((r) => r.meta.defaultAction === "auto").map((r) => r.meta.id));
const SECRETS = ["demo-db-pass-Q8w3", "demo-partner-key-Zk41", "demo-orders-key-7Yq2"];

describe("enforce mode on the demo estate", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());

  it("fixes every auto drift of the drifted service, then a second run writes nothing", async () => {
    const e = engineFor(env.emu, { KEY_VAULT_URL: env.emu.keyVaults["kv-contoso-apim"] as string, KEY_VAULT_RESOURCE_ID: KV_ID, REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: LAW_ID });
    const first = await e.engine.evaluate(DEV, { correlationId: "sweep-1" });
    const byRule = (id: string) => first.actions.filter((a) => a.ruleId === id).map((a) => `${a.outcome}${a.reason ? `: ${a.reason}` : ""}`);
    expect(byRule("managed-identity")).toEqual(["applied"]);
    expect(byRule("api-https-only")).toEqual(["applied", "applied", "applied"]);
    expect(byRule("named-value-secrets-in-key-vault")).toEqual(["applied", "applied"]);
    expect(byRule("direct-management-endpoint-disabled")).toEqual(["applied"]);
    expect(byRule("git-configuration-endpoint-disabled")).toEqual(["applied"]);
    expect(byRule("min-api-version")).toEqual(["applied"]);
    expect(byRule("resource-lock")).toEqual(["applied"]);
    // the issue 17 auto rules: the self-hosted gateway configuration endpoint, resource logs to the configured workspace
    expect(byRule("gateway-configuration-endpoint-disabled")).toEqual(["applied"]);
    expect(byRule("resource-logs-enabled")).toEqual(["applied"]);
    // ticket rules are planned or reported, never written
    expect(first.actions.filter((a) => a.ruleId === "gateway-tls-protocols").map((a) => a.outcome)).toEqual(["planned"]);

    env.emu.log.clear();
    const second = await e.engine.evaluate(DEV, { correlationId: "sweep-2" });
    expect(second.writes).toBe(0);
    expect(env.emu.log.list().filter((l) => l.method !== "GET")).toEqual([]);
    expect(second.findings.filter((f) => f.status === "fail" && ["api-https-only", "named-value-secrets-in-key-vault", "managed-identity", "resource-lock", "min-api-version"].includes(f.ruleId))).toEqual([]);
    // converged: no auto rule fails any more (what still fails is ticket-only)
    expect(second.findings.filter((f) => f.status === "fail" && AUTO.has(f.ruleId)).map((f) => `${f.ruleId} ${f.resourceId}`)).toEqual([]);
    expect(second.findings.some((f) => f.status === "fail")).toBe(true);

    const dump = JSON.stringify(e.audit.records) + e.logLines.join("\n");
    for (const s of SECRETS) expect(dump).not.toContain(s);
  });

  it("makes zero writes on the compliant service", async () => {
    const e = engineFor(env.emu, { KEY_VAULT_URL: env.emu.keyVaults["kv-contoso-apim"] as string, KEY_VAULT_RESOURCE_ID: KV_ID, REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: LAW_ID });
    env.emu.log.clear();
    const r = await e.engine.evaluate(PROD);
    expect(r.writes).toBe(0);
    expect(r.findings.filter((f) => f.status !== "pass").map((f) => `${f.ruleId} ${f.status}`)).toEqual([]);
    expect(env.emu.log.list().filter((l) => l.method !== "GET")).toEqual([]);
  });
});
