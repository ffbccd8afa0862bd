/**
 * Sweeps skip what cannot have changed (src/app/freshness.ts): a service whose discovery row is unchanged since its
 * last full evaluation and which had no event since gets the cheap check only (the service-level rules, judged
 * from the row, no collection read); a changed row, an event or the REMEDIATOR_FULL_SWEEP_HOURS safety net read it
 * in full; the report says how old each verdict's data is. Azurite, the emulator and the unmodified SDK clients.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { handleEvents, report, sweep, type AppDeps } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import { rowFingerprint, sweepRead, VOLATILE_FIELDS } from "../../src/app/freshness.js";
import { loadConfig } from "../../src/common/config.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { child, PORTAL_USER, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const NAME = "apim-fresh";
const ID = serviceId(NAME);
const TLS10 = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10";

const ESTATE = [
  service(NAME, { customProperties: { [TLS10]: "False" } }),
  child(NAME, "apis/echo", "Microsoft.ApiManagement/service/apis", { displayName: "Echo", path: "echo", protocols: ["https"], serviceUrl: "https://echo.example", isCurrent: true, apiRevision: "1" }),
];

/** The remediator's ARM reads of the service's collections (anything under the service, not the service itself). */
function collectionReads(env: TestEnv): number {
  const under = `${ID.toLowerCase()}/`;
  return env.emu.log.list().filter((e) => e.principal === REMEDIATOR && e.host === "arm" && e.method === "GET" && e.path.toLowerCase().split("?")[0]?.startsWith(under)).length;
}
/** The remediator's ARM GETs of the service resource itself. */
function serviceGets(env: TestEnv): number {
  return env.emu.log.list().filter((e) => e.principal === REMEDIATOR && e.host === "arm" && e.method === "GET" && e.path.toLowerCase().split("?")[0] === ID.toLowerCase()).length;
}

async function sweepAndDrain(deps: AppDeps): Promise<void> {
  await sweep(deps, `sweep-${Date.now()}`);
  const r = await drainQueue(deps);
  expect(r.failed).toBe(0);
}

describe("sweeps skip unchanged services", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => env.emu.reset(ESTATE));

  // each test its own storage tables (prefix), so the freshness rows of one do not leak into the next
  let n = 0;
  const depsFor = async (settings: Record<string, string> = {}) => {
    const deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, REMEDIATOR_MODE: "dry-run", REMEDIATOR_FULL_SWEEP_HOURS: "24", REMEDIATOR_STORAGE_PREFIX: `fresh${Date.now().toString(36)}${n++}`, LOG_LEVEL: process.env["DBG"] ? "warn" : "silent", ...settings });
    await clearAppStorage(deps);
    return deps;
  };

  it("an unchanged service on the second sweep makes no collection read (Resource Graph row: no ARM read at all)", async () => {
    const deps = await depsFor();
    expect(deps.freshness).toBeDefined();
    await sweepAndDrain(deps);
    expect(collectionReads(env)).toBeGreaterThan(10);
    env.emu.log.clear();
    await sweepAndDrain(deps);
    expect(collectionReads(env)).toBe(0);
    expect(serviceGets(env)).toBe(0);
    // the service-level verdicts were judged again (from the row): still there
    const svc = (await report(deps)).services.find((s) => s.serviceId.toLowerCase() === ID.toLowerCase());
    expect(svc?.rules["gateway-tls-protocols"]).toBeDefined();
  });

  it("a full read records how many APIs it read; the sweep reads every service's state in one query to order its messages", async () => {
    const deps = await depsFor();
    await sweepAndDrain(deps);
    // ESTATE: one API (echo); a cheap check later leaves the size as the full read recorded it
    expect((await deps.freshness?.get(ID))?.apis).toBe(1);
    await sweepAndDrain(deps);
    const states = await deps.freshness?.states();
    expect(states?.get(ID.toLowerCase())).toMatchObject({ apis: 1, unsettled: false });
  });

  it("a sweep whose freshness rows cannot be read still sends every service (round-robin), and says so", async () => {
    const deps = await depsFor();
    const warnings: string[] = [];
    const warn = deps.log.warn.bind(deps.log);
    deps.log.warn = ((obj: unknown, msg?: string) => {
      warnings.push(String(msg));
      return warn(obj as object, msg);
    }) as typeof deps.log.warn;
    const freshness = deps.freshness;
    if (!freshness) throw new Error("no freshness store");
    freshness.states = () => Promise.reject(Object.assign(new Error("the table is not reachable"), { statusCode: 503 }));
    const ids = await sweep(deps, "sweep-unreadable");
    expect(ids.map((x) => x.toLowerCase())).toEqual([ID.toLowerCase()]);
    expect(warnings).toContain("freshness rows unreadable: the sweep is sent round-robin by subscription");
    const r = await drainQueue(deps);
    expect(r.failed).toBe(0);
    expect(collectionReads(env)).toBeGreaterThan(10);
  });

  it("a changed row (a service property written by someone else) reads the service in full", async () => {
    const deps = await depsFor();
    await sweepAndDrain(deps);
    const apim = env.clientsAs(PORTAL_USER).apim(SUB);
    await apim.apiManagementService.beginUpdateAndWait(RG, NAME, { customProperties: { [TLS10]: "True" } });
    env.emu.log.clear();
    await sweepAndDrain(deps);
    expect(collectionReads(env)).toBeGreaterThan(10);
  });

  it("an event since the last full evaluation reads the service in full at the next sweep, even with the row unchanged", async () => {
    const deps = await depsFor();
    await sweepAndDrain(deps);
    const since = env.emu.events.list().length;
    const apim = env.clientsAs(PORTAL_USER).apim(SUB);
    // a child changes: the service's row (and ETag) do not
    await apim.api.beginCreateOrUpdateAndWait(RG, NAME, "echo", { displayName: "Echo", path: "echo", protocols: ["http", "https"], serviceUrl: "https://echo.example" });
    const events = env.emu.events.list(since);
    expect(events.length).toBeGreaterThan(0);
    const decisions = await handleEvents(events, deps);
    expect(decisions.some((d) => d.enqueued)).toBe(true);
    await drainQueue(deps);
    env.emu.log.clear();
    await sweepAndDrain(deps);
    expect(collectionReads(env)).toBeGreaterThan(10);
    // and that full read is recorded: the sweep after it is cheap again
    env.emu.log.clear();
    await sweepAndDrain(deps);
    expect(collectionReads(env)).toBe(0);
  });

  it("a last full evaluation older than REMEDIATOR_FULL_SWEEP_HOURS reads the service in full (the safety net)", async () => {
    const deps = await depsFor({ REMEDIATOR_FULL_SWEEP_HOURS: "2" });
    await sweepAndDrain(deps);
    const state = await deps.freshness?.get(ID);
    expect(state).toBeDefined();
    // the same fingerprint, recorded three hours ago
    await deps.freshness?.recordFull(ID, state?.fingerprint ?? "", new Date(Date.now() - 3 * 3_600_000), false);
    env.emu.log.clear();
    await sweepAndDrain(deps);
    expect(collectionReads(env)).toBeGreaterThan(10);
  });

  it("with ARM listing the list's ETag is the fingerprint: the cheap check is one GET of the service, no collection read", async () => {
    const deps = await depsFor({ REMEDIATOR_DISCOVERY: "arm" });
    await sweepAndDrain(deps);
    expect((await deps.freshness?.get(ID))?.fingerprint).toMatch(/^etag:/);
    env.emu.log.clear();
    await sweepAndDrain(deps);
    expect(collectionReads(env)).toBe(0);
    expect(serviceGets(env)).toBe(1);
  });

  it("the report says how old each verdict's data is: collection rules keep the last full read's time, service rules the cheap check's", async () => {
    const deps = await depsFor();
    await sweepAndDrain(deps);
    const first = (await report(deps)).services.find((s) => s.serviceId.toLowerCase() === ID.toLowerCase());
    const full = first?.dataAge.fullAt;
    expect(full).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    await new Promise((r) => setTimeout(r, 1100));
    await sweepAndDrain(deps);
    const s = (await report(deps)).services.find((x) => x.serviceId.toLowerCase() === ID.toLowerCase());
    expect(s?.dataAge.fullAt).toBe(full);
    expect(s?.dataAge.ageSeconds).toBeGreaterThanOrEqual(1);
    // a rule reading APIs was not re-read: its data is the full read's; a service-level rule was judged just now
    const api = s?.rules["api-https-only"];
    const tls = s?.rules["gateway-tls-protocols"];
    expect(api?.evaluatedAt).toBeDefined();
    expect(tls?.evaluatedAt).toBeDefined();
    expect((tls?.evaluatedAt ?? "") > (api?.evaluatedAt ?? "")).toBe(true);
    expect(s?.dataAge.oldestAt).toBe(api?.evaluatedAt);
  });
});

describe("fingerprints and the decision", () => {
  const row = { id: ID, name: NAME, type: "Microsoft.ApiManagement/service", location: "westeurope", sku: { name: "Developer", capacity: 1 }, tags: { env: "prod" }, properties: { publisherEmail: "a@b.example", provisioningState: "Succeeded", customProperties: { [TLS10]: "False" } } };

  it("ignores the volatile fields and key order, and sees any other change (tags included)", () => {
    expect(VOLATILE_FIELDS).toContain("properties.provisioningState");
    const fp = rowFingerprint(row);
    expect(fp).toMatch(/^sha256:/);
    const reordered = { properties: { customProperties: { [TLS10]: "False" }, provisioningState: "Updating", publisherEmail: "a@b.example" }, tags: { env: "prod" }, sku: { capacity: 1, name: "Developer" }, location: "westeurope", type: row.type, name: NAME, id: ID, systemData: { lastModifiedAt: "2026-01-01T00:00:00Z" } };
    expect(rowFingerprint(reordered)).toBe(fp);
    expect(rowFingerprint({ ...row, tags: { env: "prod", "apim-remediator-exempt": "*" } })).not.toBe(fp);
    expect(rowFingerprint({ ...row, properties: { ...row.properties, customProperties: { [TLS10]: "True" } } })).not.toBe(fp);
    // an ETag, when the row has one, is the fingerprint
    expect(rowFingerprint({ ...row, etag: "AAAAAABMoXg=" })).toBe("etag:AAAAAABMoXg=");
  });

  it("reads in full without a record, on a new fingerprint, past the age, with an event waiting or since, or a fix to retry", () => {
    const now = new Date("2026-05-01T12:00:00Z");
    const state = { fingerprint: "sha256:x", fullAt: "2026-05-01T10:00:00.000Z", eventAt: "", unsettled: false };
    expect(sweepRead(state, "sha256:x", now, 24, false).full).toBe(false);
    expect(sweepRead(undefined, "sha256:x", now, 24, false).full).toBe(true);
    expect(sweepRead(state, "sha256:y", now, 24, false).full).toBe(true);
    expect(sweepRead(state, "sha256:x", now, 1, false).full).toBe(true);
    expect(sweepRead(state, "sha256:x", now, 0, false).full).toBe(true);
    expect(sweepRead(state, "sha256:x", now, 24, true).full).toBe(true);
    expect(sweepRead({ ...state, eventAt: "2026-05-01T11:00:00.000Z" }, "sha256:x", now, 24, false).full).toBe(true);
    expect(sweepRead({ ...state, unsettled: true }, "sha256:x", now, 24, false).full).toBe(true);
  });

  it("REMEDIATOR_FULL_SWEEP_HOURS defaults to 24 and refuses what is not a whole number of hours", () => {
    expect(loadConfig({}).fullSweepHours).toBe(24);
    expect(loadConfig({ REMEDIATOR_FULL_SWEEP_HOURS: "6" }).fullSweepHours).toBe(6);
    for (const bad of ["-1", "1.5", "abc", "9000"]) expect(() => loadConfig({ REMEDIATOR_FULL_SWEEP_HOURS: bad })).toThrow(/REMEDIATOR_FULL_SWEEP_HOURS/);
  });
});
