/**
 * Discovery through Azure Resource Graph: one paged query returns every API
 * Management service in scope, each with its properties as ARM's GET of the
 * service holds them, instead of one ARM list call per subscription.
 *
 * - Scope: the configured management groups (REMEDIATOR_MANAGEMENT_GROUPS), else the configured subscriptions
 *   (REMEDIATOR_SUBSCRIPTIONS), else every subscription the identity can read (a tenant query). Learn,
 *   "Troubleshoot errors using Azure Resource Graph" (Too many subscriptions): the REST API takes a limited number
 *   of subscriptions per request, so they go in batches of 1,000. Management groups: Learn publishes no count limit;
 *   a query covers at most the first 10,000 subscriptions below its management groups and then answers
 *   `x-ms-tenant-subscription-limit-hit: true` ("Guidance for throttled requests"), so they go in batches of
 *   MAX_MANAGEMENT_GROUPS_PER_QUERY and a limit hit is logged (list smaller management groups).
 * - Paging: 1,000 rows a page (the maximum `$top`), then `$skipToken` ("Working with large data sets"; the
 *   query projects `id`, which paging requires).
 * - Quota: Resource Graph allows each user a number of queries per window (e.g. 15 per 5 seconds) and reports what
 *   is left in `x-ms-user-quota-remaining` and when it refills in `x-ms-user-quota-resets-after` (hh:mm:ss)
 *   (Learn, "Guidance for throttled requests in Azure Resource Graph"): at 0 the next query waits for the reset; a
 *   429 the SDK's retry policy could not absorb waits its Retry-After and is sent again.
 * - Which rows: the `resources` table indexes `microsoft.apimanagement/service` (and `.../gateways`) but no API
 *   Management child type (Learn, "Azure Resource Graph table and resource type reference"): APIs, products,
 *   policies, workspaces and the rest are read from ARM as before.
 * - Lag: Resource Graph is updated from ARM's notifications and lags seconds to minutes, so a row is a hint:
 *   rules that read only the service judge from it, and every fix reads the service from ARM again before it
 *   acts (src/engine/engine.ts, `row`).
 *
 * The query (the KQL subset the emulator serves, emulator/resourcegraph.ts):
 *   resources | where type =~ 'microsoft.apimanagement/service' [| where resourceGroup in~ ('rg', ...)]
 *   | project id, name, type, location, sku, properties, tags, identity, zones, subscriptionId, resourceGroup
 *   | order by id asc
 */
import type { ResourceGraphClient } from "@azure/arm-resourcegraph";
import type { AzureClients } from "./clients.js";
import type { Config } from "../common/config.js";
import { parseServiceId, type ArmResource } from "../model/arm.js";

/** Learn (Troubleshoot: Too many subscriptions): batch subscriptions in subsets of 1,000. */
export const MAX_SUBSCRIPTIONS_PER_QUERY = 1000;
/** No published limit; kept small so each query stays under the 10,000 subscriptions one query covers. */
export const MAX_MANAGEMENT_GROUPS_PER_QUERY = 10;
/** Learn (Working with large data sets): `$top` is at most 1,000. */
export const PAGE_SIZE = 1000;
/** 429s answered here after the SDK's own retries, before the query fails. */
const MAX_THROTTLED = 5;

/** Why Resource Graph cannot be used here (the permission missing, the provider absent in a sovereign cloud): discovery falls back to ARM. */
export class ResourceGraphUnavailable extends Error {
  constructor(readonly reason: string) {
    super(`Resource Graph is unavailable: ${reason}`);
    this.name = "ResourceGraphUnavailable";
  }
}

export interface GraphQueryResult {
  /** The services, ARM-shaped (`properties` nested as in a GET of the service), in id order. */
  services: ArmResource[];
  /** Queries sent (pages included, 429s not). */
  queries: number;
  /** Queries answered 429. */
  throttled: number;
  /** Time spent waiting for the quota to reset or for Retry-After (ms). */
  waitedMs: number;
}

export interface GraphQueryOptions {
  sleep?: (ms: number) => Promise<void>;
  log?: { warn(obj: object, msg?: string): void };
}

const quote = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** The query the product sends (see the module comment). */
export function servicesQuery(resourceGroups: readonly string[] = []): string {
  const groups = resourceGroups.length > 0 ? ` | where resourceGroup in~ (${resourceGroups.map((g) => quote(g.toLowerCase())).join(", ")})` : "";
  return `resources | where type =~ 'microsoft.apimanagement/service'${groups} | project id, name, type, location, sku, properties, tags, identity, zones, subscriptionId, resourceGroup | order by id asc`;
}

/** `hh:mm:ss` (x-ms-user-quota-resets-after) in ms; undefined when it is not that. */
export function parseResetsAfter(v: string | undefined): number | undefined {
  const m = v ? /^(\d+):(\d{2}):(\d{2})(\.\d+)?$/.exec(v.trim()) : null;
  if (!m) return undefined;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3]) + Number(m[4] ?? 0)) * 1000;
}

function retryAfterMs(e: unknown): number {
  const h = (e as { response?: { headers?: { get(n: string): string | undefined } } }).response?.headers;
  const raw = h?.get("retry-after");
  const n = raw === undefined ? NaN : Number(raw);
  if (Number.isFinite(n)) return Math.max(0, n * 1000);
  return parseResetsAfter(h?.get("x-ms-user-quota-resets-after")) ?? 5000;
}

/** The quota Resource Graph reported last, per client (a sweep and the next one share it). */
const quotas = new WeakMap<ResourceGraphClient, { remaining?: number; resetsAt: number }>();

/** Errors that mean "no Resource Graph here", not "the query failed". */
export function unavailableReason(e: unknown): string | undefined {
  const err = e as { statusCode?: number; code?: string; message?: string };
  const code = err.code ?? "";
  if (err.statusCode === 403 || /AuthorizationFailed/i.test(code)) return `HTTP 403 ${code || "Forbidden"}: the identity lacks Microsoft.ResourceGraph/resources/read`;
  if (err.statusCode === 404) return `HTTP 404 ${code || "NotFound"}: Resource Graph is not offered at this endpoint`;
  if (/MissingSubscriptionRegistration|NoRegisteredProviderFound|InvalidResourceNamespace/i.test(code)) return `${code}: the Microsoft.ResourceGraph provider is not available here`;
  return undefined;
}

function toArm(row: Record<string, unknown>): ArmResource | undefined {
  const ref = typeof row["id"] === "string" ? parseServiceId(row["id"]) : undefined;
  if (!ref) return undefined;
  const out: ArmResource = { id: ref.id, name: typeof row["name"] === "string" ? row["name"] : ref.name, type: "Microsoft.ApiManagement/service", properties: (row["properties"] as Record<string, unknown> | null) ?? {} };
  for (const k of ["location", "sku", "identity", "tags", "zones"]) {
    const v = row[k];
    // Resource Graph answers null (or an empty object for tags) where a GET leaves the field out
    if (v !== null && v !== undefined && !(k === "tags" && typeof v === "object" && Object.keys(v).length === 0)) out[k] = v;
  }
  return out;
}

/**
 * Every API Management service in scope from Resource Graph. Throws ResourceGraphUnavailable when Resource Graph
 * cannot be used (the caller falls back to ARM listing); any other error is a failed query.
 */
export async function queryServices(clients: AzureClients, config: Pick<Config, "subscriptions" | "resourceGroups" | "managementGroups">, options: GraphQueryOptions = {}): Promise<GraphQueryResult> {
  const client = clients.resourceGraph?.();
  if (!client) throw new ResourceGraphUnavailable("no Resource Graph client");
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const quota = quotas.get(client) ?? { resetsAt: 0 };
  quotas.set(client, quota);
  const result: GraphQueryResult = { services: [], queries: 0, throttled: 0, waitedMs: 0 };
  const wait = async (ms: number) => {
    if (ms <= 0) return;
    result.waitedMs += ms;
    await sleep(ms);
  };
  const scopes: Array<{ subscriptions?: string[]; managementGroups?: string[] }> = [];
  const chunk = <T>(xs: readonly T[], n: number) => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));
  if (config.managementGroups.length > 0) for (const g of chunk(config.managementGroups, MAX_MANAGEMENT_GROUPS_PER_QUERY)) scopes.push({ managementGroups: g });
  else if (config.subscriptions.length > 0) for (const s of chunk(config.subscriptions, MAX_SUBSCRIPTIONS_PER_QUERY)) scopes.push({ subscriptions: s });
  else scopes.push({});
  const query = servicesQuery(config.resourceGroups);
  const seen = new Set<string>();
  for (const scope of scopes) {
    let skipToken: string | undefined;
    do {
      // out of quota: wait for the window to reset before the next query
      if (quota.remaining === 0) await wait(quota.resetsAt - Date.now());
      let headers: { get(name: string): string | undefined } | undefined;
      let page: Awaited<ReturnType<ResourceGraphClient["resources"]>>;
      for (let throttled = 0; ; throttled++) {
        try {
          page = await client.resources(
            { query, ...scope, options: { top: PAGE_SIZE, ...(skipToken ? { skipToken } : {}), resultFormat: "objectArray" } },
            { onResponse: (r) => (headers = r.headers) },
          );
          break;
        } catch (e) {
          const status = (e as { statusCode?: number }).statusCode;
          if (status === 429 && throttled < MAX_THROTTLED) {
            result.throttled++;
            await wait(retryAfterMs(e));
            continue;
          }
          const why = unavailableReason(e);
          if (why) throw new ResourceGraphUnavailable(why);
          throw e;
        }
      }
      result.queries++;
      const remaining = Number(headers?.get("x-ms-user-quota-remaining"));
      const resetsIn = parseResetsAfter(headers?.get("x-ms-user-quota-resets-after"));
      quota.remaining = Number.isFinite(remaining) ? remaining : undefined;
      quota.resetsAt = Date.now() + (resetsIn ?? 0);
      if (headers?.get("x-ms-tenant-subscription-limit-hit") === "true") {
        options.log?.warn({ scope }, "Resource Graph covered only the first 10,000 subscriptions of this scope: list smaller management groups in REMEDIATOR_MANAGEMENT_GROUPS");
      }
      for (const row of Array.isArray(page.data) ? (page.data as Array<Record<string, unknown>>) : []) {
        const svc = toArm(row);
        if (!svc || seen.has(svc.id.toLowerCase())) continue;
        seen.add(svc.id.toLowerCase());
        result.services.push(svc);
      }
      skipToken = page.skipToken;
    } while (skipToken);
  }
  result.services.sort((a, b) => a.id.toLowerCase().localeCompare(b.id.toLowerCase()));
  return result;
}
