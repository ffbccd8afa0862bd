/**
 * Seeded fault schedules over the demo estate and a generated one, through
 * the app's own handlers against the emulator and Azurite; after each, the
 * invariants of test/reliability/invariants.ts.
 *
 *   npm test                             a bounded portion (FAULT_SCHEDULES, default 12)
 *   npm run test:faults                  all of them (FAULT_SCHEDULES=500, see vitest.faults.config.mts)
 *   FAULT_SEED=123 npm run test:faults   replays one schedule
 *
 * Seeds run from FAULT_SEED_BASE (default 1); FAULT_SHARD=i/n takes every
 * n-th seed (the faults config runs shards in parallel). A failing schedule
 * prints its seed and what it did, so it can be replayed. Schedules run
 * FAULT_CONCURRENCY at a time, each on its own emulator and storage names.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it, inject } from "vitest";
import { STORAGE_PREFIX } from "../helpers/app.js";
import { runSchedule, startWorld, type World } from "./harness.js";
import { checkInvariants } from "./invariants.js";
import { describeSchedule, makeSchedule } from "./schedule.js";

const single = process.env["FAULT_SEED"];
const total = single ? 1 : Number(process.env["FAULT_SCHEDULES"] ?? "12");
const base = single ? Number(single) : Number(process.env["FAULT_SEED_BASE"] ?? "1");
const [shard, shards] = (process.env["FAULT_SHARD"] ?? "0/1").split("/").map(Number) as [number, number];
const seeds = Array.from({ length: total }, (_, i) => base + i).filter((_, i) => i % shards === shard);
const concurrency = Math.max(1, Number(process.env["FAULT_CONCURRENCY"] ?? "3"));

interface Tally {
  schedules: number;
  violations: number;
  failingSeeds: number[];
  faultsPlanned: Record<string, number>;
  faultsFired: number;
  firedBySite: Record<string, number>;
  crashes: number;
  writeBudgets: number;
  wipes: number;
  concurrentWriters: number;
  /** Schedules with overlapping workers; of those, leases broken; evaluations stopped by a lost lease. */
  overlaps: { schedules: number; leasesBroken: number; leaseLost: number };
  dryRun: number;
  estates: Record<string, number>;
  recoveryRounds: number;
  ms: number;
}

describe.concurrent(`fault schedules (${seeds.length}${single ? `, seed ${single}` : ` of seeds ${base}..${base + total - 1}${shards > 1 ? `, shard ${shard}/${shards}` : ""}`})`, () => {
  const worlds: World[] = [];
  const free: World[] = [];
  const waiting: Array<(w: World) => void> = [];
  const acquire = () => new Promise<World>((resolve) => (free.length > 0 ? resolve(free.pop() as World) : waiting.push(resolve)));
  const release = (w: World) => (waiting.length > 0 ? (waiting.shift() as (w: World) => void)(w) : free.push(w));
  const tally: Tally = { schedules: 0, violations: 0, failingSeeds: [], faultsPlanned: {}, faultsFired: 0, firedBySite: {}, crashes: 0, writeBudgets: 0, wipes: 0, concurrentWriters: 0, overlaps: { schedules: 0, leasesBroken: 0, leaseLost: 0 }, dryRun: 0, estates: {}, recoveryRounds: 0, ms: 0 };

  beforeAll(async () => {
    for (let i = 0; i < Math.min(concurrency, seeds.length); i++) {
      // each world has its own storage names (a prefix per world, then per schedule)
      const w = await startWorld(inject("azuriteConnectionString"), `${STORAGE_PREFIX.slice(0, 10)}w${i}`);
      worlds.push(w);
      free.push(w);
    }
  });
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.emu.stop()));
    const line = `fault schedules: ${tally.schedules} run, ${tally.violations} invariant violations${tally.failingSeeds.length ? ` (seeds ${tally.failingSeeds.join(", ")})` : ""}; ${tally.faultsFired} injected faults fired, ${tally.crashes} crashes, ${tally.writeBudgets} stopped by a write budget, ${tally.wipes} storage wipes, ${tally.concurrentWriters} with a concurrent writer, ${tally.overlaps.schedules} with overlapping workers (leases broken in ${tally.overlaps.leasesBroken}, ${tally.overlaps.leaseLost} evaluations stopped by a lost lease), ${tally.dryRun} dry-run; faults fired at ${new Set(Object.keys(tally.firedBySite).map((k) => k.split("@")[1])).size} call sites (${Object.keys(tally.firedBySite).length} kind@site pairs); ${(tally.ms / 1000).toFixed(1)} s of schedules`;
    console.log(line);
    if (process.env["FAULT_REPORT"]) {
      mkdirSync(join(process.cwd(), "test-results"), { recursive: true });
      writeFileSync(join(process.cwd(), "test-results", `faults-${base}-${total}-${shard}of${shards}.json`), JSON.stringify(tally, null, 2));
    }
  });

  it.for(seeds)(
    "seed %i keeps every invariant",
    { timeout: 180_000 },
    async (seed, { expect }) => {
      const schedule = makeSchedule(seed);
      const world = await acquire();
      const t0 = Date.now();
      let violations: string[];
      try {
        const obs = await runSchedule(world, schedule);
        violations = await checkInvariants(obs, world);
        tally.crashes += obs.crashed ? 1 : 0;
        tally.faultsFired += obs.faultsFired;
        for (const [k, v] of Object.entries(obs.firedBySite)) tally.firedBySite[k] = (tally.firedBySite[k] ?? 0) + v;
        tally.recoveryRounds += obs.recoveryRounds;
        if (obs.overlap) {
          tally.overlaps.schedules++;
          tally.overlaps.leasesBroken += obs.overlap.leasesBroken ? 1 : 0;
          tally.overlaps.leaseLost += obs.overlap.leaseLost;
        }
        if (process.env["FAULT_DEBUG"]) console.log(`seed ${seed}: ${Date.now() - t0} ms (${obs.timings.map(([k, v]) => `${k} ${v}`).join(", ")}), ${obs.faultsFired} faults fired`);
      } catch (e) {
        violations = [`the schedule itself failed: ${(e as Error).stack ?? String(e)}`];
      } finally {
        release(world);
      }
      tally.ms += Date.now() - t0;
      tally.schedules++;
      tally.writeBudgets += schedule.writeBudget !== undefined ? 1 : 0;
      tally.wipes += schedule.wipe ? 1 : 0;
      tally.concurrentWriters += schedule.concurrentWriter ? 1 : 0;
      tally.dryRun += schedule.mode === "dry-run" ? 1 : 0;
      tally.estates[schedule.estate] = (tally.estates[schedule.estate] ?? 0) + 1;
      for (const f of schedule.faults) tally.faultsPlanned[f.kind] = (tally.faultsPlanned[f.kind] ?? 0) + 1;
      if (violations.length > 0) {
        tally.violations += violations.length;
        tally.failingSeeds.push(seed);
        console.error(`FAULT_SEED=${seed} npm run test:faults  # ${describeSchedule(schedule)}\n  - ${violations.join("\n  - ")}`);
      }
      expect(violations, `replay with FAULT_SEED=${seed} npm run test:faults (${describeSchedule(schedule)})`).toEqual([]);
    },
  );
});
