/**
 * End to end over the tiers, through the queue worker (Azurite) and the
 * unmodified SDK clients against the emulator: a Consumption and a
 * StandardV2 service, whose tenant access endpoints answer 400
 * MethodNotAllowedInPricingTier as Azure does, are evaluated and fixed like
 * any other (the tenant access rules do not apply to them) and never reach the
 * poison queue; on a Developer service the Git endpoint, which the tenant list
 * does not show, is read by name and fixed; a Developer service whose gitAccess
 * cannot be read gets an `unknown` with ARM's answer while its other rules fix.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppDeps, EvaluateOutcome } from "../../src/app/app.js";
import { encodeMessage } from "../../src/app/storage.js";
import { drainQueue } from "../../src/local/driver.js";
import type { EvaluationResult } from "../../src/engine/engine.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { child, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const T = "Microsoft.ApiManagement/service";
const CONS = "apim-tier-consumption";
const V2 = "apim-tier-standardv2";
const DEV = "apim-tier-developer";
const NOGIT = "apim-tier-nogit";
const TENANT_RULES = ["direct-management-endpoint-disabled", "git-configuration-endpoint-disabled"];

/** A service that passes the service-level auto rules, so only the drifts below are fixed. */
const svc = (name: string, sku: string) => service(name, { apiVersionConstraint: { minApiVersion: "2021-08-01" } }, { sku: { name: sku, capacity: sku === "Consumption" ? 0 : 1 }, identity: { type: "SystemAssigned" } });
const httpApi = (name: string) => child(name, "apis/echo", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["http", "https"], serviceUrl: "https://echo.example", isCurrent: true, apiRevision: "1" });

describe("Consumption and v2 tiers are evaluated and fixed, never poisoned", () => {
  let env: TestEnv;
  let deps: AppDeps;
  let results: Map<string, EvaluationResult>;
  let drained: Awaited<ReturnType<typeof drainQueue>>;

  beforeAll(async () => {
    env = await startTestEmulator(
      [
        svc(CONS, "Consumption"),
        httpApi(CONS),
        svc(V2, "StandardV2"),
        httpApi(V2),
        svc(DEV, "Developer"),
        child(DEV, "tenant/gitAccess", `${T}/tenant`, { principalId: "git", enabled: true }),
        svc(NOGIT, "Developer"),
        httpApi(NOGIT),
      ],
      { throttle: { enabled: false } },
    );
    // a tier with Git whose gitAccess cannot be read (404): the rule cannot decide; nothing else is held up
    env.emu.store.delete(`${serviceId(NOGIT)}/tenant/gitAccess`);
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB });
    await clearAppStorage(deps);
    for (const name of [CONS, V2, DEV, NOGIT]) {
      await deps.storage.evaluateQueue.sendMessage(encodeMessage({ serviceId: serviceId(name), reason: "manual", correlationId: `tiers-${name}`, enqueuedAt: new Date().toISOString() }));
    }
    // one failure would be enough to poison a message here
    drained = await drainQueue(deps, { maxDequeueCount: 1 });
    results = new Map(
      drained.outcomes
        .filter((o): o is Extract<EvaluateOutcome, { kind: "evaluated" }> => o.kind === "evaluated")
        .map((o) => [o.result.serviceId.toLowerCase(), o.result]),
    );
  });
  afterAll(async () => env.emu.stop());

  const resultOf = (name: string) => results.get(serviceId(name).toLowerCase()) as EvaluationResult;
  const apim = () => env.clients.apim(SUB);

  it("every service is evaluated once; nothing fails, nothing is poisoned", async () => {
    expect(drained).toMatchObject({ processed: 4, failed: 0, poisoned: 0 });
    expect(results.size).toBe(4);
    expect((await deps.storage.poisonQueue.peekMessages()).peekedMessageItems).toHaveLength(0);
  });

  it.each([
    [CONS, "Consumption"],
    [V2, "StandardV2"],
  ])("%s (%s): the tenant access rules do not apply; api-https-only is fixed", async (name) => {
    const r = resultOf(name);
    expect(r.findings.filter((f) => TENANT_RULES.includes(f.ruleId))).toEqual([]);
    expect(r.actions).toContainEqual(expect.objectContaining({ ruleId: "api-https-only", outcome: "applied" }));
    expect((await apim().api.get(RG, name, "echo")).protocols).toEqual(["https"]);
    // the tenant endpoints really are refused on this tier
    await expect(apim().tenantAccess.get(RG, name, "access")).rejects.toMatchObject({ statusCode: 400, code: "MethodNotAllowedInPricingTier" });
  });

  it("Developer: the Git endpoint the tenant list does not show is read by name and disabled", async () => {
    const r = resultOf(DEV);
    expect(r.findings).toContainEqual(expect.objectContaining({ ruleId: "git-configuration-endpoint-disabled", status: "fail", resourceId: `${serviceId(DEV)}/tenant/gitAccess` }));
    expect(r.actions).toContainEqual(expect.objectContaining({ ruleId: "git-configuration-endpoint-disabled", outcome: "applied" }));
    expect((await apim().tenantAccess.get(RG, DEV, "gitAccess")).enabled).toBe(false);
  });

  it("Developer without a readable gitAccess: that rule is unknown with ARM's answer, the others run and fix", async () => {
    const r = resultOf(NOGIT);
    const git = r.findings.filter((f) => f.ruleId === "git-configuration-endpoint-disabled");
    expect(git).toEqual([expect.objectContaining({ status: "unknown", resourceId: serviceId(NOGIT), message: expect.stringMatching(/^Not evaluated: the gitAccess data could not be read: ARM answered 404 ResourceNotFound/) })]);
    expect(r.findings).toContainEqual(expect.objectContaining({ ruleId: "direct-management-endpoint-disabled", status: "pass" }));
    expect(r.actions).toContainEqual(expect.objectContaining({ ruleId: "api-https-only", outcome: "applied" }));
    expect((await apim().api.get(RG, NOGIT, "echo")).protocols).toEqual(["https"]);
  });
});
