import { allPaths, callableApis, coverageOf, operationsText, unknownReasons } from "./utils/policy.js";
import { defineRule, type Verdict } from "./types.js";

export const RATE_POLICIES = ["rate-limit", "rate-limit-by-key", "quota", "quota-by-key", "llm-token-limit", "azure-openai-token-limit"];

export const rule = defineRule(
  {
    id: "rate-limit-policy",
    title: "Every API is rate limited",
    severity: "medium",
    description:
      "Every operation of every callable API (current, online revisions, workspace APIs) is covered by `rate-limit`, `rate-limit-by-key`, `quota`, `quota-by-key` (or, for AI APIs, `llm-token-limit` / `azure-openai-token-limit`) on every path: operation, API, product (product-scoped keys only), workspace or global scope.",
    rationale: "Without a limit, one client (or an attacker with one key) can exhaust the backend and the gateway's capacity for everyone (OWASP API4: unrestricted resource consumption).",
    defaultAction: "ticket",
    target: "apis",
    references: {
      baseline: "NS-6 / OWASP API4:2023 Unrestricted resource consumption",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-sample-flexible-throttling"],
    },
    needs: ["apis", "apiRevisions", "policies", "apiPolicies", "products", "productApis", "productPolicies", "operations", "operationPolicies", "revisionPolicies", "workspaces", "subscriptions"],
    fixActions: ["Microsoft.ApiManagement/service/apis/policies/write"],
  },
  (s) =>
    callableApis(s).map((t): Verdict => {
      const c = coverageOf(s, t, RATE_POLICIES, allPaths(s, t));
      if (c.coverage === "covered") return { resourceId: t.api.id, status: "pass", message: `${t.label} is rate limited on every path${c.operations > 0 ? `, for each of its ${c.operations} operation(s)` : ""}.` };
      if (c.coverage === "unknown") return { resourceId: t.api.id, status: "unknown", message: `${t.label}${operationsText(c.unknown, c.operations)}: ${unknownReasons(c)} (${c.paths.join("; ")}).` };
      return { resourceId: t.api.id, status: "fail", message: `${t.label} has no rate-limit or quota policy${operationsText(c.uncovered, c.operations)} on the path ${c.paths.join("; ")}.` };
    }),
);
