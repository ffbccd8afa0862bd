import type { ArmResource } from "../model/arm.js";
import type { ServiceSnapshot } from "../model/snapshot.js";
import { readCors, type CorsList } from "./utils/cors.js";
import { policyXml } from "./utils/policy.js";
import { defineRule, type Verdict } from "./types.js";

const WHAT: Record<CorsList, string> = {
  "allowed-origins": "any origin",
  "allowed-methods": "any method",
  "allowed-headers": "any request header",
  "expose-headers": "any response header to be exposed",
};

/** Every policy resource of the service with where it applies: global, products, APIs (revisions where collected), operations, workspaces (where collected). */
function policiesOf(s: ServiceSnapshot): Array<[where: string, policy: ArmResource]> {
  const out: Array<[string, ArmResource]> = [];
  if (s.globalPolicy) out.push(["global", s.globalPolicy]);
  for (const [p, r] of Object.entries(s.productPolicies)) out.push([`product '${p}'`, r]);
  for (const [a, r] of Object.entries(s.apiPolicies)) out.push([`API '${a}'`, r]);
  for (const [o, r] of Object.entries(s.operationPolicies)) out.push([`operation '${o}'`, r]);
  if (s.collected.has("workspaces")) {
    for (const [w, c] of Object.entries(s.workspaceContents)) {
      if (c.policy) out.push([`workspace '${w}'`, c.policy]);
      for (const [p, r] of Object.entries(c.productPolicies)) out.push([`workspace '${w}' product '${p}'`, r]);
      for (const [a, r] of Object.entries(c.apiPolicies)) out.push([`workspace '${w}' API '${a}'`, r]);
      for (const [o, r] of Object.entries(c.operationPolicies)) out.push([`workspace '${w}' operation '${o}'`, r]);
    }
  }
  const seen = new Set<string>();
  return out.filter(([, r]) => {
    const id = r.id.toLowerCase();
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function verdict(s: ServiceSnapshot, where: string, p: ArmResource): Verdict {
  const reading = readCors(policyXml(p), s.collected.has("namedValues") ? s.namedValues : undefined);
  if (!reading) return { resourceId: p.id, status: "unknown", message: `The ${where} policy is not readable XML (or is a link); it may hold a <cors> policy.` };
  const wild = reading.cors.filter((c) => c.wildcards.length > 0);
  if (wild.length > 0) {
    const lists = [...new Set(wild.flatMap((c) => c.wildcards))];
    const credentials = wild.some((c) => c.wildcards.includes("allowed-origins") && (c.allowCredentials ?? "").trim().toLowerCase() === "true");
    return {
      resourceId: p.id,
      status: "fail",
      message: `The ${where} policy's <cors> allows ${lists.map((l) => `${WHAT[l]} (<${l}> *)`).join(", ")}${credentials ? ", with allow-credentials=\"true\"" : ""}; name the exact values instead of *.`,
    };
  }
  const unresolved = reading.cors.flatMap((c) => c.unresolved);
  if (unresolved.length > 0) return { resourceId: p.id, status: "unknown", message: `The ${where} policy's <cors> has values that cannot be read at rest (${unresolved.join("; ")}); they may evaluate to *.` };
  if (reading.fragments.length > 0) return { resourceId: p.id, status: "unknown", message: `The ${where} policy includes fragment(s) ${reading.fragments.join(", ")}, which are not read; a fragment may hold a <cors> with *.` };
  return reading.cors.length > 0
    ? { resourceId: p.id, status: "pass", message: `The ${where} policy's <cors> names its origins, methods and headers (no *).` }
    : { resourceId: p.id, status: "pass", message: `The ${where} policy has no <cors> policy.` };
}

export const rule = defineRule(
  {
    id: "cors-no-wildcard",
    title: "CORS policies name their origins, methods and headers",
    severity: "medium",
    description:
      "No `<cors>` policy at any scope (global, product, API, operation; non-current revisions and workspaces where collected) uses the wildcard `*` in `allowed-origins`, `allowed-methods`, `allowed-headers` or `expose-headers`.",
    rationale: "A `*` origin lets any website call the API from its visitors' browsers and read the answers; wildcards weaken the browser's same-origin protection for every API the policy covers.",
    defaultAction: "ticket",
    target: "policies",
    references: {
      psrule: "Azure.APIM.CORSPolicy",
      baseline: "PV-2: Audit and enforce secure configurations",
      links: ["https://learn.microsoft.com/azure/api-management/cors-policy", "https://learn.microsoft.com/azure/api-management/mitigate-owasp-api-threats"],
    },
    needs: ["policies", "apiPolicies", "productPolicies", "operationPolicies"],
    fixActions: [
      "Microsoft.ApiManagement/service/policies/write",
      "Microsoft.ApiManagement/service/products/policies/write",
      "Microsoft.ApiManagement/service/apis/policies/write",
      "Microsoft.ApiManagement/service/apis/operations/policies/write",
    ],
  },
  (s) => policiesOf(s).map(([where, p]) => verdict(s, where, p)),
);
