/**
 * Azure Storage for the Functions app, from the same settings the Functions
 * host uses: `AzureWebJobsStorage` as a connection string (Azurite locally:
 * `UseDevelopmentStorage=true`), or identity-based `AzureWebJobsStorage__*`
 * service URIs / account name in Azure.
 *
 * - queues `apim-evaluate` and `apim-evaluate-poison` (messages base64 JSON, as the host expects)
 * - tables: audit records, latest compliance, lock inventory, pending markers, long-running operations in progress
 * - blobs: one leased blob per service, so one worker at a time remediates it
 */
import { createHash, randomUUID } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import { TableClient, TableServiceClient, type TableEntity, type TableEntityResult, type TransactionAction } from "@azure/data-tables";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient, QueueServiceClient, type StoragePipelineOptions } from "@azure/storage-queue";
import { inScope, type EvaluationScope } from "../model/snapshot.js";
import type { Finding } from "../remediations/index.js";
import type { AuditRecord, AuditSink } from "../engine/audit.js";
import type { Env } from "../common/config.js";
import type { LockInventory, LockRecord } from "../engine/inventory.js";
import type { OperationStore, PendingOperation } from "../engine/operations.js";

export const EVALUATE_QUEUE = "apim-evaluate";
export const POISON_QUEUE = `${EVALUATE_QUEUE}-poison`;
export const TABLES = { audit: "remediatoraudit", compliance: "remediatorcompliance", locks: "remediatorlocks", pending: "remediatorpending", tickets: "remediatortickets", operations: "remediatoroperations" } as const;
export const LEASE_CONTAINER = "apim-remediator-leases";

export function queueServiceFromEnv(env: Env, credential: TokenCredential, options: StoragePipelineOptions = {}): QueueServiceClient | undefined {
  const conn = env["AzureWebJobsStorage"];
  // also understands UseDevelopmentStorage=true (Azurite's default ports)
  if (conn && conn.trim() !== "") return QueueServiceClient.fromConnectionString(conn, options);
  const uri = env["AzureWebJobsStorage__queueServiceUri"] ?? (env["AzureWebJobsStorage__accountName"] ? `https://${env["AzureWebJobsStorage__accountName"]}.queue.core.windows.net` : undefined);
  return uri ? new QueueServiceClient(uri, credential, options) : undefined;
}

function tableServiceFromEnv(env: Env, credential: TokenCredential): TableServiceClient | undefined {
  const conn = env["AzureWebJobsStorage"];
  if (conn && conn.trim() !== "") return TableServiceClient.fromConnectionString(conn, { allowInsecureConnection: /^UseDevelopmentStorage=true|DefaultEndpointsProtocol=http;/i.test(conn.trim()) });
  const uri = env["AzureWebJobsStorage__tableServiceUri"] ?? (env["AzureWebJobsStorage__accountName"] ? `https://${env["AzureWebJobsStorage__accountName"]}.table.core.windows.net` : undefined);
  return uri ? new TableServiceClient(uri, credential) : undefined;
}

function blobServiceFromEnv(env: Env, credential: TokenCredential): BlobServiceClient | undefined {
  const conn = env["AzureWebJobsStorage"];
  if (conn && conn.trim() !== "") return BlobServiceClient.fromConnectionString(conn);
  const uri = env["AzureWebJobsStorage__blobServiceUri"] ?? (env["AzureWebJobsStorage__accountName"] ? `https://${env["AzureWebJobsStorage__accountName"]}.blob.core.windows.net` : undefined);
  return uri ? new BlobServiceClient(uri, credential) : undefined;
}

/** A table key for a resource id (ids hold `/`, which table keys cannot). */
export function keyOf(text: string): string {
  return createHash("sha256").update(text.toLowerCase()).digest("hex").slice(0, 40);
}

/** Newest first: an inverted timestamp sorts the latest rows to the top of a partition. */
function descendingRowKey(now = Date.now()): string {
  return `${String(9_999_999_999_999 - now).padStart(13, "0")}-${randomUUID().slice(0, 8)}`;
}

const MAX_PROP = 30_000;
const clip = (s: string) => (s.length > MAX_PROP ? s.slice(0, MAX_PROP) : s);

export interface EvaluateMessage {
  serviceId: string;
  /**
   * "pending": evaluate the changes in the service's pending marker (events that added to it while an
   * evaluation was taking it, so they enqueued nothing); nothing when another evaluation took them.
   * "operation": a delayed check of the long-running operations recorded for the service (every rule).
   */
  reason: "event" | "sweep" | "manual" | "retry" | "pending" | "operation" | "chunk";
  /** The resource an event named (a child of the service, or a lock). */
  changedResourceId?: string;
  operationName?: string;
  correlationId: string;
  enqueuedAt: string;
  /**
   * A sweep's: the service's Resource Graph row (ARM-shaped, possibly minutes old). The rules that read only the
   * service judge from it; a fix reads ARM first (src/engine/engine.ts). Left out when it would make the message
   * too big (MAX_ROW_CHARS).
   */
  row?: import("../model/arm.js").ArmResource;
  /** A sweep's: the fingerprint of the service's discovery row (src/app/freshness.ts), kept even when the row is left out. */
  fingerprint?: string;
  /** "chunk": one page of APIs of a chunked evaluation (src/app/chunks.ts). */
  chunk?: import("./chunks.js").ChunkRef;
}

/** A queue message holds 64 KiB, base64 (4/3) included: a row longer than this is left out (the worker reads ARM). */
export const MAX_ROW_CHARS = 32 * 1024;

export function encodeMessage(m: EvaluateMessage): string {
  return Buffer.from(JSON.stringify(m), "utf8").toString("base64");
}

export class TableAudit implements AuditSink {
  constructor(private readonly table: TableClient) {}
  async write(r: AuditRecord): Promise<void> {
    await this.table.createEntity({
      partitionKey: keyOf(r.resourceId.split("/").slice(0, 9).join("/")),
      rowKey: descendingRowKey(Date.parse(r.time)),
      time: r.time,
      correlationId: r.correlationId,
      actor: r.actor,
      mode: r.mode,
      ruleId: r.ruleId,
      resourceId: r.resourceId,
      targetId: r.targetId ?? "",
      operation: r.operation ?? "",
      summary: clip(r.summary ?? ""),
      changes: clip(JSON.stringify(r.changes ?? [])),
      outcome: r.outcome,
      reason: clip(r.reason ?? ""),
      writes: r.writes,
    });
  }
  async list(serviceId?: string): Promise<AuditRecord[]> {
    const filter = serviceId ? `PartitionKey eq '${keyOf(serviceId)}'` : undefined;
    const out: AuditRecord[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: filter ? { filter } : {} })) {
      out.push({
        time: String(e["time"]),
        correlationId: String(e["correlationId"]),
        actor: String(e["actor"]),
        mode: String(e["mode"]),
        ruleId: String(e["ruleId"]),
        resourceId: String(e["resourceId"]),
        targetId: (e["targetId"] as string) || undefined,
        operation: (e["operation"] as string) || undefined,
        summary: (e["summary"] as string) || undefined,
        changes: JSON.parse(String(e["changes"] ?? "[]")),
        outcome: e["outcome"] as AuditRecord["outcome"],
        reason: (e["reason"] as string) || undefined,
        writes: Number(e["writes"] ?? 0),
      });
    }
    return out;
  }
}

export interface ComplianceRow extends Finding {
  serviceId: string;
  evaluatedAt: string;
  correlationId: string;
  /** The remediator's change for this verdict is still being applied by Azure (status `unknown` meanwhile). */
  inProgress?: boolean;
}

/** The latest verdict per service, rule and resource (what `GET /api/report` serves). */
export class ComplianceStore {
  constructor(private readonly table: TableClient) {}

  /** Entity group transactions: at most 100 operations and 4 MiB per batch, one partition. */
  static readonly BATCH_OPERATIONS = 100;
  static readonly BATCH_BYTES = 3_000_000;

  /**
   * Replaces the verdicts of the evaluated rules for one service: one partition
   * read, then the upserts and the removals of verdicts that no longer exist in
   * entity group transactions (100 operations each), not one request per row.
   */
  async record(serviceId: string, rulesEvaluated: string[], findings: Array<Finding & { inProgress?: boolean }>, correlationId: string, scope?: EvaluationScope): Promise<void> {
    const pk = keyOf(serviceId);
    const now = new Date().toISOString();
    const evaluated = new Set(rulesEvaluated);
    // one row per rule and resource: a later finding for the same pair replaces an earlier one
    const rows = new Map<string, TableEntity<Record<string, unknown>>>();
    for (const f of findings) {
      if (!inScope(serviceId, scope, f.resourceId)) continue;
      const rk = keyOf(`${f.ruleId}|${f.resourceId}`);
      rows.set(rk, { partitionKey: pk, rowKey: rk, serviceId, ruleId: f.ruleId, resourceId: f.resourceId, status: f.status, severity: f.severity, action: f.action, message: clip(f.message), evaluatedAt: now, correlationId, inProgress: f.inProgress === true });
    }
    const actions: TransactionAction[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${pk}'`, select: ["RowKey", "ruleId", "resourceId"] } })) {
      const rk = String(e.rowKey);
      // a scoped evaluation (some APIs) replaces only the verdicts on those APIs
      if (evaluated.has(String(e["ruleId"])) && !rows.has(rk) && inScope(serviceId, scope, String(e["resourceId"] ?? ""))) actions.push(["delete", { partitionKey: pk, rowKey: rk }]);
    }
    for (const row of rows.values()) actions.push(["upsert", row, "Replace"]);
    let batch: TransactionAction[] = [];
    let bytes = 0;
    for (const a of actions) {
      const size = a[0] === "delete" ? 200 : 1_000 + Buffer.byteLength(JSON.stringify(a[1]), "utf8");
      if (batch.length > 0 && (batch.length >= ComplianceStore.BATCH_OPERATIONS || bytes + size > ComplianceStore.BATCH_BYTES)) {
        await this.submit(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(a);
      bytes += size;
    }
    if (batch.length > 0) await this.submit(batch);
  }

  private async submit(batch: TransactionAction[]): Promise<void> {
    try {
      await this.table.submitTransaction(batch);
    } catch (e) {
      // a row removed meanwhile (by a previous attempt of this evaluation): the batch fails as a whole; do it row by row
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
      for (const a of batch) {
        if (a[0] === "delete") await this.table.deleteEntity(a[1].partitionKey, a[1].rowKey).catch((err: { statusCode?: number }) => { if (err.statusCode !== 404) throw err; });
        else await this.table.upsertEntity(a[1], "Replace");
      }
    }
  }

  async list(): Promise<ComplianceRow[]> {
    const out: ComplianceRow[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>()) {
      out.push({
        serviceId: String(e["serviceId"]),
        ruleId: String(e["ruleId"]),
        resourceId: String(e["resourceId"]),
        status: e["status"] as Finding["status"],
        severity: e["severity"] as Finding["severity"],
        action: e["action"] as Finding["action"],
        message: String(e["message"]),
        evaluatedAt: String(e["evaluatedAt"]),
        correlationId: String(e["correlationId"]),
        ...(e["inProgress"] === true ? { inProgress: true } : {}),
      });
    }
    return out;
  }
}

/** Long-running operations handed off by the engine (src/engine/operations.ts): one row per service, rule and resource. */
export class TableOperationStore implements OperationStore {
  constructor(private readonly table: TableClient) {}
  async list(serviceId: string): Promise<PendingOperation[]> {
    const out: PendingOperation[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${keyOf(serviceId)}'` } })) {
      out.push({
        serviceId: String(e["serviceId"]),
        ruleId: String(e["ruleId"]),
        resourceId: String(e["resourceId"]),
        state: String(e["state"]),
        plan: JSON.parse(String(e["plan"])) as PendingOperation["plan"],
        correlationId: String(e["correlationId"]),
        startedAt: String(e["startedAt"]),
        polls: Number(e["polls"] ?? 0),
        lastCheckedAt: (e["lastCheckedAt"] as string) || undefined,
      });
    }
    return out;
  }
  async put(op: PendingOperation): Promise<void> {
    await this.table.upsertEntity(
      { partitionKey: keyOf(op.serviceId), rowKey: keyOf(`${op.ruleId}|${op.resourceId}`), serviceId: op.serviceId, ruleId: op.ruleId, resourceId: op.resourceId, state: op.state, plan: JSON.stringify(op.plan), correlationId: op.correlationId, startedAt: op.startedAt, polls: op.polls, lastCheckedAt: op.lastCheckedAt ?? "" },
      "Replace",
    );
  }
  async remove(serviceId: string, ruleId: string, resourceId: string): Promise<void> {
    await this.table.deleteEntity(keyOf(serviceId), keyOf(`${ruleId}|${resourceId}`)).catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 404) throw e;
    });
  }
}

export class TableLockInventory implements LockInventory {
  constructor(private readonly table: TableClient) {}
  async get(serviceId: string): Promise<LockRecord[]> {
    const out: LockRecord[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${keyOf(serviceId)}'` } })) {
      out.push({ id: String(e["lockId"]), name: String(e["name"]), level: String(e["level"]), notes: (e["notes"] as string) || undefined, owners: e["owners"] ? JSON.parse(String(e["owners"])) : undefined });
    }
    return out;
  }
  async remember(serviceId: string, locks: LockRecord[]): Promise<void> {
    for (const l of locks) {
      await this.table.upsertEntity(
        { partitionKey: keyOf(serviceId), rowKey: keyOf(l.name), lockId: l.id, name: l.name, level: l.level, notes: l.notes ?? "", owners: l.owners === undefined ? "" : JSON.stringify(l.owners) },
        "Replace",
      );
    }
  }
}

/**
 * Per-service pending markers for coalescing: the first event in a debounce
 * window creates the marker (atomic insert) and enqueues one delayed message;
 * later events find the marker and enqueue nothing. The worker removes the
 * marker when it starts, so events during an evaluation schedule the next one.
 */
export class PendingMarkers {
  static readonly MAX_CHANGES = 50;
  static readonly MAX_ATTEMPTS = 60;
  constructor(private readonly table: TableClient) {}

  /**
   * True when this caller claimed the window (and must enqueue). Otherwise the
   * change is added to the pending marker so the one evaluation covers it. A
   * marker older than `staleMs` (its message was lost) is taken over.
   */
  async claim(serviceId: string, changedResourceId: string, staleMs: number, now = Date.now()): Promise<boolean> {
    const pk = "pending";
    const rk = keyOf(serviceId);
    // a burst of events for one service races on this one entity: back off with jitter between attempts
    for (let attempt = 0; attempt < PendingMarkers.MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(5 * attempt, 50)));
      try {
        await this.table.createEntity({ partitionKey: pk, rowKey: rk, serviceId, since: now, changes: JSON.stringify([changedResourceId]) });
        return true;
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 409) throw e;
      }
      let existing: TableEntityResult<{ since: number; changes: string }>;
      try {
        existing = await this.table.getEntity<TableEntityResult<{ since: number; changes: string }>>(pk, rk);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) continue; // taken by a worker meanwhile: try to create again
        throw e;
      }
      const stale = now - Number(existing.since) >= staleMs;
      const changes = stale ? [] : (JSON.parse(String(existing.changes ?? "[]")) as string[]);
      // already pending (the common case in a burst): nothing to write
      if (changes.includes("*") || changes.includes(changedResourceId)) return false;
      const next = changes.includes("*") ? changes : changes.length >= PendingMarkers.MAX_CHANGES ? ["*"] : [...new Set([...changes, changedResourceId])];
      try {
        await this.table.updateEntity({ partitionKey: pk, rowKey: rk, serviceId, since: stale ? now : Number(existing.since), changes: JSON.stringify(next) }, "Replace", { etag: existing.etag });
        return stale;
      } catch (e) {
        const st = (e as { statusCode?: number }).statusCode;
        if (st !== 412 && st !== 404) throw e; // changed or taken meanwhile: read again
      }
    }
    throw new Error(`could not record a pending change for ${serviceId} (too much contention)`);
  }

  /** Reads the marker without taking it (undefined when there is none). */
  async peek(serviceId: string): Promise<TableEntityResult<{ changes: string }> | undefined> {
    try {
      return await this.table.getEntity<TableEntityResult<{ changes: string }>>("pending", keyOf(serviceId));
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  /** Removes the marker and returns the changes it gathered (`"all"` when too many). */
  async take(serviceId: string): Promise<string[] | "all" | undefined> {
    const pk = "pending";
    const rk = keyOf(serviceId);
    for (let attempt = 0; attempt < 8; attempt++) {
      const existing = await this.peek(serviceId);
      if (!existing) return undefined;
      try {
        await this.table.deleteEntity(pk, rk, { etag: existing.etag });
      } catch (e) {
        const st = (e as { statusCode?: number }).statusCode;
        if (st === 404) return undefined;
        if (st === 412) continue; // an event added a change meanwhile: read again
        throw e;
      }
      return changesOf(existing);
    }
    // still changing under us: evaluate everything, and remove the marker so later events enqueue again
    await this.table.deleteEntity(pk, rk).catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 404) throw e;
    });
    return "all";
  }

  /**
   * `take` without waiting for the removal: the changes come from `peeked` (the marker as read a
   * moment ago, while the lease was being acquired) and the removal runs alongside the caller's
   * work. Saves the removal's round trip before the first ARM read of an event's evaluation.
   */
  async takeEarly(serviceId: string, peeked: Promise<TableEntityResult<{ changes: string }> | undefined>): Promise<EarlyTake> {
    const read = await peeked.then(
      (x) => ({ x }),
      () => undefined,
    );
    if (!read) return { changes: await this.take(serviceId), removal: Promise.resolve("removed") };
    const existing = read.x;
    if (!existing) return { changes: undefined, removal: Promise.resolve("removed") };
    const removal = this.table.deleteEntity("pending", keyOf(serviceId), { etag: existing.etag }).then(
      () => "removed" as const,
      (e: { statusCode?: number }) => (e.statusCode === 404 ? ("removed" as const) : ("kept" as const)),
    );
    return { changes: changesOf(existing), removal };
  }
}

/** The changes a marker holds: `"all"` once it overflowed (`*`). */
function changesOf(marker: { changes?: unknown }): string[] | "all" {
  const changes = JSON.parse(String(marker.changes ?? "[]")) as string[];
  return changes.includes("*") ? "all" : changes;
}

/** Where the marker stands after `PendingMarkers.takeEarly`'s removal. */
export type MarkerRemoval = "removed" | "kept";

export interface EarlyTake {
  /** The changes the marker held when it was read (`"all"` when too many; undefined when there was none). */
  changes: string[] | "all" | undefined;
  /**
   * Settles when the removal is done: "removed" (or there was nothing to remove), or "kept" when
   * the marker changed after it was read (an event added a change and, finding the marker, enqueued
   * nothing) or could not be removed: it stays, and the caller must enqueue an evaluation for it.
   * Never rejects.
   */
  removal: Promise<MarkerRemoval>;
}

export class LeaseBusyError extends Error {}

/** The service's lease was lost while its evaluation ran (a renewal was refused, or none confirmed it in time): stop writing. */
export class LeaseLostError extends Error {}

export interface LeaseLogger {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** What the work done under a lease gets: a signal aborted (reason: a LeaseLostError) once the lease is lost. */
export interface HeldLease {
  signal: AbortSignal;
}

/** A storage error as one line for a log (status, code, first line of the message). */
function storageErrorText(e: unknown): string {
  const err = e as { statusCode?: number; code?: string; message?: string };
  return `${err.statusCode ? `HTTP ${err.statusCode} ` : ""}${err.code ? `${err.code}: ` : ""}${String(err.message ?? e).split("\n")[0]}`.slice(0, 300);
}

/**
 * Blob leases: one leased blob per service; the holder renews while it works.
 *
 * A renewal that Blob storage refuses (409: the lease was broken, or another
 * worker leased the blob after it expired; 412/404) loses the lease at once; a
 * renewal that fails otherwise (5xx, a dropped connection) is retried, and the
 * lease counts as lost once it could have expired: `durationSeconds` after the
 * last acquire or renewal request that succeeded was sent, less a margin. Either
 * way the holder's signal aborts and the loss is logged (Blob service "Lease
 * Blob": a broken lease cannot be renewed; an expired one can be acquired by
 * anyone, https://learn.microsoft.com/rest/api/storageservices/lease-blob).
 */
export class ServiceLeases {
  constructor(
    private readonly container: ContainerClient,
    private readonly durationSeconds = 60,
    private readonly options: {
      /** How often the holder renews (default: a third of the duration). */
      renewEveryMs?: number;
      /** How long one renewal may take before it is abandoned and the next one tried (default: half the renewal interval). */
      renewTimeoutMs?: number;
    } = {},
  ) {}

  /** Runs `fn` holding the service's lease; throws LeaseBusyError when another worker holds it. */
  async withLease<T>(serviceId: string, fn: (lease: HeldLease) => Promise<T>, log?: LeaseLogger): Promise<T> {
    const blob = this.container.getBlockBlobClient(`${keyOf(serviceId)}.lease`);
    const lease = blob.getBlobLeaseClient();
    let confirmedAt = Date.now();
    // the blob exists after a service's first evaluation: lease it at once, create it only when it is missing
    for (let attempt = 0; ; attempt++) {
      try {
        confirmedAt = Date.now();
        await lease.acquireLease(this.durationSeconds);
        break;
      } catch (e) {
        const status = (e as { statusCode?: number }).statusCode;
        if (status === 409) throw new LeaseBusyError(`another worker is evaluating ${serviceId}`);
        if (status !== 404 || attempt > 0) throw e;
      }
      try {
        await blob.upload("", 0, { conditions: { ifNoneMatch: "*" } });
      } catch (e) {
        const s = (e as { statusCode?: number }).statusCode;
        if (s !== 409 && s !== 412) throw e;
      }
    }
    const durationMs = this.durationSeconds * 1000;
    const margin = Math.min(durationMs / 6, 5_000);
    const lost = new AbortController();
    let expiry: ReturnType<typeof setTimeout> | undefined;
    const lose = (why: string, e?: unknown) => {
      if (lost.signal.aborted) return;
      clearInterval(renew);
      clearTimeout(expiry);
      log?.error({ serviceId, lease: "lost", reason: why, ...(e === undefined ? {} : { err: storageErrorText(e) }) }, "service lease lost: no further write for this evaluation");
      lost.abort(new LeaseLostError(`the lease on ${serviceId} was lost (${why}${e === undefined ? "" : `: ${storageErrorText(e)}`}); another worker may be evaluating it`));
    };
    const confirmed = (at: number) => {
      confirmedAt = at;
      clearTimeout(expiry);
      expiry = setTimeout(() => lose("no renewal succeeded before it could expire"), Math.max(0, confirmedAt + durationMs - margin - Date.now()));
      expiry.unref?.();
    };
    confirmed(confirmedAt);
    let renewing = false;
    const renewEveryMs = this.options.renewEveryMs ?? durationMs / 3;
    // a renewal that hangs (a stalled connection: the SDK sets no timeout of its own) would hold back every later one until
    // the lease runs out: it is abandoned after this long and the next interval sends a new one
    const renewTimeoutMs = this.options.renewTimeoutMs ?? renewEveryMs / 2;
    const renew = setInterval(() => {
      if (renewing || lost.signal.aborted) return;
      renewing = true;
      const sent = Date.now();
      lease
        .renewLease({ abortSignal: AbortSignal.timeout(renewTimeoutMs) })
        .then(
          () => confirmed(sent),
          (e: unknown) => {
            const status = (e as { statusCode?: number }).statusCode;
            if (status === 409 || status === 412 || status === 404) lose("the renewal was refused", e);
            else log?.warn({ serviceId, lease: "renewal failed", err: storageErrorText(e) }, "service lease renewal failed; retried while the lease lasts");
          },
        )
        .finally(() => (renewing = false));
    }, renewEveryMs);
    renew.unref?.();
    try {
      return await fn({ signal: lost.signal });
    } finally {
      clearInterval(renew);
      clearTimeout(expiry);
      await lease.releaseLease().catch(() => undefined);
    }
  }
}

export interface AppStorage {
  evaluateQueue: QueueClient;
  poisonQueue: QueueClient;
  audit: TableAudit;
  compliance: ComplianceStore;
  inventory: TableLockInventory;
  pending: PendingMarkers;
  leases: ServiceLeases;
  queueService: QueueServiceClient;
  /** The fingerprint -> ticket mapping (src/app/ticket-store.ts). */
  ticketsTable: TableClient;
  /** Long-running operations in progress (service updates), resumed by later evaluations. */
  operations: TableOperationStore;
}

/**
 * Optional `REMEDIATOR_STORAGE_PREFIX` (lowercase letters and digits): prepended to
 * every queue, table and container name so several apps (or test files) can share
 * one storage account. Unset in production: the queues must be the ones the
 * triggers name (`apim-evaluate`, `apim-evaluate-poison`).
 */
export function storageNames(env: Env): { evaluateQueue: string; poisonQueue: string; tables: { [K in keyof typeof TABLES]: string }; leaseContainer: string } {
  const raw = env["REMEDIATOR_STORAGE_PREFIX"]?.trim() ?? "";
  if (raw !== "" && !/^[a-z][a-z0-9]{0,19}$/.test(raw)) {
    throw new Error(`Invalid setting REMEDIATOR_STORAGE_PREFIX: expected 1-20 lowercase letters and digits, starting with a letter (got ${JSON.stringify(raw.slice(0, 40))})`);
  }
  const q = (name: string) => (raw === "" ? name : `${raw}-${name}`);
  return {
    evaluateQueue: q(EVALUATE_QUEUE),
    poisonQueue: q(POISON_QUEUE),
    tables: { audit: `${raw}${TABLES.audit}`, compliance: `${raw}${TABLES.compliance}`, locks: `${raw}${TABLES.locks}`, pending: `${raw}${TABLES.pending}`, tickets: `${raw}${TABLES.tickets}`, operations: `${raw}${TABLES.operations}` },
    leaseContainer: q(LEASE_CONTAINER),
  };
}

/** A table client of the app's storage account (connection string, or identity and account name / service URI). */
function tableClientFromEnv(env: Env, credential: TokenCredential, serviceUrl: string, name: string): TableClient {
  const conn = env["AzureWebJobsStorage"];
  return conn && conn.trim() !== ""
    ? TableClient.fromConnectionString(conn, name, { allowInsecureConnection: /^UseDevelopmentStorage=true|DefaultEndpointsProtocol=http;/i.test(conn.trim()) })
    : new TableClient(serviceUrl, name, credential);
}

/**
 * One more table of the app (pacing budgets, freshness, chunks): the same account and prefix as the tables of
 * `openStorage`, created if missing. Undefined when no storage is configured.
 */
export async function openAppTable(env: Env, credential: TokenCredential, table: string): Promise<TableClient | undefined> {
  const ts = tableServiceFromEnv(env, credential);
  if (!ts) return undefined;
  // the same prefix as every other table of the app (validated by storageNames)
  const name = `${storageNames(env).tables.audit.slice(0, -TABLES.audit.length)}${table}`;
  await ts.createTable(name).catch((e: { statusCode?: number }) => {
    if (e.statusCode !== 409) throw e;
  });
  return tableClientFromEnv(env, credential, ts.url, name);
}

/** Builds every storage client and makes sure queues, tables and the lease container exist. */
export async function openStorage(env: Env, credential: TokenCredential): Promise<AppStorage> {
  const names = storageNames(env);
  const qs = queueServiceFromEnv(env, credential);
  const ts = tableServiceFromEnv(env, credential);
  const bs = blobServiceFromEnv(env, credential);
  if (!qs || !ts || !bs) throw new Error("Invalid setting AzureWebJobsStorage: expected a storage connection string or AzureWebJobsStorage__accountName / __*ServiceUri (not set)");
  const table = (name: string) => tableClientFromEnv(env, credential, ts.url, name);
  const evaluateQueue = qs.getQueueClient(names.evaluateQueue);
  const poisonQueue = qs.getQueueClient(names.poisonQueue);
  const container = bs.getContainerClient(names.leaseContainer);
  await Promise.all([evaluateQueue.createIfNotExists(), poisonQueue.createIfNotExists(), container.createIfNotExists()]);
  const tables = { audit: table(names.tables.audit), compliance: table(names.tables.compliance), locks: table(names.tables.locks), pending: table(names.tables.pending), tickets: table(names.tables.tickets), operations: table(names.tables.operations) };
  await Promise.all(Object.values(names.tables).map((t) => ts.createTable(t).catch((e: { statusCode?: number }) => { if (e.statusCode !== 409) throw e; })));
  return {
    evaluateQueue,
    poisonQueue,
    audit: new TableAudit(tables.audit),
    compliance: new ComplianceStore(tables.compliance),
    inventory: new TableLockInventory(tables.locks),
    pending: new PendingMarkers(tables.pending),
    leases: new ServiceLeases(container),
    queueService: qs,
    ticketsTable: tables.tickets,
    operations: new TableOperationStore(tables.operations),
  };
}
