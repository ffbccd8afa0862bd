import { isExpression, pick, str, type ArmResource } from "../model/arm.js";
import { credentialsOf, hasValue, isServiceFabric } from "./utils/backends.js";
import { defineRule } from "./types.js";

/**
 * The backends this rule judges, as Policy c15dcc82 selects them (`url` exists and `protocol` equals `http`):
 * - a pool (`type: Pool`, no `url`; Learn "Backends in API Management", load-balanced pool) sends nothing itself:
 *   its members are backends of their own and are judged as such;
 * - an absent `protocol` is not `http`: ARM requires it on a single backend ("Backend communication protocol.
 *   Required when backend type is 'Single'", REST spec BackendBaseParameters) and has no default, so an input
 *   without it is no deployable backend; SOAP backends (`protocol: soap`) are not judged either;
 * - Service Fabric backends are excluded (the Defender recommendation: "Does not apply to Service Fabric backends").
 */
function judged(b: ArmResource): boolean {
  if (isServiceFabric(b)) return false;
  if (/^pool$/i.test(str(pick(b, "properties.type")) ?? "")) return false;
  const url = pick(b, "properties.url");
  if (!isExpression(url) && !hasValue(url)) return false;
  const protocol = pick(b, "properties.protocol");
  return isExpression(protocol) || (str(protocol) ?? "").toLowerCase() === "http";
}

export const rule = defineRule(
  {
    id: "backend-authenticated",
    title: "Calls to backends are authenticated",
    severity: "medium",
    description: "Single HTTP backends (a `url` and `protocol: http`) carry credentials: client certificate ids or thumbprints, an authorization scheme with its parameter, or a header or query credential. Pools, SOAP and Service Fabric backends are not judged.",
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
    s.backends.filter((b) => judged(b)).map((b) => {
      const c = credentialsOf(b);
      if (isExpression(pick(b, "properties.credentials"))) return { resourceId: b.id, status: "unknown" as const, message: `Backend '${b.name}' sets credentials with a template expression.` };
      const auth = pick(c, "authorization");
      // Policy c15dcc82 counts an authorization only with both its scheme and its parameter (a scheme alone sends no credential)
      const authSet = isExpression(auth) ? "expression" : hasValue(pick(auth, "scheme")) && hasValue(pick(auth, "parameter")) ? (isExpression(pick(auth, "scheme")) || isExpression(pick(auth, "parameter")) ? "expression" : "set") : "none";
      const others = ["certificateIds", "certificate", "header", "query"];
      const kinds = [...others.filter((k) => hasValue(pick(c, k)) && !isExpression(pick(c, k))), ...(authSet === "set" ? ["authorization"] : [])];
      if (kinds.length > 0) return { resourceId: b.id, status: "pass" as const, message: `Backend '${b.name}' authenticates with ${kinds.join(", ")}.` };
      // An expression may resolve to nothing; an expression protocol may not be http.
      if (others.some((k) => isExpression(pick(c, k))) || authSet === "expression" || isExpression(pick(b, "properties.protocol"))) return { resourceId: b.id, status: "unknown" as const, message: `Backend '${b.name}' sets its credentials or protocol with a template expression.` };
      const schemeOnly = hasValue(pick(auth, "scheme")) || hasValue(pick(auth, "parameter")) ? " (an authorization needs both a scheme and a parameter)" : "";
      return { resourceId: b.id, status: "fail" as const, message: `Backend '${b.name}' has no credentials configured${schemeOnly}.` };
    }),
);
