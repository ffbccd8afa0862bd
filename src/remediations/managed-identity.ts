import { isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";
import { fixManagedIdentity } from "./fixes/service.js";

export const rule = defineRule(
  {
    id: "managed-identity",
    title: "The service has a managed identity",
    severity: "medium",
    description: "The service has a system-assigned or user-assigned managed identity.",
    rationale: "A managed identity lets APIM read Key Vault secrets and certificates and call backends without stored credentials; Key Vault named values need one.",
    defaultAction: "auto",
    target: "service",
    references: {
      psrule: "Azure.APIM.ManagedIdentity",
      baseline: "IM-3: Manage application identities securely and automatically",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-use-managed-service-identity"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/read", "Microsoft.ApiManagement/service/write"],
  },
  (s) => {
    const t = pick(s.service, "identity.type");
    if (isExpression(t) || isExpression(pick(s.service, "identity"))) return [{ resourceId: s.service.id, status: "unknown", message: "The identity type is a template expression." }];
    const type = str(t) ?? "None";
    return /SystemAssigned|UserAssigned/i.test(type)
      ? [{ resourceId: s.service.id, status: "pass", message: `Identity: ${type}.` }]
      : [{ resourceId: s.service.id, status: "fail", message: `'${s.service.name}' has no managed identity.` }];
  },
);

/** Remediation: enables a system-assigned identity, keeping user-assigned ones. */
rule.remediation = fixManagedIdentity;
