/**
 * Test and benchmark controls of the emulator: seeded randomness, latency per
 * operation kind, fault injection per route, ARM's throttling token buckets,
 * and the request log.
 */

export type OpKind = "read" | "write" | "delete" | "action" | "keyvault";

/** mulberry32: small, fast, seedable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultRule {
  id?: string;
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Substring of the decoded path and query (case-insensitive). */
  path?: string;
  /** Regular expression tested against the decoded path and query (case-insensitive). */
  pathRegex?: string;
  /** `arm` or `vault:<name>`; any when absent. */
  host?: string;
  /** Status to answer with; absent with `reset` or `delayMs` only. */
  status?: number;
  code?: string;
  message?: string;
  /** Retry-After seconds to send with the error. */
  retryAfter?: number;
  /** Delay before answering (or before resetting). */
  delayMs?: number;
  /** Destroy the connection instead of answering. */
  reset?: boolean;
  /** Answer 200 with an empty JSON object without performing the request (a write that is acknowledged but lost). */
  swallow?: boolean;
  /** How many times the rule fires; unlimited when absent. */
  count?: number;
  /** Probability that a matching request triggers the rule (seeded). */
  probability?: number;
  /** Skip this many matching requests before firing. */
  after?: number;
}

interface ActiveFault extends FaultRule {
  fired: number;
  seen: number;
}

export class Faults {
  private rules: ActiveFault[] = [];
  private nextId = 1;
  constructor(private rand: () => number) {}

  reseed(rand: () => number): void {
    this.rand = rand;
  }

  add(rule: FaultRule): string {
    const id = rule.id ?? `fault-${this.nextId++}`;
    this.rules.push({ ...rule, id, fired: 0, seen: 0 });
    return id;
  }

  remove(id: string): void {
    this.rules = this.rules.filter((r) => r.id !== id);
  }

  clear(): void {
    this.rules = [];
  }

  list(): Array<FaultRule & { fired: number }> {
    return this.rules.map((r) => ({ ...r }));
  }

  /** Returns the rule that fires for this request, if any. */
  match(method: string, path: string, host: string): ActiveFault | undefined {
    for (const r of this.rules) {
      if (r.method && r.method.toUpperCase() !== method.toUpperCase()) continue;
      if (r.host && r.host.toLowerCase() !== host.toLowerCase()) continue;
      if (r.path && !path.toLowerCase().includes(r.path.toLowerCase())) continue;
      if (r.pathRegex && !new RegExp(r.pathRegex, "i").test(path)) continue;
      if (r.count !== undefined && r.fired >= r.count) continue;
      r.seen++;
      if (r.after !== undefined && r.seen <= r.after) continue;
      if (r.probability !== undefined && this.rand() >= r.probability) continue;
      r.fired++;
      return r;
    }
    return undefined;
  }
}

export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

export interface ThrottleSpec {
  enabled: boolean;
  reads: BucketSpec;
  writes: BucketSpec;
  deletes: BucketSpec;
  /**
   * The subscription's global buckets, shared by every principal, as a multiple of the per-principal ones
   * (capacity and refill). Learn, "Understand how Azure Resource Manager throttles requests": "global
   * subscription limits that are equivalent to 15 times the individual service principal limits ... apply
   * across all service principals"; their count comes in `x-ms-ratelimit-remaining-subscription-global-reads`
   * (and `-global-writes`, `-global-deletes`). 0 turns them off.
   */
  globalMultiplier?: number;
}

/** ARM's documented per-subscription, per-principal figures. */
export const ARM_THROTTLE_DEFAULTS: ThrottleSpec = {
  enabled: true,
  reads: { capacity: 250, refillPerSecond: 25 },
  writes: { capacity: 200, refillPerSecond: 10 },
  deletes: { capacity: 200, refillPerSecond: 10 },
  globalMultiplier: 15,
};

export type BucketKind = "reads" | "writes" | "deletes";

class Bucket {
  tokens: number;
  last: number;
  constructor(private readonly spec: BucketSpec, now: number) {
    this.tokens = spec.capacity;
    this.last = now;
  }
  /** Refilled to `now`: whether a token is there, and if not, seconds until one is. */
  refill(now: number): number {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.tokens = Math.min(this.spec.capacity, this.tokens + elapsed * this.spec.refillPerSecond);
    this.last = now;
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.spec.refillPerSecond;
  }
}

export interface ThrottleResult {
  ok: boolean;
  /** The principal's bucket after this request. */
  remaining: number;
  /** The subscription's global bucket after this request (absent when off or for tenant-level calls). */
  globalRemaining?: number;
  retryAfterSeconds: number;
}

export class Throttle {
  private buckets = new Map<string, Bucket>();
  constructor(public spec: ThrottleSpec) {}

  configure(spec: Partial<ThrottleSpec>): void {
    this.spec = { ...this.spec, ...spec };
    this.buckets.clear();
  }

  reset(): void {
    this.buckets.clear();
  }

  private bucket(key: string, spec: () => BucketSpec, now: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = new Bucket(spec(), now)));
    return b;
  }

  /** One request: a token from the principal's bucket and, for a subscription, from its global bucket; neither is taken unless both have one. */
  take(kind: BucketKind, scope: string, principal: string, now = Date.now()): ThrottleResult {
    if (!this.spec.enabled) return { ok: true, remaining: this.spec[kind].capacity, retryAfterSeconds: 0 };
    const spec = this.spec[kind];
    const own = this.bucket(`${kind}|${scope.toLowerCase()}|${principal.toLowerCase()}`, () => spec, now);
    const m = this.spec.globalMultiplier ?? 0;
    const global = m > 0 && scope !== "tenant" ? this.bucket(`${kind}|${scope.toLowerCase()}|*`, () => ({ capacity: spec.capacity * m, refillPerSecond: spec.refillPerSecond * m }), now) : undefined;
    const wait = Math.max(own.refill(now), global?.refill(now) ?? 0);
    if (wait <= 0) {
      own.tokens -= 1;
      if (global) global.tokens -= 1;
    }
    return { ok: wait <= 0, remaining: Math.floor(own.tokens), ...(global ? { globalRemaining: Math.floor(global.tokens) } : {}), retryAfterSeconds: wait <= 0 ? 0 : Math.max(1, Math.ceil(wait)) };
  }
}

export interface LogEntry {
  seq: number;
  time: string;
  host: string;
  method: string;
  path: string;
  status: number;
  principal: string | null;
  kind: OpKind;
  durationMs: number;
  fault?: string;
}

export class RequestLog {
  private entries: LogEntry[] = [];
  private seq = 0;
  readonly counters = { total: 0, byKind: {} as Record<string, number>, byStatus: {} as Record<string, number>, throttled: 0, faults: 0 };

  constructor(private readonly max = 100_000) {}

  add(e: Omit<LogEntry, "seq">): void {
    const entry = { ...e, seq: ++this.seq };
    this.entries.push(entry);
    if (this.entries.length > this.max) this.entries.splice(0, this.entries.length - this.max);
    this.counters.total++;
    this.counters.byKind[e.kind] = (this.counters.byKind[e.kind] ?? 0) + 1;
    this.counters.byStatus[String(e.status)] = (this.counters.byStatus[String(e.status)] ?? 0) + 1;
    if (e.status === 429) this.counters.throttled++;
    if (e.fault) this.counters.faults++;
  }

  list(): LogEntry[] {
    return [...this.entries];
  }

  clear(): void {
    this.entries = [];
    this.counters.total = 0;
    this.counters.byKind = {};
    this.counters.byStatus = {};
    this.counters.throttled = 0;
    this.counters.faults = 0;
  }
}

/**
 * Injected latency per request kind, in ms: the time from the request's arrival to its answer,
 * the emulator's own processing included (see `LatencyKeeper`).
 */
export type Latency = Partial<Record<OpKind | "lro", number>>;

/**
 * Keeps the emulator's answer times at the injected latency. A request waits
 * `latency − time already spent − tail`, where the tail is what the emulator
 * adds after the wait (handling the request, writing the answer, timers firing
 * late), learned per request kind as a moving average of the overshoot. Without
 * it every request would take its latency plus 1–2 ms, which a chain of
 * dependent requests adds up and a benchmark would count as the client's time.
 */
export class LatencyKeeper {
  private readonly tails = new Map<string, number>();

  /** How long to wait now, for a request of this kind that arrived `elapsedMs` ago. */
  waitMs(kind: string, latencyMs: number, elapsedMs: number): number {
    return latencyMs - elapsedMs - (this.tails.get(kind) ?? 0);
  }

  /** Learns from an answered request: it took `tookMs` against `latencyMs`. */
  observe(kind: string, latencyMs: number, tookMs: number): void {
    if (latencyMs <= 0) return;
    const tail = this.tails.get(kind) ?? 0;
    const next = tail + 0.2 * (tookMs - latencyMs);
    this.tails.set(kind, Math.min(Math.max(next, 0), Math.min(5, latencyMs / 4)));
  }

  /** A new latency model starts learning anew (no request answers before its latency at first). */
  reset(): void {
    this.tails.clear();
  }
}
