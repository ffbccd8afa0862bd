import { tenantAccessVerdict } from "./utils/tenant.js";
import { defineRule, V2_SKUS } from "./types.js";
import { fixTenantAccess } from "./fixes/tenant-access.js";

export const rule = defineRule(
  {
    id: "direct-management-endpoint-disabled",
    title: "The direct management REST API is disabled",
    severity: "high",
    description: "Tenant access setting `access` (the direct management API) is not enabled.",
    rationale: "The direct management endpoint is authenticated with shared access signatures outside Entra ID and Azure RBAC; anyone with a key manages the whole service.",
    defaultAction: "auto",
    target: "service",
    references: {
      azurePolicy: "b741306c-968e-4b67-b916-5675e5c709f4",
      defender: "API Management direct management endpoint should not be enabled",
      baseline: "PA-1: Separate and limit highly privileged users",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-configuration-repository-git"],
    },
    needs: ["tenantAccess"],
    fixActions: ["Microsoft.ApiManagement/service/tenant/read", "Microsoft.ApiManagement/service/tenant/write"],
    // tenant access does not exist on Consumption or the v2 tiers (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption", ...V2_SKUS],
  },
  (s) => tenantAccessVerdict(s, "access", "direct management API"),
);

/** Remediation: PATCHes tenant access `access` to `enabled: false` with If-Match. */
rule.remediation = fixTenantAccess("access");
