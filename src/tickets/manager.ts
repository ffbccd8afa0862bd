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
 *   retried at the next evaluation; creations are rate-limited;
 * - overlapping syncs never open two tickets for one drift: the mapping row is
 *   claimed (a conditional insert, or an update conditional on the ETag read)
 *   before the provider is searched or a ticket opened; the loser leaves the
 *   drift to the winner. A claim never finished (its worker died) is taken over
 *   after `claimTimeoutMs`, and the provider search finds a ticket it opened.
 */
import { inScope, type EvaluationScope } from "../model/snapshot.js";
import { WAITING_FOR_UPDATE, type Finding, type Rule } from "../model/rule.js";
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
  /** Set while a sync is opening (or reopening) the ticket: nobody else does meanwhile (see `TicketManagerOptions.claimTimeoutMs`). */
  claimedAt?: string;
  /** The row's version as read (from `get` / `listForService`; never stored). */
  etag?: string;
}

export interface TicketStore {
  get(serviceId: string, fingerprint: string): Promise<StoredTicket | undefined> | StoredTicket | undefined;
  put(t: StoredTicket): Promise<void> | void;
  /** Adds the row only if there is none: false when one exists (another sync created it first). */
  insert(t: StoredTicket): Promise<boolean> | boolean;
  /** Replaces the row only if it is still at `etag`: false when it changed (or went) meanwhile. */
  replace(t: StoredTicket, etag: string): Promise<boolean> | boolean;
  listForService(serviceId: string): Promise<StoredTicket[]> | StoredTicket[];
}

export class MemoryTicketStore implements TicketStore {
  readonly items = new Map<string, StoredTicket>();
  private version = 0;
  private readonly etags = new Map<string, string>();
  get(_s: string, fp: string) {
    const t = this.items.get(fp);
    return t ? { ...t, etag: this.etags.get(fp) } : undefined;
  }
  put(t: StoredTicket) {
    const { etag: _etag, ...row } = t;
    this.items.set(t.fingerprint, row);
    this.etags.set(t.fingerprint, String(++this.version));
  }
  insert(t: StoredTicket) {
    if (this.items.has(t.fingerprint)) return false;
    this.put(t);
    return true;
  }
  replace(t: StoredTicket, etag: string) {
    if (!this.items.has(t.fingerprint) || this.etags.get(t.fingerprint) !== etag) return false;
    this.put(t);
    return true;
  }
  listForService(serviceId: string) {
    return [...this.items.values()].filter((t) => t.serviceId.toLowerCase() === serviceId.toLowerCase()).map((t) => ({ ...t, etag: this.etags.get(t.fingerprint) }));
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
  /** A claim on a mapping row older than this was abandoned (its worker died) and is taken over (default 10 minutes). */
  claimTimeoutMs?: number;
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
        // one ticket per drift: claim the mapping row before searching or opening; an overlapping sync that claimed it first opens it
        if (!(await this.claim(stored, base))) {
          this.options.log?.info({ fingerprint: fp }, "another evaluation is opening this ticket: left to it");
          continue;
        }
        // no open ticket known: look in the provider first (the store may have been lost, or a claim abandoned after its ticket was opened)
        let ref: TicketRef | undefined = await this.provider.find(fp);
        if (!ref && base.ticketId && base.state === "closed") ref = this.ref(base);
        if (!this.takeToken()) {
          await this.store.put({ ...base, state: "pending", pending: "open", claimedAt: undefined, updatedAt: nowIso() });
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
        await this.store.put({ ...base, ticketId: ref.id, url: ref.url, state: "open", pending: undefined, claimedAt: undefined, contentHash: hash, lastCommentAt: nowIso(), updatedAt: nowIso() });
      } catch (e) {
        report.errors.push(`${fp}: ${scrub((e as Error).message)}`);
        report.pending.push(fp);
        this.options.log?.warn({ fingerprint: fp, reason: scrub((e as Error).message) }, "ticket not delivered; retried at the next evaluation");
        try {
          await this.store.put({ ...(stored ?? { fingerprint: fp, serviceId: input.serviceId, ruleId: d.rule.meta.id, resourceId: d.finding.resourceId, provider: this.provider.name, updatedAt: nowIso() }), state: stored?.state === "open" ? "open" : "pending", pending: stored?.state === "open" ? undefined : "open", claimedAt: undefined, updatedAt: nowIso() } as StoredTicket);
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
      // another sync is opening it right now (it saw the drift): left to that one
      if (this.claimLive(t)) continue;
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

  private claimLive(t: StoredTicket | undefined): boolean {
    return !!t?.claimedAt && this.now() - Date.parse(t.claimedAt) < (this.options.claimTimeoutMs ?? 10 * 60_000);
  }

  /**
   * Claims a drift's mapping row before its ticket is searched for and opened: a conditional insert when
   * there is no row, else an update conditional on the ETag read. False when another sync got there first
   * (it holds a live claim, created the row, or changed it since it was read): that sync opens the ticket.
   */
  private async claim(stored: StoredTicket | undefined, base: StoredTicket): Promise<boolean> {
    if (this.claimLive(stored)) return false;
    const at = new Date(this.now()).toISOString();
    const row: StoredTicket = { ...base, pending: "open", claimedAt: at, updatedAt: at, etag: undefined };
    if (!stored) return this.store.insert(row);
    if (!stored.etag) throw new Error(`the ticket store returned the mapping of ${stored.fingerprint} without an ETag`);
    return this.store.replace(row, stored.etag);
  }

  private ref(t: StoredTicket): TicketRef {
    return { id: t.ticketId as string, url: t.url, state: t.state === "closed" ? "closed" : "open" };
  }
}

/** Fingerprints of failing findings that are exempted (their tickets are left alone). */
export function exemptedFingerprints(findings: Finding[], actions: Array<{ ruleId: string; resourceId: string; outcome: string; reason?: string }>): string[] {
  // also left alone: a change still in progress (Azure applying it; neither failed nor fixed yet) and a fix waiting for it
  return actions.filter((a) => (a.outcome === "skipped" && a.reason?.startsWith("exempted")) || a.outcome === "in-progress" || (a.outcome === "skipped" && a.reason?.startsWith(WAITING_FOR_UPDATE))).map((a) => fingerprintOf(a.ruleId, a.resourceId)).filter((fp) => findings.some((f) => fingerprintOf(f.ruleId, f.resourceId) === fp));
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
    // a change Azure is still applying (or a grant still propagating): neither failed nor fixed yet, no ticket
    if (a?.outcome === "in-progress") continue;
    // a service fix waiting for another service update to complete: no ticket, a later evaluation fixes it
    if (a?.outcome === "skipped" && a.reason?.startsWith(WAITING_FOR_UPDATE)) continue;
    out.push({ rule, finding: f, outcome: a?.outcome ?? "reported", reason: a?.reason, plan: a?.plan });
  }
  return out;
}
