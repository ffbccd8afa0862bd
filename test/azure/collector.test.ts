import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { collectSnapshot, expectedCalls, expandNeeds, permanentFailure, type CallShape } from "../../src/azure/collector.js";
import type { DataNeed } from "../../src/model/snapshot.js";
import { DEFAULT_RULE_OPTIONS, RULES } from "../../src/remediations/index.js";
import { rule as gitRule } from "../../src/remediations/git-configuration-endpoint-disabled.js";
import { child, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const PAGE = 10;
const SVC = "apim-collect";
const sid = serviceId(SVC);
const T = "Microsoft.ApiManagement/service";

/** A service whose every collection spans more than one page where it can. */
function estate(): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [service(SVC, {}, { identity: { type: "SystemAssigned" } })];
  for (let i = 0; i < 23; i++) out.push(child(SVC, `apis/api${i}`, `${T}/apis`, { displayName: `API ${i}`, path: `p${i}`, protocols: ["https"], isCurrent: true, apiRevision: "1", ...(i === 5 ? { type: "websocket" } : {}) }));
  // api0 has 12 revisions in all (2 pages of revisions), api1 has 2
  for (let r = 2; r <= 12; r++) out.push(child(SVC, `apis/api0;rev=${r}`, `${T}/apis`, { displayName: "API 0", path: "p0", protocols: r === 7 ? ["http"] : ["https"], isCurrent: false, apiRevision: String(r) }));
  out.push(child(SVC, "apis/api1;rev=2", `${T}/apis`, { displayName: "API 1", path: "p1", protocols: ["https"], isCurrent: false, apiRevision: "2" }));
  for (let i = 0; i < 3; i++) out.push(child(SVC, `apis/api${i}/operations/op${i}`, `${T}/apis/operations`, { displayName: `op ${i}`, method: "GET", urlTemplate: "/" }));
  out.push(child(SVC, "apis/api0/operations/op0/policies/policy", `${T}/apis/operations/policies`, { format: "xml", value: "<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>" }));
  out.push(child(SVC, "apis/api1/policies/policy", `${T}/apis/policies`, { format: "xml", value: "<policies><inbound><rate-limit calls=\"5\" renewal-period=\"60\" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>" }));
  out.push(child(SVC, "policies/policy", `${T}/policies`, { format: "xml", value: "<policies><inbound /><backend><forward-request /></backend><outbound /><on-error /></policies>" }));
  for (let i = 0; i < 11; i++) out.push(child(SVC, `namedValues/nv${i}`, `${T}/namedValues`, { displayName: `nv${i}`, secret: i % 2 === 0, value: `value-${i}` }));
  for (let i = 0; i < 4; i++) out.push(child(SVC, `backends/b${i}`, `${T}/backends`, { url: `https://b${i}.example`, protocol: "http" }));
  for (let i = 0; i < 12; i++) out.push(child(SVC, `subscriptions/s${i}`, `${T}/subscriptions`, { displayName: `s${i}`, scope: `${sid}/products/p0`, state: "active" }));
  for (let p = 0; p < 3; p++) out.push(child(SVC, `products/p${p}`, `${T}/products`, { displayName: `p${p}`, state: "published" }));
  for (let i = 0; i < 14; i++) out.push(child(SVC, `products/p0/apis/api${i}`, `${T}/products/apis`, {}));
  out.push(child(SVC, "products/p1/apis/api1", `${T}/products/apis`, {}));
  out.push(child(SVC, "products/p0/policies/policy", `${T}/products/policies`, { format: "xml", value: "<policies><inbound><base /><quota calls=\"100\" renewal-period=\"3600\" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>" }));
  out.push({ id: `${sid}/providers/Microsoft.Authorization/locks/keep`, type: "Microsoft.Authorization/locks", properties: { level: "CanNotDelete" } });
  out.push({ id: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Authorization/locks/rg-lock`, type: "Microsoft.Authorization/locks", properties: { level: "ReadOnly" } });
  out.push({ id: `/subscriptions/${SUB}/providers/Microsoft.Security/pricings/Api`, type: "Microsoft.Security/pricings", properties: { pricingTier: "Standard", subPlan: "P1" } });
  for (const a of ["api0", "api2"]) out.push({ id: `${sid}/providers/Microsoft.Security/apiCollections/${a}`, type: "Microsoft.Security/apiCollections", properties: { provisioningState: "Succeeded" } });
  out.push({ id: `${sid}/providers/Microsoft.Insights/metrics/Requests`, type: "Microsoft.Insights/metrics", properties: { totalsByApiId: { api0: 120, api3: 4 } } });
  return out;
}

const SHAPE: CallShape = {
  pageSize: PAGE,
  apis: Array.from({ length: 23 }, (_, i) => ({ revisions: i === 0 ? 12 : i === 1 ? 2 : 1, operations: i < 3 ? 1 : 0, http: i !== 5 })),
  namedValues: 11,
  backends: 4,
  subscriptions: 12,
  products: [14, 1, 0],
  defenderPlanEnabled: true,
};

describe("snapshot collector", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(estate(), { pageSize: PAGE, throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => env.emu.log.clear());

  const armCalls = () => env.emu.log.list().filter((l) => l.host === "arm");

  const cases: Array<[string, DataNeed[]]> = [
    ["service only (managed-identity)", ["service"]],
    ["tenant access", ["tenantAccess"]],
    ["Git access, read by name", ["gitAccess"]],
    ["locks", ["locks"]],
    ["named values (2 pages)", ["namedValues"]],
    ["APIs with every revision", ["apis", "apiRevisions"]],
    ["backends and API service URLs", ["backends", "apis"]],
    ["policy coverage", ["apis", "policies", "apiPolicies", "products", "productApis", "productPolicies"]],
    ["operation policies", ["operationPolicies"]],
    ["Defender for APIs", ["apis", "defender"]],
    ["metrics", ["apis", "metrics"]],
    ["every rule", RULES.flatMap((r) => r.meta.needs)],
  ];

  it.each(cases)("makes exactly the predicted number of ARM calls: %s", async (_name, needs) => {
    const snap = await collectSnapshot(env.clients, sid, needs, { concurrency: 4 });
    const calls = armCalls();
    // the Developer tier has no workspaces: their list answers 400 MethodNotAllowedInPricingTier (emulator/tiers.ts), read as none
    const tierRefused = (c: { path: string; status: number }) => c.status === 400 && /\/workspaces(\?|$)/i.test(c.path);
    expect(calls.every((c) => c.method === "GET" && c.status === 200 || c.status === 404 || tierRefused(c))).toBe(true);
    expect(calls).toHaveLength(expectedCalls(needs, SHAPE));
    // each collection read once: no URL is fetched twice
    expect(new Set(calls.map((c) => c.path)).size).toBe(calls.length);
    for (const n of expandNeeds(needs)) expect(snap.collected.has(n)).toBe(true);
  });

  it("the call count is a pure function of needs and page counts", () => {
    expect(expectedCalls(["service"], SHAPE)).toBe(1);
    expect(expectedCalls(["namedValues"], SHAPE)).toBe(1 + 2);
    // apis: 4 pages (Azure lists the 23 APIs with their 12 other revisions: recorded api #27); revisions: api0 2 pages + 11 GETs, api1 1 page + 1 GET, 21 others 1 page each
    expect(expectedCalls(["apiRevisions"], SHAPE)).toBe(1 + 4 + (2 + 11) + (1 + 1) + 21);
    expect(expectedCalls(["defender"], { ...SHAPE, defenderPlanEnabled: false })).toBe(1 + 4 + 1);
    expect(expectedCalls(["apis"], { ...SHAPE, apis: [] })).toBe(2);
    // the tenant list, and gitAccess by name
    expect(expectedCalls(["tenantAccess", "gitAccess"], SHAPE)).toBe(1 + 1 + 1);
  });

  it("collects what the rules read, as ARM returned it", async () => {
    const snap = await collectSnapshot(env.clients, sid, RULES.flatMap((r) => r.meta.needs));
    expect(snap.service.id).toBe(sid);
    expect(snap.service.properties["publisherName"]).toBe("Contoso");
    expect(snap.apis).toHaveLength(23 + 11 + 1);
    const rev7 = snap.apis.find((a) => a.name === "api0;rev=7");
    expect(rev7?.properties["protocols"]).toEqual(["http"]);
    expect(snap.namedValues).toHaveLength(11);
    expect(snap.namedValues.some((n) => "value" in n.properties && n.properties["secret"] === true)).toBe(false);
    // the list's `access`, gitAccess by name, and gatewayAccess by name once a rule reads it (the emulator seeds all three)
    const byName = expandNeeds(RULES.flatMap((r) => r.meta.needs)).has("gatewayAccess") ? ["access", "gatewayAccess", "gitAccess"] : ["access", "gitAccess"];
    expect(snap.tenantAccess.map((t) => t.name).sort()).toEqual(byName);
    expect(snap.locks.map((l) => l.name).sort()).toEqual(["keep", "rg-lock"]);
    expect(snap.subscriptions).toHaveLength(12);
    expect(snap.productApis["p0"]).toHaveLength(14);
    expect(snap.productApis["p2"]).toEqual([]);
    expect(snap.productPolicies["p0"]).toBeDefined();
    expect(snap.apiPolicies["api1"]).toBeDefined();
    expect(snap.globalPolicy).toBeDefined();
    expect(Object.keys(snap.operationPolicies)).toEqual(["api0/op0"]);
    expect(snap.defender).toEqual({ planEnabled: true, onboardedApis: expect.arrayContaining(["api0", "api2"]) });
    expect(snap.defender?.onboardedApis).toHaveLength(2);
    expect(snap.requestsByApi).toEqual({ api0: 120, api3: 4 });
  });

  it("reads Defender onboarding only when the plan is on", async () => {
    env.emu.store.delete(`/subscriptions/${SUB}/providers/Microsoft.Security/pricings/Api`);
    try {
      const snap = await collectSnapshot(env.clients, sid, ["defender"]);
      expect(snap.defender).toEqual({ planEnabled: false, onboardedApis: [] });
      expect(armCalls()).toHaveLength(expectedCalls(["defender"], { ...SHAPE, defenderPlanEnabled: false }));
    } finally {
      env.emu.reset();
    }
  });

  it("a scoped snapshot holds exactly what the full one holds for those APIs, and reads no other API", async () => {
    const needs = RULES.flatMap((r) => r.meta.needs);
    const full = await collectSnapshot(env.clients, sid, needs, { concurrency: 4 });
    env.emu.log.clear();
    const scoped = await collectSnapshot(env.clients, sid, needs, { concurrency: 4, scope: { apis: ["api0", "api1"] } });
    const mine = (id: string) => /\/apis\/api[01](;|$)/i.test(id);
    expect(scoped.apis.map((a) => a.id).sort()).toEqual(full.apis.map((a) => a.id).filter(mine).sort());
    expect(scoped.apis).toHaveLength(1 + 11 + 1 + 1); // api0 with 11 other revisions, api1 with 1
    expect(Object.keys(scoped.apiPolicies).sort()).toEqual(Object.keys(full.apiPolicies).filter((k) => k === "api0" || k === "api1").sort());
    expect(Object.keys(scoped.operationPolicies).sort()).toEqual(Object.keys(full.operationPolicies).filter((k) => /^api[01]\//.test(k)).sort());
    expect(scoped.defender?.onboardedApis).toEqual(["api0"]);
    // collections that are not per API are read whole
    expect(scoped.products).toEqual(full.products);
    expect(scoped.productApis).toEqual(full.productApis);
    expect(scoped.backends).toEqual(full.backends);
    const paths = armCalls().map((c) => (c.path.split("?")[0] ?? "").toLowerCase());
    expect(paths).not.toContain(`${sid}/apis`.toLowerCase());
    expect(paths.filter((p) => /\/apis\/api([2-9]|1\d|2\d)(\/|;|$)/.test(p) && !p.includes("/products/"))).toEqual([]);
    expect(paths.length).toBeLessThan(expectedCalls(needs, SHAPE) / 2);
  });

  it("a scoped snapshot of an API that no longer exists is empty, not an error", async () => {
    const scoped = await collectSnapshot(env.clients, sid, ["apis", "apiRevisions", "apiPolicies", "operationPolicies", "defender"], { scope: { apis: ["gone"] } });
    expect(scoped.apis).toEqual([]);
    expect(scoped.apiPolicies).toEqual({});
    expect(scoped.operationPolicies).toEqual({});
  });
});

describe("tenant access: the list, gitAccess by name", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service(SVC, {}), child(SVC, "tenant/gitAccess", `${T}/tenant`, { principalId: "git", enabled: true })], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => env.emu.log.clear());

  it("the tenant list answers access only; gitAccess is read by name, so an enabled Git endpoint fails", async () => {
    const listed = await collectSnapshot(env.clients, sid, ["tenantAccess"]);
    // the 2024-05-01 ApiManagementListTenantAccess example
    expect(listed.tenantAccess.map((t) => t.name)).toEqual(["access"]);
    env.emu.log.clear();
    const snap = await collectSnapshot(env.clients, sid, gitRule.meta.needs);
    const paths = env.emu.log.list().filter((l) => l.host === "arm").map((l) => (l.path.split("?")[0] ?? "").toLowerCase());
    expect(paths).toContain(`${sid}/tenant/gitAccess`.toLowerCase());
    expect(gitRule.detect(snap, DEFAULT_RULE_OPTIONS)).toEqual([expect.objectContaining({ resourceId: `${sid}/tenant/gitAccess`, status: "fail" })]);
  });

  it("a gitAccess that is not there is unknown, not a pass; a 404 from a service that is gone still fails the snapshot", async () => {
    env.emu.store.delete(`${sid}/tenant/gitAccess`);
    try {
      const snap = await collectSnapshot(env.clients, sid, ["tenantAccess", "gitAccess"]);
      expect(snap.failed?.get("gitAccess")).toMatch(/^ARM answered 404 ResourceNotFound/);
      expect(snap.collected.has("gitAccess")).toBe(false);
      expect(snap.collected.has("tenantAccess")).toBe(true);
      expect(gitRule.detect(snap, DEFAULT_RULE_OPTIONS)).toEqual([expect.objectContaining({ resourceId: sid, status: "unknown", message: expect.stringMatching(/^Not evaluated: the gitAccess data could not be read: ARM answered 404/) })]);
      // the service read a moment ago (options.service) was deleted since: its 404 is the failure, not a missing setting
      const gone = serviceId("apim-gone");
      await expect(collectSnapshot(env.clients, gone, ["tenantAccess", "gitAccess"], { service: { id: gone, name: "apim-gone", type: T, properties: {} } })).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      env.emu.reset();
    }
  });
});

describe("tiers without tenant access: Consumption and v2", () => {
  const CONS = "apim-consumption";
  const V2 = "apim-standard-v2";
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(
      [
        service(CONS, {}, { sku: { name: "Consumption", capacity: 0 } }),
        child(CONS, "apis/echo", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["http", "https"], isCurrent: true, apiRevision: "1" }),
        service(V2, {}, { sku: { name: "StandardV2", capacity: 1 } }),
        child(V2, "apis/echo", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["https"], isCurrent: true, apiRevision: "1" }),
      ],
      { throttle: { enabled: false } },
    );
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => {
    env.emu.log.clear();
    env.emu.faults.clear();
  });

  it.each([
    [CONS, "Consumption"],
    [V2, "StandardV2"],
  ])("%s: tenant access is recorded as failed with ARM's reason, and every other collection is read", async (name, tier) => {
    const needs = RULES.flatMap((r) => r.meta.needs);
    const snap = await collectSnapshot(env.clients, serviceId(name), needs);
    const why = `ARM answered 400 MethodNotAllowedInPricingTier (Method not allowed in ${tier} pricing tier)`;
    // every setting under tenant/ the rules read: the list and gitAccess, gatewayAccess (read by name) when a rule needs it
    const tenantNeeds = (["tenantAccess", "gitAccess", "gatewayAccess"] as DataNeed[]).filter((n) => expandNeeds(needs).has(n));
    expect(Object.fromEntries(snap.failed ?? [])).toEqual(Object.fromEntries(tenantNeeds.map((n) => [n, why])));
    for (const n of expandNeeds(needs)) expect(snap.collected.has(n)).toBe(!tenantNeeds.includes(n));
    expect(snap.apis.map((a) => a.name)).toEqual(["echo"]);
    expect(snap.tenantAccess).toEqual([]);
  });

  it("a transient failure (5xx, 429) still fails the snapshot, so the evaluation is retried", async () => {
    env.emu.faults.add({ method: "GET", pathRegex: "/tenant(\\?|$)", status: 503, code: "ServiceUnavailable", retryAfter: 0, count: 1000 });
    await expect(collectSnapshot(env.clients, serviceId(CONS), ["apis", "tenantAccess"])).rejects.toMatchObject({ statusCode: 503 });
    env.emu.faults.clear();
    env.emu.faults.add({ method: "GET", pathRegex: "/tenant/gitAccess", status: 429, code: "TooManyRequests", retryAfter: 0, count: 1000 });
    await expect(collectSnapshot(env.clients, serviceId(V2), ["apis", "gitAccess"])).rejects.toMatchObject({ statusCode: 429 });
  });
});

describe("which collection failures are for good", () => {
  const err = (statusCode: number | undefined, code = "", message = "m") => Object.assign(new Error(message), { statusCode, code });
  it.each([
    [400, "MethodNotAllowedInPricingTier", "ARM answered 400 MethodNotAllowedInPricingTier (m)"],
    [400, "methodnotallowedinpricingtier", "ARM answered 400 methodnotallowedinpricingtier (m)"],
    [404, "ResourceNotFound", "ARM answered 404 ResourceNotFound (m)"],
    [405, "MethodNotAllowed", "ARM answered 405 MethodNotAllowed (m)"],
    [501, "NotImplemented", "ARM answered 501 NotImplemented (m)"],
  ])("%i %s: recorded (%s)", (status, code, why) => {
    expect(permanentFailure(err(status, code))).toBe(why);
  });
  it.each([
    [400, "ValidationError"],
    [401, "InvalidAuthenticationToken"],
    [403, "AuthorizationFailed"],
    [408, "RequestTimeout"],
    [409, "Conflict"],
    [429, "TooManyRequests"],
    [500, "InternalServerError"],
    [503, "ServiceUnavailable"],
    [undefined, "ECONNRESET"],
  ])("%s %s: thrown (the evaluation is retried)", (status, code) => {
    expect(permanentFailure(err(status, code))).toBeUndefined();
  });
});
