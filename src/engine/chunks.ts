/**
 * Chunked evaluation: a service too big for one function run (thousands of APIs) is read and judged in
 * parts, each within a budget of ARM calls, so no queue message runs past REMEDIATOR_MESSAGE_BUDGET_SECONDS.
 *
 * - The plan: the service's API list is read once (`readApiList`); the ARM calls of the evaluation are
 *   counted with the collector's own `expectedCalls` for that list's shape, and the budget is the number
 *   of reads ARM refills in the budget's seconds (25 per second per subscription, src/azure/pacing.ts).
 *   Within the budget: one ordinary evaluation (reusing the list it just read). Otherwise:
 * - the service part (`SERVICE_PART`): every service-wide collection and rule, with the API list but no
 *   API read one by one, judging everything but the service's APIs (an excluding EvaluationScope);
 * - API pages: the APIs in pages whose counted calls fit the budget, each judged as an event naming those
 *   APIs is (a scoped EvaluationScope: the APIs read by name with their revisions, policies, operations,
 *   diagnostics; the service-wide collections those rules need read again).
 * - A verdict on the service itself that spans every API (`SPANS_APIS`: application-insights-logger, "the
 *   service-scope diagnostic, or one on every API") is judged per page and the pages' verdicts merged:
 *   fail over unknown over pass (`mergeSpanning`).
 *
 * Every resource lies in exactly one part (the service part's scope is the complement of the pages'), so
 * the parts' verdicts are stored side by side without overwriting each other (src/app/chunks.ts).
 */
import { bool, pick, str, type ArmResource } from "../model/arm.js";
import type { DataNeed, EvaluationScope } from "../model/snapshot.js";
import type { Finding, Rule } from "../remediations/index.js";
import type { AzureClients } from "../azure/clients.js";
import { collectSnapshot, expandNeeds, expectedCalls, type CallShape } from "../azure/collector.js";
import { ARM_LIMITS } from "../azure/pacing.js";

/** Needs read API by API (or only with the API list): the rules that have one judge API resources, in the pages. */
export const API_LEVEL_NEEDS: ReadonlySet<DataNeed> = new Set<DataNeed>(["apis", "apiRevisions", "apiPolicies", "operationPolicies", "operations", "revisionPolicies", "apiDiagnostics", "defender", "metrics"]);

/** Rules with one verdict on the service that every current API takes part in: judged per page, merged (mergeSpanning). */
export const SPANS_APIS: ReadonlySet<string> = new Set(["application-insights-logger"]);

/**
 * Operations per API assumed when counting a page's calls, for an API no earlier evaluation of the service read
 * (PlanOptions.operations: the app keeps what each evaluation read, src/app/chunks.ts): the API list does not say
 * how many an API has (only its operation list, one call per API, does). The large-service case (2,000
 * APIs, 5 operations each).
 */
export const ASSUMED_OPERATIONS_PER_API = 5;

/** API names a page message may carry (a queue message holds 64 KiB, base64 included). */
export const MAX_PAGE_NAME_CHARS = 24 * 1024;

/** ARM reads the budget allows: the seconds at ARM's read refill for one subscription. */
export function budgetCalls(seconds: number, refillPerSecond = ARM_LIMITS.reads.refillPerSecond): number {
  return Math.max(1, Math.floor(seconds * refillPerSecond));
}

/** One part of a chunked evaluation: `index` 0 is the service part, 1..N-1 the API pages. */
export interface ChunkPart {
  index: number;
  /** The part's scope: excluding every listed API (service part), or naming the page's APIs; none when the evaluation is not split. */
  scope?: EvaluationScope;
  /** Counted ARM calls (expectedCalls for the list's shape: learned operations per API, else ASSUMED_OPERATIONS_PER_API). */
  calls: number;
}

export interface ChunkPlan {
  /** The budget in ARM calls. */
  budget: number;
  /** The calls one unchunked evaluation makes (counted the same way). */
  unchunkedCalls: number;
  /** The API list as read (every revision): the first part does not read it again. */
  apiList: ArmResource[];
  /** Current API names (lowercase). */
  apis: string[];
  /** One part (unchunked) or the service part and the pages. */
  parts: ChunkPart[];
}

const isCurrent = (a: ArmResource) => !a.name.includes(";rev=") && bool(pick(a, "properties.isCurrent")) !== false;
const needsOf = (rules: readonly Rule[]) => new Set<DataNeed>(rules.flatMap((r) => r.meta.needs));

/** True when a rule can judge an API resource (it reads the API list or something read API by API). */
export function judgesApis(rule: Rule): boolean {
  return rule.meta.needs.some((n) => API_LEVEL_NEEDS.has(n));
}

/** The rules of the service part: all but those whose service verdict spans every API. */
export function servicePartRules(rules: readonly Rule[]): Rule[] {
  return rules.filter((r) => !SPANS_APIS.has(r.meta.id));
}

/** The rules of an API page: those that can judge an API, and those whose service verdict spans the APIs. */
export function pageRules(rules: readonly Rule[]): Rule[] {
  return rules.filter((r) => judgesApis(r) || SPANS_APIS.has(r.meta.id));
}

/** The service's API list (every revision), one paged read. */
export async function readApiList(clients: AzureClients, serviceId: string): Promise<ArmResource[]> {
  // the collector's own read, with a stand-in service body so the service itself is not read
  const snap = await collectSnapshot(clients, serviceId, ["apis"], { service: { id: serviceId, name: serviceId.split("/").pop() ?? "", type: "Microsoft.ApiManagement/service", properties: {} } });
  return snap.apis;
}

type ApiShape = CallShape["apis"][number];

/**
 * The call shape of the listed APIs: revisions counted from the list; operations as `learned` (what an earlier
 * evaluation read: lowercase API name, revisions as `api;rev=n`) says, else `operations` each.
 */
function shapeOf(list: ArmResource[], operations: number, learned?: ReadonlyMap<string, number>): { names: string[]; byName: Map<string, ApiShape> } {
  const current = list.filter(isCurrent);
  const byName = new Map<string, ApiShape>();
  for (const a of current) {
    const name = a.name.toLowerCase();
    const http = /^(http|soap)?$/i.test(str(pick(a, "properties.type")) ?? str(pick(a, "properties.apiType")) ?? "");
    const ops = learned?.get(name) ?? operations;
    byName.set(name, { revisions: 1, operations: ops, http, revisionOperations: 0 });
  }
  for (const a of list) {
    const [base, rev] = a.name.toLowerCase().split(";rev=");
    const api = rev !== undefined ? byName.get(base as string) : undefined;
    if (!api) continue;
    api.revisions++;
    // the shape has one count for every non-current revision: the largest
    api.revisionOperations = Math.max(api.revisionOperations ?? 0, learned?.get(a.name.toLowerCase()) ?? learned?.get(base as string) ?? operations);
  }
  return { names: [...byName.keys()], byName };
}

/** The shape with no API (the collections besides the APIs count one page each: their sizes are not known before they are read). */
function baseShape(pageSize: number, reportRows: number): CallShape {
  return { pageSize, apis: [], namedValues: 0, backends: 0, subscriptions: 0, products: [], defenderPlanEnabled: true, reportRows };
}

/** Calls of an evaluation scoped to `apis` (read by name: one GET each instead of the list's pages). */
export function pageCalls(needsIn: Iterable<DataNeed>, apis: ApiShape[], pageSize: number, reportRows: number): number {
  const needs = expandNeeds(needsIn);
  const all = expectedCalls(needs, { ...baseShape(pageSize, reportRows), apis });
  if (!needs.has("apis")) return all;
  return all - Math.max(1, Math.ceil(apis.reduce((n, a) => n + a.revisions, 0) / pageSize)) + apis.length;
}

/** Calls of the service part given the API list (not read again; no API read one by one). */
export function servicePartCalls(needsIn: Iterable<DataNeed>, pageSize: number, reportRows: number): number {
  const needs = expandNeeds(needsIn);
  return expectedCalls(needs, baseShape(pageSize, reportRows)) - (needs.has("apis") ? 1 : 0);
}

/** What earlier evaluations of a service read of its operations: per API (lowercase), and the count for any other API. */
export interface LearnedOperations {
  counts: ReadonlyMap<string, number>;
  otherwise: number;
}

export interface PlanOptions {
  /** The budget in ARM calls (budgetCalls). */
  budget: number;
  /** ARM's page size for the count (100 in Azure's API Management lists). */
  pageSize?: number;
  operationsPerApi?: number;
  /** Operations per API an earlier evaluation of the service read (lowercase names); the others count `operationsPerApi`. */
  operations?: ReadonlyMap<string, number>;
}

/**
 * Splits an evaluation of `rules` over a service with this API list. One part when the whole evaluation's counted
 * calls (the list's read included) fit the budget; else the service part (the list read counted in it) and pages
 * filled API by API while their counted calls fit (at least one API a page, however big).
 */
export function planChunks(rules: readonly Rule[], list: ArmResource[], options: PlanOptions): ChunkPlan {
  const pageSize = options.pageSize ?? 100;
  const ops = options.operationsPerApi ?? ASSUMED_OPERATIONS_PER_API;
  const { names, byName } = shapeOf(list, ops, options.operations);
  const reportRows = names.reduce((n, a) => n + (byName.get(a) as ApiShape).operations, 0);
  const needs = needsOf(rules);
  const listCalls = Math.max(1, Math.ceil(list.length / pageSize));
  const unchunkedCalls = expectedCalls(needs, { ...baseShape(pageSize, reportRows), apis: names.map((n) => byName.get(n) as ApiShape) });
  const base = { budget: options.budget, unchunkedCalls, apiList: list, apis: names };
  if (unchunkedCalls <= options.budget || names.length === 0) return { ...base, parts: [{ index: 0, calls: unchunkedCalls }] };
  const parts: ChunkPart[] = [{ index: 0, scope: { apis: names, exclude: true }, calls: listCalls + servicePartCalls(needsOf(servicePartRules(rules)), pageSize, reportRows) }];
  const pageNeeds = needsOf(pageRules(rules));
  let page: string[] = [];
  let calls = 0;
  let chars = 0;
  const close = () => {
    if (page.length > 0) parts.push({ index: parts.length, scope: { apis: page }, calls });
    page = [];
    chars = 0;
  };
  for (const name of [...names].sort()) {
    const next = [...page, name];
    const c = pageCalls(pageNeeds, next.map((n) => byName.get(n) as ApiShape), pageSize, reportRows);
    if (page.length > 0 && (c > options.budget || chars + name.length + 3 > MAX_PAGE_NAME_CHARS)) {
      close();
      page = [name];
      calls = pageCalls(pageNeeds, [byName.get(name) as ApiShape], pageSize, reportRows);
    } else {
      page = next;
      calls = c;
    }
    chars += name.length + 3;
  }
  close();
  return { ...base, parts };
}

/** Thrown by a plan gate (`planGate`) when the API list says the evaluation must be split: before any API is read one by one, before anything is written. */
export class SplitRequired extends Error {
  constructor(readonly plan: ChunkPlan) {
    super(`the service's counted ARM calls (${plan.unchunkedCalls}) exceed the message budget (${plan.budget}): evaluated in ${plan.parts.length} parts`);
    this.name = "SplitRequired";
  }
}

/**
 * The plan as a gate on the evaluation's own API list read (EvaluateOptions.onApiList): the plan reads nothing
 * of its own, so an evaluation that is not split (the common case) makes exactly the reads, in the order, it made
 * before chunked evaluation existed; one that must be split stops there, rejecting with SplitRequired (its plan).
 * Decides once (a later read of the list in the same evaluation passes).
 */
export function planGate(rules: readonly Rule[], budgetSeconds: number, onWhole?: (plan: ChunkPlan) => void, learned?: LearnedOperations): (list: ArmResource[]) => void {
  let decided = false;
  return (list) => {
    if (decided) return;
    decided = true;
    const plan = planChunks(rules, list, { budget: budgetCalls(budgetSeconds), ...(learned ? { operations: learned.counts, operationsPerApi: learned.otherwise } : {}) });
    if (plan.parts.length > 1) throw new SplitRequired(plan);
    onWhole?.(plan);
  };
}

const RANK = { fail: 2, unknown: 1, pass: 0 } as const;

/**
 * One verdict from the pages' verdicts on the same resource (a SPANS_APIS rule's service verdict): the worst
 * wins (fail, then unknown, then pass), with its message; a page's "every API of this page" is the whole
 * service's only once every page says so.
 */
export function mergeSpanning(parts: Finding[][]): Finding[] {
  const by = new Map<string, Finding>();
  for (const f of parts.flat()) {
    const key = `${f.ruleId}|${f.resourceId.toLowerCase()}`;
    const had = by.get(key);
    if (!had || RANK[f.status] > RANK[had.status]) by.set(key, f);
  }
  return [...by.values()];
}

/** A SPANS_APIS rule's finding on the service itself (what a page keeps of what lies outside its scope). */
export function spanningOf(serviceId: string, findings: Finding[]): Finding[] {
  return findings.filter((f) => SPANS_APIS.has(f.ruleId) && f.resourceId.toLowerCase() === serviceId.toLowerCase());
}
