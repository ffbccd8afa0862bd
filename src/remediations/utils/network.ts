/**
 * Whether a service's gateway is reachable from the internet, read from the service resource alone
 * (`properties.virtualNetworkType`, `properties.publicNetworkAccess`), so the network rules
 * (public-network-access-disabled, waf-in-front, ip-filter) agree with each other and with
 * network-isolation on what "public" means.
 *
 * Microsoft Learn:
 * - "Deploy your Azure API Management instance to a virtual network - internal mode": in Internal mode
 *   the gateway, portal and management endpoints are reachable only from the virtual network.
 * - "Connect privately to API Management by using an inbound private endpoint": public network access
 *   can be disabled only in instances configured with a private endpoint ("not with other networking
 *   configurations"); with it disabled, calls from outside the private endpoint path get 403.
 * - External mode (and, on Standard v2, outbound virtual network integration) leaves the gateway public.
 */
import { arr, isExpression, pick, str } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";

export type Exposure =
  | { reach: "private"; why: string }
  | { reach: "public"; why: string }
  | { reach: "unknown"; why: string };

/** How the gateway is reached: `private` (Internal virtual network, or public network access disabled), `public`, or `unknown` (template expressions). */
export function gatewayExposure(s: ServiceSnapshot): Exposure {
  const vnet = pick(s.service, "properties.virtualNetworkType");
  const pna = pick(s.service, "properties.publicNetworkAccess");
  const vnetType = str(vnet) ?? "None";
  // Either setting alone keeps the gateway off the internet, so a known one decides even when the other is an expression.
  if (!isExpression(vnet) && /^Internal$/i.test(vnetType)) return { reach: "private", why: "the service is deployed in a virtual network in Internal mode" };
  if (!isExpression(pna) && /^Disabled$/i.test(str(pna) ?? "")) return { reach: "private", why: "public network access is disabled" };
  if (isExpression(vnet) || isExpression(pna)) return { reach: "unknown", why: "the network settings are template expressions" };
  const where = /^External$/i.test(vnetType) ? "deployed in a virtual network in External mode" : "not deployed in a virtual network";
  return { reach: "public", why: `the gateway is public: ${where}, public network access ${str(pna) ?? "Enabled (the default)"}` };
}

/** The service's private endpoint connections by status (`properties.privateEndpointConnections[].properties.privateLinkServiceConnectionState.status`). */
export function privateEndpointStatuses(s: ServiceSnapshot): string[] {
  return arr(pick(s.service, "properties.privateEndpointConnections")).map((c) => str(pick(c, "properties.privateLinkServiceConnectionState.status")) ?? str(pick(c, "privateLinkServiceConnectionState.status")) ?? "");
}
