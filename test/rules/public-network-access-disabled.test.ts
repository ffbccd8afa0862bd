import { rule } from "../../src/remediations/public-network-access-disabled.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

/** A private endpoint connection as ARM lists it on the service (`properties.privateEndpointConnections[]`). */
const pe = (status: string, name = "pe1") => ({
  id: `${SERVICE_ID}/privateEndpointConnections/${name}`,
  name,
  type: "Microsoft.ApiManagement/service/privateEndpointConnections",
  properties: { privateEndpoint: { id: `/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/${name}` }, privateLinkServiceConnectionState: { status, description: "", actionsRequired: "None" } },
});

ruleTester(rule, {
  valid: [
    {
      name: "Checkov CKV_AZURE_174: publicNetworkAccess Disabled -> pass (with an approved private endpoint, as azqr apim-004 wants one)",
      snapshot: snap({ service: service({ publicNetworkAccess: "Disabled", privateEndpointConnections: [pe("Approved")] }) }),
      count: 1,
      expect: [{ resourceId: SERVICE_ID, status: "pass", message: /disabled; 1 private endpoint connection\(s\), 1 approved/ }],
    },
    { name: "azqr apim-004: one approved among pending and rejected connections", snapshot: snap({ service: service({ publicNetworkAccess: "disabled", privateEndpointConnections: [pe("Pending", "a"), pe("Approved", "b"), pe("Rejected", "c")] }) }) },
    { name: "beyond Checkov CKV_AZURE_174: Internal virtual network mode has no public gateway (public access cannot be disabled there)", snapshot: snap({ service: service({ virtualNetworkType: "Internal", publicNetworkAccess: "Enabled" }, sku("Premium")) }), expect: [{ status: "pass", message: /Internal mode/ }] },
    { name: "Internal mode decides even when public access is a template expression", snapshot: snap({ service: service({ virtualNetworkType: "Internal", publicNetworkAccess: EXPR }) }) },
    { name: "PascalCase export", snapshot: snap({ service: pascal(service({ publicNetworkAccess: "Disabled", privateEndpointConnections: [pe("Approved")] }, sku("StandardV2"))) }) },
  ],
  invalid: [
    { name: "Checkov CKV_AZURE_174: publicNetworkAccess Enabled -> fail", snapshot: snap({ service: service({ publicNetworkAccess: "Enabled" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /accepts calls from the internet.*add a private endpoint/ }] },
    { name: "Checkov CKV_AZURE_174: publicNetworkAccess absent -> fail (ARM default Enabled)", snapshot: snap(), expect: [{ status: "fail", message: /Enabled \(the default\)/ }] },
    { name: "beyond azqr apim-004: an approved private endpoint with public access still enabled fails", snapshot: snap({ service: service({ publicNetworkAccess: "Enabled", privateEndpointConnections: [pe("Approved")] }) }), expect: [{ status: "fail", message: /public endpoint stays open/ }] },
    { name: "beyond azqr apim-004: only pending or rejected connections with public access disabled fail (nothing reaches the gateway)", snapshot: snap({ service: service({ publicNetworkAccess: "Disabled", privateEndpointConnections: [pe("Pending", "a"), pe("Rejected", "b")] }) }), expect: [{ status: "fail", message: /no private endpoint connection is approved \(Pending, Rejected\)/ }] },
    { name: "Checkov CKV_AZURE_174: External virtual network mode keeps the gateway public -> fail", snapshot: snap({ service: service({ virtualNetworkType: "External", publicNetworkAccess: "Enabled" }, sku("Premium")) }), expect: [{ status: "fail", message: /External mode, whose gateway is public/ }] },
    { name: "a Standard v2 service with outbound virtual network integration only", snapshot: snap({ service: service({ virtualNetworkType: "External" }, sku("StandardV2")) }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    // Learn "Connect privately to API Management by using an inbound private endpoint": not on Consumption or Basic v2
    { name: "a Consumption service", snapshot: snap({ service: consumption() }) },
    { name: "a Basic v2 service", snapshot: snap({ service: service({}, sku("BasicV2")) }) },
    { name: "children-only input", snapshot: stub() },
  ],
  unknown: [
    { name: "public network access is a template expression", snapshot: snap({ service: service({ publicNetworkAccess: EXPR }) }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expressions/ }] },
    { name: "virtual network type is a template expression, public access Enabled", snapshot: snap({ service: service({ virtualNetworkType: EXPR, publicNetworkAccess: "Enabled" }) }) },
    { name: "public access Disabled in a template that declares the private endpoint separately", snapshot: snap({ service: service({ publicNetworkAccess: "Disabled" }) }), expect: [{ status: "unknown", message: /lists no private endpoint connection/ }] },
  ],
});
