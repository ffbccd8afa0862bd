import { currentApis } from "./utils/policy.js";
import { defineRule } from "./types.js";

export const rule = defineRule(
  {
    id: "unused-api",
    title: "APIs without traffic are retired",
    severity: "low",
    description: "An API had no requests in the look-back window (default 30 days; Azure Monitor `Requests` metric by `ApiId`). `unknown` when metrics are unavailable.",
    rationale: "Forgotten APIs stay reachable, keep credentials to backends and are rarely patched (OWASP API9: improper inventory management).",
    defaultAction: "ticket",
    target: "apis",
    references: {
      defender: "Unused API endpoints should be disabled and removed from the Azure API Management service",
      baseline: "OWASP API9:2023 Improper inventory management",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-use-azure-monitor"],
    },
    needs: ["apis", "metrics"],
    fixActions: ["Microsoft.Insights/metrics/read"],
  },
  (s, o) =>
    currentApis(s).map((api) => {
      const counts = s.requestsByApi;
      if (!counts) return { resourceId: api.id, status: "unknown" as const, message: "Request metrics are not available." };
      const n = counts[api.name.toLowerCase()] ?? 0;
      return n > 0
        ? { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' served ${n} request(s) in the last ${o.unusedDays} days.` }
        : { resourceId: api.id, status: "fail" as const, message: `API '${api.name}' had no requests in the last ${o.unusedDays} days.` };
    }),
);
