/**
 * The requests a service served, as an estate seeds them, read the same way by the Azure Monitor metric
 * (`{service}/providers/Microsoft.Insights/metrics`, split by `ApiId`) and by API Management's report by operation
 * (`{service}/reports/byOperation`), so the two sources agree. Seeded on the estate entry
 * `{service}/providers/Microsoft.Insights/metrics/Requests`:
 * - `properties.totalsByOperation`: `{ "api/operation": n }` (resource names): the calls of each operation;
 * - `properties.totalsByApiId`: `{ api: n }`: the calls of an API where the estate does not say which operation.
 * An API's metric total is the sum of its operations' counts when the estate counts any of them, else its
 * `totalsByApiId`; the report by operation spreads a per-API count over the API's operations (evenly, the
 * remainder to the first by name), so an estate that counts per API only reads alike through both.
 */
import type { Resource, Store } from "./store.js";

type Counts = Record<string, number>;

function countsOf(entry: Resource | undefined, key: "totalsByOperation" | "totalsByApiId"): Counts {
  const raw = entry?.properties[key];
  const out: Counts = {};
  if (!raw || typeof raw !== "object") return out;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (typeof v === "number" && Number.isFinite(v)) out[k.toLowerCase()] = (out[k.toLowerCase()] ?? 0) + Math.max(0, v);
  return out;
}

/** The seeded request entry of a resource (undefined: it served no requests). */
export function requestsEntry(store: Store, resourceId: string, metric = "Requests"): Resource | undefined {
  return store.get(`${resourceId}/providers/Microsoft.Insights/metrics/${metric}`);
}

/** Requests per API (lowercase name as seeded): what the metric answers split by `ApiId`. */
export function totalsByApi(entry: Resource | undefined): Counts {
  const byApi = countsOf(entry, "totalsByApiId");
  const byOp = countsOf(entry, "totalsByOperation");
  const fromOps: Counts = {};
  for (const [key, n] of Object.entries(byOp)) {
    const api = key.split("/")[0] ?? "";
    fromOps[api] = (fromOps[api] ?? 0) + n;
  }
  return { ...byApi, ...fromOps };
}

/** The operations of the service's current APIs (names without `;rev=`, not `isCurrent: false`), by API. */
function currentOperations(store: Store, serviceId: string): Array<{ api: Resource; operations: Resource[] }> {
  const byName = (a: Resource, b: Resource) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0);
  return store
    .list(`${serviceId}/apis`)
    .filter((a) => !a.name.includes(";rev=") && a.properties["isCurrent"] !== false)
    .sort(byName)
    .map((api) => ({ api, operations: store.list(`${api.id}/operations`).sort(byName) }));
}

/** One report row per operation of the service's current APIs, with the calls it served (`callCountTotal`). */
export function operationReportRows(store: Store, serviceId: string): Array<Record<string, unknown>> {
  const entry = requestsEntry(store, serviceId);
  const byOp = countsOf(entry, "totalsByOperation");
  const byApi = countsOf(entry, "totalsByApiId");
  const rows: Array<Record<string, unknown>> = [];
  for (const { api, operations } of currentOperations(store, serviceId)) {
    const apiKey = api.name.toLowerCase();
    const perOperation = Object.keys(byOp).some((k) => k.startsWith(`${apiKey}/`));
    const apiTotal = byApi[apiKey] ?? 0;
    operations.forEach((op, i) => {
      const spread = Math.floor(apiTotal / operations.length) + (i < apiTotal % operations.length ? 1 : 0);
      const calls = perOperation ? (byOp[`${apiKey}/${op.name.toLowerCase()}`] ?? 0) : spread;
      // the fields and shapes of ApiManagementGetReportsByOperation.json (2024-05-01): `name` is the display name,
      // apiId and operationId are paths below the service; every call is counted as successful
      rows.push({
        name: typeof op.properties["displayName"] === "string" ? op.properties["displayName"] : op.name,
        apiId: `/apis/${api.name}`,
        operationId: `/apis/${api.name}/operations/${op.name}`,
        callCountSuccess: calls,
        callCountBlocked: 0,
        callCountFailed: 0,
        callCountOther: 0,
        callCountTotal: calls,
        bandwidth: 0,
        cacheHitCount: 0,
        cacheMissCount: 0,
        apiTimeAvg: 0,
        apiTimeMin: 0,
        apiTimeMax: 0,
        serviceTimeAvg: 0,
        serviceTimeMin: 0,
        serviceTimeMax: 0,
      });
    });
  }
  return rows;
}
