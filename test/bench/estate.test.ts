/**
 * The estate-scale profile's pure parts (bench/estate-scale.ts; `npm run bench -- --profile estate`): the
 * generated estate is the one the issue describes, the request tally and the floor are computed from the
 * emulator's log as RESULTS.md defines them, and RESULTS.md keeps the estate section when either bench rewrites it.
 * Fast (no emulator, no app process): the profile itself runs in `npm run bench`.
 */
import { describe, expect, it } from "vitest";
import {
  baseEstate,
  emptyTally,
  estatePlan,
  estateSectionOf,
  estateTargets,
  FIGURES_BEGIN,
  FIGURES_END,
  floorOf,
  graphQueryTarget,
  meanCalls,
  mixOf,
  planServices,
  renderEstateFigures,
  serviceBatches,
  subscriptionId,
  tallyEntry,
  withEstateFigures,
  type EstateResults,
  type SweepFigures,
} from "../../bench/estate-scale.js";
import { parseEstateArgs, partRunner, refillBoundServices } from "../../bench/estate-run.js";
import { REMEDIATOR } from "../../bench/estate.js";

describe("the estate profile's estate", () => {
  it("is 10,000 subscriptions under 20 management groups and 5,000 services of mixed tiers, 1-300 APIs, 1% drifted", () => {
    const plan = estatePlan(1);
    expect(plan).toMatchObject({ subscriptions: 10_000, managementGroups: 20, services: 5_000 });
    const services = planServices(plan);
    expect(services).toHaveLength(5_000);
    expect(services.filter((s) => s.drifted)).toHaveLength(50);
    const apis = services.map((s) => s.apis);
    expect(Math.min(...apis)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...apis)).toBeLessThanOrEqual(300);
    expect(Math.max(...apis)).toBeGreaterThan(250);
    // skewed: most small, the mean near today's 30-API shape
    const mean = apis.reduce((a, b) => a + b, 0) / apis.length;
    expect(mean).toBeGreaterThan(20);
    expect(mean).toBeLessThan(45);
    expect(apis.filter((n) => n <= 10).length).toBeGreaterThan(services.length / 2);
    expect(new Set(services.map((s) => s.sku)).size).toBeGreaterThanOrEqual(5);
    expect(new Set(services.map((s) => s.id.toLowerCase())).size).toBe(5_000);
    // the same seed gives the same estate
    expect(planServices(plan).map((s) => `${s.id}|${s.sku}|${s.apis}|${s.drifted}`)).toEqual(services.map((s) => `${s.id}|${s.sku}|${s.apis}|${s.drifted}`));
  });

  it("puts every subscription under exactly one management group and scales down to seconds", () => {
    const plan = estatePlan(0.01);
    expect(plan).toMatchObject({ subscriptions: 100, managementGroups: 20, services: 50 });
    const base = baseEstate(plan, planServices(plan));
    const groups = base.filter((r) => r.type === "Microsoft.Management/managementGroups");
    expect(groups).toHaveLength(20);
    const children = groups.flatMap((g) => ((g["properties"] as { children: Array<{ id: string }> }).children ?? []).map((c) => c.id));
    expect(children).toHaveLength(100);
    expect(new Set(children).size).toBe(100);
    expect(children).toContain(`/subscriptions/${subscriptionId(99)}`);
    expect(() => estatePlan(0)).toThrow(/--scale/);
    expect(() => estatePlan(2)).toThrow(/--scale/);
  });

  it("generates the services' resources batch by batch, each service whole in one batch", () => {
    const services = planServices(estatePlan(0.01));
    const batches = [...serviceBatches(services, 20)];
    expect(batches).toHaveLength(3);
    const ids = batches.flat().filter((r) => r.type === "Microsoft.ApiManagement/service").map((r) => r.id);
    expect(ids).toEqual(services.map((s) => s.id));
    const apis = batches.flat().filter((r) => r.type === "Microsoft.ApiManagement/service/apis" && !r.id.includes(";rev="));
    expect(apis).toHaveLength(services.reduce((n, s) => n + s.apis, 0));
    // a drifted service: no minimum API version, its first API open to HTTP
    const d = services.find((s) => s.drifted);
    const svc = batches.flat().find((r) => r.id === d?.id);
    expect((svc?.["properties"] as Record<string, unknown>)["apiVersionConstraint"]).toBeUndefined();
  });
});

describe("the tally and the floor", () => {
  const sub = (i: number) => subscriptionId(i);
  const svc = (i: number, name: string) => `/subscriptions/${sub(i)}/resourceGroups/rg-apim/providers/Microsoft.ApiManagement/service/${name}`;
  const entry = (path: string, o: Partial<{ status: number; kind: string; principal: string; host: string; method: string }> = {}) => ({ host: "arm", method: "GET", status: 200, kind: "read", principal: REMEDIATOR, path, ...o });

  it("counts the remediator's ARM calls per subscription and service, Resource Graph's queries apart", () => {
    const t = emptyTally();
    for (let k = 0; k < 600; k++) tallyEntry(t, entry(`${svc(1, "a")}/apis?api-version=2024-05-01`));
    for (let k = 0; k < 100; k++) tallyEntry(t, entry(`${svc(2, "b")}/apis/x?api-version=2024-05-01`));
    tallyEntry(t, entry(`${svc(2, "b")}?api-version=2024-05-01`, { status: 429 }));
    tallyEntry(t, entry(`/subscriptions/${sub(2)}/providers/Microsoft.Security/pricings/Api?api-version=2024-01-01`));
    tallyEntry(t, entry("/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01", { method: "POST", kind: "action" }));
    tallyEntry(t, entry("/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01", { method: "POST", kind: "action", status: 429 }));
    // someone else's request, and Key Vault's
    tallyEntry(t, entry(`${svc(1, "a")}?api-version=2024-05-01`, { principal: "someone-else" }));
    tallyEntry(t, entry("/secrets/x", { host: "vault:kv" }));
    expect(t).toMatchObject({ calls: 702, throttled429: 1, graphQueries: 1, graph429: 1, subscriptionLevel: 1 });
    expect(t.byService.get(svc(1, "a").toLowerCase())).toBe(600);
    expect(t.byService.get(svc(2, "b").toLowerCase())).toBe(101);
    expect(meanCalls(t, [svc(1, "a").toLowerCase(), svc(3, "none").toLowerCase()])).toBe(300);

    // the floor: the busiest subscription's reads at its refill (25/s × speed), and with its 250-read burst off
    const f = floorOf(t, 12);
    expect(f.subscriptionsTouched).toBe(2);
    expect(f.busiestSubscriptionCalls).toBe(600);
    expect(f.refillS).toBeCloseTo(600 / 300, 6);
    expect(f.burstS).toBeCloseTo(350 / 300, 6);
  });

  it("judges the targets from the figures", () => {
    const fig = (o: Partial<SweepFigures>): SweepFigures => ({
      sweep: 1, instances: 1, services: 5000, evaluated: 5000, failed: 0, armCalls: 0, throttled429: 0, graphQueries: 6, graph429: 0, graphQueryTarget: graphQueryTarget(5000, 20, 10),
      callsPerService: 0, callsPerUnchanged: 150, callsPerDrifted: 150, subscriptionLevelCalls: 0, wallS: 100, floor: { refillS: 95, burstS: 90, busiestSubscriptionCalls: 1, subscriptionsTouched: 1 }, wallOverFloor: 100 / 95, wallOverBurstFloor: 100 / 90, longestMessageS: 10, maxServiceCalls: 2000, peakRssMB: 200, cpuS: { app: 1, emulator: 1 }, ...o,
    });
    expect(graphQueryTarget(5000, 20, 10)).toBe(7);
    const base = { speed: 12, messageBudgetS: 300, chunking: true, baseline: fig({ services: 10, peakRssMB: 190 }), singleSubscription: null, instances: [fig({ instances: 4 }), fig({ instances: 16, throttled429: 3 })] } as unknown as Omit<EstateResults, "targets">;
    const t = estateTargets({ ...base, sweeps: [fig({}), fig({ sweep: 2, callsPerUnchanged: 1, graphQueries: 8, longestMessageS: 30, maxServiceCalls: 8000 })] });
    expect(t["unchanged"]?.met).toBe(true);
    expect(t["graphQueries"]?.met).toBe(false);
    expect(t["wallOverFloor"]?.met).toBe(true);
    expect(t["throttled"]?.met).toBe(false);
    // 8,000 calls are 320 s at ARM's 25 reads/s, over the 300 s budget (7,500 calls)
    expect(t["longestMessage"]?.met).toBe(false);
    expect(t["rss"]?.met).toBe(true);
  });
});

describe("RESULTS.md's estate section", () => {
  it("replaces only the figures and survives the main bench's rewrite", () => {
    const first = withEstateFigures("# Benchmark results\n\n## Sweeps\n", `${FIGURES_BEGIN}\nrun 1\n${FIGURES_END}`);
    expect(first).toContain("## Sweeps");
    expect(first).toContain("run 1");
    const analysed = first.replace(FIGURES_END, `${FIGURES_END}\n\n### Analysis\n\nhand-written`);
    const second = withEstateFigures(analysed, `${FIGURES_BEGIN}\nrun 2\n${FIGURES_END}`);
    expect(second).toContain("run 2");
    expect(second).not.toContain("run 1");
    expect(second).toContain("hand-written");
    const kept = estateSectionOf(second);
    expect(kept).toContain("run 2");
    expect(kept).toContain("hand-written");
    expect(kept).not.toContain("## Sweeps");
  });

  it("records a part that failed and still writes the figures of the others", async () => {
    // the scale-0.5 run lost every figure to one scale-out worker that died; now each part fails alone
    const failures: Array<{ part: string; error: string }> = [];
    const lines: string[] = [];
    const part = partRunner(failures, (l) => lines.push(l));
    const ran: string[] = [];
    await part("sweeps", async () => void ran.push("sweeps"));
    await part("scale-out, 4 instance(s)", () => Promise.reject(new Error('worker exited (134) before "done". stderr: FATAL ERROR: Reached heap limit\n<stack>')));
    await part("single subscription", async () => void ran.push("single"));
    expect(ran).toEqual(["sweeps", "single"]);
    expect(failures).toEqual([{ part: "scale-out, 4 instance(s)", error: expect.stringContaining("Reached heap limit") }]);
    expect(lines).toEqual(['  scale-out, 4 instance(s) failed: worker exited (134) before "done". stderr: FATAL ERROR: Reached heap limit']);

    const plan = estatePlan(0.002);
    const r = {
      generatedAt: "2026-12-04T00:00:00.000Z", command: "tsx bench/run.ts --profile estate", machine: { cpus: 2, loadAverageStart: [0], loadAverageEnd: [0] }, speed: 12, plan,
      full: { subscriptions: 10_000, managementGroups: 20, services: 5_000, maxApis: 300, driftedShare: 0.01 }, mix: mixOf(planServices(plan)), messageBudgetS: 300, chunking: true,
      sweeps: [], baseline: null, instances: [], instanceScale: 0.01, singleSubscription: null, failures, targets: {}, wallS: 1,
    } as EstateResults;
    const md = renderEstateFigures(r);
    expect(md).toContain('- **scale-out, 4 instance(s)**: worker exited (134) before "done". stderr: FATAL ERROR: Reached heap limit');
    expect(md).not.toContain("<stack>");
  });

  it("has a refill-bound part: one 300-API service in each of its own subscriptions, judged on wall ÷ floor", () => {
    const services = refillBoundServices(4);
    expect(new Set(services.map((x) => x.subscription)).size).toBe(4);
    expect(services.every((x) => x.apis === 300 && !x.drifted)).toBe(true);
    expect(parseEstateArgs(["--refill-subscriptions", "8", "--refill-speed", "2"])).toMatchObject({ refillSubscriptions: 8, refillSpeed: 2 });
    expect(() => parseEstateArgs(["--refill-speed", "0"])).toThrow(/--refill-speed must be > 0/);
    const fig = { instances: 1, services: 4, throttled429: 0, wallS: 88, floor: { refillS: 76.8, burstS: 66.8, busiestSubscriptionCalls: 1919, subscriptionsTouched: 4 }, wallOverFloor: 88 / 76.8, wallOverBurstFloor: 88 / 66.8, speed: 1 } as unknown as SweepFigures & { speed: number };
    const base = { speed: 12, messageBudgetS: 300, chunking: true, baseline: null, singleSubscription: null, instances: [], sweeps: [] } as unknown as Omit<EstateResults, "targets">;
    expect(estateTargets({ ...base, refillBound: fig })["wallOverFloorRefillBound"]?.met).toBe(false);
    expect(estateTargets({ ...base, refillBound: { ...fig, wallS: 82, wallOverFloor: 82 / 76.8 } })["wallOverFloorRefillBound"]?.met).toBe(true);
  });

  it("refuses options it does not know with a one-line message", () => {
    expect(parseEstateArgs(["--profile", "estate", "--scale", "0.01"])).toMatchObject({ scale: 0.01 });
    expect(() => parseEstateArgs(["--profile", "galaxy"])).toThrow(/--profile takes "estate"/);
    expect(() => parseEstateArgs(["--scale", "3"])).toThrow(/--scale must be/);
    expect(() => parseEstateArgs(["--sizes", "10"])).toThrow(/unknown option --sizes/);
  });
});
