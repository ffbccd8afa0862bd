/**
 * The evaluation engine: collect a snapshot, detect, and for each drift
 * decide — by mode, exemption and blast radius — whether to remediate or to
 * report it. Remediations apply with If-Match; the engine re-plans on 412,
 * backs off on 409 (busy), stops on ScopeLocked, verifies by re-reading and
 * re-detecting, rolls back when verification fails, and audits every attempt.
 */
import { randomUUID } from "node:crypto";
import { pick } from "../model/arm.js";
import { apiScopeOf, inScope, type EvaluationScope, type ServiceSnapshot } from "../model/snapshot.js";
import { RULES, type Finding, type Rule, type RuleOptions } from "../remediations/index.js";
import { BlockedError, InProgressError, type ApplyContext, type Plan, type RemediationSettings } from "../remediations/types.js";
import { isBusy, isPreconditionFailed, isScopeLocked } from "../remediations/fixes/write.js";
import { DEFAULT_WEAK_CIPHERS } from "../remediations/gateway-weak-ciphers.js";
import { originOf } from "../remediations/fixes/key-vault.js";
import type { AuditOutcome, AuditRecord, AuditSink, Outcome } from "./audit.js";
import type { AzureClients } from "../azure/clients.js";
import { collectSnapshot } from "../azure/collector.js";
import type { Config } from "../common/config.js";
import { ownLocks, type LockInventory } from "./inventory.js";
import { mergeExemptions, settingExemptionsFor } from "./exemptions.js";
import { secrets as defaultRegistry, type SecretRegistry } from "../common/logger.js";
import { detect, needsOf } from "./scan.js";
import { judgedFromRow, rowSnapshot } from "./rows.js";
import type { ArmResource } from "../model/arm.js";
import { WAITING_FOR_UPDATE, type OperationPoller } from "../model/rule.js";
import { MemoryOperationStore, OperationHandedOff, type OperationMode, type OperationStore, type PendingOperation } from "./operations.js";

export type RuleMode = "enforce" | "dry-run" | "off";

export class BlastRadiusError extends Error {}

/** Write counters shared by one sweep (per-sweep limit) and one service evaluation (per-service limit). */
export class WriteBudget {
  used = 0;
  constructor(readonly limit: number) {}
}

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EngineDeps {
  clients: AzureClients;
  config: Config;
  audit: AuditSink;
  inventory: LockInventory;
  log: EngineLogger;
  registry?: SecretRegistry;
  sleep?: (ms: number) => Promise<void>;
  /** Base backoff for 409 (busy) retries; doubled per attempt. */
  backoffMs?: number;
  pollIntervalMs?: number;
  pollAttempts?: number;
  now?: () => Date;
  /**
   * Long-running operations (service updates): "wait" polls them in-process (default; the CLI, with
   * `progress` lines), "hand-off" records them in `operations` and ends the fix `in-progress`; every
   * evaluation first checks the operations recorded for its service (src/engine/operations.ts).
   */
  operationMode?: OperationMode;
  /**
   * In hand-off mode, how long an operation is polled in-process before it is handed off (default 0):
   * a quick one (a named value, an API, a fast service update) completes in the same evaluation, a
   * 15-45 minute service update does not hold the function.
   */
  handOffAfterMs?: number;
  /** Where handed-off operations are kept (default: in memory, this process only). */
  operations?: OperationStore;
  /** A progress line while an operation is awaited in-process. */
  progress?: (line: string) => void;
}

export interface ActionResult {
  ruleId: string;
  resourceId: string;
  mode: RuleMode;
  outcome: Outcome;
  reason?: string;
  plan?: Plan;
  writes: number;
  /** Outcome `in-progress`: the long-running operation Azure is still carrying out (`started`: by this evaluation). */
  inProgress?: { startedAt: string; polls: number; started: boolean };
}

export interface EvaluationResult {
  serviceId: string;
  correlationId: string;
  findings: Finding[];
  actions: ActionResult[];
  writes: number;
  /** Exemptions whose expiry date has passed (ignored, reported). */
  expiredExemptions: string[];
  /** Set when only some APIs were evaluated. */
  scope?: EvaluationScope;
  /** Rules judged from the service's Resource Graph row (no ARM read; the row may be seconds to minutes old). */
  fromRow?: string[];
  /** What ticketing did with this evaluation's drifts (set by the app when a provider is configured). */
  tickets?: import("../tickets/manager.js").SyncReport;
  /**
   * How many operations each API read had (lowercase API resource name, revisions as `api;rev=n`): set when the
   * rules read operation lists. The chunk planner counts a big service's later evaluations with them (src/app/chunks.ts).
   */
  operationCounts?: Record<string, number>;
}

export interface EvaluateOptions {
  correlationId?: string;
  /** Only these rules (default: every rule whose mode is not off). */
  rules?: Rule[];
  /** Force dry-run for this evaluation (CLI `remediate --dry-run`, `plan`). */
  dryRun?: boolean;
  /** Shared per-sweep budget. */
  sweepBudget?: WriteBudget;
  /** Read and judge only these APIs (an event named them); findings elsewhere are left out. */
  scope?: EvaluationScope;
  /** Run the rules that read only the service resource first (an event named the service). */
  serviceFirst?: boolean;
  /**
   * The service's Resource Graph row (from the sweep's discovery): the rules that read only the service judge
   * from it, with no ARM read. A row lags ARM, so its verdict is a hint: a rule whose row verdict fails and that
   * would fix it (enforce mode, a remediation) is judged again from ARM (read, re-detect, then fix).
   */
  row?: ArmResource;
  /** Aborted when the caller may no longer write (the app lost the service's lease): no write starts after it; the evaluation rejects with its reason. */
  signal?: AbortSignal;
  /** The service's API list, read a moment ago by the caller (a chunked evaluation's plan): the first snapshot does not read it again. */
  apiList?: ArmResource[];
  /** Called with the API list the evaluation reads, before any API is read one by one (a chunked evaluation's plan: src/engine/chunks.ts planGate); a rejection rejects the evaluation, before anything is written. */
  onApiList?: (list: ArmResource[]) => void | Promise<void>;
  /** The per-service write budget to draw from (a chunked evaluation shares one over its chunks); default: a new one of REMEDIATOR_MAX_WRITES_PER_SERVICE. */
  serviceBudget?: WriteBudget;
  /** Receives what the rules found outside `scope` (dropped from the result): a chunk's part of a verdict that spans every API (src/engine/chunks.ts). */
  onOutOfScope?: (findings: Finding[]) => void;
}

interface PassState {
  serviceId?: string;
  serviceBudget: WriteBudget;
  findings: Finding[];
  actions: ActionResult[];
  expired: string[];
  pretendIdentity?: Record<string, unknown>;
  /** Operations per API the passes read (OperationCounts). */
  operationCounts?: Record<string, number>;
}

/** Fix order: the identity first (Key Vault migration needs it), then everything else in catalog order, locks last (a ReadOnly lock would block every later fix). */
const PRIORITY = ["managed-identity"];
const LAST = ["resource-lock"];

export function ruleMode(config: Pick<Config, "mode" | "ruleModes" | "killSwitch">, rule: Rule): RuleMode {
  const explicit = config.ruleModes[rule.meta.id];
  if (explicit === "off") return "off";
  if (config.killSwitch) return "dry-run";
  // a global dry-run changes nothing at all: per-rule modes can only narrow enforce mode
  if (config.mode === "dry-run") return "dry-run";
  if (explicit) return explicit;
  return rule.meta.defaultAction === "auto" ? config.mode : "dry-run";
}

export interface Exemptions {
  rules: Set<string>;
  expired: string[];
  /** Where a rule's exemption came from when not the tag (REMEDIATOR_EXEMPTIONS; src/engine/exemptions.ts). */
  by?: Map<string, string>;
}

/**
 * Parses the exemption tag: `rule-id,rule-id` or `rule-id@2026-12-31,...`
 * (`*` exempts every rule). Entries past their date are ignored and reported.
 */
export function parseExemptions(value: unknown, now: Date): Exemptions {
  const out: Exemptions = { rules: new Set(), expired: [] };
  if (typeof value !== "string") return out;
  for (const raw of value.split(/[,;\s]+/).filter((x) => x.length > 0)) {
    const [id, until] = raw.split("@");
    if (!id) continue;
    if (until) {
      const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(until) ? `${until}T23:59:59Z` : until);
      if (!Number.isFinite(t) || t < now.getTime()) {
        out.expired.push(raw);
        continue;
      }
    }
    out.rules.add(id.toLowerCase());
  }
  return out;
}

export function remediationSettings(config: Config): RemediationSettings {
  return {
    minApiVersion: config.minApiVersion,
    weakCiphers: [...DEFAULT_WEAK_CIPHERS],
    keyVaultUrl: config.keyVaultUrl,
    keyVaultResourceId: config.keyVaultResourceId,
    grantKeyVaultAccess: config.grantKeyVaultAccess,
    lockName: config.lockName,
    lockLevel: config.lockLevel,
    lockNotes: config.lockNotes,
    recreateForeignLocks: config.recreateForeignLocks,
    managedIdentityAuto: RULES.some((r) => r.meta.id === "managed-identity") && ruleMode(config, RULES.find((r) => r.meta.id === "managed-identity") as Rule) === "enforce",
    logAnalyticsWorkspaceId: config.logAnalyticsWorkspaceId,
  };
}

export function ruleOptions(config: Config): RuleOptions {
  return { minApiVersion: config.minApiVersion, weakCiphers: [...DEFAULT_WEAK_CIPHERS], unusedDays: 30, lockName: config.lockName, recreateForeignLocks: config.recreateForeignLocks, certificateExpiryDays: config.certificateExpiryDays, now: new Date() };
}

function errText(e: unknown): string {
  const err = e as { statusCode?: number; code?: string; message?: string };
  return `${err.statusCode ? `HTTP ${err.statusCode} ` : ""}${err.code ? `${err.code}: ` : ""}${(err.message ?? String(e)).split("\n")[0]}`.slice(0, 500);
}

/** Raised when the audit trail cannot take the record of a change about to be made: the change is not made. */
export class AuditUnavailableError extends Error {}

/**
 * The clients a fix receives: Key Vault only at the configured vault, whatever
 * URL a plan or APIM data carries, so no fix can be steered into reading from
 * or writing to another vault (an allow-list of the configured vault).
 */
export function withVaultAllowList<C extends Pick<AzureClients, "secrets">>(clients: C, vaultUrl: string | undefined): C {
  const allowed = vaultUrl ? originOf(vaultUrl) : undefined;
  return {
    ...clients,
    secrets: (url?: string) => {
      const target = url ?? vaultUrl;
      if (!target || !allowed || originOf(target) !== allowed) throw new BlockedError(`Key Vault ${target ? (originOf(target) ?? "(not a URL)") : "(none)"} is not the configured vault (KEY_VAULT_URL): not contacted`);
      return clients.secrets(target);
    },
  };
}

const MAX_REPLANS = 3;
const AUDIT_ATTEMPTS = 3;
const MAX_BUSY_RETRIES = 4;
const WAITING = WAITING_FOR_UPDATE;

export class Engine {
  private readonly registry: SecretRegistry;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly operations: OperationStore;

  constructor(private readonly deps: EngineDeps) {
    this.operations = deps.operations ?? new MemoryOperationStore();
    this.registry = deps.registry ?? defaultRegistry;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private async snapshot(serviceId: string, rules: Rule[], scope?: EvaluationScope, service?: ServiceSnapshot["service"], apiList?: ArmResource[], onApiList?: EvaluateOptions["onApiList"]): Promise<ServiceSnapshot> {
    const snap = await collectSnapshot(this.deps.clients, serviceId, needsOf(rules), { unusedDays: 30, scope, service, apiList, onApiList });
    if (snap.collected.has("locks")) {
      await this.deps.inventory.remember(serviceId, ownLocks(snap.service.id, snap.locks));
      snap.lockInventory = await this.deps.inventory.get(serviceId);
    }
    return snap;
  }

  /**
   * Evaluates one service: detect, then remediate or report each drift.
   *
   * With `serviceFirst` (an event named the service itself) the rules that
   * read nothing but the service resource run first, on a snapshot of that one
   * resource, so their fixes do not wait for every collection of the service;
   * the other rules follow on a full snapshot (reusing the service body when
   * the first pass changed nothing).
   */
  async evaluate(serviceId: string, options: EvaluateOptions = {}): Promise<EvaluationResult> {
    const correlationId = options.correlationId ?? randomUUID();
    const rules = (options.rules ?? [...RULES]).filter((r) => ruleMode(this.deps.config, r) !== "off");
    const state: PassState = { serviceBudget: options.serviceBudget ?? new WriteBudget(this.deps.config.maxWritesPerService), findings: [], actions: [], expired: [] };
    const first = options.serviceFirst ? rules.filter((r) => r.meta.needs.every((n) => n === "service")) : [];
    const fromRow = options.row ? rules.filter(judgedFromRow) : [];
    if (options.row && fromRow.length > 0) {
      // the row's verdicts: a failing rule that would write goes back to ARM with the others (the row may lag)
      const hinted = detect([rowSnapshot(options.row)], fromRow, ruleOptions(this.deps.config));
      const writes = (r: Rule) => r.remediation !== undefined && !options.dryRun && ruleMode(this.deps.config, r) === "enforce";
      const recheck = fromRow.filter((r) => writes(r) && hinted.some((f) => f.ruleId === r.meta.id && f.status === "fail"));
      const judged = fromRow.filter((r) => !recheck.includes(r));
      if (judged.length > 0) await this.pass(serviceId, judged, { ...options, scope: undefined }, correlationId, state, options.row, true);
      const rest = rules.filter((r) => !judged.includes(r));
      if (rest.length > 0) await this.pass(serviceId, rest, options, correlationId, state);
      return { serviceId: state.serviceId ?? serviceId, correlationId, findings: state.findings, actions: state.actions, writes: state.serviceBudget.used, expiredExemptions: state.expired, scope: options.scope, fromRow: judged.map((r) => r.meta.id), ...(state.operationCounts ? { operationCounts: state.operationCounts } : {}) };
    }
    if (first.length > 0 && first.length < rules.length) {
      const snap = await this.pass(serviceId, first, options, correlationId, state);
      const changed = state.actions.some((a) => a.outcome === "applied");
      await this.pass(serviceId, rules.filter((r) => !first.includes(r)), options, correlationId, state, changed ? undefined : snap.service);
    } else {
      await this.pass(serviceId, rules, options, correlationId, state);
    }
    return { serviceId: state.serviceId ?? serviceId, correlationId, findings: state.findings, actions: state.actions, writes: state.serviceBudget.used, expiredExemptions: state.expired, scope: options.scope, ...(state.operationCounts ? { operationCounts: state.operationCounts } : {}) };
  }

  /** `hint`: the snapshot is a Resource Graph row: nothing it finds is fixed in this pass (enforce is planned, never applied). */
  private async pass(serviceId: string, rules: Rule[], options: EvaluateOptions, correlationId: string, state: PassState, knownService?: ServiceSnapshot["service"], hint = false): Promise<ServiceSnapshot> {
    const { config } = this.deps;
    const ropts = ruleOptions(config);
    let snap = await this.snapshot(serviceId, rules, options.scope, knownService, options.apiList, options.onApiList);
    for (const [api, ops] of Object.entries(snap.operations)) (state.operationCounts ??= {})[api] = ops.length;
    // a scoped evaluation saw only some APIs: what rules say about anything else is not a verdict
    const detected = detect([snap], rules, ropts);
    const findings = detected.filter((f) => inScope(serviceId, options.scope, f.resourceId));
    if (options.onOutOfScope && findings.length < detected.length) options.onOutOfScope(detected.filter((f) => !inScope(serviceId, options.scope, f.resourceId)));
    state.findings.push(...findings);
    const now = (this.deps.now ?? (() => new Date()))();
    const tagged = parseExemptions(pick(snap.service, `tags.${config.exemptTag}`) ?? (snap.service.tags as Record<string, unknown> | undefined)?.[config.exemptTag], now);
    const exemptions = mergeExemptions(tagged, parseExemptions(settingExemptionsFor(config, snap.service.id), now));
    state.expired = [...new Set([...state.expired, ...exemptions.expired])];
    const failing = findings
      .filter((f) => f.status === "fail")
      .sort((a, b) => rank(a.ruleId) - rank(b.ruleId));
    let stale = false;
    // operations handed off earlier (a service update Azure may still be applying): each is polled once, never started again
    const handled = new Set<string>();
    let updating: string | undefined;
    for (const op of await this.operations.list(snap.service.id)) {
      const rule = rules.find((r) => r.meta.id === op.ruleId);
      if (!rule) continue;
      const result = await this.continueOperation(op, rule, correlationId);
      state.actions.push(result);
      handled.add(`${op.ruleId}|${op.resourceId.toLowerCase()}`);
      if (result.outcome === "in-progress") updating ??= op.ruleId;
      else if (rule.meta.target === "service") stale = true;
    }
    for (const finding of failing) {
      if (handled.has(`${finding.ruleId}|${finding.resourceId.toLowerCase()}`)) continue;
      if (stale) {
        // service-level fixes (e.g. the identity) change what later plans depend on: read again before the next one
        snap = await this.snapshot(serviceId, rules, options.scope);
        stale = false;
      }
      const rule = rules.find((r) => r.meta.id === finding.ruleId) as Rule;
      const mode = options.dryRun || hint ? "dry-run" : ruleMode(config, rule);
      // the identity a planned (not applied) managed-identity fix would create: it shapes later plans, never an enforced apply
      const view = state.pretendIdentity && mode !== "enforce" ? { ...snap, service: { ...snap.service, identity: state.pretendIdentity } } : snap;
      const result = await this.handle(rule, finding, view, mode, exemptions, correlationId, state.serviceBudget, options.sweepBudget, options.signal, updating);
      state.actions.push(result);
      if (result.outcome === "planned" && rule.meta.id === "managed-identity") {
        // dry-run: later plans (the Key Vault migration) show what happens once the identity exists
        state.pretendIdentity = { ...((snap.service.identity as Record<string, unknown> | undefined) ?? {}), type: "SystemAssigned", principalId: "(the system-assigned identity the managed-identity fix creates)" };
      }
      if (result.outcome === "applied" && rule.meta.target === "service") stale = true;
      // a service update handed off just now: the service is Updating, later service fixes wait for it
      if (result.outcome === "in-progress" && result.inProgress) updating ??= rule.meta.id;
    }
    state.serviceId = snap.service.id;
    return snap;
  }

  /** The engine's `longRunning` hook: wait in-process with progress lines, or hand the operation off. */
  private async longRunning(poller: OperationPoller, what: string, ruleId: string, signal?: AbortSignal): Promise<void> {
    if (poller.isDone()) {
      await poller.pollUntilDone(); // the result, or the operation's error
      return;
    }
    const interval = this.deps.pollIntervalMs ?? 2000;
    if ((this.deps.operationMode ?? "wait") === "hand-off") {
      // the time asked of sleep, not the wall clock: bounded however fast a test's sleep is
      // the first poll at once (a quick operation is then done without a sleep), then one per interval
      const limit = this.deps.handOffAfterMs ?? 0;
      for (let waited = 0; limit > 0 && !poller.isDone(); waited += interval) {
        signal?.throwIfAborted();
        await poller.poll();
        if (poller.isDone() || waited + interval > limit) break;
        await this.sleep(interval);
      }
      if (!poller.isDone()) throw new OperationHandedOff(poller.toString(), what);
      await poller.pollUntilDone();
      return;
    }
    const started = Date.now();
    let next = 0;
    while (!poller.isDone()) {
      signal?.throwIfAborted();
      await this.sleep(interval);
      await poller.poll();
      const elapsed = Math.round((Date.now() - started) / 1000);
      if (!poller.isDone() && elapsed >= next) {
        this.deps.progress?.(`${ruleId}: ${what} in progress in Azure (${elapsed}s so far; service updates can take 15 to 45 minutes or longer); waiting`);
        next = elapsed + 30;
      }
    }
    await poller.pollUntilDone();
  }

  /**
   * One check of an operation handed off earlier: poll it once (no waiting, no new write). Still
   * running: `in-progress` (the record is kept). Succeeded: re-read and re-detect, then `applied` or
   * `failed`. Failed: `failed`. The record goes once the outcome is final.
   */
  private async continueOperation(op: PendingOperation, rule: Rule, correlationId: string): Promise<ActionResult> {
    const { record } = this.recorder(op.ruleId, op.resourceId, "enforce", correlationId);
    const plan = op.plan;
    const since = `started ${op.startedAt}`;
    const done = async (outcome: Outcome, reason?: string) => {
      await this.operations.remove(op.serviceId, op.ruleId, op.resourceId);
      return record(outcome, { plan, reason });
    };
    const remediation = rule.remediation;
    if (!remediation?.resume) return done("failed", `a long-running operation was recorded (${since}) but this fix cannot resume it`);
    let poller: OperationPoller;
    try {
      poller = await remediation.resume(plan, op.state, { clients: this.deps.clients, pollIntervalMs: this.deps.pollIntervalMs ?? 2000 });
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === undefined && !/long-running operation has failed/i.test(String((e as Error).message)) || (status !== undefined && (status >= 500 || status === 429))) {
        // the status could not be read (network, throttling, ARM outage): the operation is still ours; checked again later
        return this.stillRunning(op, `${since}; its status could not be read (${errText(e)}): checked again later`);
      }
      return done("failed", `the long-running operation (${since}) failed: ${errText(e)}`);
    }
    if (!poller.isDone()) return this.stillRunning(op, `${since}; Azure is still applying it (check ${op.polls + 1}), checked again later`);
    try {
      await poller.pollUntilDone();
    } catch (e) {
      return done("failed", `the long-running operation (${since}) failed: ${errText(e)}`);
    }
    try {
      const fresh = await this.snapshot(op.serviceId, [rule], apiScopeOf(op.serviceId, op.resourceId));
      const after = rule.detect(fresh, ruleOptions(this.deps.config)).find((f) => f.resourceId.toLowerCase() === op.resourceId.toLowerCase());
      if (!after || after.status === "pass") return done("applied");
      return done("failed", `verification failed after the operation (${since}) completed: ${after.message}`);
    } catch (e) {
      // the operation is done, the re-read is not: the record stays, the next evaluation verifies
      return this.stillRunning(op, `${since}; completed, but the verification could not read the service (${errText(e)}): verified later`);
    }
  }

  /** Keeps an operation's record with one more check counted; the result is `in-progress` (audited once, when started; then logged). */
  private async stillRunning(op: PendingOperation, reason: string): Promise<ActionResult> {
    const polls = op.polls + 1;
    await this.operations.put({ ...op, polls, lastCheckedAt: new Date().toISOString() });
    const inProgress = { startedAt: op.startedAt, polls, started: false };
    this.deps.log.info({ serviceId: op.serviceId, ruleId: op.ruleId, resourceId: op.resourceId, polls, startedAt: op.startedAt }, `${op.ruleId} in-progress`);
    return { ruleId: op.ruleId, resourceId: op.resourceId, mode: "enforce", outcome: "in-progress", reason: this.registry.scrub(`${op.plan.summary}: ${reason}`), plan: op.plan, writes: 0, inProgress };
  }

  /** The audit and result helpers for one rule on one resource: the record, its retried write, and the recorded result. */
  private recorder(ruleId: string, resourceId: string, mode: RuleMode, correlationId: string) {
    const base = { ruleId, resourceId, mode };
    const auditRecord = (outcome: AuditOutcome, extra: Partial<AuditRecord> & { plan?: Plan; writes?: number } = {}): AuditRecord => {
      const { plan, writes = 0, ...rest } = extra;
      return {
        time: new Date().toISOString(),
        correlationId,
        actor: this.deps.config.principalId ?? "unknown",
        mode,
        ruleId,
        resourceId,
        targetId: plan?.targetId,
        operation: plan?.operation,
        summary: plan?.summary,
        changes: plan?.changes,
        outcome,
        writes,
        ...rest,
      };
    };
    /** Writes an audit record, retrying a failing sink; resolves false when every attempt failed. */
    const persist = async (rec: AuditRecord): Promise<unknown> => {
      let last: unknown;
      for (let attempt = 0; attempt < AUDIT_ATTEMPTS; attempt++) {
        try {
          await this.deps.audit.write(rec);
          return undefined;
        } catch (e) {
          last = e;
          if (attempt + 1 < AUDIT_ATTEMPTS) await this.sleep(200 * 2 ** attempt);
        }
      }
      return last ?? new Error("audit write failed");
    };
    const record = async (outcome: Outcome, extra: Partial<AuditRecord> & { plan?: Plan; writes?: number; inProgress?: ActionResult["inProgress"] } = {}): Promise<ActionResult> => {
      const { inProgress, ...fields } = extra;
      const rec = auditRecord(outcome, fields);
      // the log line comes first and carries the whole record: what happened is on record even if the audit sink fails
      this.deps.log.info({ audit: { ...rec, changes: undefined } }, `${ruleId} ${outcome}`);
      const failed = await persist(rec);
      if (failed !== undefined) this.deps.log.error({ audit: { ...rec, changes: undefined }, err: errText(failed) }, `audit record not written after ${AUDIT_ATTEMPTS} attempts: ${ruleId} ${outcome}`);
      const { plan, writes = 0, reason } = extra;
      // the audit sink and the logger scrub registered secrets; the result goes to callers (CLI, functions) as is, so scrub it too
      return { ...base, outcome, reason: reason === undefined ? undefined : this.registry.scrub(reason), plan, writes, ...(inProgress ? { inProgress } : {}) };
    };
    return { auditRecord, persist, record };
  }

  private async handle(rule: Rule, finding: Finding, snap: ServiceSnapshot, mode: RuleMode, exemptions: Exemptions, correlationId: string, serviceBudget: WriteBudget, sweepBudget?: WriteBudget, signal?: AbortSignal, updating?: string): Promise<ActionResult> {
    const { auditRecord, persist, record } = this.recorder(rule.meta.id, finding.resourceId, mode, correlationId);

    if (exemptions.rules.has(rule.meta.id) || exemptions.rules.has("*")) return record("skipped", { reason: `exempted by ${exemptions.by?.get(exemptions.rules.has(rule.meta.id) ? rule.meta.id : "*") ?? `tag ${this.deps.config.exemptTag}`}` });
    const remediation = rule.remediation;
    const planCtx = { settings: remediationSettings(this.deps.config), lockInventory: snap.lockInventory };
    if (!remediation) return record("not-remediable", { reason: "this rule is reported, not fixed automatically" });
    const planned = remediation.plan(finding, snap, planCtx);
    if (planned.kind === "blocked") return record("not-remediable", { reason: planned.reason });
    if (mode !== "enforce") return record("planned", { plan: planned.plan, reason: this.deps.config.killSwitch ? "kill switch on" : "dry-run" });
    // ARM refuses other writes to a service while an update runs (409): this fix waits for the next evaluation
    if (updating && /^PATCH Microsoft\.ApiManagement\/service$/i.test(planned.plan.operation)) return record("skipped", { plan: planned.plan, reason: `${WAITING} (${updating}) to complete; fixed by a later evaluation` });

    let plan = planned.plan;
    let writes = 0;
    // intent before the first write: no audit trail, no change
    const intent = auditRecord("started", { plan });
    const intentFailed = await persist(intent);
    if (intentFailed !== undefined) {
      this.deps.log.error({ audit: { ...intent, changes: undefined }, err: errText(intentFailed) }, `audit unavailable: ${rule.meta.id} not applied`);
      throw new AuditUnavailableError(`the audit trail is unavailable (${errText(intentFailed)}): no change made for ${rule.meta.id} on ${finding.resourceId}`);
    }
    const ctx: ApplyContext = {
      clients: withVaultAllowList(this.deps.clients, planCtx.settings.keyVaultUrl),
      settings: planCtx.settings,
      write: (description) => {
        signal?.throwIfAborted();
        if (serviceBudget.used >= serviceBudget.limit) throw new BlastRadiusError(`per-service write limit (${serviceBudget.limit}) reached before: ${description}`);
        if (sweepBudget && sweepBudget.used >= sweepBudget.limit) throw new BlastRadiusError(`per-sweep write limit (${sweepBudget.limit}) reached before: ${description}`);
        serviceBudget.used++;
        if (sweepBudget) sweepBudget.used++;
        writes++;
      },
      secret: (v) => this.registry.add(v),
      log: this.deps.log,
      sleep: this.sleep,
      pollIntervalMs: this.deps.pollIntervalMs ?? 2000,
      pollAttempts: this.deps.pollAttempts ?? 10,
      longRunning: (poller, what) => this.longRunning(poller, what, rule.meta.id, signal),
    };

    let replans = 0;
    let busy = 0;
    for (;;) {
      try {
        await remediation.apply(plan, ctx);
        break;
      } catch (e) {
        if (signal?.aborted) {
          // the caller may no longer write (e.g. its lease is lost): no rollback (a write), the evaluation ends here
          await record("skipped", { plan, writes, reason: `stopped before the next write: ${errText(signal.reason)}` });
          throw signal.reason;
        }
        if (e instanceof OperationHandedOff) {
          // Azure runs on without us: remember the operation, end this fix; a later evaluation polls it and verifies
          const startedAt = new Date().toISOString();
          const op: PendingOperation = { serviceId: snap.service.id, ruleId: rule.meta.id, resourceId: finding.resourceId, state: e.state, plan, correlationId, startedAt, polls: 0 };
          let untracked = "";
          try {
            await this.operations.put(op);
          } catch (err) {
            untracked = `; it could not be recorded (${errText(err)}): a later evaluation finds the service updating and waits`;
            this.deps.log.error({ serviceId: snap.service.id, ruleId: rule.meta.id, err: errText(err) }, "long-running operation not recorded");
          }
          return record("in-progress", { plan, writes, reason: `${e.what} started ${startedAt}; Azure is still applying it, a later evaluation checks it and verifies${untracked}`, inProgress: { startedAt, polls: 0, started: true } });
        }
        if (e instanceof BlastRadiusError) return record("skipped", { plan, writes, reason: e.message });
        // not a failure: Azure is still completing what the fix started; nothing is rolled back, a later evaluation continues
        if (e instanceof InProgressError) return record("in-progress", { plan, writes, reason: e.message });
        if (e instanceof BlockedError) return record("not-remediable", { plan, writes, reason: e.message });
        if (isScopeLocked(e)) return record("not-remediable", { plan, writes, reason: `a ReadOnly lock blocks the change (${errText(e)})` });
        if (isPreconditionFailed(e) && replans < MAX_REPLANS) {
          replans++;
          // someone changed the resource since we read it: re-read, re-detect, re-plan
          const fresh = await this.snapshot(snap.service.id, [rule]);
          const again = rule.detect(fresh, ruleOptions(this.deps.config)).find((f) => f.resourceId.toLowerCase() === finding.resourceId.toLowerCase());
          if (!again || again.status !== "fail") return record("skipped", { plan, writes, reason: "resolved by a concurrent change (412, re-read)" });
          const p = remediation.plan(again, fresh, { ...planCtx, lockInventory: fresh.lockInventory });
          if (p.kind === "blocked") return record("not-remediable", { plan, writes, reason: p.reason });
          plan = p.plan;
          continue;
        }
        if (isBusy(e) && busy < MAX_BUSY_RETRIES) {
          await this.sleep((this.deps.backoffMs ?? 2000) * 2 ** busy);
          busy++;
          continue;
        }
        // a failure after something was written: restore the previous state where the rule knows how
        if (writes > 0 && remediation.rollback) {
          try {
            const restored = await remediation.rollback(plan, ctx);
            return record(restored ? "rolled-back" : "failed", { plan, writes, reason: `apply failed: ${errText(e)}${restored ? "" : " (nothing had changed on the resource)"}` });
          } catch (r) {
            return record("failed", { plan, writes, reason: `apply failed (${errText(e)}) and rollback failed: ${errText(r)}` });
          }
        }
        return record("failed", { plan, writes, reason: errText(e) });
      }
    }

    // verify: re-read what the rule needs and re-detect this resource (for a finding on an API: that API only)
    let verified = false;
    let verifyReason = "";
    try {
      const fresh = await this.snapshot(snap.service.id, [rule], apiScopeOf(snap.service.id, finding.resourceId));
      const after = rule.detect(fresh, ruleOptions(this.deps.config)).find((f) => f.resourceId.toLowerCase() === finding.resourceId.toLowerCase());
      verified = !after || after.status === "pass";
      verifyReason = after?.message ?? "";
    } catch (e) {
      verifyReason = errText(e);
    }
    if (verified) return record("applied", { plan, writes });
    if (remediation.rollback) {
      try {
        const restored = await remediation.rollback(plan, ctx);
        return record(restored ? "rolled-back" : "failed", { plan, writes, reason: `verification failed: ${verifyReason}${restored ? "" : " (nothing to restore)"}` });
      } catch (e) {
        return record("failed", { plan, writes, reason: `verification failed (${verifyReason}) and rollback failed: ${errText(e)}` });
      }
    }
    return record("failed", { plan, writes, reason: `verification failed: ${verifyReason}` });
  }
}

function rank(ruleId: string): number {
  const i = PRIORITY.indexOf(ruleId);
  if (i >= 0) return i;
  return PRIORITY.length + RULES.findIndex((r) => r.meta.id === ruleId) + (LAST.includes(ruleId) ? RULES.length : 0);
}


