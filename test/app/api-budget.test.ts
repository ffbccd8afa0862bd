/**
 * The APIs one instance's evaluations may hold at once (REMEDIATOR_MAX_APIS_IN_FLIGHT, src/app/api-budget.ts):
 * the queue worker takes 16 messages at a time, and a snapshot's size follows its APIs, so big services
 * arriving together take turns for their API-by-API reads (in arrival order). Observed where it
 * shows: the emulator's log of the reads of each service's APIs (after its API list), over the unmodified SDK.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppDeps } from "../../src/app/app.js";
import { encodeMessage } from "../../src/app/storage.js";
import { drainQueue } from "../../src/local/driver.js";
import { loadConfig } from "../../src/common/config.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { child, service, serviceId, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const T = "Microsoft.ApiManagement/service";
const BIG = ["apim-big-a", "apim-big-b", "apim-big-c"];
const SMALL = ["apim-small-a", "apim-small-b", "apim-small-c", "apim-small-d"];
const apis = (svc: string, n: number) =>
  Array.from({ length: n }, (_, i) => child(svc, `apis/api-${i}`, `${T}/apis`, { displayName: `API ${i}`, path: `p${i}`, protocols: ["https"], serviceUrl: "https://backend.example", isCurrent: true, apiRevision: "1", subscriptionRequired: true }));

/** [first, last] log sequence numbers of the reads of a service's APIs one by one (not its API list). */
function apiReads(env: TestEnv, name: string): [number, number] {
  const own = env.emu.log.list().filter((e) => e.method === "GET" && new RegExp(`/service/${name}/apis/[^/?]+`, "i").test(e.path));
  return [own[0]?.seq ?? -1, own.at(-1)?.seq ?? -1];
}
const overlaps = ([a0, a1]: [number, number], [b0, b1]: [number, number]) => a0 <= b1 && b0 <= a1;

describe("REMEDIATOR_MAX_APIS_IN_FLIGHT", () => {
  let env: TestEnv;
  // unpaced (ARM_PACING=false): the pacer's own queue would order the reads and hide the budget's effect
  beforeAll(async () => {
    env = await startTestEmulator([...BIG.flatMap((n) => [service(n), ...apis(n, 8)]), ...SMALL.flatMap((n) => [service(n), ...apis(n, 1)])], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());

  async function sweepAll(deps: AppDeps): Promise<number> {
    await clearAppStorage(deps);
    env.emu.log.clear();
    for (const n of [...BIG, ...SMALL]) await deps.storage.evaluateQueue.sendMessage(encodeMessage({ serviceId: serviceId(n), reason: "sweep", correlationId: `sweep-${n}`, enqueuedAt: new Date().toISOString() }));
    const r = await drainQueue(deps);
    return r.outcomes.filter((o) => o.kind === "evaluated").length;
  }

  it("big services take turns for their API reads: no two of them read their APIs at the same time", async () => {
    // room for one 8-API service and the 1-API ones beside it, not for two big ones
    const deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_PACING: "false", REMEDIATOR_MAX_APIS_IN_FLIGHT: "10" });
    expect(await sweepAll(deps)).toBe(BIG.length + SMALL.length);
    const big = BIG.map((n) => apiReads(env, n));
    expect(big.every(([a]) => a >= 0)).toBe(true);
    for (let i = 0; i < big.length; i++) for (let j = i + 1; j < big.length; j++) expect(overlaps(big[i] as [number, number], big[j] as [number, number])).toBe(false);
    // every small service read its API too (turns are taken in arrival order, so a big service is not starved by small ones)
    expect(SMALL.map((n) => apiReads(env, n)).every(([a]) => a >= 0)).toBe(true);
    expect(deps.apiBudget?.stats.waited).toBeGreaterThan(0);
    expect(deps.apiBudget?.free).toBe(10);
  });

  it("with the default budget the same services read their APIs side by side", async () => {
    const deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_PACING: "false" });
    expect(deps.apiBudget?.capacity).toBe(1_600);
    expect(await sweepAll(deps)).toBe(BIG.length + SMALL.length);
    const big = BIG.map((n) => apiReads(env, n));
    expect(big.some((b, i) => big.some((c, j) => i !== j && overlaps(b, c)))).toBe(true);
    expect(deps.apiBudget?.free).toBe(1_600);
  });

  it("a service with more APIs than the whole budget runs alone instead of waiting for ever", async () => {
    const deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", REMEDIATOR_MAX_APIS_IN_FLIGHT: "3" });
    expect(await sweepAll(deps)).toBe(BIG.length + SMALL.length);
    expect(deps.apiBudget?.free).toBe(3);
  });

  it("refuses a budget that is not a whole number from 1, naming the setting", () => {
    for (const v of ["0", "-1", "2.5", "lots"]) expect(() => loadConfig({ REMEDIATOR_MAX_APIS_IN_FLIGHT: v })).toThrow(/REMEDIATOR_MAX_APIS_IN_FLIGHT/);
  });
});
