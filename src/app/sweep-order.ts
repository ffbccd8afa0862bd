/**
 * The order a sweep enqueues its services in. ARM paces each subscription
 * apart (a token bucket per principal and subscription), so services of
 * different subscriptions evaluated at once go as fast as each
 * subscription's refill allows: round-robin by subscription, so every
 * batch a queue trigger picks up spans as many subscriptions as it can,
 * instead of one subscription's services after another's.
 */
import type { ServiceRef } from "../model/arm.js";
import { sweepRead, type FreshnessState } from "./freshness.js";

export function interleaveBySubscription<T extends Pick<ServiceRef, "subscriptionId">>(services: readonly T[]): T[] {
  const bySub = new Map<string, T[]>();
  for (const s of services) {
    const k = s.subscriptionId.toLowerCase();
    let list = bySub.get(k);
    if (!list) bySub.set(k, (list = []));
    list.push(s);
  }
  const lists = [...bySub.values()];
  const out: T[] = [];
  for (let i = 0; out.length < services.length; i++) for (const l of lists) if (i < l.length) out.push(l[i] as T);
  return out;
}

/** What orderSweep needs of a service: its id, its subscription and its discovery row's fingerprint (src/app/freshness.ts). */
export type SweepItem = Pick<ServiceRef, "id" | "subscriptionId"> & { fingerprint?: string };

/** Which services a sweep expects to read in full, and the size it knows of each (from the freshness rows). */
function classify<T extends SweepItem>(services: readonly T[], states: ReadonlyMap<string, FreshnessState> | undefined, now: Date, fullSweepHours: number): Array<{ s: T; full: boolean; apis?: number }> {
  return interleaveBySubscription(services).map((s) => {
    const state = states?.get(s.id.toLowerCase());
    // without a row (a new service, or no freshness store: REMEDIATOR_FULL_SWEEP_HOURS=0) the worker reads in full
    const full = sweepRead(state, s.fingerprint, now, fullSweepHours, false).full;
    return { s, full, ...(state?.apis !== undefined ? { apis: state.apis } : {}) };
  });
}

/**
 * The services a sweep expects to read in full without knowing their size: worth a size probe before the sweep is
 * sent (`probeApiCounts`, src/azure/collector.ts), so the first sweep, too, starts its biggest services first.
 */
export function sizesUnknown<T extends SweepItem>(services: readonly T[], states: ReadonlyMap<string, FreshnessState> | undefined, now: Date, fullSweepHours: number): T[] {
  return classify(services, states, now, fullSweepHours)
    .filter((c) => c.full && c.apis === undefined)
    .map((c) => c.s);
}

/**
 * The order of a sweep that knows the services' last evaluations (the freshness rows, src/app/freshness.ts) and,
 * for services never read in full, the sizes a probe found (`probed`: API counts by lower-cased service id).
 * Messages that will take longest go first. Then, when they end, others are still queued to fill the slots they
 * leave, instead of the biggest service starting last and running alone (a 298-API service is 76 s of ARM refill
 * on its own; the estate bench at ARM's rates saw the longest message start 288 s into a 384 s sweep):
 *
 * 1. services the sweep expects to read in full whose size is known (recorded by their last full read, or probed),
 *    the most APIs first;
 * 2. services it expects to read in full whose size is not known (never read in full and not probed: new, or
 *    recorded before the size was), round-robin by subscription;
 * 3. services it expects to give the cheap check, round-robin by subscription.
 *
 * "Expects": the decision is the worker's (`decideSweepRead`, with the pending marker and the state as they are
 * when the message runs); this only orders. With neither states nor sizes the order is
 * `interleaveBySubscription`'s.
 */
export function orderSweep<T extends SweepItem>(
  services: readonly T[],
  states: ReadonlyMap<string, FreshnessState> | undefined,
  now: Date,
  fullSweepHours: number,
  probed: ReadonlyMap<string, number> = new Map(),
): T[] {
  if ((!states || states.size === 0) && probed.size === 0) return interleaveBySubscription(services);
  const known: Array<{ s: T; apis: number }> = [];
  const unknown: T[] = [];
  const cheap: T[] = [];
  for (const c of classify(services, states, now, fullSweepHours)) {
    const apis = c.apis ?? probed.get(c.s.id.toLowerCase());
    if (!c.full) cheap.push(c.s);
    else if (apis !== undefined) known.push({ s: c.s, apis });
    else unknown.push(c.s);
  }
  // a stable sort: equal sizes keep the round-robin order
  known.sort((a, b) => b.apis - a.apis);
  return [...known.map((k) => k.s), ...unknown, ...cheap];
}
