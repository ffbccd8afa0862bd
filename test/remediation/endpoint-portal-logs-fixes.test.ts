/**
 * The fixes of gateway-configuration-endpoint-disabled, developer-portal-basic-auth-disabled (opt-in) and
 * resource-logs-enabled, end to end through the engine and the real SDK clients against the emulator: the
 * drift is fixed, verified by a re-read and audited; a second evaluation writes nothing; a change that would
 * break something (self-hosted gateways, no other sign-in method, no workspace) is refused with the reason
 * and nothing is written; 412 re-plans; dry-run and the opt-in default write nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { LogEntry } from "../../emulator/control.js";
import type { Estate, Resource } from "../../emulator/store.js";
import { ruleById, type Rule } from "../../src/remediations/index.js";
import { child, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";
import { engineFor } from "../helpers/engine.js";

const TENANT = "Microsoft.ApiManagement/service/tenant";
const GATEWAYS = "Microsoft.ApiManagement/service/gateways";
const PORTAL = "Microsoft.ApiManagement/service/portalconfigs";
const IDP = "Microsoft.ApiManagement/service/identityProviders";
const DIAG = "Microsoft.Insights/diagnosticSettings";
const WORKSPACE = `/subscriptions/${SUB}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law-apim`;

const rule = (id: string): Rule => {
  const r = ruleById(id);
  if (!r) throw new Error(`no rule ${id}`);
  return r;
};

describe("gateway, portal and resource log fixes against the emulator", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  afterEach(() => vi.restoreAllMocks());

  const writes = (): LogEntry[] => env.emu.log.list().filter((l) => l.method !== "GET");
  const stored = (id: string): Resource => {
    const r = env.emu.store.get(id);
    if (!r) throw new Error(`not in the emulator: ${id}`);
    return r;
  };
  /** Runs `effect` when the fault `id` fires (a change by someone else between the snapshot and the fix's own read). */
  function whenFaultFires(id: string, effect: () => void): void {
    const faults = env.emu.faults;
    const original = faults.match.bind(faults);
    vi.spyOn(faults, "match").mockImplementation((method, path, host) => {
      const fired = original(method, path, host);
      if (fired?.id === id) effect();
      return fired;
    });
  }
  const setup = (estate: Estate, settings: Record<string, string> = {}) => {
    env.emu.reset(estate);
    return engineFor(env.emu, settings);
  };

  // ---- gateway-configuration-endpoint-disabled ----------------------------------------

  describe("gateway-configuration-endpoint-disabled", () => {
    const NAME = "apim-gw";
    const sid = serviceId(NAME);
    const rules = [rule("gateway-configuration-endpoint-disabled")];
    const settingId = `${sid}/tenant/gatewayAccess`;
    const estate = (...more: Estate) => [service(NAME), child(NAME, "tenant/gatewayAccess", TENANT, { enabled: true }), ...more];

    it("Policy df73bd95 (Gateway Configuration): disables an enabled gatewayAccess with If-Match, audited, verified; a second evaluation writes nothing", async () => {
      const e = setup(estate());
      const r = await e.engine.evaluate(sid, { correlationId: "corr-gw", rules });
      expect(r.actions.map((a) => [a.ruleId, a.outcome, a.reason])).toEqual([["gateway-configuration-endpoint-disabled", "applied", undefined]]);
      expect(stored(settingId).properties["enabled"]).toBe(false);
      expect(writes().map((l) => [l.method, l.path.split("?")[0], l.status, l.principal])).toEqual([["PATCH", settingId, 204, REMEDIATOR]].map(([m, p, , who]) => [m, p, expect.any(Number), who]));
      expect(e.audit.records.map((a) => [a.outcome, a.resourceId])).toEqual([
        ["started", settingId],
        ["applied", settingId],
      ]);
      env.emu.log.clear();
      const again = await e.engine.evaluate(sid, { rules });
      expect(again.findings.map((f) => f.status)).toEqual(["pass"]);
      expect(writes()).toEqual([]);
    });

    it("a self-hosted gateway pulls its configuration from the endpoint: not remediable, the reason names it, nothing written", async () => {
      const e = setup(estate(child(NAME, "gateways/onprem-dc1", GATEWAYS, { locationData: { name: "Datacenter 1" }, description: "on-premises" })));
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["not-remediable", expect.stringMatching(/self-hosted gateways \('onprem-dc1'\) that pull their configuration from this endpoint/)]]);
      expect(writes()).toEqual([]);
      expect(stored(settingId).properties["enabled"]).toBe(true);
      // the snapshot's gateway list refuses at plan time: no intent recorded, nothing started
      expect(e.audit.records.map((a) => a.outcome)).toEqual(["not-remediable"]);
    });

    it("dry-run says beforehand that the fix would cut off the self-hosted gateways (not a plan that apply would refuse)", async () => {
      const e = setup(estate(child(NAME, "gateways/onprem-dc1", GATEWAYS, { locationData: { name: "Datacenter 1" }, description: "on-premises" })), { REMEDIATOR_MODE: "dry-run" });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.mode, a.outcome, a.reason])).toEqual([["dry-run", "not-remediable", expect.stringMatching(/self-hosted gateways \('onprem-dc1'\)/)]]);
      expect(writes()).toEqual([]);
    });

    it("a gateway the snapshot did not see is still found just before the write: not remediable, nothing written", async () => {
      const e = setup(estate(child(NAME, "gateways/onprem-dc1", GATEWAYS, { locationData: { name: "Datacenter 1" }, description: "on-premises" })));
      // the collector's list is refused (read as none); the apply-time re-check lists the gateway
      env.emu.faults.add({ method: "GET", pathRegex: "/gateways", status: 400, code: "MethodNotAllowedInPricingTier", count: 1 });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["not-remediable", expect.stringMatching(/self-hosted gateways \('onprem-dc1'\)/)]]);
      expect(writes()).toEqual([]);
      expect(stored(settingId).properties["enabled"]).toBe(true);
      expect(e.audit.records.map((a) => a.outcome)).toEqual(["started", "not-remediable"]);
    });

    it("412 mid-way (someone changed the setting): re-reads, re-plans and applies", async () => {
      const e = setup(estate());
      env.emu.faults.add({ method: "PATCH", path: `${settingId}?`, status: 412, code: "PreconditionFailed", count: 1 });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
      expect(writes().map((l) => l.status)).toEqual([412, expect.any(Number)]);
      expect(stored(settingId).properties["enabled"]).toBe(false);
    });

    it("dry-run plans the change and writes nothing", async () => {
      const e = setup(estate(), { REMEDIATOR_MODE: "dry-run" });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.mode, a.outcome])).toEqual([["dry-run", "planned"]]);
      expect(writes()).toEqual([]);
      expect(stored(settingId).properties["enabled"]).toBe(true);
    });
  });

  // ---- developer-portal-basic-auth-disabled (opt-in) ----------------------------------

  describe("developer-portal-basic-auth-disabled", () => {
    const NAME = "apim-portal";
    const sid = serviceId(NAME);
    const rules = [rule("developer-portal-basic-auth-disabled")];
    const configId = `${sid}/portalconfigs/default`;
    const ENABLE = { REMEDIATOR_RULE_MODES: "developer-portal-basic-auth-disabled=enforce" };
    const aad = child(NAME, "identityProviders/aad", IDP, { type: "aad", clientId: "5c1d0000-0000-4000-8000-0000000000aa", clientSecret: "not-a-real-secret", allowedTenants: ["contoso.onmicrosoft.com"] });
    const estate = (...more: Estate) => [service(NAME), child(NAME, "portalconfigs/default", PORTAL, { enableBasicAuth: true, signin: { require: true }, signup: { termsOfService: { requireConsent: false } } }), ...more];

    it("opt-in: without REMEDIATOR_RULE_MODES it is planned (dry-run), not applied, even in enforce mode", async () => {
      const e = setup(estate(aad));
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.mode, a.outcome])).toEqual([["dry-run", "planned"]]);
      expect(writes()).toEqual([]);
      expect(stored(configId).properties["enableBasicAuth"]).toBe(true);
    });

    it("Policy 1b0d74ac: enabled, with an Entra ID provider: PATCHes enableBasicAuth false with If-Match, other portal settings kept; a second evaluation writes nothing", async () => {
      const e = setup(estate(aad), ENABLE);
      const r = await e.engine.evaluate(sid, { correlationId: "corr-portal", rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["applied", undefined]]);
      expect(stored(configId).properties).toEqual(expect.objectContaining({ enableBasicAuth: false, signin: { require: true } }));
      expect(writes().map((l) => [l.method, l.path.split("?")[0]])).toEqual([["PATCH", configId]]);
      expect(e.audit.records.map((a) => [a.outcome, a.changes])).toEqual([
        ["started", [{ path: "properties.enableBasicAuth", before: true, after: false }]],
        ["applied", [{ path: "properties.enableBasicAuth", before: true, after: false }]],
      ]);
      env.emu.log.clear();
      const again = await e.engine.evaluate(sid, { rules });
      expect(again.findings.map((f) => f.status)).toEqual(["pass"]);
      expect(writes()).toEqual([]);
    });

    it("no identity provider: blocked (every developer would be locked out), nothing written", async () => {
      const e = setup(estate(), ENABLE);
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["not-remediable", expect.stringMatching(/^no other sign-in method is configured .*would lock every developer out/)]]);
      expect(writes()).toEqual([]);
      expect(stored(configId).properties["enableBasicAuth"]).toBe(true);
    });

    it("the last identity provider is removed after the snapshot: the fix's own read sees it and refuses, nothing written", async () => {
      const e = setup(estate(aad), ENABLE);
      const fault = env.emu.faults.add({ method: "GET", path: `${configId}?`, count: 1 });
      whenFaultFires(fault, () => env.emu.store.delete(`${sid}/identityProviders/aad`));
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["not-remediable", expect.stringMatching(/^no other sign-in method is configured/)]]);
      expect(writes()).toEqual([]);
      expect(stored(configId).properties["enableBasicAuth"]).toBe(true);
    });

    it("412 mid-way: re-reads, re-plans and applies", async () => {
      const e = setup(estate(aad), ENABLE);
      env.emu.faults.add({ method: "PATCH", path: `${configId}?`, status: 412, code: "PreconditionFailed", count: 1 });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
      expect(writes().map((l) => l.status)).toEqual([412, expect.any(Number)]);
      expect(stored(configId).properties["enableBasicAuth"]).toBe(false);
    });
  });

  // ---- resource-logs-enabled ----------------------------------------------------------

  describe("resource-logs-enabled", () => {
    const NAME = "apim-logs";
    const sid = serviceId(NAME);
    const rules = [rule("resource-logs-enabled")];
    const ownId = `${sid}/providers/Microsoft.Insights/diagnosticSettings/apim-remediator`;
    const archiveId = `${sid}/providers/Microsoft.Insights/diagnosticSettings/archive`;
    const archive = { id: archiveId, type: DIAG, name: "archive", properties: { storageAccountId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/stapimlogs`, logs: [{ categoryGroup: "allLogs", enabled: true }], metrics: [] } };

    it("no workspace configured: not remediable with that reason (a ticket), nothing written", async () => {
      const e = setup([service(NAME)]);
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.findings.map((f) => f.status)).toEqual(["fail"]);
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["not-remediable", expect.stringMatching(/^no workspace configured: set REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID/)]]);
      expect(writes()).toEqual([]);
    });

    it("Policy 567c93f7 (DeployIfNotExists, allLogs): PUTs its own setting to the configured workspace, other settings untouched; verified; a second evaluation writes nothing", async () => {
      const e = setup([service(NAME), archive], { REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: WORKSPACE });
      const archiveBefore = structuredClone(stored(archiveId).properties);
      const r = await e.engine.evaluate(sid, { correlationId: "corr-logs", rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["applied", undefined]]);
      expect(stored(ownId).properties).toEqual(
        expect.objectContaining({
          workspaceId: WORKSPACE,
          logs: [
            { categoryGroup: "audit", enabled: false },
            { categoryGroup: "allLogs", enabled: true },
          ],
        }),
      );
      expect(stored(archiveId).properties).toEqual(archiveBefore);
      expect(writes().map((l) => [l.method, l.path.split("?")[0], l.principal])).toEqual([["PUT", ownId, REMEDIATOR]]);
      expect(writes()[0]?.path).toMatch(/api-version=2021-05-01-preview/);
      env.emu.log.clear();
      const again = await e.engine.evaluate(sid, { rules });
      expect(again.findings.map((f) => f.status)).toEqual(["pass"]);
      expect(writes()).toEqual([]);
    });

    it("a lost write fails verification: failed, no setting created", async () => {
      const e = setup([service(NAME)], { REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: WORKSPACE });
      env.emu.faults.add({ method: "PUT", path: "/diagnosticSettings/apim-remediator?", swallow: true, count: 1 });
      const r = await e.engine.evaluate(sid, { rules });
      expect(r.actions.map((a) => [a.outcome, a.reason])).toEqual([["failed", expect.stringMatching(/^verification failed/)]]);
      expect(env.emu.store.get(ownId)).toBeUndefined();
    });
  });
});
