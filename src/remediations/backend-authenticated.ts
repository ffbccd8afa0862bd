import { isExpression, pick, str } from "../model/arm.js";
import { credentialsOf, hasValue, isServiceFabric } from "./utils/backends.js";
import { defineRule } from "./types.js";

export const rule = defineRule(
  {
    id: "backend-authenticated",
    title: "Calls to backends are authenticated",
    severity: "medium",
    description: "HTTP backends carry credentials: client certificate ids or thumbprints, an authorization scheme, or a header or query credential. Service Fabric backends are excluded.",
    rationale: "A backend that accepts unauthenticated calls can be reached around the gateway, bypassing its policies.",
    defaultAction: "ticket",
    target: "backends",
    references: {
      azurePolicy: "c15dcc82-b93c-4dcb-9332-fbf121685b54",
      defender: "API Management calls to API backends should be authenticated",
      baseline: "IM-4: Authenticate server and services",
      links: ["https://learn.microsoft.com/azure/api-management/backends"],
    },
    needs: ["backends"],
    fixActions: ["Microsoft.ApiManagement/service/backends/read", "Microsoft.ApiManagement/service/backends/write"],
  },
  (s) =>
    s.backends
      .filter((b) => !isServiceFabric(b) && (isExpression(pick(b, "properties.protocol")) || (str(pick(b, "properties.protocol")) ?? "http").toLowerCase() === "http"))
      .map((b) => {
        const c = credentialsOf(b);
        if (isExpression(pick(b, "properties.credentials"))) return { resourceId: b.id, status: "unknown" as const, message: `Backend '${b.name}' sets credentials with a template expression.` };
        const all = ["certificateIds", "certificate", "authorization", "header", "query"];
        const kinds = all.filter((k) => hasValue(pick(c, k)) && !isExpression(pick(c, k)));
        if (kinds.length > 0) return { resourceId: b.id, status: "pass" as const, message: `Backend '${b.name}' authenticates with ${kinds.join(", ")}.` };
        // An expression may resolve to nothing; an expression protocol may not be http.
        if (all.some((k) => isExpression(pick(c, k))) || isExpression(pick(b, "properties.protocol"))) return { resourceId: b.id, status: "unknown" as const, message: `Backend '${b.name}' sets its credentials or protocol with a template expression.` };
        return { resourceId: b.id, status: "fail" as const, message: `Backend '${b.name}' has no credentials configured.` };
      }),
);
