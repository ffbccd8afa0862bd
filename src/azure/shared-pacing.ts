/**
 * ARM pacing shared by every instance of the app: one token budget per
 * principal, subscription and kind, kept in storage, so N Function instances
 * acting as one identity stay under ARM's throttling together.
 *
 * ARM throttles per principal and subscription, not per process (Learn,
 * "Understand how Azure Resource Manager throttles requests": token buckets
 * "per subscription, per service principal, and per operation type", reads
 * 250 refilled 25/s, writes and deletes 200 refilled 10/s, plus "global
 * subscription limits that are equivalent to 15 times the individual service
 * principal limits ... [that] apply across all service principals"). The
 * per-process pacer (pacing.ts) mirrors those buckets inside one process;
 * here the mirror lives in a store row that instances update with
 * conditional writes (ETag / If-Match), so two instances never take the same
 * tokens:
 *
 * - Leases. An instance takes several tokens per storage round trip: what its
 *   waiting requests need plus its recent rate over `leaseMs` (at most
 *   `maxLease`). Tokens not sent within `leaseMs` are dropped, not returned.
 * - Tokens ARM may not have counted yet. ARM counts a request when it
 *   arrives, the mirror when it is leased; between the two ARM's bucket,
 *   capped at its capacity, may be full and lose refill the mirror counted.
 *   So the mirror fills only up to the capacity less every instance's tokens
 *   not yet known to have arrived (the same rule as the per-process mirror's
 *   requests in flight). The row keeps one entry per instance: at each lease
 *   the instance writes what it now holds plus its requests sent and not yet
 *   answered (a request queued in the client behind busy sockets or a busy
 *   event loop may reach ARM seconds after its token was leased). The entry
 *   lasts `leaseMs` plus the slowest recent answer of that instance, so a
 *   stopped instance's entry goes away by itself; while the instance still
 *   holds tokens or waits for answers it rewrites the entry halfway through
 *   its life, and once every request is answered it removes it (when others
 *   draw on the bucket).
 * - Slow start. Before ARM has answered an instance's first 8 requests on a
 *   bucket, it leases no more: their counts bound the row before a burst.
 * - Correction. ARM's `x-ms-ratelimit-remaining-subscription-*` count (the
 *   `-global-` one when lower) on an answer bounds the bucket: at the next
 *   lease the mirror is at most that count, plus the refill since, less the
 *   tokens every instance leased after the row the answering instance last
 *   saw, if that row is recent. Only a consumer the row cannot see (another
 *   app as the same identity) makes that bound bite.
 * - 429. An instance that meets one writes `pausedUntil` (now + Retry-After)
 *   and an empty bucket to the row: every instance's next lease waits until
 *   then; the instance drops the tokens it holds.
 * - The store unreachable: the instance falls back to its own per-process
 *   pacer for `fallbackMs` (said once through `onFallback`), then tries the
 *   store again.
 *
 * Time is the wall clock (Date.now) of whichever instance writes: instances'
 * clocks agree to well under the reserve's worth of refill (NTP).
 */
import { randomUUID } from "node:crypto";
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";
import { ARM_LIMITS, ArmPacer, BucketMap, pacingKind, pacingScope, remainingOf, retryAfterMs, type BucketLimits, type PacingKind, type PacingLimits, type PacingStats, type RequestPacer } from "./pacing.js";

/**
 * One bucket's row. `leases`: [expiresAt, tokens, instance] per instance: the tokens it held at its last
 * lease plus its requests then unanswered (an entry without an instance: a lease of an older version).
 */
export interface BudgetState {
  tokens: number;
  /** Wall-clock ms the tokens were counted at. */
  at: number;
  pausedUntil: number;
  /** Tokens leased in all (a counter that only grows). */
  taken: number;
  leases: LeaseEntry[];
}

export type LeaseEntry = [expiresAt: number, tokens: number, instance?: string];

export interface BudgetRecord {
  state: BudgetState;
  etag: string;
}

/** Where the budgets live: one row per key, replaced only when its ETag still matches. */
export interface SharedBudgetStore {
  read(key: string): Promise<BudgetRecord | undefined>;
  /**
   * Writes the row: creates it when `etag` is undefined (fails when it exists), else replaces it if its
   * ETag is still `etag`. Returns the new record, or undefined when another writer came first.
   */
  write(key: string, state: BudgetState, etag: string | undefined): Promise<BudgetRecord | undefined>;
}

export interface SharedPacingStats extends PacingStats {
  /** Leases taken from the store, and the tokens they held. */
  leases: number;
  leasedTokens: number;
  /** Leased tokens dropped unsent (expired or emptied by a 429). */
  droppedTokens: number;
  /** Store round trips (reads and writes), and writes that lost the race (412 / 409). */
  storageCalls: number;
  conflicts: number;
  /** Pauses written to the store after a 429, and leases that found a pause another instance wrote. */
  pausesShared: number;
  pausesSeen: number;
  /** Times the store failed and the per-process pacer took over. */
  fallbacks: number;
  /** Rewrites of this instance's row entry between leases, while its requests were unanswered; and its removals once all were answered. */
  refreshes: number;
  releases: number;
}

export interface SharedPacingOptions {
  store: SharedBudgetStore;
  /** The identity ARM counts the requests against (one budget per principal). */
  principal: string;
  limits?: PacingLimits;
  /** Wall clock in ms (shared by instances). */
  now?: () => number;
  /** How long leased tokens may be held before they are dropped (ms, default 400). */
  leaseMs?: number;
  /** Tokens one lease takes at most (default 64). */
  maxLease?: number;
  /** This instance's name in the budgets' rows (default: random). */
  instance?: string;
  /** How long the per-process pacer stands in after the store failed (ms, default 30 s). */
  fallbackMs?: number;
  onFallback?: (error: unknown) => void;
}

/** The row as one instance sees it at one time (SharedBucket.project). */
interface Projection {
  tokens: number;
  leases: LeaseEntry[];
  /** The ARM count that bounded it (spent once the row is written), and whether it lowered the tokens. */
  spent?: Observation;
  resynced?: boolean;
}

interface Observation {
  remaining: number;
  at: number;
  taken: number;
}

// referenced, like the per-process pacer's timer: a request waiting for its lease keeps the process alive
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** A lease's answer older than this no longer bounds the bucket. */
const OBSERVATION_TTL_MS = 5_000;
/** Attempts to write a pause after a 429 before giving up (another instance is writing meanwhile). */
const PAUSE_ATTEMPTS = 8;
/** Tokens an instance leases on a bucket before ARM's first answers on it are in. */
const SLOW_START_TOKENS = 8;
/** Attempts to rewrite an instance's row entry before waiting for the next refresh. */
const REFRESH_ATTEMPTS = 4;
/** How long another instance's entry in a row counts as that instance drawing on the bucket (for the removal of one's own). */
const OTHERS_RECENT_MS = 5_000;
/** How long after its last answer an instance with nothing unanswered removes its row entry (more answers may follow). */
const RELEASE_AFTER_MS = 20;
/** Answers whose latency sizes how long an instance's row entry lasts beyond its lease, and that latency's cap. */
const LATENCY_SAMPLES = 32;
const MAX_LATENCY_MS = 10_000;

class SharedBucket {
  private held = 0;
  private heldUntil = 0;
  /** Requests waiting for a token: resolved true with one, false when the store failed (pace alone). */
  private readonly waiters: Array<(granted: boolean) => void> = [];
  private leasing = false;
  private cached: BudgetRecord | undefined;
  private observation: Observation | undefined;
  /** Tokens this instance sent per second, recently (sizes the next lease). */
  private rate = 0;
  private sentSinceLease = 0;
  private lastLeaseAt = 0;
  private localPausedUntil = 0;
  /** Requests sent with this bucket's tokens and not answered yet (as the per-process pacer's `inFlight`). */
  private inFlight = 0;
  /** Recent answers' latencies (ms), a ring. */
  private readonly latencies: number[] = [];
  /** Requests of this bucket answered (or failed) so far, and whether the slow start is over. */
  private answers = 0;
  private started = false;
  private latencyAt = 0;
  /** When this instance's entry in the row, as last written, expires; and the timer that rewrites it before then. */
  private entryUntil = 0;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing = false;
  /** When a row this instance wrote last held another instance's live entry. */
  private othersSeenAt = -Infinity;
  readonly reserve: number;

  constructor(
    readonly key: string,
    private readonly limits: BucketLimits,
    private readonly owner: SharedArmPacer,
  ) {
    this.reserve = Math.min(Math.max(2, Math.floor(limits.capacity * 0.02)), Math.max(0, limits.capacity - 1));
  }

  private get now(): number {
    return this.owner.now();
  }

  acquire(): Promise<boolean> {
    // behind the waiters, not ahead of them (a token taken here and then queued would be lost, and counted in flight for ever)
    if (this.waiters.length === 0 && this.takeHeld()) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.pump();
    });
  }

  private takeHeld(): boolean {
    if (this.held > 0 && this.now >= this.heldUntil) {
      this.owner.stats.droppedTokens += this.held;
      this.held = 0;
    }
    if (this.held <= 0 || this.now < this.localPausedUntil) return false;
    this.held--;
    this.sentSinceLease++;
    this.inFlight++;
    return true;
  }

  /** A request sent with one of this bucket's tokens was answered (or failed) after `ms`. */
  settle(ms: number): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.latencies[this.latencyAt] = ms;
    this.latencyAt = (this.latencyAt + 1) % LATENCY_SAMPLES;
    this.answers++;
    if (!this.started && (this.inFlight === 0 || this.answers >= SLOW_START_TOKENS)) {
      this.started = true; // every slow-start request answered: the tightest of their counts bounds the next lease
      if (this.waiters.length > 0) this.pump();
    }
    // every request answered: the entry, sized for the slowest answer, would hold back the others' refill for nothing
    // (only when others drew on the bucket lately: alone, the release is a write for no one)
    if (this.inFlight === 0 && this.entryUntil > this.now && this.othersDraw()) this.scheduleRefresh(RELEASE_AFTER_MS);
  }

  /** Nothing waiting, held, unanswered or in this instance's row entry (its refresh timer is then cleared: it is about to be dropped; the row has the rest). */
  idle(): boolean {
    const t = this.now;
    if (this.waiters.length > 0 || this.inFlight > 0 || this.leasing || this.refreshing || this.entryUntil > t || (this.held > 0 && t < this.heldUntil)) return false;
    clearTimeout(this.refreshTimer);
    return true;
  }

  /** Whether another instance drew on the bucket lately: its live entry was in a row this instance wrote in the last few seconds. */
  private othersDraw(): boolean {
    return this.now - this.othersSeenAt < OTHERS_RECENT_MS;
  }

  /** How long after its lease this instance's tokens may still reach ARM. */
  private entryMs(): number {
    return this.owner.leaseMs + Math.min(MAX_LATENCY_MS, Math.max(0, ...this.latencies));
  }

  private pump(): void {
    while (this.waiters.length > 0 && this.takeHeld()) (this.waiters.shift() as (granted: boolean) => void)(true);
    if (this.waiters.length > 0 && !this.leasing && this.startRoom() > 0) {
      this.leasing = true;
      void this.lease().then(
        () => {
          this.leasing = false;
          this.pump();
        },
        (e: unknown) => {
          this.leasing = false;
          this.owner.storeFailed(e);
          for (const w of this.waiters.splice(0)) w(false);
        },
      );
    }
  }

  /**
   * Tokens this instance may lease before ARM has answered its first requests on this bucket (then no limit): a row the instance
   * has not heard ARM on, a new one above all, says the bucket is full, and ARM's may have been emptied by something
   * the row cannot see. The first answers' counts bound the mirror (observe) before the rest of a burst goes out
   * (as the per-process pacer's slow start).
   */
  private startRoom(): number {
    return this.started ? Infinity : SLOW_START_TOKENS - this.answers - this.inFlight - (this.now < this.heldUntil ? this.held : 0);
  }

  /**
   * The row as it is now: refilled up to the capacity less the tokens ARM may not have counted yet (the
   * other instances' live entries and `mine`, this one's tokens held or unanswered), bounded by ARM's last
   * count. `leases`: the other instances' live entries (this one's is rewritten by the caller).
   */
  private project(s: BudgetState, t: number, mine: number): Projection {
    const me = this.owner.instance;
    const leases = s.leases.filter(([exp, , who]) => exp > t && who !== me);
    const outstanding = leases.reduce((n, [, k]) => n + k, 0) + mine;
    const elapsed = Math.max(0, t - s.at) / 1000;
    const room = this.limits.capacity - outstanding;
    const tokens = Math.max(s.tokens, Math.min(room, s.tokens + elapsed * this.limits.refillPerSecond));
    const o = this.observation;
    if (!o || t - o.at >= OBSERVATION_TTL_MS) return { tokens, leases };
    const bound = o.remaining + (Math.max(0, t - o.at) / 1000) * this.limits.refillPerSecond - Math.max(0, s.taken - o.taken);
    if (bound >= tokens - this.reserve) return { tokens, leases, spent: o };
    return { tokens: bound, leases, spent: o, resynced: true };
  }

  /** Tokens this instance is expected to send within a lease, beyond its waiting requests (from its recent rate). */
  private ahead(): number {
    const t = this.now;
    if (this.lastLeaseAt > 0 && t > this.lastLeaseAt) {
      const r = (this.sentSinceLease * 1000) / (t - this.lastLeaseAt);
      this.rate = this.rate === 0 ? r : this.rate * 0.5 + r * 0.5;
    }
    return Math.ceil((this.rate * this.owner.leaseMs) / 1000);
  }

  private async lease(): Promise<void> {
    const ahead = this.ahead();
    for (;;) {
      if (this.waiters.length === 0) return;
      const start = this.startRoom();
      if (start <= 0) return; // the next answer pumps again
      const want = Math.max(1, Math.min(this.owner.maxLease, this.waiters.length + ahead, this.limits.capacity - this.reserve, start));
      let rec = this.cached;
      if (!rec) {
        rec = await this.owner.read(this.key);
        if (!rec) {
          const created = await this.owner.write(this.key, { tokens: this.limits.capacity, at: this.now, pausedUntil: 0, taken: 0, leases: [] }, undefined);
          if (!created) continue; // another instance created it: read that one
          rec = created;
        }
      }
      const t = this.now;
      if (rec.state.pausedUntil > t) {
        if (rec.state.pausedUntil > this.localPausedUntil) this.owner.stats.pausesSeen++; // written by another instance
        this.localPausedUntil = Math.max(this.localPausedUntil, rec.state.pausedUntil);
        await sleep(rec.state.pausedUntil - t + Math.random() * 20);
        this.cached = undefined;
        continue;
      }
      // tokens still held from the last lease go on being sent until this one is written (ARM has counted none of them)
      const mine = this.inFlight + (t < this.heldUntil ? this.held : 0);
      const p = this.project(rec.state, t, mine);
      const available = Math.floor(p.tokens - this.reserve);
      if (available < 1) {
        // wait for a batch of the refill (not a single token: every instance would wake at once), with jitter
        const batch = Math.max(1, Math.min(want, Math.ceil(this.limits.refillPerSecond * 0.05)));
        const need = batch + this.reserve - p.tokens;
        await sleep((need / this.limits.refillPerSecond) * 1000 + Math.random() * 10);
        continue; // with the cached row: if someone wrote meanwhile, the write below loses and re-reads
      }
      const k = Math.min(want, available);
      const expires = t + this.owner.leaseMs;
      const entry: LeaseEntry = [t + this.entryMs(), k + mine, this.owner.instance];
      const next: BudgetState = { tokens: p.tokens - k, at: t, pausedUntil: rec.state.pausedUntil, taken: rec.state.taken + k, leases: [...p.leases, entry] };
      const written = await this.write(rec, next, p, entry[0]);
      if (!written) continue;
      this.owner.stats.leases++;
      this.owner.stats.leasedTokens += k;
      if (this.held > 0) this.owner.stats.droppedTokens += this.held;
      this.held = k;
      this.heldUntil = expires;
      this.sentSinceLease = 0;
      this.lastLeaseAt = t;
      return;
    }
  }

  /**
   * Writes the row with this instance's entry (lasting until `until`); on success the row is the cached one,
   * an ARM count it was bounded by is spent, and the entry's refresh is set. Undefined: another writer came first.
   */
  private async write(rec: BudgetRecord, next: BudgetState, p: Projection, until: number): Promise<BudgetRecord | undefined> {
    const written = await this.owner.write(this.key, next, rec.etag);
    this.cached = written;
    if (!written) return undefined;
    if (p.resynced) this.owner.stats.resyncs++;
    if (p.leases.length > 0) this.othersSeenAt = this.now;
    // spent only once written (a lost write re-reads and bounds again); a fresher count that came meanwhile stays
    if (p.spent && this.observation === p.spent) this.observation = undefined;
    this.entryUntil = until;
    if (until > 0) this.scheduleRefresh();
    else clearTimeout(this.refreshTimer);
    return written;
  }

  /**
   * Rewrites this instance's entry after `ms`, by default halfway through its life (a lease rewrites it sooner
   * and sets this again).
   */
  private scheduleRefresh(ms = (this.entryUntil - this.now) / 2): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.max(10, ms));
    // requests in flight keep the process alive, not this timer
    this.refreshTimer.unref?.();
  }

  /**
   * Keeps this instance's entry alive while it holds tokens or has requests unanswered. Its next lease would
   * rewrite it, but an instance whose requests all wait for answers leases nothing: without this, its entry
   * expired while requests leased under it had still not reached ARM (up to 3.8 s behind a busy event loop,
   * longer than any answer in its recent samples), and ARM's full bucket lost refill the mirror counted.
   * Once nothing is held or unanswered, the entry is removed instead.
   */
  private async refresh(): Promise<void> {
    this.refreshTimer = undefined;
    if (this.refreshing) return this.scheduleRefresh(RELEASE_AFTER_MS);
    this.refreshing = true;
    try {
      for (let i = 0; i < REFRESH_ATTEMPTS; i++) {
        const t = this.now;
        const mine = (t < this.heldUntil ? this.held : 0) + this.inFlight;
        if (mine === 0 && this.entryUntil <= t) return; // nothing to keep, nothing to remove
        const rec = this.cached ?? (await this.owner.read(this.key));
        if (!rec) return;
        const p = this.project(rec.state, t, mine);
        const entry: LeaseEntry = [t + this.entryMs(), mine, this.owner.instance];
        const next: BudgetState = { ...rec.state, tokens: p.tokens, at: t, leases: mine > 0 ? [...p.leases, entry] : p.leases };
        if (await this.write(rec, next, p, mine > 0 ? entry[0] : 0)) {
          this.owner.stats[mine > 0 ? "refreshes" : "releases"]++;
          return;
        }
      }
      this.scheduleRefresh(); // every attempt lost to another writer: again shortly
    } catch (e) {
      this.owner.storeFailed(e);
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * An answer with ARM's count: kept to bound the mirror at the next lease (the tightest one wins). Every token
   * leased up to the freshest row this instance has seen counts as spent before the answer, so that row must be
   * recent: from within the time the reserve refills in (the bound tolerates the reserve). An older cut made the
   * bound subtract again the tokens other instances leased meanwhile, long counted by ARM: when answers come
   * seconds after their lease, the row went ~150 tokens below ARM's count and every instance waited for nothing.
   * (A token leased before the cut and still on its way is held back by its instance's entry, not by this bound.)
   */
  observe(remaining: number): void {
    const t = this.now;
    const cut = this.cached?.state;
    if (!cut || t - cut.at > (this.reserve / this.limits.refillPerSecond) * 1000) return;
    // the one that bounds tightest: remaining + refill since − leased since, compared at any one time
    const key = (o: Observation) => o.remaining + o.taken - (o.at / 1000) * this.limits.refillPerSecond;
    const o: Observation = { remaining, at: t, taken: cut.taken };
    if (!this.observation || key(o) < key(this.observation)) this.observation = o;
  }

  /** A 429: the held tokens go, and every instance waits until Retry-After. */
  async pause(retryAfter: number): Promise<void> {
    const t = this.now;
    const until = t + retryAfter;
    if (this.held > 0) this.owner.stats.droppedTokens += this.held;
    this.held = 0;
    if (until <= this.localPausedUntil) return;
    this.localPausedUntil = until;
    for (let i = 0; i < PAUSE_ATTEMPTS; i++) {
      const rec = this.cached ?? (await this.owner.read(this.key));
      if (rec && rec.state.pausedUntil >= until) return;
      const state: BudgetState = rec ? { ...rec.state, tokens: 0, at: t, pausedUntil: until } : { tokens: 0, at: t, pausedUntil: until, taken: 0, leases: [] };
      const written = await this.owner.write(this.key, state, rec?.etag);
      if (written) {
        this.cached = written;
        this.owner.stats.pausesShared++;
        return;
      }
      this.cached = undefined;
    }
  }
}

/**
 * The pacer the Functions app uses: the same pipeline policy as ArmPacer, its budget in a store
 * every instance shares.
 */
export class SharedArmPacer implements RequestPacer {
  readonly stats: SharedPacingStats = { requests: 0, delayed: 0, waitedMs: 0, maxWaitMs: 0, resyncs: 0, throttled: 0, leases: 0, leasedTokens: 0, droppedTokens: 0, storageCalls: 0, conflicts: 0, pausesShared: 0, pausesSeen: 0, fallbacks: 0, refreshes: 0, releases: 0 };
  readonly limits: PacingLimits;
  readonly now: () => number;
  readonly leaseMs: number;
  readonly maxLease: number;
  readonly instance: string;
  private readonly buckets = new BucketMap<SharedBucket>();
  private readonly local: ArmPacer;
  private readonly localPolicy: PipelinePolicy;
  private fallbackUntil = 0;

  constructor(private readonly options: SharedPacingOptions) {
    this.limits = options.limits ?? ARM_LIMITS;
    this.now = options.now ?? (() => Date.now());
    this.leaseMs = options.leaseMs ?? 400;
    this.maxLease = options.maxLease ?? 64;
    this.instance = options.instance ?? randomUUID().slice(0, 8);
    this.local = new ArmPacer(this.limits);
    this.localPolicy = this.local.policy();
  }

  async read(key: string): Promise<BudgetRecord | undefined> {
    this.stats.storageCalls++;
    return this.options.store.read(key);
  }

  async write(key: string, state: BudgetState, etag: string | undefined): Promise<BudgetRecord | undefined> {
    this.stats.storageCalls++;
    const r = await this.options.store.write(key, state, etag);
    if (!r) this.stats.conflicts++;
    return r;
  }

  storeFailed(e: unknown): void {
    if (this.now() < this.fallbackUntil) return;
    this.fallbackUntil = this.now() + (this.options.fallbackMs ?? 30_000);
    this.stats.fallbacks++;
    this.options.onFallback?.(e);
  }

  /** Buckets kept now (as ArmPacer.bucketCount). */
  get bucketCount(): number {
    return this.buckets.size;
  }

  private bucket(scope: string, kind: PacingKind): SharedBucket {
    const key = `${this.options.principal.toLowerCase()}|${scope}|${kind}`;
    return this.buckets.get(key, () => new SharedBucket(key, this.limits[kind], this));
  }

  policy(): PipelinePolicy {
    return {
      name: "armSharedPacingPolicy",
      sendRequest: async (request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> => {
        if (this.now() < this.fallbackUntil) return this.localPolicy.sendRequest(request, next);
        const kind = pacingKind(request.method);
        const bucket = this.bucket(pacingScope(request.url), kind);
        const started = performance.now();
        if (!(await bucket.acquire())) return this.localPolicy.sendRequest(request, next);
        const waited = performance.now() - started;
        this.stats.requests++;
        if (waited >= 1) {
          this.stats.delayed++;
          this.stats.waitedMs += waited;
          this.stats.maxWaitMs = Math.max(this.stats.maxWaitMs, waited);
        }
        const sent = performance.now();
        let response: PipelineResponse;
        try {
          response = await next(request);
        } finally {
          bucket.settle(performance.now() - sent);
        }
        const pause = retryAfterMs(response);
        if (pause !== undefined) {
          this.stats.throttled++;
          // shared before the SDK's retry policy waits and retries through this policy again
          await bucket.pause(pause).catch((e: unknown) => this.storeFailed(e));
        } else {
          const remaining = remainingOf(response, kind);
          if (remaining !== undefined) bucket.observe(remaining);
        }
        return response;
      },
    };
  }
}
