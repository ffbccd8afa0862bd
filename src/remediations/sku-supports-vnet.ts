import { isExpression, pick } from "../model/arm.js";
import { defineRule, skuOf } from "./types.js";

/**
 * The tiers that can be deployed into (injected in) a virtual network: Policy 73ef9241's default list
 * (Developer, Premium, Isolated) plus Premium v2, which Learn documents with virtual network injection
 * ("Inject an Azure API Management instance in a private virtual network - Premium v2 tier"). Standard v2
 * has outbound integration only: its gateway stays public (Learn "Use a virtual network to secure inbound or
 * outbound traffic for Azure API Management").
 */
export const VNET_SKUS = ["Developer", "Premium", "Isolated", "PremiumV2"] as const;

const NO_INJECTION: Record<string, string> = {
  consumption: "the Consumption tier has no virtual network support at all",
  basic: "the Basic tier cannot be deployed into a virtual network (it supports inbound private endpoints)",
  standard: "the Standard tier cannot be deployed into a virtual network (it supports inbound private endpoints)",
  basicv2: "the Basic v2 tier has no virtual network support",
  standardv2: "the Standard v2 tier integrates with a virtual network for outbound calls only (its gateway stays public; it supports inbound private endpoints)",
};

export const rule = defineRule(
  {
    id: "sku-supports-vnet",
    title: "The service uses a tier that can be deployed into a virtual network",
    severity: "low",
    description: "`sku.name` is one of Developer, Premium, Isolated or PremiumV2: the tiers API Management can inject into a virtual network.",
    rationale: "Only these tiers can be placed in a virtual network, which unlocks network isolation, NSGs and private backends; on any other tier the gateway's network exposure cannot be controlled that way.",
    defaultAction: "ticket",
    target: "service",
    references: {
      azurePolicy: "73ef9241-5d81-4cd4-b483-8443d1730fe5",
      baseline: "NS-2: Secure cloud services with network controls",
      links: ["https://learn.microsoft.com/azure/api-management/virtual-network-concepts", "https://learn.microsoft.com/azure/api-management/api-management-features"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/write"],
  },
  (s) => {
    const raw = pick(s.service, "sku.name");
    if (isExpression(raw)) return [{ resourceId: s.service.id, status: "unknown", message: "The SKU is a template expression." }];
    const sku = skuOf(s);
    if (sku === "") return [{ resourceId: s.service.id, status: "unknown", message: "The input gives no SKU for the service." }];
    if (VNET_SKUS.some((v) => v.toLowerCase() === sku.toLowerCase())) return [{ resourceId: s.service.id, status: "pass", message: `The ${sku} tier can be deployed into a virtual network.` }];
    const why = NO_INJECTION[sku.toLowerCase()] ?? `the ${sku} tier is not one that can be deployed into a virtual network`;
    return [{ resourceId: s.service.id, status: "fail", message: `SKU ${sku}: ${why}. Developer, Premium, Isolated and Premium v2 can.` }];
  },
);
