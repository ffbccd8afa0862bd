/**
 * The order a sweep enqueues its services in. ARM paces each subscription
 * apart (a token bucket per principal and subscription), so services of
 * different subscriptions evaluated at once go as fast as each
 * subscription's refill allows: round-robin by subscription, so every
 * batch a queue trigger picks up spans as many subscriptions as it can,
 * instead of one subscription's services after another's.
 */
import type { ServiceRef } from "../model/arm.js";

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
