/**
 * Long-running ARM operations a fix started and handed off: a service update
 * runs 15 to 45 minutes or longer in Azure, longer than a function may run, so
 * the engine records the operation (the SDK poller's serialized state, which
 * holds the operation URL; the plan it carries out; when it started; how often
 * it was checked) and ends. A later evaluation finds the record, polls once,
 * and verifies when it is done. The app keeps them in Table storage
 * (src/app/storage.ts); the CLI and tests use the in-memory store.
 */
import type { Plan } from "../model/rule.js";

export interface PendingOperation {
  serviceId: string;
  ruleId: string;
  /** The finding's resource (for a service-level rule: the service). */
  resourceId: string;
  /** The poller's `toString()`: restorable with the SDK's `resumeFrom`. */
  state: string;
  /** The plan the operation carries out (the expected result, for the audit and verification). */
  plan: Plan;
  /** The evaluation that started it. */
  correlationId: string;
  startedAt: string;
  /** How many times a later evaluation checked it (0 when just started). */
  polls: number;
  lastCheckedAt?: string;
}

export interface OperationStore {
  /** Every operation recorded for the service (any rule). */
  list(serviceId: string): Promise<PendingOperation[]>;
  /** Records (or replaces) the operation of one rule on one resource. */
  put(op: PendingOperation): Promise<void>;
  remove(serviceId: string, ruleId: string, resourceId: string): Promise<void>;
}

const key = (serviceId: string, ruleId: string, resourceId: string) => `${serviceId.toLowerCase()}|${ruleId}|${resourceId.toLowerCase()}`;

export class MemoryOperationStore implements OperationStore {
  private readonly ops = new Map<string, PendingOperation>();
  async list(serviceId: string): Promise<PendingOperation[]> {
    return [...this.ops.values()].filter((o) => o.serviceId.toLowerCase() === serviceId.toLowerCase()).map((o) => ({ ...o }));
  }
  async put(op: PendingOperation): Promise<void> {
    this.ops.set(key(op.serviceId, op.ruleId, op.resourceId), { ...op });
  }
  async remove(serviceId: string, ruleId: string, resourceId: string): Promise<void> {
    this.ops.delete(key(serviceId, ruleId, resourceId));
  }
}

/** Thrown through a fix by the engine's `longRunning` hook in hand-off mode: the operation runs on in Azure. */
export class OperationHandedOff extends Error {
  constructor(
    readonly state: string,
    readonly what: string,
  ) {
    super(`${what} is in progress in Azure`);
  }
}

/**
 * How the engine treats a long-running operation a fix started:
 * - "wait": poll it in-process until it completes (the CLI: a terminal can wait), with a progress line;
 * - "hand-off": record it in the store and end the fix with outcome `in-progress` (the Functions app).
 */
export type OperationMode = "wait" | "hand-off";
