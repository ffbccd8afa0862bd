import { bool, isExpression, pick } from "../model/arm.js";
import { currentApis, inboundCoverage } from "./utils/policy.js";
import { defineRule } from "./types.js";

export const AUTH_POLICIES = ["validate-jwt", "validate-azure-ad-token", "validate-client-certificate"];

export const rule = defineRule(
  {
    id: "api-authentication",
    title: "Every API requires authentication",
    severity: "high",
    description: "Every API requires a subscription key or enforces `validate-jwt`, `validate-azure-ad-token` or `validate-client-certificate` at API, product or global scope.",
    rationale: "An API open to anonymous callers exposes its backend to the internet with no way to attribute, throttle or revoke access.",
    defaultAction: "ticket",
    target: "apis",
    references: {
      baseline: "IM-4: Authenticate server and services",
      links: ["https://learn.microsoft.com/azure/api-management/authentication-authorization-overview"],
    },
    needs: ["apis", "policies", "apiPolicies", "products", "productApis", "productPolicies"],
    fixActions: ["Microsoft.ApiManagement/service/apis/write", "Microsoft.ApiManagement/service/apis/policies/write"],
  },
  (s) =>
    currentApis(s).map((api) => {
      if (isExpression(pick(api, "properties.subscriptionRequired"))) return { resourceId: api.id, status: "unknown" as const, message: `API '${api.name}' sets subscriptionRequired with a template expression.` };
      if (bool(pick(api, "properties.subscriptionRequired")) !== false) return { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' requires a subscription key.` };
      const c = inboundCoverage(s, api.name, AUTH_POLICIES);
      if (c === "covered") return { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' validates callers in policy.` };
      if (c === "unknown") return { resourceId: api.id, status: "unknown" as const, message: `API '${api.name}' needs no subscription key and its policies could not be fully read (fragments or invalid XML).` };
      return { resourceId: api.id, status: "fail" as const, message: `API '${api.name}' needs no subscription key and no policy validates a token or client certificate.` };
    }),
);
