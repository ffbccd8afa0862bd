import { currentApis, inboundCoverage } from "./utils/policy.js";
import { defineRule } from "./types.js";

export const RATE_POLICIES = ["rate-limit", "rate-limit-by-key", "quota", "quota-by-key", "llm-token-limit", "azure-openai-token-limit"];

export const rule = defineRule(
  {
    id: "rate-limit-policy",
    title: "Every API is rate limited",
    severity: "medium",
    description: "Every API is covered by `rate-limit`, `rate-limit-by-key`, `quota`, `quota-by-key` (or, for AI APIs, `llm-token-limit` / `azure-openai-token-limit`) at API, product or global scope.",
    rationale: "Without a limit, one client (or an attacker with one key) can exhaust the backend and the gateway's capacity for everyone (OWASP API4: unrestricted resource consumption).",
    defaultAction: "ticket",
    target: "apis",
    references: {
      baseline: "NS-6 / OWASP API4:2023 Unrestricted resource consumption",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-sample-flexible-throttling"],
    },
    needs: ["apis", "policies", "apiPolicies", "products", "productApis", "productPolicies"],
    fixActions: ["Microsoft.ApiManagement/service/apis/policies/write"],
  },
  (s) =>
    currentApis(s).map((api) => {
      const c = inboundCoverage(s, api.name, RATE_POLICIES);
      if (c === "covered") return { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' is rate limited.` };
      if (c === "unknown") return { resourceId: api.id, status: "unknown" as const, message: `API '${api.name}': its policies could not be fully read (fragments or invalid XML).` };
      return { resourceId: api.id, status: "fail" as const, message: `API '${api.name}' has no rate-limit or quota policy on any path.` };
    }),
);
