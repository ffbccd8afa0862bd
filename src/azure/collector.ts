/**
 * Collects a service snapshot from ARM with as few calls as the enabled rules
 * allow: each collection is read once, every nextLink is followed, and
 * per-child reads run with bounded concurrency. Bodies are kept exactly as
 * ARM returned them (`properties` nested), through the SDK's `onResponse`.
 */
import type { FullOperationResponse, OperationOptions } from "@azure/core-client";
import { bool, leafName, pick, str, type ArmResource } from "../model/arm.js";
import type { DataNeed, EvaluationScope, ServiceSnapshot, WorkspaceContents } from "../model/snapshot.js";
import { emptySnapshot } from "../model/snapshot.js";
import type { AzureClients } from "./clients.js";
import { parseServiceId } from "./discovery.js";

/** Needs imply others: per-API reads need the API list, product reads the product list. */
export function expandNeeds(needs: Iterable<DataNeed>): Set<DataNeed> {
  const out = new Set<DataNeed>(["service", ...needs]);
  // a revision's policies are read for the revisions the revision list names
  if (out.has("revisionPolicies")) out.add("apiRevisions");
  if (out.has("apiRevisions") || out.has("apiPolicies") || out.has("operationPolicies") || out.has("operations") || out.has("apiDiagnostics") || out.has("defender") || out.has("metrics")) out.add("apis");
  if (out.has("productApis") || out.has("productPolicies")) out.add("products");
  return out;
}

/** What the number of ARM calls depends on besides the needs. */
export interface CallShape {
  pageSize: number;
  /**
   * Current APIs; for each, how many revisions it has in all (1 = only the current one), how many operations,
   * how many operations each of its non-current revisions has (default 0) and how many API-scope diagnostics (default 0).
   */
  apis: Array<{ revisions: number; operations: number; http: boolean; revisionOperations?: number; diagnostics?: number }>;
  namedValues: number;
  backends: number;
  subscriptions: number;
  /** For each product, how many APIs it holds. */
  products: number[];
  /** Defender for APIs plan on (per-API onboarding reads happen only then). */
  defenderPlanEnabled: boolean;
  /** Workspaces (need `workspaces`); none on a tier without them (its list answers MethodNotAllowedInPricingTier: one call). */
  workspaces?: WorkspaceShape[];
  portalConfigs?: number;
  identityProviders?: number;
  loggers?: number;
  diagnostics?: number;
  certificates?: number;
  /** Rows the service's report by operation answers (need `operationReports`; default: the operations of the current APIs). */
  reportRows?: number;
  /** Gateways the gateway list holds (need `gateways`); none on a tier that refuses the list (one call). */
  gateways?: number;
}

/** What one workspace holds, for the call count. */
export interface WorkspaceShape {
  /** Every API the workspace lists (revisions included), with its number of operations. */
  apis: Array<{ operations: number }>;
  /** For each product, how many API links it has. */
  products: number[];
  subscriptions: number;
}

const pages = (n: number, size: number) => Math.max(1, Math.ceil(n / size));

/** The exact number of ARM calls `collectSnapshot` makes for these needs and this service shape. */
export function expectedCalls(needsIn: Iterable<DataNeed>, shape: CallShape): number {
  const needs = expandNeeds(needsIn);
  const p = (n: number) => pages(n, shape.pageSize);
  let calls = 1; // the service itself
  // Azure's API list holds every revision, current or not (recorded: test/fixtures/recordings/azure-cli, api #27)
  if (needs.has("apis")) calls += p(shape.apis.reduce((n, a) => n + a.revisions, 0));
  if (needs.has("apiRevisions")) for (const a of shape.apis) calls += p(a.revisions) + (a.revisions - 1);
  if (needs.has("namedValues")) calls += p(shape.namedValues);
  if (needs.has("tenantAccess")) calls += 1;
  if (needs.has("gitAccess")) calls += 1;
  if (needs.has("locks")) calls += 1;
  if (needs.has("backends")) calls += p(shape.backends);
  if (needs.has("subscriptions")) calls += p(shape.subscriptions);
  if (needs.has("products")) calls += p(shape.products.length);
  if (needs.has("productApis")) for (const n of shape.products) calls += p(n);
  if (needs.has("policies")) calls += 1;
  if (needs.has("apiPolicies")) calls += shape.apis.length;
  if (needs.has("productPolicies")) calls += shape.products.length;
  // one operation list per API read, shared by `operations`, `operationPolicies` and `revisionPolicies`
  const currentOperationLists = needs.has("operations") || needs.has("operationPolicies");
  const revisionOperationLists = (needs.has("operations") && needs.has("apiRevisions")) || needs.has("revisionPolicies");
  for (const a of shape.apis) {
    const others = a.revisions - 1;
    const revOps = a.revisionOperations ?? 0;
    if (currentOperationLists) calls += p(a.operations);
    if (needs.has("operationPolicies")) calls += a.operations;
    if (revisionOperationLists) calls += others * p(revOps);
    // each non-current revision: its API policy list, then each operation's policy list
    if (needs.has("revisionPolicies")) calls += others * (1 + revOps);
    if (needs.has("apiDiagnostics")) calls += p(a.diagnostics ?? 0);
  }
  if (needs.has("defender")) calls += 1 + (shape.defenderPlanEnabled ? shape.apis.filter((a) => a.http).length : 0);
  if (needs.has("metrics")) calls += 1;
  if (needs.has("gatewayAccess")) calls += 1;
  if (needs.has("workspaces")) {
    const ws = shape.workspaces ?? [];
    calls += p(ws.length);
    for (const w of ws) {
      // its policy list, API list (and per API: policy list, operation list, per operation its policy list), products
      // (and per product: API links, policy), subscriptions
      calls += 1 + p(w.apis.length) + w.apis.reduce((n, a) => n + 1 + p(a.operations) + a.operations, 0);
      calls += p(w.products.length) + w.products.reduce((n, links) => n + p(links) + 1, 0) + p(w.subscriptions);
    }
  }
  if (needs.has("portalConfigs")) calls += p(shape.portalConfigs ?? 0);
  if (needs.has("identityProviders")) calls += p(shape.identityProviders ?? 0);
  if (needs.has("loggers")) calls += p(shape.loggers ?? 0);
  if (needs.has("diagnostics")) calls += p(shape.diagnostics ?? 0);
  if (needs.has("certificates")) calls += p(shape.certificates ?? 0);
  // one collection, not paged (DiagnosticSettingsResourceCollection has no nextLink)
  if (needs.has("diagnosticSettings")) calls += 1;
  // one report for the whole service, paged (not one call per API or operation)
  if (needs.has("operationReports")) calls += p(shape.reportRows ?? shape.apis.reduce((n, a) => n + a.operations, 0));
  if (needs.has("gateways")) calls += p(shape.gateways ?? 0);
  return calls;
}

export interface CollectOptions {
  /** Per-child reads in flight per collection (default 32); ARM's rate is kept by the clients' pacer. */
  concurrency?: number;
  /** Look-back window (days) for request metrics and the report by operation. */
  unusedDays?: number;
  /** Read only these APIs (an event named them); see EvaluationScope. */
  scope?: EvaluationScope;
  /** The service's body, read a moment ago by the caller: not read again. */
  service?: ArmResource;
  /** The service's API list (every revision), read a moment ago by the caller (a chunked evaluation's plan): not read again. */
  apiList?: ArmResource[];
  /**
   * Called with the API list as this snapshot read it (not a given or scoped list), before any API is read one by
   * one: a chunked evaluation plans there, so an evaluation that is not split makes the reads it always made, in
   * the same order (src/engine/chunks.ts planGate). A rejection fails the snapshot (the collections in flight settle first).
   */
  onApiList?: (list: ArmResource[]) => void | Promise<void>;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}

type Raw = Record<string, unknown>;

/** The body exactly as ARM sent it (the SDK's parsedBody is already flattened by its mappers). */
function rawBody(r: FullOperationResponse): Raw {
  if (r.bodyAsText) return JSON.parse(r.bodyAsText) as Raw;
  return {};
}

/** Drains a paged SDK iterator, returning the raw ARM items of every page. */
async function rawList(make: (options: OperationOptions) => AsyncIterable<unknown>): Promise<ArmResource[]> {
  const items: ArmResource[] = [];
  const options: OperationOptions = {
    onResponse: (r) => {
      const value = rawBody(r)["value"];
      if (Array.isArray(value)) items.push(...(value as ArmResource[]));
    },
  };
  for await (const _ of make(options)) {
    // items are taken from the raw pages
  }
  return items;
}

/** A list operation that is not paged in the SDK (returns one collection). */
async function rawCollection(call: (options: OperationOptions) => Promise<unknown>): Promise<ArmResource[]> {
  let items: ArmResource[] = [];
  await call({
    onResponse: (r) => {
      const value = rawBody(r)["value"];
      if (Array.isArray(value)) items = value as ArmResource[];
    },
  });
  return items;
}

/**
 * How many APIs a service has (every revision, as the collector's API list reads them), from one read: the first
 * page of `GET .../apis?$top=1`, whose `count` is the "total record count number across all pages" (ApiCollection
 * in the API Management REST spec, definitions.json; Azure CLI's recorded `az apim api list` traffic with real ARM
 * answers `"count": N` beside `value`, test/fixtures/recordings). Without `count`, a last page is counted by its
 * items; otherwise the size is not known (undefined).
 */
export async function countApis(clients: AzureClients, serviceId: string, signal?: AbortSignal): Promise<number | undefined> {
  const ref = parseServiceId(serviceId);
  if (!ref) return undefined;
  let body: Raw | undefined;
  const pages = clients.apim(ref.subscriptionId).api.listByService(ref.resourceGroup, ref.name, { top: 1, abortSignal: signal, onResponse: (r) => void (body = rawBody(r)) }).byPage();
  await pages.next();
  const count = body?.["count"];
  if (typeof count === "number" && Number.isInteger(count) && count >= 0) return count;
  const value = body?.["value"];
  return Array.isArray(value) && !body?.["nextLink"] ? value.length : undefined;
}

/**
 * `countApis` for many services, `concurrency` at a time (ARM's rate is kept by the clients' pacer), within `deadlineMs`:
 * what is not answered by then, or fails, is left out of the map (lower-cased service id -> APIs).
 */
export async function probeApiCounts(clients: AzureClients, serviceIds: readonly string[], options: { concurrency?: number; deadlineMs?: number } = {}): Promise<{ sizes: Map<string, number>; failed: number; late: number }> {
  const sizes = new Map<string, number>();
  const signal = AbortSignal.timeout(options.deadlineMs ?? 60_000);
  let failed = 0;
  let late = 0;
  await mapLimit([...serviceIds], options.concurrency ?? 32, async (id) => {
    if (signal.aborted) return void late++;
    try {
      const n = await countApis(clients, id, signal);
      if (n !== undefined) sizes.set(id.toLowerCase(), n);
    } catch {
      if (signal.aborted) late++;
      else failed++;
    }
  });
  return { sizes, failed, late };
}

/** One GET through the SDK, returning the raw body (with the ETag header as `etag` when the body has none). */
async function rawGet(call: (options: OperationOptions) => Promise<unknown>): Promise<ArmResource> {
  let body: Raw = {};
  let etag: string | undefined;
  await call({
    onResponse: (r) => {
      body = rawBody(r);
      etag = r.headers.get("etag") ?? undefined;
    },
  });
  const res = body as ArmResource;
  if (res.etag === undefined && etag !== undefined) res.etag = etag;
  return res;
}

/**
 * Requests per `api/operation` (lowercase resource names) from the rows of a report by operation. A row names its
 * operation by path, `operationId: "/apis/{api}/operations/{operation}"`, and counts every call in `callCountTotal`
 * (ApiManagementGetReportsByOperation.json; its `name` is the operation's display name, not its resource name). A
 * non-current revision's calls (`/apis/{api};rev=n/...`) count for its API: the revisions are deleted with it.
 */
export function requestsByOperation(rows: ReadonlyArray<Record<string, unknown>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const row of rows) {
    const m = /^\/?apis\/([^/]+)\/operations\/([^/]+)$/i.exec(str(row["operationId"]) ?? "");
    if (!m) continue;
    const key = `${(m[1] as string).replace(/;rev=.*$/i, "")}/${m[2] as string}`.toLowerCase();
    const n = typeof row["callCountTotal"] === "number" && Number.isFinite(row["callCountTotal"]) ? Math.max(0, row["callCountTotal"]) : 0;
    out[key] = (out[key] ?? 0) + n;
  }
  return out;
}

function isNotFound(e: unknown): boolean {
  return (e as { statusCode?: number }).statusCode === 404;
}

function isForbidden(e: unknown): boolean {
  const c = (e as { statusCode?: number }).statusCode;
  return c === 403 || c === 401;
}

/** ARM error codes of a 400 that no retry changes: the request asks for something the service does not have. */
const PERMANENT_400_CODES = new Set(["methodnotallowedinpricingtier"]);

/**
 * Why a collection failed for good, or undefined when the failure may pass (and the evaluation must fail, to be retried):
 * - permanent: 400 with a code in PERMANENT_400_CODES (e.g. tenant access on a Consumption or v2 service), 404 (the
 *   collection or setting does not exist on this service; a 404 because the service itself is gone is told apart by
 *   re-reading the service), 405, 501;
 * - transient or unexplained, so thrown: no status (network error, timeout), 408, 429, 5xx but 501, 401/403 (a role
 *   assignment may not have propagated yet), 409, 412 and any other 4xx, 400 with another code.
 */
/** Needs read by name whose 404 says the tier has no such setting (recorded, not retried). */
const ABSENT_WHEN_NOT_FOUND: ReadonlySet<DataNeed> = new Set<DataNeed>(["tenantAccess", "gitAccess", "gatewayAccess"]);

/**
 * A tier without workspaces answers their list with 400 MethodNotAllowedInPricingTier (Azure/apiops-cli#129: `GET
 * /workspaces` on BasicV2; workspaces are a Premium, StandardV2 and PremiumV2 feature, Learn "Workspaces - breaking
 * changes (June 2024)" and "Create and manage a workspace"): such a service has no workspaces, which is what the rules
 * need to know (Azure/apiops reads the same answer as an empty list: tools/code/common/Azure.cs,
 * GetMethodNotAllowedInPricingTierHandler).
 */
function isTierRefusal(e: unknown): boolean {
  const err = e as { statusCode?: unknown; code?: unknown };
  return err.statusCode === 400 && typeof err.code === "string" && err.code.toLowerCase() === "methodnotallowedinpricingtier";
}

export function permanentFailure(e: unknown): string | undefined {
  const err = e as { statusCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof err.statusCode === "number" ? err.statusCode : undefined;
  const code = typeof err.code === "string" ? err.code : "";
  const permanent = status === 404 || status === 405 || status === 501 || (status === 400 && PERMANENT_400_CODES.has(code.toLowerCase()));
  if (!permanent) return undefined;
  const message = typeof err.message === "string" ? err.message.replace(/\s+/g, " ").trim().slice(0, 300) : "";
  return `ARM answered ${status}${code ? ` ${code}` : ""}${message ? ` (${message})` : ""}`;
}

const DEFENDER_PRICING_API_VERSION = "2024-01-01";
/** Diagnostic settings: 2021-05-01-preview answers `categoryGroup` (allLogs, audit), which the Azure Policy DINE/AINE family sets; @azure/arm-monitor 7 sends 2017-05-01-preview. */
const DIAGNOSTIC_SETTINGS_API_VERSION = "2021-05-01-preview";
const API_COLLECTIONS_API_VERSION = "2023-11-15";

export async function collectSnapshot(clients: AzureClients, serviceId: string, needsIn: Iterable<DataNeed>, options: CollectOptions = {}): Promise<ServiceSnapshot> {
  const ref = parseServiceId(serviceId);
  if (!ref) throw new Error(`not an API Management service id: ${serviceId}`);
  const needs = expandNeeds(needsIn);
  const limit = Math.max(1, options.concurrency ?? 32);
  const apim = clients.apim(ref.subscriptionId);
  const rg = ref.resourceGroup;
  const svc = ref.name;

  // the service and every collection under it are read at once (none needs the service's body): one round trip less
  const serviceReady = options.service ? Promise.resolve(options.service) : rawGet((o) => apim.apiManagementService.get(rg, svc, o));
  const snap = emptySnapshot({ id: ref.id, name: svc, type: "Microsoft.ApiManagement/service", properties: {} }, []);
  const collected = new Set<DataNeed>(["service"]);
  const failed = new Map<DataNeed, string>();
  let sawNotFound = false;
  const tasks: Array<Promise<void>> = [];
  // a collection may fail before anything awaits it: mark it handled now (the failure is reported below)
  const track = (task: Promise<void>) => {
    task.catch(() => undefined);
    tasks.push(task);
  };
  // a collection that fails for good is recorded with its reason (the rules that need it answer unknown); any other failure fails the snapshot
  const settle = (need: DataNeed, p: Promise<unknown>) =>
    track(
      p.then(
        () => void collected.add(need),
        (e: unknown) => {
          const why = permanentFailure(e);
          if (why === undefined) throw e;
          // a 404 means "absent" only for a setting read by name (a tier without it); a collection of a service
          // that exists answering 404 is unexplained (e.g. ARM's replication just after a create): retried
          if ((e as { statusCode?: number }).statusCode === 404 && !ABSENT_WHEN_NOT_FOUND.has(need)) throw e;
          if ((e as { statusCode?: number }).statusCode === 404) sawNotFound = true;
          failed.set(need, why);
        },
      ),
    );
  const run = (need: DataNeed, f: () => Promise<void>) => {
    if (!needs.has(need)) return;
    settle(need, f());
  };
  track(serviceReady.then((service) => void (snap.service = service)));
  // on the first failure, let every collection in flight finish before reporting it: none is left unhandled or running
  const settleThenThrow = async (e: unknown): Promise<never> => {
    await Promise.allSettled(tasks);
    // a service that cannot be read is the failure to report (its collections fail with it)
    throw await serviceReady.then(
      () => e,
      (serviceError: unknown) => serviceError,
    );
  };

  /** What one workspace holds: its policy, APIs (every revision the list holds) with their policies and operations, products, subscriptions. */
  const readWorkspace = async (ws: string): Promise<WorkspaceContents> => {
    const [policies, apis, products, subscriptions] = await Promise.all([
      rawList((o) => apim.workspacePolicy.listByApi(rg, svc, ws, o)),
      rawList((o) => apim.workspaceApi.listByService(rg, svc, ws, o)),
      rawList((o) => apim.workspaceProduct.listByService(rg, svc, ws, o)),
      rawList((o) => apim.workspaceSubscription.list(rg, svc, ws, o)),
    ]);
    const out: WorkspaceContents = { apis, apiPolicies: {}, operationPolicies: {}, operations: {}, products, productApis: {}, productPolicies: {}, subscriptions };
    if (policies[0]) out.policy = policies[0];
    const operations: Record<string, ArmResource[]> = {};
    await Promise.all([
      mapLimit(apis, limit, async (api) => {
        const [apiPolicies, ops] = await Promise.all([rawList((o) => apim.workspaceApiPolicy.listByApi(rg, svc, ws, api.name, o)), rawList((o) => apim.workspaceApiOperation.listByApi(rg, svc, ws, api.name, o))]);
        if (apiPolicies[0]) out.apiPolicies[api.name.toLowerCase()] = apiPolicies[0];
        operations[api.name.toLowerCase()] = ops;
        await mapLimit(ops, limit, async (op) => {
          const list = await rawList((o) => apim.workspaceApiOperationPolicy.listByOperation(rg, svc, ws, api.name, op.name, o));
          if (list[0]) out.operationPolicies[`${api.name}/${op.name}`.toLowerCase()] = list[0];
        });
      }),
      mapLimit(products, limit, async (product) => {
        // a link names its API by full id (ApiManagementListWorkspaceProductApiLinks: properties.apiId); the policy list is one collection
        const [links, productPolicies] = await Promise.all([rawList((o) => apim.workspaceProductApiLink.listByProduct(rg, svc, ws, product.name, o)), rawCollection((o) => apim.workspaceProductPolicy.listByProduct(rg, svc, ws, product.name, o))]);
        out.productApis[product.name.toLowerCase()] = links.map((l) => leafName(str(pick(l, "properties.apiId")) ?? l.name).toLowerCase());
        if (productPolicies[0]) out.productPolicies[product.name.toLowerCase()] = productPolicies[0];
      }),
    ]);
    out.operations = operations;
    return out;
  };

  // independent collections, in parallel
  const scoped = options.scope && !options.scope.exclude ? options.scope.apis : undefined;
  // an excluding scope (a chunked evaluation's service part): the API list is read whole, the excluded APIs are not read one by one
  const excluded = new Set(options.scope?.exclude ? options.scope.apis.map((n) => n.toLowerCase()) : []);
  const readOneByOne = (name: string) => !excluded.has(name.toLowerCase());
  // a scoped evaluation reads the named APIs (a deleted one is simply absent), not the whole list
  const absentIfGone = <T>(p: Promise<T>, empty: T): Promise<T> => (scoped ? p.catch((e: unknown) => (isNotFound(e) ? empty : Promise.reject(e))) : p);
  let apisReady: Promise<ArmResource[]> = Promise.resolve([]);
  if (needs.has("apis")) {
    apisReady = scoped
      ? Promise.all(scoped.map((name) => absentIfGone(rawGet((o) => apim.api.get(rg, svc, name, o)) as Promise<ArmResource | undefined>, undefined))).then((xs) => xs.filter((x): x is ArmResource => x !== undefined))
      : options.apiList
        ? Promise.resolve(structuredClone(options.apiList))
        : rawList((o) => apim.api.listByService(rg, svc, o)).then(async (list) => {
            await options.onApiList?.(list);
            return list;
          });
    settle("apis", apisReady);
  }
  let productsReady: Promise<ArmResource[]> = Promise.resolve([]);
  if (needs.has("products")) {
    productsReady = rawList((o) => apim.product.listByService(rg, svc, o));
    settle("products", productsReady.then((p) => void (snap.products = p)));
  }
  run("namedValues", async () => void (snap.namedValues = await rawList((o) => apim.namedValue.listByService(rg, svc, o))));
  // the tenant list answers `access` only (2024-05-01 ApiManagementListTenantAccess example): `gitAccess` is read by name;
  // what the GET by name answers wins over a list item of the same name
  const sameSetting = (a: ArmResource, b: ArmResource) => leafName(a.name).toLowerCase() === leafName(b.name).toLowerCase();
  run("tenantAccess", async () => {
    const list = await rawList((o) => apim.tenantAccess.listByService(rg, svc, o));
    snap.tenantAccess = [...snap.tenantAccess, ...list.filter((t) => !snap.tenantAccess.some((x) => sameSetting(x, t)))];
  });
  run("gitAccess", async () => {
    const git = await rawGet((o) => apim.tenantAccess.get(rg, svc, "gitAccess", o));
    snap.tenantAccess = [...snap.tenantAccess.filter((t) => !sameSetting(t, git)), git];
  });
  // the self-hosted gateway configuration endpoint, read by name as Azure Policy df73bd95 reads tenant 'gatewayaccess'
  run("gatewayAccess", async () => {
    const gateway = await rawGet((o) => apim.tenantAccess.get(rg, svc, "gatewayAccess", o));
    snap.tenantAccess = [...snap.tenantAccess.filter((t) => !sameSetting(t, gateway)), gateway];
  });
  run("backends", async () => void (snap.backends = await rawList((o) => apim.backend.listByService(rg, svc, o))));
  run("portalConfigs", async () => void (snap.portalConfigs = await rawList((o) => apim.portalConfig.listByService(rg, svc, o))));
  run("identityProviders", async () => void (snap.identityProviders = await rawList((o) => apim.identityProvider.listByService(rg, svc, o))));
  run("loggers", async () => void (snap.loggers = await rawList((o) => apim.logger.listByService(rg, svc, o))));
  run("diagnostics", async () => void (snap.diagnostics = await rawList((o) => apim.diagnostic.listByService(rg, svc, o))));
  run("certificates", async () => void (snap.certificates = await rawList((o) => apim.certificate.listByService(rg, svc, o))));
  run("diagnosticSettings", async () => {
    // an extension resource collection of the service (one page: a resource has at most 5 settings)
    const body = await rawGet((o) => clients.resources(ref.subscriptionId).resources.getById(`${ref.id}/providers/Microsoft.Insights/diagnosticSettings`, DIAGNOSTIC_SETTINGS_API_VERSION, o));
    const value = (body as unknown as Raw)["value"];
    snap.diagnosticSettings = Array.isArray(value) ? (value as ArmResource[]) : [];
  });
  // read whole in a scoped evaluation too: an event about a service API names no workspace, and workspace APIs lie
  // outside the service's `apis/` (their findings are out of scope and dropped)
  run("workspaces", async () => {
    let list: ArmResource[];
    try {
      list = await rawList((o) => apim.workspace.listByService(rg, svc, o));
    } catch (e) {
      if (!isTierRefusal(e)) throw e;
      list = [];
    }
    snap.workspaces = list;
    const contents = await mapLimit(list, limit, (w) => readWorkspace(w.name));
    list.forEach((w, i) => (snap.workspaceContents[w.name.toLowerCase()] = contents[i] as WorkspaceContents));
  });
  run("subscriptions", async () => void (snap.subscriptions = await rawList((o) => apim.subscription.list(rg, svc, o))));
  run("locks", async () => {
    snap.locks = await rawList((o) => clients.locks(ref.subscriptionId).managementLocks.listAtResourceLevel(rg, "Microsoft.ApiManagement", "", "service", svc, { ...o, filter: "atScope()" }));
  });
  run("policies", async () => {
    const list = await rawList((o) => apim.policy.listByService(rg, svc, o));
    snap.globalPolicy = list[0];
  });

  // per-API reads: once the API list is in, or at once for the APIs a scoped evaluation names
  const currentReady = apisReady.then((apis) => {
    snap.apis = [...apis];
    return apis.filter((a) => !a.name.includes(";rev=") && bool(pick(a, "properties.isCurrent")) !== false);
  });
  const namesReady = scoped ? Promise.resolve(scoped) : currentReady.then((c) => c.map((a) => a.name).filter(readOneByOne));
  const currentByName = currentReady.then((c) => new Map(c.map((a) => [a.name.toLowerCase(), a])));
  currentReady.catch(() => undefined);
  currentByName.catch(() => undefined);
  namesReady.catch(() => undefined);
  // the non-current revisions read by name (need apiRevisions): their per-revision reads start once they are in
  let revisionsReady: Promise<ArmResource[]> = Promise.resolve([]);
  const readRevisions = async (): Promise<ArmResource[]> => {
    const names = await namesReady;
    const extra = await mapLimit(names, limit, async (name) => {
      const [revisions, byName] = await Promise.all([absentIfGone(rawList((o) => apim.apiRevision.listByService(rg, svc, name, o)), []), currentByName]);
      const api = byName.get(name.toLowerCase());
      if (!api) return [];
      const others = revisions.filter((r) => r["isCurrent"] !== true && str(r["apiRevision"]) !== str(pick(api, "properties.apiRevision")));
      return mapLimit(others, limit, (r) => rawGet((o) => apim.api.get(rg, svc, `${api.name};rev=${String(r["apiRevision"])}`, o)));
    });
    await currentReady;
    // Azure's API list already holds the other revisions (recorded: test/fixtures/recordings/azure-cli, api #27);
    // the revision read by name replaces the list's item instead of doubling it
    const fetched = extra.flat();
    const got = new Set(fetched.map((a) => a.name.toLowerCase()));
    snap.apis = [...snap.apis.filter((a) => !got.has(a.name.toLowerCase())), ...fetched];
    return fetched;
  };
  if (needs.has("apiRevisions")) {
    revisionsReady = readRevisions();
    settle("apiRevisions", revisionsReady);
  }
  // one operation list per API read (current or `api;rev=n`), shared by operations, operationPolicies and revisionPolicies
  const operationLists = new Map<string, Promise<ArmResource[]>>();
  const operationsOf = (apiName: string): Promise<ArmResource[]> => {
    const key = apiName.toLowerCase();
    let list = operationLists.get(key);
    if (!list) {
      list = absentIfGone(rawList((o) => apim.apiOperation.listByApi(rg, svc, apiName, o)), []);
      list.catch(() => undefined);
      operationLists.set(key, list);
    }
    return list;
  };
  // the current APIs read (scoped: those of the named APIs that exist)
  const existingNames = async (): Promise<string[]> => {
    const [names, byName] = await Promise.all([namesReady, currentByName]);
    return names.filter((n) => byName.has(n.toLowerCase()));
  };
  run("operations", async () => {
    const names = await existingNames();
    const revisions = needs.has("apiRevisions") ? (await revisionsReady).map((r) => r.name) : [];
    const all = [...names, ...revisions];
    const lists = await mapLimit(all, limit, (name) => operationsOf(name));
    all.forEach((name, i) => (snap.operations[name.toLowerCase()] = lists[i] ?? []));
  });
  run("revisionPolicies", async () => {
    const revisions = await revisionsReady;
    await mapLimit(revisions, limit, async (rev) => {
      const [policies, ops] = await Promise.all([rawCollection((o) => apim.apiPolicy.listByApi(rg, svc, rev.name, o)), operationsOf(rev.name)]);
      if (policies[0]) snap.apiPolicies[rev.name.toLowerCase()] = policies[0];
      await mapLimit(ops, limit, async (op) => {
        const list = await rawCollection((o) => apim.apiOperationPolicy.listByOperation(rg, svc, rev.name, op.name, o));
        if (list[0]) snap.operationPolicies[`${rev.name}/${op.name}`.toLowerCase()] = list[0];
      });
    });
  });
  run("apiDiagnostics", async () => {
    const names = await namesReady;
    const lists = await mapLimit(names, limit, (name) => absentIfGone(rawList((o) => apim.apiDiagnostic.listByService(rg, svc, name, o)), []));
    const byName = await currentByName;
    names.forEach((name, i) => {
      if (byName.has(name.toLowerCase())) snap.apiDiagnostics[name.toLowerCase()] = lists[i] ?? [];
    });
  });
  run("apiPolicies", async () => {
    const names = await namesReady;
    const lists = await mapLimit(names, limit, (name) => absentIfGone(rawCollection((o) => apim.apiPolicy.listByApi(rg, svc, name, o)), []));
    names.forEach((name, i) => {
      const p = lists[i]?.[0];
      if (p) snap.apiPolicies[name.toLowerCase()] = p;
    });
  });
  run("operationPolicies", async () => {
    const names = await namesReady;
    await mapLimit(names, limit, async (name) => {
      const ops = await operationsOf(name);
      await mapLimit(ops, limit, async (op) => {
        const list = await absentIfGone(rawCollection((o) => apim.apiOperationPolicy.listByOperation(rg, svc, name, op.name, o)), []);
        if (list[0]) snap.operationPolicies[`${name}/${op.name}`.toLowerCase()] = list[0];
      });
    });
  });
  run("defender", async () => {
    const resources = clients.resources(ref.subscriptionId);
    let planEnabled: boolean | undefined;
    try {
      const pricing = await resources.resources.getById(`/subscriptions/${ref.subscriptionId}/providers/Microsoft.Security/pricings/Api`, DEFENDER_PRICING_API_VERSION);
      planEnabled = /^standard$/i.test(str(pick(pricing, "properties.pricingTier")) ?? "");
    } catch (e) {
      if (isNotFound(e)) planEnabled = false;
      else if (isForbidden(e)) planEnabled = undefined;
      else throw e;
    }
    const onboarded: string[] = [];
    // the plan is read alongside the API list (or the scoped APIs), not after it
    const current = (await currentReady).filter((a) => readOneByOne(a.name));
    if (planEnabled) {
      const http = current.filter((a) => /^(http|soap)?$/i.test(str(pick(a, "properties.type")) ?? str(pick(a, "properties.apiType")) ?? ""));
      await mapLimit(http, limit, async (api) => {
        try {
          await resources.resources.getById(`${ref.id}/providers/Microsoft.Security/apiCollections/${api.name}`, API_COLLECTIONS_API_VERSION);
          onboarded.push(api.name.toLowerCase());
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      });
    }
    snap.defender = { planEnabled, onboardedApis: onboarded };
  });
  run("metrics", async () => {
    const days = options.unusedDays ?? 30;
    const end = new Date();
    const start = new Date(end.getTime() - days * 86400_000);
    try {
      const res = await clients.monitor(ref.subscriptionId).metrics.list(ref.id, {
        metricnames: "Requests",
        timespan: `${start.toISOString()}/${end.toISOString()}`,
        interval: "P1D",
        aggregation: "Total",
        // no per-operation split: the Requests metric's dimensions are Location, Hostname, LastErrorReason, the response
        // codes and categories, and ApiId (Learn, "Supported metrics for Microsoft.ApiManagement/service"); no OperationId,
        // so requestsByOperation is not filled from Azure Monitor
        filter: "ApiId eq '*'",
      });
      const counts: Record<string, number> = {};
      for (const m of res.value ?? []) {
        for (const ts of m.timeseries ?? []) {
          const api = ts.metadatavalues?.find((v) => (v.name?.value ?? "").toLowerCase() === "apiid")?.value;
          if (!api) continue;
          const total = (ts.data ?? []).reduce((acc, d) => acc + (d.total ?? 0), 0);
          counts[api.toLowerCase()] = (counts[api.toLowerCase()] ?? 0) + total;
        }
      }
      snap.requestsByApi = counts;
    } catch (e) {
      if (!isForbidden(e) && !isNotFound(e)) throw e;
    }
  });

  run("operationReports", async () => {
    const days = options.unusedDays ?? 30;
    const end = new Date();
    const start = new Date(end.getTime() - days * 86400_000);
    // $filter is required (apimreports.json, Reports_ListByOperation); timestamp takes ge and le, as in the example
    // ApiManagementGetReportsByOperation.json: "timestamp ge datetime'2017-06-01T00:00:00' and timestamp le datetime'2017-06-04T00:00:00'"
    const at = (d: Date) => `datetime'${d.toISOString().slice(0, 19)}'`;
    let rows: ArmResource[];
    try {
      rows = await rawList((o) => apim.reports.listByOperation(rg, svc, `timestamp ge ${at(start)} and timestamp le ${at(end)}`, o));
    } catch (e) {
      // the reports are the classic tiers' built-in analytics (Learn, "Get API analytics in Azure API Management": not in
      // Consumption nor the v2 tiers; retired March 2027), and a role may lack the read: no per-operation counts then,
      // and the rules that use them judge per API from the metrics
      if (isTierRefusal(e) || isForbidden(e)) return;
      throw e;
    }
    snap.requestsByOperation = requestsByOperation(rows);
  });
  // self-hosted gateways (the self-hosted gateway configuration endpoint's fix refuses while one exists)
  run("gateways", async () => {
    let list: ArmResource[];
    try {
      list = await rawList((o) => apim.gateway.listByService(rg, svc, o));
    } catch (e) {
      // a tier without self-hosted gateways may refuse the list as it refuses other features it lacks: none there
      if (!isTierRefusal(e)) throw e;
      list = [];
    }
    // `managed` names the built-in gateway where an API's gateway list refers to it: not a self-hosted one, should a list hold it
    snap.gateways = list.filter((g) => leafName(g.name).toLowerCase() !== "managed");
  });

  // product children once the product list is in
  run("productApis", async () => {
    const products = await productsReady;
    const lists = await mapLimit(products, limit, (p) => rawList((o) => apim.productApi.listByProduct(rg, svc, p.name, o)));
    products.forEach((p, i) => (snap.productApis[p.name.toLowerCase()] = (lists[i] ?? []).map((a) => a.name.toLowerCase())));
  });
  run("productPolicies", async () => {
    const products = await productsReady;
    const lists = await mapLimit(products, limit, (p) => rawList((o) => apim.productPolicy.listByProduct(rg, svc, p.name, o)));
    products.forEach((p, i) => {
      const pol = lists[i]?.[0];
      if (pol) snap.productPolicies[p.name.toLowerCase()] = pol;
    });
  });

  // `run` may have queued more tasks while awaiting; settle until none are left
  let settled = 0;
  while (settled < tasks.length) {
    const batch = tasks.slice(settled);
    settled = tasks.length;
    await Promise.all(batch).catch(settleThenThrow);
  }
  // a 404 taken for a missing collection may be the service itself gone meanwhile: then that is the failure to report
  if (sawNotFound) await rawGet((o) => apim.apiManagementService.get(rg, svc, o));
  return { ...snap, collected, failed };
}
