/**
 * Do not re-read what cannot have changed (issue 19, item 5).
 *
 * Each sweep message carries a fingerprint of the service's discovery row: ARM's `etag` when the row has one (the
 * ARM list's service body), else a hash of the canonicalised row (Resource Graph rows carry no etag) minus the
 * volatile fields below. The last full evaluation of a service is stored with the fingerprint it was made from
 * (table `remediatorfreshness`, one row per service). A sweep then gives a service the cheap check only (the
 * service-level rules, judged from the row: no per-service collection read) when all of these hold:
 *
 * - a full evaluation was recorded, from the same fingerprint;
 * - it is younger than REMEDIATOR_FULL_SWEEP_HOURS (default 24; 0 turns skipping off);
 * - no event for the service was evaluated since it started, and no event is waiting (the pending marker);
 * - it left nothing unsettled (a fix that failed, rolled back, is still in progress or was skipped for the
 *   blast-radius limit is tried again by a full read).
 *
 * Anything else is a full read, which records a new fingerprint. What this guarantees, and what not: ARM's API
 * Management service etag changes when the service resource is written; child resources (APIs, policies, named
 * values, products...) have their own etags and a write to one is not documented to change the service's (the
 * Azure CLI recordings in test/fixtures/recordings show the children's etags advancing independently of the
 * service's). Changes to children are therefore caught by their Event Grid events (seconds) and, at the latest, by
 * the full read every REMEDIATOR_FULL_SWEEP_HOURS.
 */
import { createHash } from "node:crypto";
import type { TokenCredential } from "@azure/core-auth";
import { TableClient } from "@azure/data-tables";
import type { ArmResource } from "../model/arm.js";
import type { Config, Env } from "../common/config.js";
import { errorLine } from "../common/logger.js";
import type { ActionResult, EvaluationResult } from "../engine/engine.js";
import { judgedFromRow } from "../engine/rows.js";
import type { Rule } from "../remediations/index.js";
import type { EvaluateMessage } from "./storage.js";
import { keyOf, openAppTable } from "./storage.js";

export const FRESHNESS_TABLE = "remediatorfreshness";
const PARTITION = "service";

/**
 * Fields left out of a row's hash because they change without any change a rule could see:
 * - `etag`: the fingerprint itself when present (and absent from Resource Graph rows);
 * - `systemData`: who wrote the resource last and when; a write that changes a property changes the hash anyway;
 * - `properties.provisioningState` / `properties.targetProvisioningState`: flip to Updating/Activating and back
 *   while Azure applies an update (an update that changes something changes other properties; no rule reads them).
 * Everything else counts, tags included (the exemption tag is read from them).
 */
export const VOLATILE_FIELDS = ["etag", "systemData", "properties.provisioningState", "properties.targetProvisioningState"] as const;

/** JSON with object keys sorted (case-insensitively, as ARM names are) and null/undefined members dropped. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()) || a.localeCompare(b))) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && x !== undefined) out[k.toLowerCase()] = canonical(x);
    }
    return out;
  }
  return v;
}

/** The row without its volatile fields (VOLATILE_FIELDS; names compared case-insensitively). */
function withoutVolatile(row: ArmResource): Record<string, unknown> {
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (!["etag", "systemdata"].includes(k.toLowerCase())) top[k] = v;
  const props = Object.entries(row).find(([k]) => k.toLowerCase() === "properties")?.[1];
  if (props && typeof props === "object" && !Array.isArray(props)) {
    const drop = new Set(["provisioningstate", "targetprovisioningstate"]);
    for (const k of Object.keys(top)) if (k.toLowerCase() === "properties") top[k] = Object.fromEntries(Object.entries(props).filter(([p]) => !drop.has(p.toLowerCase())));
  }
  return top;
}

/** The fingerprint of a discovery row: `etag:<etag>` when ARM gave one, else `sha256:<hash of the canonical row minus VOLATILE_FIELDS>`. */
export function rowFingerprint(row: ArmResource | undefined, etag?: string): string | undefined {
  const tag = etag ?? (row && typeof row["etag"] === "string" ? row["etag"] : undefined);
  if (tag) return `etag:${tag.replace(/^W\//, "").replace(/"/g, "")}`;
  if (!row) return undefined;
  return `sha256:${createHash("sha256").update(JSON.stringify(canonical(withoutVolatile(row)))).digest("hex").slice(0, 32)}`;
}

export interface FreshnessState {
  /** The fingerprint the last full evaluation was made from. */
  fingerprint: string;
  /** When the last full evaluation started (ISO). */
  fullAt: string;
  /** When an event's evaluation for the service last started (ISO; empty when none). */
  eventAt: string;
  /** The last full evaluation left a fix to try again. */
  unsettled: boolean;
  /** How many APIs (revisions included) the last full evaluation read; absent when not recorded. The sweep's order uses it (src/app/sweep-order.ts). */
  apis?: number;
}

export type SweepRead = { full: false; reason: string; state: FreshnessState } | { full: true; reason: string };

/** Whether a sweep reads a service in full (see the module comment). */
export function sweepRead(state: FreshnessState | undefined, fingerprint: string | undefined, now: Date, fullSweepHours: number, eventWaiting: boolean): SweepRead {
  if (fullSweepHours <= 0) return { full: true, reason: "REMEDIATOR_FULL_SWEEP_HOURS is 0" };
  if (!fingerprint) return { full: true, reason: "the discovery row has no fingerprint" };
  if (!state) return { full: true, reason: "no full evaluation recorded" };
  if (state.fingerprint !== fingerprint) return { full: true, reason: "the discovery row changed" };
  const age = now.getTime() - Date.parse(state.fullAt);
  if (!Number.isFinite(age) || age >= fullSweepHours * 3_600_000 || age < -300_000) return { full: true, reason: `the last full evaluation is older than ${fullSweepHours} h` };
  if (eventWaiting) return { full: true, reason: "an event is waiting" };
  if (state.eventAt !== "" && state.eventAt >= state.fullAt) return { full: true, reason: "events since the last full evaluation" };
  if (state.unsettled) return { full: true, reason: "the last full evaluation left a fix to try again" };
  return { full: false, reason: "unchanged since the last full evaluation", state };
}

/** True when an evaluation's actions leave something a full read should try again. */
export function unsettledBy(actions: ActionResult[]): boolean {
  return actions.some((a) => a.mode === "enforce" && (a.outcome === "failed" || a.outcome === "rolled-back" || a.outcome === "in-progress" || (a.outcome === "skipped" && !/^exempted/.test(a.reason ?? ""))));
}

/** The cheap check: the rules that read nothing but the service resource (judged from the row when the message has one, else from one ARM GET). */
export function cheapRules(rules: Rule[]): Rule[] {
  return rules.filter(judgedFromRow);
}

export interface FreshnessDeps {
  freshness: FreshnessStore;
  pending: { peek(serviceId: string): Promise<unknown> };
  config: Pick<Config, "fullSweepHours">;
  log: { warn(obj: object, msg?: string): void };
}

/** How a sweep message reads its service; a storage failure reads in full (never a reason to skip). */
export async function decideSweepRead(deps: FreshnessDeps, msg: EvaluateMessage, now: Date): Promise<SweepRead> {
  try {
    const [state, marker] = await Promise.all([deps.freshness.get(msg.serviceId), deps.pending.peek(msg.serviceId)]);
    return sweepRead(state, msg.fingerprint, now, deps.config.fullSweepHours, marker !== undefined);
  } catch (e) {
    deps.log.warn({ serviceId: msg.serviceId, err: errorLine(e) }, "freshness state unreadable: the service is read in full");
    return { full: true, reason: "the freshness state could not be read" };
  }
}

/**
 * After an evaluation: an event's marks the service for a full read at the next sweep; a sweep's full read records
 * the fingerprint it was made from. Failures are logged, never thrown (the next sweep then reads in full, or skips
 * on the older record, which the safety-net age bounds).
 */
export async function noteEvaluation(deps: FreshnessDeps, msg: EvaluateMessage, read: SweepRead | undefined, startedAt: Date, result: Pick<EvaluationResult, "actions" | "operationCounts">, eventDriven: boolean): Promise<void> {
  try {
    if (eventDriven) await deps.freshness.recordEvent(msg.serviceId, startedAt);
    // with the APIs it read (revisions included), by which the next sweeps send the biggest full reads first (src/app/sweep-order.ts)
    else if (msg.reason === "sweep" && read?.full && msg.fingerprint) await deps.freshness.recordFull(msg.serviceId, msg.fingerprint, startedAt, unsettledBy(result.actions), result.operationCounts && Object.keys(result.operationCounts).length);
  } catch (e) {
    deps.log.warn({ serviceId: msg.serviceId, err: errorLine(e) }, "freshness state not recorded");
  }
}

const statusOf = (e: unknown) => (e as { statusCode?: number }).statusCode;

function stateOf(e: Record<string, unknown>): FreshnessState | undefined {
  if (typeof e["fingerprint"] !== "string" || typeof e["fullAt"] !== "string" || e["fullAt"] === "") return undefined;
  const apis = e["apis"];
  return { fingerprint: e["fingerprint"], fullAt: e["fullAt"], eventAt: typeof e["eventAt"] === "string" ? e["eventAt"] : "", unsettled: e["unsettled"] === true, ...(typeof apis === "number" && Number.isInteger(apis) && apis >= 0 ? { apis } : {}) };
}

/** The freshness rows in the app's storage (one per service). */
export class FreshnessStore {
  constructor(private readonly table: TableClient) {}

  async get(serviceId: string): Promise<FreshnessState | undefined> {
    try {
      return stateOf(await this.table.getEntity<Record<string, unknown>>(PARTITION, keyOf(serviceId)));
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** Every service's state (lowercase id): one partition query, a page per 1,000 services; what a sweep orders its messages by. */
  async states(): Promise<Map<string, FreshnessState>> {
    const out = new Map<string, FreshnessState>();
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${PARTITION}'`, select: ["serviceId", "fingerprint", "fullAt", "eventAt", "unsettled", "apis"] } })) {
      const state = stateOf(e);
      if (state && typeof e["serviceId"] === "string") out.set(e["serviceId"].toLowerCase(), state);
    }
    return out;
  }

  /** A full evaluation that started at `startedAt`, from a row with this fingerprint, which read `apis` APIs (when known). */
  async recordFull(serviceId: string, fingerprint: string, startedAt: Date, unsettled: boolean, apis?: number): Promise<void> {
    await this.table.upsertEntity({ partitionKey: PARTITION, rowKey: keyOf(serviceId), serviceId, fingerprint, fullAt: startedAt.toISOString(), unsettled, ...(apis !== undefined ? { apis } : {}) }, "Merge");
  }

  /** An event's evaluation started at `at`: the next sweep reads the service in full. */
  async recordEvent(serviceId: string, at: Date): Promise<void> {
    await this.table.upsertEntity({ partitionKey: PARTITION, rowKey: keyOf(serviceId), serviceId, eventAt: at.toISOString() }, "Merge");
  }

  /** The start of the last full evaluation per service (lowercase id), for the report's data age. */
  async fullTimes(): Promise<Map<string, string>> {
    return new Map([...(await this.states())].map(([id, s]) => [id, s.fullAt]));
  }
}

/** The freshness table from the app's storage settings (the same account and prefix as the other tables); created if missing. */
export async function openFreshnessStore(env: Env, credential: TokenCredential): Promise<FreshnessStore | undefined> {
  const table = await openAppTable(env, credential, FRESHNESS_TABLE);
  return table && new FreshnessStore(table);
}
