/**
 * Per-operation traffic and self-hosted gateways, read live through the unmodified SDK clients against the
 * emulator: the service's report by operation (`reports/byOperation`, need `operationReports`) fills
 * `requestsByOperation` so `unused-api` judges per operation as Defender does (Policy c8acafaf), agreeing with the
 * Azure Monitor metric's per-API counts; a tier without reports (Consumption, v2) or a role without the read leaves
 * the per-API judgement. The gateway list (need `gateways`) lets the gateway configuration endpoint's plan refuse
 * beforehand. Every read is paged and counted exactly by expectedCalls.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { collectSnapshot, expectedCalls, requestsByOperation, type CallShape } from "../../src/azure/collector.js";
import { DEFAULT_RULE_OPTIONS } from "../../src/remediations/index.js";
import { rule as unusedApi } from "../../src/remediations/unused-api.js";
import { rule as gatewayEndpoint } from "../../src/remediations/gateway-configuration-endpoint-disabled.js";
import type { RemediationSettings } from "../../src/remediations/types.js";
import { RG, child, service, serviceId, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const PAGE = 2;
const T = "Microsoft.ApiManagement/service";
const PREMIUM = "apim-reports";
const CONS = "apim-reports-cons";
const BV2 = "apim-reports-basicv2";
const sid = serviceId(PREMIUM);

/** echo: 4 operations (2 with traffic) and a non-current revision; orders: 1 operation, counted per API only. */
function apis(name: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  out.push(child(name, "apis/echo", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["https"], isCurrent: true, apiRevision: "1" }));
  out.push(child(name, "apis/echo;rev=2", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["https"], isCurrent: false, apiRevision: "2" }));
  out.push(child(name, "apis/orders", `${T}/apis`, { displayName: "Orders", path: "orders", protocols: ["https"], isCurrent: true, apiRevision: "1" }));
  for (let i = 0; i < 4; i++) {
    out.push(child(name, `apis/echo/operations/get-${i}`, `${T}/apis/operations`, { displayName: `Get ${i}`, method: "GET", urlTemplate: `/${i}` }));
    out.push(child(name, `apis/echo;rev=2/operations/get-${i}`, `${T}/apis/operations`, { displayName: `Get ${i}`, method: "GET", urlTemplate: `/${i}` }));
  }
  out.push(child(name, "apis/orders/operations/list", `${T}/apis/operations`, { displayName: "List orders", method: "GET", urlTemplate: "/" }));
  // the counts both sources answer from (emulator/traffic.ts)
  out.push({ id: `${serviceId(name)}/providers/Microsoft.Insights/metrics/Requests`, type: "Microsoft.Insights/metrics", properties: { totalsByOperation: { "echo/get-0": 5, "echo/get-2": 1 }, totalsByApiId: { orders: 7 } } });
  return out;
}

function estate(): Array<Record<string, unknown>> {
  return [
    service(PREMIUM, {}, { sku: { name: "Premium", capacity: 1 } }),
    ...apis(PREMIUM),
    child(PREMIUM, "tenant/gatewayAccess", `${T}/tenant`, { enabled: true }),
    // ApiManagementListGateways: self-hosted gateways with their location
    ...["edge-eu", "onprem-dc1", "onprem-dc2"].map((g) => child(PREMIUM, `gateways/${g}`, `${T}/gateways`, { locationData: { name: g }, description: `gateway ${g}` })),
    service(CONS, {}, { sku: { name: "Consumption", capacity: 0 } }),
    ...apis(CONS),
    service(BV2, {}, { sku: { name: "BasicV2", capacity: 1 } }),
    ...apis(BV2),
  ];
}

/** The Premium service's shape: the report has one row per operation of the current APIs (5, 3 pages). */
const SHAPE: CallShape = {
  pageSize: PAGE,
  apis: [
    { revisions: 2, operations: 4, revisionOperations: 4, http: true },
    { revisions: 1, operations: 1, http: true },
  ],
  namedValues: 0,
  backends: 0,
  subscriptions: 0,
  products: [],
  defenderPlanEnabled: false,
  gateways: 3,
};

describe("collector: the report by operation (need operationReports)", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(estate(), { pageSize: PAGE, throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => {
    env.emu.log.clear();
    env.emu.faults.clear();
  });
  const armCalls = () => env.emu.log.list().filter((l) => l.host === "arm");
  const reportCalls = () => armCalls().filter((c) => /\/reports\/byOperation/i.test(c.path));

  it("fills requestsByOperation live, keyed api/operation by resource name, every page followed, counted by expectedCalls", async () => {
    const snap = await collectSnapshot(env.clients, sid, ["operationReports"], { unusedDays: 7 });
    expect(snap.requestsByOperation).toEqual({ "echo/get-0": 5, "echo/get-1": 0, "echo/get-2": 1, "echo/get-3": 0, "orders/list": 7 });
    expect(snap.collected.has("operationReports")).toBe(true);
    // the service, then the report's 3 pages: one report for the service, not a call per API or operation
    expect(armCalls().every((c) => c.method === "GET" && c.status === 200)).toBe(true);
    expect(armCalls()).toHaveLength(expectedCalls(["operationReports"], SHAPE));
    expect(expectedCalls(["operationReports"], SHAPE)).toBe(1 + 3);
    expect(new Set(armCalls().map((c) => c.path)).size).toBe(armCalls().length);
    // the required $filter: the look-back window as ApiManagementGetReportsByOperation.json spells it
    const filter = new URL(reportCalls()[0]?.path ?? "", "https://x").searchParams.get("$filter") ?? "";
    const m = /^timestamp ge datetime'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)' and timestamp le datetime'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)'$/.exec(filter);
    expect(m, filter).not.toBeNull();
    expect(Date.parse(`${m?.[2]}Z`) - Date.parse(`${m?.[1]}Z`)).toBe(7 * 86400_000);
  });

  it("the metric's per-API counts and the report's per-operation counts agree", async () => {
    const snap = await collectSnapshot(env.clients, sid, ["metrics", "operationReports"]);
    const perApi: Record<string, number> = {};
    for (const [key, n] of Object.entries(snap.requestsByOperation ?? {})) perApi[key.split("/")[0] as string] = (perApi[key.split("/")[0] as string] ?? 0) + n;
    expect(snap.requestsByApi).toEqual({ echo: 6, orders: 7 });
    expect(perApi).toEqual(snap.requestsByApi);
  });

  it("Policy c8acafaf, live: unused-api names the unused operations of a busy API (per API it passed)", async () => {
    const snap = await collectSnapshot(env.clients, sid, unusedApi.meta.needs);
    const findings = unusedApi.detect(snap, DEFAULT_RULE_OPTIONS);
    expect(findings.map((f) => [f.resourceId.split("/").pop(), f.status])).toEqual([
      ["echo", "fail"],
      ["orders", "pass"],
    ]);
    expect(findings[0]?.message).toMatch(/API 'echo': 2 of its 4 operations had no requests in the last 30 days: 'get-1', 'get-3' \(the API served 6 request\(s\) on the others\)/);
    expect(armCalls()).toHaveLength(expectedCalls(unusedApi.meta.needs, SHAPE));
  });

  it.each([
    [CONS, "Consumption"],
    [BV2, "BasicV2"],
  ])("%s: the tier has no reports (400 MethodNotAllowedInPricingTier): collected without per-operation counts, unused-api judges per API and says why", async (name, sku) => {
    const snap = await collectSnapshot(env.clients, serviceId(name), unusedApi.meta.needs);
    expect(reportCalls().map((c) => c.status)).toEqual([400]);
    expect(snap.collected.has("operationReports")).toBe(true);
    expect(snap.failed?.size ?? 0).toBe(0);
    expect(snap.requestsByOperation).toBeUndefined();
    const echo = unusedApi.detect(snap, DEFAULT_RULE_OPTIONS).find((f) => f.resourceId.endsWith("/apis/echo"));
    expect(echo?.status).toBe("pass");
    expect(echo?.message).toBe(`API 'echo' served 6 request(s) in the last 30 days (judged per API: the ${sku} tier has no reports by operation).`);
  });

  it("a role without the reports read (403): judged per API, the evaluation goes on", async () => {
    env.emu.faults.add({ method: "GET", pathRegex: "/reports/byOperation", status: 403, code: "AuthorizationFailed", message: "The client does not have authorization to perform action 'Microsoft.ApiManagement/service/reports/read'." });
    const snap = await collectSnapshot(env.clients, sid, unusedApi.meta.needs);
    expect(snap.requestsByOperation).toBeUndefined();
    expect(unusedApi.detect(snap, DEFAULT_RULE_OPTIONS).find((f) => f.resourceId.endsWith("/apis/echo"))?.message).toMatch(/judged per API: per-operation counts are not available/);
  });

  it("a transient failure of the report fails the evaluation (retried), not a silent per-API verdict", async () => {
    env.emu.faults.add({ method: "GET", pathRegex: "/reports/byOperation", status: 503, code: "ServiceUnavailable", retryAfter: 0, count: 1000 });
    await expect(collectSnapshot(env.clients, sid, ["operationReports"])).rejects.toMatchObject({ statusCode: 503 });
  });

  it("emulator: the report answers ApiManagementGetReportsByOperation.json's fields; the last page's nextLink is empty; $filter needs the time range", async () => {
    const bodies: Array<Record<string, unknown>> = [];
    const rows: unknown[] = [];
    for await (const r of env.clients.apim(sid.split("/")[2] as string).reports.listByOperation(RG, PREMIUM, "timestamp ge datetime'2026-01-01T00:00:00' and timestamp le datetime'2026-01-31T00:00:00'", { onResponse: (res) => bodies.push(JSON.parse(res.bodyAsText ?? "{}") as Record<string, unknown>) })) rows.push(r);
    expect(rows).toHaveLength(5);
    expect(bodies.map((b) => b["count"])).toEqual([5, 5, 5]);
    expect(bodies[2]?.["nextLink"]).toBe("");
    const first = (bodies[0]?.["value"] as Array<Record<string, unknown>>)[0];
    expect(first).toMatchObject({ name: "Get 0", apiId: "/apis/echo", operationId: "/apis/echo/operations/get-0", callCountTotal: 5, callCountSuccess: 5, callCountBlocked: 0, callCountFailed: 0, callCountOther: 0 });
    const all = bodies.flatMap((b) => b["value"] as Array<Record<string, unknown>>);
    // a per-API count is spread over the API's operations; the non-current revision has no rows of its own
    expect(all.find((r) => r["operationId"] === "/apis/orders/operations/list")?.["callCountTotal"]).toBe(7);
    expect(all.some((r) => String(r["apiId"]).includes(";rev="))).toBe(false);
    const bad = env.clients.apim(sid.split("/")[2] as string).reports.listByOperation(RG, PREMIUM, "apiId eq 'echo'");
    await expect(bad.next()).rejects.toMatchObject({ statusCode: 400, code: "ValidationError" });
  });
});

describe("requestsByOperation: report rows to api/operation counts", () => {
  it("maps operationId paths (not display names) to lowercase resource names, sums revisions into their API, skips rows without an operation", () => {
    expect(
      requestsByOperation([
        { name: "get", apiId: "/apis/Echo-API", operationId: "/apis/Echo-API/operations/Create-Resource", callCountTotal: 14 },
        { name: "get", apiId: "/apis/echo-api;rev=2", operationId: "/apis/echo-api;rev=2/operations/create-resource", callCountTotal: 3 },
        { name: "GetWeatherInformation", apiId: "/apis/57c999d1e4bbd50c988cb2c3", operationId: "/apis/57c999d1e4bbd50c988cb2c3/operations/57c999d1e4bbd50df889c93e", callCountTotal: 0 },
        { name: "no operation", apiId: "/apis/x" },
        { operationId: "/apis/x/operations/y", callCountTotal: "12" },
      ]),
    ).toEqual({ "echo-api/create-resource": 17, "57c999d1e4bbd50c988cb2c3/57c999d1e4bbd50df889c93e": 0, "x/y": 0 });
  });
});

describe("collector: self-hosted gateways (need gateways)", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(estate(), { pageSize: PAGE, throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => {
    env.emu.log.clear();
    env.emu.faults.clear();
  });
  const armCalls = () => env.emu.log.list().filter((l) => l.host === "arm");
  const settings = {} as RemediationSettings;

  it("lists them, every page followed, counted by expectedCalls; the plan then refuses beforehand, naming them", async () => {
    const snap = await collectSnapshot(env.clients, sid, gatewayEndpoint.meta.needs);
    expect(snap.gateways.map((g) => g.name)).toEqual(["edge-eu", "onprem-dc1", "onprem-dc2"]);
    expect(snap.gateways[0]?.properties["locationData"]).toEqual({ name: "edge-eu" });
    expect(armCalls()).toHaveLength(expectedCalls(gatewayEndpoint.meta.needs, SHAPE));
    // the service, gatewayAccess by name, the gateway list's 2 pages
    expect(expectedCalls(gatewayEndpoint.meta.needs, SHAPE)).toBe(1 + 1 + 2);
    const finding = gatewayEndpoint.detect(snap, DEFAULT_RULE_OPTIONS).find((f) => f.status === "fail");
    expect(finding).toBeDefined();
    expect(gatewayEndpoint.remediation?.plan(finding!, snap, { settings })).toEqual({ kind: "blocked", reason: expect.stringMatching(/^the service has self-hosted gateways \('edge-eu', 'onprem-dc1', 'onprem-dc2'\)/) });
  });

  it("the built-in gateway (`managed`), should the list hold it, is not a self-hosted one", async () => {
    env.emu.store.put({ id: `${sid}/gateways/managed`, name: "managed", type: `${T}/gateways`, properties: {}, etag: env.emu.store.nextEtag() });
    try {
      const snap = await collectSnapshot(env.clients, sid, ["gateways"]);
      expect(snap.gateways.map((g) => g.name)).toEqual(["edge-eu", "onprem-dc1", "onprem-dc2"]);
    } finally {
      env.emu.reset();
    }
  });

  it("a tier that refuses the list (400 MethodNotAllowedInPricingTier) has none: collected, one call, the plan goes ahead", async () => {
    env.emu.faults.add({ method: "GET", pathRegex: "/gateways", status: 400, code: "MethodNotAllowedInPricingTier", message: "Method not allowed in Basic pricing tier" });
    const snap = await collectSnapshot(env.clients, sid, gatewayEndpoint.meta.needs);
    expect(snap.collected.has("gateways")).toBe(true);
    expect(snap.gateways).toEqual([]);
    expect(armCalls().filter((c) => /\/gateways/i.test(c.path)).map((c) => c.status)).toEqual([400]);
    expect(armCalls()).toHaveLength(expectedCalls(gatewayEndpoint.meta.needs, { ...SHAPE, gateways: 0 }));
    const finding = gatewayEndpoint.detect(snap, DEFAULT_RULE_OPTIONS).find((f) => f.status === "fail");
    expect(gatewayEndpoint.remediation?.plan(finding!, snap, { settings }).kind).toBe("plan");
  });
});
