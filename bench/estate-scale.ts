/**
 * The estate-scale profile's pure parts (`npm run bench -- --profile estate`, bench/estate-run.ts):
 *
 * - the generated estate: 10,000 subscriptions under 20 management groups, 5,000 API Management services of mixed
 *   tiers with 1-300 APIs each (skewed: most small, mean about 30, today's 30-API shape), 1% of the services drifted;
 *   all × `scale`, the 20 management groups kept. Generated one service at a time (`serviceBatches`) from a seeded
 *   random, so no estate file is written and the bench holds only one batch besides the emulator's store;
 * - the tally of the emulator's request log (calls per subscription and per service, 429s, Resource Graph queries);
 * - the floor a sweep cannot beat: ARM's buckets are per subscription and principal (Learn, "Understand how Azure
 *   Resource Manager throttles requests"), so with every subscription swept in parallel the sweep lasts at least as
 *   long as the busiest subscription needs at its refill rate;
 * - RESULTS.md's estate section (between markers, so `npm run bench` keeps it when it rewrites the file).
 */
import { seededRandom } from "../emulator/control.js";
import { ARM_LIMITS } from "../src/azure/pacing.js";
import { CUSTOM_PROPERTIES, FULL_POLICY, GLOBAL_POLICY, REMEDIATOR, type Resource } from "./estate.js";

export const FULL_SCALE = { subscriptions: 10_000, managementGroups: 20, services: 5_000, maxApis: 300, driftedShare: 0.01 } as const;

/** Tiers and their share of the services (classic and v2; Consumption has no tenant access, reports or workspaces). */
export const TIERS: ReadonlyArray<readonly [sku: string, share: number]> = [
  ["Developer", 0.15],
  ["Basic", 0.1],
  ["Standard", 0.25],
  ["Premium", 0.2],
  ["Consumption", 0.1],
  ["BasicV2", 0.05],
  ["StandardV2", 0.15],
];

export interface EstatePlan {
  scale: number;
  subscriptions: number;
  managementGroups: number;
  services: number;
  seed: number;
}

export function estatePlan(scale: number, seed = 1, services?: number): EstatePlan {
  if (!(scale > 0) || scale > 1) throw new Error("--scale must be a number greater than 0 and at most 1");
  const n = services ?? Math.max(1, Math.round(FULL_SCALE.services * scale));
  return { scale, subscriptions: Math.max(FULL_SCALE.managementGroups, Math.round(FULL_SCALE.subscriptions * (services === undefined ? scale : services / FULL_SCALE.services))), managementGroups: FULL_SCALE.managementGroups, services: n, seed };
}

export const subscriptionId = (i: number) => `5e1f${String(i).padStart(4, "0")}-0000-4000-8000-0000e57a7e00`.slice(0, 36);
export const managementGroupName = (g: number) => `mg-estate-${String(g).padStart(2, "0")}`;
export const ESTATE_RG = "rg-apim";
export const estateServiceName = (j: number) => `apim-est-${String(j).padStart(5, "0")}`;

/**
 * APIs of one service: 1 + ⌊299 · u⁹⌋ for u uniform in [0, 1): mean 1 + 299/10 ≈ 31 (today's bench shape has 30),
 * median 1, 90th percentile ~110, a few near 300: most services small, a long tail of big ones (at full scale:
 * 149,395 APIs, mean 29.9).
 */
export const apisFor = (u: number) => 1 + Math.floor((FULL_SCALE.maxApis - 1) * u ** 9);

export interface EstateService {
  index: number;
  id: string;
  subscription: string;
  sku: string;
  apis: number;
  drifted: boolean;
}

/** Which subscription, tier, API count and drift each service gets (seeded; the resources come from `serviceResourcesFor`). */
export function planServices(plan: EstatePlan): EstateService[] {
  const r = seededRandom(plan.seed * 7919 + 17);
  const out: EstateService[] = [];
  const drifted = Math.max(1, Math.round(plan.services * FULL_SCALE.driftedShare));
  for (let j = 0; j < plan.services; j++) {
    const sub = subscriptionId(Math.floor(r() * plan.subscriptions));
    let u = r();
    let sku = TIERS[TIERS.length - 1]?.[0] as string;
    for (const [name, share] of TIERS) {
      if (u < share) {
        sku = name;
        break;
      }
      u -= share;
    }
    const apis = apisFor(r());
    out.push({ index: j, id: `/subscriptions/${sub}/resourceGroups/${ESTATE_RG}/providers/Microsoft.ApiManagement/service/${estateServiceName(j)}`, subscription: sub, sku, apis, drifted: false });
  }
  // every (services ÷ drifted)-th service, offset by the seed: spread over tiers and sizes
  const step = plan.services / drifted;
  for (let k = 0; k < drifted; k++) (out[Math.floor(k * step + (plan.seed % Math.max(1, Math.floor(step))))] as EstateService).drifted = true;
  return out;
}

/** The subscriptions, management groups (each subscription i under group i mod 20) and one Defender for APIs plan per subscription with services. */
export function baseEstate(plan: EstatePlan, services: EstateService[]): Resource[] {
  const out: Resource[] = [];
  const children: Array<Array<{ id: string }>> = Array.from({ length: plan.managementGroups }, () => []);
  for (let i = 0; i < plan.subscriptions; i++) {
    const s = subscriptionId(i);
    out.push({ id: `/subscriptions/${s}`, type: "Microsoft.Resources/subscriptions", displayName: `Estate ${i}` });
    children[i % plan.managementGroups]?.push({ id: `/subscriptions/${s}` });
  }
  for (let g = 0; g < plan.managementGroups; g++) {
    out.push({ id: `/providers/Microsoft.Management/managementGroups/${managementGroupName(g)}`, type: "Microsoft.Management/managementGroups", name: managementGroupName(g), properties: { displayName: `Estate group ${g}`, children: children[g] } });
  }
  for (const s of new Set(services.map((x) => x.subscription))) {
    out.push({ id: `/subscriptions/${s}/resourceGroups/${ESTATE_RG}`, type: "Microsoft.Resources/resourceGroups", location: "westeurope" });
    out.push({ id: `/subscriptions/${s}/providers/Microsoft.Security/pricings/Api`, type: "Microsoft.Security/pricings", properties: { pricingTier: "Standard", subPlan: "P1" } });
  }
  return out;
}

const V2 = /v2$/i;

/**
 * One service's resources: the service (compliant settings, its tier), global policy, its APIs (one operation, an
 * API policy, a Defender API collection each; every tenth with a second revision), 5 named values, 2 backends,
 * 1 product with up to 5 APIs and a policy, 2 subscriptions, a lock and request metrics. A drifted service has an
 * API open to HTTP and no minimum API version.
 */
export function serviceResourcesFor(s: EstateService): Resource[] {
  const sid = s.id;
  const name = sid.slice(sid.lastIndexOf("/") + 1);
  const T = "Microsoft.ApiManagement/service";
  const consumption = s.sku === "Consumption";
  const out: Resource[] = [
    {
      id: sid,
      type: T,
      name,
      location: "West Europe",
      tags: { env: "estate" },
      sku: { name: s.sku, capacity: consumption ? 0 : 1 },
      identity: { type: "SystemAssigned" },
      properties: {
        publisherEmail: "api-team@contoso.example",
        publisherName: "Contoso",
        createdAtUtc: "2023-01-01T00:00:00Z",
        gatewayUrl: `https://${name}.azure-api.net`,
        customProperties: CUSTOM_PROPERTIES,
        virtualNetworkType: consumption || V2.test(s.sku) ? "None" : "Internal",
        publicNetworkAccess: "Enabled",
        ...(consumption || V2.test(s.sku) ? {} : { platformVersion: "stv2" }),
        ...(s.drifted ? {} : { apiVersionConstraint: { minApiVersion: "2021-08-01" } }),
      },
    },
    { id: `${sid}/policies/policy`, type: `${T}/policies`, properties: { format: "xml", value: GLOBAL_POLICY } },
  ];
  const totals: Record<string, number> = {};
  for (let a = 0; a < s.apis; a++) {
    const api = `api-${String(a).padStart(3, "0")}`;
    const base = { displayName: `API ${a}`, path: `p${a}`, serviceUrl: `https://backend-${a}.internal.contoso.example`, subscriptionRequired: true, apiRevision: "1", isCurrent: true };
    out.push({ id: `${sid}/apis/${api}`, type: `${T}/apis`, properties: { ...base, protocols: s.drifted && a === 0 ? ["http", "https"] : ["https"] } });
    if (a % 10 === 0) out.push({ id: `${sid}/apis/${api};rev=2`, type: `${T}/apis`, properties: { ...base, protocols: ["https"], isCurrent: false, apiRevision: "2" } });
    out.push({ id: `${sid}/apis/${api}/policies/policy`, type: `${T}/apis/policies`, properties: { format: "xml", value: FULL_POLICY } });
    out.push({ id: `${sid}/apis/${api}/operations/get-0`, type: `${T}/apis/operations`, properties: { displayName: "get 0", method: "GET", urlTemplate: "/items/0" } });
    out.push({ id: `${sid}/providers/Microsoft.Security/apiCollections/${api}`, type: "Microsoft.Security/apiCollections", properties: { provisioningState: "Succeeded", displayName: `API ${a}` } });
    totals[api] = 1000 + a;
  }
  out.push({ id: `${sid}/providers/Microsoft.Insights/metrics/Requests`, type: "Microsoft.Insights/metrics", properties: { totalsByApiId: totals } });
  for (let n = 0; n < 5; n++) out.push({ id: `${sid}/namedValues/nv-${n}`, type: `${T}/namedValues`, properties: { displayName: `nv-${n}`, secret: false, value: `value-${n}` } });
  for (let b = 0; b < 2; b++) {
    out.push({ id: `${sid}/backends/be-${b}`, type: `${T}/backends`, properties: { url: `https://be-${b}.internal.contoso.example`, protocol: "http", credentials: { header: { "x-functions-key": ["{{nv-0}}"] } }, tls: { validateCertificateChain: true, validateCertificateName: true } } });
  }
  out.push({ id: `${sid}/products/prod-0`, type: `${T}/products`, properties: { displayName: "Product 0", state: "published", subscriptionRequired: true } });
  for (let a = 0; a < Math.min(5, s.apis); a++) out.push({ id: `${sid}/products/prod-0/apis/api-${String(a).padStart(3, "0")}`, type: `${T}/products/apis`, properties: {} });
  out.push({ id: `${sid}/products/prod-0/policies/policy`, type: `${T}/products/policies`, properties: { format: "xml", value: FULL_POLICY } });
  for (let k = 0; k < 2; k++) out.push({ id: `${sid}/subscriptions/sub-${k}`, type: `${T}/subscriptions`, properties: { displayName: `Subscription ${k}`, scope: `${sid}/products/prod-0`, state: "active" } });
  out.push({ id: `${sid}/providers/Microsoft.Authorization/locks/lock-0`, type: "Microsoft.Authorization/locks", properties: { level: "CanNotDelete", notes: "estate lock" } });
  return out;
}

/** The services' resources in batches of about `batch` services (the caller loads each into the emulator and drops it). */
export function* serviceBatches(services: EstateService[], batch = 100): Generator<Resource[]> {
  for (let i = 0; i < services.length; i += batch) {
    const out: Resource[] = [];
    for (const s of services.slice(i, i + batch)) for (const r of serviceResourcesFor(s)) out.push(r);
    yield out;
  }
}

// ---------------------------------------------------------------------------
// the emulator's request log, tallied

export interface EstateTally {
  /** The remediator's ARM requests (Resource Graph not included). */
  calls: number;
  throttled429: number;
  /** The 429s by the emulator's kind of request (read, write, delete, action). */
  throttledByKind: Record<string, number>;
  /** Resource Graph queries answered (200) and refused (429). */
  graphQueries: number;
  graph429: number;
  /** Subscription list calls (ARM discovery). */
  subscriptionLists: number;
  /** Per subscription: reads and writes (deletes counted as writes: their bucket has the same size and refill). */
  bySubscription: Map<string, { reads: number; writes: number }>;
  /** Per service (lower-case id): the ARM calls under its path. */
  byService: Map<string, number>;
  /** Calls under a subscription but no service (subscription-level reads such as the Defender plan). */
  subscriptionLevel: number;
}

export const emptyTally = (): EstateTally => ({ calls: 0, throttled429: 0, throttledByKind: {}, graphQueries: 0, graph429: 0, subscriptionLists: 0, bySubscription: new Map(), byService: new Map(), subscriptionLevel: 0 });

const SERVICE_PATH = /^(\/subscriptions\/([^/?]+)\/resourcegroups\/[^/?]+\/providers\/microsoft\.apimanagement\/service\/[^/?]+)/i;
const SUBSCRIPTION_PATH = /^\/subscriptions\/([^/?]+)/i;

/** Adds one log entry of the emulator (emulator/control.ts LogEntry) to the tally, if it is the remediator's ARM request. */
export function tallyEntry(t: EstateTally, e: { host: string; method: string; path: string; status: number; principal: string | null; kind: string }): void {
  if (e.host !== "arm" || e.principal !== REMEDIATOR) return;
  const path = e.path.replace(/^\/+/, "/");
  if (/^\/providers\/microsoft\.resourcegraph\/resources/i.test(path)) {
    if (e.status === 429) t.graph429++;
    else if (e.status === 200) t.graphQueries++;
    return;
  }
  t.calls++;
  if (e.status === 429) {
    t.throttled429++;
    t.throttledByKind[e.kind] = (t.throttledByKind[e.kind] ?? 0) + 1;
  }
  if (/^\/subscriptions\/?(\?|$)/i.test(path)) t.subscriptionLists++;
  const sub = SUBSCRIPTION_PATH.exec(path)?.[1]?.toLowerCase();
  if (sub) {
    const b = t.bySubscription.get(sub) ?? { reads: 0, writes: 0 };
    if (e.kind === "read") b.reads++;
    else b.writes++;
    t.bySubscription.set(sub, b);
  }
  const svc = SERVICE_PATH.exec(path)?.[1]?.toLowerCase();
  if (svc) t.byService.set(svc, (t.byService.get(svc) ?? 0) + 1);
  else if (sub) t.subscriptionLevel++;
}

export interface Floor {
  /** Calls of the busiest subscription ÷ its refill rate at the time scale (s): the brief's floor. */
  refillS: number;
  /** The same with the bucket's burst taken off (ARM serves the first 250 reads at once): the floor ARM really sets. */
  burstS: number;
  busiestSubscriptionCalls: number;
  subscriptionsTouched: number;
}

/** The floor ARM's buckets set for the sweep the tally saw, at time scale `speed`. */
export function floorOf(t: EstateTally, speed: number): Floor {
  let refillS = 0;
  let burstS = 0;
  let busiest = 0;
  for (const b of t.bySubscription.values()) {
    const r = ARM_LIMITS.reads;
    const w = ARM_LIMITS.writes;
    refillS = Math.max(refillS, b.reads / (r.refillPerSecond * speed), b.writes / (w.refillPerSecond * speed));
    burstS = Math.max(burstS, Math.max(0, b.reads - r.capacity) / (r.refillPerSecond * speed), Math.max(0, b.writes - w.capacity) / (w.refillPerSecond * speed));
    busiest = Math.max(busiest, b.reads + b.writes);
  }
  return { refillS, burstS, busiestSubscriptionCalls: busiest, subscriptionsTouched: t.bySubscription.size };
}

/** Mean calls per service over `ids` (lower-case), 0 for a service with none. */
export function meanCalls(t: EstateTally, ids: string[]): number | null {
  if (ids.length === 0) return null;
  return ids.reduce((n, id) => n + (t.byService.get(id) ?? 0), 0) / ids.length;
}

// ---------------------------------------------------------------------------
// results and RESULTS.md

export interface SweepFigures {
  sweep: 1 | 2;
  instances: number;
  services: number;
  evaluated: number;
  failed: number;
  armCalls: number;
  throttled429: number;
  graphQueries: number;
  graph429: number;
  /** Target: services ÷ 1,000 (rounded up) + 1 per management-group batch. */
  graphQueryTarget: number;
  callsPerService: number | null;
  callsPerUnchanged: number | null;
  callsPerDrifted: number | null;
  subscriptionLevelCalls: number;
  wallS: number;
  floor: Floor;
  wallOverFloor: number | null;
  wallOverBurstFloor: number | null;
  longestMessageS: number;
  /** Messages that ended without an evaluation (the service's lease held or lost, a chunk step skipped); absent in older results. */
  deferred?: number;
  /** The deferred messages by outcome (bench/worker.ts); absent in older results. */
  deferredBy?: Record<string, number>;
  /**
   * The messages' spans (bench/estate-run.ts `messagesOf`): mean and most run at once over all instances, and when
   * (s after the sweep's start) the last message and the longest one started; absent in older results.
   */
  messages?: { meanInFlight: number | null; maxInFlight: number; lastStartS: number | null; longestStartS: number | null };
  /** The most ARM calls one service's evaluation made (one message when unchunked): the measure the message budget is set in (REMEDIATOR_MESSAGE_BUDGET_SECONDS × ARM's read refill). */
  maxServiceCalls: number;
  peakRssMB: number;
  cpuS: { app: number; emulator: number };
  /** The 429s by kind of request; the shared pacers' figures over every instance (absent without a shared pacer). */
  throttledByKind?: Record<string, number>;
  pacing?: { requests: number; storageCallsPerRequest: number; conflicts: number; fallbacks: number; resyncs: number; pausesShared: number; refreshes: number; releases: number };
}

export interface SingleSubscriptionFigures {
  services: number;
  arm: { armCalls: number; callsPerService: number | null; discoveryCalls: number; graphQueries: number; durationS: number | null; throttled429: number; peakRssMB: number | null };
  resourceGraph: { armCalls: number; callsPerService: number | null; discoveryCalls: number; graphQueries: number; durationS: number | null; throttled429: number; peakRssMB: number | null };
}

/** A part of the run that failed (its worker died or timed out): its error, the worker's stderr tail included. */
export interface EstateFailure {
  part: string;
  error: string;
}

export interface EstateResults {
  generatedAt: string;
  command: string;
  machine: { cpus: number; loadAverageStart: number[]; loadAverageEnd: number[] };
  speed: number;
  plan: EstatePlan;
  full: typeof FULL_SCALE;
  mix: { tiers: Record<string, number>; apis: { mean: number; median: number; p90: number; max: number }; drifted: number; subscriptionsWithServices: number };
  /** The budget of one message at ARM rates (REMEDIATOR_MESSAGE_BUDGET_SECONDS) and whether chunked evaluation is wired in the app. */
  messageBudgetS: number;
  chunking: boolean;
  sweeps: SweepFigures[];
  baseline: SweepFigures | null;
  /** The baseline's services (their sizes: peak RSS follows the biggest services in flight, not their count). */
  baselineMix?: EstateResults["mix"];
  instances: SweepFigures[];
  instanceScale: number;
  singleSubscription: SingleSubscriptionFigures | null;
  /** The refill-bound sweep (subscriptions of one 300-API service each at time scale `speed`); absent in older results. */
  refillBound?: (SweepFigures & { speed: number }) | null;
  /** Parts that failed; absent in results written before the driver recorded them. */
  failures?: EstateFailure[];
  targets: Record<string, { target: string; value: string; met: boolean | null }>;
  wallS: number;
}

export const r2 = (x: number | null, d = 2) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

export function mixOf(services: EstateService[]): EstateResults["mix"] {
  const tiers: Record<string, number> = {};
  for (const s of services) tiers[s.sku] = (tiers[s.sku] ?? 0) + 1;
  const apis = services.map((s) => s.apis).sort((a, b) => a - b);
  const at = (p: number) => apis[Math.min(apis.length - 1, Math.max(0, Math.ceil(p * apis.length) - 1))] ?? 0;
  return { tiers, apis: { mean: r2(apis.reduce((a, b) => a + b, 0) / Math.max(1, apis.length), 1) ?? 0, median: at(0.5), p90: at(0.9), max: apis[apis.length - 1] ?? 0 }, drifted: services.filter((s) => s.drifted).length, subscriptionsWithServices: new Set(services.map((s) => s.subscription)).size };
}

export function graphQueryTarget(services: number, managementGroups: number, perBatch: number): number {
  return Math.ceil(services / 1000) + Math.ceil(managementGroups / perBatch);
}

export function estateTargets(r: Omit<EstateResults, "targets">): EstateResults["targets"] {
  const t: EstateResults["targets"] = {};
  const [first, second] = r.sweeps;
  if (first) {
    t["graphQueries"] = { target: `≤ services ÷ 1,000 + 1 per management-group batch (${first.graphQueryTarget})`, value: r.sweeps.map((s) => `sweep ${s.sweep}: ${s.graphQueries} (${s.graph429} × 429)`).join(" / "), met: r.sweeps.every((s) => s.graphQueries <= s.graphQueryTarget) };
  }
  if (first && second) {
    const today = first.callsPerUnchanged;
    t["unchanged"] = {
      target: `ARM calls per unchanged service ≤ 0.5 × the full read (${r2(today, 1)})`,
      value: `${r2(second.callsPerUnchanged, 2)} (drifted: ${r2(second.callsPerDrifted, 1)})`,
      met: today !== null && second.callsPerUnchanged !== null ? second.callsPerUnchanged <= 0.5 * today : null,
    };
  }
  if (first) {
    t["wallOverFloor"] = { target: "sweep wall time ÷ the busiest subscription's calls at its refill ≤ 1.1", value: r.sweeps.map((s) => `sweep ${s.sweep}: ${r2(s.wallOverFloor, 1) ?? "n/a"} (burst-aware floor: ${r2(s.wallOverBurstFloor, 1) ?? "n/a (0 s)"})`).join(" / "), met: first.wallOverFloor !== null ? first.wallOverFloor <= 1.1 : null };
  }
  if (r.refillBound) {
    const b = r.refillBound;
    t["wallOverFloorRefillBound"] = {
      target: `the same where ARM's refill binds (${b.floor.subscriptionsTouched} subscriptions of one ${b.floor.busiestSubscriptionCalls}-call service, ×${b.speed}) ≤ 1.1`,
      value: `${r2(b.wallOverFloor, 2) ?? "n/a"} (burst-aware floor: ${r2(b.wallOverBurstFloor, 2) ?? "n/a"}), ${b.throttled429} × 429`,
      met: b.wallOverFloor !== null ? b.wallOverFloor <= 1.1 : null,
    };
  }
  const runs = [...r.sweeps.filter((s) => s.sweep === 1), ...r.instances];
  if (runs.length > 0) {
    t["throttled"] = { target: "0 × 429 with 1, 4 and 16 instances", value: runs.map((s) => `${s.instances} inst. (${s.services} svc): ${s.throttled429}`).join(" / "), met: runs.every((s) => s.throttled429 === 0) && [1, 4, 16].every((n) => runs.some((s) => s.instances === n)) ? true : runs.some((s) => s.throttled429 > 0) ? false : null };
  }
  const all = [...r.sweeps, ...r.instances];
  const longest = Math.max(...all.map((s) => s.longestMessageS));
  const most = Math.max(...all.map((s) => s.maxServiceCalls ?? 0));
  const budgetCalls = r.messageBudgetS * ARM_LIMITS.reads.refillPerSecond;
  if (Number.isFinite(longest)) {
    t["longestMessage"] = {
      target: `longest message ≤ its budget (${r.messageBudgetS} s at ARM rates = ${budgetCalls} reads at ${ARM_LIMITS.reads.refillPerSecond}/s)`,
      value: `${most} ARM calls = ${r2(most / ARM_LIMITS.reads.refillPerSecond, 0)} s at ARM's refill; measured wall ${r2(longest, 1)} s scaled (× ${r.speed} = ${r2(longest * r.speed, 0)} s, local CPU included)${r.chunking ? "" : " (no chunked evaluation in this build)"}`,
      met: most <= budgetCalls,
    };
  }
  if (first && r.baseline) t["rss"] = { target: `peak RSS ≤ 1.2 × at ${r.baseline.services} services`, value: `${first.peakRssMB} MB vs ${r.baseline.peakRssMB} MB: ${r2(first.peakRssMB / r.baseline.peakRssMB, 2)} ×`, met: first.peakRssMB <= 1.2 * r.baseline.peakRssMB };
  if (r.singleSubscription) {
    const a = r.singleSubscription.arm;
    const g = r.singleSubscription.resourceGraph;
    t["singleSubscription"] = { target: "old (ARM listing) ÷ new (Resource Graph), one subscription", value: `ARM calls ${a.armCalls} ÷ ${g.armCalls} = ${r2(a.armCalls / Math.max(1, g.armCalls), 3)}, wall ${a.durationS} s ÷ ${g.durationS} s`, met: null };
  }
  return t;
}

const row = (cells: unknown[]) => `| ${cells.map((c) => (c === null || c === undefined ? "n/a" : String(c))).join(" | ")} |`;
const mark = (met: boolean | null) => (met === null ? "·" : met ? "✓" : "✗");

export const ESTATE_BEGIN = "<!-- estate:begin -->";
export const ESTATE_END = "<!-- estate:end -->";
export const FIGURES_BEGIN = "<!-- estate-figures:begin (bench/estate-run.ts writes this part) -->";
export const FIGURES_END = "<!-- estate-figures:end -->";

/** The generated part of RESULTS.md's estate section. */
export function renderEstateFigures(r: EstateResults): string {
  const out: string[] = [FIGURES_BEGIN, ""];
  const p = r.plan;
  out.push(
    `Generated ${r.generatedAt} by \`${r.command}\` in ${r.wallS} s on ${r.machine.cpus} CPUs (load average ${r.machine.loadAverageStart.join(" ")} at the start, ${r.machine.loadAverageEnd.join(" ")} at the end). Scale ${p.scale} of the full profile (${r.full.subscriptions.toLocaleString("en-US")} subscriptions, ${r.full.services.toLocaleString("en-US")} services): **${p.subscriptions.toLocaleString("en-US")} subscriptions under ${p.managementGroups} management groups, ${p.services.toLocaleString("en-US")} services** in ${r.mix.subscriptionsWithServices} of them; tiers ${Object.entries(r.mix.tiers)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; APIs per service mean ${r.mix.apis.mean}, median ${r.mix.apis.median}, p90 ${r.mix.apis.p90}, max ${r.mix.apis.max}; ${r.mix.drifted} drifted (1%). Time scale ×${r.speed} (refill × ${r.speed}, latency ÷ ${r.speed}; ARM-equivalent = scaled × ${r.speed}).`,
  );
  out.push("");
  out.push(row(["", "measure", "target", "result"]));
  out.push(row(["---", "---", "---", "---"]));
  for (const [k, t] of Object.entries(r.targets)) out.push(row([mark(t.met), k, t.target, t.value]));
  out.push("");
  out.push(row(["run", "instances", "services", "evaluated (failed)", "ARM calls", "per service", "per unchanged", "per drifted", "RG queries (target)", "429s", "wall (scaled)", "floor: busiest sub ÷ refill", "wall ÷ floor", "burst-aware floor", "longest message: ARM calls (at 25/s); wall", "messages at once: mean / most in one instance; last, longest started at", "peak RSS", "CPU app / emulator"]));
  out.push(row(Array.from({ length: 18 }, () => "---")));
  const line = (label: string, s: SweepFigures) =>
    row([
      label,
      s.instances,
      s.services,
      `${s.evaluated} (${s.failed})`,
      s.armCalls,
      r2(s.callsPerService, 1),
      r2(s.callsPerUnchanged, 2),
      r2(s.callsPerDrifted, 1),
      `${s.graphQueries} (${s.graphQueryTarget})`,
      s.throttled429,
      `${r2(s.wallS, 1)} s`,
      `${r2(s.floor.refillS, 2)} s (${s.floor.busiestSubscriptionCalls} calls, ${s.floor.subscriptionsTouched} subs)`,
      r2(s.wallOverFloor, 1),
      `${r2(s.floor.burstS, 2)} s`,
      `${s.maxServiceCalls} calls (${r2(s.maxServiceCalls / ARM_LIMITS.reads.refillPerSecond, 0)} s); wall ${r2(s.longestMessageS, 1)} s scaled`,
      s.messages ? `${s.messages.meanInFlight ?? "n/a"} / ${s.messages.maxInFlight}; ${s.messages.lastStartS ?? "n/a"} s, ${s.messages.longestStartS ?? "n/a"} s` : "n/a",
      `${s.peakRssMB} MB`,
      `${s.cpuS.app} / ${s.cpuS.emulator} s`,
    ]);
  if (r.baseline) out.push(line(`baseline (RSS reference${r.baselineMix ? `; APIs mean ${r.baselineMix.apis.mean}, max ${r.baselineMix.apis.max}` : ""})`, r.baseline));
  for (const s of r.sweeps) out.push(line(s.sweep === 1 ? "sweep 1 (first: full reads)" : "sweep 2 (1% changed)", s));
  for (const s of r.instances) out.push(line(`scale-out, scale ${r.instanceScale}`, s));
  if (r.refillBound) out.push(line(`refill-bound (time scale ×${r.refillBound.speed})`, r.refillBound));
  if (r.singleSubscription) {
    const { arm: a, resourceGraph: g, services } = r.singleSubscription;
    out.push("");
    out.push(`Single subscription (today's bench estate, ${services} services of 30 APIs in one subscription, first sweep), old = \`REMEDIATOR_DISCOVERY=arm\`, new = \`resource-graph\`, in the same run:`);
    out.push("");
    out.push(row(["", "ARM calls", "per service", "discovery ARM calls", "RG queries", "429s", "wall (scaled)", "peak RSS"]));
    out.push(row(Array.from({ length: 8 }, () => "---")));
    out.push(row(["old (ARM listing)", a.armCalls, a.callsPerService, a.discoveryCalls, a.graphQueries, a.throttled429, `${a.durationS} s`, `${a.peakRssMB} MB`]));
    out.push(row(["new (Resource Graph)", g.armCalls, g.callsPerService, g.discoveryCalls, g.graphQueries, g.throttled429, `${g.durationS} s`, `${g.peakRssMB} MB`]));
    const ratio = (x: number | null, y: number | null) => (x === null || y === null || y === 0 ? "n/a" : String(r2(x / y, 3)));
    out.push(row(["old ÷ new", ratio(a.armCalls, g.armCalls), ratio(a.callsPerService, g.callsPerService), ratio(a.discoveryCalls, g.discoveryCalls), "—", "—", ratio(a.durationS, g.durationS), ratio(a.peakRssMB, g.peakRssMB)]));
  }
  if (r.failures && r.failures.length > 0) {
    out.push("");
    out.push("Parts of this run that failed (the figures above are the rest; the error's first line, the whole error with the worker's stderr is in estate-results.json):");
    out.push("");
    for (const f of r.failures) out.push(`- **${f.part}**: ${(f.error.split("\n")[0] ?? "").slice(0, 300)}`);
  }
  out.push("");
  out.push(FIGURES_END);
  return out.join("\n");
}

/**
 * RESULTS.md with the estate section's figures replaced (or the section appended with them). Text between the
 * section's markers outside the figures (the analysis) is kept.
 */
export function withEstateFigures(md: string, figures: string, heading = "## Estate scale (`npm run bench -- --profile estate`)"): string {
  const b = md.indexOf(FIGURES_BEGIN);
  const e = md.indexOf(FIGURES_END);
  if (b >= 0 && e > b) return md.slice(0, b) + figures + md.slice(e + FIGURES_END.length);
  const sep = md.endsWith("\n") ? "" : "\n";
  return `${md}${sep}\n${ESTATE_BEGIN}\n${heading}\n\n${figures}\n\n${ESTATE_END}\n`;
}

/** The estate section of an existing RESULTS.md (markers included), for `npm run bench` to keep when it rewrites the file. */
export function estateSectionOf(md: string): string | undefined {
  const b = md.indexOf(ESTATE_BEGIN);
  const e = md.indexOf(ESTATE_END);
  return b >= 0 && e > b ? md.slice(b, e + ESTATE_END.length) : undefined;
}
