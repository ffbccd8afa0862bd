/**
 * Whose deleted locks come back, and exemptions where the exemption tag cannot be written, end to end
 * through the real SDK clients against the emulator:
 *  - a ReadOnly lock someone else placed on a service and then deleted is reported (the finding says so),
 *    never re-created by default; when nothing else protects the service, the baseline CanNotDelete lock
 *    is created instead of the ReadOnly one; REMEDIATOR_RECREATE_FOREIGN_LOCKS=true restores it as it was;
 *  - the remediator's own lock (REMEDIATOR_LOCK_NAME) comes back whatever its level;
 *  - under a ReadOnly lock the exemption tag cannot be set (ScopeLocked), and REMEDIATOR_EXEMPTIONS
 *    exempts the service by name or by id (skipped, no write, no ticket-worthy outcome), with expiry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogEntry } from "../../emulator/control.js";
import { loadConfig } from "../../src/common/config.js";
import { MemoryLockInventory } from "../../src/engine/inventory.js";
import { ruleById, type Rule } from "../../src/remediations/index.js";
import { child, PORTAL_USER, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";
import { engineFor } from "../helpers/engine.js";

const LOCKS = "Microsoft.Authorization/locks";
const RG_SCOPE = `/subscriptions/${SUB}/resourceGroups/${RG}`;
const TEAM = { level: "ReadOnly", notes: "Frozen by the payments team (CHG-77)", owners: [{ applicationId: "3c1c0000-0000-4000-8000-0000000000aa" }] };

function lockAt(scope: string, name: string, properties: Record<string, unknown>): Record<string, unknown> {
  return { id: `${scope}/providers/Microsoft.Authorization/locks/${name}`, type: LOCKS, name, properties };
}

const rule = (id: string): Rule => {
  const r = ruleById(id);
  if (!r) throw new Error(`no rule ${id}`);
  return r;
};

describe("deleted locks: whose come back", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([]);
  });
  afterAll(async () => env.emu.stop());

  const NAME = "apim-team";
  const sid = serviceId(NAME);
  const lockRules = [rule("resource-lock")];
  const writes = (): LogEntry[] => env.emu.log.list().filter((l) => l.method !== "GET");
  /** Locks placed on the service itself, as the store holds them. */
  const ownLocks = () =>
    env.emu.store
      .ofType(LOCKS, sid)
      .map((l) => ({ name: l.name, ...l.properties }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const deleteLock = (name: string) => env.clientsAs(PORTAL_USER).locks(SUB).managementLocks.deleteAtResourceLevel(RG, "Microsoft.ApiManagement", "", "service", NAME, name);

  /** One evaluation so the inventory sees the locks (as a sweep or an earlier event would), then the owner deletes one. */
  async function seenThenDeleted(estate: Array<Record<string, unknown>>, lock: string, settings: Record<string, string> = {}) {
    env.emu.reset(estate);
    const inventory = new MemoryLockInventory();
    const first = await engineFor(env.emu, settings, inventory).engine.evaluate(sid, { rules: lockRules });
    expect(first.findings.map((f) => f.status)).toEqual(["pass"]);
    expect(inventory.get(sid).map((l) => l.name)).toContain(lock);
    await deleteLock(lock);
    env.emu.log.clear();
    return engineFor(env.emu, settings, inventory);
  }

  it("a foreign ReadOnly lock its owner deleted is reported, not re-created, while another lock protects the service", async () => {
    const e = await seenThenDeleted([service(NAME), lockAt(sid, "team-lock", TEAM), lockAt(RG_SCOPE, "rg-guard", { level: "CanNotDelete" })], "team-lock");
    const r = await e.engine.evaluate(sid, { rules: lockRules });
    expect(r.findings.map((f) => [f.status, f.message])).toEqual([["pass", expect.stringMatching(/'rg-guard'.*Lock 'team-lock' \(ReadOnly\) seen on 'apim-team' before is gone; not re-created.*REMEDIATOR_RECREATE_FOREIGN_LOCKS/)]]);
    expect(r.actions).toEqual([]);
    expect(writes()).toEqual([]);
    expect(ownLocks()).toEqual([]);
  });

  it("with nothing else protecting it, the service gets the baseline CanNotDelete lock, not the deleted ReadOnly one", async () => {
    const e = await seenThenDeleted([service(NAME), lockAt(sid, "team-lock", TEAM)], "team-lock");
    const r = await e.engine.evaluate(sid, { correlationId: "corr-baseline", rules: lockRules });
    expect(r.findings.map((f) => [f.status, f.message])).toEqual([["fail", expect.stringMatching(/No CanNotDelete or ReadOnly lock protects 'apim-team'.*'team-lock' \(ReadOnly\).*not re-created/)]]);
    expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
    expect(ownLocks()).toEqual([{ name: "apim-remediator-baseline", level: "CanNotDelete", notes: expect.any(String) }]);
    expect(writes().map((l) => [l.method, l.principal, l.path.split("?")[0]?.split("/").pop()])).toEqual([["PUT", REMEDIATOR, "apim-remediator-baseline"]]);
    // the audit record says what was left out, and why
    expect(e.audit.records.filter((a) => a.outcome === "applied")).toEqual([expect.objectContaining({ correlationId: "corr-baseline", summary: expect.stringMatching(/baseline CanNotDelete lock 'apim-remediator-baseline'.*'team-lock' \(ReadOnly\) is not the remediator's: reported, not re-created/) })]);
    // settled: the next evaluation passes and writes nothing
    env.emu.log.clear();
    const again = await e.engine.evaluate(sid, { rules: lockRules });
    expect(again.findings.map((f) => f.status)).toEqual(["pass"]);
    expect(writes()).toEqual([]);
  });

  it("REMEDIATOR_RECREATE_FOREIGN_LOCKS=true: the foreign ReadOnly lock comes back exactly as it was (name, level, notes, owners)", async () => {
    const e = await seenThenDeleted([service(NAME), lockAt(sid, "team-lock", TEAM), lockAt(RG_SCOPE, "rg-guard", { level: "CanNotDelete" })], "team-lock", { REMEDIATOR_RECREATE_FOREIGN_LOCKS: "true" });
    const r = await e.engine.evaluate(sid, { rules: lockRules });
    expect(r.findings.map((f) => [f.status, f.message])).toEqual([["fail", "Lock 'team-lock' (ReadOnly) seen on 'apim-team' before is gone."]]);
    expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
    expect(ownLocks()).toEqual([{ name: "team-lock", ...TEAM }]);
  });

  it("the remediator's own ReadOnly baseline lock (REMEDIATOR_LOCK_NAME) comes back when deleted", async () => {
    const settings = { REMEDIATOR_LOCK_NAME: "platform-freeze", REMEDIATOR_LOCK_LEVEL: "ReadOnly" };
    const e = await seenThenDeleted([service(NAME), lockAt(sid, "platform-freeze", { level: "ReadOnly", notes: "kept by apim-remediator" }), lockAt(RG_SCOPE, "rg-guard", { level: "CanNotDelete" })], "platform-freeze", settings);
    const r = await e.engine.evaluate(sid, { rules: lockRules });
    expect(r.findings.map((f) => f.status)).toEqual(["fail"]);
    expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
    expect(ownLocks()).toEqual([{ name: "platform-freeze", level: "ReadOnly", notes: "kept by apim-remediator" }]);
  });
});

describe("exemptions under a ReadOnly lock", () => {
  let env: TestEnv;
  const NAME = "apim-frozen";
  const OTHER = "apim-frozen-2";
  const RG_FROZEN = "rg-apim-frozen";
  const sid = serviceId(NAME, RG_FROZEN);
  const other = serviceId(OTHER, RG_FROZEN);
  const API = (n: string) => child(n, "apis/echo", "Microsoft.ApiManagement/service/apis", { displayName: "Echo", path: "echo", protocols: ["http", "https"], isCurrent: true, apiRevision: "1" }, RG_FROZEN);
  const estate = () => [service(NAME, {}, {}, RG_FROZEN), API(NAME), service(OTHER, {}, {}, RG_FROZEN), API(OTHER), lockAt(`/subscriptions/${SUB}/resourceGroups/${RG_FROZEN}`, "change-freeze", { level: "ReadOnly", notes: "Change freeze" })];
  const https = [rule("api-https-only")];
  const writes = (): LogEntry[] => env.emu.log.list().filter((l) => l.method !== "GET");

  beforeAll(async () => {
    env = await startTestEmulator(estate());
  });
  afterAll(async () => env.emu.stop());

  it("the exemption tag cannot be set on the service (ScopeLocked): the drift is not remediable (reported, ticketed when a provider is set)", async () => {
    env.emu.reset(estate());
    const apim = env.clientsAs(PORTAL_USER).apim(SUB).apiManagementService;
    await expect(apim.beginUpdateAndWait(RG_FROZEN, NAME, { tags: { "apim-remediator:exempt": "api-https-only" } })).rejects.toMatchObject({ statusCode: 409, code: "ScopeLocked" });
    const r = await engineFor(env.emu).engine.evaluate(sid, { rules: https });
    expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["not-remediable", expect.stringMatching(/ReadOnly lock blocks the change.*ScopeLocked/)]]);
  });

  it("REMEDIATOR_EXEMPTIONS exempts it by name: skipped, nothing written, and only that service", async () => {
    env.emu.reset(estate());
    env.emu.log.clear();
    const e = engineFor(env.emu, { REMEDIATOR_EXEMPTIONS: `${NAME}=api-https-only,resource-lock@2999-12-31` });
    const r = await e.engine.evaluate(sid, { rules: https });
    expect(r.findings.map((f) => f.status)).toEqual(["fail"]); // still reported as drift
    expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["skipped", "exempted by REMEDIATOR_EXEMPTIONS"]]);
    expect(e.audit.records.map((a) => [a.outcome, a.reason])).toEqual([["skipped", "exempted by REMEDIATOR_EXEMPTIONS"]]);
    expect(writes()).toEqual([]);
    // the other service in the same group is not exempt
    const o = await e.engine.evaluate(other, { rules: https });
    expect(o.actions.map((a) => a.outcome)).toEqual(["not-remediable"]);
  });

  it("by resource id (any casing), and an expired entry is ignored and reported", async () => {
    env.emu.reset(estate());
    const e = engineFor(env.emu, { REMEDIATOR_EXEMPTIONS: `${other.toUpperCase()}=*; ${NAME}=api-https-only@2020-01-31` });
    const o = await e.engine.evaluate(other, { rules: https });
    expect(o.actions.map((a) => [a.outcome, a.reason])).toEqual([["skipped", "exempted by REMEDIATOR_EXEMPTIONS"]]);
    const r = await e.engine.evaluate(sid, { rules: https });
    expect(r.actions.map((a) => a.outcome)).toEqual(["not-remediable"]);
    expect(r.expiredExemptions).toEqual(["api-https-only@2020-01-31 (REMEDIATOR_EXEMPTIONS)"]);
  });
});

describe("the settings", () => {
  it("REMEDIATOR_RECREATE_FOREIGN_LOCKS is off unless set; REMEDIATOR_EXEMPTIONS reads ids (lower-cased) and names", () => {
    expect(loadConfig({}).recreateForeignLocks).toBe(false);
    expect(loadConfig({ REMEDIATOR_RECREATE_FOREIGN_LOCKS: "true" }).recreateForeignLocks).toBe(true);
    expect(loadConfig({}).exemptions).toEqual([]);
    const id = serviceId("Apim-X");
    expect(loadConfig({ REMEDIATOR_EXEMPTIONS: `apim-contoso-prod=resource-lock, gateway-tls-protocols@2026-06-30 ;\n${id}=*` }).exemptions).toEqual([
      { service: "apim-contoso-prod", rules: "resource-lock,gateway-tls-protocols@2026-06-30" },
      { service: id.toLowerCase(), rules: "*" },
    ]);
  });

  it("a bad REMEDIATOR_EXEMPTIONS entry fails the start with one line naming the setting", () => {
    expect(() => loadConfig({ REMEDIATOR_EXEMPTIONS: "apim-contoso-prod=no-such-rule" })).toThrow(/^Invalid setting REMEDIATOR_EXEMPTIONS: expected known rule ids \(unknown: no-such-rule\)/);
    for (const bad of ["apim-contoso-prod", "apim-contoso-prod=", "rg/apim=*", "apim-contoso-prod=resource-lock@someday"]) {
      expect(() => loadConfig({ REMEDIATOR_EXEMPTIONS: bad }), bad).toThrow(/^Invalid setting REMEDIATOR_EXEMPTIONS: expected entries "service=rule-id,rule-id@YYYY-MM-DD" separated by ";"[^\n]*$/);
    }
  });
});
