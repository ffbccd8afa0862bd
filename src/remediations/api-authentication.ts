import { callableApis, coverageOf, keylessPaths, operationsText, unknownReasons } from "./utils/policy.js";
import { defineRule, type Verdict } from "./types.js";

export const AUTH_POLICIES = ["validate-jwt", "validate-azure-ad-token", "validate-client-certificate"];

export const rule = defineRule(
  {
    id: "api-authentication",
    title: "Every API requires authentication",
    severity: "high",
    description:
      "Every operation of every callable API (current, online revisions, workspace APIs) requires a subscription key on every path (no open product) or enforces `validate-jwt`, `validate-azure-ad-token` or `validate-client-certificate` along operation, API, product, workspace and global scope.",
    rationale: "An API open to anonymous callers exposes its backend to the internet with no way to attribute, throttle or revoke access.",
    defaultAction: "ticket",
    target: "apis",
    references: {
      azurePolicy: "8ac833bd-f505-48d5-887e-c993a1d3eea0",
      defender: "API endpoints in Azure API Management should be authenticated",
      baseline: "IM-4: Authenticate server and services",
      links: [
        "https://learn.microsoft.com/azure/api-management/authentication-authorization-overview",
        "https://learn.microsoft.com/azure/defender-for-cloud/recommendations-reference-api",
        "https://learn.microsoft.com/azure/api-management/api-management-subscriptions",
      ],
    },
    needs: ["apis", "apiRevisions", "policies", "apiPolicies", "products", "productApis", "productPolicies", "operations", "operationPolicies", "revisionPolicies", "workspaces"],
    fixActions: ["Microsoft.ApiManagement/service/apis/write", "Microsoft.ApiManagement/service/apis/policies/write"],
  },
  (s) =>
    callableApis(s).map((t): Verdict => {
      const paths = keylessPaths(s, t);
      if (paths.length === 0) return { resourceId: t.api.id, status: "pass", message: `${t.label} requires a subscription key and is in no open product.` };
      const c = coverageOf(s, t, AUTH_POLICIES, paths);
      const how = c.paths.join("; ");
      if (c.coverage === "covered") return { resourceId: t.api.id, status: "pass", message: `${t.label} validates callers in policy on every key-less path${c.operations > 0 ? `, for each of its ${c.operations} operation(s)` : ""}.` };
      if (c.coverage === "unknown") return { resourceId: t.api.id, status: "unknown", message: `${t.label} may be callable without a key (${how})${operationsText(c.unknown, c.operations)}: ${unknownReasons(c)}.` };
      return { resourceId: t.api.id, status: "fail", message: `${t.label} needs no subscription key and no policy validates a token or client certificate${operationsText(c.uncovered, c.operations)}: callable ${how}.` };
    }),
);
