import { isExpression, pick, str } from "../model/arm.js";
import { defineRule, skuOf, V2_SKUS } from "./types.js";

export const rule = defineRule(
  {
    id: "network-isolation",
    title: "The service is isolated from the public network",
    severity: "medium",
    description:
      "`publicNetworkAccess` is `Disabled` (private endpoints) or the service is deployed in a virtual network (`virtualNetworkType` External or Internal on the classic tiers; on the v2 tiers only Internal, Premium v2's injection: a v2 `External` service is integrated for outbound calls only and its gateway stays public).",
    rationale: "A gateway and management plane reachable from the internet widen the attack surface; network isolation lets NSGs, firewalls and private endpoints control access.",
    defaultAction: "ticket",
    target: "service",
    references: {
      azurePolicy: "ef619a2c-cc4d-4d03-b2ba-8c94a834d85b",
      defender: "API Management services should use a virtual network",
      baseline: "NS-2: Secure cloud services with network controls",
      links: ["https://learn.microsoft.com/azure/api-management/virtual-network-concepts"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/write"],
    // neither private endpoints nor a virtual network on Consumption or Basic v2 (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption", "BasicV2"],
  },
  (s) => {
    const pna = pick(s.service, "properties.publicNetworkAccess");
    const vnet = pick(s.service, "properties.virtualNetworkType");
    const vnetType = str(vnet) ?? "None";
    // The v2 tiers have no external injection mode: `External` there is virtual network *integration*, for the
    // gateway's outbound calls only, and "the API Management gateway, management plane, and developer portal remain
    // publicly accessible from the internet"; only Premium v2's injection (`Internal`) takes the gateway off the
    // internet (Learn: "Use a virtual network to secure inbound or outbound traffic for Azure API Management",
    // https://learn.microsoft.com/azure/api-management/virtual-network-concepts; "Azure API Management v2 tiers" FAQ).
    const v2 = V2_SKUS.some((t) => t.toLowerCase() === skuOf(s).toLowerCase());
    const isolating = v2 ? /^Internal$/i : /^(External|Internal)$/i;
    // Either setting alone isolates the service, so a known one decides even when the other is an expression.
    if (!isExpression(vnet) && isolating.test(vnetType)) return [{ resourceId: s.service.id, status: "pass", message: `Deployed in a virtual network (${vnetType}).` }];
    if (!isExpression(pna) && /^Disabled$/i.test(str(pna) ?? "")) return [{ resourceId: s.service.id, status: "pass", message: "Public network access is disabled." }];
    if (isExpression(pna) || isExpression(vnet)) return [{ resourceId: s.service.id, status: "unknown", message: "Network settings are template expressions." }];
    if (v2 && /^External$/i.test(vnetType)) {
      return [{ resourceId: s.service.id, status: "fail", message: `The ${skuOf(s)} service is integrated with a virtual network for outbound calls only (External); its gateway is still public and public network access is enabled.` }];
    }
    return [{ resourceId: s.service.id, status: "fail", message: "Public network access is enabled and the service is not in a virtual network." }];
  }
);
