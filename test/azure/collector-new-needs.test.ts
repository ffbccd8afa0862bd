/**
 * The data issue 17's rules read, collected through the unmodified SDK clients against the emulator: each new need is
 * read once, every page followed, scoped like the other per-API reads, counted exactly by expectedCalls, and a tier
 * without the feature recorded as ARM answers it. Also the writes those rules' fixes make (portal config PATCH with
 * If-Match, identity providers, loggers, diagnostics, diagnostic settings, tenant gatewayAccess).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { collectSnapshot, expandNeeds, expectedCalls, type CallShape } from "../../src/azure/collector.js";
import type { DataNeed } from "../../src/model/snapshot.js";
import { child, service, serviceId, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const PAGE = 3;
const SVC = "apim-new-needs";
const sid = serviceId(SVC);
const T = "Microsoft.ApiManagement/service";
const POLICY = (inner: string) => `<policies><inbound>${inner}</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`;

function estate(): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [service(SVC, {}, { sku: { name: "Premium", capacity: 1 } })];
  out.push(child(SVC, "apis/echo", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["https"], isCurrent: true, apiRevision: "1" }));
  out.push(child(SVC, "apis/echo;rev=2", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["https"], isCurrent: false, apiRevision: "2" }));
  out.push(child(SVC, "apis/orders", `${T}/apis`, { displayName: "Orders", path: "orders", protocols: ["https"], isCurrent: true, apiRevision: "1" }));
  // echo: 4 operations (2 pages), its revision 2: 4 more; orders: 1
  for (let i = 0; i < 4; i++) {
    out.push(child(SVC, `apis/echo/operations/get-${i}`, `${T}/apis/operations`, { displayName: `get ${i}`, method: "GET", urlTemplate: `/${i}` }));
    out.push(child(SVC, `apis/echo;rev=2/operations/get-${i}`, `${T}/apis/operations`, { displayName: `get ${i}`, method: "GET", urlTemplate: `/${i}` }));
  }
  out.push(child(SVC, "apis/orders/operations/list", `${T}/apis/operations`, { displayName: "list", method: "GET", urlTemplate: "/" }));
  out.push(child(SVC, "apis/echo/policies/policy", `${T}/apis/policies`, { format: "xml", value: POLICY('<base /><validate-jwt header-name="Authorization" />') }));
  out.push(child(SVC, "apis/echo;rev=2/policies/policy", `${T}/apis/policies`, { format: "xml", value: POLICY("") }));
  out.push(child(SVC, "apis/echo/operations/get-1/policies/policy", `${T}/apis/operations/policies`, { format: "xml", value: POLICY("<base />") }));
  out.push(child(SVC, "apis/echo;rev=2/operations/get-3/policies/policy", `${T}/apis/operations/policies`, { format: "xml", value: POLICY("") }));
  for (const d of ["applicationinsights", "azuremonitor"]) out.push(child(SVC, `apis/echo/diagnostics/${d}`, `${T}/apis/diagnostics`, { alwaysLog: "allErrors", loggerId: `/loggers/${d}`, verbosity: "information" }));
  out.push(child(SVC, "tenant/gatewayAccess", `${T}/tenant`, { enabled: true }));
  // 4 workspaces (2 pages); w0 holds a policy, an API with 2 operations, a product with 4 API links and a policy, 4 subscriptions
  for (let w = 0; w < 4; w++) out.push(child(SVC, `workspaces/w${w}`, `${T}/workspaces`, { displayName: `Team ${w}`, description: null }));
  out.push(child(SVC, "workspaces/w0/policies/policy", `${T}/workspaces/policies`, { format: "xml", value: POLICY("<base />") }));
  for (let a = 0; a < 4; a++) out.push(child(SVC, `workspaces/w0/apis/wa${a}`, `${T}/workspaces/apis`, { displayName: `WA ${a}`, path: `wa${a}`, isCurrent: true, apiRevision: "1" }));
  for (let o = 0; o < 2; o++) out.push(child(SVC, `workspaces/w0/apis/wa0/operations/op${o}`, `${T}/workspaces/apis/operations`, { displayName: `op ${o}`, method: "GET", urlTemplate: `/${o}` }));
  out.push(child(SVC, "workspaces/w0/apis/wa0/policies/policy", `${T}/workspaces/apis/policies`, { format: "xml", value: POLICY("") }));
  out.push(child(SVC, "workspaces/w0/apis/wa0/operations/op1/policies/policy", `${T}/workspaces/apis/operations/policies`, { format: "xml", value: POLICY("") }));
  out.push(child(SVC, "workspaces/w0/products/wp", `${T}/workspaces/products`, { displayName: "WP", subscriptionRequired: false, state: "published" }));
  for (let a = 0; a < 4; a++) out.push(child(SVC, `workspaces/w0/products/wp/apiLinks/link${a}`, `${T}/workspaces/products/apiLinks`, { apiId: `${sid}/workspaces/w0/apis/wa${a}` }));
  out.push(child(SVC, "workspaces/w0/products/wp/policies/policy", `${T}/workspaces/products/policies`, { format: "xml", value: POLICY("<base /><rate-limit calls=\"5\" renewal-period=\"60\" />") }));
  for (let i = 0; i < 4; i++) out.push(child(SVC, `workspaces/w0/subscriptions/s${i}`, `${T}/workspaces/subscriptions`, { displayName: `s${i}`, scope: `${sid}/workspaces/w0/products/wp`, state: "active" }));
  // ApiManagementListPortalConfig (2024-05-01)
  out.push(child(SVC, "portalconfigs/default", `${T}/portalconfigs`, { enableBasicAuth: true, signin: { require: false }, signup: { termsOfService: { text: "I agree.", requireConsent: false } }, delegation: { delegateRegistration: false, delegateSubscription: false, delegationUrl: null, validationKey: null }, csp: { mode: "reportOnly", reportUri: [], allowedSources: [] }, cors: { allowedOrigins: [] } }));
  for (const idp of ["aad", "facebook", "google", "microsoft"]) out.push(child(SVC, `identityProviders/${idp}`, `${T}/identityProviders`, { clientId: `${idp}-client`, type: idp }));
  out.push(child(SVC, "loggers/appinsights", `${T}/loggers`, { loggerType: "applicationInsights", description: null, credentials: { instrumentationKey: "{{5a00aa000000000000000a2a}}" }, isBuffered: false, resourceId: "/subscriptions/x/resourceGroups/rg/providers/microsoft.insights/components/ai" }));
  out.push(child(SVC, "loggers/azuremonitor", `${T}/loggers`, { loggerType: "azureMonitor", isBuffered: true }));
  out.push(child(SVC, "diagnostics/applicationinsights", `${T}/diagnostics`, { alwaysLog: "allErrors", loggerId: `${sid}/loggers/appinsights`, sampling: { samplingType: "fixed", percentage: 100 } }));
  out.push(child(SVC, "diagnostics/azuremonitor", `${T}/diagnostics`, { loggerId: `${sid}/loggers/azuremonitor`, verbosity: "information" }));
  for (let i = 0; i < 4; i++) out.push(child(SVC, `certificates/c${i}`, `${T}/certificates`, { subject: `CN=c${i}`, thumbprint: `ABC${i}`, expirationDate: "2027-01-01T00:00:00Z" }));
  for (const ds of ["to-law", "to-storage"]) {
    out.push({
      id: `${sid}/providers/Microsoft.Insights/diagnosticSettings/${ds}`,
      type: "Microsoft.Insights/diagnosticSettings",
      name: ds,
      properties: ds === "to-law" ? { workspaceId: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law", logAnalyticsDestinationType: "Dedicated", logs: [{ categoryGroup: "audit", enabled: true }], metrics: [{ category: "AllMetrics", enabled: true }] } : { storageAccountId: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa", logs: [{ category: "GatewayLogs", enabled: true }] },
    });
  }
  return out;
}

const SHAPE: CallShape = {
  pageSize: PAGE,
  apis: [
    { revisions: 2, operations: 4, revisionOperations: 4, diagnostics: 2, http: true },
    { revisions: 1, operations: 1, http: true },
  ],
  namedValues: 0,
  backends: 0,
  subscriptions: 0,
  products: [],
  defenderPlanEnabled: false,
  workspaces: [{ apis: [{ operations: 2 }, { operations: 0 }, { operations: 0 }, { operations: 0 }], products: [4], subscriptions: 4 }, { apis: [], products: [], subscriptions: 0 }, { apis: [], products: [], subscriptions: 0 }, { apis: [], products: [], subscriptions: 0 }],
  portalConfigs: 1,
  identityProviders: 4,
  loggers: 2,
  diagnostics: 2,
  certificates: 4,
};

const NEW_NEEDS: DataNeed[] = ["operations", "gatewayAccess", "revisionPolicies", "workspaces", "portalConfigs", "identityProviders", "loggers", "diagnostics", "apiDiagnostics", "certificates", "diagnosticSettings"];

describe("collector: the needs of issue 17", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(estate(), { pageSize: PAGE, throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => env.emu.log.clear());

  const armCalls = () => env.emu.log.list().filter((l) => l.host === "arm");
  const paths = () => armCalls().map((c) => decodeURIComponent(c.path.split("?")[0] ?? "").toLowerCase());

  const cases: Array<[string, DataNeed[]]> = [
    ["operations of current APIs", ["operations"]],
    ["operations of every revision", ["operations", "apiRevisions"]],
    ["operations and operation policies share one list per API", ["operations", "operationPolicies"]],
    ["revision policies", ["revisionPolicies"]],
    ["revision policies with operations and operation policies", ["revisionPolicies", "operations", "operationPolicies", "apiPolicies"]],
    ["gatewayAccess by name", ["gatewayAccess"]],
    ["workspaces and what they hold", ["workspaces"]],
    ["portal, identity providers, loggers, diagnostics, certificates", ["portalConfigs", "identityProviders", "loggers", "diagnostics", "certificates"]],
    ["API diagnostics", ["apiDiagnostics"]],
    ["diagnostic settings", ["diagnosticSettings"]],
    ["every new need", NEW_NEEDS],
  ];

  it.each(cases)("makes exactly the predicted number of ARM calls, each URL once: %s", async (_name, needs) => {
    const snap = await collectSnapshot(env.clients, sid, needs, { concurrency: 2 });
    const calls = armCalls();
    expect(calls.every((c) => c.method === "GET" && c.status === 200)).toBe(true);
    expect(calls).toHaveLength(expectedCalls(needs, SHAPE));
    expect(new Set(calls.map((c) => c.path)).size).toBe(calls.length);
    for (const n of expandNeeds(needs)) expect(snap.collected.has(n)).toBe(true);
    expect(snap.failed?.size ?? 0).toBe(0);
  });

  it("the call count of the new needs, worked out", () => {
    const base = 1 + 1; // the service, the API list (3 items, one page)
    // echo 4 operations (2 pages), orders 1 (1 page)
    expect(expectedCalls(["operations"], SHAPE)).toBe(base + 2 + 1);
    // the revision lists (echo 1 page + GET of rev 2, orders 1 page), then echo;rev=2's 4 operations (2 pages)
    expect(expectedCalls(["operations", "apiRevisions"], SHAPE)).toBe(base + 2 + 1 + (1 + 1 + 1) + 2);
    // revision 2: its API policy, its operation list (2 pages), each of its 4 operations' policies
    expect(expectedCalls(["revisionPolicies"], SHAPE)).toBe(base + (1 + 1 + 1) + 1 + 2 + 4);
    expect(expectedCalls(["gatewayAccess"], SHAPE)).toBe(2);
    // 2 pages of workspaces; w0: policy, 2 pages of APIs, per API policy + operations (wa0: 2 operation policies),
    // 1 product page, its 2 pages of links and its policy, 2 pages of subscriptions; w1..w3: policy, APIs, products, subscriptions
    expect(expectedCalls(["workspaces"], SHAPE)).toBe(1 + 2 + (1 + 2 + (1 + 1 + 2) + 3 * (1 + 1) + 1 + (2 + 1) + 2) + 3 * 4);
    expect(expectedCalls(["diagnosticSettings"], SHAPE)).toBe(2);
  });

  it("keeps the raw bodies in the documented fields and keys", async () => {
    const snap = await collectSnapshot(env.clients, sid, [...NEW_NEEDS, "apiRevisions", "operationPolicies", "apiPolicies"], { concurrency: 4 });
    expect(Object.keys(snap.operations).sort()).toEqual(["echo", "echo;rev=2", "orders"]);
    expect(snap.operations["echo"]?.map((o) => o.name).sort()).toEqual(["get-0", "get-1", "get-2", "get-3"]);
    expect(snap.operations["echo;rev=2"]).toHaveLength(4);
    expect(snap.operations["orders"]?.[0]?.properties["urlTemplate"]).toBe("/");
    // the current API keeps its own policy; the revision's is under its own key
    expect(String(snap.apiPolicies["echo"]?.properties["value"])).toContain("validate-jwt");
    expect(String(snap.apiPolicies["echo;rev=2"]?.properties["value"])).not.toContain("validate-jwt");
    expect(Object.keys(snap.operationPolicies).sort()).toEqual(["echo/get-1", "echo;rev=2/get-3"]);
    expect(snap.tenantAccess.find((t) => t.name === "gatewayAccess")?.properties["enabled"]).toBe(true);
    expect(snap.workspaces.map((w) => w.name).sort()).toEqual(["w0", "w1", "w2", "w3"]);
    const w0 = snap.workspaceContents["w0"];
    expect(w0?.policy?.properties["format"]).toBe("xml");
    expect(w0?.apis).toHaveLength(4);
    expect(Object.keys(w0?.apiPolicies ?? {})).toEqual(["wa0"]);
    expect(Object.keys(w0?.operationPolicies ?? {})).toEqual(["wa0/op1"]);
    expect(w0?.operations?.["wa0"]?.map((o) => o.name).sort()).toEqual(["op0", "op1"]);
    expect(w0?.productApis["wp"]?.sort()).toEqual(["wa0", "wa1", "wa2", "wa3"]);
    expect(w0?.productPolicies["wp"]?.properties["value"]).toContain("rate-limit");
    expect(w0?.subscriptions).toHaveLength(4);
    expect(snap.workspaceContents["w3"]).toEqual({ apis: [], apiPolicies: {}, operationPolicies: {}, operations: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [] });
    // ARM's own shape (`properties` nested), not the SDK's flattened models
    expect(snap.portalConfigs).toEqual([expect.objectContaining({ name: "default", type: `${T}/portalconfigs`, properties: expect.objectContaining({ enableBasicAuth: true, signin: { require: false } }) })]);
    expect(snap.identityProviders.map((i) => i.name).sort()).toEqual(["aad", "facebook", "google", "microsoft"]);
    expect(snap.loggers.find((l) => l.name === "appinsights")?.properties["loggerType"]).toBe("applicationInsights");
    expect(snap.diagnostics.map((d) => d.name).sort()).toEqual(["applicationinsights", "azuremonitor"]);
    expect(Object.keys(snap.apiDiagnostics).sort()).toEqual(["echo", "orders"]);
    expect(snap.apiDiagnostics["echo"]).toHaveLength(2);
    expect(snap.apiDiagnostics["orders"]).toEqual([]);
    expect(snap.certificates).toHaveLength(4);
    const law = snap.diagnosticSettings.find((d) => d.name === "to-law");
    expect(law?.properties["logs"]).toEqual([{ categoryGroup: "audit", enabled: true }]);
    expect(snap.diagnosticSettings).toHaveLength(2);
  });

  it("reads diagnostic settings with the api-version that answers categoryGroup", async () => {
    await collectSnapshot(env.clients, sid, ["diagnosticSettings"]);
    const call = armCalls().find((c) => /\/providers\/Microsoft\.Insights\/diagnosticSettings/i.test(c.path));
    expect(call?.path).toMatch(/api-version=2021-05-01-preview/);
  });

  it("a scoped snapshot reads the named API's operations, revisions' policies and diagnostics only", async () => {
    const needs: DataNeed[] = ["operations", "revisionPolicies", "apiDiagnostics", "operationPolicies", "apiPolicies"];
    const snap = await collectSnapshot(env.clients, sid, needs, { concurrency: 2, scope: { apis: ["echo"] } });
    expect(Object.keys(snap.operations).sort()).toEqual(["echo", "echo;rev=2"]);
    expect(Object.keys(snap.apiDiagnostics)).toEqual(["echo"]);
    expect(Object.keys(snap.apiPolicies).sort()).toEqual(["echo", "echo;rev=2"]);
    expect(paths().filter((p) => p.includes("/apis/orders"))).toEqual([]);
    expect(paths()).not.toContain(`${sid}/apis`.toLowerCase());
  });

  it("a scoped snapshot of an API that is gone holds no operations or diagnostics for it", async () => {
    const snap = await collectSnapshot(env.clients, sid, ["operations", "apiDiagnostics", "revisionPolicies"], { scope: { apis: ["gone"] } });
    expect(snap.operations).toEqual({});
    expect(snap.apiDiagnostics).toEqual({});
    expect(snap.collected.has("operations")).toBe(true);
  });
});

describe("collector: tiers without the feature", () => {
  const DEV = "apim-dev-tier";
  const CONS = "apim-cons-tier";
  const BV2 = "apim-basicv2-tier";
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service(DEV, {}), service(CONS, {}, { sku: { name: "Consumption", capacity: 0 } }), service(BV2, {}, { sku: { name: "BasicV2", capacity: 1 } })], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => env.emu.log.clear());

  it.each([DEV, CONS, BV2])("%s: the workspace list answers MethodNotAllowedInPricingTier, read as no workspaces (collected, one call)", async (name) => {
    const snap = await collectSnapshot(env.clients, serviceId(name), ["workspaces"]);
    expect(snap.collected.has("workspaces")).toBe(true);
    expect(snap.workspaces).toEqual([]);
    const calls = env.emu.log.list().filter((l) => l.host === "arm" && /\/workspaces/i.test(l.path));
    expect(calls.map((c) => c.status)).toEqual([400]);
    // the service and the one workspace list
    expect(env.emu.log.list().filter((l) => l.host === "arm")).toHaveLength(expectedCalls(["workspaces"], { pageSize: 100, apis: [], namedValues: 0, backends: 0, subscriptions: 0, products: [], defenderPlanEnabled: false }));
  });

  it("Consumption: gatewayAccess is recorded as failed with ARM's reason; every other need is read", async () => {
    const snap = await collectSnapshot(env.clients, serviceId(CONS), ["gatewayAccess", "loggers"]);
    expect(snap.failed?.get("gatewayAccess")).toBe("ARM answered 400 MethodNotAllowedInPricingTier (Method not allowed in Consumption pricing tier)");
    expect(snap.collected.has("gatewayAccess")).toBe(false);
    expect(snap.collected.has("loggers")).toBe(true);
  });

  it("a gatewayAccess that is not there is absent (recorded), not a failed evaluation", async () => {
    env.emu.store.delete(`${serviceId(DEV)}/tenant/gatewayAccess`);
    try {
      const snap = await collectSnapshot(env.clients, serviceId(DEV), ["gatewayAccess"]);
      expect(snap.failed?.get("gatewayAccess")).toMatch(/^ARM answered 404 ResourceNotFound/);
    } finally {
      env.emu.reset();
    }
  });

  it("the emulator seeds gatewayAccess like access on a tier with tenant access", async () => {
    const snap = await collectSnapshot(env.clients, serviceId(DEV), ["gatewayAccess"]);
    expect(snap.tenantAccess.map((t) => [t.name, t.properties["enabled"]])).toEqual([["gatewayAccess", false]]);
  });
});

describe("emulator: the writes the new rules' fixes make", () => {
  const W = "apim-writes";
  const wid = serviceId(W);
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service(W, {}), child(W, "portalconfigs/default", `${T}/portalconfigs`, { enableBasicAuth: true, signin: { require: false } }), child(W, "tenant/gatewayAccess", `${T}/tenant`, { enabled: true })], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  const apim = () => env.clients.apim(serviceIdParts().sub);
  const serviceIdParts = () => ({ sub: wid.split("/")[2] as string, rg: wid.split("/")[4] as string });

  it("portal config PATCH needs a current If-Match and keeps what it does not name", async () => {
    const { rg } = serviceIdParts();
    const tag = await apim().portalConfig.getEntityTag(rg, W, "default");
    await expect(apim().portalConfig.update(rg, W, "default", '"stale"', { enableBasicAuth: false })).rejects.toMatchObject({ statusCode: 412 });
    const updated = await apim().portalConfig.update(rg, W, "default", tag.eTag ?? "*", { enableBasicAuth: false });
    expect(updated.enableBasicAuth).toBe(false);
    const after = await apim().portalConfig.get(rg, W, "default");
    expect(after.enableBasicAuth).toBe(false);
    expect(after.signin?.require).toBe(false);
  });

  it("identity providers: PUT answers 201 without the client secret, DELETE removes it", async () => {
    const { rg } = serviceIdParts();
    let raw: Record<string, unknown> = {};
    const created = await apim().identityProvider.createOrUpdate(rg, W, "aad", { clientId: "app", clientSecret: "s3cret-value", allowedTenants: ["contoso.onmicrosoft.com"] }, { onResponse: (r) => (raw = JSON.parse(r.bodyAsText ?? "{}") as Record<string, unknown>) });
    expect(created.typePropertiesType).toBe("aad");
    expect(JSON.stringify(raw)).not.toContain("s3cret-value");
    await apim().identityProvider.delete(rg, W, "aad", "*");
    await expect(apim().identityProvider.get(rg, W, "aad")).rejects.toMatchObject({ statusCode: 404 });
  });

  it("loggers and diagnostics: PUT stores them; a logger's key is answered as a named value reference", async () => {
    const { rg } = serviceIdParts();
    const logger = await apim().logger.createOrUpdate(rg, W, "ai", { loggerType: "applicationInsights", credentials: { instrumentationKey: "00000000-raw-key" }, resourceId: "/subscriptions/x/resourceGroups/rg/providers/microsoft.insights/components/ai" });
    expect(logger.credentials?.["instrumentationKey"]).toMatch(/^\{\{[0-9a-f]+\}\}$/);
    const diag = await apim().diagnostic.createOrUpdate(rg, W, "applicationinsights", { loggerId: logger.id as string, alwaysLog: "allErrors" });
    expect(diag.loggerId).toBe(logger.id);
    const snap = await collectSnapshot(env.clients, wid, ["loggers", "diagnostics"]);
    expect(snap.loggers.map((l) => l.name)).toEqual(["ai"]);
    expect(snap.diagnostics.map((d) => d.name)).toEqual(["applicationinsights"]);
  });

  it("diagnostic settings: the Monitor SDK's PUT at the service's extension path answers 200, then the list has it", async () => {
    const setting = await env.clients.monitor(serviceIdParts().sub).diagnosticSettings.createOrUpdate(wid, "to-law", { workspaceId: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law", logs: [{ category: "GatewayLogs", enabled: true }] });
    expect(setting.workspaceId).toMatch(/workspaces\/law$/);
    const snap = await collectSnapshot(env.clients, wid, ["diagnosticSettings"]);
    expect(snap.diagnosticSettings.map((d) => d.name)).toEqual(["to-law"]);
  });

  it("tenant gatewayAccess PATCH with If-Match turns the endpoint off", async () => {
    const { rg } = serviceIdParts();
    await apim().tenantAccess.update(rg, W, "gatewayAccess", "*", { enabled: false });
    const snap = await collectSnapshot(env.clients, wid, ["gatewayAccess"]);
    expect(snap.tenantAccess.find((t) => t.name === "gatewayAccess")?.properties["enabled"]).toBe(false);
  });
});

// ---- the emulator answers as Azure's published examples (test/fixtures/azure-specs, see SOURCES.md there) ----------

type Shape = string | Shape[] | { [key: string]: Shape };
/** The recursive shape of a JSON value (keys and JSON types; arrays as the set of their items' shapes). */
function shapeOf(v: unknown): Shape {
  if (v === null) return "null";
  if (Array.isArray(v)) return [...new Map(v.map((x) => [JSON.stringify(shapeOf(x)), shapeOf(x)])).values()];
  if (typeof v === "object") return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, shapeOf(x)]));
  return typeof v;
}
function example(rel: string): { parameters: Record<string, unknown>; responses: Record<string, { body?: unknown }> } {
  return JSON.parse(readFileSync(join(process.cwd(), "test", "fixtures", "azure-specs", rel), "utf8")) as { parameters: Record<string, unknown>; responses: Record<string, { body?: unknown }> };
}

describe("emulator: the new resources answer with the shapes of Azure's examples", () => {
  const F = "apim-fidelity-new";
  const fid = serviceId(F);
  const portal = example("apimanagement/examples/ApiManagementListPortalConfig.json");
  const portalItem = ((portal.responses["200"]?.body as { value: Array<Record<string, unknown>> }).value[0] ?? {}) as Record<string, unknown>;
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service(F, {}), child(F, "portalconfigs/default", `${T}/portalconfigs`, portalItem["properties"] as Record<string, unknown>)], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  const rg = fid.split("/")[4] as string;
  const sub = fid.split("/")[2] as string;

  it("ApiManagementListPortalConfig: the list's items (ALLOWED: the list's count, nextLink absent on the last page)", async () => {
    const snap = await collectSnapshot(env.clients, fid, ["portalConfigs"]);
    expect(shapeOf(snap.portalConfigs[0])).toEqual(shapeOf(portalItem));
  });

  it("ApiManagementCreateIdentityProvider: 201 with the provider's type and no clientSecret", async () => {
    const ex = example("apimanagement/examples/ApiManagementCreateIdentityProvider.json");
    const props = (ex.parameters["parameters"] as { properties: { clientId: string; clientSecret: string } }).properties;
    let status = 0;
    let body: unknown;
    await env.clients.apim(sub).identityProvider.createOrUpdate(rg, F, String(ex.parameters["identityProviderName"]), props, { onResponse: (r) => ((status = r.status), (body = JSON.parse(r.bodyAsText ?? "{}"))) });
    expect(status).toBe(201);
    expect(shapeOf(body)).toEqual(shapeOf(ex.responses["201"]?.body));
    expect((body as { properties: Record<string, unknown> }).properties["type"]).toBe("facebook");
  });

  it("ApiManagementCreateAILogger: 201 with the key as a named value reference (ALLOWED: resourceId, which the example's request does not send)", async () => {
    const ex = example("apimanagement/examples/ApiManagementCreateAILogger.json");
    const props = (ex.parameters["parameters"] as { properties: { loggerType: "applicationInsights"; description: string; credentials: Record<string, string> } }).properties;
    let status = 0;
    let body: { properties?: Record<string, unknown> } = {};
    await env.clients.apim(sub).logger.createOrUpdate(rg, F, String(ex.parameters["loggerId"]), props, { onResponse: (r) => ((status = r.status), (body = JSON.parse(r.bodyAsText ?? "{}") as typeof body)) });
    expect(status).toBe(201);
    const expected = structuredClone(ex.responses["201"]?.body) as { properties: Record<string, unknown> };
    delete expected.properties["resourceId"];
    // ALLOWED: the example answers description null although its request sends one; the emulator keeps what was sent
    expect(shapeOf({ ...body, properties: { ...body.properties, description: null } })).toEqual(shapeOf(expected));
    expect((body.properties?.["credentials"] as Record<string, string>)["instrumentationKey"]).toMatch(/^\{\{\w+\}\}$/);
  });

  it("createOrUpdateDiagnosticSetting / listDiagnosticSettings (2021-05-01-preview): PUT answers 200, the list is `value` only", async () => {
    const put = example("monitor/examples/createOrUpdateDiagnosticSetting.json");
    const list = example("monitor/examples/listDiagnosticSettings.json");
    const id = `${fid}/providers/Microsoft.Insights/diagnosticSettings/${String(put.parameters["name"])}`;
    const statuses: number[] = [];
    let body: unknown;
    await env.clients.resources(sub).resources.beginCreateOrUpdateByIdAndWait(id, "2021-05-01-preview", put.parameters["parameters"] as Record<string, unknown>, { updateIntervalInMs: 10, onResponse: (r) => (statuses.push(r.status), (body = JSON.parse(r.bodyAsText ?? "{}"))) });
    expect(statuses).toEqual([200]);
    expect(shapeOf(body)).toEqual(shapeOf(put.responses["200"]?.body));
    let listed: unknown;
    await env.clients.resources(sub).resources.getById(`${fid}/providers/Microsoft.Insights/diagnosticSettings`, "2021-05-01-preview", { onResponse: (r) => (listed = JSON.parse(r.bodyAsText ?? "{}")) });
    expect(Object.keys(listed as Record<string, unknown>)).toEqual(Object.keys(list.responses["200"]?.body as Record<string, unknown>));
  });
});
