/**
 * The order a sweep sends its messages in (src/app/sweep-order.ts): the full reads known to be biggest first, then
 * full reads of unknown size, then the cheap checks, each group round-robin by subscription; without freshness rows,
 * round-robin by subscription alone. The estate bench at ARM's rates (bench/RESULTS.md, "Where the wall time goes")
 * found the longest message starting 288 s into a 384 s sweep when the order ignored size.
 */
import { describe, expect, it } from "vitest";
import type { FreshnessState } from "../../src/app/freshness.js";
import { interleaveBySubscription, orderSweep } from "../../src/app/sweep-order.js";

const NOW = new Date("2026-05-01T12:00:00Z");
const RECENT = "2026-05-01T10:00:00.000Z";
const svc = (sub: string, name: string, fingerprint = `fp-${name}`) => ({ id: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/${name}`, subscriptionId: sub, fingerprint });
const state = (fingerprint: string, apis?: number, fullAt = RECENT): FreshnessState => ({ fingerprint, fullAt, eventAt: "", unsettled: false, ...(apis !== undefined ? { apis } : {}) });

describe("the sweep's order", () => {
  it("round-robins by subscription when no service has a freshness row", () => {
    const services = [svc("s1", "a"), svc("s1", "b"), svc("s1", "c"), svc("s2", "d"), svc("s3", "e")];
    const names = (xs: Array<{ id: string }>) => xs.map((x) => x.id.split("/").pop());
    expect(names(interleaveBySubscription(services))).toEqual(["a", "d", "e", "b", "c"]);
    expect(names(orderSweep(services, undefined, NOW, 24))).toEqual(["a", "d", "e", "b", "c"]);
    expect(names(orderSweep(services, new Map(), NOW, 24))).toEqual(["a", "d", "e", "b", "c"]);
  });

  it("sends the full reads of known size first, the most APIs first, then the new services, then the cheap checks", () => {
    const small = svc("s1", "small");
    const big = svc("s2", "big");
    const huge = svc("s1", "huge");
    const fresh = svc("s3", "new");
    const unchanged = svc("s2", "unchanged");
    const old = svc("s3", "old");
    const states = new Map<string, FreshnessState>([
      // the row changed since the last full read (another fingerprint): read in full, sizes known
      [small.id.toLowerCase(), state("fp-before", 2)],
      [big.id.toLowerCase(), state("fp-before", 120)],
      [huge.id.toLowerCase(), state("fp-before", 298)],
      // the same fingerprint, read in full 2 h ago: the cheap check, however big
      [unchanged.id.toLowerCase(), state("fp-unchanged", 500)],
      // past REMEDIATOR_FULL_SWEEP_HOURS: read in full; recorded before sizes were (no apis)
      [old.id.toLowerCase(), state("fp-old", undefined, "2026-04-29T10:00:00.000Z")],
    ]);
    const order = orderSweep([unchanged, small, fresh, big, old, huge], states, NOW, 24).map((x) => x.id.split("/").pop());
    expect(order).toEqual(["huge", "big", "small", "new", "old", "unchanged"]);
  });

  it("with REMEDIATOR_FULL_SWEEP_HOURS 0 every service is a full read: all by size, the unknown after", () => {
    const a = svc("s1", "a");
    const b = svc("s2", "b");
    const c = svc("s3", "c");
    const states = new Map<string, FreshnessState>([
      [a.id.toLowerCase(), state("fp-a", 3)],
      [b.id.toLowerCase(), state("fp-b", 40)],
    ]);
    expect(orderSweep([a, b, c], states, NOW, 0).map((x) => x.id.split("/").pop())).toEqual(["b", "a", "c"]);
  });

  it("keeps every service exactly once", () => {
    const services = Array.from({ length: 200 }, (_, i) => svc(`s${i % 7}`, `n${i}`));
    const states = new Map<string, FreshnessState>(services.filter((_, i) => i % 3 === 0).map((s, i) => [s.id.toLowerCase(), state(i % 2 ? s.fingerprint : "changed", i % 50)]));
    const out = orderSweep(services, states, NOW, 24);
    expect(out).toHaveLength(200);
    expect(new Set(out.map((s) => s.id)).size).toBe(200);
  });
});
