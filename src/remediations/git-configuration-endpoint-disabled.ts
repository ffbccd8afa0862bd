import { tenantAccessVerdict } from "./utils/tenant.js";
import { defineRule, V2_SKUS } from "./types.js";
import { fixTenantAccess } from "./fixes/tenant-access.js";

export const rule = defineRule(
  {
    id: "git-configuration-endpoint-disabled",
    title: "The Git configuration endpoint is disabled",
    severity: "medium",
    description: "Tenant access setting `gitAccess` (the Git configuration repository) is not enabled.",
    rationale: "The Git configuration repository exposes the service's configuration, including policies, to anyone holding its SAS credentials, outside Azure RBAC.",
    defaultAction: "auto",
    target: "service",
    references: {
      // assigned with endpointType "Git" (its default, "Management", judges the direct management endpoint)
      azurePolicy: "df73bd95-24da-4a4f-96b9-4e8b94b402bd",
      // no Defender recommendation judges gitAccess: the benchmark assigns df73bd95 with its default endpointType (docs page)
      baseline: "PA-1: Separate and limit highly privileged users",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-configuration-repository-git"],
    },
    // read by name: the tenant list answers `access` only (2024-05-01 ApiManagementListTenantAccess example)
    needs: ["gitAccess"],
    fixActions: ["Microsoft.ApiManagement/service/tenant/read", "Microsoft.ApiManagement/service/tenant/write"],
    // no Git configuration repository on Consumption or the v2 tiers (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption", ...V2_SKUS],
  },
  // every service of a tier with Git has a gitAccess setting: none read is not a pass
  (s) => tenantAccessVerdict(s, "gitAccess", "Git configuration endpoint", "unknown"),
);

/** Remediation: PATCHes tenant access `gitAccess` to `enabled: false` with If-Match. */
rule.remediation = fixTenantAccess("gitAccess");
