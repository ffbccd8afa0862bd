import type { ArmResource } from "../model/arm.js";
import { parsePolicy, policyXml, SECTIONS } from "./utils/policy.js";
import { defineRule, type Verdict } from "./types.js";

function verdict(p: ArmResource, where: string): Verdict {
  const parsed = parsePolicy(policyXml(p));
  if (!parsed) return { resourceId: p.id, status: "unknown", message: `The ${where} policy is not readable XML (or is a link).` };
  const missing = SECTIONS.filter((sec) => parsed.base[sec] !== true);
  return missing.length > 0
    ? { resourceId: p.id, status: "fail", message: `The ${where} policy has no <base/> in: ${missing.join(", ")}; parent-scope policies do not run there.` }
    : { resourceId: p.id, status: "pass", message: `The ${where} policy inherits its parent in every section.` };
}

export const rule = defineRule(
  {
    id: "policy-base-inheritance",
    title: "Policies inherit their parent scope",
    severity: "medium",
    description:
      "API, product and operation policies, of every revision and in every workspace, and workspace policies keep `<base/>` in every section (inbound, backend, outbound, on-error).",
    rationale: "A section without `<base/>` silently drops the global and product policies (authentication, rate limits, CORS, logging) for that API.",
    defaultAction: "ticket",
    target: "policies",
    references: {
      azurePolicy: "d5448c98-e503-4fdd-bcd2-784960c00d04",
      psrule: "Azure.APIM.PolicyBase",
      baseline: "PV-2: Audit and enforce secure configurations",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-policies"],
    },
    needs: ["apiPolicies", "productPolicies", "operationPolicies", "revisionPolicies", "workspaces"],
    fixActions: ["Microsoft.ApiManagement/service/apis/policies/write", "Microsoft.ApiManagement/service/products/policies/write"],
  },
  (s) => [
    ...Object.entries(s.apiPolicies).map(([api, p]) => verdict(p, `API '${api}'`)),
    ...Object.entries(s.productPolicies).map(([prod, p]) => verdict(p, `product '${prod}'`)),
    ...Object.entries(s.operationPolicies).map(([op, p]) => verdict(p, `operation '${op}'`)),
    // workspaces (Azure Policy d5448c98 judges these types too): the workspace policy's parent is the global one
    ...Object.entries(s.workspaceContents).flatMap(([ws, c]) => [
      ...(c.policy ? [verdict(c.policy, `workspace '${ws}'`)] : []),
      ...Object.entries(c.apiPolicies).map(([api, p]) => verdict(p, `API '${api}' in workspace '${ws}'`)),
      ...Object.entries(c.productPolicies).map(([prod, p]) => verdict(p, `product '${prod}' in workspace '${ws}'`)),
      ...Object.entries(c.operationPolicies).map(([op, p]) => verdict(p, `operation '${op}' in workspace '${ws}'`)),
    ]),
  ],
);
