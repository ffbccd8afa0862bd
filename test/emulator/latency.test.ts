/**
 * The emulator's latency model: a request is answered `latency` ms after it
 * arrives, the emulator's own processing included. LatencyKeeper learns what
 * the emulator adds after its wait and takes it off the next waits.
 */
import { describe, expect, it } from "vitest";
import { LatencyKeeper } from "../../emulator/control.js";

describe("LatencyKeeper", () => {
  it("waits the whole latency, less the time already spent, until it has learned anything", () => {
    const k = new LatencyKeeper();
    expect(k.waitMs("read", 60, 0.4)).toBeCloseTo(59.6);
    expect(k.waitMs("write", 150, 0)).toBe(150);
  });

  it("takes what the emulator adds after its wait off later waits, per request kind", () => {
    const k = new LatencyKeeper();
    // an emulator that adds 2 ms to every read after its wait (handling, writing, a late timer)
    const serve = (adds: number) => {
      const wait = k.waitMs("read", 60, 0);
      k.observe("read", 60, wait + adds);
      return wait + adds;
    };
    const first = serve(2);
    expect(first).toBe(62);
    let took = first;
    for (let i = 0; i < 50; i++) took = serve(2);
    // answered at the latency: the wait is 2 ms shorter
    expect(took).toBeCloseTo(60, 1);
    expect(k.waitMs("read", 60, 0)).toBeCloseTo(58, 1);
    // other kinds are learned separately
    expect(k.waitMs("keyvault", 40, 0)).toBe(40);
    // the emulator gets faster (adds 0.5 ms): the correction shrinks with it
    for (let i = 0; i < 50; i++) took = serve(0.5);
    expect(took).toBeCloseTo(60, 1);
    expect(k.waitMs("read", 60, 0)).toBeCloseTo(59.5, 1);
  });

  it("never answers early by more than a bounded correction, and never waits longer than the latency", () => {
    const k = new LatencyKeeper();
    // a pathological 100 ms overshoot (a stalled machine) is capped: 5 ms, or a quarter of a short latency
    for (let i = 0; i < 50; i++) k.observe("read", 60, 160);
    expect(k.waitMs("read", 60, 0)).toBe(55);
    for (let i = 0; i < 50; i++) k.observe("action", 8, 108);
    expect(k.waitMs("action", 8, 0)).toBe(6);
    // answers faster than the latency (impossible unless a timer fired early) never push the wait above it
    for (let i = 0; i < 50; i++) k.observe("write", 150, 100);
    expect(k.waitMs("write", 150, 0)).toBe(150);
    // no latency configured: nothing is learned
    k.observe("delete", 0, 3);
    expect(k.waitMs("delete", 0, 0)).toBe(0);
  });

  it("a new latency model starts from nothing", () => {
    const k = new LatencyKeeper();
    for (let i = 0; i < 20; i++) k.observe("read", 60, 63);
    k.reset();
    expect(k.waitMs("read", 60, 0)).toBe(60);
  });
});
