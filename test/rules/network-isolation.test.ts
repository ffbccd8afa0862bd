import { rule } from "../../src/remediations/network-isolation.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "Policy ef619a2c: virtualNetworkType External (not None) passes", snapshot: snap({ service: service({ virtualNetworkType: "External" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /virtual network \(External\)/ }] },
    { name: "Internal virtual network", snapshot: snap({ service: service({ virtualNetworkType: "Internal", publicNetworkAccess: "Enabled" }) }), expect: [{ status: "pass", message: /Internal/ }] },
    { name: "public network access Disabled", snapshot: snap({ service: service({ publicNetworkAccess: "Disabled", virtualNetworkType: "None" }) }), expect: [{ status: "pass", message: /Public network access is disabled/ }] },
    { name: "values in other cases", snapshot: snap({ service: service({ publicNetworkAccess: "disabled" }) }) },
    { name: "INTERNAL in upper case", snapshot: snap({ service: service({ virtualNetworkType: "INTERNAL" }) }) },
    { name: "PascalCase Properties.VirtualNetworkType", snapshot: snap({ service: pascal(service({ virtualNetworkType: "External" })) }) },
    { name: "Internal virtual network, public access a template expression", snapshot: snap({ service: service({ virtualNetworkType: "Internal", publicNetworkAccess: EXPR }) }) },
    { name: "public access Disabled, virtual network type a template expression", snapshot: snap({ service: service({ virtualNetworkType: EXPR, publicNetworkAccess: "Disabled" }) }) },
    { name: "a Premium service in a virtual network", snapshot: snap({ service: service({ virtualNetworkType: "Internal" }, sku("Premium")) }) },
    { name: "a Basic service behind a private endpoint", snapshot: snap({ service: service({ publicNetworkAccess: "Disabled" }, sku("Basic")) }) },
    { name: "a Premium v2 service injected in a virtual network (Internal)", snapshot: snap({ service: service({ virtualNetworkType: "Internal" }, sku("PremiumV2")) }), expect: [{ status: "pass", message: /Internal/ }] },
    { name: "Checkov CKV_AZURE_174: a Standard v2 service integrated outbound, public access Disabled (private endpoint)", snapshot: snap({ service: service({ virtualNetworkType: "External", publicNetworkAccess: "Disabled" }, sku("StandardV2")) }), expect: [{ status: "pass", message: /Public network access is disabled/ }] },
    { name: "a Premium v2 service behind a private endpoint", snapshot: snap({ service: service({ publicNetworkAccess: "Disabled" }, sku("PremiumV2")) }) },
  ],
  invalid: [
    { name: "public access Enabled, no virtual network", snapshot: snap({ service: service({ publicNetworkAccess: "Enabled", virtualNetworkType: "None" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /not in a virtual network/ }] },
    { name: "nothing set (ARM defaults: Enabled, None)", snapshot: snap(), expect: [{ status: "fail" }] },
    { name: "PascalCase, upper case values", snapshot: snap({ service: pascal(service({ publicNetworkAccess: "ENABLED", virtualNetworkType: "NONE" })) }), expect: [{ status: "fail" }] },
    { name: "a Standard v2 service without isolation", snapshot: snap({ service: service({}, sku("StandardV2")) }), expect: [{ status: "fail" }] },
    { name: "beyond Policy ef619a2c (evaluates Developer and Premium by default): a Basic service without isolation", snapshot: snap({ service: service({}, sku("Basic")) }), expect: [{ status: "fail" }] },
    // v2 outbound integration leaves the gateway public (Learn: virtual network concepts, "Virtual network integration (v2 tiers)")
    {
      name: "beyond Checkov CKV_AZURE_107 (a subnet is enough there): a Standard v2 service integrated outbound (External + subnet) is still public",
      snapshot: snap({ service: service({ virtualNetworkType: "External", virtualNetworkConfiguration: { subnetResourceId: `${SERVICE_ID}-vnet/subnets/apim` } }, sku("StandardV2")) }),
      count: 1,
      expect: [{ resourceId: SERVICE_ID, status: "fail", message: /StandardV2 service is integrated with a virtual network for outbound calls only \(External\); its gateway is still public/ }],
    },
    { name: "a Premium v2 service integrated outbound (External) is still public", snapshot: snap({ service: service({ virtualNetworkType: "External", publicNetworkAccess: "Enabled" }, sku("PremiumV2")) }), expect: [{ status: "fail", message: /outbound calls only/ }] },
    { name: "a Standard v2 service integrated outbound, tier and value in other cases", snapshot: snap({ service: pascal(service({ virtualNetworkType: "external" }, { sku: { name: "standardv2", capacity: 1 } })) }), expect: [{ status: "fail", message: /outbound calls only/ }] },
    { name: "a Standard v2 service with a subnet but virtualNetworkType None", snapshot: snap({ service: service({ virtualNetworkType: "None", virtualNetworkConfiguration: { subnetResourceId: `${SERVICE_ID}-vnet/subnets/apim` } }, sku("StandardV2")) }), expect: [{ status: "fail", message: /not in a virtual network/ }] },
    { name: "azqr apim-004 would pass a private endpoint connection; public access still Enabled fails", snapshot: snap({ service: service({ publicNetworkAccess: "Enabled", privateEndpointConnections: [{ id: `${SERVICE_ID}/privateEndpointConnections/pe1` }] }, sku("Premium")) }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "a Consumption service", snapshot: snap({ service: consumption({ publicNetworkAccess: "Enabled" }) }) },
    { name: "a Consumption service, SKU in lower case", snapshot: snap({ service: service({}, { sku: { name: "consumption", capacity: 0 } }) }) },
    { name: "a Consumption service, PascalCase Sku.Name", snapshot: snap({ service: pascal(consumption()) }) },
    // Basic v2 offers neither a virtual network nor inbound private endpoints (Learn: feature-based comparison of the tiers)
    { name: "a Basic v2 service", snapshot: snap({ service: service({ publicNetworkAccess: "Enabled" }, sku("BasicV2")) }) },
    { name: "children-only input (the service is not in the input)", snapshot: stub() },
  ],
  unknown: [
    { name: "public access is a template expression, no virtual network", snapshot: snap({ service: service({ publicNetworkAccess: EXPR }) }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expressions/ }] },
    { name: "virtual network type is a template expression, public access Enabled", snapshot: snap({ service: service({ virtualNetworkType: "[parameters('vnetType')]", publicNetworkAccess: "Enabled" }) }) },
    { name: "a Standard v2 service integrated outbound, public access a template expression", snapshot: snap({ service: service({ virtualNetworkType: "External", publicNetworkAccess: EXPR }, sku("StandardV2")) }) },
  ],
});
