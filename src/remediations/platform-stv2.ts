import { isExpression, pick, str } from "../model/arm.js";
import { defineRule, V2_SKUS } from "./types.js";

export const rule = defineRule(
  {
    id: "platform-stv2",
    title: "The service runs on the stv2 compute platform",
    severity: "high",
    description: "`platformVersion` is not `stv1`.",
    rationale: "The stv1 platform was retired on 31 August 2024: it receives no security updates or support, and Azure may disable such services.",
    defaultAction: "ticket",
    target: "service",
    references: {
      azurePolicy: "1dc2fc00-2245-4143-99f4-874c937f13ef",
      // the recommendation Defender for Cloud shows for the policy (Microsoft cloud security benchmark, PV-2)
      defender: "Azure API Management platform version should be stv2",
      baseline: "PV-5: Perform vulnerability assessments / platform currency",
      links: ["https://learn.microsoft.com/azure/api-management/compute-infrastructure"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/write"],
    // stv1/stv2 are compute platforms of the classic dedicated tiers only (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption", ...V2_SKUS],
  },
  (s) => {
    const v = pick(s.service, "properties.platformVersion");
    if (isExpression(v)) return [{ resourceId: s.service.id, status: "unknown", message: "The platform version is a template expression." }];
    const version = str(v);
    if (!version) return [{ resourceId: s.service.id, status: "pass", message: "No platform version reported (new services run on stv2)." }];
    return /^stv1$/i.test(version)
      ? [{ resourceId: s.service.id, status: "fail", message: "The service runs on the retired stv1 platform." }]
      : [{ resourceId: s.service.id, status: "pass", message: `Platform ${version}.` }];
  },
);
