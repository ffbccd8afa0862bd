import { allPaths, callableApis, coverageOf, operationsText, unknownReasons } from "./utils/policy.js";
import { gatewayExposure } from "./utils/network.js";
import { defineRule, type Verdict } from "./types.js";

export const IP_FILTER = ["ip-filter"];

export const rule = defineRule(
  {
    id: "ip-filter",
    title: "Callers are restricted by network or IP address",
    severity: "low",
    description:
      "For every operation of every callable API (current, online revisions, workspace APIs), the gateway is not public (Internal virtual network, or public network access disabled) or an `ip-filter` policy runs on every path: operation, API, product (product-scoped keys only), workspace or global scope.",
    rationale: "Restricting callers to known networks or addresses keeps a stolen key or token from being used from anywhere on the internet and shrinks what an attacker can reach.",
    defaultAction: "ticket",
    target: "apis",
    references: {
      baseline: "NS-2: Secure cloud services with network controls",
      links: ["https://learn.microsoft.com/azure/api-management/ip-filter-policy", "https://learn.microsoft.com/azure/api-management/virtual-network-concepts"],
    },
    needs: ["apis", "apiRevisions", "policies", "apiPolicies", "products", "productApis", "productPolicies", "operations", "operationPolicies", "revisionPolicies", "workspaces", "subscriptions"],
    fixActions: ["Microsoft.ApiManagement/service/apis/policies/write"],
  },
  (s) => {
    const e = gatewayExposure(s);
    return callableApis(s).map((t): Verdict => {
      if (e.reach === "private") return { resourceId: t.api.id, status: "pass", message: `${t.label}: callers are restricted by the network (${e.why}).` };
      const c = coverageOf(s, t, IP_FILTER, allPaths(s, t));
      if (c.coverage === "covered") return { resourceId: t.api.id, status: "pass", message: `${t.label} filters callers by IP address (ip-filter) on every path${c.operations > 0 ? `, for each of its ${c.operations} operation(s)` : ""}.` };
      if (e.reach === "unknown") return { resourceId: t.api.id, status: "unknown", message: `${t.label}: no ip-filter on every path, and whether the gateway is public is not known (${e.why}).` };
      if (c.coverage === "unknown") return { resourceId: t.api.id, status: "unknown", message: `${t.label}${operationsText(c.unknown, c.operations)}: ${unknownReasons(c)} (${c.paths.join("; ")}).` };
      return { resourceId: t.api.id, status: "fail", message: `${t.label}: ${e.why}, and no ip-filter policy runs${operationsText(c.uncovered, c.operations)} on the path ${c.paths.join("; ")}.` };
    });
  },
);
