/**
 * Client-side pacing of ARM requests, so the remediator stays under ARM's
 * throttling instead of hitting it. ARM limits each principal per
 * subscription with token buckets (reads: 250, refilled 25/s; writes and
 * deletes: 200, refilled 10/s; POST actions count as writes) and reports what
 * is left in `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}`.
 *
 * The policy keeps a mirror of each bucket (per subscription and kind, for the
 * one principal of a client factory) and makes a request wait until its
 * bucket holds a token. ARM takes each token after we do, and the mirror
 * stops filling where ARM's bucket (still holding the tokens of our requests
 * in flight) would be full, so our own requests never find ARM's bucket
 * emptier than the mirror: pacing alone keeps the remediator at the refill
 * rate with no 429. What the mirror cannot see — other instances of the app,
 * or anything else acting as the same identity — shows up in the
 * remaining-count headers: when recent answers all report fewer tokens than
 * our own requests explain, the mirror gives up the difference and uses a
 * smaller share of the refill for a while. Until a bucket's first few answers
 * are in, only a few requests go out at once and each answer corrects the
 * mirror (ARM's bucket may have been partly used when the process started).
 * A 429 still reaching the client empties the mirror and holds the bucket for
 * its `Retry-After`; the SDK's own retry policy then retries the request
 * through the pacer.
 */
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";

export type PacingKind = "reads" | "writes" | "deletes";

export interface BucketLimits {
  /** Burst size (tokens when full). */
  capacity: number;
  refillPerSecond: number;
}

export type PacingLimits = Record<PacingKind, BucketLimits>;

/** ARM's documented per-subscription, per-principal figures. */
export const ARM_LIMITS: PacingLimits = {
  reads: { capacity: 250, refillPerSecond: 25 },
  writes: { capacity: 200, refillPerSecond: 10 },
  deletes: { capacity: 200, refillPerSecond: 10 },
};

/**
 * Buckets a pacer keeps before it drops the idle ones (one per subscription and kind: a sweep of 10,000
 * subscriptions would keep them all; an idle one is what a new one would be, apart from its slow start).
 */
export const MAX_IDLE_BUCKETS = 1024;

/**
 * A pacer's buckets by key, made on first use. Past MAX_IDLE_BUCKETS a new bucket first drops the idle ones
 * (`idle()` true); when most are busy, the next such pass waits until the map has doubled, so a bucket's making
 * does not walk the whole map each time.
 */
export class BucketMap<B extends { idle(): boolean }> {
  private readonly buckets = new Map<string, B>();
  private pruneAt = MAX_IDLE_BUCKETS;

  get size(): number {
    return this.buckets.size;
  }

  get(key: string, make: () => B): B {
    let b = this.buckets.get(key);
    if (b) return b;
    if (this.buckets.size >= this.pruneAt) {
      for (const [k, x] of this.buckets) if (x.idle()) this.buckets.delete(k);
      this.pruneAt = Math.max(MAX_IDLE_BUCKETS, 2 * this.buckets.size);
    }
    this.buckets.set(key, (b = make()));
    return b;
  }
}

/** Requests in flight on a bucket until its first DEFICIT_WINDOW answers are in. */
const SLOW_START_IN_FLIGHT = 8;
/** Answers that must all show a deficit before the mirror is lowered. */
const DEFICIT_WINDOW = 8;
/** The least part of the refill a client keeps using while others draw, and how fast it takes it back. */
const MIN_SHARE = 0.1;
const SHARE_REGAIN_PER_SECOND = 0.05;

export function pacingKind(method: string): PacingKind {
  const m = method.toUpperCase();
  if (m === "GET" || m === "HEAD") return "reads";
  if (m === "DELETE") return "deletes";
  return "writes";
}

/** The subscription a request counts against (`tenant` for tenant-level calls). */
export function pacingScope(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return "tenant";
  }
  // scope parameters (`/{resourceUri}/providers/...`) may arrive percent-encoded
  if (path.includes("%")) {
    try {
      path = decodeURIComponent(path);
    } catch {
      // keep it as it is
    }
  }
  return /^\/+subscriptions\/([^/?#]+)/i.exec(path)?.[1]?.toLowerCase() ?? "tenant";
}

export interface PacingStats {
  /** Requests that went through the pacer (each retry counts). */
  requests: number;
  /** Requests that had to wait for a token. */
  delayed: number;
  /** Total and longest time spent waiting for tokens (ms). */
  waitedMs: number;
  maxWaitMs: number;
  /** Times the mirror was lowered to what ARM reported. */
  resyncs: number;
  /** 429 answers seen. */
  throttled: number;
}

/** What a request took: the mirror just after taking its token, and the corrections made until then. */
interface Ticket {
  mirror: number;
  corrections: number;
  /** Tokens taken in all, this one included. */
  takes: number;
}

class Bucket {
  private tokens: number;
  private last: number;
  private inFlight = 0;
  /** Answers so far (ends the slow start; the first ones that carry ARM's count calibrate the mirror). */
  private answers = 0;
  private pausedUntil = 0;
  /** Tokens taken off the mirror to match what ARM reported, in all. (A mirror below ARM is only slower: nothing is given back.) */
  private corrections = 0;
  private takes = 0;
  private readonly waiters: Array<(t: Ticket) => void> = [];
  /** The last answers' deficits: what ARM lacked beyond what our own requests explain. */
  private readonly deficits: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly reserve: number;
  private readonly tolerance: number;
  /** The part of the refill rate this client uses: 1 alone, less while others draw (cut on their draws, regained slowly). */
  private share = 1;
  private lastCut = -Infinity;

  constructor(
    private readonly limits: BucketLimits,
    private readonly now: () => number,
  ) {
    this.tokens = limits.capacity;
    this.last = now();
    // a few tokens stay unused, a cushion against consumers the mirror cannot see
    this.reserve = Math.min(Math.max(1, Math.floor(limits.capacity * 0.02)), Math.max(0, limits.capacity - 1));
    this.tolerance = Math.max(2, this.reserve);
  }

  /** Nothing waiting or in flight, no pause, no share given up, and refilled to the brim: a new bucket would be the same. */
  idle(): boolean {
    if (this.waiters.length > 0 || this.inFlight > 0 || this.timer || this.now() < this.pausedUntil || this.share < 1) return false;
    this.refill();
    return this.tokens >= this.limits.capacity;
  }

  private refill(): void {
    const t = this.now();
    if (t > this.last) {
      // the share of the refill we use grows back while nobody else is seen drawing
      if (this.share < 1 && t - this.lastCut > 1000) this.share = Math.min(1, this.share + ((t - this.last) / 1000) * SHARE_REGAIN_PER_SECOND);
      // ARM's bucket stops filling when full, and it still holds the tokens of our requests it has
      // not counted yet (at most those in flight): the mirror fills up to what that leaves
      const room = this.limits.capacity - this.inFlight;
      const filled = this.tokens + ((t - this.last) / 1000) * this.limits.refillPerSecond * this.share;
      this.tokens = Math.max(this.tokens, Math.min(room, filled));
      this.last = t;
    }
  }

  /** Milliseconds until the head of the queue may go (0 = now). */
  private delay(): number {
    const t = this.now();
    if (t < this.pausedUntil) return this.pausedUntil - t;
    if (this.answers < DEFICIT_WINDOW && this.inFlight >= SLOW_START_IN_FLIGHT) return Infinity; // woken by a response
    this.refill();
    const need = 1 + this.reserve - this.tokens;
    if (need <= 0) return 0;
    return Math.max(1, Math.ceil((need / (this.limits.refillPerSecond * this.share)) * 1000));
  }

  private take(): Ticket {
    this.tokens -= 1;
    this.inFlight++;
    this.takes++;
    return { mirror: this.tokens, corrections: this.corrections, takes: this.takes };
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.waiters.length > 0) {
      const d = this.delay();
      if (d === 0) {
        (this.waiters.shift() as (t: Ticket) => void)(this.take());
        continue;
      }
      if (Number.isFinite(d)) {
        // referenced: while every request waits here, this timer is all that keeps a CLI process alive
        // (unreferenced, Node would exit 0 mid-run with nothing done)
        this.timer = setTimeout(() => this.pump(), d);
      }
      return;
    }
  }

  /** Resolves when the request may be sent: its token is taken and it counts as in flight. */
  acquire(): Promise<Ticket> {
    if (this.waiters.length === 0 && this.delay() === 0) return Promise.resolve(this.take());
    return new Promise<Ticket>((resolve) => {
      this.waiters.push(resolve);
      this.pump();
    });
  }

  private correct(by: number): void {
    this.tokens -= by;
    this.corrections += by;
  }

  /** Someone else draws from the bucket too (another instance of the app, say): use less of its refill. */
  private cut(): void {
    const t = this.now();
    if (t - this.lastCut < 500) return;
    this.lastCut = t;
    this.share = Math.max(MIN_SHARE, this.share * 0.6);
  }

  /**
   * The request is answered. `remaining` is ARM's count just after it took this request's token;
   * with only us drawing, it is at least the mirror just after we took that token (ARM counts our
   * requests later than we do, and refills meanwhile). What it lacks beyond that, less what was
   * already corrected since, was drawn by someone else: when recent answers all say so, the
   * mirror gives it up too.
   * Returns true when the mirror was lowered.
   */
  settle(ticket: Ticket | undefined, remaining: number | undefined, retryAfterMs: number | undefined): boolean {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.answers++;
    let lowered = false;
    this.refill();
    if (retryAfterMs !== undefined) {
      if (this.tokens > 0) this.correct(this.tokens);
      this.cut();
      this.pausedUntil = Math.max(this.pausedUntil, this.now() + retryAfterMs);
      lowered = true;
    } else if (remaining !== undefined && ticket) {
      // a request overtaken by later ones shows a deficit of its own for a moment; only a deficit
      // every recent answer shows is someone else drawing
      // (requests taken after this one may have been counted before it: they do not count as a deficit)
      this.deficits.push(ticket.mirror - remaining - (this.corrections - ticket.corrections) - (this.takes - ticket.takes));
      if (this.deficits.length > DEFICIT_WINDOW) this.deficits.shift();
      if (this.answers <= DEFICIT_WINDOW) {
        // the first answers tell how full ARM's bucket really was when we started (another process may have used it)
        const deficit = this.deficits[this.deficits.length - 1] as number;
        if (deficit > this.tolerance) {
          this.correct(deficit);
          this.deficits.length = 0;
          lowered = true;
        }
      } else if (this.deficits.length === DEFICIT_WINDOW) {
        const least = Math.min(...this.deficits);
        if (least > this.tolerance) {
          this.correct(least);
          this.cut();
          this.deficits.length = 0;
          lowered = true;
        }
      }
    }
    this.pump();
    return lowered;
  }
}

export function retryAfterMs(response: PipelineResponse): number | undefined {
  if (response.status !== 429) return undefined;
  const header = response.headers.get("retry-after");
  if (header === undefined) return 1000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : 1000;
}

/**
 * What ARM says is left for this request's bucket: the principal's own count, or the subscription's
 * global count across all principals (`-global-`, 15 times the per-principal bucket) when that is lower
 * (Learn, "Understand how Azure Resource Manager throttles requests": "global subscription limits that
 * are equivalent to 15 times the individual service principal limits ... apply across all service
 * principals"; ARM answers carry e.g. `x-ms-ratelimit-remaining-subscription-global-reads: 3749`).
 */
export function remainingOf(response: PipelineResponse, kind: PacingKind): number | undefined {
  const num = (name: string) => {
    const raw = response.headers.get(name);
    const n = raw === undefined ? NaN : Number(raw);
    return Number.isFinite(n) ? n : undefined;
  };
  const own = num(`x-ms-ratelimit-remaining-subscription-${kind}`) ?? num(`x-ms-ratelimit-remaining-tenant-${kind}`);
  const global = num(`x-ms-ratelimit-remaining-subscription-global-${kind}`);
  if (own === undefined) return global;
  return global === undefined ? own : Math.min(own, global);
}

/** What the client factory adds to every ARM client's pipeline: this per-process pacer, or the shared one (src/azure/shared-pacing.ts). */
export interface RequestPacer {
  readonly stats: PacingStats;
  readonly limits: PacingLimits;
  /** Buckets kept now. */
  readonly bucketCount: number;
  /** The core-rest-pipeline policy (add it per retry, so every attempt takes a token). */
  policy(): PipelinePolicy;
}

/** The token-bucket mirrors of one principal, shared by every ARM client of a factory. */
export class ArmPacer implements RequestPacer {
  readonly stats: PacingStats = { requests: 0, delayed: 0, waitedMs: 0, maxWaitMs: 0, resyncs: 0, throttled: 0 };
  private readonly buckets = new BucketMap<Bucket>();

  constructor(
    readonly limits: PacingLimits = ARM_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Buckets kept now (one per subscription and kind in use; idle ones dropped past MAX_IDLE_BUCKETS). */
  get bucketCount(): number {
    return this.buckets.size;
  }

  private bucket(scope: string, kind: PacingKind): Bucket {
    return this.buckets.get(`${scope}|${kind}`, () => new Bucket(this.limits[kind], this.now));
  }

  /** The core-rest-pipeline policy (add it per retry, so every attempt takes a token). */
  policy(): PipelinePolicy {
    return {
      name: "armPacingPolicy",
      sendRequest: async (request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> => {
        const kind = pacingKind(request.method);
        const bucket = this.bucket(pacingScope(request.url), kind);
        const started = this.now();
        const ticket = await bucket.acquire();
        const waited = this.now() - started;
        this.stats.requests++;
        if (waited >= 1) {
          this.stats.delayed++;
          this.stats.waitedMs += waited;
          this.stats.maxWaitMs = Math.max(this.stats.maxWaitMs, waited);
        }
        let response: PipelineResponse;
        try {
          response = await next(request);
        } catch (e) {
          bucket.settle(ticket, undefined, undefined);
          throw e;
        }
        const pause = retryAfterMs(response);
        if (pause !== undefined) this.stats.throttled++;
        if (bucket.settle(ticket, remainingOf(response, kind), pause) && pause === undefined) this.stats.resyncs++;
        return response;
      },
    };
  }
}
