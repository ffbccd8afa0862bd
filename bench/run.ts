/**
 * `npm run bench`: the product against the emulator with a latency model and
 * ARM throttling on, on generated estates; writes results.json and
 * RESULTS.md (see "Performance" in README.md).
 *
 *   tsx bench/run.ts [--sizes 10,100,1000] [--speed 12] [--read-ms 60] [--write-ms 150]
 *                    [--action-ms 150] [--keyvault-ms 40] [--lro-ms 1000] [--samples 100]
 *                    [--drift 0.1] [--seed 1] [--out bench] [--no-sweep] [--no-latency] [--no-cold-start] [--no-pin] [--app-heap-mb 192] [--smoke]
 *                    [--fixes api-https-only,named-value-secrets-in-key-vault,...]
 *                    [--instances 1,4,16] [--instance-services 100] [--no-instances]
 *
 * Scale-out (`--instances`): one sweep of `--instance-services` services in one subscription
 * with the app on N processes (the timer on one, the queue trigger on all, every one its own
 * client factory and pacer, the ARM budget shared through storage: src/azure/shared-pacing.ts);
 * reports the 429 count and the read throughput ÷ the refill for each N.
 *
 * Time scaling (`--speed S`): the emulator's refill rates are multiplied by S
 * and its latencies divided by S (bucket capacities unchanged), so a sweep
 * runs the same protocol S times faster; the product's pacer is configured
 * with the same scaled refill rates (ARM_*_PER_SECOND). Scaled and
 * ARM-equivalent (× S) figures are both reported. The event-to-fix latency
 * run keeps the injected latencies unscaled (they are what it is measured
 * against) and scales only the refill rates.
 *
 * Debugging: BENCH_TRACE=1 prints, for the last latency sample of each fix and
 * every sample over BENCH_TRACE_OVER_MS (default 40) of overhead, a timeline in
 * ms after the event: the remediator's requests, the app's storage steps
 * (webhook, marker, queue, lease), and GC pauses and event-loop stalls of the
 * app and the emulator. `--fixes` limits the latency run to some fixes.
 * BENCH_CPU_PROFILE_DIR=<dir> writes the app processes' CPU profiles, BENCH_AZURITE_PROFILE_DIR=<dir> Azurite's.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { Server as HttpsServer } from "node:https";
import { start, type EmulatorHandle } from "../emulator/server.js";
import type { EventGridEvent } from "../emulator/events.js";
import type { LogEntry } from "../emulator/control.js";
import { createClients, LocalTokenCredential } from "../src/azure/clients.js";
import { expectedCalls } from "../src/azure/collector.js";
import { loadConfig } from "../src/common/config.js";
import { ARM_LIMITS } from "../src/azure/pacing.js";
import { needsOf } from "../src/engine/scan.js";
import { RULES } from "../src/remediations/index.js";
import { BENCH_RG, BENCH_SUB, generateEstate, KV_ID, KV_NAME, PORTAL_USER, REMEDIATOR, SHAPE, type ServiceShape } from "./estate.js";
import { watchGc, watchLag } from "./lag.js";
import { renderMarkdown } from "./report.js";
import { estateSectionOf } from "./estate-scale.js";
import type { ToParent, ToWorker, WorkerResult } from "./worker.js";

export const ROOT = resolve(__dirname, "..");

/**
 * NODE_OPTIONS of the processes the bench starts: none of the caller's, except
 * under the tests the network guard they set (test/helpers/global-setup.ts).
 */
const CHILD_NODE_OPTIONS = process.env["NET_GUARD_REQUIRE"] ?? "";

export interface LatencyModel {
  read: number;
  write: number;
  delete: number;
  action: number;
  keyvault: number;
}

export interface BenchOptions {
  sizes: number[];
  speed: number;
  latency: LatencyModel;
  lroMs: number;
  samples: number;
  latencyServices: number;
  drift: number;
  seed: number;
  pageSize: number;
  outDir: string;
  latencyRun: boolean;
  coldStart: boolean;
  coldStartRuns: number;
  /** The sweep's app process runs with --max-old-space-size=this (0 = Node's default). */
  appHeapMb: number;
  /** Pin the app's process to one CPU and the emulator (this process) and Azurite to another (Linux taskset), when there are two. */
  pin: boolean;
  /** Use this Azurite instead of starting one (the test suite's). */
  azuriteConnectionString?: string;
  /** The latency run's injected latencies (default: `latency`, unscaled). */
  eventLatency?: LatencyModel;
  /** The fixes the latency run measures (default: all five). */
  fixes?: Fix[];
  smoke: boolean;
  /** Scale-out runs: one sweep with the app on this many instances each (empty: none). */
  instances: number[];
  instanceServices: number;
  log: (line: string) => void;
}

export const DEFAULTS: BenchOptions = {
  sizes: [10, 100, 1000],
  speed: 12,
  latency: { read: 60, write: 150, delete: 150, action: 150, keyvault: 40 },
  lroMs: 1000,
  samples: 100,
  latencyServices: 10,
  drift: 0.1,
  seed: 1,
  pageSize: 100,
  outDir: join(ROOT, "bench"),
  latencyRun: true,
  coldStart: true,
  coldStartRuns: 15,
  appHeapMb: 192,
  pin: true,
  smoke: false,
  instances: [1, 4, 16],
  instanceServices: 100,
  log: (line) => process.stderr.write(line + "\n"),
};

/** `--smoke`: the smallest size with fast latency, for CI (no timing assertions). */
export const SMOKE: Partial<BenchOptions> = {
  sizes: [10],
  speed: 100,
  latency: { read: 2, write: 3, delete: 3, action: 3, keyvault: 1 },
  eventLatency: { read: 2, write: 3, delete: 3, action: 3, keyvault: 1 },
  lroMs: 50,
  samples: 2,
  latencyServices: 5,
  coldStartRuns: 3,
  outDir: join(ROOT, "bench", "out"),
  pin: false,
  smoke: true,
  instances: [2],
  instanceServices: 4,
};

// ---------------------------------------------------------------------------
// infrastructure: Azurite, the worker child, the emulator's request tally

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** CPU pinning: the app on the last CPU, the emulator (this process) and Azurite on the others. */
let pinning: { app: string; rest: string } | undefined;
function setUpPinning(enabled: boolean): void {
  pinning = undefined;
  const n = cpus().length;
  if (!enabled || n < 2 || process.platform !== "linux" || spawnSync("taskset", ["-V"], { stdio: "ignore" }).status !== 0) return;
  pinning = { app: String(n - 1), rest: n === 2 ? "0" : `0-${n - 2}` };
  spawnSync("taskset", ["-a", "-cp", pinning.rest, String(process.pid)], { stdio: "ignore" });
}
const pinned = (which: "app" | "rest", cmd: string, args: string[]): [string, string[]] => (pinning ? ["taskset", ["-c", pinning[which], cmd, ...args]] : [cmd, args]);

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => res(typeof a === "object" && a ? a.port : 0));
    });
  });
}

function waitPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((res, rej) => {
    const once = () => {
      const c = connect(port, "127.0.0.1");
      c.once("connect", () => (c.destroy(), res()));
      c.once("error", () => {
        c.destroy();
        if (Date.now() > until) rej(new Error(`Azurite did not open port ${port}`));
        else setTimeout(once, 100);
      });
    };
    once();
  });
}

export async function startAzurite(): Promise<{ proc: ChildProcess; connectionString: string }> {
  const bin = join(dirname(createRequire(join(ROOT, "package.json")).resolve("azurite/package.json")), "dist/src/azurite.js");
  const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
  const profile = process.env["BENCH_AZURITE_PROFILE_DIR"] ? ["--cpu-prof", "--cpu-prof-dir", process.env["BENCH_AZURITE_PROFILE_DIR"]] : [];
  const proc = spawn(...pinned("rest", process.execPath, [...profile, bin, "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--loose", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1", "--blobPort", String(blob), "--queuePort", String(queue), "--tablePort", String(table)]), { stdio: "ignore" });
  await Promise.all([waitPort(blob, 30_000), waitPort(queue, 30_000), waitPort(table, 30_000)]);
  const a = "devstoreaccount1";
  // Azurite's documented, public development account key
  const k = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  return { proc, connectionString: `DefaultEndpointsProtocol=http;AccountName=${a};AccountKey=${k};BlobEndpoint=http://127.0.0.1:${blob}/${a};QueueEndpoint=http://127.0.0.1:${queue}/${a};TableEndpoint=http://127.0.0.1:${table}/${a};` };
}

export class Worker {
  private readonly proc: ChildProcess;
  private readonly waiters: Array<{ match: (m: ToParent) => boolean; resolve: (m: ToParent) => void }> = [];
  readonly messages: Array<ToParent & { at: number }> = [];
  private stderr = "";
  private exited: Promise<number | string | null>;

  constructor(mode: "sweep" | "events", env: Record<string, string>, onMessage?: (m: ToParent, at: number) => void, nodeFlags: string[] = []) {
    const profile = process.env["BENCH_CPU_PROFILE_DIR"] ? ["--cpu-prof", "--cpu-prof-dir", process.env["BENCH_CPU_PROFILE_DIR"]] : [];
    profile.push(...nodeFlags);
    this.proc = spawn(...pinned("app", process.execPath, [...profile, "--import", "tsx", join(ROOT, "bench", "worker.ts")]), {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: CHILD_NODE_OPTIONS, ...env, BENCH_MODE: mode },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.proc.stderr?.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc.on("message", (m: ToParent) => {
      const at = performance.now();
      onMessage?.(m, at);
      if (m.type !== "evaluated") this.messages.push({ ...m, at });
      for (let i = 0; i < this.waiters.length; i++) {
        const w = this.waiters[i] as (typeof this.waiters)[number];
        if (w.match(m)) {
          this.waiters.splice(i, 1);
          w.resolve(m);
          break;
        }
      }
    });
    // a message sent just as the worker dies fails with EPIPE: kept with its stderr (a waiter reports the exit), not
    // an unhandled 'error' that ended the scale-0.5 estate run before it wrote any figure
    this.proc.on("error", (e) => {
      this.stderr = (this.stderr + `\n[driver] ${e.message}`).slice(-4000);
    });
    this.exited = new Promise((r) => this.proc.once("exit", (code, signal) => r(code ?? signal)));
  }

  wait<T extends ToParent["type"]>(type: T, timeoutMs: number): Promise<Extract<ToParent, { type: T }>> {
    const have = this.messages.find((m) => m.type === type || m.type === "error");
    // a worker that failed before this wait began (its "error" already received) fails the wait with its own message
    if (have?.type === "error") return Promise.reject(new Error(`worker failed: ${have.message}. stderr: ${this.stderr}`));
    if (have) return Promise.resolve(have as unknown as Extract<ToParent, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker: no "${type}" within ${timeoutMs} ms. stderr: ${this.stderr}`)), timeoutMs);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited (${code}) before "${type}". stderr: ${this.stderr}`));
      });
      this.waiters.push({
        match: (m) => m.type === type || m.type === "error",
        resolve: (m) => {
          clearTimeout(timer);
          if (m.type === "error") reject(new Error(`worker failed: ${m.message}. stderr: ${this.stderr}`));
          else resolve(m as Extract<ToParent, { type: T }>);
        },
      });
    });
  }

  send(m: ToWorker): void {
    this.proc.send(m);
  }

  async close(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.connected) {
      this.send({ type: "stop" });
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 30_000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

interface Tally {
  /** Time the emulator took per request kind (the remediator's requests), to compare with the injected latency. */
  served: Record<string, { n: number; ms: number }>;
  /** With BENCH_TRACE=1: the remediator's requests (answer time, duration, what) of the latest latency sample. */
  trace?: Array<{ at: number; ms: number; what: string }>;
  calls: number;
  byStatus: Record<string, number>;
  byKind: Record<string, number>;
  throttled: number;
  readTimes: number[];
  others: number;
}

/** Replaces the emulator's request log with a streaming tally of the remediator's ARM requests. */
function tallyRequests(emu: EmulatorHandle): Tally {
  const t: Tally = { served: {}, calls: 0, byStatus: {}, byKind: {}, throttled: 0, readTimes: [], others: 0 };
  emu.log.add = (e: Omit<LogEntry, "seq">) => {
    if (t.trace && e.principal === REMEDIATOR) t.trace.push({ at: performance.now(), ms: e.durationMs, what: `${e.host === "arm" ? "" : e.host + " "}${e.method} ${e.path.replace(/\?.*$/, "").replace(/^.*\/service\/[^/]+/, "").slice(0, 80)} ${e.status}` });
    if (e.principal === REMEDIATOR && e.status !== 0) {
      const k = (t.served[e.kind] ??= { n: 0, ms: 0 });
      k.n++;
      k.ms += e.durationMs;
    }
    if (e.host !== "arm") return;
    if (e.principal !== REMEDIATOR) {
      t.others++;
      return;
    }
    t.calls++;
    t.byStatus[String(e.status)] = (t.byStatus[String(e.status)] ?? 0) + 1;
    t.byKind[e.kind] = (t.byKind[e.kind] ?? 0) + 1;
    if (e.status === 429) t.throttled++;
    else if (e.kind === "read") t.readTimes.push(performance.now());
  };
  return t;
}

export function appEnv(emu: EmulatorHandle, azurite: string, prefix: string, o: BenchOptions, extra: Record<string, string>): Record<string, string> {
  return {
    AzureWebJobsStorage: azurite,
    REMEDIATOR_STORAGE_PREFIX: prefix,
    ARM_ENDPOINT: emu.armEndpoint,
    ARM_CA_FILE: emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    REMEDIATOR_SUBSCRIPTIONS: BENCH_SUB,
    ARM_READS_PER_SECOND: String(ARM_LIMITS.reads.refillPerSecond * o.speed),
    ARM_WRITES_PER_SECOND: String(ARM_LIMITS.writes.refillPerSecond * o.speed),
    ARM_DELETES_PER_SECOND: String(ARM_LIMITS.deletes.refillPerSecond * o.speed),
    LOG_LEVEL: "silent",
    ...extra,
  };
}

export const scaledThrottle = (speed: number) => ({
  enabled: true,
  reads: { capacity: ARM_LIMITS.reads.capacity, refillPerSecond: ARM_LIMITS.reads.refillPerSecond * speed },
  writes: { capacity: ARM_LIMITS.writes.capacity, refillPerSecond: ARM_LIMITS.writes.refillPerSecond * speed },
  deletes: { capacity: ARM_LIMITS.deletes.capacity, refillPerSecond: ARM_LIMITS.deletes.refillPerSecond * speed },
});

/**
 * ARM's front ends keep idle connections for minutes; Node's HTTPS server (the emulator) closes
 * them after 5 s, which would make the app open a new TLS connection for most requests of an
 * event's evaluation. The emulator's servers (the only HTTPS servers in this process) keep them 120 s.
 */
export function keepConnections(): void {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  for (const h of handles) if (h instanceof HttpsServer) h.keepAliveTimeout = 120_000;
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const round = (x: number, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);
export const prefixFor = (tag: string) => `b${Math.random().toString(36).slice(2, 8)}${tag}`.replace(/[^a-z0-9]/g, "").slice(0, 20);

// ---------------------------------------------------------------------------
// sweeps

export interface SweepResult {
  services: number;
  armCalls: number;
  minimumCalls: number;
  ratio: number | null;
  callsPerService: number | null;
  minimumPerService: number | null;
  discoveryCalls: number;
  reads: number;
  writes: number;
  throttled429: number;
  statuses: Record<string, number>;
  durationS: number | null;
  readsPerSecond: number | null;
  throughputFraction: number | null;
  steadyStateFraction: number | null;
  armEquivalent: { durationS: number | null; readsPerSecond: number | null; refillPerSecond: number };
  evaluationMs: { p50: number | null; p95: number | null; max: number | null };
  peakRssMB: number | null;
  rssVsSmallest: number | null;
  peakHeapUsedMB: number | null;
  failedEvaluations: number;
  /** CPU seconds: the app's process, and the emulator's (this process) during the sweep. */
  cpuS: { app: number | null; emulator: number | null };
  driftedItems: number;
  items: number;
  pacer: unknown;
}

/** One sweep of `size` services in one subscription; `extra`: app settings on top of the bench's (e.g. REMEDIATOR_DISCOVERY). */
export async function runSweep(size: number, o: BenchOptions, azurite: string, extra: Record<string, string> = {}): Promise<SweepResult> {
  const { resources, services } = generateEstate(size, o.drift, o.seed);
  const scale = (ms: number) => ms / o.speed;
  const emu = await start({
    estate: resources as never,
    stateDir: mkdtempSync(join(tmpdir(), "apim-bench-")),
    pageSize: o.pageSize,
    lroDurationMs: scale(o.lroMs),
    latency: { read: scale(o.latency.read), write: scale(o.latency.write), delete: scale(o.latency.delete), action: scale(o.latency.action), keyvault: scale(o.latency.keyvault) },
    throttle: scaledThrottle(o.speed),
  });
  const tally = tallyRequests(emu);
  keepConnections();
  const worker = new Worker("sweep", appEnv(emu, azurite, prefixFor(`s${size}`), o, { REMEDIATOR_MODE: "dry-run", ...extra }), undefined, o.appHeapMb > 0 ? [`--max-old-space-size=${o.appHeapMb}`] : []);
  try {
    await worker.wait("ready", 120_000);
    emu.throttle.reset();
    const cpu0 = process.cpuUsage();
    worker.send({ type: "start" });
    const done = await worker.wait("done", 6 * 3600_000);
    const cpu = process.cpuUsage(cpu0);
    return sweepResult(size, services, tally, done.result, o, (cpu.user + cpu.system) / 1e6);
  } finally {
    await worker.close();
    await emu.stop();
  }
}

function sweepResult(size: number, services: ServiceShape[], t: Tally, w: WorkerResult, o: BenchOptions, emulatorCpuS: number): SweepResult {
  const needs = needsOf([...RULES]);
  const perService = services.reduce((acc, s) => acc + expectedCalls(needs, { pageSize: o.pageSize, ...s.shape }), 0);
  const discovery = Math.max(1, Math.ceil(size / o.pageSize));
  const minimum = perService + discovery;
  const reads = t.readTimes.length;
  const first = t.readTimes[0] ?? 0;
  const last = t.readTimes[t.readTimes.length - 1] ?? 0;
  const d = (last - first) / 1000;
  const refill = ARM_LIMITS.reads.refillPerSecond * o.speed;
  const cap = ARM_LIMITS.reads.capacity;
  // reads beyond the burst, over the refill the bucket gave in that time
  const fraction = reads > cap * 2 && d > 0 ? (reads - cap) / (refill * d) : null;
  // steady state: the slope between 30% and 90% of the reads (burst and tail excluded)
  const a = Math.floor(reads * 0.3);
  const b = Math.floor(reads * 0.9);
  const ta = t.readTimes[a];
  const tb = t.readTimes[b];
  const steady = reads > cap * 4 && ta !== undefined && tb !== undefined && tb > ta ? (b - a) / (((tb - ta) / 1000) * refill) : null;
  return {
    services: size,
    armCalls: t.calls,
    minimumCalls: minimum,
    ratio: round(t.calls / minimum, 4),
    callsPerService: round((t.calls - discovery) / size, 2),
    minimumPerService: round(perService / size, 2),
    discoveryCalls: discovery,
    reads,
    writes: (t.byKind["write"] ?? 0) + (t.byKind["action"] ?? 0) + (t.byKind["delete"] ?? 0),
    throttled429: t.throttled,
    statuses: t.byStatus,
    durationS: round(w.wallMs / 1000, 2),
    readsPerSecond: d > 0 ? round(reads / d, 1) : null,
    throughputFraction: fraction === null ? null : round(fraction, 3),
    steadyStateFraction: steady === null ? null : round(steady, 3),
    armEquivalent: { durationS: round((w.wallMs / 1000) * o.speed, 0), readsPerSecond: d > 0 ? round(reads / d / o.speed, 2) : null, refillPerSecond: ARM_LIMITS.reads.refillPerSecond },
    evaluationMs: { p50: round(w.evaluationMs.p50, 0), p95: round(w.evaluationMs.p95, 0), max: round(w.evaluationMs.max, 0) },
    peakRssMB: round(Math.max(w.peakRssBytes, w.maxRssBytes) / 2 ** 20, 1),
    rssVsSmallest: null,
    peakHeapUsedMB: round(w.peakHeapUsedBytes / 2 ** 20, 1),
    failedEvaluations: w.failed,
    cpuS: { app: round(w.cpuMs / 1000, 1), emulator: round(emulatorCpuS, 1) },
    driftedItems: services.reduce((acc, s) => acc + s.drifted, 0),
    items: services.reduce((acc, s) => acc + s.items, 0),
    pacer: w.pacer,
  };
}

export interface InstancesResult {
  instances: number;
  services: number;
  evaluated: number;
  armCalls: number;
  reads: number;
  throttled429: number;
  durationS: number | null;
  /** Reads beyond the burst over the refill in that time (as the sweeps' throughputFraction). */
  throughputFraction: number | null;
  /** Storage round trips of the shared pacers per ARM request they paced. */
  storageCallsPerArmCall: number | null;
  pacers: unknown[];
}

/** One sweep with the app scaled out to `n` processes sharing one queue, one storage account and one identity. */
async function runInstances(n: number, o: BenchOptions, azurite: string): Promise<InstancesResult> {
  const size = o.instanceServices;
  const { resources } = generateEstate(size, o.drift, o.seed);
  const scale = (ms: number) => ms / o.speed;
  const emu = await start({
    estate: resources as never,
    stateDir: mkdtempSync(join(tmpdir(), "apim-bench-")),
    pageSize: o.pageSize,
    lroDurationMs: scale(o.lroMs),
    latency: { read: scale(o.latency.read), write: scale(o.latency.write), delete: scale(o.latency.delete), action: scale(o.latency.action), keyvault: scale(o.latency.keyvault) },
    throttle: scaledThrottle(o.speed),
  });
  const tally = tallyRequests(emu);
  keepConnections();
  const prefix = prefixFor(`i${n}`);
  const heap = o.appHeapMb > 0 ? [`--max-old-space-size=${o.appHeapMb}`] : [];
  const workers = Array.from({ length: n }, (_, i) => new Worker("sweep", appEnv(emu, azurite, prefix, o, { REMEDIATOR_MODE: "dry-run", ...(i > 0 ? { BENCH_ROLE: "instance" } : {}) }), undefined, heap));
  try {
    for (const w of workers) await w.wait("ready", 120_000);
    emu.throttle.reset();
    const t0 = performance.now();
    for (const w of workers) w.send({ type: "start" });
    const first = await (workers[0] as Worker).wait("done", 6 * 3600_000);
    for (const w of workers.slice(1)) w.send({ type: "stop" });
    const rest = await Promise.all(workers.slice(1).map((w) => w.wait("done", 600_000)));
    const wallMs = performance.now() - t0;
    const results = [first, ...rest].map((d) => d.result);
    const reads = tally.readTimes.length;
    const d = ((tally.readTimes[reads - 1] ?? 0) - (tally.readTimes[0] ?? 0)) / 1000;
    const refill = ARM_LIMITS.reads.refillPerSecond * o.speed;
    const cap = ARM_LIMITS.reads.capacity;
    const pacers = results.map((r) => r.pacer as { requests?: number; storageCalls?: number } | undefined);
    const paced = pacers.reduce((a, p) => a + (p?.requests ?? 0), 0);
    const storage = pacers.reduce((a, p) => a + (p?.storageCalls ?? 0), 0);
    return {
      instances: n,
      services: size,
      evaluated: results.reduce((a, r) => a + r.evaluated, 0),
      armCalls: tally.calls,
      reads,
      throttled429: tally.throttled,
      durationS: round(wallMs / 1000, 2),
      throughputFraction: reads > cap * 2 && d > 0 ? round((reads - cap) / (refill * d), 3) : null,
      storageCallsPerArmCall: paced > 0 ? round(storage / paced, 3) : null,
      pacers,
    };
  } finally {
    for (const w of workers) await w.close();
    await emu.stop();
  }
}

// ---------------------------------------------------------------------------
// event-to-fix latency

export const FIXES = ["api-https-only", "direct-management-endpoint-disabled", "named-value-secrets-in-key-vault", "resource-lock", "min-api-version"] as const;
export type Fix = (typeof FIXES)[number];

type Step = [kind: keyof LatencyModel | "lro", what: string];

/**
 * The fewest sequential round trips from the event to the fix being in place,
 * for the evaluation the product runs on that event: the snapshot's longest
 * chain of dependent reads (the service and every collection can be read at
 * once; per-API reads need the API list), then the fix's own steps (a fresh
 * read for the ETag before a conditional write; the documented Key Vault
 * migration steps), and for long-running writes the operation's duration
 * (the fix is in place when ARM completes it).
 */
export const MINIMAL: Record<Fix, Step[]> = {
  "api-https-only": [
    ["read", "snapshot of that API only: the API, its revisions, operations and policy, with the products, backends and global policy (in parallel)"],
    ["read", "snapshot: operation policies, other revisions, API collection, product APIs and policies"],
    ["read", "fix: GET the API (ETag)"],
    ["write", "fix: PATCH protocols (If-Match)"],
  ],
  "direct-management-endpoint-disabled": [
    ["read", "snapshot: tenant access settings"],
    ["read", "fix: GET tenant/access (ETag)"],
    ["write", "fix: PATCH enabled=false (If-Match)"],
  ],
  "named-value-secrets-in-key-vault": [
    ["read", "snapshot: named values"],
    // the ETag before the value (issue 15: a rotation in between must move the ETag the PATCH is conditioned on)
    ["read", "fix: GET the named value (ETag), alongside get secret (reuse check) and GET the role assignment"],
    ["action", "fix: listValue, after the ETag"],
    ["keyvault", "fix: set secret"],
    ["write", "fix: read back and compare, and PUT Key Vault Secrets User on the secret, at once (the slower is the PUT)"],
    ["write", "fix: PATCH the named value to the reference (202)"],
    ["lro", "ARM completes the PATCH"],
  ],
  "resource-lock": [
    ["read", "snapshot: locks at the service"],
    ["read", "fix: GET the lock (404)"],
    ["write", "fix: PUT the lock as it was"],
  ],
  "min-api-version": [
    ["read", "snapshot for the service's own rules (run first on a service event): the service"],
    ["read", "fix: GET the service (not Updating)"],
    ["write", "fix: PATCH apiVersionConstraint (202)"],
    ["lro", "ARM completes the PATCH"],
  ],
};

export function minimalMs(fix: Fix, latency: LatencyModel, lroMs: number): number {
  return MINIMAL[fix].reduce((acc, [kind]) => acc + (kind === "lro" ? lroMs : latency[kind]), 0);
}

export interface FixLatency {
  samples: number;
  failed: number;
  roundTrips: number;
  minimalMs: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  overheadP50Ms: number | null;
  overheadP99Ms: number | null;
  /** The same steps at the latency the emulator actually served (its timers run a little late). */
  minimalServedMs: number;
  overheadServedP99Ms: number | null;
  /** Event to the end of the evaluation (fix verified, audited, compliance recorded). */
  evaluationEndP50Ms: number | null;
  remediatorRequestsP50: number | null;
  /** Every sample's overhead over the minimal, in the order taken. */
  overheadSamplesMs: number[];
}

export interface LatencyResult {
  latencyMs: LatencyModel;
  lroMs: number;
  samplesPerFix: number;
  warmupRounds: number;
  services: number;
  fixes: Record<Fix, FixLatency>;
  /** Mean time the emulator took per request of each kind (the injected latency plus its own processing). */
  servedMs: Partial<LatencyModel>;
  worker: WorkerResult | null;
}

const principalOf = (e: EventGridEvent) => String((e.data["claims"] as Record<string, unknown> | undefined)?.["http://schemas.microsoft.com/identity/claims/objectidentifier"] ?? "").toLowerCase();

async function runLatency(o: BenchOptions, azurite: string): Promise<LatencyResult> {
  const latency = o.eventLatency ?? o.latency;
  const { resources, services } = generateEstate(o.latencyServices, 0, o.seed);
  const emu = await start({
    estate: resources as never,
    stateDir: mkdtempSync(join(tmpdir(), "apim-bench-")),
    pageSize: o.pageSize,
    lroDurationMs: o.lroMs,
    latency: { ...latency },
    throttle: scaledThrottle(o.speed),
  });
  const tally = tallyRequests(emu);
  keepConnections();
  const events: Array<{ e: EventGridEvent; at: number }> = [];
  const listeners = new Set<(e: EventGridEvent, at: number) => void>();
  emu.events.on((e) => {
    const at = performance.now();
    events.push({ e, at });
    if (events.length > 1000) events.splice(0, 500);
    for (const l of listeners) l(e, at);
  });
  const evaluatedWaiters = new Set<(m: Extract<ToParent, { type: "evaluated" }>, at: number) => void>();
  const worker = new Worker(
    "events",
    appEnv(emu, azurite, prefixFor("ev"), o, {
      REMEDIATOR_MODE: "enforce",
      REMEDIATOR_DEBOUNCE_SECONDS: "0",
      KEY_VAULT_URL: emu.keyVaults[KV_NAME] as string,
      KEY_VAULT_RESOURCE_ID: KV_ID,
    }),
    (m, at) => {
      if (m.type === "evaluated") for (const w of evaluatedWaiters) w(m, at);
      if (m.type === "trace") lags.push({ at: m.epochMs - performance.timeOrigin, ms: m.ms, what: m.what });
    },
  );
  const user = createClients(loadConfig({ ARM_ENDPOINT: emu.armEndpoint, ARM_CA_FILE: emu.caFile, ARM_PACING: "false" }), { credential: new LocalTokenCredential(PORTAL_USER) });
  const apim = user.apim(BENCH_SUB);
  const locks = user.locks(BENCH_SUB).managementLocks;

  const waitEvent = (match: (e: EventGridEvent) => boolean, timeoutMs: number) =>
    new Promise<number>((resolvePromise, reject) => {
      const l = (e: EventGridEvent, at: number) => {
        if (!match(e)) return;
        listeners.delete(l);
        clearTimeout(timer);
        resolvePromise(at);
      };
      const timer = setTimeout(() => {
        listeners.delete(l);
        reject(new Error("timed out waiting for an event"));
      }, timeoutMs);
      listeners.add(l);
    });
  const waitEvaluated = (serviceId: string, timeoutMs: number) =>
    new Promise<number>((resolvePromise, reject) => {
      const w = (m: Extract<ToParent, { type: "evaluated" }>, at: number) => {
        if (m.serviceId.toLowerCase() !== serviceId.toLowerCase()) return;
        evaluatedWaiters.delete(w);
        clearTimeout(timer);
        resolvePromise(at);
      };
      const timer = setTimeout(() => {
        evaluatedWaiters.delete(w);
        reject(new Error(`timed out waiting for the evaluation of ${serviceId}`));
      }, timeoutMs);
      evaluatedWaiters.add(w);
    });

  // BENCH_TRACE=1: every sample is traced; the last one and those over BENCH_TRACE_OVER_MS (default 40) of
  // overhead are printed with the remediator's requests and any event-loop stall of this process (the emulator)
  // or the app's
  const traceOverMs = Number(process.env["BENCH_TRACE_OVER_MS"] ?? 40);
  const lags: Array<{ at: number; ms: number; what: string }> = [];
  const stopWatches = process.env["BENCH_TRACE"]
    ? [watchLag((at, ms) => lags.push({ at, ms, what: "event loop of the emulator blocked" })), watchGc((at, ms, what) => lags.push({ at, ms, what: `emulator ${what}` }))]
    : [];
  const samples: Record<Fix, Array<{ ms: number; end: number; requests: number }>> = Object.fromEntries(FIXES.map((f) => [f, []])) as never;
  const failures: Record<Fix, number> = Object.fromEntries(FIXES.map((f) => [f, 0])) as never;
  const warmupRounds = 1;
  let workerResult: WorkerResult | null = null;
  try {
    const ready = await worker.wait("ready", 300_000);
    emu.events.webhookUrl = ready.webhookUrl;
    for (let r = 0; r < o.samples + warmupRounds; r++) {
      for (let f = 0; f < FIXES.length; f++) {
        const fix = FIXES[f] as Fix;
        if (o.fixes && !o.fixes.includes(fix)) continue;
        const svc = services[(r * FIXES.length + f) % services.length] as ServiceShape;
        const sid = svc.id;
        const name = svc.name;
        let changed: string;
        let fixed: string;
        let change: () => Promise<unknown>;
        switch (fix) {
          case "api-https-only": {
            const api = `api-${String(r % SHAPE.apis).padStart(2, "0")}`;
            changed = fixed = `${sid}/apis/${api}`;
            change = async () => {
              const cur = await apim.api.get(BENCH_RG, name, api);
              await apim.api.update(BENCH_RG, name, api, cur.eTag as string, { protocols: ["http", "https"] });
            };
            break;
          }
          case "direct-management-endpoint-disabled":
            changed = fixed = `${sid}/tenant/access`;
            change = async () => {
              const cur = await apim.tenantAccess.get(BENCH_RG, name, "access");
              await apim.tenantAccess.update(BENCH_RG, name, "access", cur.eTag as string, { enabled: true });
            };
            break;
          case "named-value-secrets-in-key-vault": {
            const nv = `bench-inline-${r}`;
            changed = fixed = `${sid}/namedValues/${nv}`;
            // the initial request only: ARM completes the PUT (and emits the event) on its own
            change = () => apim.namedValue.beginCreateOrUpdate(BENCH_RG, name, nv, { displayName: nv, secret: true, value: `inline-secret-${r}-${f}` });
            break;
          }
          case "resource-lock":
            changed = fixed = `${sid}/providers/Microsoft.Authorization/locks/lock-0`;
            change = () => locks.deleteAtResourceLevel(BENCH_RG, "Microsoft.ApiManagement", "", "service", name, "lock-0");
            break;
          case "min-api-version":
            changed = fixed = sid;
            change = () => apim.apiManagementService.beginUpdate(BENCH_RG, name, { apiVersionConstraint: { minApiVersion: "2018-06-01" } });
            break;
        }
        const timeout = 120_000 + o.lroMs * 20;
        const lower = (s: string) => s.toLowerCase();
        const userEvent = waitEvent((e) => principalOf(e) === PORTAL_USER && lower(e.subject) === lower(changed), timeout);
        const fixEvent = waitEvent((e) => principalOf(e) === REMEDIATOR && lower(e.subject) === lower(fixed) && e.eventType === "Microsoft.Resources.ResourceWriteSuccess", timeout);
        const evaluated = waitEvaluated(sid, timeout);
        const callsBefore = tally.calls;
        if (process.env["BENCH_TRACE"]) tally.trace = [];
        if (lags.length > 1000) lags.splice(0, 500);
        try {
          await change();
          const t0 = await userEvent;
          const t1 = await fixEvent;
          const t2 = await evaluated;
          if (r >= warmupRounds) samples[fix].push({ ms: t1 - t0, end: t2 - t0, requests: tally.calls - callsBefore });
          const overhead = t1 - t0 - minimalMs(fix, latency, o.lroMs);
          if (tally.trace && (r === o.samples + warmupRounds - 1 || overhead > traceOverMs)) {
            o.log(`  trace ${fix} sample ${r}: event → fix ${(t1 - t0).toFixed(0)} ms (overhead ${overhead.toFixed(1)} ms), evaluation end ${(t2 - t0).toFixed(0)} ms`);
            const entries = [...tally.trace, ...lags.filter((l) => l.at >= t0 - 50 && l.at <= t2).map((l) => ({ ...l, what: `${l.what} ${l.ms.toFixed(1)} ms` }))];
            for (const x of entries.sort((a, b) => a.at - a.ms - (b.at - b.ms))) o.log(`    ${(x.at - x.ms - t0).toFixed(0).padStart(6)} → ${(x.at - t0).toFixed(0).padStart(6)}  ${x.what}`);
          }
        } catch (e) {
          failures[fix]++;
          o.log(`  ${fix} sample ${r} failed: ${(e as Error).message}`);
          userEvent.catch(() => undefined);
          fixEvent.catch(() => undefined);
          evaluated.catch(() => undefined);
        }
        // let the evaluation's trailing work (audit, compliance) finish before the next change
        await sleep(50);
      }
      if (r === warmupRounds - 1 || (r + 1) % 10 === 0) o.log(`  latency: round ${r + 1}/${o.samples + warmupRounds}`);
    }
    worker.send({ type: "stop" });
    workerResult = (await worker.wait("done", 120_000)).result;
  } finally {
    for (const stop of stopWatches) stop();
    await worker.close();
    await emu.stop();
  }
  const servedMs: Partial<LatencyModel> = {};
  for (const [kind, v] of Object.entries(tally.served)) if (kind in latency && v.n > 0) servedMs[kind as keyof LatencyModel] = round(v.ms / v.n, 2) as number;
  const served: LatencyModel = { ...latency, ...servedMs };
  const fixes = Object.fromEntries(
    FIXES.map((fix) => {
      const xs = samples[fix].map((s) => s.ms);
      const min = minimalMs(fix, latency, o.lroMs);
      const minServed = minimalMs(fix, served, o.lroMs);
      const out: FixLatency = {
        samples: xs.length,
        failed: failures[fix],
        roundTrips: MINIMAL[fix].filter(([k]) => k !== "lro").length,
        minimalMs: min,
        p50Ms: round(pct(xs, 50), 1),
        p99Ms: round(pct(xs, 99), 1),
        maxMs: round(pct(xs, 100), 1),
        overheadP50Ms: round(pct(xs, 50) - min, 1),
        overheadP99Ms: round(pct(xs, 99) - min, 1),
        minimalServedMs: round(minServed, 1) as number,
        overheadServedP99Ms: round(pct(xs, 99) - minServed, 1),
        evaluationEndP50Ms: round(pct(samples[fix].map((s) => s.end), 50), 0),
        remediatorRequestsP50: round(pct(samples[fix].map((s) => s.requests), 50), 0),
        overheadSamplesMs: xs.map((x) => round(x - min, 1) as number),
      };
      return [fix, out];
    }),
  ) as Record<Fix, FixLatency>;
  return { latencyMs: latency, lroMs: o.lroMs, samplesPerFix: o.samples, warmupRounds, services: o.latencyServices, fixes, servedMs, worker: workerResult };
}

// ---------------------------------------------------------------------------
// cold start

export const BUNDLE = join(ROOT, "dist", "deploy", "functions.js");

export interface ColdStartResult {
  bundle: string;
  bundleBytes: number;
  runs: number;
  medianMs: number | null;
  p90Ms: number | null;
  minMs: number | null;
  nodeBaselineMedianMs: number | null;
  /** app.js required directly: the bundle without its code cache. */
  withoutCodeCacheMedianMs: number | null;
  unbundledMedianMs: number | null;
  command: string;
}

function timeNode(args: string[], runs: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(...pinned("app", process.execPath, args), { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: CHILD_NODE_OPTIONS }, stdio: "ignore" });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${r.status}`);
    out.push(ms);
  }
  return out;
}

function runColdStart(o: BenchOptions): ColdStartResult {
  if (!existsSync(BUNDLE)) {
    o.log("  building the bundle (node scripts/bundle.mjs)");
    const r = spawnSync(process.execPath, [join(ROOT, "scripts", "bundle.mjs")], { cwd: ROOT, stdio: "inherit" });
    if (r.status !== 0) throw new Error("bundling failed");
  }
  const rel = `./${relative(ROOT, BUNDLE)}`;
  const bundled = timeNode(["-e", `require(${JSON.stringify(rel)})`], o.coldStartRuns);
  const few = Math.max(3, Math.floor(o.coldStartRuns / 3));
  const baseline = timeNode(["-e", "0"], few);
  const noCache = timeNode(["-e", `require(${JSON.stringify(`./${relative(ROOT, join(dirname(BUNDLE), "app.js"))}`)})`], few);
  const fnDir = join(ROOT, "dist", "src", "functions");
  let unbundled: number[] = [];
  if (existsSync(fnDir)) {
    const files = readdirSync(fnDir).filter((f) => f.endsWith(".js"));
    unbundled = timeNode(["-e", files.map((f) => `require(${JSON.stringify(`./dist/src/functions/${f}`)})`).join(";")], few);
  }
  return {
    bundle: relative(ROOT, BUNDLE),
    bundleBytes: statSync(join(dirname(BUNDLE), "app.js")).size,
    runs: bundled.length,
    medianMs: round(pct(bundled, 50), 0),
    p90Ms: round(pct(bundled, 90), 0),
    minMs: round(pct(bundled, 0.0001), 0),
    nodeBaselineMedianMs: round(pct(baseline, 50), 0),
    withoutCodeCacheMedianMs: round(pct(noCache, 50), 0),
    unbundledMedianMs: unbundled.length > 0 ? round(pct(unbundled, 50), 0) : null,
    command: `node -e 'require("${rel}")'`,
  };
}

// ---------------------------------------------------------------------------

export interface BenchResults {
  generatedAt: string;
  command: string;
  smoke: boolean;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAverageStart: number[]; loadAverageEnd: number[]; pinning: string };
  model: {
    speed: number;
    latencyMs: LatencyModel;
    scaledLatencyMs: LatencyModel;
    lroMs: number;
    throttle: typeof ARM_LIMITS;
    scaledRefillPerSecond: { reads: number; writes: number; deletes: number };
    pageSize: number;
    drift: number;
    seed: number;
    shape: typeof SHAPE;
    rulesEnabled: number;
    sweepMode: string;
    appNodeFlags: string;
  };
  sweeps: SweepResult[];
  instances: InstancesResult[];
  latency: LatencyResult | null;
  coldStart: ColdStartResult | null;
  targets: Record<string, { target: string; value: string; met: boolean | null }>;
  wallS: number;
}

function targets(r: Omit<BenchResults, "targets">): BenchResults["targets"] {
  const t: BenchResults["targets"] = {};
  const ratios = r.sweeps.map((s) => s.ratio ?? NaN);
  t["callsRatio"] = { target: "1.00 at every size", value: ratios.map((x) => x.toFixed(2)).join(" / "), met: ratios.every((x) => Math.abs(x - 1) < 0.005) };
  const fr = r.sweeps.map((s) => s.throughputFraction);
  const thr = r.sweeps.map((s) => s.throttled429);
  t["throughput"] = {
    target: "≥ 0.90 of the refill rate, 0 × 429",
    value: r.sweeps.map((s) => `${s.throughputFraction ?? "n/a"} (${s.throttled429} × 429)`).join(" / "),
    met: fr.every((x) => x === null || x >= 0.9) && thr.every((x) => x === 0) && fr.some((x) => x !== null),
  };
  if (r.latency) {
    const worst = Math.max(...FIXES.map((f) => r.latency?.fixes[f].overheadP99Ms ?? Infinity));
    t["eventToFix"] = { target: "overhead ≤ 50 ms p99 for each fix", value: `worst p99 overhead ${worst} ms`, met: FIXES.every((f) => (r.latency?.fixes[f].samples ?? 0) > 0) && worst <= 50 };
  }
  const small = r.sweeps[0];
  const big = r.sweeps[r.sweeps.length - 1];
  if (small && big && big !== small && small.peakRssMB && big.peakRssMB) {
    t["rss"] = { target: `peak RSS at ${big.services} ≤ 1.2 × at ${small.services}`, value: `${(big.peakRssMB / small.peakRssMB).toFixed(2)} ×`, met: big.peakRssMB <= 1.2 * small.peakRssMB };
  }
  if (r.instances.length > 0) {
    t["scaleOut"] = {
      target: "0 × 429 with every instance count, every service evaluated",
      value: r.instances.map((x) => `${x.instances} inst.: ${x.throttled429} × 429, ${x.throughputFraction ?? "n/a"} of the refill, ${x.evaluated}/${x.services} evaluated`).join(" / "),
      met: r.instances.every((x) => x.throttled429 === 0 && x.evaluated >= x.services),
    };
  }
  if (r.coldStart) t["coldStart"] = { target: "≤ 300 ms", value: `${r.coldStart.medianMs} ms median`, met: (r.coldStart.medianMs ?? Infinity) <= 300 };
  return t;
}

export async function runBench(partial: Partial<BenchOptions> = {}): Promise<BenchResults> {
  const o: BenchOptions = { ...DEFAULTS, ...(partial.smoke ? SMOKE : {}), ...partial };
  const began = performance.now();
  const loadStart = loadavg();
  setUpPinning(o.pin);
  let azurite: { proc: ChildProcess; connectionString: string } | undefined;
  const conn = o.azuriteConnectionString ?? (azurite = await startAzurite()).connectionString;
  const sweeps: SweepResult[] = [];
  const instances: InstancesResult[] = [];
  let latency: LatencyResult | null = null;
  let coldStart: ColdStartResult | null = null;
  try {
    // event latency first: on a fresh emulator, Azurite and bench process, not one the sweeps left with hundreds
    // of thousands of rows and log entries (their GC pauses would be measured as the app's latency)
    if (o.latencyRun) {
      o.log(`event-to-fix latency: ${o.samples} samples per fix ...`);
      latency = await runLatency(o, conn);
      for (const f of FIXES) o.log(`  ${f}: p50 ${latency.fixes[f].p50Ms} ms, p99 ${latency.fixes[f].p99Ms} ms (minimal ${latency.fixes[f].minimalMs} ms)`);
    }
    for (const size of o.sizes) {
      o.log(`sweep: ${size} services at speed ×${o.speed} ...`);
      const s = await runSweep(size, o, conn);
      s.rssVsSmallest = sweeps[0]?.peakRssMB && s.peakRssMB ? round(s.peakRssMB / sweeps[0].peakRssMB, 2) : 1;
      sweeps.push(s);
      o.log(`  ${s.armCalls} calls (minimum ${s.minimumCalls}, ratio ${s.ratio}), ${s.throttled429} × 429, ${s.durationS} s, throughput ${s.throughputFraction}, peak RSS ${s.peakRssMB} MB`);
    }
    for (const n of o.instances) {
      o.log(`scale-out: ${o.instanceServices} services, ${n} instance(s) sharing the ARM budget ...`);
      const x = await runInstances(n, o, conn);
      instances.push(x);
      o.log(`  ${x.throttled429} × 429, ${x.armCalls} calls, throughput ${x.throughputFraction} of the refill, ${x.evaluated}/${x.services} evaluated, ${x.durationS} s, ${x.storageCallsPerArmCall} storage calls per ARM call`);
      if (process.env["BENCH_TRACE"]) o.log(`  pacers: ${JSON.stringify(x.pacers)}`);
    }
    if (o.coldStart) {
      o.log("cold start ...");
      coldStart = runColdStart(o);
      o.log(`  ${coldStart.command}: median ${coldStart.medianMs} ms`);
    }
  } finally {
    azurite?.proc.kill("SIGTERM");
  }
  const scaledLatency = Object.fromEntries(Object.entries(o.latency).map(([k, v]) => [k, round(v / o.speed, 3)])) as unknown as LatencyModel;
  const base: Omit<BenchResults, "targets"> = {
    generatedAt: new Date().toISOString(),
    command: `tsx bench/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
    smoke: o.smoke,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", node: process.version, platform: `${process.platform} ${process.arch}`, loadAverageStart: loadStart.map((x) => round(x, 2) as number), loadAverageEnd: loadavg().map((x) => round(x, 2) as number), pinning: pinning ? `app on CPU ${pinning.app}, emulator and Azurite on CPU ${pinning.rest}` : "none" },
    model: {
      speed: o.speed,
      latencyMs: o.latency,
      scaledLatencyMs: scaledLatency,
      lroMs: o.lroMs,
      throttle: ARM_LIMITS,
      scaledRefillPerSecond: { reads: ARM_LIMITS.reads.refillPerSecond * o.speed, writes: ARM_LIMITS.writes.refillPerSecond * o.speed, deletes: ARM_LIMITS.deletes.refillPerSecond * o.speed },
      pageSize: o.pageSize,
      drift: o.drift,
      seed: o.seed,
      shape: SHAPE,
      rulesEnabled: RULES.length,
      sweepMode: "dry-run (detection, plans and audit; no writes)",
      appNodeFlags: o.appHeapMb > 0 ? `--max-old-space-size=${o.appHeapMb}` : "(Node defaults)",
    },
    sweeps,
    instances,
    latency,
    coldStart,
    wallS: round((performance.now() - began) / 1000, 1) as number,
  };
  const results: BenchResults = { ...base, targets: targets(base) };
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  // the estate profile's section (bench/estate-run.ts) is kept as it is
  const kept = existsSync(join(o.outDir, "RESULTS.md")) ? estateSectionOf(readFileSync(join(o.outDir, "RESULTS.md"), "utf8")) : undefined;
  writeFileSync(join(o.outDir, "RESULTS.md"), renderMarkdown(results) + (kept ? `\n${kept}\n` : ""));
  o.log(`wrote ${relative(process.cwd(), join(o.outDir, "results.json"))} and RESULTS.md (${results.wallS} s)`);
  return results;
}

function parseArgs(argv: string[]): Partial<BenchOptions> {
  const out: Partial<BenchOptions> = {};
  const latency: Partial<LatencyModel> = {};
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = () => argv[++i];
    switch (a) {
      case "--smoke":
        out.smoke = true;
        break;
      case "--sizes":
        out.sizes = (next() ?? "").split(",").map((x) => num("sizes", x));
        break;
      case "--speed":
        out.speed = num("speed", next());
        break;
      case "--read-ms":
        latency.read = num("read-ms", next());
        break;
      case "--write-ms":
        latency.write = latency.delete = num("write-ms", next());
        break;
      case "--action-ms":
        latency.action = num("action-ms", next());
        break;
      case "--keyvault-ms":
        latency.keyvault = num("keyvault-ms", next());
        break;
      case "--lro-ms":
        out.lroMs = num("lro-ms", next());
        break;
      case "--samples":
        out.samples = num("samples", next());
        break;
      case "--drift":
        out.drift = num("drift", next());
        break;
      case "--seed":
        out.seed = num("seed", next());
        break;
      case "--out":
        out.outDir = resolve(next() ?? "bench");
        break;
      case "--no-sweep":
        out.sizes = [];
        break;
      case "--instances":
        out.instances = (next() ?? "").split(",").map((x) => num("instances", x));
        if (out.instances.some((x) => !Number.isInteger(x) || x < 1 || x > 64)) throw new Error("--instances takes a comma-separated list of whole numbers from 1 to 64");
        break;
      case "--instance-services":
        out.instanceServices = num("instance-services", next());
        break;
      case "--no-instances":
        out.instances = [];
        break;
      case "--no-latency":
        out.latencyRun = false;
        break;
      case "--app-heap-mb":
        out.appHeapMb = num("app-heap-mb", next());
        break;
      case "--no-pin":
        out.pin = false;
        break;
      case "--no-cold-start":
        out.coldStart = false;
        break;
      case "--fixes": {
        const names = (next() ?? "").split(",").filter(Boolean);
        const unknown = names.filter((n) => !(FIXES as readonly string[]).includes(n));
        if (names.length === 0 || unknown.length > 0) throw new Error(`--fixes takes a comma-separated list of ${FIXES.join(", ")}${unknown.length ? ` (not: ${unknown.join(", ")})` : ""}`);
        out.fixes = names as Fix[];
        break;
      }
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  if (Object.keys(latency).length > 0) {
    const baseLatency = out.smoke ? (SMOKE.latency as LatencyModel) : DEFAULTS.latency;
    out.latency = { ...baseLatency, ...latency };
    out.eventLatency = out.latency;
  }
  if (out.speed !== undefined && out.speed <= 0) throw new Error("--speed must be > 0");
  return out;
}

if (require.main === module && process.argv.includes("--profile")) {
  // `--profile estate`: the estate-scale profile (bench/estate-run.ts), its own options
  void import("./estate-run.js").then((m) => m.main(process.argv.slice(2)));
} else if (require.main === module) {
  let opts: Partial<BenchOptions>;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  runBench(opts).then(
    (r) => {
      const missed = Object.entries(r.targets).filter(([, t]) => t.met === false);
      for (const [k, t] of Object.entries(r.targets)) process.stderr.write(`${t.met === null ? "·" : t.met ? "✓" : "✗"} ${k}: ${t.value} (target ${t.target})\n`);
      process.exit(r.smoke || missed.length === 0 ? 0 : 1);
    },
    (e: Error) => {
      process.stderr.write(`${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
