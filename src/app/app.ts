/**
 * What the Functions do, as plain functions over injected dependencies: take
 * resource events, sweep, evaluate one queued service, record poison
 * messages, and report. `src/functions/*` only adapt triggers to these.
 */
import { randomUUID } from "node:crypto";
import { EventGridDeserializer } from "@azure/eventgrid";
import { parseServiceId } from "../model/arm.js";
import { apiScopeOf, type DataNeed, type EvaluationScope } from "../model/snapshot.js";
import { RULES, type Rule } from "../remediations/index.js";
import type { AzureClients } from "../azure/clients.js";
import type { Config } from "../common/config.js";
import { discoverServices, NOT_CANONICAL, scopeRefusal } from "../azure/discovery.js";
import { mapLimit, probeApiCounts } from "../azure/collector.js";
import { Engine, type EngineLogger, type EvaluationResult } from "../engine/engine.js";
import { driftsToTicket, exemptedFingerprints, type TicketManager } from "../tickets/manager.js";
import { encodeMessage, MAX_ROW_CHARS, LeaseBusyError, LeaseLostError, type AppStorage, type EarlyTake, type EvaluateMessage } from "./storage.js";
import { COMPLIANCE_SUMMARY_MSG, postureSummary } from "./posture.js";
import { orderSweep, sizesUnknown } from "./sweep-order.js";
import { errorLine } from "../common/logger.js";
import { chunkStep, noteOperations, parseChunkRef, splitStep, type ChunkStore } from "./chunks.js";
import { SplitRequired } from "../engine/chunks.js";
import type { ApiBudget } from "./api-budget.js";
import { cheapRules, decideSweepRead, noteEvaluation, rowFingerprint, type FreshnessStore, type SweepRead } from "./freshness.js";

export { scopeRefusal };

export interface AppDeps {
  config: Config;
  clients: AzureClients;
  storage: AppStorage;
  engine: Engine;
  log: EngineLogger;
  /** Debounce window for coalescing events (seconds). */
  debounceSeconds: number;
  /** Delay before retrying a service whose lease another worker holds (seconds). */
  leaseRetrySeconds?: number;
  /** Ticketing of drifts not fixed automatically (absent when TICKET_PROVIDER is none). */
  tickets?: TicketManager;
  /**
   * First delay before checking a long-running operation again (seconds, default 60); doubled per
   * check up to 10 minutes. The check is a delayed queue message (visibilityTimeout).
   */
  operationRecheckSeconds?: number;
  /** Fingerprints of the last full evaluations (src/app/freshness.ts): a sweep gives an unchanged service the cheap check only. Absent: every sweep reads in full. */
  freshness?: FreshnessStore;
  /** The parts of chunked evaluations (src/app/chunks.ts). Absent: every service is one evaluation, however big. */
  chunks?: ChunkStore;
  /** APIs this instance's evaluations may hold at once (src/app/api-budget.ts). Absent: no bound. */
  apiBudget?: ApiBudget;
  /**
   * A sweep reads the API counts of the services it will read in full without knowing their size only when there
   * are more of them than this (default SIZE_PROBE_ABOVE): no more than one instance runs at once all start
   * together, so their order buys nothing and the reads would be spent for nothing.
   */
  sizeProbeAbove?: number;
}

/** The delay before the next check of an operation checked `polls` times so far. */
export function recheckDelaySeconds(base: number, polls: number): number {
  return Math.min(base * 2 ** Math.min(polls, 10), Math.max(base, 600));
}

const RESOURCE_EVENTS = new Set(["Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceDeleteSuccess", "Microsoft.Resources.ResourceActionSuccess"]);
const SERVICE_PREFIX = /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.apimanagement\/service\/[^/]+/i;

export interface EventDecision {
  accepted: boolean;
  reason: string;
  serviceId?: string;
  changedResourceId?: string;
  enqueued?: boolean;
}

interface NormalizedEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  subject?: string;
}

/** Validates Event Grid or CloudEvents input with @azure/eventgrid; returns the events or throws with the reason. */
export async function parseEvents(input: unknown): Promise<NormalizedEvent[]> {
  const des = new EventGridDeserializer();
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw new Error("no events in the payload");
  const first = list[0] as Record<string, unknown> | null;
  if (!first || typeof first !== "object") throw new Error("the payload is not an event object");
  if ("specversion" in first || "specVersion" in first) {
    // the attribute is `specversion`; some published samples spell it `specVersion`
    const fixed = list.map((e: unknown) => (e && typeof e === "object" && !("specversion" in e) && "specVersion" in e ? (({ specVersion, ...rest }) => ({ ...rest, specversion: specVersion }))(e as Record<string, unknown>) : e));
    const events = await des.deserializeCloudEvents(JSON.stringify(fixed));
    return events.map((e) => ({ id: e.id, type: e.type, data: (e.data ?? {}) as Record<string, unknown>, subject: e.subject }));
  }
  const events = await des.deserializeEventGridEvents(JSON.stringify(list));
  return events.map((e) => ({ id: e.id, type: e.eventType, data: (e.data ?? {}) as Record<string, unknown>, subject: e.subject }));
}

function callerOf(data: Record<string, unknown>): string | undefined {
  const evidence = ((data["authorization"] as Record<string, unknown> | undefined)?.["evidence"] ?? {}) as Record<string, unknown>;
  const claims = (data["claims"] ?? {}) as Record<string, unknown>;
  const oid = claims["http://schemas.microsoft.com/identity/claims/objectidentifier"] ?? claims["oid"] ?? evidence["principalId"];
  return typeof oid === "string" ? oid : undefined;
}

const normGuid = (s: string) => s.replace(/-/g, "").toLowerCase();

/** Decides what one event means; pure, so it can be fuzzed. */
export function decide(event: NormalizedEvent, config: Pick<Config, "subscriptions" | "resourceGroups" | "principalId">): EventDecision {
  if (!RESOURCE_EVENTS.has(event.type)) return { accepted: false, reason: `event type ${event.type} is not a resource event` };
  const uri = event.data["resourceUri"];
  const op = event.data["operationName"];
  if (typeof uri !== "string" || uri.length === 0 || uri.length > 2048) return { accepted: false, reason: "data.resourceUri is missing or invalid" };
  if (typeof op !== "string") return { accepted: false, reason: "data.operationName is missing" };
  // ARM ids never hold encoded characters, dot segments, empty segments or whitespace: such ids are crafted
  if (NOT_CANONICAL.test(uri)) return { accepted: false, reason: "data.resourceUri is not a canonical ARM id" };
  const m = SERVICE_PREFIX.exec(uri);
  if (!m) return { accepted: false, reason: "not an API Management resource" };
  const isLock = /\/providers\/Microsoft\.Authorization\/locks(\/|$)/i.test(uri);
  if (!/^Microsoft\.ApiManagement\/service(\/|$)/i.test(op) && !(isLock && /^Microsoft\.Authorization\/locks\//i.test(op))) {
    return { accepted: false, reason: `operation ${op} is not an API Management or lock operation` };
  }
  const service = parseServiceId(m[0]);
  if (!service) return { accepted: false, reason: "not an API Management resource" };
  const refused = scopeRefusal(service.id, config);
  if (refused) return { accepted: false, reason: refused };
  const caller = callerOf(event.data);
  if (caller && config.principalId && normGuid(caller) === normGuid(config.principalId)) return { accepted: false, reason: "caused by the remediator itself" };
  return { accepted: true, reason: "ok", serviceId: service.id, changedResourceId: uri };
}

/** Which data a change to this resource can affect: the collection right under the service, or locks. */
export function needsForChange(serviceId: string, changedResourceId: string): DataNeed[] | "all" {
  const rest = changedResourceId.slice(serviceId.length).split("/").filter((x) => x.length > 0).map((x) => x.toLowerCase());
  if (rest.length === 0) return "all";
  if (rest[0] === "providers" && rest[1] === "microsoft.authorization" && rest[2] === "locks") return ["locks"];
  const map: Record<string, DataNeed[]> = {
    apis: ["apis", "apiRevisions", "apiPolicies", "operationPolicies"],
    namedvalues: ["namedValues"],
    tenant: ["tenantAccess", "gitAccess"],
    backends: ["backends"],
    subscriptions: ["subscriptions"],
    products: ["products", "productApis", "productPolicies"],
    policies: ["policies"],
  };
  return map[rest[0] as string] ?? "all";
}

/** The rules to run for a set of changed resources (all rules for sweeps and unknown changes). */
export function rulesForChanges(serviceId: string, changed: string[] | "all"): Rule[] {
  if (changed === "all") return [...RULES];
  const needs = new Set<DataNeed>();
  for (const c of changed) {
    const n = needsForChange(serviceId, c);
    if (n === "all") return [...RULES];
    n.forEach((x) => needs.add(x));
  }
  return RULES.filter((r) => r.meta.needs.some((n) => needs.has(n)));
}

/** At most this many APIs are read one by one in a scoped evaluation; more changes read the whole list. */
export const MAX_SCOPED_APIS = 10;

/**
 * When every change is an API (or something under one: a revision, an
 * operation, a policy), the evaluation reads and judges only those APIs.
 * Anything else (and sweeps) evaluates the whole service.
 */
export function scopeForChanges(serviceId: string, changed: string[] | "all"): EvaluationScope | undefined {
  if (changed === "all" || changed.length === 0) return undefined;
  const apis = new Set<string>();
  for (const c of changed) {
    const own = apiScopeOf(serviceId, c);
    if (!own) return undefined;
    apis.add(own.apis[0] as string);
  }
  return apis.size > MAX_SCOPED_APIS ? undefined : { apis: [...apis].sort() };
}

/** True when a change names the service resource itself (its properties, tags, or an action on it). */
export function namesService(serviceId: string, changed: string[] | "all"): boolean {
  return changed !== "all" && changed.some((c) => c.replace(/\/+$/, "").toLowerCase() === serviceId.toLowerCase());
}

/** onResourceEvent: validate, filter, scope-check, map, coalesce, enqueue. Never throws for bad input. */
export async function handleEvents(input: unknown, deps: AppDeps): Promise<EventDecision[]> {
  let events: NormalizedEvent[];
  try {
    events = await parseEvents(input);
  } catch (e) {
    const d = { accepted: false, reason: `malformed event: ${(e as Error).message.split("\n")[0]?.slice(0, 200)}` };
    deps.log.warn({ reason: d.reason }, "event dropped");
    return [d];
  }
  const out: EventDecision[] = [];
  for (const ev of events) {
    const d = decide(ev, deps.config);
    if (!d.accepted || !d.serviceId || !d.changedResourceId) {
      deps.log.info({ eventId: ev.id, reason: d.reason }, "event ignored");
      out.push(d);
      continue;
    }
    const claimed = await deps.storage.pending.claim(d.serviceId, d.changedResourceId, (deps.debounceSeconds + 300) * 1000);
    if (claimed) {
      const msg: EvaluateMessage = { serviceId: d.serviceId, reason: "event", changedResourceId: d.changedResourceId, operationName: String(ev.data["operationName"]), correlationId: ev.id, enqueuedAt: new Date().toISOString() };
      await deps.storage.evaluateQueue.sendMessage(encodeMessage(msg), { visibilityTimeout: deps.debounceSeconds });
    }
    deps.log.info({ eventId: ev.id, serviceId: d.serviceId, coalesced: !claimed }, "event accepted");
    out.push({ ...d, enqueued: claimed });
  }
  return out;
}

/** sweep: one message per service in scope. */
/** Queue sends in flight while a sweep enqueues its services. */
const SWEEP_SEND_CONCURRENCY = 16;
/** API-count reads in flight before a sweep is sent (each paced per subscription like any ARM read), and how long they may take in all. */
const SIZE_PROBE_CONCURRENCY = 32;
const SIZE_PROBE_DEADLINE_MS = 60_000;
/** Messages one instance of the queue trigger runs at once: host.json's batchSize (16) + newBatchThreshold (8). */
export const SIZE_PROBE_ABOVE = 24;

export async function sweep(deps: AppDeps, correlationId = `sweep-${randomUUID()}`): Promise<string[]> {
  const services = (await discoverServices(deps.clients, deps.config, { log: deps.log })).map((s) => ({ ...s, fingerprint: rowFingerprint(s.row, s.etag) }));
  // the longest evaluations first (by the freshness rows: src/app/sweep-order.ts), each group round-robin by subscription: the queue
  // trigger's batches evaluate several subscriptions at once, each at its own ARM refill; sent SWEEP_SEND_CONCURRENCY at a time
  // (one at a time, 5,000 services took minutes of queue round trips before the last was queued)
  const states = deps.freshness
    ? await deps.freshness.states().catch((e: unknown) => {
        deps.log.warn({ correlationId, err: errorLine(e) }, "freshness rows unreadable: the sweep is sent round-robin by subscription");
        return undefined;
      })
    : undefined;
  // services it will read in full without knowing their size (the first sweep: all of them): one read each of their
  // API count, so the biggest go first in the first sweep too (src/azure/collector.ts countApis); only when there are
  // more than one instance starts at once (the single-subscription bench's 10 services: no probe, no extra call)
  const now = new Date();
  const unsized = sizesUnknown(services, states, now, deps.config.fullSweepHours);
  let probed = new Map<string, number>();
  if (unsized.length > (deps.sizeProbeAbove ?? SIZE_PROBE_ABOVE)) {
    const p = await probeApiCounts(deps.clients, unsized.map((s) => s.id), { concurrency: SIZE_PROBE_CONCURRENCY, deadlineMs: SIZE_PROBE_DEADLINE_MS });
    probed = p.sizes;
    const log = p.failed + p.late > 0 ? deps.log.warn.bind(deps.log) : deps.log.info.bind(deps.log);
    log({ correlationId, probed: unsized.length, sized: p.sizes.size, failed: p.failed, late: p.late }, p.failed + p.late > 0 ? "sweep: some services' API counts were not read; they are sent after the sized ones" : "sweep: API counts read for the services of unknown size");
  }
  await mapLimit(orderSweep(services, states, now, deps.config.fullSweepHours, probed), SWEEP_SEND_CONCURRENCY, async (s) => {
    // a Resource Graph row travels with the message: the worker judges the service-level rules from it (a hint: fixes read ARM)
    const row = s.row && JSON.stringify(s.row).length <= MAX_ROW_CHARS ? s.row : undefined;
    const msg: EvaluateMessage = { serviceId: s.id, reason: "sweep", correlationId, enqueuedAt: new Date().toISOString(), ...(row ? { row } : {}), ...(s.fingerprint ? { fingerprint: s.fingerprint } : {}) };
    await deps.storage.evaluateQueue.sendMessage(encodeMessage(msg));
  });
  deps.log.info({ correlationId, services: services.length }, "sweep enqueued");
  return services.map((s) => s.id);
}

/** Queue payloads arrive base64-decoded and JSON-parsed by the host, or as raw strings. */
export function parseMessage(payload: unknown): EvaluateMessage {
  let value = payload;
  if (typeof value === "string") {
    const text = value.trim().startsWith("{") ? value : Buffer.from(value, "base64").toString("utf8");
    value = JSON.parse(text);
  }
  const m = value as Partial<EvaluateMessage> | null;
  if (!m || typeof m !== "object" || typeof m.serviceId !== "string" || !parseServiceId(m.serviceId)) throw new Error("queue message without a valid serviceId");
  // a row is kept only for the service the message names (src/engine/engine.ts judges from it, never fixes from it)
  const row = m.row && typeof m.row === "object" && typeof m.row.id === "string" && m.row.id.toLowerCase() === m.serviceId.toLowerCase() && m.row.properties && typeof m.row.properties === "object" ? m.row : undefined;
  return { serviceId: m.serviceId, reason: m.reason ?? "manual", changedResourceId: m.changedResourceId, operationName: m.operationName, correlationId: m.correlationId ?? randomUUID(), enqueuedAt: m.enqueuedAt ?? new Date().toISOString(), ...(row ? { row } : {}), ...(typeof m.fingerprint === "string" && m.fingerprint.length <= 200 ? { fingerprint: m.fingerprint } : {}), ...chunkOf(m) };
}

/** A page of a chunked evaluation (src/app/chunks.ts); kept when the message comes back as a retry (its lease was busy or lost). */
function chunkOf(m: Partial<EvaluateMessage>): Pick<EvaluateMessage, "chunk"> {
  const chunk = parseChunkRef(m.chunk);
  if (m.reason === "chunk" && !chunk) throw new Error("queue message of reason chunk without a valid chunk (plan, index, of, apis)");
  return chunk ? { chunk } : {};
}

/**
 * - refused: the message names a service out of scope (dropped, nothing read);
 * - lease-lost: the service's lease was lost mid-evaluation; nothing was written after the loss and the message went back to the queue.
 */
export type EvaluateOutcome =
  | { kind: "evaluated"; result: EvaluationResult }
  | { kind: "deferred"; reason: string }
  | { kind: "gone"; reason: string }
  | { kind: "nothing"; reason: string }
  | { kind: "refused"; reason: string }
  | { kind: "lease-lost"; reason: string };

/** True when ARM says the service does not exist (deleted, or never there): a 404 on the service itself. */
async function serviceGone(deps: AppDeps, serviceId: string): Promise<boolean> {
  const ref = parseServiceId(serviceId);
  if (!ref) return false;
  try {
    await deps.clients.apim(ref.subscriptionId).apiManagementService.get(ref.resourceGroup, ref.name);
    return false;
  } catch (e) {
    return (e as { statusCode?: number }).statusCode === 404;
  }
}

/** evaluate: lease the service, take the pending changes, evaluate the rules they touch (all for sweeps), record compliance. */
export async function evaluateQueued(payload: unknown, deps: AppDeps): Promise<EvaluateOutcome> {
  const msg = parseMessage(payload);
  // the scope the event path checks: a message for a service out of scope (forged, or left from an earlier setting) is dropped unread
  const refused = scopeRefusal(msg.serviceId, deps.config);
  if (refused) {
    deps.log.warn({ serviceId: msg.serviceId.slice(0, 300), correlationId: msg.correlationId.slice(0, 100), reason: refused }, "evaluation message out of scope: dropped");
    return { kind: "refused", reason: refused };
  }
  const fromMarker = msg.reason === "event" || msg.reason === "pending";
  let followUp = false;
  let tookChanges = false;
  let recheck: number | undefined;
  let retryIn: number | undefined;
  try {
    // the pending marker is read while the lease is being taken (reading is harmless without it); it is removed only under the lease
    const peeked = fromMarker ? deps.storage.pending.peek(msg.serviceId) : undefined;
    peeked?.catch(() => undefined);
    const outcome = await deps.storage.leases.withLease(msg.serviceId, async (lease): Promise<EvaluateOutcome> => {
      // the marker's removal runs alongside the first reads; it is settled before the lease is released
      const taken: EarlyTake = peeked ? await deps.storage.pending.takeEarly(msg.serviceId, peeked) : { changes: undefined, removal: Promise.resolve("removed") };
      const pending = taken.changes;
      // no marker means the removal has nothing to settle
      if (msg.reason === "pending" && pending === undefined) return { kind: "nothing", reason: "the pending changes were taken by another evaluation" };
      const changed: string[] | "all" = fromMarker ? (pending === "all" ? "all" : [...new Set([...(pending ?? []), ...(msg.changedResourceId ? [msg.changedResourceId] : [])])]) : "all";
      // a sweep of a service unchanged since its last full evaluation, with no event since: the cheap check only (src/app/freshness.ts)
      const startedAt = new Date();
      const read: SweepRead | undefined = msg.reason === "sweep" && deps.freshness ? await decideSweepRead({ ...deps, freshness: deps.freshness, pending: deps.storage.pending }, msg, startedAt) : undefined;
      const all = rulesForChanges(msg.serviceId, changed.length === 0 ? "all" : changed);
      let rules = read && !read.full ? cheapRules(all) : all;
      let scope = scopeForChanges(msg.serviceId, changed);
      // a service whose evaluation needs more ARM calls than one message may make is evaluated in parts, one message each (src/app/chunks.ts);
      // for an event naming the service itself too: its service-level rules run first (serviceFirst), before the API list the plan is made
      // on is read, so their fixes are made and audited before the split stops the evaluation, and the service part finds them done
      let step = await chunkStep(msg, deps, rules, scope);
      if (step?.kind === "skip") {
        followUp = (await taken.removal) === "kept";
        return { kind: "nothing" as const, reason: step.reason };
      }
      let part = step?.kind === "run" ? step : undefined;
      let extra = step?.options ?? {};
      if (part) [rules, scope] = [part.rules, part.scope];
      // the engine starts no write once the lease is lost (a renewal refused, or none in time)
      // its API list read, the evaluation waits for room for that many APIs in this instance (src/app/api-budget.ts)
      const run = (withRow: boolean) => {
        const held = deps.apiBudget?.gate(extra.onApiList);
        return deps.engine
          .evaluate(msg.serviceId, { correlationId: msg.correlationId, rules, scope, serviceFirst: namesService(msg.serviceId, changed), signal: lease.signal, ...extra, ...(held ? { onApiList: held.onApiList } : {}), ...(withRow && msg.reason === "sweep" && msg.row ? { row: msg.row } : {}) })
          .then(
            (result) => ({ result }),
            (error: unknown) => ({ error }),
          )
          .finally(() => held?.release());
      };
      let evaluation = await run(true);
      if ("error" in evaluation && evaluation.error instanceof SplitRequired && deps.chunks && !lease.signal.aborted) {
        // the plan, made on the evaluation's own API list read, splits the service (nothing read API by API, nothing written):
        // its service part now, reading the service from ARM (the row's verdicts of the stopped evaluation were audited already)
        step = await splitStep(msg, deps, rules, evaluation.error.plan, deps.chunks);
        if (step.kind === "skip") {
          followUp = (await taken.removal) === "kept";
          return { kind: "nothing" as const, reason: step.reason };
        }
        part = step;
        extra = step.options;
        [rules, scope] = [part.rules, part.scope];
        evaluation = await run(false);
      }
      // kept: the marker changed after it was read (an event added a change and, finding the marker, enqueued nothing)
      const kept = (await taken.removal) === "kept";
      if (lease.signal.aborted) {
        // another worker may hold the service now: this one records nothing more; the message goes back (below)
        followUp = kept;
        tookChanges = pending !== undefined;
        const reason = lease.signal.reason instanceof LeaseLostError ? lease.signal.reason.message : "the service's lease was lost";
        return { kind: "lease-lost" as const, reason };
      }
      if ("error" in evaluation) {
        const e = evaluation.error;
        if ((e as { statusCode?: number }).statusCode === 404 && (await serviceGone(deps, msg.serviceId))) {
          // a deleted service (its delete event, or a message older than the delete) is not a failure to retry into the poison queue:
          // nothing to evaluate; its compliance rows and open tickets go with it, and so do changes that arrived meanwhile
          if (kept) await deps.storage.pending.take(msg.serviceId).catch(() => undefined);
          const all = RULES.map((r) => r.meta.id);
          await deps.storage.compliance.record(msg.serviceId, all, [], msg.correlationId);
          if (deps.tickets) await deps.tickets.sync({ serviceId: msg.serviceId, correlationId: msg.correlationId, rulesEvaluated: all, findings: [], drifts: [] });
          deps.log.info({ serviceId: msg.serviceId, correlationId: msg.correlationId }, "the service no longer exists: nothing to evaluate");
          return { kind: "gone" as const, reason: "the service no longer exists" };
        }
        // the host retries this message, but the changes taken from the marker are not in it: leave a marker that makes the retry evaluate every rule
        // (a marker kept by the removal is the retry's too)
        if (pending !== undefined) await deps.storage.pending.claim(msg.serviceId, msg.serviceId, (deps.debounceSeconds + 300) * 1000).catch(() => undefined);
        throw e;
      }
      const result = evaluation.result;
      followUp = kept;
      await noteOperations(deps, msg, result);
      // findings are what was detected before fixing: a drift fixed (and verified) now is compliant
      const fixed = new Set(result.actions.filter((a) => a.outcome === "applied").map((a) => `${a.ruleId}|${a.resourceId.toLowerCase()}`));
      // a change Azure is still applying is neither failed nor done: "in progress" until a later evaluation verifies it
      const running = new Map(result.actions.filter((a) => a.outcome === "in-progress").map((a) => [`${a.ruleId}|${a.resourceId.toLowerCase()}`, a]));
      const verdicts = result.findings.map((f) => {
        const key = `${f.ruleId}|${f.resourceId.toLowerCase()}`;
        const r = running.get(key);
        if (r) return { ...f, status: "unknown" as const, inProgress: true, message: `In progress: ${r.reason ?? "the remediator's change is being applied"}` };
        return f.status === "fail" && fixed.has(key) ? { ...f, status: "pass" as const, message: `Fixed by the remediator (was: ${f.message})` } : f;
      });
      // a long-running operation this evaluation started, or one a delayed check found still running: check it again later
      // (other evaluations that meet it leave the scheduling to that chain of delayed messages)
      const ops = result.actions.filter((a) => a.inProgress && (a.inProgress.started || msg.reason === "operation"));
      if (ops.length > 0) recheck = recheckDelaySeconds(deps.operationRecheckSeconds ?? 60, Math.min(...ops.map((a) => a.inProgress?.polls ?? 0)));
      // in progress with nothing to poll (a Key Vault grant still taking effect): evaluate every rule again once it may have
      const waiting = result.actions.filter((a) => a.outcome === "in-progress" && !a.inProgress);
      if (waiting.length > 0) retryIn = Math.min(600, deps.operationRecheckSeconds ?? 60);
      await deps.storage.compliance.record(result.serviceId, rules.map((r) => r.meta.id), verdicts, msg.correlationId, scope);
      if (deps.freshness) await noteEvaluation({ ...deps, freshness: deps.freshness, pending: deps.storage.pending }, msg, read, startedAt, result, fromMarker && pending !== undefined);
      if (read) deps.log.info({ serviceId: msg.serviceId, correlationId: msg.correlationId, fullRead: read.full, why: read.reason }, read.full ? "sweep: full read" : "sweep: cheap check only");
      if (deps.tickets) {
        // a ticket system outage never blocks remediation: sync never throws and keeps what it could not deliver pending
        const t = await deps.tickets.sync({
          serviceId: result.serviceId,
          correlationId: msg.correlationId,
          rulesEvaluated: rules.map((r) => r.meta.id),
          findings: result.findings,
          drifts: driftsToTicket(rules, result.findings, result.actions),
          leaveAlone: exemptedFingerprints(result.findings, result.actions),
          scope,
        });
        if (t.errors.length > 0) deps.log.warn({ serviceId: result.serviceId, pending: t.pending.length }, "some tickets were not delivered; retried at the next evaluation");
        result.tickets = t;
      }
      // a part's row says it is done (a redelivery reads nothing); the service part then enqueues the pages
      if (part) await part.finish(result);
      deps.log.info({ serviceId: msg.serviceId, correlationId: msg.correlationId, rules: rules.length, apis: scope?.exclude ? undefined : scope?.apis, ...(part ? { part: msg.chunk ? `${msg.chunk.index}/${msg.chunk.of}` : "service" } : {}), writes: result.writes, actions: result.actions.map((a) => `${a.ruleId}:${a.outcome}`) }, "service evaluated");
      // posture for Application Insights (src/app/posture.ts; traces are not sampled: host.json)
      const partial = scope !== undefined || (changed !== "all" && changed.length > 0);
      deps.log.info({ posture: postureSummary({ serviceId: result.serviceId, trigger: msg.reason, partial, correlationId: msg.correlationId, rulesEvaluated: rules.map((r) => r.meta.id), verdicts, fixed: result.actions.filter((a) => a.outcome === "applied") }) }, COMPLIANCE_SUMMARY_MSG);
      return { kind: "evaluated" as const, result };
    }, deps.log);
    if (outcome.kind === "lease-lost") {
      // not retried by this worker: back to the queue, after the lease holder (changes taken from the marker ride along as "every rule")
      await deps.storage.evaluateQueue.sendMessage(encodeMessage({ ...msg, reason: (fromMarker && !tookChanges) || msg.reason === "operation" ? msg.reason : "retry" }), { visibilityTimeout: deps.leaseRetrySeconds ?? 15 });
      deps.log.warn({ serviceId: msg.serviceId, correlationId: msg.correlationId, reason: outcome.reason }, "evaluation stopped: the service's lease was lost; the message goes back to the queue");
    }
    if (recheck !== undefined) {
      // after the lease is released; the message is invisible until the check is due
      const next: EvaluateMessage = { serviceId: msg.serviceId, reason: "operation", correlationId: randomUUID(), enqueuedAt: new Date().toISOString() };
      await deps.storage.evaluateQueue.sendMessage(encodeMessage(next), { visibilityTimeout: recheck });
      deps.log.info({ serviceId: msg.serviceId, correlationId: next.correlationId, inSeconds: recheck }, "a long-running operation is in progress: checked again later");
    }
    if (retryIn !== undefined) {
      const next: EvaluateMessage = { serviceId: msg.serviceId, reason: "retry", correlationId: randomUUID(), enqueuedAt: new Date().toISOString() };
      await deps.storage.evaluateQueue.sendMessage(encodeMessage(next), { visibilityTimeout: retryIn });
      deps.log.info({ serviceId: msg.serviceId, correlationId: next.correlationId, inSeconds: retryIn }, "a change is waiting for Azure (a grant taking effect): evaluated again later");
    }
    if (followUp) {
      // after the lease is released, so the follow-up does not meet it
      const next: EvaluateMessage = { serviceId: msg.serviceId, reason: "pending", correlationId: randomUUID(), enqueuedAt: new Date().toISOString() };
      await deps.storage.evaluateQueue.sendMessage(encodeMessage(next), { visibilityTimeout: deps.debounceSeconds });
      deps.log.info({ serviceId: msg.serviceId, correlationId: next.correlationId }, "changes that arrived while the evaluation started: enqueued their own evaluation");
    }
    return outcome;
  } catch (e) {
    if (e instanceof LeaseBusyError) {
      // another worker has it: come back later instead of burning a dequeue attempt
      // (a delayed operation check stays one, so its chain of checks goes on)
      await deps.storage.evaluateQueue.sendMessage(encodeMessage({ ...msg, reason: fromMarker || msg.reason === "operation" ? msg.reason : "retry" }), { visibilityTimeout: deps.leaseRetrySeconds ?? 15 });
      return { kind: "deferred", reason: e.message };
    }
    throw e;
  }
}

/** onPoison: the message failed every attempt; audit it and log an error an alert can target. */
export async function recordPoison(payload: unknown, dequeueCount: number | undefined, deps: AppDeps): Promise<void> {
  let serviceId = "unknown";
  let correlationId: string = randomUUID();
  try {
    const m = parseMessage(payload);
    serviceId = m.serviceId;
    correlationId = m.correlationId;
  } catch {
    // an unparseable message is still recorded
  }
  // a pending marker left for this message's retries would swallow the next events (they coalesce into it): remove it
  if (serviceId !== "unknown") await deps.storage.pending.take(serviceId).catch(() => undefined);
  await deps.storage.audit.write({
    time: new Date().toISOString(),
    correlationId,
    actor: deps.config.principalId ?? "unknown",
    mode: deps.config.mode,
    ruleId: "*",
    resourceId: serviceId,
    outcome: "failed",
    reason: `evaluation failed ${dequeueCount ?? "max"} time(s); the message was moved to the poison queue`,
    writes: 0,
  });
  deps.log.error({ serviceId, correlationId, alert: "apim-remediator-poison" }, "evaluation message poisoned");
}

export interface ServiceReport {
  serviceId: string;
  /** The newest verdict's time. */
  evaluatedAt: string;
  /**
   * How old the data behind the verdicts is: `oldestAt`, the oldest verdict's evaluation (a sweep's cheap check
   * re-judges only the service-level rules, so the others keep the time of the last full read); `ageSeconds`, its
   * age when reported; `fullAt`, when the last full read of the service started (when recorded).
   */
  dataAge: { oldestAt: string; ageSeconds: number; fullAt?: string };
  /** `inProgress`: verdicts waiting for a change Azure is still applying (counted apart from unknown). */
  summary: { fail: number; pass: number; unknown: number; inProgress: number };
  /** `evaluatedAt`: the oldest evaluation among the rule's verdicts (the age of its data). */
  rules: Record<string, { status: "fail" | "pass" | "unknown" | "in-progress"; evaluatedAt: string; findings: Array<{ resourceId: string; status: string; message: string }> }>;
}

/** report: latest compliance per service and rule. */
export async function report(deps: AppDeps): Promise<{ services: ServiceReport[] }> {
  const rows = await deps.storage.compliance.list();
  const by = new Map<string, ServiceReport>();
  for (const r of rows) {
    const key = r.serviceId.toLowerCase();
    let s = by.get(key);
    if (!s) by.set(key, (s = { serviceId: r.serviceId, evaluatedAt: r.evaluatedAt, dataAge: { oldestAt: r.evaluatedAt, ageSeconds: 0 }, summary: { fail: 0, pass: 0, unknown: 0, inProgress: 0 }, rules: {} }));
    if (r.evaluatedAt > s.evaluatedAt) s.evaluatedAt = r.evaluatedAt;
    if (r.evaluatedAt < s.dataAge.oldestAt) s.dataAge.oldestAt = r.evaluatedAt;
    const status = r.inProgress ? "in-progress" : r.status;
    if (r.inProgress) s.summary.inProgress++;
    else s.summary[r.status]++;
    const rule = (s.rules[r.ruleId] ??= { status: "pass", evaluatedAt: r.evaluatedAt, findings: [] });
    if (r.evaluatedAt < rule.evaluatedAt) rule.evaluatedAt = r.evaluatedAt;
    rule.findings.push({ resourceId: r.resourceId, status, message: r.message });
    if (status === "fail" || ((status === "unknown" || status === "in-progress") && rule.status === "pass") || (status === "unknown" && rule.status === "in-progress")) rule.status = status;
  }
  const fullAt = deps.freshness ? await deps.freshness.fullTimes().catch(() => new Map<string, string>()) : new Map<string, string>();
  const now = Date.now();
  for (const [key, s] of by) {
    s.dataAge.ageSeconds = Math.max(0, Math.round((now - Date.parse(s.dataAge.oldestAt)) / 1000));
    const full = fullAt.get(key);
    if (full) s.dataAge.fullAt = full;
  }
  return { services: [...by.values()].sort((a, b) => a.serviceId.localeCompare(b.serviceId)) };
}
