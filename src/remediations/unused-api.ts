import { currentApis } from "./utils/policy.js";
import type { ServiceSnapshot } from "../model/snapshot.js";
import { defineRule, skuOf, V2_SKUS, type Verdict } from "./types.js";

/** Operation names for a message: the first five, then how many more. */
function list(names: string[]): string {
  const shown = names.slice(0, 5).map((n) => `'${n}'`).join(", ");
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}

/** Why there are no per-operation counts: the tier has no reports (classic tiers but Consumption only), or they could not be read. */
function noReports(s: ServiceSnapshot): string {
  const sku = skuOf(s);
  // Learn, "Get API analytics in Azure API Management": reports are the classic tiers' built-in analytics, not in the v2 tiers; not in Consumption either
  if (/^consumption$/i.test(sku) || V2_SKUS.some((v) => v.toLowerCase() === sku.toLowerCase())) return `the ${sku} tier has no reports by operation`;
  return "per-operation counts are not available (the report by operation could not be read)";
}

export const rule = defineRule(
  {
    id: "unused-api",
    title: "APIs without traffic are retired",
    severity: "low",
    description: "Every operation of an API had requests in the look-back window (default 30 days): an API fails when any of its operations had none, and the finding names them (the service's report by operation, `reports/byOperation`); where the tier has no reports (Consumption, v2) or they cannot be read, judged per API (Azure Monitor `Requests` metric by `ApiId`; the message says so). `unknown` when neither is available.",
    rationale: "Forgotten APIs stay reachable, keep credentials to backends and are rarely patched (OWASP API9: improper inventory management).",
    defaultAction: "ticket",
    target: "apis",
    references: {
      azurePolicy: "c8acafaf-3d23-44d1-9624-978ef0f8652c",
      defender: "API endpoints that are unused should be disabled and removed from the Azure API Management service",
      baseline: "OWASP API9:2023 Improper inventory management",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-use-azure-monitor"],
    },
    // the report by operation gives per-operation counts (Azure Monitor's Requests metric has no OperationId dimension);
    // the operation list says which operations had none (a report's rows are not taken as the list of operations)
    needs: ["apis", "metrics", "operations", "operationReports"],
    fixActions: ["Microsoft.Insights/metrics/read", "Microsoft.ApiManagement/service/reports/read"],
  },
  (s, o) =>
    currentApis(s).map((api): Verdict => {
      const name = api.name.toLowerCase();
      const window = `in the last ${o.unusedDays} days`;
      const byOp = s.requestsByOperation;
      const ops = s.collected.has("operations") ? s.operations[name] : undefined;
      // per operation, as Defender judges each `apis/operations` endpoint (Policy c8acafaf): one busy operation must not hide unused ones
      if (byOp && ops && ops.length > 0) {
        const counts = ops.map((op) => ({ op: op.name, n: byOp[`${name}/${op.name.toLowerCase()}`] ?? 0 }));
        const unused = counts.filter((c) => c.n <= 0).map((c) => c.op);
        const total = counts.reduce((sum, c) => sum + Math.max(c.n, 0), 0);
        if (unused.length === 0) return { resourceId: api.id, status: "pass", message: `API '${api.name}' served ${total} request(s) ${window}; each of its ${ops.length} operation(s) had traffic.` };
        if (unused.length === ops.length) return { resourceId: api.id, status: "fail", message: `API '${api.name}' had no requests ${window} (none of its ${ops.length} operation(s): ${list(unused)}).` };
        return { resourceId: api.id, status: "fail", message: `API '${api.name}': ${unused.length} of its ${ops.length} operations had no requests ${window}: ${list(unused)} (the API served ${total} request(s) on the others).` };
      }
      const counts = s.requestsByApi;
      if (!counts) return { resourceId: api.id, status: "unknown", message: "Request metrics are not available." };
      // per API only: no report by operation (a tier without reports, or a role that cannot read them), the operations
      // are not in the input, or the API has no operations
      const why = !byOp ? noReports(s) : !ops ? "its operations are not in the input" : "it has no operations";
      const n = counts[name] ?? 0;
      return n > 0
        ? { resourceId: api.id, status: "pass", message: `API '${api.name}' served ${n} request(s) ${window} (judged per API: ${why}).` }
        : { resourceId: api.id, status: "fail", message: `API '${api.name}' had no requests ${window} (judged per API: ${why}).` };
    }),
);
