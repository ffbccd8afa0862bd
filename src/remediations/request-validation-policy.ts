import { pick, str } from "../model/arm.js";
import { currentApis, inboundCoverage } from "./utils/policy.js";
import { defineRule } from "./types.js";

export const VALIDATION_POLICIES = ["validate-content", "validate-parameters", "validate-headers", "validate-graphql-request", "validate-odata-request"];

export const rule = defineRule(
  {
    id: "request-validation-policy",
    title: "Every API validates requests",
    severity: "low",
    description: "Every API is covered by `validate-content`, `validate-parameters` or `validate-headers` (GraphQL and OData APIs: their validation policies). WebSocket APIs are excluded.",
    rationale: "Validating requests against the API's schema at the gateway stops malformed and oversized payloads and mass-assignment before they reach the backend (OWASP API3/API8).",
    defaultAction: "ticket",
    target: "apis",
    references: {
      baseline: "OWASP API8:2023 Security misconfiguration",
      links: ["https://learn.microsoft.com/azure/api-management/validation-policies"],
    },
    needs: ["apis", "policies", "apiPolicies", "products", "productApis", "productPolicies"],
    fixActions: ["Microsoft.ApiManagement/service/apis/policies/write"],
  },
  (s) =>
    currentApis(s)
      .filter((api) => !/websocket/i.test(str(pick(api, "properties.type")) ?? str(pick(api, "properties.apiType")) ?? ""))
      .map((api) => {
        const c = inboundCoverage(s, api.name, VALIDATION_POLICIES);
        if (c === "covered") return { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' validates requests.` };
        if (c === "unknown") return { resourceId: api.id, status: "unknown" as const, message: `API '${api.name}': its policies could not be fully read (fragments or invalid XML).` };
        return { resourceId: api.id, status: "fail" as const, message: `API '${api.name}' validates no request content, parameters or headers.` };
      }),
);
