import { rule } from "../../src/remediations/direct-management-endpoint-disabled.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, tenantAccess, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "beyond Policy df73bd95 (a missing access resource is non-compliant there): no access setting in the input (off by default)", snapshot: snap({ tenantAccess: [] }), expect: [{ resourceId: `${SERVICE_ID}/tenant/access`, status: "pass", message: /disabled by default/ }] },
    { name: "Policy df73bd95 (endpointType Management): access enabled equals false", snapshot: snap({ tenantAccess: [tenantAccess("access", false)] }), count: 1, expect: [{ resourceId: "tenant/access", status: "pass" }] },
    { name: "enabled: \"false\"", snapshot: snap({ tenantAccess: [tenantAccess("access", "false")] }) },
    { name: "PascalCase Properties.Enabled \"False\"", snapshot: snap({ tenantAccess: [pascal(tenantAccess("access", "False"))] }) },
    { name: "Policy b741306c (enabled equals true is false): enabled absent on the setting passes; df73bd95 fails it", snapshot: snap({ tenantAccess: [tenantAccess("access", undefined)] }) },
    { name: "beyond Policy b741306c (no name condition): an enabled gitAccess is the Git rule's finding, access passes", snapshot: snap({ tenantAccess: [tenantAccess("access", false), tenantAccess("gitAccess", true)] }), count: 1, expect: [{ resourceId: "tenant/access", status: "pass" }] },
    { name: "a Premium service", snapshot: snap({ service: service({}, sku("Premium")), tenantAccess: [tenantAccess("access", false)] }) },
    { name: "an Isolated service", snapshot: snap({ service: service({}, sku("Isolated")), tenantAccess: [tenantAccess("access", false)] }) },
  ],
  invalid: [
    { name: "Policy b741306c: tenant/access enabled equals true -> fail", snapshot: snap({ tenantAccess: [tenantAccess("access", true)] }), count: 1, expect: [{ resourceId: "tenant/access", status: "fail", message: /direct management API of 'apim1' is enabled/ }] },
    { name: "enabled: \"True\"", snapshot: snap({ tenantAccess: [tenantAccess("access", "True")] }), expect: [{ resourceId: "tenant/access", status: "fail" }] },
    { name: "PascalCase Properties.Enabled true", snapshot: snap({ tenantAccess: [pascal(tenantAccess("access", true))] }), expect: [{ status: "fail" }] },
    { name: "template-style name 'apim1/access'", snapshot: snap({ tenantAccess: [tenantAccess("access", true, { name: "apim1/access" })] }), expect: [{ resourceId: "tenant/access", status: "fail" }] },
    { name: "both endpoints enabled", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", true), tenantAccess("access", true)] }), count: 1, expect: [{ resourceId: "tenant/access", status: "fail" }] },
  ],
  notApplicable: [
    { name: "Policy df73bd95: sku.name notEquals Consumption (Consumption is not judged)", snapshot: snap({ service: consumption(), tenantAccess: [tenantAccess("access", true)] }) },
    { name: "Consumption SKU spelled in lower case", snapshot: snap({ service: service({}, sku("consumption")), tenantAccess: [tenantAccess("access", true)] }) },
    // no direct management API on the v2 tiers: their tenant endpoints answer 400 MethodNotAllowedInPricingTier
    ...["BasicV2", "StandardV2", "PremiumV2"].map((name) => ({ name: `beyond Policy df73bd95 (excludes Consumption only): ${name} SKU, tenant access unreadable`, snapshot: snap({ service: service({}, sku(name)), needs: ["service"], failed: new Map([["tenantAccess", "ARM answered 400 MethodNotAllowedInPricingTier"]]) }) })),
    { name: "Consumption SKU, tenant access unreadable", snapshot: snap({ service: consumption(), needs: ["service"], failed: new Map([["tenantAccess", "ARM answered 400 MethodNotAllowedInPricingTier"]]) }) },
    { name: "children-only input (service not in the input)", snapshot: stub({ tenantAccess: [tenantAccess("access", true)] }) },
  ],
  unknown: [
    { name: "enabled is a template expression", snapshot: snap({ tenantAccess: [tenantAccess("access", EXPR)] }), expect: [{ resourceId: "tenant/access", status: "unknown", message: /template expression/ }] },
    { name: "tenant access was not collected", snapshot: snap({ needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /tenantAccess/ }] },
    {
      name: "reading tenant access failed for good on a tier that has it",
      snapshot: snap({ service: service({}, sku("Standard")), needs: ["service"], failed: new Map([["tenantAccess", "ARM answered 405 MethodNotAllowed (not here)"]]) }),
      count: 1,
      expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /^Not evaluated: the tenantAccess data could not be read: ARM answered 405 MethodNotAllowed \(not here\)\.$/ }],
    },
  ],
});
