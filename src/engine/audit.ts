/**
 * Audit records: two per enforced remediation attempt (`started` before the
 * first write, then the outcome) and one per other decision — who/what/when,
 * rule, resource, before -> after (never a secret value), correlation id,
 * outcome. Sinks are
 * injected: memory (tests, CLI), JSON lines file (CLI), Table storage (app).
 */
import { appendFileSync } from "node:fs";
import type { Change } from "../model/rule.js";
import type { SecretRegistry } from "../common/logger.js";

export type Outcome =
  | "applied" // changed and verified
  | "rolled-back" // changed, verification failed, previous state restored
  | "failed" // an error; nothing or part changed (see reason)
  | "not-remediable" // e.g. ScopeLocked, missing prerequisite: ticket instead
  | "in-progress" // started, Azure is still completing it (e.g. a grant propagating, a service update running): nothing broken, a later evaluation continues
  | "skipped" // mode, exemption, blast radius, nothing to do
  | "planned"; // dry-run: the change that would be made

/**
 * What an audit record says: an outcome, or `started` — written before a fix's
 * first write, so a change never goes unrecorded even when the outcome record
 * that follows it cannot be written.
 */
export type AuditOutcome = Outcome | "started";

export interface AuditRecord {
  time: string;
  correlationId: string;
  /** The principal that made (or would make) the change. */
  actor: string;
  mode: string;
  ruleId: string;
  resourceId: string;
  targetId?: string;
  operation?: string;
  summary?: string;
  changes?: Change[];
  outcome: AuditOutcome;
  reason?: string;
  writes: number;
}

export interface AuditSink {
  write(record: AuditRecord): Promise<void> | void;
}

/** Removes registered secret values from a record, wherever they hide. */
export function scrubRecord(record: AuditRecord, registry?: SecretRegistry): AuditRecord {
  if (!registry) return record;
  return JSON.parse(registry.scrub(JSON.stringify(record))) as AuditRecord;
}

export class MemoryAudit implements AuditSink {
  readonly records: AuditRecord[] = [];
  constructor(private readonly registry?: SecretRegistry) {}
  write(record: AuditRecord): void {
    this.records.push(scrubRecord(record, this.registry));
  }
}

/** Appends one JSON line per record. */
export class JsonLinesAudit implements AuditSink {
  constructor(
    private readonly file: string,
    private readonly registry?: SecretRegistry,
  ) {}
  write(record: AuditRecord): void {
    appendFileSync(this.file, JSON.stringify(scrubRecord(record, this.registry)) + "\n");
  }
}

export class MultiAudit implements AuditSink {
  constructor(private readonly sinks: AuditSink[]) {}
  async write(record: AuditRecord): Promise<void> {
    for (const s of this.sinks) await s.write(record);
  }
}
