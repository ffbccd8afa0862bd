/**
 * `npm run bench -- --profile estate`: the sweep at estate scale (issue 19, item 7).
 *
 *   tsx bench/run.ts --profile estate [--scale 1] [--speed 12] [--seed 1] [--instances 1,4,16] [--instance-scale 0.01]
 *                    [--single-services 10] [--no-single] [--refill-subscriptions 4] [--refill-speed 1]
 *                    [--no-baseline] [--batch 100] [--out bench]
 *
 * Generates (bench/estate-scale.ts) 10,000 subscriptions under 20 management groups and 5,000 services of mixed
 * tiers with 1-300 APIs, 1% drifted, all × `--scale`, loads them into the emulator batch by batch (no estate file),
 * and runs the app as the bench's sweeps do (bench/worker.ts: the timer's `sweep`, the queue trigger's
 * `evaluateQueued`, Azurite, the shared ARM pacing of src/azure/shared-pacing.ts) with Resource Graph discovery over
 * the 20 management groups (REMEDIATOR_MANAGEMENT_GROUPS, REMEDIATOR_SUBSCRIPTIONS unset):
 *
 * 1. a baseline of 10 services (the peak RSS reference);
 * 2. sweep 1 (every service new: full reads), then 1% of the services change (a service-level write: their Resource
 *    Graph row changes), then sweep 2 in a new app process on the same storage (the next timer run): unchanged
 *    services get the cheap check (src/app/freshness.ts), the changed ones a full read;
 * 3. one first sweep at `--instance-scale` with each of `--instances` app processes sharing queue, storage and identity;
 * 4. the refill-bound sweep: `--refill-subscriptions` subscriptions with one 300-API service each at ARM's real rates
 *    (`--refill-speed 1`), where ARM's refill and not this machine sets the wall time: its wall ÷ floor;
 * 5. the single-subscription estate of `npm run bench` (`--single-services`, 30 APIs each) swept with
 *    REMEDIATOR_DISCOVERY=arm and =resource-graph, side by side.
 *
 * Writes estate-results.json and the figures part of RESULTS.md's estate section (the rest of the file is kept).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { start, type EmulatorHandle } from "../emulator/server.js";
import { loadConfig } from "../src/common/config.js";
import { MAX_MANAGEMENT_GROUPS_PER_QUERY } from "../src/azure/resource-graph.js";
import { appEnv, DEFAULTS, keepConnections, prefixFor, ROOT, runSweep, scaledThrottle, startAzurite, Worker, type BenchOptions } from "./run.js";
import type { WorkerResult } from "./worker.js";
import {
  baseEstate,
  emptyTally,
  ESTATE_RG,
  estatePlan,
  estateServiceName,
  estateTargets,
  floorOf,
  FULL_SCALE,
  graphQueryTarget,
  managementGroupName,
  meanCalls,
  mixOf,
  planServices,
  r2,
  renderEstateFigures,
  serviceBatches,
  subscriptionId,
  tallyEntry,
  withEstateFigures,
  type EstatePlan,
  type EstateFailure,
  type EstateResults,
  type EstateService,
  type EstateTally,
  type SingleSubscriptionFigures,
  type SweepFigures,
} from "./estate-scale.js";

export interface EstateOptions {
  scale: number;
  speed: number;
  seed: number;
  instances: number[];
  instanceScale: number;
  singleServices: number;
  /** The refill-bound part: this many subscriptions with one 300-API service each (0: not run), at time scale `refillSpeed`. */
  refillSubscriptions: number;
  refillSpeed: number;
  baseline: boolean;
  batch: number;
  outDir: string;
  azuriteConnectionString?: string;
  log: (line: string) => void;
}

export const ESTATE_DEFAULTS: EstateOptions = { scale: 1, speed: 12, seed: 1, instances: [1, 4, 16], instanceScale: 0.01, singleServices: 10, refillSubscriptions: 4, refillSpeed: 1, baseline: true, batch: 100, outDir: join(ROOT, "bench"), log: (l) => process.stderr.write(l + "\n") };

interface Loaded {
  emu: EmulatorHandle;
  plan: EstatePlan;
  services: EstateService[];
  tally: { current: EstateTally };
}

/** An emulator holding the planned estate, loaded one batch of services at a time. */
async function loadEstate(plan: EstatePlan, o: EstateOptions, only?: EstateService[]): Promise<Loaded> {
  const services = only ?? planServices(plan);
  const b = DEFAULTS.latency;
  const scale = (ms: number) => ms / o.speed;
  const emu = await start({
    estate: baseEstate(plan, services) as never,
    stateDir: mkdtempSync(join(tmpdir(), "apim-bench-estate-")),
    pageSize: DEFAULTS.pageSize,
    lroDurationMs: scale(DEFAULTS.lroMs),
    latency: { read: scale(b.read), write: scale(b.write), delete: scale(b.delete), action: scale(b.action), keyvault: scale(b.keyvault) },
    throttle: scaledThrottle(o.speed),
  });
  for (const batch of serviceBatches(services, o.batch)) emu.store.load(batch as never);
  emu.arm.normalizeEstate();
  const tally = { current: emptyTally() };
  // a streaming tally instead of the request log (hundreds of thousands of entries)
  emu.log.add = (e) => tallyEntry(tally.current, e);
  keepConnections();
  return { emu, plan, services, tally };
}

/**
 * The refill-bound part's estate: `n` subscriptions, each with one Premium service of the profile's most APIs, so
 * that the sweep is bound by ARM's per-subscription refill and not by this machine: at ARM's real rates 4 such
 * subscriptions need ~100 reads/s in all, which the emulator, Azurite and the app serve on 2 vCPUs, while the estate
 * sweeps at ×12 would need thousands (bench/RESULTS.md). Wall ÷ floor here is the pacing's own efficiency.
 */
export function refillBoundServices(n: number): EstateService[] {
  return Array.from({ length: n }, (_, i) => {
    const sub = subscriptionId(i);
    return { index: i, id: `/subscriptions/${sub}/resourceGroups/${ESTATE_RG}/providers/Microsoft.ApiManagement/service/${estateServiceName(i)}`, subscription: sub, sku: "Premium", apis: FULL_SCALE.maxApis, drifted: false };
  });
}

/** One sweep with `n` app processes (the first runs the timer), on storage prefix `prefix`. */
/** The shared pacers' figures, summed over the instances (their `stats`: src/azure/shared-pacing.ts SharedPacingStats). */
function pacingOf(results: WorkerResult[]): Pick<SweepFigures, "pacing"> {
  const stats = results.map((r) => r.pacer as Partial<Record<string, number>> | undefined).filter((p): p is Partial<Record<string, number>> => p !== undefined && typeof p["storageCalls"] === "number");
  if (stats.length === 0) return {};
  const sum = (k: string) => stats.reduce((a, p) => a + (p[k] ?? 0), 0);
  const requests = sum("requests");
  return { pacing: { requests, storageCallsPerRequest: r2(sum("storageCalls") / Math.max(1, requests), 3) as number, conflicts: sum("conflicts"), fallbacks: sum("fallbacks"), resyncs: sum("resyncs"), pausesShared: sum("pausesShared"), refreshes: sum("refreshes"), releases: sum("releases") } };
}

/**
 * How the sweep's messages filled its wall time: their summed duration ÷ the wall time is the mean number run at
 * once across instances; the last message's start and the longest message's start tell a tail (one big service
 * left running alone at the end) from too little concurrency.
 */
function messagesOf(results: WorkerResult[], startEpochMs: number, wallS: number): SweepFigures["messages"] {
  const at = (epochMs: number) => (epochMs > 0 ? (r2((epochMs - startEpochMs) / 1000, 1) as number) : null);
  const longest = results.reduce((a, r) => (r.evaluationMs.max > a.evaluationMs.max ? r : a));
  return {
    meanInFlight: wallS > 0 ? (r2(results.reduce((a, r) => a + r.messages.sumMs, 0) / 1000 / wallS, 1) as number) : null,
    maxInFlight: Math.max(0, ...results.map((r) => r.messages.maxInFlight)),
    lastStartS: at(Math.max(0, ...results.map((r) => r.messages.lastStartEpochMs))),
    longestStartS: at(longest.messages.longestStartEpochMs),
  };
}

async function sweepOnce(l: Loaded, azurite: string, prefix: string, n: number, sweepNo: 1 | 2, o: EstateOptions, drifted: Set<string>): Promise<SweepFigures> {
  const bench: BenchOptions = { ...DEFAULTS, speed: o.speed };
  const env = (i: number) =>
    appEnv(l.emu, azurite, prefix, bench, {
      REMEDIATOR_MODE: "dry-run",
      REMEDIATOR_SUBSCRIPTIONS: "",
      REMEDIATOR_DISCOVERY: "resource-graph",
      REMEDIATOR_MANAGEMENT_GROUPS: Array.from({ length: l.plan.managementGroups }, (_, g) => managementGroupName(g)).join(","),
      ...(i > 0 ? { BENCH_ROLE: "instance" } : {}),
    });
  const heap = bench.appHeapMb > 0 ? [`--max-old-space-size=${bench.appHeapMb}`] : [];
  const workers = Array.from({ length: n }, (_, i) => new Worker("sweep", env(i), undefined, heap));
  try {
    for (const w of workers) await w.wait("ready", 300_000);
    l.emu.throttle.reset();
    l.tally.current = emptyTally();
    const cpu0 = process.cpuUsage();
    const startEpochMs = performance.timeOrigin + performance.now();
    for (const w of workers) w.send({ type: "start" });
    const first = await (workers[0] as Worker).wait("done", 6 * 3600_000);
    for (const w of workers.slice(1)) w.send({ type: "stop" });
    const rest = await Promise.all(workers.slice(1).map((w) => w.wait("done", 600_000)));
    const cpu = process.cpuUsage(cpu0);
    const results: WorkerResult[] = [first.result, ...rest.map((d) => d.result)];
    const t = l.tally.current;
    const floor = floorOf(t, o.speed);
    // the sweep ends when its last message does, on whichever instance: the timer's instance reports done once the queue
    // is empty and its own messages ended, while another instance may still be running one
    const lastEndMs = Math.max(0, ...results.map((r) => r.messages.lastEndEpochMs));
    const wallS = Math.max(first.result.wallMs, lastEndMs > 0 ? lastEndMs - startEpochMs : 0) / 1000;
    const ids = l.services.map((s) => s.id.toLowerCase());
    const unchanged = ids.filter((id) => !drifted.has(id));
    const changed = ids.filter((id) => drifted.has(id));
    return {
      sweep: sweepNo,
      instances: n,
      services: first.result.services,
      evaluated: results.reduce((a, r) => a + r.evaluated, 0),
      failed: results.reduce((a, r) => a + r.failed, 0),
      deferred: results.reduce((a, r) => a + r.deferred, 0),
      deferredBy: results.reduce<Record<string, number>>((a, r) => {
        for (const [k, v] of Object.entries(r.deferredBy)) a[k] = (a[k] ?? 0) + v;
        return a;
      }, {}),
      armCalls: t.calls,
      throttled429: t.throttled429,
      graphQueries: t.graphQueries,
      graph429: t.graph429,
      graphQueryTarget: graphQueryTarget(l.plan.services, l.plan.managementGroups, MAX_MANAGEMENT_GROUPS_PER_QUERY),
      callsPerService: r2(t.calls / Math.max(1, l.services.length), 2),
      // sweep 1: every service is new, so the unchanged ones' figure is today's full read
      callsPerUnchanged: r2(meanCalls(t, unchanged), 2),
      callsPerDrifted: r2(meanCalls(t, changed), 2),
      subscriptionLevelCalls: t.subscriptionLevel,
      wallS: r2(wallS, 2) as number,
      floor: { ...floor, refillS: r2(floor.refillS, 3) as number, burstS: r2(floor.burstS, 3) as number },
      wallOverFloor: floor.refillS > 0 ? r2(wallS / floor.refillS, 2) : null,
      wallOverBurstFloor: floor.burstS > 0 ? r2(wallS / floor.burstS, 2) : null,
      longestMessageS: r2(Math.max(...results.map((r) => r.evaluationMs.max)) / 1000, 3) as number,
      messages: messagesOf(results, startEpochMs, wallS),
      maxServiceCalls: Math.max(0, ...t.byService.values()),
      peakRssMB: r2(Math.max(...results.map((r) => Math.max(r.peakRssBytes, r.maxRssBytes))) / 2 ** 20, 1) as number,
      cpuS: { app: r2(results.reduce((a, r) => a + r.cpuMs, 0) / 1000, 1) as number, emulator: r2((cpu.user + cpu.system) / 1e6, 1) as number },
      throttledByKind: t.throttledByKind,
      ...pacingOf(results),
    };
  } finally {
    for (const w of workers) await w.close();
  }
}

/** A service-level write to each drifted service (tags; what a portal change does to its Resource Graph row and etag). */
function driftServices(l: Loaded): Set<string> {
  const out = new Set<string>();
  for (const s of l.services.filter((x) => x.drifted)) {
    const r = l.emu.store.get(s.id);
    if (!r) continue;
    r.tags = { ...(r.tags ?? {}), changedBy: "estate-bench" };
    r.etag = l.emu.store.nextEtag();
    out.add(s.id.toLowerCase());
  }
  return out;
}

async function singleSubscription(o: EstateOptions, azurite: string): Promise<SingleSubscriptionFigures> {
  const bench: BenchOptions = { ...DEFAULTS, speed: o.speed, log: o.log };
  const arm = await runSweep(o.singleServices, bench, azurite, { REMEDIATOR_DISCOVERY: "arm" });
  const rg = await runSweep(o.singleServices, bench, azurite, { REMEDIATOR_DISCOVERY: "resource-graph" });
  // the bench's tally counts every ARM-host request of the remediator, Resource Graph's POSTs too (a dry run writes nothing else)
  const fig = (s: typeof arm, graph: boolean) => {
    const queries = graph ? s.writes : 0;
    const calls = s.armCalls - queries;
    return { armCalls: calls, callsPerService: r2(calls / s.services, 2), discoveryCalls: graph ? 0 : s.discoveryCalls, graphQueries: queries, durationS: s.durationS, throttled429: s.throttled429, peakRssMB: s.peakRssMB };
  };
  return { services: o.singleServices, arm: fig(arm, false), resourceGraph: fig(rg, true) };
}

/**
 * Runs each part of the run on its own: a part that fails (a worker that dies, a timeout) is recorded with its error
 * (the worker's stderr included) and the run goes on to the next part and writes every figure it has. The scale-0.5
 * run lost all of its figures to one dead scale-out worker.
 */
export function partRunner(failures: EstateFailure[], log: (line: string) => void) {
  return async (name: string, run: () => Promise<void>): Promise<void> => {
    try {
      await run();
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      failures.push({ part: name, error });
      log(`  ${name} failed: ${error.split("\n")[0] ?? ""}`);
    }
  };
}

export async function runEstate(partial: Partial<EstateOptions> = {}): Promise<EstateResults> {
  const o: EstateOptions = { ...ESTATE_DEFAULTS, ...partial };
  const began = performance.now();
  const loadStart = loadavg();
  let azurite: Awaited<ReturnType<typeof startAzurite>> | undefined;
  const conn = o.azuriteConnectionString ?? (azurite = await startAzurite()).connectionString;
  const plan = estatePlan(o.scale, o.seed);
  let baseline: SweepFigures | null = null;
  const sweeps: SweepFigures[] = [];
  const instances: SweepFigures[] = [];
  let single: SingleSubscriptionFigures | null = null;
  let refill: SweepFigures | null = null;
  let mix: EstateResults["mix"] | undefined;
  let baselineMix: EstateResults["mix"] | undefined;
  const failures: EstateFailure[] = [];
  const part = partRunner(failures, o.log);
  // written after the sweeps too, so a later part that takes the driver down still leaves those figures behind
  const writeResults = (final: boolean): EstateResults => {
    const base: Omit<EstateResults, "targets"> = {
      generatedAt: new Date().toISOString(),
      command: `tsx bench/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
      machine: { cpus: cpus().length, loadAverageStart: loadStart.map((x) => r2(x, 2) as number), loadAverageEnd: loadavg().map((x) => r2(x, 2) as number) },
      speed: o.speed,
      plan,
      full: FULL_SCALE,
      mix: mix ?? mixOf(planServices(plan)),
      messageBudgetS: loadConfig({}).messageBudgetSeconds,
      chunking: existsSync(join(ROOT, "src", "app", "chunks.ts")),
      sweeps,
      baseline,
      ...(baselineMix ? { baselineMix } : {}),
      instances,
      instanceScale: o.instanceScale,
      singleSubscription: single,
      refillBound: refill ? { ...refill, speed: o.refillSpeed } : null,
      failures,
      wallS: r2((performance.now() - began) / 1000, 1) as number,
    };
    const results: EstateResults = { ...base, targets: estateTargets(base) };
    mkdirSync(o.outDir, { recursive: true });
    writeFileSync(join(o.outDir, "estate-results.json"), JSON.stringify(results, null, 2) + "\n");
    const md = join(o.outDir, "RESULTS.md");
    writeFileSync(md, withEstateFigures(existsSync(md) ? readFileSync(md, "utf8") : "# Benchmark results\n", renderEstateFigures(results)));
    if (final) o.log(`wrote ${relative(process.cwd(), join(o.outDir, "estate-results.json"))} and the estate section of RESULTS.md (${results.wallS} s)`);
    return results;
  };
  try {
    if (o.baseline) {
      await part("baseline", async () => {
        const l = await loadEstate(estatePlan(o.scale, o.seed, 10), o);
        baselineMix = mixOf(l.services);
        try {
          o.log("estate: baseline, 10 services ...");
          baseline = await sweepOnce(l, conn, prefixFor("eb"), 1, 1, o, new Set());
          o.log(`  ${baseline.armCalls} calls, ${baseline.wallS} s, peak RSS ${baseline.peakRssMB} MB`);
        } finally {
          await l.emu.stop();
        }
      });
    }
    o.log(`estate: ${plan.subscriptions} subscriptions, ${plan.managementGroups} management groups, ${plan.services} services (scale ${o.scale}) ...`);
    await part("sweeps", async () => {
      const l = await loadEstate(plan, o);
      mix = mixOf(l.services);
      try {
        const prefix = prefixFor("es");
        for (const n of [1, 2] as const) {
          const drifted = n === 2 ? driftServices(l) : new Set(l.services.filter((s) => s.drifted).map((s) => s.id.toLowerCase()));
          o.log(`estate: sweep ${n} ...`);
          const s = await sweepOnce(l, conn, prefix, 1, n, o, drifted);
          sweeps.push(s);
          o.log(`  ${s.evaluated}/${s.services} evaluated (${s.deferred ?? 0} messages deferred), ${s.armCalls} ARM calls (${s.callsPerUnchanged} per unchanged, ${s.callsPerDrifted} per drifted), ${s.graphQueries} RG queries, ${s.throttled429} × 429, ${s.wallS} s (floor ${s.floor.refillS} s), peak RSS ${s.peakRssMB} MB`);
        }
      } finally {
        await l.emu.stop();
      }
    });
    writeResults(false);
    for (const n of o.instances) {
      await part(`scale-out, ${n} instance(s)`, async () => {
        const li = await loadEstate(estatePlan(o.instanceScale, o.seed), o);
        try {
          o.log(`estate: scale-out, ${li.plan.services} services, ${n} instance(s) ...`);
          const s = await sweepOnce(li, conn, prefixFor(`ei${n}`), n, 1, o, new Set(li.services.filter((x) => x.drifted).map((x) => x.id.toLowerCase())));
          instances.push(s);
          o.log(`  ${s.throttled429} × 429, ${s.evaluated}/${s.services} evaluated (${s.deferred ?? 0} messages deferred: ${JSON.stringify(s.deferredBy ?? {})}), ${s.armCalls} ARM calls, ${s.wallS} s (floor ${s.floor.refillS} s)`);
        } finally {
          await li.emu.stop();
        }
      });
    }
    if (o.refillSubscriptions > 0) {
      await part("refill-bound", async () => {
        const ro: EstateOptions = { ...o, speed: o.refillSpeed };
        const services = refillBoundServices(o.refillSubscriptions);
        const lr = await loadEstate(estatePlan(o.scale, o.seed, services.length), ro, services);
        try {
          o.log(`estate: refill-bound, ${services.length} subscriptions with one ${FULL_SCALE.maxApis}-API service each, time scale ×${ro.speed} ...`);
          const s = await sweepOnce(lr, conn, prefixFor("er"), 1, 1, ro, new Set());
          refill = s;
          o.log(`  ${s.throttled429} × 429, ${s.armCalls} ARM calls, ${s.wallS} s (floor ${s.floor.refillS} s, burst-aware ${s.floor.burstS} s)`);
        } finally {
          await lr.emu.stop();
        }
      });
    }
    if (o.singleServices > 0) {
      await part("single subscription", async () => {
        o.log(`single subscription: ${o.singleServices} services, REMEDIATOR_DISCOVERY=arm then resource-graph ...`);
        const one = await singleSubscription(o, conn);
        single = one;
        o.log(`  ARM calls ${one.arm.armCalls} vs ${one.resourceGraph.armCalls}, ${one.arm.durationS} s vs ${one.resourceGraph.durationS} s`);
      });
    }
  } finally {
    azurite?.proc.kill("SIGTERM");
  }
  return writeResults(true);
}

export function parseEstateArgs(argv: string[]): Partial<EstateOptions> {
  const out: Partial<EstateOptions> = {};
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = () => argv[++i];
    switch (a) {
      case "--profile": {
        const p = next();
        if (p !== "estate") throw new Error(`--profile takes "estate" (not ${p ?? "nothing"})`);
        break;
      }
      case "--scale":
        out.scale = num("scale", next());
        if (!(out.scale > 0 && out.scale <= 1)) throw new Error("--scale must be a number greater than 0 and at most 1");
        break;
      case "--instance-scale":
        out.instanceScale = num("instance-scale", next());
        if (!(out.instanceScale > 0 && out.instanceScale <= 1)) throw new Error("--instance-scale must be a number greater than 0 and at most 1");
        break;
      case "--speed":
        out.speed = num("speed", next());
        if (out.speed <= 0) throw new Error("--speed must be > 0");
        break;
      case "--seed":
        out.seed = num("seed", next());
        break;
      case "--batch":
        out.batch = Math.max(1, Math.floor(num("batch", next())));
        break;
      case "--instances":
        out.instances = (next() ?? "").split(",").filter(Boolean).map((x) => num("instances", x));
        if (out.instances.some((x) => !Number.isInteger(x) || x < 1 || x > 64)) throw new Error("--instances takes a comma-separated list of whole numbers from 1 to 64");
        break;
      case "--no-instances":
        out.instances = [];
        break;
      case "--single-services":
        out.singleServices = Math.floor(num("single-services", next()));
        break;
      case "--no-single":
        out.singleServices = 0;
        break;
      case "--refill-subscriptions":
        out.refillSubscriptions = Math.floor(num("refill-subscriptions", next()));
        break;
      case "--refill-speed":
        out.refillSpeed = num("refill-speed", next());
        if (out.refillSpeed <= 0) throw new Error("--refill-speed must be > 0");
        break;
      case "--no-baseline":
        out.baseline = false;
        break;
      case "--out":
        out.outDir = resolve(next() ?? "bench");
        break;
      default:
        throw new Error(`unknown option ${a} (with --profile estate: --scale, --speed, --seed, --instances, --instance-scale, --no-instances, --single-services, --no-single, --refill-subscriptions, --refill-speed, --no-baseline, --batch, --out)`);
    }
  }
  return out;
}

export async function main(argv: string[]): Promise<void> {
  let opts: Partial<EstateOptions>;
  try {
    opts = parseEstateArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  try {
    const r = await runEstate(opts);
    for (const [k, t] of Object.entries(r.targets)) process.stderr.write(`${t.met === null ? "·" : t.met ? "✓" : "✗"} ${k}: ${t.value} (target ${t.target})\n`);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  }
}
