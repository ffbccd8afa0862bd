import { isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";

export const rule = defineRule(
  {
    id: "network-isolation",
    title: "The service is isolated from the public network",
    severity: "medium",
    description: "`publicNetworkAccess` is `Disabled` (private endpoints) or the service is deployed in a virtual network (`virtualNetworkType` External or Internal).",
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
    // Either setting alone isolates the service, so a known one decides even when the other is an expression.
    if (!isExpression(vnet) && /^(External|Internal)$/i.test(vnetType)) return [{ resourceId: s.service.id, status: "pass", message: `Deployed in a virtual network (${vnetType}).` }];
    if (!isExpression(pna) && /^Disabled$/i.test(str(pna) ?? "")) return [{ resourceId: s.service.id, status: "pass", message: "Public network access is disabled." }];
    if (isExpression(pna) || isExpression(vnet)) return [{ resourceId: s.service.id, status: "unknown", message: "Network settings are template expressions." }];
    return [{ resourceId: s.service.id, status: "fail", message: "Public network access is enabled and the service is not in a virtual network." }];
  },
);
