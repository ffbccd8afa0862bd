/**
 * The benchmark at its smallest (`npm run bench:smoke`: 10 services, fast
 * latency): it runs end to end and writes results.json and RESULTS.md with the
 * expected keys. No timing assertions; the call count and the absence of 429s
 * are properties of the product, not of the machine.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { FIXES, runBench, type BenchResults } from "../../bench/run.js";

describe("npm run bench:smoke", () => {
  it("writes results.json and RESULTS.md with every measure", { timeout: 300_000 }, async () => {
    const outDir = mkdtempSync(join(tmpdir(), "apim-bench-smoke-"));
    await runBench({ smoke: true, outDir, azuriteConnectionString: inject("azuriteConnectionString"), log: () => undefined });

    const file = join(outDir, "results.json");
    expect(existsSync(file)).toBe(true);
    const r = JSON.parse(readFileSync(file, "utf8")) as BenchResults;
    expect(r.smoke).toBe(true);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(["generatedAt", "command", "machine", "model", "sweeps", "latency", "coldStart", "targets", "wallS"]));
    expect(r.model).toMatchObject({ speed: expect.any(Number), latencyMs: expect.any(Object), throttle: { reads: { capacity: 250, refillPerSecond: 25 } } });

    expect(r.sweeps).toHaveLength(1);
    const s = r.sweeps[0];
    expect(s).toMatchObject({ services: 10, failedEvaluations: 0 });
    for (const k of ["armCalls", "minimumCalls", "ratio", "callsPerService", "minimumPerService", "reads", "throttled429", "durationS", "readsPerSecond", "throughputFraction", "armEquivalent", "evaluationMs", "peakRssMB", "rssVsSmallest", "cpuS", "pacer"]) {
      expect(s, k).toHaveProperty(k);
    }
    // exactly the collector's minimum, and paced under the throttle
    expect(s?.armCalls).toBe(s?.minimumCalls);
    expect(s?.ratio).toBe(1);
    expect(s?.throttled429).toBe(0);

    expect(Object.keys(r.latency?.fixes ?? {}).sort()).toEqual([...FIXES].sort());
    for (const f of FIXES) {
      const x = r.latency?.fixes[f];
      expect(x, f).toMatchObject({ samples: expect.any(Number), failed: 0, minimalMs: expect.any(Number), roundTrips: expect.any(Number) });
      expect(x?.samples, f).toBeGreaterThan(0);
      for (const k of ["p50Ms", "p99Ms", "overheadP50Ms", "overheadP99Ms", "evaluationEndP50Ms"]) expect(x, `${f} ${k}`).toHaveProperty(k);
    }

    expect(r.coldStart).toMatchObject({ bundle: "dist/deploy/functions.js", runs: expect.any(Number), medianMs: expect.any(Number) });
    expect(Object.keys(r.targets)).toEqual(expect.arrayContaining(["callsRatio", "throughput", "eventToFix", "coldStart"]));

    const md = readFileSync(join(outDir, "RESULTS.md"), "utf8");
    for (const heading of ["## Targets", "## What was run", "## Sweeps", "## Event-to-fix latency", "## Cold start"]) expect(md).toContain(heading);
    expect(md).toContain("| 10 |");
  });
});
