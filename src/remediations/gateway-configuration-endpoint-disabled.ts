import { leafName } from "../model/arm.js";
import { tenantAccessVerdict } from "./utils/tenant.js";
import { defineRule, V2_SKUS } from "./types.js";
import { fixTenantAccess, type TenantAccessGuard } from "./fixes/tenant-access.js";
import { code } from "./fixes/write.js";

/**
 * Self-hosted gateways pull their configuration from this endpoint (Microsoft Learn, "Self-hosted gateway
 * settings reference": "The Configuration API is used by the self-hosted gateway to connect to Azure API
 * Management to get the latest configuration and send metrics", setting `config.service.endpoint`). Switching
 * it off while such a gateway exists cuts it off from its configuration, so the fix refuses instead.
 * `service/gateways` lists the self-hosted gateways; `managed` names the built-in gateway where an API's
 * gateway list refers to it, and is skipped should a list ever include it.
 */
export const selfHostedGatewaysGuard: TenantAccessGuard = async (ref, ctx) => {
  const names: string[] = [];
  try {
    for await (const g of ctx.clients.apim(ref.subscriptionId).gateway.listByService(ref.resourceGroup, ref.name)) {
      if (g.name && g.name.toLowerCase() !== "managed") names.push(g.name);
    }
  } catch (e) {
    // a tier without self-hosted gateways (Basic, Standard) may refuse the list as it refuses other features it lacks: none to break
    if (code(e) !== "MethodNotAllowedInPricingTier") throw e;
  }
  return names.length === 0 ? undefined : selfHostedGatewaysReason(names);
};

/** Why the endpoint stays on: the self-hosted gateways that depend on it (the first five, then how many more). */
export function selfHostedGatewaysReason(names: string[]): string {
  const shown = names.slice(0, 5).map((n) => `'${n}'`).join(", ") + (names.length > 5 ? ` and ${names.length - 5} more` : "");
  return `the service has self-hosted gateways (${shown}) that pull their configuration from this endpoint: disabling it would cut them off; move them to another configuration path first, then disable it by hand`;
}

export const rule = defineRule(
  {
    id: "gateway-configuration-endpoint-disabled",
    title: "The self-hosted gateway configuration endpoint is disabled",
    severity: "medium",
    description: "Tenant access setting `gatewayAccess` (the public configuration endpoint of self-hosted gateways) is not enabled.",
    rationale: "The gateway configuration endpoint hands the whole service configuration to any caller holding a gateway token; with no self-hosted gateway it only widens the attack surface.",
    defaultAction: "auto",
    target: "service",
    references: {
      // assigned with endpointType "Gateway Configuration": tenant 'gatewayaccess' must have enabled == false
      azurePolicy: "df73bd95-24da-4a4f-96b9-4e8b94b402bd",
      baseline: "PA-1: Separate and limit highly privileged users",
      links: ["https://learn.microsoft.com/azure/api-management/self-hosted-gateway-overview", "https://learn.microsoft.com/azure/api-management/self-hosted-gateway-settings-reference"],
    },
    // read by name, as gitAccess: the tenant list answers `access` only (2024-05-01 ApiManagementListTenantAccess example);
    // the self-hosted gateways, so a plan says beforehand that the fix would cut them off
    needs: ["gatewayAccess", "gateways"],
    fixActions: ["Microsoft.ApiManagement/service/tenant/read", "Microsoft.ApiManagement/service/tenant/write", "Microsoft.ApiManagement/service/gateways/read"],
    // tenant access does not exist on Consumption or the v2 tiers: 400 MethodNotAllowedInPricingTier (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption", ...V2_SKUS],
  },
  // every service of a tier with tenant access has the setting: none read is not a pass
  (s) => tenantAccessVerdict(s, "gatewayAccess", "self-hosted gateway configuration endpoint", "unknown"),
);

/**
 * Remediation: PATCHes tenant access `gatewayAccess` to `enabled: false` with If-Match, unless self-hosted gateways
 * depend on it: blocked at plan time when the snapshot lists some (a dry run says so too), and re-checked against the
 * live service just before the write (a gateway may have been added since the snapshot).
 */
const disableGatewayAccess = fixTenantAccess("gatewayAccess", selfHostedGatewaysGuard);
rule.remediation = {
  ...disableGatewayAccess,
  plan(finding, snapshot, ctx) {
    const names = snapshot.collected.has("gateways") ? snapshot.gateways.map((g) => leafName(g.name)).filter((n) => n.toLowerCase() !== "managed") : [];
    if (names.length > 0) return { kind: "blocked", reason: selfHostedGatewaysReason(names) };
    return disableGatewayAccess.plan(finding, snapshot, ctx);
  },
};
