/**
 * One ticket per drift, kept up to date and closed when the drift is gone.
 *
 * - a drift the remediator did not fix (dry-run, ticket-only rule, ScopeLocked,
 *   blast-radius stop, failed verification) has exactly one open ticket, keyed
 *   by its fingerprint (rule id + resource id, hashed);
 * - a repeated drift comments on it when what the ticket says changed, or after
 *   the comment interval; a drift that is gone gets a closing comment and the
 *   ticket is closed; a drift that comes back reopens it;
 * - the fingerprint -> ticket mapping is kept in a store (Table storage in the
 *   app) and in the ticket itself, so a lost store is rebuilt from the provider;
 * - provider failures never block remediation: the ticket is marked pending and
 *   retried at the next evaluation; creations are rate-limited.
 */
import { inScope, type EvaluationScope } from "../model/snapshot.js";
import type { Finding, Rule } from "../model/rule.js";
import { buildTicket, contentHash, fingerprintOf } from "./content.js";
import { TicketHttpError, type TicketProvider, type TicketRef } from "./types.js";

export interface StoredTicket {
  fingerprint: string;
  serviceId: string;
  ruleId: string;
  resourceId: string;
  provider: string;
  ticketId?: string;
  url?: string;
  /** pending = the provider could not be reached; retried next time. */
  state: "open" | "closed" | "pending";
  /** What the pending retry must do. */
  pending?: "open" | "close";
  contentHash?: string;
  lastCommentAt?: string;
  updatedAt: string;
}

export interface TicketStore {
  get(serviceId: string, fingerprint: string): Promise<StoredTicket | undefined> | StoredTicket | undefined;
  put(t: StoredTicket): Promise<void> | void;
  listForService(serviceId: string): Promise<StoredTicket[]> | StoredTicket[];
}

export class MemoryTicketStore implements TicketStore {
  readonly items = new Map<string, StoredTicket>();
  get(_s: string, fp: string) {
    return this.items.get(fp);
  }
  put(t: StoredTicket) {
    this.items.set(t.fingerprint, { ...t });
  }
  listForService(serviceId: string) {
    return [...this.items.values()].filter((t) => t.serviceId.toLowerCase() === serviceId.toLowerCase());
  }
}

/** A drift as the engine reports it, ready to ticket. */
export interface Drift {
  rule: Rule;
  finding: Finding;
  outcome: string;
  reason?: string;
  plan?: import("../model/rule.js").Plan;
}

export interface SyncInput {
  serviceId: string;
  correlationId: string;
  /** Rules evaluated this time (tickets of other rules are left alone). */
  rulesEvaluated: string[];
  findings: Finding[];
  /** Drifts to ticket (not fixed automatically). */
  drifts: Drift[];
  /** Fingerprints whose tickets are left as they are (e.g. exempted drifts). */
  leaveAlone?: string[];
  /** Set when only some APIs were evaluated: tickets on other resources are left as they are. */
  scope?: EvaluationScope;
}

export interface SyncReport {
  opened: string[];
  commented: string[];
  closed: string[];
  reopened: string[];
  pending: string[];
  errors: string[];
}

export interface TicketManagerOptions {
  scrub?: (s: string) => string;
  log?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
  /** Minimum time between "still present" comments when nothing changed. */
  commentIntervalMs?: number;
  /** Ticket creations (open/reopen) allowed per minute. */
  createsPerMinute?: number;
  now?: () => number;
}

export class TicketManager {
  private tokens: number;
  private lastRefill: number;

  constructor(
    readonly provider: TicketProvider,
    readonly store: TicketStore,
    private readonly options: TicketManagerOptions = {},
  ) {
    this.tokens = options.createsPerMinute ?? 30;
    this.lastRefill = this.now();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private takeToken(): boolean {
    const rate = this.options.createsPerMinute ?? 30;
    const t = this.now();
    this.tokens = Math.min(rate, this.tokens + ((t - this.lastRefill) / 60_000) * rate);
    this.lastRefill = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Brings the tickets of one service in line with an evaluation. Never throws. */
  async sync(input: SyncInput): Promise<SyncReport> {
    const report: SyncReport = { opened: [], commented: [], closed: [], reopened: [], pending: [], errors: [] };
    const scrub = this.options.scrub ?? ((s: string) => s);
    const driftFps = new Set<string>();
    const nowIso = () => new Date(this.now()).toISOString();

    for (const d of input.drifts) {
      const content = buildTicket({ rule: d.rule, finding: d.finding, serviceId: input.serviceId, plan: d.plan, reason: d.reason, outcome: d.outcome }, scrub);
      const fp = content.fingerprint;
      driftFps.add(fp);
      const hash = contentHash(content);
      let stored: StoredTicket | undefined;
      try {
        stored = await this.store.get(input.serviceId, fp);
        const base: StoredTicket = stored ?? { fingerprint: fp, serviceId: input.serviceId, ruleId: d.rule.meta.id, resourceId: d.finding.resourceId, provider: this.provider.name, state: "pending", updatedAt: nowIso() };
        if (base.state === "open" && base.ticketId) {
          const stale = !base.lastCommentAt || this.now() - Date.parse(base.lastCommentAt) >= (this.options.commentIntervalMs ?? 24 * 3600_000);
          if (base.contentHash === hash && !stale) continue;
          try {
            await this.provider.comment(this.ref(base), scrub(`Still present at ${nowIso()} (evaluation ${input.correlationId}).\n\n${base.contentHash !== hash ? content.body : d.finding.message}`));
            await this.store.put({ ...base, contentHash: hash, lastCommentAt: nowIso(), updatedAt: nowIso() });
            report.commented.push(fp);
            continue;
          } catch (e) {
            // closed or deleted by hand in the ticket system: fall through and find / reopen / open
            if (!(e instanceof TicketHttpError) || ![403, 404, 410].includes(e.status)) throw e;
            base.state = "closed";
            stored = { ...base };
          }
        }
        // no open ticket known: look in the provider first (the store may have been lost)
        let ref: TicketRef | undefined = await this.provider.find(fp);
        if (!ref && base.ticketId && base.state === "closed") ref = this.ref(base);
        if (!this.takeToken()) {
          await this.store.put({ ...base, state: "pending", pending: "open", updatedAt: nowIso() });
          report.pending.push(fp);
          continue;
        }
        if (ref && ref.state === "open") {
          await this.provider.comment(ref, scrub(`Still present at ${nowIso()} (evaluation ${input.correlationId}).`));
          report.commented.push(fp);
        } else if (ref) {
          ref = await this.provider.reopen(ref, content, scrub(`The drift is back (evaluation ${input.correlationId}): ${d.finding.message}`));
          report.reopened.push(fp);
        } else {
          ref = await this.provider.open(content);
          report.opened.push(fp);
        }
        await this.store.put({ ...base, ticketId: ref.id, url: ref.url, state: "open", pending: undefined, contentHash: hash, lastCommentAt: nowIso(), updatedAt: nowIso() });
      } catch (e) {
        report.errors.push(`${fp}: ${scrub((e as Error).message)}`);
        report.pending.push(fp);
        this.options.log?.warn({ fingerprint: fp, reason: scrub((e as Error).message) }, "ticket not delivered; retried at the next evaluation");
        try {
          await this.store.put({ ...(stored ?? { fingerprint: fp, serviceId: input.serviceId, ruleId: d.rule.meta.id, resourceId: d.finding.resourceId, provider: this.provider.name, updatedAt: nowIso() }), state: stored?.state === "open" ? "open" : "pending", pending: stored?.state === "open" ? undefined : "open", updatedAt: nowIso() } as StoredTicket);
        } catch {
          // the store is down too: the next evaluation finds the drift again
        }
      }
    }

    // drifts that are gone: close their tickets (only for rules evaluated this time)
    const evaluated = new Set(input.rulesEvaluated);
    // fixed drifts are not in `drifts`: their tickets close; exempted ones are left alone
    const present = new Set(input.leaveAlone ?? []);
    let known: StoredTicket[] = [];
    try {
      known = await this.store.listForService(input.serviceId);
    } catch (e) {
      report.errors.push(`store: ${scrub((e as Error).message)}`);
    }
    for (const t of known) {
      if (!evaluated.has(t.ruleId) || driftFps.has(t.fingerprint) || present.has(t.fingerprint)) continue;
      if (!inScope(input.serviceId, input.scope, t.resourceId)) continue;
      if (t.state === "closed") continue;
      try {
        if (t.ticketId && t.state === "open") {
          await this.provider.close(this.ref(t), scrub(`Resolved: the resource is compliant again (evaluation ${input.correlationId}, ${nowIso()}).`));
          report.closed.push(t.fingerprint);
        }
        await this.store.put({ ...t, state: "closed", pending: undefined, updatedAt: nowIso() });
      } catch (e) {
        report.errors.push(`${t.fingerprint}: ${scrub((e as Error).message)}`);
        report.pending.push(t.fingerprint);
        this.options.log?.warn({ fingerprint: t.fingerprint, reason: scrub((e as Error).message) }, "ticket not closed; retried at the next evaluation");
      }
    }
    return report;
  }

  private ref(t: StoredTicket): TicketRef {
    return { id: t.ticketId as string, url: t.url, state: t.state === "closed" ? "closed" : "open" };
  }
}

/** Fingerprints of failing findings that are exempted (their tickets are left alone). */
export function exemptedFingerprints(findings: Finding[], actions: Array<{ ruleId: string; resourceId: string; outcome: string; reason?: string }>): string[] {
  return actions.filter((a) => a.outcome === "skipped" && a.reason?.startsWith("exempted")).map((a) => fingerprintOf(a.ruleId, a.resourceId)).filter((fp) => findings.some((f) => fingerprintOf(f.ruleId, f.resourceId) === fp));
}

/** The drifts of an evaluation that need a ticket: everything failing that was not fixed (exempted ones excepted). */
export function driftsToTicket(rules: Rule[], findings: Finding[], actions: Array<{ ruleId: string; resourceId: string; outcome: string; reason?: string; plan?: import("../model/rule.js").Plan }>): Drift[] {
  const out: Drift[] = [];
  for (const f of findings) {
    if (f.status !== "fail") continue;
    const rule = rules.find((r) => r.meta.id === f.ruleId);
    if (!rule) continue;
    const a = actions.find((x) => x.ruleId === f.ruleId && x.resourceId.toLowerCase() === f.resourceId.toLowerCase());
    if (a?.outcome === "applied") continue;
    if (a?.outcome === "skipped" && a.reason?.startsWith("exempted")) continue;
    if (a?.outcome === "skipped" && a.reason?.startsWith("resolved by a concurrent change")) continue;
    out.push({ rule, finding: f, outcome: a?.outcome ?? "reported", reason: a?.reason, plan: a?.plan });
  }
  return out;
}
