import { isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";
import { privateEndpointStatuses } from "./utils/network.js";

export const rule = defineRule(
  {
    id: "public-network-access-disabled",
    title: "The gateway is reached only privately (public network access disabled)",
    severity: "medium",
    description: "`publicNetworkAccess` is `Disabled` and at least one private endpoint connection is `Approved`, or the service is deployed in a virtual network in Internal mode.",
    rationale: "A gateway with public network access accepts calls from the whole internet; with a private endpoint and public access disabled (or Internal virtual network mode) only clients on your private network reach it.",
    defaultAction: "ticket",
    target: "service",
    references: {
      baseline: "NS-2: Secure cloud services with network controls",
      links: ["https://learn.microsoft.com/azure/api-management/private-endpoint", "https://learn.microsoft.com/azure/api-management/api-management-using-with-internal-vnet"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/write"],
    // Inbound private endpoints: Developer, Basic, Standard, Premium, Standard v2, Premium v2 (Learn "Connect privately
    // to API Management by using an inbound private endpoint", availability); neither they nor Internal mode exist on
    // Consumption or Basic v2 (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption", "BasicV2"],
  },
  (s) => {
    const id = s.service.id;
    const vnet = pick(s.service, "properties.virtualNetworkType");
    const pna = pick(s.service, "properties.publicNetworkAccess");
    const vnetType = str(vnet) ?? "None";
    const statuses = privateEndpointStatuses(s);
    const approved = statuses.filter((x) => /^Approved$/i.test(x)).length;
    const connections = statuses.length === 0 ? "no private endpoint connection" : `${statuses.length} private endpoint connection(s), ${approved} approved`;
    if (!isExpression(vnet) && /^Internal$/i.test(vnetType)) {
      // Learn: public network access can be disabled only with private endpoints, which the classic tiers do not support
      // in an injected instance; Internal mode keeps the gateway off the internet on its own.
      return [{ resourceId: id, status: "pass", message: "Deployed in a virtual network in Internal mode: the gateway has no public endpoint (publicNetworkAccess applies to private-endpoint setups only)." }];
    }
    if (isExpression(pna) || (isExpression(vnet) && !/^Disabled$/i.test(str(pna) ?? ""))) return [{ resourceId: id, status: "unknown", message: "Network settings are template expressions." }];
    if (/^Disabled$/i.test(str(pna) ?? "")) {
      if (approved > 0) return [{ resourceId: id, status: "pass", message: `Public network access is disabled; ${connections}.` }];
      if (statuses.length > 0) return [{ resourceId: id, status: "fail", message: `Public network access is disabled but no private endpoint connection is approved (${statuses.map((x) => x || "no status").join(", ")}): nothing can reach the gateway until one is approved.` }];
      return [{ resourceId: id, status: "unknown", message: "Public network access is disabled, but the input lists no private endpoint connection (ARM lists them on the service; a template declares the private endpoint as a separate Microsoft.Network/privateEndpoints resource)." }];
    }
    const where = /^External$/i.test(vnetType)
      ? "the service is in a virtual network in External mode, whose gateway is public (use Internal mode: the classic tiers support no private endpoint in an injected instance)"
      : `the gateway accepts calls from the internet (${connections}${approved > 0 ? ", but the public endpoint stays open" : ""}); add a private endpoint, then set publicNetworkAccess to Disabled`;
    return [{ resourceId: id, status: "fail", message: `Public network access is ${str(pna) ?? "Enabled (the default)"}: ${where}.` }];
  },
);
