import { pick, str, type ArmResource } from "../model/arm.js";
import { currentApis } from "./utils/policy.js";
import { defineRule } from "./types.js";

/**
 * REST APIs only: "Currently, Defender for APIs discovers and analyzes REST APIs only" (Learn, "Protect APIs in API
 * Management with Defender for APIs", plan limitations; also PSRule Azure.APIM.DefenderCloud: `apiType` http or absent).
 * ARM's `type` is `http` for REST (SOAP-to-REST imports included) and `soap` for SOAP pass-through; GraphQL, WebSocket,
 * gRPC and OData APIs are not onboarded either. An absent type is REST (ARM's default).
 */
function isRest(a: ArmResource): boolean {
  return /^(http)?$/i.test(str(pick(a, "properties.type")) ?? str(pick(a, "properties.apiType")) ?? "");
}

export const rule = defineRule(
  {
    id: "defender-for-apis",
    title: "Defender for APIs protects every HTTP API",
    severity: "medium",
    description: "The Defender for APIs plan is on for the subscription (`Microsoft.Security/pricings/Api` at `Standard`) and each current REST API is onboarded (a `Microsoft.Security/apiCollections` resource of its name). SOAP, GraphQL, WebSocket, gRPC and OData APIs are not applicable (Defender for APIs analyzes REST APIs only).",
    rationale: "Defender for APIs inventories APIs, flags sensitive data exposure and detects attacks against them at runtime.",
    defaultAction: "ticket",
    target: "apis",
    references: {
      azurePolicy: "7926a6d1-b268-4586-8197-e8ae90c877d7",
      defender: "Azure API Management APIs should be onboarded to Defender for APIs",
      psrule: "Azure.APIM.DefenderCloud",
      baseline: "LT-1: Enable threat detection capabilities",
      links: ["https://learn.microsoft.com/azure/defender-for-cloud/defender-for-apis-deploy"],
    },
    needs: ["apis", "defender"],
    fixActions: ["Microsoft.Security/apiCollections/write"],
    // Defender for APIs does not support the Consumption tier (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption"],
  },
  (s) => {
    const d = s.defender;
    return currentApis(s)
      .filter((a) => isRest(a))
      .map((api) => {
        const onboarded = d?.onboardedApis.includes(api.name.toLowerCase()) === true;
        if (d?.planEnabled === false) return { resourceId: api.id, status: "fail" as const, message: "The Defender for APIs plan is off for this subscription (Microsoft.Security/pricings/Api is not Standard)." };
        // the plan unreadable (403): the collector reads apiCollections only under a known plan, so a missing one says nothing.
        // Offline inputs collect `defender` only with the subscription's pricing, so they are judged (plan and collections).
        if (!d || d.planEnabled === undefined) {
          return { resourceId: api.id, status: "unknown" as const, message: onboarded ? `API '${api.name}' is onboarded to Defender for APIs, but the plan state (Microsoft.Security/pricings/Api) could not be read.` : "The Defender for APIs plan state could not be read." };
        }
        return onboarded
          ? { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' is onboarded to Defender for APIs.` }
          : { resourceId: api.id, status: "fail" as const, message: `API '${api.name}' is not onboarded to Defender for APIs (no Microsoft.Security/apiCollections/${api.name}).` };
      });
  },
);
