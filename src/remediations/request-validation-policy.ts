import { pick, str } from "../model/arm.js";
import { allPaths, callableApis, coverageOf, operationsText, unknownReasons } from "./utils/policy.js";
import { defineRule, type Verdict } from "./types.js";

export const VALIDATION_POLICIES = ["validate-content", "validate-parameters", "validate-headers", "validate-graphql-request", "validate-odata-request"];

export const rule = defineRule(
  {
    id: "request-validation-policy",
    title: "Every API validates requests",
    severity: "low",
    description:
      "Every operation of every callable API (current, online revisions, workspace APIs) is covered by `validate-content`, `validate-parameters` or `validate-headers` (GraphQL and OData APIs: their validation policies) on every path: operation, API, product (product-scoped keys only), workspace or global scope. WebSocket APIs are excluded.",
    rationale: "Validating requests against the API's schema at the gateway stops malformed and oversized payloads and mass-assignment before they reach the backend (OWASP API3/API8).",
    defaultAction: "ticket",
    target: "apis",
    references: {
      baseline: "OWASP API8:2023 Security misconfiguration",
      links: ["https://learn.microsoft.com/azure/api-management/validation-policies"],
    },
    needs: ["apis", "apiRevisions", "policies", "apiPolicies", "products", "productApis", "productPolicies", "operations", "operationPolicies", "revisionPolicies", "workspaces", "subscriptions"],
    fixActions: ["Microsoft.ApiManagement/service/apis/policies/write"],
  },
  (s) =>
    callableApis(s)
      .filter((t) => !/websocket/i.test(str(pick(t.api, "properties.type")) ?? str(pick(t.api, "properties.apiType")) ?? ""))
      .map((t): Verdict => {
        const c = coverageOf(s, t, VALIDATION_POLICIES, allPaths(s, t));
        if (c.coverage === "covered") return { resourceId: t.api.id, status: "pass", message: `${t.label} validates requests on every path${c.operations > 0 ? `, for each of its ${c.operations} operation(s)` : ""}.` };
        if (c.coverage === "unknown") return { resourceId: t.api.id, status: "unknown", message: `${t.label}${operationsText(c.unknown, c.operations)}: ${unknownReasons(c)} (${c.paths.join("; ")}).` };
        return { resourceId: t.api.id, status: "fail", message: `${t.label} validates no request content, parameters or headers${operationsText(c.uncovered, c.operations)} on the path ${c.paths.join("; ")}.` };
      }),
);
