/**
 * ARM pacing shared by the app's instances (src/azure/shared-pacing.ts, its
 * budgets in Azurite's tables: src/app/pacing-store.ts): several "instances"
 * (each its own app dependencies, client factory and pacer, as separate
 * Function instances have) sweep against the emulator's ARM buckets, which
 * count per principal and subscription as ARM does, on a fast time scale.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppDeps } from "../../src/app/app.js";
import { sweep } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import { createClients } from "../../src/azure/clients.js";
import { loadConfig } from "../../src/common/config.js";
import type { SharedPacingStats } from "../../src/azure/shared-pacing.js";
import type { LogEntry } from "../../emulator/control.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { REMEDIATOR, RG, service, startTestEmulator, SUB, SUB2, type TestEnv } from "../helpers/emulator.js";

/** ARM's bucket sizes, refilled 12 times faster (the bench's time scale). */
const REFILL = 300;
const THROTTLE = { enabled: true, reads: { capacity: 250, refillPerSecond: REFILL }, writes: { capacity: 200, refillPerSecond: 120 }, deletes: { capacity: 200, refillPerSecond: 120 } };
const TWO = "rg-two";
const subOf = (path: string) => /^\/subscriptions\/([^/?]+)/i.exec(path)?.[1]?.toLowerCase();

async function instances(env: TestEnv, n: number, settings: Record<string, string>): Promise<AppDeps[]> {
  return Promise.all(Array.from({ length: n }, () => appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_READS_PER_SECOND: String(REFILL), ARM_WRITES_PER_SECOND: "120", ARM_DELETES_PER_SECOND: "120", ARM_MAX_RETRIES: "10", ...settings })));
}

/** The timer's sweep on the first instance, then every instance's queue trigger drains the queue at once. */
async function sweepWith(all: AppDeps[]): Promise<Set<string>> {
  const first = all[0] as AppDeps;
  await clearAppStorage(first);
  await sweep(first);
  const results = await Promise.all(all.map((d) => drainQueue(d, { maxRounds: 200 })));
  const evaluated = new Set<string>();
  for (const r of results) for (const o of r.outcomes) if (o.kind === "evaluated") evaluated.add(o.result.serviceId.toLowerCase());
  return evaluated;
}

const remediatorLog = (env: TestEnv): LogEntry[] => env.emu.log.list().filter((e) => e.principal === REMEDIATOR);

describe("ARM pacing shared across instances", () => {
  let env: TestEnv;
  const many = Array.from({ length: 100 }, (_, i) => `apim-many-${String(i).padStart(3, "0")}`);
  const two = Array.from({ length: 20 }, (_, i) => `apim-two-${String(i).padStart(2, "0")}`);
  beforeAll(async () => {
    env = await startTestEmulator([...many.map((n) => service(n)), ...two.map((n) => service(n, {}, {}, TWO, SUB)), ...two.map((n) => service(n, {}, {}, TWO, SUB2))], { throttle: THROTTLE });
  });
  afterAll(async () => env.emu.stop());

  for (const n of [4, 16]) {
    it(`${n} instances sweeping 100 services of one subscription draw no 429, and every service is evaluated`, async () => {
      const all = await instances(env, n, { REMEDIATOR_SUBSCRIPTIONS: SUB, REMEDIATOR_RESOURCE_GROUPS: RG });
      env.emu.log.clear();
      const evaluated = await sweepWith(all);
      expect([...evaluated].sort()).toEqual(many.map((m) => `/subscriptions/${SUB}/resourcegroups/${RG}/providers/microsoft.apimanagement/service/${m}`));
      const log = remediatorLog(env);
      expect(log.filter((e) => e.status === 429)).toHaveLength(0);
      // more reads than one bucket holds: the instances did wait on the shared budget
      expect(log.filter((e) => e.kind === "read").length).toBeGreaterThan(2 * THROTTLE.reads.capacity);
      const stats = all.map((d) => d.clients.pacer?.stats as SharedPacingStats);
      expect(stats.every((s) => s.fallbacks === 0 && s.throttled === 0)).toBe(true);
      // several instances took part, each through leases of the shared budget
      expect(stats.filter((s) => s.leases > 0).length).toBeGreaterThan(1);
    }, 180_000);
  }

  it("a sweep of two subscriptions evaluates both at once, not one after the other", async () => {
    const [one] = await instances(env, 1, { REMEDIATOR_SUBSCRIPTIONS: `${SUB},${SUB2}`, REMEDIATOR_RESOURCE_GROUPS: TWO });
    env.emu.log.clear();
    const evaluated = await sweepWith([one as AppDeps]);
    expect(evaluated.size).toBe(40);
    // the reads of the services (discovery excluded), in the order the emulator served them
    const reads = remediatorLog(env).filter((e) => e.kind === "read" && /\/resourceGroups\/rg-two\/providers\/Microsoft\.ApiManagement\/service\//i.test(e.path));
    const firstHalf = reads.slice(0, Math.floor(reads.length / 2));
    const share = firstHalf.filter((e) => subOf(e.path) === SUB2).length / firstHalf.length;
    // both subscriptions' buckets are drawn from in the first half of the sweep (one after the other: share 0)
    expect(share).toBeGreaterThan(0.3);
    expect(share).toBeLessThan(0.7);
  }, 120_000);
});

describe("a 429 one instance meets holds every instance", () => {
  let env: TestEnv;
  // a slow refill, so another client of the same identity can empty the bucket
  const SLOW = { enabled: true, reads: { capacity: 250, refillPerSecond: 10 }, writes: { capacity: 200, refillPerSecond: 10 }, deletes: { capacity: 200, refillPerSecond: 10 } };
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-held")], { throttle: SLOW });
  });
  afterAll(async () => env.emu.stop());

  it("the others wait until Retry-After instead of meeting the empty bucket", async () => {
    const [a, b, c] = await instances(env, 3, { ARM_READS_PER_SECOND: "10", REMEDIATOR_SUBSCRIPTIONS: SUB });
    // something else acting as the same identity, unpaced, empties the bucket (until it meets a 429 itself)
    const other = createClients(loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, REMEDIATOR_PRINCIPAL_ID: REMEDIATOR, ARM_PACING: "false", ARM_MAX_RETRIES: "0" }));
    let empty = false;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (!empty) await other.apim(SUB).apiManagementService.get(RG, "apim-held").catch((e: { statusCode?: number }) => (empty ||= e.statusCode === 429));
    }));
    const sa = a?.clients.pacer?.stats as SharedPacingStats;
    const burst = (d: AppDeps | undefined) => Promise.all(Array.from({ length: 10 }, () => (d as AppDeps).clients.apim(SUB).apiManagementService.get(RG, "apim-held")));
    // instance a's pacer believes the bucket full: its reads meet the 429, and it shares the pause
    const first = burst(a);
    for (let i = 0; i < 1000 && sa.pausesShared === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(sa.throttled).toBeGreaterThan(0);
    // b and c start now, into the bucket a found empty
    await Promise.all([first, burst(b), burst(c)]);
    for (const s of [b, c].map((d) => d?.clients.pacer?.stats as SharedPacingStats)) {
      expect(s.throttled).toBe(0);
      expect(s.pausesSeen).toBeGreaterThan(0);
      expect(s.requests).toBe(10);
    }
  }, 60_000);
});

describe("requests that took their tokens but have not reached ARM yet", () => {
  // a subscription of its own: a budget row no other test in this file has drawn from
  const FAR = "33333333-3333-4333-8333-333333333333";
  // reads refilled slower than this process can send them, so the refill, not the CPU, sets the pace
  const PACED = { ...THROTTLE, reads: { capacity: 250, refillPerSecond: 100 } };
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-far", {}, {}, RG, FAR)], { throttle: PACED });
  });
  afterAll(async () => env.emu.stop());

  it("count against the shared budget until they are answered, however late they arrive", async () => {
    const [a, b] = (await instances(env, 2, { REMEDIATOR_SUBSCRIPTIONS: FAR, ARM_READS_PER_SECOND: "100" })) as [AppDeps, AppDeps];
    const sa = a.clients.pacer?.stats as SharedPacingStats;
    // a's requests leave 2 s after they took their tokens (queued behind busy sockets or a busy event loop: in the
    // 16-instance sweep above, answers came up to 3.8 s after the token), longer than a lease (400 ms) plus any
    // answer a has seen (none yet): its entry in the row has to outlive both
    // b has drawn on the bucket just before: a's lease sees b's entry (so a removes its own once its requests are answered)
    await Promise.all(Array.from({ length: 5 }, () => b.clients.apim(FAR).apiManagementService.get(RG, "apim-far")));
    const late = a.clients.apim(FAR);
    late.pipeline.addPolicy({ name: "lateLink", sendRequest: async (r, next) => new Promise((ok) => setTimeout(ok, 2_000)).then(() => next(r)) }, { afterPolicies: ["armSharedPacingPolicy"] });
    env.emu.log.clear();
    const far = Promise.all(Array.from({ length: 200 }, () => late.apiManagementService.get(RG, "apim-far")));
    for (let i = 0; i < 1000 && sa.requests < 200; i++) await new Promise((r) => setTimeout(r, 5));
    expect(sa.requests).toBe(200);
    // meanwhile ARM's bucket stays full (its refill is lost), so the mirror must not refill what a's requests will take
    await new Promise((r) => setTimeout(r, 900));
    const near = Promise.all(Array.from({ length: 300 }, () => b.clients.apim(FAR).apiManagementService.get(RG, "apim-far")));
    await Promise.all([far, near]);
    expect(remediatorLog(env).filter((e) => e.status === 429)).toHaveLength(0);
    expect(remediatorLog(env).filter((e) => e.status === 200)).toHaveLength(500);
    // a kept its entry alive while its requests were on their way, and removed it once all were answered
    expect(sa.refreshes).toBeGreaterThan(0);
    expect(sa.releases).toBeGreaterThan(0);
  }, 60_000);
});

describe("a consumer the shared budget cannot see", () => {
  // a subscription of its own, and a slow refill: what the other consumer takes stays taken
  const OWN = "44444444-4444-4444-8444-444444444444";
  const SLOW = { enabled: true, reads: { capacity: 250, refillPerSecond: 10 }, writes: { capacity: 200, refillPerSecond: 10 }, deletes: { capacity: 200, refillPerSecond: 10 } };
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-seen", {}, {}, RG, OWN)], { throttle: SLOW });
  });
  afterAll(async () => env.emu.stop());

  it("lowers the shared mirror to ARM's remaining-reads count before it meets a 429", async () => {
    const [a] = (await instances(env, 1, { ARM_READS_PER_SECOND: "10", REMEDIATOR_SUBSCRIPTIONS: OWN })) as [AppDeps];
    // another app acting as the same identity, unpaced, takes 150 of the bucket's 250 reads
    const other = createClients(loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, REMEDIATOR_PRINCIPAL_ID: REMEDIATOR, ARM_PACING: "false", ARM_MAX_RETRIES: "0" }));
    for (let i = 0; i < 15; i++) await Promise.all(Array.from({ length: 10 }, () => other.apim(OWN).apiManagementService.get(RG, "apim-seen")));
    env.emu.log.clear();
    // the shared row starts full: only ARM's count on the first answers shows the 150 gone
    await Promise.all(Array.from({ length: 150 }, () => a.clients.apim(OWN).apiManagementService.get(RG, "apim-seen")));
    const stats = a.clients.pacer?.stats as SharedPacingStats;
    expect(env.emu.log.list().filter((e) => e.status === 429)).toHaveLength(0);
    expect(stats.resyncs).toBeGreaterThan(0);
    expect(stats.requests).toBe(150);
  }, 60_000);
});
