/**
 * Runs one fault schedule against the emulator and Azurite with the app's own
 * handlers (sweep, handleEvents, drainQueue -> evaluateQueued -> Engine,
 * tickets, recordPoison), then runs evaluations until quiet and hands what it
 * observed to the invariant checker.
 *
 * A worker is the app's dependencies built from settings, as the Functions
 * host builds them (src/app/runtime.ts), except that its storage clients can
 * "die": after a crash every storage call fails, as does every Azure request
 * (an emulator fault resets every connection), and whatever the dead worker
 * still had in flight is awaited before a new worker starts. Restarting also
 * lets time pass: leases the dead worker held expire, the messages it had
 * received become visible again and its ticket claims can be taken over.
 * With overlapping workers (schedule.ts `Overlap`) a second worker drains
 * alongside the first, the ticket system is slow and the leases are broken
 * mid-run.
 */
import { Writable } from "node:stream";
import { BlobServiceClient } from "@azure/storage-blob";
import { TableClient } from "@azure/data-tables";
import type { QueueClient } from "@azure/storage-queue";
import { start, type EmulatorHandle } from "../../emulator/server.js";
import type { EventGridEvent } from "../../emulator/events.js";
import { handleEvents, sweep, type AppDeps, type EvaluateOutcome } from "../../src/app/app.js";
import { createClients, LocalTokenCredential, type AzureClients } from "../../src/azure/clients.js";
import { loadConfig, type Config } from "../../src/common/config.js";
import { drainQueue } from "../../src/local/driver.js";
import { Engine } from "../../src/engine/engine.js";
import { createLogger, SecretRegistry } from "../../src/common/logger.js";
import { ComplianceStore, openStorage, PendingMarkers, ServiceLeases, storageNames, TableAudit, TableLockInventory, TableOperationStore, TABLES, type AppStorage } from "../../src/app/storage.js";
import { TicketManager } from "../../src/tickets/manager.js";
import { MemoryTicketProvider } from "../../src/tickets/memory.js";
import { TableTicketStore } from "../../src/app/ticket-store.js";
import { TicketHttpError, type TicketProvider } from "../../src/tickets/types.js";
import { AUDITOR, demoEstate, generatedEstate, inScope, isRead, PORTAL_USER, REMEDIATOR, type EstateSpec } from "./estates.js";
import { Rng } from "./rng.js";
import type { Schedule } from "./schedule.js";

export const MAX_DEQUEUE = 3;

export class WorkerCrashed extends Error {
  constructor() {
    super("the worker process is gone (simulated crash)");
  }
}

/** Wraps a storage client so every call fails once `dead()` is true (and so do the clients it hands out). */
export function mortal<T extends object>(target: T, dead: () => boolean): T {
  return new Proxy(target, {
    get(t, p) {
      const v = Reflect.get(t, p, t) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (dead()) {
          const rejected = Promise.reject(new WorkerCrashed());
          rejected.catch(() => undefined);
          return rejected;
        }
        const out = (v as (...a: unknown[]) => unknown).apply(t, args);
        if (out && typeof out === "object" && typeof (out as { then?: unknown }).then !== "function" && !Array.isArray(out) && Object.getPrototypeOf(out) !== Object.prototype) return mortal(out as object, dead);
        return out;
      };
    },
  });
}

interface TrackedMessage {
  id: string;
  text: string;
  correlationId: string;
  serviceId: string;
  popReceipt?: string;
  received: number;
  failures: number;
  poisoned: boolean;
  processed: boolean;
  /** Lost with the storage (wipe). */
  wiped: boolean;
  /** Received by a worker that then died. */
  crashed: boolean;
}

/** Follows every evaluation message through receive, retry, delete and poison. */
export class MessageTracker {
  readonly messages = new Map<string, TrackedMessage>();
  private poisonedTexts: string[] = [];

  track(queue: QueueClient, kind: "evaluate" | "poison"): QueueClient {
    return new Proxy(queue, {
      get: (t, p) => {
        const v = Reflect.get(t, p, t) as unknown;
        if (typeof v !== "function") return v;
        const fn = v as (...a: unknown[]) => unknown;
        if (kind === "poison" && p === "sendMessage") {
          return async (text: string, ...rest: unknown[]) => {
            const r = await fn.apply(t, [text, ...rest]);
            this.poisonedTexts.push(text);
            const m = [...this.messages.values()].reverse().find((x) => x.text === text && !x.processed && !x.poisoned);
            if (m) m.poisoned = true;
            return r;
          };
        }
        if (kind === "evaluate" && p === "receiveMessages") {
          return async (...args: unknown[]) => {
            const r = (await fn.apply(t, args)) as { receivedMessageItems: Array<{ messageId: string; popReceipt: string; messageText: string; dequeueCount: number }> };
            for (const item of r.receivedMessageItems) {
              let m = this.messages.get(item.messageId);
              if (!m) {
                let body: Record<string, unknown> = {};
                try {
                  body = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as Record<string, unknown>;
                } catch {
                  // not ours to judge here
                }
                m = { id: item.messageId, text: item.messageText, correlationId: String(body["correlationId"] ?? ""), serviceId: String(body["serviceId"] ?? ""), received: 0, failures: 0, poisoned: false, processed: false, wiped: false, crashed: false };
                this.messages.set(item.messageId, m);
              }
              m.received++;
              m.popReceipt = item.popReceipt;
            }
            return r;
          };
        }
        if (kind === "evaluate" && p === "updateMessage") {
          return async (messageId: string, ...rest: unknown[]) => {
            const r = await fn.apply(t, [messageId, ...rest]);
            const m = this.messages.get(messageId);
            if (m) m.failures++;
            return r;
          };
        }
        if (kind === "evaluate" && p === "deleteMessage") {
          return async (messageId: string, ...rest: unknown[]) => {
            const r = await fn.apply(t, [messageId, ...rest]);
            const m = this.messages.get(messageId);
            if (m && m.poisoned) m.failures++;
            else if (m) m.processed = true;
            return r;
          };
        }
        return fn.bind(t);
      },
    });
  }

  get poisoned(): string[] {
    return [...this.poisonedTexts];
  }

  /** Everything not yet finished was lost with the storage. */
  wipeAll(): void {
    for (const m of this.messages.values()) if (!m.processed) m.wiped = true;
    this.poisonedTexts = [];
  }

  /** Messages a dead worker had received and not finished. */
  inFlight(): TrackedMessage[] {
    return [...this.messages.values()].filter((m) => !m.processed && !m.poisoned && !m.wiped);
  }
}

/** A ticket provider that fails a seeded fraction of calls (an outage of the ticket system). */
export class FlakyTickets implements TicketProvider {
  readonly name = "memory";
  failRate = 0;
  constructor(
    readonly inner: MemoryTicketProvider,
    private readonly rng: Rng,
  ) {}
  private gate(): void {
    if (this.failRate > 0 && this.rng.next() < this.failRate) throw new TicketHttpError(503, "ticket system unavailable (injected)");
  }
  find(fp: string) {
    this.gate();
    return this.inner.find(fp);
  }
  open(c: Parameters<TicketProvider["open"]>[0]) {
    this.gate();
    return this.inner.open(c);
  }
  comment(r: Parameters<TicketProvider["comment"]>[0], t: string) {
    this.gate();
    return this.inner.comment(r, t);
  }
  close(r: Parameters<TicketProvider["close"]>[0], t: string) {
    this.gate();
    return this.inner.close(r, t);
  }
  reopen(r: Parameters<TicketProvider["reopen"]>[0], c: Parameters<TicketProvider["reopen"]>[1], t: string) {
    this.gate();
    return this.inner.reopen(r, c, t);
  }
}

/** Overlapping workers: a ticket system that answers every call `delayMs` late, counting the calls made. */
export class SlowTickets implements TicketProvider {
  readonly name = "memory";
  calls = 0;
  constructor(
    readonly inner: TicketProvider,
    private readonly delayMs: number,
  ) {}
  private async slow<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    await sleep(this.delayMs);
    return call();
  }
  find(fp: string) {
    return this.slow(() => this.inner.find(fp));
  }
  open(c: Parameters<TicketProvider["open"]>[0]) {
    return this.slow(() => this.inner.open(c));
  }
  comment(r: Parameters<TicketProvider["comment"]>[0], t: string) {
    return this.slow(() => this.inner.comment(r, t));
  }
  close(r: Parameters<TicketProvider["close"]>[0], t: string) {
    return this.slow(() => this.inner.close(r, t));
  }
  reopen(r: Parameters<TicketProvider["reopen"]>[0], c: Parameters<TicketProvider["reopen"]>[1], t: string) {
    return this.slow(() => this.inner.reopen(r, c, t));
  }
}

export interface World {
  emu: EmulatorHandle;
  connectionString: string;
  prefix: string;
  /** Schedules run on this world (each gets its own storage names). */
  runs: number;
}

export async function startWorld(connectionString: string, prefix: string): Promise<World> {
  const emu = await start({ estate: [], throttle: { enabled: false }, lroDurationMs: 0 });
  return { emu, connectionString, prefix, runs: 0 };
}

export interface Worker {
  deps: AppDeps;
  dead: boolean;
  inflight: number;
}

export interface RunObservations {
  schedule: Schedule;
  spec: EstateSpec;
  /** The settings of every storage generation (a wipe starts a new one), and of the last worker. */
  envs: Array<Record<string, string>>;
  recoveryEnv: Record<string, string>;
  config: Config;
  /** Findings before any fault (the auditor's own read). */
  before: import("../../src/remediations/types.js").Finding[];
  /** Out-of-scope resources before, as the emulator holds them. */
  outOfScopeBefore: string;
  logLines: string[];
  /** Errors the harness caught from the app (a failed sweep, a dead worker's drain). */
  errors: string[];
  tracker: MessageTracker;
  tickets: MemoryTicketProvider;
  outcomes: EvaluateOutcome[];
  /** What the portal user wrote last, per resource id (no lost update): an API's description, a named value's tags. */
  userWrites: Map<string, { field: string; value: unknown }>;
  quiet: boolean;
  recoveryRounds: number;
  crashed: boolean;
  /** Checks made after the faulty phase, before recovery (violations). */
  midViolations: string[];
  /** What each recovery round did (for a failing schedule's report). */
  rounds: string[];
  /** Injected faults that fired (the crash not counted). */
  faultsFired: number;
  /** How often each planned fault fired, by `kind@site`. */
  firedBySite: Record<string, number>;
  /** Milliseconds per step. */
  timings: Array<[string, number]>;
  /** With overlapping workers: whether the leases were broken, and how many evaluations then stopped for a lost lease. */
  overlap?: { leasesBroken: boolean; leaseLost: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A restart lets time pass: leases expire (expireLeases) and ticket claims left by a dead worker (10 minutes) are taken over. */
const RESTART_CLOCK_MS = 11 * 60_000;

/**
 * Storage names for one schedule: a fresh prefix per schedule (and per wipe), so
 * no schedule sees another's rows. A wipe moves to a new prefix: from the app's
 * side that is exactly an in-memory Azurite that restarted (everything gone,
 * the app creates its queues and tables again when it starts).
 */
export function storagePrefix(world: World, s: Schedule, generation: number): string {
  void s;
  return `${world.prefix.slice(0, 12)}${world.runs.toString(36)}g${generation}`.slice(0, 20);
}

export function settingsFor(world: World, spec: EstateSpec, s: Schedule, phase: "faulty" | "recovery", generation = 0): Record<string, string> {
  const env: Record<string, string> = {
    AzureWebJobsStorage: world.connectionString,
    REMEDIATOR_STORAGE_PREFIX: storagePrefix(world, s, generation),
    ARM_ENDPOINT: world.emu.armEndpoint,
    ARM_CA_FILE: world.emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    REMEDIATOR_MODE: s.mode,
    REMEDIATOR_DEBOUNCE_SECONDS: "0",
    ARM_MAX_RETRIES: String(phase === "faulty" ? s.armMaxRetries : 1),
    KEY_VAULT_URL: world.emu.keyVaults[spec.vaultName] as string,
    KEY_VAULT_RESOURCE_ID: spec.vaultResourceId,
    LOG_LEVEL: "debug",
    // client-side ARM pacing off (the emulator does not throttle here): a 429 would otherwise slow the whole schedule to the refill rate
    ARM_PACING: "false",
  };
  if (!s.discoverSubscriptions && spec.scope.subscriptions.length > 0) env["REMEDIATOR_SUBSCRIPTIONS"] = spec.scope.subscriptions.join(",");
  if (spec.scope.resourceGroups.length > 0) env["REMEDIATOR_RESOURCE_GROUPS"] = spec.scope.resourceGroups.join(",");
  if (phase === "faulty" && s.writeBudget !== undefined) env["REMEDIATOR_MAX_WRITES_PER_SERVICE"] = String(s.writeBudget);
  return env;
}

/** Builds a worker the way src/app/runtime.ts does, with storage that can die and logs captured. */
export async function buildWorker(env: Record<string, string>, tracker: MessageTracker, tickets: TicketProvider, logLines: string[], secrets: SecretRegistry, leaseSeconds = 15, extra: { renewEveryMs?: number; clockOffsetMs?: number } = {}): Promise<Worker> {
  const worker: Worker = { deps: undefined as unknown as AppDeps, dead: false, inflight: 0 };
  const dead = () => worker.dead;
  const config = loadConfig(env);
  const clients = createClients(config);
  const base = await openStorage(env, clients.credential);
  const names = storageNames(env);
  const conn = env["AzureWebJobsStorage"] as string;
  const table = (name: string) => mortal(TableClient.fromConnectionString(conn, name, { allowInsecureConnection: true }), dead);
  const storage: AppStorage = {
    evaluateQueue: tracker.track(mortal(base.evaluateQueue, dead), "evaluate"),
    poisonQueue: tracker.track(mortal(base.poisonQueue, dead), "poison"),
    audit: new TableAudit(table(names.tables.audit)),
    compliance: new ComplianceStore(table(names.tables.compliance)),
    inventory: new TableLockInventory(table(names.tables.locks)),
    pending: new PendingMarkers(table(names.tables.pending)),
    leases: new ServiceLeases(mortal(BlobServiceClient.fromConnectionString(conn).getContainerClient(names.leaseContainer), dead), leaseSeconds, { renewEveryMs: extra.renewEveryMs }),
    queueService: base.queueService,
    ticketsTable: table(names.tables.tickets),
    operations: new TableOperationStore(table(names.tables.operations)),
  };
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      logLines.push(...chunk.toString().split("\n").filter((l) => l.length > 0));
      cb();
    },
  });
  const log = createLogger({ level: config.logLevel, registry: secrets, destination });
  const engine = new Engine({ clients, config, audit: storage.audit, inventory: storage.inventory, log, registry: secrets, sleep: () => Promise.resolve(), backoffMs: 1, pollIntervalMs: 5, pollAttempts: 3 });
  // count evaluations in flight, so a dead worker's leftovers can be awaited
  const evaluate = engine.evaluate.bind(engine);
  engine.evaluate = async (...args) => {
    worker.inflight++;
    try {
      return await evaluate(...args);
    } finally {
      worker.inflight--;
    }
  };
  const offset = extra.clockOffsetMs;
  const manager = new TicketManager(tickets, new TableTicketStore(storage.ticketsTable), { scrub: (t) => secrets.scrub(t), log, createsPerMinute: 100_000, ...(offset ? { now: () => Date.now() + offset } : {}) });
  worker.deps = { config, clients, storage, engine, log, debounceSeconds: 0, leaseRetrySeconds: 0, tickets: manager };
  return worker;
}

/** Storage lost its data: queues emptied, table rows and lease blobs gone. */
export async function wipeStorage(world: World, env: Record<string, string>): Promise<void> {
  const names = storageNames(env);
  const conn = world.connectionString;
  const base = await openStorage(env, new LocalTokenCredential(AUDITOR));
  await Promise.all([base.evaluateQueue.clearMessages(), base.poisonQueue.clearMessages()]);
  await Promise.all(
    Object.values(names.tables).map(async (name) => {
      const t = TableClient.fromConnectionString(conn, name, { allowInsecureConnection: true });
      const rows: Array<{ partitionKey: string; rowKey: string }> = [];
      for await (const e of t.listEntities<Record<string, unknown>>({ queryOptions: { select: ["PartitionKey", "RowKey"] } })) rows.push({ partitionKey: String(e.partitionKey), rowKey: String(e.rowKey) });
      await Promise.all(rows.map((r) => t.deleteEntity(r.partitionKey, r.rowKey).catch(() => undefined)));
    }),
  );
  await expireLeases(world, env, true);
}

/** Time passes: every lease expires (and, with `remove`, the lease blobs go too). */
export async function expireLeases(world: World, env: Record<string, string>, remove = false): Promise<void> {
  const container = BlobServiceClient.fromConnectionString(world.connectionString).getContainerClient(storageNames(env).leaseContainer);
  const blobs: string[] = [];
  for await (const b of container.listBlobsFlat()) blobs.push(b.name);
  await Promise.all(
    blobs.map(async (name) => {
      const blob = container.getBlockBlobClient(name);
      await blob.getBlobLeaseClient().breakLease(0).catch(() => undefined);
      if (remove) await blob.delete().catch(() => undefined);
    }),
  );
}

/** Reads every in-scope service as the auditor (never the remediator) and detects with every rule. */
export async function auditorFindings(auditor: AzureClients, spec: EstateSpec, config: Config) {
  const { collectSnapshot } = await import("../../src/azure/collector.js");
  const { detect, needsOf } = await import("../../src/engine/scan.js");
  const { RULES } = await import("../../src/remediations/index.js");
  const { ruleOptions } = await import("../../src/engine/engine.js");
  const rules = [...RULES];
  const snaps = await Promise.all(spec.services.filter((x) => inScope(x, spec.scope)).map((id) => collectSnapshot(auditor, id, needsOf(rules))));
  return detect(snaps, rules, ruleOptions(config));
}

export function outOfScopeState(world: World, spec: EstateSpec): string {
  world.emu.arm.settleAll();
  const dump = world.emu.store.dump().filter((r) => !inScope(String(r["id"]), spec.scope));
  // APIM re-resolves Key Vault references by itself: the time of the last attempt is not a change
  const strip = (p: unknown) => JSON.parse(JSON.stringify(p ?? null, (k, v: unknown) => (k === "timeStampUtc" ? undefined : v))) as unknown;
  return JSON.stringify(dump.map((r) => ({ id: r["id"], etag: r["etag"], properties: strip(r["properties"]), identity: r["identity"], tags: r["tags"] })).sort((a, b) => String(a.id).localeCompare(String(b.id))));
}

async function waitForVault(world: World, name: string): Promise<void> {
  for (let i = 0; i < 200 && !world.emu.keyVaults[name]; i++) await sleep(10);
  if (!world.emu.keyVaults[name]) throw new Error(`vault ${name} did not start`);
}

const QUEUE_DRAIN_CALLS = 12;

/** Drains until the queue is empty (messages a lease deferred come straight back). */
async function drainAll(worker: Worker, outcomes: EvaluateOutcome[]): Promise<{ writes: number; failed: number; deferred: number; processed: number }> {
  const tally = { writes: 0, failed: 0, deferred: 0, processed: 0 };
  for (let i = 0; i < QUEUE_DRAIN_CALLS; i++) {
    const r = await drainQueue(worker.deps, { maxDequeueCount: MAX_DEQUEUE, visibilityTimeout: 30, maxRounds: 20 });
    outcomes.push(...r.outcomes);
    tally.failed += r.failed;
    tally.processed += r.processed;
    for (const o of r.outcomes) {
      if (o.kind === "evaluated") tally.writes += o.result.writes;
      else if (o.kind === "deferred" || o.kind === "lease-lost") tally.deferred++;
    }
    const left = (await worker.deps.storage.evaluateQueue.getProperties()).approximateMessagesCount ?? 0;
    if (left === 0) break;
    if (r.processed === 0 && r.failed === 0) await sleep(20);
  }
  return tally;
}

export async function runSchedule(world: World, s: Schedule): Promise<RunObservations> {
  const timings: Array<[string, number]> = [];
  let lastMark = Date.now();
  const mark = (step: string) => {
    const now = Date.now();
    timings.push([step, now - lastMark]);
    lastMark = now;
  };
  const rng = new Rng(s.seed).fork("run");
  const spec = s.estate === "demo" ? demoEstate(new Rng(s.seed).fork("estate"), { breakReference: s.breakReference }) : generatedEstate(new Rng(s.seed).fork("estate"), { services: s.generatedServices });
  world.emu.reset(spec.resources);
  world.emu.reseed(s.seed);
  world.runs++;
  await waitForVault(world, spec.vaultName);
  mark("reset");
  const logLines: string[] = [];
  // one process-wide registry per schedule (a worker process sees one estate's secrets)
  const registry = new SecretRegistry();
  const errors: string[] = [];
  const tracker = new MessageTracker();
  const memory = new MemoryTicketProvider();
  const flaky = new FlakyTickets(memory, rng.fork("tickets"));
  const outcomes: EvaluateOutcome[] = [];
  const userWrites = new Map<string, { field: string; value: unknown }>();
  const midViolations: string[] = [];

  let generation = 0;
  let faultyEnv = settingsFor(world, spec, s, "faulty", generation);
  let recoveryEnv = settingsFor(world, spec, s, "recovery", generation);
  const envs = [faultyEnv];
  /** Storage lost its data (an in-memory Azurite restarted): the app starts over on empty storage. */
  const loseStorage = () => {
    generation++;
    faultyEnv = settingsFor(world, spec, s, "faulty", generation);
    recoveryEnv = settingsFor(world, spec, s, "recovery", generation);
    envs.push(faultyEnv);
    tracker.wipeAll();
  };
  const config = loadConfig(faultyEnv);
  const auditor = createClients(loadConfig({ ARM_ENDPOINT: world.emu.armEndpoint, ARM_CA_FILE: world.emu.caFile, REMEDIATOR_PRINCIPAL_ID: AUDITOR, ARM_MAX_RETRIES: "0" }));
  const user = createClients(loadConfig({ ARM_ENDPOINT: world.emu.armEndpoint, ARM_CA_FILE: world.emu.caFile, REMEDIATOR_PRINCIPAL_ID: PORTAL_USER, ARM_MAX_RETRIES: "0" }));

  const before = await auditorFindings(auditor, spec, config);
  const outOfScopeBefore = outOfScopeState(world, spec);
  mark("before");
  world.emu.log.clear();
  world.emu.events.clear();

  // overlapping workers: a slow ticket system, leases renewed often (so a lost one is noticed within a schedule)
  const slow = s.overlap ? new SlowTickets(flaky, s.overlap.ticketDelayMs) : undefined;
  const renewEveryMs = s.overlap ? 100 : undefined;
  let worker = await buildWorker(faultyEnv, tracker, slow ?? flaky, logLines, registry, 15, { renewEveryMs });
  flaky.failRate = s.ticketOutage;
  mark("worker");

  // Event Grid -> onResourceEvent, for whichever worker is alive
  const pendingEvents: Array<Promise<unknown>> = [];
  const unsubscribe = s.events
    ? world.emu.events.on((e: EventGridEvent) => {
        const w = worker;
        pendingEvents.push(handleEvents(e, w.deps).catch((err: Error) => errors.push(`handleEvents: ${err.message}`)));
      })
    : () => undefined;
  const flushEvents = async () => {
    while (pendingEvents.length > 0) await Promise.all(pendingEvents.splice(0));
  };

  // faults (the crash first, so it counts every request)
  if (s.crashAfter !== undefined) world.emu.faults.add({ id: "crash", reset: true, after: s.crashAfter });
  for (const f of s.faults) world.emu.faults.add({ ...f.rule });
  const crashFired = () => (world.emu.faults.list().find((f) => f.id === "crash")?.fired ?? 0) > 0;
  const checkCrash = () => {
    if (!worker.dead && crashFired()) worker.dead = true;
    return worker.dead;
  };
  const crashWatch = s.crashAfter !== undefined ? setInterval(checkCrash, 2) : undefined;

  // a portal user editing API descriptions meanwhile (real ETag changes)
  let writerDone = Promise.resolve();
  let stopWriter = false;
  if (s.concurrentWriter) {
    const wrng = rng.fork("writer");
    // API descriptions and named value tags: fields no remediation owns, so every one of them must survive
    const targets = spec.resources.filter((r) => /^Microsoft\.ApiManagement\/service\/(apis|namedValues)$/i.test(String(r["type"])) && !String(r["name"]).includes(";rev=") && inScope(String(r["id"]), spec.scope));
    writerDone = (async () => {
      for (let i = 0; i < 8 && !stopWriter && targets.length > 0; i++) {
        await sleep(wrng.int(0, 40));
        if (stopWriter || crashFired()) break;
        const target = wrng.pick(targets);
        const id = String(target["id"]);
        const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ApiManagement\/service\/([^/]+)\/(apis|namedValues)\/([^/]+)$/i.exec(id);
        if (!m) continue;
        const [sub, rg, svc, kind, name] = m.slice(1) as [string, string, string, string, string];
        const mark = `user-${i}-${wrng.hex(6)}`;
        const from = world.emu.log.list().length;
        try {
          if (kind.toLowerCase() === "apis") await user.apim(sub).api.update(rg, svc, name, "*", { description: mark });
          else await user.apim(sub).namedValue.beginUpdateAndWait(rg, svc, name, "*", { tags: ["rel", mark] }, { updateIntervalInMs: 5 });
        } catch {
          // the user saw an error: the write may still have landed (e.g. a failed poll of a long-running PATCH)
        }
        // what counts is whether the emulator applied it: a PATCH of the user answered 2xx by the emulator itself (not by an injected fault)
        const landed = world.emu.log
          .list()
          .slice(from)
          .some((l) => l.method === "PATCH" && l.status >= 200 && l.status < 300 && !l.fault && (l.principal ?? "").replace(/-/g, "") === PORTAL_USER.replace(/-/g, "") && l.path.split("?")[0]?.toLowerCase() === id.toLowerCase());
        if (landed) userWrites.set(id.toLowerCase(), kind.toLowerCase() === "apis" ? { field: "description", value: mark } : { field: "tags", value: ["rel", mark] });
      }
    })();
  }

  // overlapping workers: a second worker sweeps and drains alongside; once the trigger is reached every lease is broken
  const overlap = s.overlap ? { leasesBroken: false, leaseLost: 0 } : undefined;
  let overlapping: Promise<unknown> = Promise.resolve();
  let breakWatch: ReturnType<typeof setInterval> | undefined;
  if (s.overlap && slow && overlap) {
    const o = s.overlap;
    const second = await buildWorker(faultyEnv, tracker, slow, logLines, registry, 15, { renewEveryMs });
    const remediatorWrites = () => world.emu.log.list().filter((l) => l.method !== "GET" && (l.principal ?? "").replace(/-/g, "").toLowerCase() === REMEDIATOR.replace(/-/g, "")).length;
    let breaking = false;
    breakWatch = setInterval(() => {
      if (breaking || (o.breakOn === "ticket" ? slow.calls : remediatorWrites()) <= o.after) return;
      breaking = true;
      clearInterval(breakWatch);
      void expireLeases(world, faultyEnv).then(
        () => (overlap.leasesBroken = true),
        (e: Error) => errors.push(`breaking leases: ${e.message}`),
      );
    }, 5);
    overlapping = (async () => {
      try {
        await sweep(second.deps, `sweep-${s.seed}-second`);
      } catch (e) {
        errors.push(`sweep: ${(e as Error).message}`);
      }
      await drainAll(second, outcomes);
    })().catch((e: Error) => errors.push(`second worker: ${e.message}`));
  }

  // ---- the faulty phase: one sweep, then drain until the queue is empty (or the worker dies)
  try {
    try {
      await sweep(worker.deps, `sweep-${s.seed}-a`);
    } catch (e) {
      errors.push(`sweep: ${(e as Error).message}`);
    }
    await flushEvents();
    await drainAll(worker, outcomes);
    if (s.wipe === "mid-run" && !checkCrash()) {
      await flushEvents();
      loseStorage();
      worker = await buildWorker(faultyEnv, tracker, flaky, logLines, registry);
      try {
        await sweep(worker.deps, `sweep-${s.seed}-b`);
      } catch (e) {
        errors.push(`sweep: ${(e as Error).message}`);
      }
      await drainAll(worker, outcomes);
    }
    await flushEvents();
    if (!checkCrash()) await drainAll(worker, outcomes);
  } catch (e) {
    errors.push(`worker: ${(e as Error).message}`);
    if (!(e instanceof WorkerCrashed) && !checkCrash()) throw e;
  }
  await overlapping;
  if (breakWatch) clearInterval(breakWatch);
  if (overlap) {
    await drainAll(worker, outcomes);
    overlap.leaseLost = outcomes.filter((o) => o.kind === "lease-lost").length;
  }
  stopWriter = true;
  await writerDone;
  mark("faulty phase");
  const crashed = checkCrash();
  if (crashed) {
    // whatever the dead worker still had running finishes (and fails) before anything restarts
    for (let i = 0; i < 1000 && worker.inflight > 0; i++) await sleep(5);
    await sleep(20);
    await flushEvents();
  }
  if (crashWatch) clearInterval(crashWatch);

  // ---- restart: faults gone; time passes (leases expire, in-flight messages reappear); maybe storage lost
  const faultsFired = world.emu.faults.list().filter((f) => f.id !== "crash").reduce((a, f) => a + f.fired, 0);
  const firedBySite: Record<string, number> = {};
  for (const f of s.faults) {
    const fired = world.emu.faults.list().find((x) => x.id === f.rule.id)?.fired ?? 0;
    if (fired > 0) firedBySite[`${f.kind}@${f.site}`] = (firedBySite[`${f.kind}@${f.site}`] ?? 0) + fired;
  }
  world.emu.faults.clear();
  flaky.failRate = 0;
  await flushEvents();
  if (crashed) {
    for (const m of tracker.inFlight()) m.crashed = true;
    await expireLeases(world, faultyEnv);
    const base = await openStorage(faultyEnv, new LocalTokenCredential(AUDITOR));
    for (const m of tracker.inFlight()) if (m.popReceipt) await base.evaluateQueue.updateMessage(m.id, m.popReceipt, undefined, 0).catch(() => undefined);
  }
  if (s.wipe === "at-restart") {
    loseStorage();
  }
  midViolations.push(...(await import("./invariants.js")).checkRecoverable(world, spec, memory, "after the faulty phase"));
  worker = await buildWorker(recoveryEnv, tracker, flaky, logLines, registry, 15, { clockOffsetMs: RESTART_CLOCK_MS });
  mark("restart");

  // ---- recovery: evaluations until quiet (bounded)
  let quiet = false;
  let rounds = 0;
  await drainAll(worker, outcomes);
  const roundNotes: string[] = [];
  for (rounds = 1; rounds <= 5 && !quiet; rounds++) {
    const seen = outcomes.length;
    const logMark = world.emu.log.list().length;
    await sweep(worker.deps, `sweep-${s.seed}-r${rounds}`);
    await flushEvents();
    const t = await drainAll(worker, outcomes);
    await flushEvents();
    const left = (await worker.deps.storage.evaluateQueue.getProperties()).approximateMessagesCount ?? 0;
    // quiet: no write of the remediator landed (a write ARM refuses, e.g. under a ReadOnly lock, changes nothing)
    const landed = world.emu.log.list().slice(logMark).filter((l) => !isRead(l) && l.status >= 200 && l.status < 300 && (l.principal ?? "").replace(/-/g, "").toLowerCase() === REMEDIATOR.replace(/-/g, "")).length;
    quiet = landed === 0 && t.failed === 0 && t.deferred === 0 && left === 0;
    roundNotes.push(`round ${rounds}: ${JSON.stringify({ ...t, left, landed })} ${outcomes.slice(seen).flatMap((o) => (o.kind === "evaluated" ? o.result.actions.filter((a) => a.writes > 0 || a.outcome === "failed").map((a) => `${a.ruleId}:${a.outcome}:${a.writes}:${a.resourceId.split("/").slice(-2).join("/")}:${a.reason ?? ""}`) : [`deferred:${o.reason}`])).join(" | ")}`);
  }
  await flushEvents();
  unsubscribe();
  mark("recovery");

  return { schedule: s, spec, envs, recoveryEnv, config: loadConfig(recoveryEnv), before, outOfScopeBefore, logLines, errors, tracker, tickets: memory, outcomes, userWrites, quiet, recoveryRounds: rounds - 1, crashed, midViolations, rounds: roundNotes, faultsFired, firedBySite, timings, overlap };
}

export { TABLES };
