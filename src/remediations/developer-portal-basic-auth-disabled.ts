import { bool, isExpression, pick } from "../model/arm.js";
import { defineRule } from "./types.js";
import { fixPortalBasicAuth, identityProviderType } from "./fixes/portal.js";

export const rule = defineRule(
  {
    id: "developer-portal-basic-auth-disabled",
    title: "Developer portal username and password sign-in is disabled",
    severity: "medium",
    description: "Every developer portal configuration (`service/portalconfigs`) sets `enableBasicAuth` to false; developers sign in through an identity provider (Microsoft Entra ID or Azure AD B2C).",
    rationale: "Portal accounts with a username and password sit outside Entra ID: no MFA, no Conditional Access, no central offboarding; a guessed or reused password yields the account's subscription keys.",
    // opt-in: switching it off changes how every developer signs in (REMEDIATOR_RULE_MODES=developer-portal-basic-auth-disabled=enforce)
    defaultAction: "ticket",
    target: "service",
    references: {
      // ffe25541 audits it; its Modify twin 1b0d74ac ("Modify API Management to disable username and password authentication") sets it
      azurePolicy: "ffe25541-3853-4f4e-b71d-064422294b11",
      baseline: "IM-1: Use centralized identity and authentication system",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-aad", "https://learn.microsoft.com/azure/api-management/secure-developer-portal-access"],
    },
    needs: ["portalConfigs", "identityProviders"],
    fixActions: ["Microsoft.ApiManagement/service/portalConfigs/read", "Microsoft.ApiManagement/service/portalConfigs/write", "Microsoft.ApiManagement/service/identityProviders/read"],
    // no developer portal on Consumption (Microsoft Learn, "Feature-based comparison of the Azure API Management tiers", Developer portal row)
    notApplicableSkus: ["Consumption"],
  },
  (s) => {
    if (s.portalConfigs.length === 0) return [{ resourceId: s.service.id, status: "unknown", message: "No developer portal configuration was read: username and password sign-in cannot be judged." }];
    const providers = s.identityProviders.map(identityProviderType);
    const others = providers.length > 0 ? ` (identity providers: ${providers.join(", ")})` : " and no identity provider is configured: add Microsoft Entra ID or Azure AD B2C before disabling it";
    return s.portalConfigs.map((c) => {
      const v = pick(c, "properties.enableBasicAuth");
      if (isExpression(v)) return { resourceId: c.id, status: "unknown" as const, message: `Portal configuration '${c.name}' sets enableBasicAuth with a template expression.` };
      // as Policy ffe25541: anything but false counts as enabled, an absent value too (the portal's default)
      return bool(v) === false
        ? { resourceId: c.id, status: "pass" as const, message: `Username and password sign-in is disabled in portal configuration '${c.name}'.` }
        : { resourceId: c.id, status: "fail" as const, message: `Username and password sign-in is ${v === undefined ? "enabled (enableBasicAuth not set)" : "enabled"} in portal configuration '${c.name}' of '${s.service.name}'${others}.` };
    });
  },
);

/** Remediation: opt-in: PATCHes `enableBasicAuth: false` with If-Match; blocked while no identity provider is configured. */
rule.remediation = fixPortalBasicAuth;
