/**
 * Chunked evaluation in the Functions app (src/engine/chunks.ts): one queue message per part, each within
 * REMEDIATOR_MESSAGE_BUDGET_SECONDS of ARM calls at ARM's read refill.
 *
 * - A message for the whole service (a sweep, a manual or retried evaluation) plans on its evaluation's own
 *   API list read (no read of its own). Within the budget it is one evaluation, as before, the same reads in
 *   the same order. Otherwise (before any API is read one by one, nothing written) it evaluates the
 *   service part (every service-wide collection and rule, nothing of the APIs), records its verdicts with
 *   that part's scope, writes the plan's pages (their API names) to the chunk table, and enqueues one
 *   message per page, carrying the page's API names (`EvaluateMessage.chunk`).
 * - A page message evaluates its APIs as an event naming them would (a scoped evaluation) and records the
 *   verdicts on those APIs only: the parts' verdicts sit side by side in the compliance table (each resource
 *   lies in one part), so the report reads the merged set as it reads any other. Its share of a verdict that
 *   spans every API is kept in the page's row; once every page is done the merged verdict is recorded.
 * - Each part's row says when it is done: a message delivered again (a crash after its verdicts were
 *   recorded) is acknowledged without reading anything; a crash before that retries that part only (the
 *   queue's redelivery). A retried planning message whose service part is done enqueues the stored pages
 *   again instead of planning anew. Parts take the service's lease one at a time, and share one per-service
 *   write budget (the writes each part made are in its row).
 */
import { createHash } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import { TableClient } from "@azure/data-tables";
import type { ArmResource } from "../model/arm.js";
import type { EvaluationScope } from "../model/snapshot.js";
import type { Finding, Rule } from "../remediations/index.js";
import type { Env } from "../common/config.js";
import { errorLine } from "../common/logger.js";
import { ruleMode, WriteBudget, type EvaluateOptions, type EvaluationResult } from "../engine/engine.js";
import { ASSUMED_OPERATIONS_PER_API, budgetCalls, mergeSpanning, planGate, SPANS_APIS, type ChunkPlan, type LearnedOperations } from "../engine/chunks.js";
import { partOptions, splittable } from "../engine/chunked.js";
import type { AppDeps } from "./app.js";
import { encodeMessage, keyOf, openAppTable, type EvaluateMessage } from "./storage.js";

export const CHUNKS_TABLE = "remediatorchunks";

/** What a page message carries: its plan, its place in it, and its APIs. */
export interface ChunkRef {
  plan: string;
  /** 1..of-1 (0 is the service part, evaluated by the planning message). */
  index: number;
  of: number;
  apis: string[];
}

interface PartRow {
  index: number;
  done: boolean;
  writes: number;
  apis: string[];
  /** This page's share of the verdicts that span every API. */
  spanning: Finding[];
}

const statusOf = (e: unknown) => (e as { statusCode?: number }).statusCode;

/** The row, in each service's partition, that keeps what its evaluations read of its operations (no plan's id: hex). */
const OPERATIONS_ROW = "operations";
/** Characters of the operations row's counts (a table string property holds 64 KiB: 32 K UTF-16 characters). */
const MAX_OPERATIONS_CHARS = 30_000;

/** One row per part of a service's latest plan (partition: the service; row: plan and part); older plans' rows are removed. */
export class ChunkStore {
  readonly operations: OperationCounts;
  constructor(private readonly table: TableClient) {
    this.operations = new OperationCounts(table);
  }

  private static rowKey(plan: string, index: number): string {
    return `${plan}-${String(index).padStart(5, "0")}`;
  }

  async parts(serviceId: string, plan: string): Promise<PartRow[]> {
    const out: PartRow[] = [];
    const from = `${plan}-`;
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${keyOf(serviceId)}' and RowKey ge '${from}' and RowKey lt '${plan}.'` } })) {
      out.push({ index: Number(e["index"]), done: e["done"] === true, writes: Number(e["writes"] ?? 0), apis: JSON.parse(String(e["apis"] ?? "[]")) as string[], spanning: JSON.parse(String(e["spanning"] ?? "[]")) as Finding[] });
    }
    return out.sort((a, b) => a.index - b.index);
  }

  async part(serviceId: string, plan: string, index: number): Promise<PartRow | undefined> {
    try {
      const e = await this.table.getEntity<Record<string, unknown>>(keyOf(serviceId), ChunkStore.rowKey(plan, index));
      return { index, done: e["done"] === true, writes: Number(e["writes"] ?? 0), apis: JSON.parse(String(e["apis"] ?? "[]")) as string[], spanning: JSON.parse(String(e["spanning"] ?? "[]")) as Finding[] };
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async put(serviceId: string, plan: string, row: PartRow): Promise<void> {
    await this.table.upsertEntity({ partitionKey: keyOf(serviceId), rowKey: ChunkStore.rowKey(plan, row.index), index: row.index, done: row.done, writes: row.writes, apis: JSON.stringify(row.apis), spanning: JSON.stringify(row.spanning) }, "Replace");
  }

  /** Removes the rows of the service's other plans. */
  async forgetOthers(serviceId: string, plan: string): Promise<void> {
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${keyOf(serviceId)}'`, select: ["RowKey"] } })) {
      const rk = String(e.rowKey);
      if (rk.startsWith(`${plan}-`) || rk === OPERATIONS_ROW) continue;
      await this.table.deleteEntity(keyOf(serviceId), rk).catch((err: unknown) => {
        if (statusOf(err) !== 404) throw err;
      });
    }
  }
}

/**
 * Operations per API earlier evaluations of a service read, for the chunk planner (src/engine/chunks.ts assumes
 * ASSUMED_OPERATIONS_PER_API of an API it knows nothing of, and a page of APIs with hundreds of operations each
 * would run far past its budget). One row per service in the chunk table: the APIs with more operations than
 * assumed (fewer count as assumed: the page is smaller than it could be, never bigger), the largest first, within
 * a table property's size; `otherwise` counts every API not listed (the largest count that did not fit).
 */
export class OperationCounts {
  constructor(private readonly table: TableClient) {}

  async get(serviceId: string): Promise<LearnedOperations | undefined> {
    const row = await this.read(serviceId);
    return row && { counts: new Map(Object.entries(row.counts)), otherwise: row.otherwise };
  }

  private async read(serviceId: string): Promise<{ counts: Record<string, number>; otherwise: number; etag: string } | undefined> {
    try {
      const e = await this.table.getEntity<Record<string, unknown>>(keyOf(serviceId), OPERATIONS_ROW);
      const parsed = JSON.parse(String(e["counts"] ?? "{}")) as unknown;
      const counts: Record<string, number> = {};
      if (parsed && typeof parsed === "object") for (const [k, v] of Object.entries(parsed)) if (typeof v === "number" && Number.isFinite(v) && v >= 0) counts[k] = v;
      const otherwise = Number(e["otherwise"]);
      return { counts, otherwise: Number.isFinite(otherwise) && otherwise >= ASSUMED_OPERATIONS_PER_API ? otherwise : ASSUMED_OPERATIONS_PER_API, etag: e.etag };
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** Merges what one evaluation read (every API it read, by name) into the row; with If-Match, again when another evaluation wrote first. */
  async learn(serviceId: string, read: Record<string, number>): Promise<void> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const had = await this.read(serviceId);
      const merged: Record<string, number> = { ...had?.counts };
      for (const [api, n] of Object.entries(read)) {
        if (n > ASSUMED_OPERATIONS_PER_API) merged[api.toLowerCase()] = n;
        else delete merged[api.toLowerCase()];
      }
      const sorted = Object.entries(merged).sort((a, b) => b[1] - a[1]);
      const kept: Record<string, number> = {};
      let chars = 2;
      let otherwise = had?.otherwise ?? ASSUMED_OPERATIONS_PER_API;
      for (const [api, n] of sorted) {
        const size = JSON.stringify(api).length + String(n).length + 2;
        if (chars + size > MAX_OPERATIONS_CHARS) otherwise = Math.max(otherwise, n);
        else {
          kept[api] = n;
          chars += size;
        }
      }
      if (had && JSON.stringify(kept) === JSON.stringify(had.counts) && otherwise === had.otherwise) return;
      const entity = { partitionKey: keyOf(serviceId), rowKey: OPERATIONS_ROW, counts: JSON.stringify(kept), otherwise };
      try {
        if (had) await this.table.updateEntity(entity, "Replace", { etag: had.etag });
        else await this.table.createEntity(entity);
        return;
      } catch (e) {
        const s = statusOf(e);
        if (s !== 412 && s !== 409) throw e;
      }
    }
  }
}

/**
 * Whether an evaluation's operation counts are worth keeping: a service whose APIs and operations (about a call
 * each, and about six per API) come within a quarter of the message budget, where a split is near.
 */
export function worthLearning(read: Record<string, number>, budgetSeconds: number): boolean {
  const counts = Object.values(read);
  return counts.reduce((n, c) => n + c, 0) + 6 * counts.length >= budgetCalls(budgetSeconds) / 4;
}

/** After an evaluation: a big service's operations per API (every page's), for the chunk plans of its later evaluations. */
export async function noteOperations(deps: AppDeps, msg: EvaluateMessage, result: EvaluationResult): Promise<void> {
  if (!deps.chunks || !result.operationCounts || !(msg.chunk || worthLearning(result.operationCounts, deps.config.messageBudgetSeconds))) return;
  await deps.chunks.operations.learn(msg.serviceId, result.operationCounts).catch((e: unknown) => deps.log.warn({ serviceId: msg.serviceId, err: errorLine(e) }, "operation counts not recorded"));
}

/** The chunk table from the app's storage settings (the same account and prefix as the other tables); created if missing. */
export async function openChunkStore(env: Env, credential: TokenCredential): Promise<ChunkStore | undefined> {
  const table = await openAppTable(env, credential, CHUNKS_TABLE);
  return table && new ChunkStore(table);
}

/** Checks a message's `chunk`; undefined when it is not one. */
export function parseChunkRef(value: unknown): ChunkRef | undefined {
  const c = value as Partial<ChunkRef> | null | undefined;
  if (!c || typeof c !== "object") return undefined;
  const whole = (n: unknown, max: number): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= max;
  if (typeof c.plan !== "string" || !/^[0-9a-f]{8,64}$/.test(c.plan) || !whole(c.of, 100_000) || !whole(c.index, c.of - 1) || c.index < 1) return undefined;
  if (!Array.isArray(c.apis) || c.apis.length === 0 || c.apis.length > 10_000 || !c.apis.every((a) => typeof a === "string" && a.length > 0 && a.length <= 256 && !a.includes("/"))) return undefined;
  return { plan: c.plan, index: c.index, of: c.of, apis: c.apis.map((a) => a.toLowerCase()) };
}

/** What a message does under chunked evaluation: run a part (then `finish` once its verdicts are recorded), or nothing. */
export type ChunkStep =
  | { kind: "skip"; reason: string }
  | { kind: "run"; rules: Rule[]; scope?: EvaluationScope; options: Partial<EvaluateOptions>; finish: (result: EvaluationResult) => Promise<void> };

/** A plan's id, the same for every delivery of the message that made it (so a redelivery finds its parts). */
function planId(msg: EvaluateMessage): string {
  return createHash("sha256").update(`${msg.serviceId.toLowerCase()}|${msg.correlationId}|${msg.enqueuedAt}`).digest("hex").slice(0, 24);
}

async function enqueuePages(deps: AppDeps, msg: EvaluateMessage, plan: string, pages: PartRow[], of: number): Promise<void> {
  for (const p of pages) {
    if (p.done) continue;
    const chunk: ChunkRef = { plan, index: p.index, of, apis: p.apis };
    const next: EvaluateMessage = { serviceId: msg.serviceId, reason: "chunk", correlationId: msg.correlationId, enqueuedAt: new Date().toISOString(), chunk };
    await deps.storage.evaluateQueue.sendMessage(encodeMessage(next));
  }
}

/**
 * The chunk step of a message, or undefined when it is an ordinary evaluation. A message for the whole service
 * gets a gate (`options.onApiList`, src/engine/chunks.ts planGate): the plan is made on the evaluation's own API
 * list read, so an evaluation that is not split makes the reads it always made, in the same order (an event's
 * service-level fixes before any collection, the service read alongside the list); one that must be split
 * rejects with SplitRequired before any API is read one by one or anything is written, and `splitStep` takes
 * over. `rules` and `scope`: what the message would evaluate unchunked.
 */
export async function chunkStep(msg: EvaluateMessage, deps: AppDeps, rules: Rule[], scope: EvaluationScope | undefined): Promise<ChunkStep | { kind: "gate"; options: Partial<EvaluateOptions> } | undefined> {
  const store = deps.chunks;
  if (!store) return undefined;
  const limit = deps.config.maxWritesPerService;
  if (msg.chunk) {
    const { plan, index, of } = msg.chunk;
    const mine = await store.part(msg.serviceId, plan, index);
    // its row is written before the message is sent: none means a later plan of the service replaced this one
    if (!mine) return { kind: "skip", reason: `part ${index} of ${of}: plan ${plan} was replaced by a later one` };
    if (mine.done) return { kind: "skip", reason: `part ${index} of ${of} (plan ${plan}) is already done` };
    const rows = await store.parts(msg.serviceId, plan);
    const budget = new WriteBudget(limit);
    const start = rows.filter((r) => r.done).reduce((n, r) => n + r.writes, 0);
    budget.used = start;
    const spanning: Finding[][] = [];
    const part = { index, scope: { apis: msg.chunk.apis }, calls: 0 };
    const plain = partOptions({ budget: 0, unchunkedCalls: 0, apiList: [], apis: [], parts: [] }, part, rules, msg.serviceId, (f) => spanning.push(f));
    return {
      kind: "run",
      rules: plain.rules ?? rules,
      scope: part.scope,
      options: { onOutOfScope: plain.onOutOfScope, serviceBudget: budget },
      finish: async () => {
        await store.put(msg.serviceId, plan, { index, done: true, writes: budget.used - start, apis: mine.apis, spanning: mergeSpanning(spanning) });
        const all = await store.parts(msg.serviceId, plan);
        if (all.length < of || !all.every((r) => r.done)) return;
        // every part is done: the verdicts that span every API, merged over the pages
        const spanRules = rules.filter((r) => SPANS_APIS.has(r.meta.id)).map((r) => r.meta.id);
        if (spanRules.length > 0) await deps.storage.compliance.record(msg.serviceId, spanRules, mergeSpanning(all.slice(1).map((r) => r.spanning)), msg.correlationId);
        deps.log.info({ serviceId: msg.serviceId, correlationId: msg.correlationId, plan, parts: of, writes: budget.used }, "chunked evaluation complete");
      },
    };
  }
  if (!splittable(rules, scope)) return undefined;
  // the plan counts the operations earlier evaluations read (read once the list is in: a cheap check reads no list)
  let gate: Promise<(list: ArmResource[]) => void> | undefined;
  const onApiList = async (list: ArmResource[]): Promise<void> => {
    gate ??= store.operations
      .get(msg.serviceId)
      .catch((e: unknown) => {
        deps.log.warn({ serviceId: msg.serviceId, err: errorLine(e) }, "operation counts not read: the chunk plan assumes them");
        return undefined;
      })
      .then((learned) => planGate(rules.filter((r) => ruleMode(deps.config, r) !== "off"), deps.config.messageBudgetSeconds, undefined, learned));
    (await gate)(list);
  };
  return { kind: "gate", options: { onApiList } };
}

/**
 * The service part of a message whose gate found the service too big (SplitRequired's plan; nothing was written):
 * run it, reusing the plan's API list, then `finish` stores and enqueues the pages; or skip it when a delivery
 * before this one already did (the stored pages not done are enqueued again).
 */
export async function splitStep(msg: EvaluateMessage, deps: AppDeps, rules: Rule[], plan: ChunkPlan, store: ChunkStore): Promise<ChunkStep> {
  const limit = deps.config.maxWritesPerService;
  const id = planId(msg);
  const of = plan.parts.length;
  const service = await store.part(msg.serviceId, id, 0);
  if (service?.done) {
    // a redelivery after the service part was recorded: its pages again (those not done), as stored
    await enqueuePages(deps, msg, id, (await store.parts(msg.serviceId, id)).slice(1), of);
    return { kind: "skip", reason: `the service part of plan ${id} is already done; its pages are enqueued` };
  }
  const budget = new WriteBudget(limit);
  const part0 = plan.parts[0] as (typeof plan.parts)[number];
  const opts = partOptions(plan, part0, rules, msg.serviceId, () => undefined);
  deps.log.info({ serviceId: msg.serviceId, correlationId: msg.correlationId, plan: id, apis: plan.apis.length, unchunkedCalls: plan.unchunkedCalls, budget: plan.budget, parts: plan.parts.map((p) => p.calls) }, "service evaluated in parts: its counted ARM calls exceed the message budget");
  return {
    kind: "run",
    rules: opts.rules ?? rules,
    scope: part0.scope,
    options: { apiList: opts.apiList, serviceBudget: budget },
    finish: async () => {
      await store.forgetOthers(msg.serviceId, id);
      const pages: PartRow[] = plan.parts.slice(1).map((p) => ({ index: p.index, done: false, writes: 0, apis: p.scope?.apis ?? [], spanning: [] }));
      // the pages first, then the service part's row: a crash in between plans again (nothing of the pages is lost)
      for (const p of pages) await store.put(msg.serviceId, id, p);
      await store.put(msg.serviceId, id, { index: 0, done: true, writes: budget.used, apis: [], spanning: [] });
      await enqueuePages(deps, msg, id, pages, of);
    },
  };
}
