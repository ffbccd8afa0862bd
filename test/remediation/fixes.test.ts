/**
 * Every auto fix and the opt-in ones, end to end through the real SDK clients
 * against the emulator: the drift is fixed and audited; a second run writes
 * nothing; 412 re-plans (or finds the drift resolved by someone else); 409
 * busy backs off; a ReadOnly lock makes the drift not remediable; a lost write
 * fails verification and leaves the original state; dry-run, the kill switch,
 * rule modes, exemption tags and the blast-radius limits change nothing they
 * should not.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { LogEntry } from "../../emulator/control.js";
import type { Estate, Resource } from "../../emulator/store.js";
import { WriteBudget } from "../../src/engine/engine.js";
import { MemoryLockInventory } from "../../src/engine/inventory.js";
import { PROTOCOL_KEYS } from "../../src/remediations/gateway-tls-protocols.js";
import { DEFAULT_WEAK_CIPHERS } from "../../src/remediations/gateway-weak-ciphers.js";
import { ruleById, type Rule } from "../../src/remediations/index.js";
import { child, PORTAL_USER, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";
import { engineFor } from "../helpers/engine.js";

const APIS = "Microsoft.ApiManagement/service/apis";
const TENANT = "Microsoft.ApiManagement/service/tenant";
const BACKENDS = "Microsoft.ApiManagement/service/backends";
const LOCKS = "Microsoft.Authorization/locks";
const SEC = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.";
const HTTP2 = "Microsoft.WindowsAzure.ApiManagement.Gateway.Protocols.Server.Http2";
const RG_LOCKED = "rg-apim-frozen";
const UAI = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-apim-gateway`;

const rule = (id: string): Rule => {
  const r = ruleById(id);
  if (!r) throw new Error(`no rule ${id}`);
  return r;
};

const allFalse = (suffixes: string[]) => Object.fromEntries(suffixes.map((k) => [SEC + k, "False"]));
const CIPHER_KEYS = DEFAULT_WEAK_CIPHERS.map((c) => `Ciphers.${c}`);

function lockAt(scope: string, name: string, properties: Record<string, unknown>): Record<string, unknown> {
  return { id: `${scope}/providers/Microsoft.Authorization/locks/${name}`, type: LOCKS, name, properties };
}

/** Locks placed on the service itself, as the store holds them. */
function ownLocks(env: TestEnv, sid: string): Array<Record<string, unknown>> {
  return env.emu.store
    .ofType(LOCKS, sid)
    .map((l) => ({ name: l.name, ...l.properties }))
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

function stored(env: TestEnv, id: string): Resource {
  const r = env.emu.store.get(id);
  if (!r) throw new Error(`not in the emulator: ${id}`);
  return r;
}

/** Changes a resource in the store as someone else would (a new ETag). */
function touch(env: TestEnv, id: string, change: (r: Resource) => void): void {
  const r = stored(env, id);
  change(r);
  r.etag = env.emu.store.nextEtag();
}

interface FixCase {
  ruleId: string;
  /** Settings that configure the rule (opt-in rules: REMEDIATOR_RULE_MODES=<id>=enforce). */
  settings: Record<string, string>;
  optIn: boolean;
  /** A service with exactly one drift of this rule. */
  estate(name: string, rg: string): Estate;
  /** The resource a finding is about. */
  findingId(sid: string): string;
  /** The fix's write: method and a path substring to inject faults on. */
  write: { method: "PATCH" | "PUT"; path(sid: string): string };
  /** The state the rule owns, read from the emulator's store. */
  state(env: TestEnv, sid: string): unknown;
  before: unknown;
  after: unknown;
  changes: Array<{ path: string; before: unknown; after: unknown }>;
  /** Fixes the drift in the store as someone else would. */
  fixElsewhere(env: TestEnv, sid: string): void;
  /** The outcome when the write is lost: rules with a rollback restore (a no-op here), others fail. */
  unverified: "rolled-back" | "failed";
  /** Under a ReadOnly resource group lock: the write is refused, or (locks) the service is protected already. */
  underReadOnlyLock: "not-remediable" | "pass";
}

const tenantCase = (ruleId: string, access: "access" | "gitAccess"): FixCase => ({
  ruleId,
  settings: {},
  optIn: false,
  estate: (n, rg) => [service(n, {}, {}, rg), child(n, `tenant/${access}`, TENANT, access === "gitAccess" ? { principalId: "git", enabled: true } : { enabled: true }, rg)],
  findingId: (sid) => `${sid}/tenant/${access}`,
  write: { method: "PATCH", path: (sid) => `${sid}/tenant/${access}?` },
  state: (env, sid) => stored(env, `${sid}/tenant/${access}`).properties["enabled"],
  before: true,
  after: false,
  changes: [{ path: "properties.enabled", before: true, after: false }],
  fixElsewhere: (env, sid) => touch(env, `${sid}/tenant/${access}`, (r) => void (r.properties["enabled"] = false)),
  unverified: "failed",
  underReadOnlyLock: "not-remediable",
});

const customPropertiesCase = (ruleId: string, initial: Record<string, string>, keys: string[], changes: FixCase["changes"]): FixCase => ({
  ruleId,
  settings: { REMEDIATOR_RULE_MODES: `${ruleId}=enforce` },
  optIn: true,
  estate: (n, rg) => [service(n, { customProperties: initial }, {}, rg)],
  findingId: (sid) => sid,
  write: { method: "PATCH", path: (sid) => `${sid}?` },
  state: (env, sid) => stored(env, sid).properties["customProperties"],
  before: initial,
  // every key the service had is kept (the emulator, as ARM, resets omitted security keys)
  after: expect.objectContaining({ ...initial, ...allFalse(keys) }),
  changes,
  fixElsewhere: (env, sid) => touch(env, sid, (r) => void (r.properties["customProperties"] = { ...initial, ...allFalse(keys) })),
  unverified: "failed",
  underReadOnlyLock: "not-remediable",
});

const CASES: FixCase[] = [
  {
    ruleId: "api-https-only",
    settings: {},
    optIn: false,
    estate: (n, rg) => [service(n, {}, {}, rg), child(n, "apis/echo", APIS, { displayName: "Echo", path: "echo", protocols: ["http", "https"], isCurrent: true, apiRevision: "1" }, rg)],
    findingId: (sid) => `${sid}/apis/echo`,
    write: { method: "PATCH", path: (sid) => `${sid}/apis/echo?` },
    state: (env, sid) => stored(env, `${sid}/apis/echo`).properties["protocols"],
    before: ["http", "https"],
    after: ["https"],
    changes: [{ path: "properties.protocols", before: ["http", "https"], after: ["https"] }],
    fixElsewhere: (env, sid) => touch(env, `${sid}/apis/echo`, (r) => void (r.properties["protocols"] = ["https"])),
    unverified: "failed",
    underReadOnlyLock: "not-remediable",
  },
  tenantCase("direct-management-endpoint-disabled", "access"),
  tenantCase("git-configuration-endpoint-disabled", "gitAccess"),
  {
    ruleId: "min-api-version",
    settings: { MIN_API_VERSION: "2021-08-01" },
    optIn: false,
    estate: (n, rg) => [service(n, { apiVersionConstraint: { minApiVersion: "2019-01-01" } }, {}, rg)],
    findingId: (sid) => sid,
    write: { method: "PATCH", path: (sid) => `${sid}?` },
    state: (env, sid) => (stored(env, sid).properties["apiVersionConstraint"] as { minApiVersion?: string } | undefined)?.minApiVersion ?? null,
    before: "2019-01-01",
    after: "2021-08-01",
    changes: [{ path: "properties.apiVersionConstraint.minApiVersion", before: "2019-01-01", after: "2021-08-01" }],
    fixElsewhere: (env, sid) => touch(env, sid, (r) => void (r.properties["apiVersionConstraint"] = { minApiVersion: "2022-08-01" })),
    unverified: "failed",
    underReadOnlyLock: "not-remediable",
  },
  {
    ruleId: "managed-identity",
    settings: {},
    optIn: false,
    estate: (n, rg) => [service(n, {}, {}, rg)],
    findingId: (sid) => sid,
    write: { method: "PATCH", path: (sid) => `${sid}?` },
    state: (env, sid) => stored(env, sid).identity?.["type"] ?? "None",
    before: "None",
    after: "SystemAssigned",
    changes: [{ path: "identity.type", before: "None", after: "SystemAssigned" }],
    fixElsewhere: (env, sid) => touch(env, sid, (r) => void (r.identity = { type: "SystemAssigned", principalId: "5c1d0000-0000-4000-8000-000000000001", tenantId: env.emu.tenantId })),
    unverified: "failed",
    underReadOnlyLock: "not-remediable",
  },
  {
    ruleId: "resource-lock",
    settings: { REMEDIATOR_LOCK_NAME: "platform-guard", REMEDIATOR_LOCK_LEVEL: "CanNotDelete", REMEDIATOR_LOCK_NOTES: "Remove only with change ticket CHG-42." },
    optIn: false,
    estate: (n, rg) => [service(n, {}, {}, rg)],
    findingId: (sid) => sid,
    write: { method: "PUT", path: () => "/providers/Microsoft.Authorization/locks/platform-guard?" },
    state: (env, sid) => ownLocks(env, sid),
    before: [],
    after: [{ name: "platform-guard", level: "CanNotDelete", notes: "Remove only with change ticket CHG-42." }],
    changes: [{ path: "locks/platform-guard", before: null, after: { level: "CanNotDelete", notes: "Remove only with change ticket CHG-42." } }],
    fixElsewhere: (env, sid) => env.emu.store.put({ id: `${sid}/providers/Microsoft.Authorization/locks/team-lock`, name: "team-lock", type: LOCKS, properties: { level: "CanNotDelete" }, etag: env.emu.store.nextEtag() }),
    unverified: "failed",
    underReadOnlyLock: "pass",
  },
  customPropertiesCase(
    "gateway-tls-protocols",
    { [HTTP2]: "True", [`${SEC}Protocols.Tls10`]: "True", [`${SEC}Ciphers.TripleDes168`]: "False" },
    PROTOCOL_KEYS,
    PROTOCOL_KEYS.map((k) => ({ path: `properties.customProperties.${SEC}${k}`, before: k === "Protocols.Tls10" ? "True" : null, after: "False" })),
  ),
  customPropertiesCase(
    "gateway-weak-ciphers",
    { [HTTP2]: "True", [`${SEC}Protocols.Tls10`]: "False", [`${SEC}Ciphers.TripleDes168`]: "True" },
    CIPHER_KEYS,
    CIPHER_KEYS.map((k) => ({ path: `properties.customProperties.${SEC}${k}`, before: k === "Ciphers.TripleDes168" ? "True" : null, after: "False" })),
  ),
  {
    ruleId: "backend-certificate-validation",
    settings: { REMEDIATOR_RULE_MODES: "backend-certificate-validation=enforce" },
    optIn: true,
    estate: (n, rg) => [service(n, {}, {}, rg), child(n, "backends/legacy", BACKENDS, { url: "https://legacy.contoso.example", protocol: "http", tls: { validateCertificateChain: false, validateCertificateName: false } }, rg)],
    findingId: (sid) => `${sid}/backends/legacy`,
    write: { method: "PATCH", path: (sid) => `${sid}/backends/legacy?` },
    state: (env, sid) => stored(env, `${sid}/backends/legacy`).properties["tls"],
    before: { validateCertificateChain: false, validateCertificateName: false },
    after: { validateCertificateChain: true, validateCertificateName: true },
    changes: [
      { path: "properties.tls.validateCertificateChain", before: false, after: true },
      { path: "properties.tls.validateCertificateName", before: false, after: true },
    ],
    fixElsewhere: (env, sid) => touch(env, `${sid}/backends/legacy`, (r) => void (r.properties["tls"] = { validateCertificateChain: true, validateCertificateName: true })),
    unverified: "failed",
    underReadOnlyLock: "not-remediable",
  },
];

describe("remediation fixes against the emulator", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  afterEach(() => {
    vi.restoreAllMocks();
    env.emu.setLroDuration(0);
  });

  const writes = (): LogEntry[] => env.emu.log.list().filter((l) => l.method !== "GET");
  const succeeded = (): LogEntry[] => writes().filter((l) => l.status > 0 && l.status < 400);

  /** Runs `effect` when the fault `id` fires: a change by someone else landing between our read and our write. */
  function whenFaultFires(id: string, effect: () => void): void {
    const faults = env.emu.faults;
    const original = faults.match.bind(faults);
    vi.spyOn(faults, "match").mockImplementation((method, path, host) => {
      const fired = original(method, path, host);
      if (fired?.id === id) effect();
      return fired;
    });
  }

  /** Records the body of every write the emulator performs (install after each reset). */
  function captureWrites(): Array<{ method: string; path: string; body: Record<string, unknown> }> {
    const arm = env.emu.arm;
    const handle = arm.handle.bind(arm);
    const out: Array<{ method: string; path: string; body: Record<string, unknown> }> = [];
    arm.handle = (req) => {
      if (req.method !== "GET") out.push({ method: req.method, path: req.url.pathname, body: structuredClone(req.body) });
      return handle(req);
    };
    return out;
  }

  describe.each(CASES)("$ruleId", (c) => {
    const NAME = "apim-fix";
    const sid = serviceId(NAME);
    const rules = [rule(c.ruleId)];
    const setup = (settings: Record<string, string> = {}, estate = c.estate(NAME, RG)) => {
      env.emu.reset(estate);
      return engineFor(env.emu, { ...c.settings, ...settings });
    };

    it("(a, b) fixes the drift and audits it as applied (before -> after, correlation id); a second evaluation writes nothing", async () => {
      const e = setup();
      expect(c.state(env, sid)).toEqual(c.before);
      const r = await e.engine.evaluate(sid, { correlationId: `corr-${c.ruleId}`, rules });
      expect(r.actions.map((a) => [a.ruleId, a.outcome, a.reason])).toEqual([[c.ruleId, "applied", undefined]]);
      expect(r.correlationId).toBe(`corr-${c.ruleId}`);
      expect(c.state(env, sid)).toEqual(c.after);
      // intent before the write, outcome after it: a change is on record even if the second record is lost
      expect(e.audit.records).toEqual([
        expect.objectContaining({ correlationId: `corr-${c.ruleId}`, actor: REMEDIATOR, mode: "enforce", ruleId: c.ruleId, resourceId: c.findingId(sid), outcome: "started", changes: c.changes, writes: 0 }),
        expect.objectContaining({ correlationId: `corr-${c.ruleId}`, actor: REMEDIATOR, mode: "enforce", ruleId: c.ruleId, resourceId: c.findingId(sid), outcome: "applied", changes: c.changes, writes: 1 }),
      ]);
      expect(writes().map((l) => [l.method, l.principal])).toEqual([[c.write.method, REMEDIATOR]]);
      expect(succeeded()).toHaveLength(1);

      env.emu.log.clear();
      const again = await e.engine.evaluate(sid, { correlationId: "corr-again", rules });
      expect(again.findings.map((f) => [f.ruleId, f.status])).toEqual([[c.ruleId, "pass"]]);
      expect(again.actions).toEqual([]);
      expect(again.writes).toBe(0);
      expect(writes()).toEqual([]);
    });

    it("(c) 412 mid-way: re-reads, re-plans and applies", async () => {
      const e = setup();
      env.emu.faults.add({ method: c.write.method, path: c.write.path(sid), status: 412, code: "PreconditionFailed", count: 1 });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
      expect(c.state(env, sid)).toEqual(c.after);
      const log = env.emu.log.list();
      const failedAt = log.findIndex((l) => l.status === 412);
      const retriedAt = log.findIndex((l, i) => i > failedAt && l.method === c.write.method);
      expect(failedAt).toBeGreaterThanOrEqual(0);
      expect(log[retriedAt]?.status).toBeLessThan(300);
      // re-read between the refused write and the new one
      expect(log.slice(failedAt + 1, retriedAt).some((l) => l.method === "GET")).toBe(true);
      expect(writes().map((l) => l.status)).toEqual([412, log[retriedAt]?.status]);
    });

    it("(c) 412 because someone fixed it meanwhile: skipped, resolved by a concurrent change", async () => {
      const e = setup();
      const id = env.emu.faults.add({ method: c.write.method, path: c.write.path(sid), status: 412, code: "PreconditionFailed", count: 1 });
      whenFaultFires(id, () => c.fixElsewhere(env, sid));
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["skipped", expect.stringMatching(/resolved by a concurrent change/)]]);
      expect(succeeded()).toEqual([]);
      expect(c.state(env, sid)).not.toEqual(c.before);
      expect(e.audit.records.map((a) => a.outcome)).toEqual(["started", "skipped"]);
    });

    it("(d) 409 busy: backs off, then applies", async () => {
      const e = setup();
      env.emu.faults.add({ method: c.write.method, path: c.write.path(sid), status: 409, code: "PessimisticConcurrencyConflict", count: 1 });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["applied", undefined]]);
      expect(c.state(env, sid)).toEqual(c.after);
      const statuses = writes().map((l) => l.status);
      expect(statuses[0]).toBe(409);
      expect(statuses).toHaveLength(2);
      expect(statuses[1]).toBeLessThan(300);
    });

    it("(e) a ReadOnly lock on the resource group: " + (c.underReadOnlyLock === "pass" ? "already protected, nothing written" : "not remediable, nothing changed"), async () => {
      const lsid = serviceId(NAME, RG_LOCKED);
      const e = setup({}, [...c.estate(NAME, RG_LOCKED), lockAt(`/subscriptions/${SUB}/resourceGroups/${RG_LOCKED}`, "change-freeze", { level: "ReadOnly", notes: "Change freeze" })]);
      const r = await e.engine.evaluate(lsid, { rules });
      if (c.underReadOnlyLock === "pass") {
        expect(r.findings.map((f) => f.status)).toEqual(["pass"]);
        expect(r.actions).toEqual([]);
        expect(writes()).toEqual([]);
      } else {
        expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["not-remediable", expect.stringMatching(/ReadOnly lock blocks the change.*ScopeLocked/)]]);
        expect(writes().map((l) => [l.method, l.status])).toEqual([[c.write.method, 409]]);
        expect(e.audit.records.map((a) => a.outcome)).toEqual(["started", "not-remediable"]);
      }
      expect(c.state(env, lsid)).toEqual(c.before);
    });

    it(`(f) a lost write fails verification: ${c.unverified}, state as it was`, async () => {
      const e = setup();
      env.emu.faults.add({ method: c.write.method, path: c.write.path(sid), swallow: true, count: 1 });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([[c.unverified, expect.stringMatching(/^verification failed/)]]);
      expect(c.state(env, sid)).toEqual(c.before);
      expect(e.audit.records.map((a) => a.outcome)).toEqual(["started", c.unverified]);
      // the only write was the lost one (a rollback finds nothing to restore)
      expect(writes()).toHaveLength(1);
    });

    it("(g) dry-run (REMEDIATOR_MODE=dry-run, evaluate({dryRun})) and the kill switch plan, writing nothing", async () => {
      // the global mode (opt-in rules: their default, dry-run); the per-evaluation flag; the kill switch
      const variants: Array<[Record<string, string>, boolean, string]> = [
        [{ REMEDIATOR_MODE: "dry-run", REMEDIATOR_RULE_MODES: "" }, false, "dry-run"],
        [{}, true, "dry-run"],
        [{ REMEDIATOR_KILL_SWITCH: "true" }, false, "kill switch on"],
      ];
      for (const [settings, dryRun, reason] of variants) {
        const e = setup(settings);
        const r = await e.engine.evaluate(sid, { rules, dryRun, correlationId: "corr-plan" });
        expect(r.actions.map((a) => [a.mode, a.outcome, a.reason])).toEqual([["dry-run", "planned", reason]]);
        expect(e.audit.records).toEqual([expect.objectContaining({ outcome: "planned", correlationId: "corr-plan", changes: c.changes, writes: 0 })]);
        expect(r.writes).toBe(0);
        expect(writes()).toEqual([]);
        expect(c.state(env, sid)).toEqual(c.before);
      }
    });

    it("(g) rule mode off: not evaluated, no action", async () => {
      const e = setup({ REMEDIATOR_RULE_MODES: `${c.ruleId}=off` });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.findings).toEqual([]);
      expect(r.actions).toEqual([]);
      expect(e.audit.records).toEqual([]);
      expect(writes()).toEqual([]);
    });

    it("(g) exemption tag: skipped; an expired exemption is ignored and reported", async () => {
      let e = setup();
      stored(env, sid).tags = { "apim-remediator:exempt": `other-rule,${c.ruleId}@2999-12-31` };
      let r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["skipped", "exempted by tag apim-remediator:exempt"]]);
      expect(r.expiredExemptions).toEqual([]);
      expect(writes()).toEqual([]);
      expect(c.state(env, sid)).toEqual(c.before);

      e = setup();
      stored(env, sid).tags = { "apim-remediator:exempt": `${c.ruleId}@2020-01-31` };
      r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
      expect(r.expiredExemptions).toEqual([`${c.ruleId}@2020-01-31`]);
      expect(c.state(env, sid)).toEqual(c.after);
    });

    it("(g) blast radius: with no writes allowed per service it is skipped before writing", async () => {
      const e = setup({ REMEDIATOR_MAX_WRITES_PER_SERVICE: "0" });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["skipped", expect.stringMatching(/^per-service write limit \(0\) reached/)]]);
      expect(writes()).toEqual([]);
      expect(c.state(env, sid)).toEqual(c.before);
    });
  });

  // ---- per-fix specifics ---------------------------------------------------------

  const api = (svc: string, name: string, props: Record<string, unknown>) => child(svc, `apis/${name}`, APIS, { displayName: name, path: name.split(";")[0], isCurrent: !name.includes(";rev="), apiRevision: name.includes(";rev=") ? name.split("=")[1] : "1", ...props });

  it("api-https-only: every revision, websocket and GraphQL APIs; https added where http was the only protocol; compliant APIs untouched", async () => {
    const NAME = "apim-apis";
    const sid = serviceId(NAME);
    env.emu.reset([
      service(NAME),
      api(NAME, "echo", { protocols: ["http", "https"] }),
      api(NAME, "echo;rev=2", { protocols: ["http"] }),
      api(NAME, "chat", { type: "websocket", apiType: "websocket", protocols: ["ws"] }),
      api(NAME, "live", { type: "websocket", apiType: "websocket", protocols: ["ws", "wss"] }),
      api(NAME, "orders-graph", { type: "graphql", apiType: "graphql", protocols: ["http", "https"] }),
      api(NAME, "ok", { protocols: ["https"] }),
    ]);
    const e = engineFor(env.emu);
    const r = await e.engine.evaluate(sid, { rules: [rule("api-https-only")] });
    expect(r.actions.map((a) => `${a.resourceId.split("/apis/")[1]} ${a.outcome}`).sort()).toEqual(["chat applied", "echo applied", "echo;rev=2 applied", "live applied", "orders-graph applied"]);
    const client = env.clients.apim(SUB);
    const protocols = async (n: string) => (await client.api.get(RG, NAME, n)).protocols;
    expect(await protocols("echo")).toEqual(["https"]);
    expect(await protocols("echo;rev=2")).toEqual(["https"]);
    expect(await protocols("chat")).toEqual(["wss"]);
    expect(await protocols("live")).toEqual(["wss"]);
    expect(await protocols("orders-graph")).toEqual(["https"]);
    expect(await protocols("ok")).toEqual(["https"]);
    expect(
      writes()
        .map((l) => l.path.split("?")[0]?.split("/apis/")[1])
        .sort(),
    ).toEqual(["chat", "echo", "echo;rev=2", "live", "orders-graph"]);
    expect(e.audit.records.find((a) => a.resourceId.endsWith("echo;rev=2"))?.changes).toEqual([{ path: "properties.protocols", before: ["http"], after: ["https"] }]);
  });

  it("managed-identity: a user-assigned identity added meanwhile is kept next to the new system-assigned one", async () => {
    const NAME = "apim-identity";
    const sid = serviceId(NAME);
    env.emu.reset([service(NAME), { id: UAI, type: "Microsoft.ManagedIdentity/userAssignedIdentities", name: "id-apim-gateway", location: "westeurope", properties: {} }]);
    const e = engineFor(env.emu);
    // the snapshot read the service without an identity; the fix's own read sees the user-assigned one someone just added
    const id = env.emu.faults.add({ method: "GET", path: `${sid}?`, after: 1, count: 1 });
    whenFaultFires(id, () => touch(env, sid, (r) => void (r.identity = { type: "UserAssigned", userAssignedIdentities: { [UAI]: {} } })));
    const r = await e.engine.evaluate(sid, { rules: [rule("managed-identity")] });
    expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
    const svc = await env.clients.apim(SUB).apiManagementService.get(RG, NAME);
    expect(svc.identity?.type).toBe("SystemAssigned, UserAssigned");
    expect(svc.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(svc.identity?.userAssignedIdentities ?? {}).map((k) => k.toLowerCase())).toEqual([UAI.toLowerCase()]);
  });

  it("min-api-version and managed-identity: long-running PATCHes are waited for (no write meets a busy service)", async () => {
    const NAME = "apim-lro";
    const sid = serviceId(NAME);
    env.emu.reset([service(NAME)]);
    env.emu.setLroDuration(50);
    const e = engineFor(env.emu);
    const r = await e.engine.evaluate(sid, { rules: [rule("min-api-version"), rule("managed-identity")] });
    expect(r.actions.map((a) => [a.ruleId, a.outcome])).toEqual([
      ["managed-identity", "applied"],
      ["min-api-version", "applied"],
    ]);
    const log = env.emu.log.list();
    expect(log.filter((l) => l.method === "PATCH").map((l) => l.status)).toEqual([202, 202]);
    expect(log.filter((l) => /operationResults/i.test(l.path)).length).toBeGreaterThanOrEqual(2);
    expect(log.filter((l) => l.status === 409)).toEqual([]);
    const svc = stored(env, sid);
    expect(svc.properties["provisioningState"]).toBe("Succeeded");
    expect(svc.properties["apiVersionConstraint"]).toEqual({ minApiVersion: "2021-08-01" });
    expect(svc.identity?.["type"]).toBe("SystemAssigned");
  });

  describe("resource-lock", () => {
    const NAME = "apim-locked";
    const sid = serviceId(NAME);
    const RG_SCOPE = `/subscriptions/${SUB}/resourceGroups/${RG}`;
    const TEAM = { level: "ReadOnly", notes: "Frozen by the payments team (CHG-77)", owners: [{ applicationId: "3c1c0000-0000-4000-8000-0000000000aa" }] };
    const estate = () => [service(NAME), lockAt(sid, "team-lock", TEAM), lockAt(RG_SCOPE, "rg-guard", { level: "CanNotDelete", notes: "Resource group guard" })];
    const lockRules = [rule("resource-lock")];
    const deleteTeamLock = () => env.clientsAs(PORTAL_USER).locks(SUB).managementLocks.deleteAtResourceLevel(RG, "Microsoft.ApiManagement", "", "service", NAME, "team-lock");
    // the team's lock is ReadOnly and not the remediator's: it comes back only when policy says so (default: reported; test/remediation/lock-policy.test.ts)
    const RECREATE = { REMEDIATOR_RECREATE_FOREIGN_LOCKS: "true" };

    it("re-creates a lock seen earlier and then deleted by a user exactly (name, level, notes, owners), although an inherited lock still protects", async () => {
      env.emu.reset(estate());
      const inventory = new MemoryLockInventory();
      const first = engineFor(env.emu, RECREATE, inventory);
      const r1 = await first.engine.evaluate(sid, { rules: lockRules });
      expect(r1.findings.map((f) => f.status)).toEqual(["pass"]);
      expect(writes()).toEqual([]);
      expect(inventory.get(sid).map((l) => l.name)).toEqual(["team-lock"]);

      await deleteTeamLock();
      expect(ownLocks(env, sid)).toEqual([]);
      env.emu.log.clear();

      // a later invocation (a new engine) with the same inventory
      const second = engineFor(env.emu, RECREATE, inventory);
      const r2 = await second.engine.evaluate(sid, { correlationId: "corr-lock", rules: lockRules });
      expect(r2.findings.map((f) => [f.status, f.message])).toEqual([["fail", expect.stringMatching(/team-lock/)]]);
      expect(r2.actions.map((a) => a.outcome)).toEqual(["applied"]);
      expect(ownLocks(env, sid)).toEqual([{ name: "team-lock", ...TEAM }]);
      // never the baseline lock, never a delete, the inherited lock untouched
      expect(writes().map((l) => [l.method, l.principal, l.path.split("?")[0]?.split("/").pop()])).toEqual([["PUT", REMEDIATOR, "team-lock"]]);
      expect(stored(env, `${RG_SCOPE}/providers/Microsoft.Authorization/locks/rg-guard`).properties).toEqual({ level: "CanNotDelete", notes: "Resource group guard" });
      expect(second.audit.records).toEqual([
        expect.objectContaining({ correlationId: "corr-lock", outcome: "started" }),
        expect.objectContaining({ correlationId: "corr-lock", outcome: "applied", changes: [{ path: "locks/team-lock", before: null, after: { level: "ReadOnly", notes: TEAM.notes } }] }),
      ]);

      env.emu.log.clear();
      const r3 = await second.engine.evaluate(sid, { rules: lockRules });
      expect(r3.actions).toEqual([]);
      expect(writes()).toEqual([]);
    });

    it("never overwrites (or weakens) a lock of the same name that appears before its write", async () => {
      env.emu.reset(estate());
      const e = engineFor(env.emu, RECREATE);
      await e.engine.evaluate(sid, { rules: lockRules });
      await deleteTeamLock();
      env.emu.log.clear();
      // the user re-creates it, weaker, just before the fix looks
      const id = env.emu.faults.add({ method: "GET", path: "/providers/Microsoft.Authorization/locks/team-lock?", count: 1 });
      whenFaultFires(id, () => env.emu.store.put({ id: `${sid}/providers/Microsoft.Authorization/locks/team-lock`, name: "team-lock", type: LOCKS, properties: { level: "CanNotDelete", notes: "re-created by hand" }, etag: env.emu.store.nextEtag() }));
      const r = await e.engine.evaluate(sid, { rules: lockRules });
      expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
      expect(writes()).toEqual([]);
      expect(ownLocks(env, sid)).toEqual([{ name: "team-lock", level: "CanNotDelete", notes: "re-created by hand" }]);
    });

    it("a ReadOnly baseline lock is written after every other fix of the evaluation (it would block them)", async () => {
      const n = "apim-readonly";
      const s = serviceId(n);
      env.emu.reset(everything(n));
      const e = engineFor(env.emu, { ...ENABLE_OPT_IN, REMEDIATOR_LOCK_LEVEL: "ReadOnly" });
      const r = await e.engine.evaluate(s, { rules: ALL_RULES });
      expect(r.actions.map((a) => [a.ruleId, a.outcome, a.reason])).toEqual(ALL_IN_ORDER.map((id) => [id, "applied", undefined]));
      expect(ownLocks(env, s)).toEqual([{ name: "apim-remediator-baseline", level: "ReadOnly", notes: expect.any(String) }]);
      env.emu.log.clear();
      const again = await e.engine.evaluate(s, { rules: ALL_RULES });
      expect(again.findings.filter((f) => f.status !== "pass")).toEqual([]);
      expect(writes()).toEqual([]);
    });
  });

  // ---- customProperties: the full merged map ----------------------------------------

  it("gateway-tls-protocols then gateway-weak-ciphers on a service created in 2017: each PATCH sends the full merged customProperties map, every key is kept", async () => {
    const NAME = "apim-2017";
    const sid = serviceId(NAME);
    const initial = {
      [HTTP2]: "True",
      [`${SEC}Protocols.Tls10`]: "True",
      [`${SEC}Ciphers.TripleDes168`]: "False",
      [`${SEC}Ciphers.TLS_RSA_WITH_AES_128_CBC_SHA`]: "False",
    };
    env.emu.reset([service(NAME, { createdAtUtc: "2017-06-01T00:00:00Z", customProperties: initial })]);
    const bodies = captureWrites();
    const tls = engineFor(env.emu, { REMEDIATOR_RULE_MODES: "gateway-tls-protocols=enforce" });
    const r1 = await tls.engine.evaluate(sid, { rules: [rule("gateway-tls-protocols")] });
    expect(r1.actions.map((a) => a.outcome)).toEqual(["applied"]);
    const sent1 = (bodies[0]?.body["properties"] as { customProperties: Record<string, string> }).customProperties;
    // omitted keys would be reset to True on a 2017 service: the explicit False ciphers must travel with the PATCH
    expect(sent1).toEqual({ ...initial, ...allFalse(PROTOCOL_KEYS) });
    const afterTls = stored(env, sid).properties["customProperties"] as Record<string, string>;
    expect(afterTls).toEqual(expect.objectContaining({ ...initial, ...allFalse(PROTOCOL_KEYS) }));

    const both = engineFor(env.emu, { REMEDIATOR_RULE_MODES: "gateway-tls-protocols=enforce,gateway-weak-ciphers=enforce" });
    const r2 = await both.engine.evaluate(sid, { rules: [rule("gateway-tls-protocols"), rule("gateway-weak-ciphers")] });
    expect(r2.actions.map((a) => [a.ruleId, a.outcome])).toEqual([["gateway-weak-ciphers", "applied"]]);
    const sent2 = (bodies[1]?.body["properties"] as { customProperties: Record<string, string> }).customProperties;
    for (const k of Object.keys(afterTls)) expect(sent2).toHaveProperty([k]);
    const final = (await env.clients.apim(SUB).apiManagementService.get(RG, NAME)).customProperties;
    expect(final).toEqual({ [HTTP2]: "True", ...allFalse(PROTOCOL_KEYS), ...allFalse(CIPHER_KEYS) });
    expect(bodies).toHaveLength(2);
  });

  // ---- blast radius across fixes and services ---------------------------------------

  it("REMEDIATOR_MAX_WRITES_PER_SERVICE=1: the first fix is applied, the rest skipped with a blast-radius reason", async () => {
    const n = "apim-radius";
    env.emu.reset(everything(n));
    const e = engineFor(env.emu, { ...ENABLE_OPT_IN, REMEDIATOR_MAX_WRITES_PER_SERVICE: "1" });
    const r = await e.engine.evaluate(serviceId(n), { rules: ALL_RULES });
    expect(r.actions.map((a) => a.ruleId)).toEqual(ALL_IN_ORDER);
    expect(r.actions[0]?.outcome).toBe("applied");
    for (const a of r.actions.slice(1)) {
      expect(a.outcome).toBe("skipped");
      expect(a.reason).toMatch(/^per-service write limit \(1\) reached before: /);
    }
    expect(r.writes).toBe(1);
    expect(succeeded()).toHaveLength(1);
  });

  it("a shared sweep budget stops writes across services", async () => {
    const a = "apim-sweep-a";
    const b = "apim-sweep-b";
    const two = (n: string) => [service(n), api(n, "echo", { protocols: ["http"] }), child(n, "tenant/access", TENANT, { enabled: true })];
    env.emu.reset([...two(a), ...two(b)]);
    const e = engineFor(env.emu);
    const budget = new WriteBudget(3);
    const rules = [rule("api-https-only"), rule("direct-management-endpoint-disabled")];
    const ra = await e.engine.evaluate(serviceId(a), { rules, sweepBudget: budget });
    const rb = await e.engine.evaluate(serviceId(b), { rules, sweepBudget: budget });
    expect(ra.actions.map((x) => x.outcome)).toEqual(["applied", "applied"]);
    expect(rb.actions.map((x) => [x.ruleId, x.outcome])).toEqual([
      ["api-https-only", "applied"],
      ["direct-management-endpoint-disabled", "skipped"],
    ]);
    expect(rb.actions[1]?.reason).toMatch(/^per-sweep write limit \(3\) reached/);
    expect(budget.used).toBe(3);
    expect(succeeded()).toHaveLength(3);
    expect(stored(env, `${serviceId(b)}/tenant/access`).properties["enabled"]).toBe(true);
  });
});

const ENABLE_OPT_IN = { REMEDIATOR_RULE_MODES: "gateway-tls-protocols=enforce,gateway-weak-ciphers=enforce,backend-certificate-validation=enforce" };
const ALL_RULES = CASES.map((c) => rule(c.ruleId));
/** The engine's order: the identity first, the lock last, the rest in catalog order. */
const ALL_IN_ORDER = [
  "managed-identity",
  "api-https-only",
  "direct-management-endpoint-disabled",
  "git-configuration-endpoint-disabled",
  "min-api-version",
  "gateway-tls-protocols",
  "gateway-weak-ciphers",
  "backend-certificate-validation",
  "resource-lock",
];

/** A service with one drift of every rule here. */
function everything(n: string): Estate {
  return [
    service(n, { customProperties: { [HTTP2]: "True", [`${SEC}Protocols.Tls10`]: "True" } }),
    child(n, "apis/echo", APIS, { displayName: "Echo", path: "echo", protocols: ["http"], isCurrent: true, apiRevision: "1" }),
    child(n, "tenant/access", TENANT, { enabled: true }),
    child(n, "tenant/gitAccess", TENANT, { principalId: "git", enabled: true }),
    child(n, "backends/legacy", BACKENDS, { url: "https://legacy.contoso.example", protocol: "http", tls: { validateCertificateChain: false } }),
  ];
}
