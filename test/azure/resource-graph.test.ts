/**
 * Discovery through Azure Resource Graph (src/azure/resource-graph.ts, src/azure/discovery.ts) and verdicts from
 * its rows (src/engine/rows.ts, Engine `row`), against the emulator with the unmodified @azure/arm-resourcegraph
 * and ARM clients over HTTPS.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SUB, SUB2, service, serviceId, startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { engineFor } from "../helpers/engine.js";
import { loadConfig, type Config } from "../../src/common/config.js";
import { discover } from "../../src/azure/discovery.js";
import { queryServices } from "../../src/azure/resource-graph.js";
import { collectSnapshot } from "../../src/azure/collector.js";
import { detect } from "../../src/engine/scan.js";
import { judgedFromRow, rowSnapshot } from "../../src/engine/rows.js";
import { ruleOptions } from "../../src/engine/engine.js";
import { RULES } from "../../src/remediations/index.js";
import type { Estate } from "../../emulator/store.js";
import { DISCOVERY_ACTIONS, permissionManifest } from "../../src/azure/permissions.js";

const TLS10 = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10";
const SUB3 = "33333333-3333-4333-8333-333333333333";

function configFor(env: TestEnv, settings: Record<string, string> = {}): Config {
  return loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, REMEDIATOR_PRINCIPAL_ID: "0e5a0000-0000-4000-8000-00000000beef", ARM_MAX_RETRIES: "3", ...settings });
}

function warnings(): { lines: Array<{ obj: object; msg?: string }>; warn(obj: object, msg?: string): void } {
  const lines: Array<{ obj: object; msg?: string }> = [];
  return { lines, warn: (obj, msg) => lines.push({ obj, msg }) };
}

const graphCalls = (env: TestEnv) => env.emu.log.list().filter((e) => /microsoft\.resourcegraph\/resources/i.test(e.path));
const serviceLists = (env: TestEnv) => env.emu.log.list().filter((e) => e.method === "GET" && /\/providers\/Microsoft\.ApiManagement\/service\?/i.test(e.path));

describe("Resource Graph discovery: paging and quota", () => {
  let env: TestEnv;
  beforeAll(async () => {
    const many = Array.from({ length: 2500 }, (_, i) => service(`apim-${String(i).padStart(4, "0")}`, {}, {}, "rg-apim", [SUB, SUB2, SUB3][i % 3]));
    env = await startTestEmulator(many, { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => {
    env.emu.log.clear();
    env.emu.resourceGraph.configure({ enabled: true, queriesPerWindow: 15, windowMs: 5000 });
  });

  it("finds 2,500 services across three subscriptions in three Resource Graph queries and no ARM list call", async () => {
    const config = configFor(env);
    const d = await discover(env.clients, config);
    expect(d.source).toBe("resource-graph");
    expect(d.queries).toBe(3);
    expect(d.services).toHaveLength(2500);
    expect(new Set(d.services.map((s) => s.id.toLowerCase())).size).toBe(2500);
    expect(graphCalls(env)).toHaveLength(3);
    expect(serviceLists(env)).toHaveLength(0);
    // each with its row, ARM-shaped
    expect(d.services[0]?.row).toMatchObject({ type: "Microsoft.ApiManagement/service", properties: { publisherEmail: "apis@contoso.example" } });
  });

  it("obeys the quota: a window with no query left waits for its reset (x-ms-user-quota-resets-after), a 429 waits its Retry-After; the discovery completes", async () => {
    // one query per window, and the window already used by someone acting as the same principal
    env.emu.resourceGraph.configure({ enabled: true, queriesPerWindow: 1, windowMs: 1200 });
    await env.clients.resourceGraph!().resources({ query: "resources | project id" });
    const config = configFor(env, { ARM_MAX_RETRIES: "0" });
    const r = await queryServices((await import("../../src/azure/clients.js")).createClients(config), config);
    expect(r.services).toHaveLength(2500);
    expect(r.queries).toBe(3);
    // the first query met the other's use of the window (429, Retry-After); the later ones waited for the reset the headers announced
    expect(r.throttled).toBeGreaterThanOrEqual(1);
    expect(r.waitedMs).toBeGreaterThan(0);
    expect(env.emu.resourceGraph.stats.throttled).toBe(r.throttled);
  });

  it("covers the configured subscriptions only", async () => {
    const d = await discover(env.clients, configFor(env, { REMEDIATOR_SUBSCRIPTIONS: `${SUB},${SUB2}` }));
    expect(d.services.every((s) => s.subscriptionId.toLowerCase() !== SUB3)).toBe(true);
    expect(d.services).toHaveLength(1667);
    // 1,667 rows: two pages
    expect(graphCalls(env)).toHaveLength(2);
  });
});

describe("Resource Graph discovery: management groups and the fallback", () => {
  let env: TestEnv;
  const mg = (name: string, children: string[]) => ({ id: `/providers/Microsoft.Management/managementGroups/${name}`, type: "Microsoft.Management/managementGroups", name, properties: { children: children.map((id) => ({ id })) } });
  beforeAll(async () => {
    env = await startTestEmulator(
      [
        mg("contoso", ["/providers/Microsoft.Management/managementGroups/contoso-prod"]),
        mg("contoso-prod", [`/subscriptions/${SUB}`]),
        mg("fabrikam", [`/subscriptions/${SUB2}`]),
        service("apim-prod", {}, {}, "rg-apim", SUB),
        service("apim-fab", {}, {}, "rg-apim", SUB2),
        service("apim-other", {}, {}, "rg-apim", SUB3),
      ],
      { throttle: { enabled: false } },
    );
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => {
    env.emu.log.clear();
    env.emu.faults.clear();
  });

  it("REMEDIATOR_MANAGEMENT_GROUPS scopes discovery to every subscription below the groups (child groups included)", async () => {
    const one = await discover(env.clients, configFor(env, { REMEDIATOR_MANAGEMENT_GROUPS: "contoso" }));
    expect(one.services.map((s) => s.name)).toEqual(["apim-prod"]);
    const two = await discover(env.clients, configFor(env, { REMEDIATOR_MANAGEMENT_GROUPS: "contoso, fabrikam" }));
    expect(two.services.map((s) => s.name).sort()).toEqual(["apim-fab", "apim-prod"]);
    expect(graphCalls(env)).toHaveLength(2);
  });

  it("refuses a malformed REMEDIATOR_MANAGEMENT_GROUPS or REMEDIATOR_DISCOVERY with one line naming the setting", () => {
    expect(() => configFor(env, { REMEDIATOR_MANAGEMENT_GROUPS: "contoso/prod" })).toThrow(/^Invalid setting REMEDIATOR_MANAGEMENT_GROUPS: expected a comma-separated list of management group ids[^\n]*$/);
    expect(() => configFor(env, { REMEDIATOR_DISCOVERY: "graph" })).toThrow(/^Invalid setting REMEDIATOR_DISCOVERY: expected one of "resource-graph", "arm"[^\n]*$/);
    expect(configFor(env).discovery).toBe("resource-graph");
  });

  it("falls back to ARM listing when Resource Graph answers 403 AuthorizationFailed (the permission missing), with one warning naming why", async () => {
    env.emu.faults.add({ path: "/providers/Microsoft.ResourceGraph/resources", status: 403, code: "AuthorizationFailed", message: "The client does not have authorization to perform action 'Microsoft.ResourceGraph/resources/read'." });
    const log = warnings();
    const d = await discover(env.clients, configFor(env), { log });
    expect(d.source).toBe("arm");
    expect(d.fallback).toMatch(/403 AuthorizationFailed/);
    expect(d.services.map((s) => s.name).sort()).toEqual(["apim-fab", "apim-other", "apim-prod"]);
    expect(d.services.every((s) => s.row === undefined)).toBe(true);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]?.msg).toMatch(/^Resource Graph unavailable \(HTTP 403 AuthorizationFailed: the identity lacks Microsoft\.ResourceGraph\/resources\/read\): this discovery lists services through ARM per subscription$/);
    expect(serviceLists(env).length).toBeGreaterThan(0);
  });

  it("falls back on 404 (no Resource Graph at this endpoint) too, but a 500 fails the discovery", async () => {
    env.emu.faults.add({ path: "/providers/Microsoft.ResourceGraph/resources", status: 404, code: "NotFound" });
    expect((await discover(env.clients, configFor(env), { log: warnings() })).source).toBe("arm");
    env.emu.faults.clear();
    env.emu.faults.add({ path: "/providers/Microsoft.ResourceGraph/resources", status: 500, code: "InternalServerError" });
    await expect(discover(env.clients, configFor(env, { ARM_MAX_RETRIES: "0" }), { log: warnings() })).rejects.toMatchObject({ statusCode: 500 });
  });

  it("REMEDIATOR_DISCOVERY=arm lists through ARM and sends no Resource Graph query", async () => {
    const d = await discover(env.clients, configFor(env, { REMEDIATOR_DISCOVERY: "arm" }));
    expect(d.source).toBe("arm");
    expect(graphCalls(env)).toHaveLength(0);
  });
});

describe("verdicts from Resource Graph rows", () => {
  let env: TestEnv;
  beforeAll(async () => {
    const demo = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Estate;
    env = await startTestEmulator(
      [
        ...demo,
        service("apim-weak", { customProperties: { [TLS10]: "True", "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TripleDes168": "true" }, apiVersionConstraint: { minApiVersion: "2019-12-01" }, publicNetworkAccess: "Enabled", platformVersion: "stv1" }, { sku: { name: "Premium", capacity: 2 }, zones: ["1"] }, "rg-mixed"),
        service("apim-strong", { customProperties: { [TLS10]: "False" }, apiVersionConstraint: { minApiVersion: "2021-08-01" }, virtualNetworkType: "Internal", publicNetworkAccess: "Disabled", platformVersion: "stv2", enableClientCertificate: true }, { sku: { name: "Premium", capacity: 2 }, zones: ["1", "2"], identity: { type: "SystemAssigned" } }, "rg-mixed"),
        service("apim-consumption", {}, { sku: { name: "Consumption", capacity: 0 } }, "rg-mixed"),
        service("apim-v2", { customProperties: { [TLS10]: "false" } }, { sku: { name: "StandardV2", capacity: 1 } }, "rg-mixed", SUB2),
      ],
      { throttle: { enabled: false } },
    );
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => env.emu.log.clear());

  it("every service-only rule gives the same verdict from a row as from ARM's GET, for every service of a mixed estate", async () => {
    const rules = RULES.filter(judgedFromRow);
    expect(rules.map((r) => r.meta.id)).toEqual(expect.arrayContaining(["gateway-tls-protocols", "gateway-weak-ciphers", "min-api-version", "managed-identity", "network-isolation", "platform-stv2"]));
    const config = configFor(env);
    const d = await discover(env.clients, config);
    expect(d.source).toBe("resource-graph");
    expect(d.services.length).toBeGreaterThanOrEqual(5);
    const opts = ruleOptions(config);
    const verdict = (fs: ReturnType<typeof detect>) => fs.map((f) => `${f.ruleId}|${f.resourceId.toLowerCase()}|${f.status}`).sort();
    let fails = 0;
    for (const s of d.services) {
      const fromRow = detect([rowSnapshot(s.row!)], rules, opts);
      const fromArm = detect([await collectSnapshot(env.clients, s.id, new Set(["service"]))], rules, opts);
      expect(verdict(fromRow), s.name).toEqual(verdict(fromArm));
      fails += fromRow.filter((f) => f.status === "fail").length;
    }
    // the estate is mixed: some verdicts fail, some pass
    expect(fails).toBeGreaterThan(0);
  });

  it("judges the service-only rules from the row with no ARM read of the service (dry-run)", async () => {
    const { engine } = engineFor(env.emu, { REMEDIATOR_MODE: "dry-run" });
    const d = await discover(env.clients, configFor(env));
    const weak = d.services.find((s) => s.name === "apim-weak")!;
    env.emu.log.clear();
    const rules = RULES.filter((r) => ["gateway-tls-protocols", "min-api-version"].includes(r.meta.id));
    const result = await engine.evaluate(weak.id, { rules, row: weak.row });
    expect(result.fromRow?.sort()).toEqual(["gateway-tls-protocols", "min-api-version"]);
    expect(result.findings.filter((f) => f.status === "fail").map((f) => f.ruleId).sort()).toEqual(["gateway-tls-protocols", "min-api-version"]);
    expect(result.actions.every((a) => a.outcome === "planned")).toBe(true);
    expect(env.emu.log.list().filter((e) => e.path.toLowerCase().startsWith(weak.id.toLowerCase()))).toEqual([]);
  });
});

describe("a fix from a Resource Graph verdict re-reads ARM before it writes", () => {
  let env: TestEnv;
  const id = serviceId("apim-drift");
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-drift", { customProperties: { [TLS10]: "True" } })], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => env.emu.log.clear());
  const rules = () => RULES.filter((r) => r.meta.id === "gateway-tls-protocols");
  const forService = (e: { path: string }) => e.path.toLowerCase().startsWith(id.toLowerCase()) && !/operationresults/i.test(e.path);

  it("a drifted row: the service is read from ARM (GET) before the write, then fixed and verified", async () => {
    const row = (await discover(env.clients, configFor(env))).services[0]?.row;
    expect(row).toBeDefined();
    env.emu.log.clear();
    const { engine } = engineFor(env.emu, { REMEDIATOR_RULE_MODES: "gateway-tls-protocols=enforce" });
    const result = await engine.evaluate(id, { rules: rules(), row });
    expect(result.fromRow).toEqual([]);
    expect(result.actions.map((a) => a.outcome)).toEqual(["applied"]);
    const calls = env.emu.log.list().filter(forService).map((e) => e.method);
    expect(calls[0]).toBe("GET");
    expect(calls.indexOf("PATCH")).toBeGreaterThan(0);
  });

  it("a row that lags (ARM already fixed): ARM's GET says pass, nothing is written", async () => {
    // the row still says Tls10 on; ARM has it off (fixed above)
    const lagging = { id, name: "apim-drift", type: "Microsoft.ApiManagement/service", location: "westeurope", sku: { name: "Developer", capacity: 1 }, properties: { customProperties: { [TLS10]: "True" } } };
    const { engine } = engineFor(env.emu, { REMEDIATOR_RULE_MODES: "gateway-tls-protocols=enforce" });
    const result = await engine.evaluate(id, { rules: rules(), row: lagging });
    expect(result.findings.map((f) => f.status)).toEqual(["pass"]);
    expect(result.actions).toEqual([]);
    const calls = env.emu.log.list().filter(forService).map((e) => e.method);
    expect(calls).toContain("GET");
    expect(calls.filter((m) => m !== "GET")).toEqual([]);
  });
});

describe("permissions for Resource Graph discovery", () => {
  it("the manifest's discovery and the generated role (infra/role-actions.json) grant Resource Graph's query and the management group read", () => {
    const needed = ["Microsoft.ResourceGraph/resources/read", "Microsoft.Management/managementGroups/read"];
    expect(DISCOVERY_ACTIONS).toEqual(expect.arrayContaining(needed));
    expect(permissionManifest(RULES).customRole.read).toEqual(expect.arrayContaining(needed));
    const role = JSON.parse(readFileSync(join(process.cwd(), "infra/role-actions.json"), "utf8")) as { read: string[] };
    expect(role.read).toEqual(expect.arrayContaining(needed));
  });
});
