/**
 * The ARM pacing policy (src/azure/pacing.ts) wired in by the client factory:
 * the product's own clients stay under the emulator's throttling with no 429,
 * and notice when something else drew from the same bucket.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClients } from "../../src/azure/clients.js";
import { loadConfig } from "../../src/common/config.js";
import { MAX_IDLE_BUCKETS, pacingKind, pacingScope } from "../../src/azure/pacing.js";
import { PORTAL_USER, REMEDIATOR, RG, service, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";
import { LocalTokenCredential, MAX_CACHED_CLIENTS } from "../../src/azure/clients.js";

// ARM's bucket sizes, refilled 10 times faster so the test is quick
const REFILL = 250;

/** `n` reads of the service, 32 at a time. */
async function reads(c: ReturnType<typeof createClients>, n: number): Promise<void> {
  const apim = c.apim(SUB);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next++ < n) await apim.apiManagementService.get(RG, "apim-paced");
  }));
}

describe("ARM pacing", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-paced")], {
      throttle: { enabled: true, reads: { capacity: 250, refillPerSecond: REFILL }, writes: { capacity: 200, refillPerSecond: 100 }, deletes: { capacity: 200, refillPerSecond: 100 } },
    });
  });
  afterAll(async () => env.emu.stop());

  const clients = (settings: Record<string, string> = {}) =>
    createClients(loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, REMEDIATOR_PRINCIPAL_ID: REMEDIATOR, ARM_READS_PER_SECOND: String(REFILL), ARM_MAX_RETRIES: "10", ...settings }));
  const settle = () => new Promise((r) => setTimeout(r, 1200)); // the server's bucket refills

  it("tells reads, writes and deletes apart, per subscription", () => {
    expect(["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"].map(pacingKind)).toEqual(["reads", "reads", "writes", "writes", "writes", "deletes"]);
    expect(pacingScope(`https://management.azure.com/subscriptions/${SUB.toUpperCase()}/resourceGroups/x?api-version=1`)).toBe(SUB);
    expect(pacingScope(`https://management.azure.com//subscriptions/${SUB}/providers/x`)).toBe(SUB);
    expect(pacingScope(`https://management.azure.com/${encodeURIComponent(`/subscriptions/${SUB}/resourceGroups/x`)}/providers/Microsoft.Insights/metrics`)).toBe(SUB);
    expect(pacingScope("https://management.azure.com/subscriptions?api-version=2022-12-01")).toBe("tenant");
  });

  it("keeps a burst beyond the bucket under the throttle: no 429, every read answered", async () => {
    await settle();
    env.emu.log.clear();
    const c = clients();
    await reads(c, 600);
    const log = env.emu.log.list().filter((e) => e.principal === REMEDIATOR);
    expect(log.filter((e) => e.status === 200)).toHaveLength(600);
    expect(log.filter((e) => e.status === 429)).toHaveLength(0);
    expect(c.pacer?.stats).toMatchObject({ requests: 600, throttled: 0 });
    expect(c.pacer?.stats.delayed).toBeGreaterThan(0);
  });

  it("without pacing (ARM_PACING=false) the same burst is throttled", async () => {
    await settle();
    env.emu.log.clear();
    const c = clients({ ARM_PACING: "false" });
    expect(c.pacer).toBeUndefined();
    await reads(c, 600);
    expect(env.emu.log.list().filter((e) => e.principal === REMEDIATOR && e.status === 429).length).toBeGreaterThan(0);
  });

  it("lowers its mirror when the remaining-reads header shows the bucket was already used", async () => {
    await settle();
    // another process acting as the same identity takes most of the bucket
    await reads(clients({ ARM_PACING: "false" }), 240);
    env.emu.log.clear();
    const c = clients();
    await reads(c, 300);
    expect(c.pacer?.stats.resyncs).toBeGreaterThan(0);
    expect(env.emu.log.list().filter((e) => e.principal === REMEDIATOR && e.status === 429).length).toBeLessThan(8);
  });
});

describe("ARM pacing under the subscription's global limit", () => {
  let env: TestEnv;
  beforeAll(async () => {
    // the global bucket (every principal's reads of the subscription) as big as one principal's, so another
    // principal can empty most of it: ARM's is 15 times bigger, emptied the same way by 15 busy principals
    env = await startTestEmulator([service("apim-paced")], { throttle: { enabled: true, reads: { capacity: 250, refillPerSecond: REFILL }, globalMultiplier: 1 } });
  });
  afterAll(async () => env.emu.stop());

  it("lowers its mirror when the global remaining-reads header shows other principals used the subscription", async () => {
    const config = (settings: Record<string, string>) => loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, ARM_READS_PER_SECOND: String(REFILL), ARM_MAX_RETRIES: "10", ...settings });
    // another principal, unpaced, takes most of the subscription's reads (its own bucket, not the remediator's)
    await reads(createClients(config({ ARM_PACING: "false" }), { credential: new LocalTokenCredential(PORTAL_USER) }), 240);
    env.emu.log.clear();
    const c = createClients(config({ REMEDIATOR_PRINCIPAL_ID: REMEDIATOR }));
    await reads(c, 300);
    // its own bucket was full: only the global count could tell it the subscription was nearly empty
    expect(c.pacer?.stats.resyncs).toBeGreaterThan(0);
    const mine = env.emu.log.list().filter((e) => e.principal === REMEDIATOR);
    expect(mine.filter((e) => e.status === 200)).toHaveLength(300);
    expect(mine.filter((e) => e.status === 429).length).toBeLessThan(8);
  });
});

describe("a sweep of thousands of subscriptions", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-paced")], { throttle: { enabled: true, reads: { capacity: 250, refillPerSecond: REFILL } } });
  });
  afterAll(async () => env.emu.stop());

  it("keeps a bounded number of clients and pacing buckets, however many subscriptions it reads", async () => {
    const c = createClients(loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, REMEDIATOR_PRINCIPAL_ID: REMEDIATOR, ARM_READS_PER_SECOND: String(REFILL), ARM_MAX_RETRIES: "0" }));
    const subs = Array.from({ length: MAX_IDLE_BUCKETS + 200 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
    const first = c.apim(subs[0] as string);
    // one read in each subscription (none of them exists: a 404 still takes its token), 32 at a time
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next < subs.length) await c.apim(subs[next++] as string).apiManagementService.get(RG, "apim-paced").catch((e: { statusCode?: number }) => expect(e.statusCode).toBe(404));
      // each bucket refills to the brim in 4 ms at this rate: idle, it may be dropped
      await new Promise((r) => setTimeout(r, 10));
    }));
    await new Promise((r) => setTimeout(r, 20));
    await c.apim(SUB).apiManagementService.get(RG, "apim-paced");
    expect(c.pacer?.bucketCount).toBeLessThanOrEqual(MAX_IDLE_BUCKETS);
    // the factory built the first subscription's client again: it had kept only the most recent ones
    expect(c.apim(subs[0] as string)).not.toBe(first);
    expect(c.apim(SUB)).toBe(c.apim(SUB));
    expect(MAX_CACHED_CLIENTS).toBeLessThan(subs.length);
  }, 60_000);
});
