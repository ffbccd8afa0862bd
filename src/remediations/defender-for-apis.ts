import { pick, str } from "../model/arm.js";
import { currentApis } from "./utils/policy.js";
import { defineRule } from "./types.js";

export const rule = defineRule(
  {
    id: "defender-for-apis",
    title: "Defender for APIs protects every HTTP API",
    severity: "medium",
    description: "The Defender for APIs plan is on for the subscription and each HTTP API is onboarded (a `Microsoft.Security/apiCollections` resource).",
    rationale: "Defender for APIs inventories APIs, flags sensitive data exposure and detects attacks against them at runtime.",
    defaultAction: "ticket",
    target: "apis",
    references: {
      azurePolicy: "7926a6d1-b268-4586-8197-e8ae90c877d7",
      defender: "API endpoints in Azure API Management should be onboarded to Defender for APIs",
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
      .filter((a) => /^(http|soap)?$/i.test(str(pick(a, "properties.type")) ?? str(pick(a, "properties.apiType")) ?? ""))
      .map((api) => {
        if (!d || d.planEnabled === undefined) return { resourceId: api.id, status: "unknown" as const, message: "The Defender for APIs plan state could not be read." };
        if (!d.planEnabled) return { resourceId: api.id, status: "fail" as const, message: "The Defender for APIs plan is off for this subscription." };
        return d.onboardedApis.includes(api.name.toLowerCase())
          ? { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' is onboarded to Defender for APIs.` }
          : { resourceId: api.id, status: "fail" as const, message: `API '${api.name}' is not onboarded to Defender for APIs.` };
      });
  },
);
