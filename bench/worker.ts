/**
 * The product side of the benchmark, one child process per run (so its peak
 * RSS is its own): the Functions app's dependencies built from app settings
 * (`buildAppDeps`, as the host does) and a local stand-in for the host's
 * queue trigger with host.json's batchSize/newBatchThreshold.
 *
 *   mode "sweep":  the timer's `sweep` enqueues every service while the
 *                  queue trigger drains it through `evaluateQueued`.
 *   mode "events": an Event Grid webhook (the emulator posts every event to
 *                  it) feeding `handleEvents`, each enqueued evaluation picked
 *                  up at once; after a warm-up sweep.
 *
 * It talks to the parent over IPC: "ready" → ("start" | events) → "stop" → "done".
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { evaluateQueued, handleEvents, sweep, type AppDeps } from "../src/app/app.js";
import { buildAppDeps } from "../src/app/runtime.js";
import type { HeldLease, LeaseLogger } from "../src/app/storage.js";
import { watchGc, watchLag } from "./lag.js";

export type WorkerMode = "sweep" | "events";

export interface WorkerResult {
  mode: WorkerMode;
  services: number;
  evaluated: number;
  failed: number;
  deferred: number;
  /** The messages that ended without an evaluation, by outcome and reason (`deferred`: the lease was held; `lease-lost`; `nothing`; `gone`). */
  deferredBy: Record<string, number>;
  writes: number;
  wallMs: number;
  evaluationMs: { p50: number; p95: number; max: number };
  /**
   * The evaluated messages' spans: their summed duration, the most run at once, and (epoch ms) when the last one
   * started and when the longest one started, so the parent can tell concurrency from a tail.
   */
  messages: { sumMs: number; maxInFlight: number; lastStartEpochMs: number; longestStartEpochMs: number; lastEndEpochMs: number };
  peakRssBytes: number;
  peakHeapUsedBytes: number;
  /** Peak RSS as the OS reports it for the whole process life (process.resourceUsage().maxRSS). */
  maxRssBytes: number;
  pacer?: unknown;
  /** CPU time of this process (user + system). */
  cpuMs: number;
  warmup?: { services: number; wallMs: number; writes: number };
}

export type ToParent =
  | { type: "ready"; webhookUrl?: string }
  | { type: "evaluated"; serviceId: string; reason: string; ms: number; kind: string; actions: string[] }
  | { type: "done"; result: WorkerResult }
  | { type: "error"; message: string }
  /** BENCH_TRACE=1: one entry of the sample's timeline: `what`, lasting `ms`, ended at `epochMs` (performance.timeOrigin + now). */
  | { type: "trace"; epochMs: number; ms: number; what: string };

export type ToWorker = { type: "start" } | { type: "stop" };

const send = (m: ToParent) => process.send?.(m);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function hostQueueSettings(): { batchSize: number; newBatchThreshold: number; visibilitySeconds: number; maxDequeueCount: number } {
  try {
    const host = JSON.parse(readFileSync(join(process.cwd(), "host.json"), "utf8")) as { extensions?: { queues?: Record<string, unknown> } };
    const q = host.extensions?.queues ?? {};
    const batchSize = Number(q["batchSize"] ?? 16);
    const vt = /^(\d+):(\d+):(\d+)$/.exec(String(q["visibilityTimeout"] ?? "00:00:30"));
    return {
      batchSize,
      newBatchThreshold: Number(q["newBatchThreshold"] ?? Math.floor(batchSize / 2)),
      visibilitySeconds: Math.max(300, vt ? Number(vt[1]) * 3600 + Number(vt[2]) * 60 + Number(vt[3]) : 300),
      maxDequeueCount: Number(q["maxDequeueCount"] ?? 5),
    };
  } catch {
    return { batchSize: 16, newBatchThreshold: 8, visibilitySeconds: 300, maxDequeueCount: 5 };
  }
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};

class Memory {
  peakRss = 0;
  peakHeap = 0;
  private timer: NodeJS.Timeout;
  constructor() {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
  }
  sample(): void {
    const m = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, m.rss);
    this.peakHeap = Math.max(this.peakHeap, m.heapUsed);
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

interface Tally {
  evaluated: number;
  failed: number;
  deferred: number;
  deferredBy: Record<string, number>;
  writes: number;
  durations: number[];
  maxInFlight: number;
  lastStartEpochMs: number;
  longestMs: number;
  longestStartEpochMs: number;
  lastEndEpochMs: number;
}

const emptyWorkerTally = (): Tally => ({ evaluated: 0, failed: 0, deferred: 0, deferredBy: {}, writes: 0, durations: [], maxInFlight: 0, lastStartEpochMs: 0, longestMs: 0, longestStartEpochMs: 0, lastEndEpochMs: 0 });

/**
 * What the Functions host's queue trigger does on one instance: receive up to
 * batchSize messages, run them concurrently, fetch the next batch when no
 * more than newBatchThreshold are still running; failed messages become
 * visible again (retried, up to maxDequeueCount). Returns when `finished()`
 * holds, the queue is empty and nothing is running.
 */
async function queueTrigger(deps: AppDeps, finished: () => boolean, tally: Tally, onEvaluated?: (m: ToParent) => void): Promise<void> {
  const host = hostQueueSettings();
  const running = new Set<Promise<void>>();
  const run = (m: { messageId: string; popReceipt: string; messageText: string; dequeueCount: number }) => {
    const started = performance.now();
    tally.lastStartEpochMs = performance.timeOrigin + started;
    const p = (async () => {
      try {
        const outcome = await evaluateQueued(m.messageText, deps);
        const ms = performance.now() - started;
        if (outcome.kind !== "evaluated") {
          tally.deferred++;
          // the reason without the service's id (a lost lease says why: no renewal in time, or one refused)
          const key = `${outcome.kind}: ${outcome.reason.replace(/\/subscriptions\/\S+/gi, "<service>").slice(0, 120)}`;
          tally.deferredBy[key] = (tally.deferredBy[key] ?? 0) + 1;
        } else {
          tally.evaluated++;
          tally.writes += outcome.result.writes;
          if (ms > tally.longestMs) [tally.longestMs, tally.longestStartEpochMs] = [ms, performance.timeOrigin + started];
          tally.durations.push(ms);
        }
        await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt);
        onEvaluated?.({
          type: "evaluated",
          serviceId: outcome.kind === "evaluated" ? outcome.result.serviceId : "",
          reason: outcome.kind,
          ms,
          kind: outcome.kind,
          actions: outcome.kind === "evaluated" ? outcome.result.actions.map((a) => `${a.ruleId}:${a.outcome}`) : [],
        });
      } catch (e) {
        tally.failed++;
        process.stderr.write(`evaluation failed: ${(e as Error).message}\n`);
        if (m.dequeueCount >= host.maxDequeueCount) await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt).catch(() => undefined);
        else await deps.storage.evaluateQueue.updateMessage(m.messageId, m.popReceipt, undefined, 0).catch(() => undefined);
      }
    })().finally(() => {
      running.delete(p);
      tally.lastEndEpochMs = performance.timeOrigin + performance.now();
    });
    running.add(p);
    tally.maxInFlight = Math.max(tally.maxInFlight, running.size);
  };
  // an empty queue is polled again after 20 ms, doubling up to 1 s (the host backs off the same way, up to
  // maxPollingInterval); a message found, an evaluation finished or a message enqueued here polls at once
  let idleMs = 20;
  for (;;) {
    if (running.size <= host.newBatchThreshold) {
      const batch = await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: host.batchSize, visibilityTimeout: host.visibilitySeconds });
      for (const m of batch.receivedMessageItems) run(m);
      if (batch.receivedMessageItems.length > 0) {
        idleMs = 20;
        continue;
      }
      if (running.size === 0) {
        if (finished()) return;
        await sleep(20);
        continue;
      }
      await Promise.race([...running, sleep(idleMs), enqueuedHere()]);
      idleMs = Math.min(idleMs * 2, 1000);
      continue;
    }
    await Promise.race(running);
  }
}

let notifyEnqueued: () => void = () => undefined;
let enqueuedSignal = new Promise<void>((r) => (notifyEnqueued = r));
/** Settles when this process enqueues a message (the host polls at once after its own function wrote to the queue). */
const enqueuedHere = () => enqueuedSignal;
const enqueuedNow = () => {
  notifyEnqueued();
  enqueuedSignal = new Promise<void>((r) => (notifyEnqueued = r));
};

const mark = (startMs: number, what: string) => send({ type: "trace", epochMs: performance.timeOrigin + performance.now(), ms: performance.now() - startMs, what });

/** BENCH_TRACE=1: each storage step of the event path is reported to the parent's trace with its duration. */
function traceStorage(deps: AppDeps): void {
  const wrap = <O extends object>(obj: O, method: keyof O & string, what: string) => {
    const f = obj[method] as unknown as (...a: unknown[]) => Promise<unknown>;
    (obj as Record<string, unknown>)[method] = (...a: unknown[]) => {
      const t = performance.now();
      const p = f.apply(obj, a);
      void p.then(
        () => mark(t, what),
        () => mark(t, `${what} (failed)`),
      );
      return p;
    };
  };
  const s = deps.storage;
  wrap(s.pending, "claim", "storage: pending marker claimed");
  wrap(s.pending, "peek", "storage: pending marker read");
  wrap(s.pending, "take", "storage: pending marker taken");
  wrap(s.evaluateQueue, "sendMessage", "storage: message sent");
  wrap(s.evaluateQueue, "receiveMessages", "storage: messages received");
  wrap(s.evaluateQueue, "deleteMessage", "storage: message deleted");
  wrap(s.compliance, "record", "storage: compliance recorded");
  const withLease = s.leases.withLease.bind(s.leases);
  s.leases.withLease = <T>(id: string, fn: (lease: HeldLease) => Promise<T>, log?: LeaseLogger) => {
    const t = performance.now();
    return withLease(
      id,
      (lease) => {
        mark(t, "storage: lease acquired");
        return fn(lease);
      },
      log,
    );
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function main(): Promise<void> {
  const mode = (process.env["BENCH_MODE"] ?? "sweep") as WorkerMode;
  const memory = new Memory();
  if (process.env["BENCH_TRACE"]) {
    watchLag((at, ms) => send({ type: "trace", epochMs: performance.timeOrigin + at, ms, what: "event loop of the app blocked" }));
    watchGc((at, ms, what) => send({ type: "trace", epochMs: performance.timeOrigin + at, ms, what: `app ${what}` }));
  }
  const deps = await buildAppDeps(process.env, { leaseRetrySeconds: 1 });
  if (process.env["BENCH_TRACE"]) traceStorage(deps);
  await deps.storage.evaluateQueue.clearMessages();
  const tally: Tally = emptyWorkerTally();
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stop = r));
  let start: () => void = () => undefined;
  const started = new Promise<void>((r) => (start = r));
  process.on("message", (m: ToWorker) => {
    if (m.type === "start") start();
    if (m.type === "stop") stop();
  });

  let warmup: WorkerResult["warmup"];
  let services = 0;
  let wallMs = 0;
  if (mode === "sweep" && process.env["BENCH_ROLE"] === "instance") {
    // another instance of the scaled-out app: no timer, only the queue trigger, until the parent says stop
    let stopping = false;
    void stopped.then(() => (stopping = true));
    send({ type: "ready" });
    await started;
    const t0 = performance.now();
    await queueTrigger(deps, () => stopping, tally);
    wallMs = performance.now() - t0;
  } else if (mode === "sweep") {
    send({ type: "ready" });
    await started;
    const t0 = performance.now();
    let enqueued = false;
    const sweeping = sweep(deps).then((ids) => {
      services = ids.length;
      enqueued = true;
    });
    await Promise.all([sweeping, queueTrigger(deps, () => enqueued, tally)]);
    wallMs = performance.now() - t0;
  } else {
    // warm-up: one sweep in the app's mode (a compliant estate: no writes) fills the lock inventory, connections and JIT
    const t0 = performance.now();
    let enqueued = false;
    const warm: Tally = emptyWorkerTally();
    const sweeping = sweep(deps).then((ids) => {
      services = ids.length;
      enqueued = true;
    });
    await Promise.all([sweeping, queueTrigger(deps, () => enqueued, warm)]);
    warmup = { services, wallMs: performance.now() - t0, writes: warm.writes };
    // the Event Grid webhook: accept the delivery, then run the same path the host does
    let draining: Promise<void> | undefined;
    let again = false;
    const drain = () => {
      if (draining) {
        again = true;
        enqueuedNow();
        return;
      }
      draining = (async () => {
        do {
          again = false;
          await queueTrigger(deps, () => true, tally, send);
        } while (again);
      })().finally(() => (draining = undefined));
    };
    const server = createServer((req, res) => {
      const arrived = performance.now();
      void readJson(req)
        .then(async (body) => {
          res.writeHead(200).end();
          if (process.env["BENCH_TRACE"]) mark(arrived, "webhook: delivery read");
          const t = performance.now();
          const decisions = await handleEvents(body, deps);
          if (process.env["BENCH_TRACE"]) mark(t, "handleEvents");
          if (decisions.some((d) => d.enqueued)) drain();
        })
        .catch((e: Error) => {
          if (!res.headersSent) res.writeHead(400).end();
          process.stderr.write(`webhook: ${e.message}\n`);
        });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const t1 = performance.now();
    send({ type: "ready", webhookUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/runtime/webhooks/EventGrid?functionName=onResourceEvent` });
    await stopped;
    while (draining) await draining;
    server.close();
    wallMs = performance.now() - t1;
  }
  memory.stop();
  const result: WorkerResult = {
    mode,
    services,
    evaluated: tally.evaluated,
    failed: tally.failed,
    deferred: tally.deferred,
    deferredBy: tally.deferredBy,
    writes: tally.writes,
    wallMs,
    evaluationMs: { p50: pct(tally.durations, 50), p95: pct(tally.durations, 95), max: pct(tally.durations, 100) },
    messages: { sumMs: Math.round(tally.durations.reduce((a, d) => a + d, 0)), maxInFlight: tally.maxInFlight, lastStartEpochMs: Math.round(tally.lastStartEpochMs), longestStartEpochMs: Math.round(tally.longestStartEpochMs), lastEndEpochMs: Math.round(tally.lastEndEpochMs) },
    peakRssBytes: memory.peakRss,
    peakHeapUsedBytes: memory.peakHeap,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    pacer: deps.clients.pacer?.stats,
    cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
    warmup,
  };
  send({ type: "done", result });
  if (mode === "sweep" && process.env["BENCH_ROLE"] !== "instance") await stopped;
  process.exit(0);
}

main().catch((e: Error) => {
  send({ type: "error", message: e.stack ?? e.message });
  process.exit(1);
});
