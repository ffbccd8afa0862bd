import { rule } from "../../src/remediations/git-configuration-endpoint-disabled.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, tenantAccess, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "Policy df73bd95 (endpointType Git): gitaccess enabled equals false", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", false)] }), count: 1, expect: [{ resourceId: "tenant/gitAccess", status: "pass" }] },
    { name: "enabled: \"false\"", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", "false")] }) },
    { name: "PascalCase Properties.Enabled \"False\"", snapshot: snap({ tenantAccess: [pascal(tenantAccess("gitAccess", "False"))] }) },
    { name: "only the direct management API is enabled", snapshot: snap({ tenantAccess: [tenantAccess("access", true), tenantAccess("gitAccess", false)] }), count: 1, expect: [{ resourceId: "tenant/gitAccess", status: "pass" }] },
  ],
  invalid: [
    { name: "Policy b741306c (any tenant resource) / df73bd95 (endpointType Git): gitAccess enabled true -> fail", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", true)] }), count: 1, expect: [{ resourceId: "tenant/gitAccess", status: "fail", message: /Git configuration endpoint of 'apim1' is enabled/ }] },
    { name: "enabled: \"True\"", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", "True")] }), expect: [{ status: "fail" }] },
    { name: "PascalCase Properties.Enabled true", snapshot: snap({ tenantAccess: [pascal(tenantAccess("gitAccess", true))] }), expect: [{ status: "fail" }] },
    { name: "name spelled 'GitAccess'", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", true, { name: "GitAccess" })] }), expect: [{ resourceId: "tenant/gitAccess", status: "fail" }] },
    { name: "a Standard service", snapshot: snap({ service: service({}, sku("Standard")), tenantAccess: [tenantAccess("gitAccess", true)] }), expect: [{ status: "fail" }] },
    ...["Developer", "Basic", "Premium", "Isolated"].map((name) => ({ name: `a ${name} service`, snapshot: snap({ service: service({}, sku(name)), tenantAccess: [tenantAccess("gitAccess", true)] }), expect: [{ status: "fail" as const }] })),
  ],
  notApplicable: [
    { name: "Policy df73bd95: sku.name notEquals Consumption (Consumption is not judged)", snapshot: snap({ service: consumption(), tenantAccess: [tenantAccess("gitAccess", true)] }) },
    // the v2 tiers have no Git configuration repository; their tenant endpoints answer 400 MethodNotAllowedInPricingTier
    ...["BasicV2", "StandardV2", "PremiumV2", "standardv2"].map((name) => ({ name: `beyond Policy df73bd95 (excludes Consumption only): ${name} SKU, gitAccess unreadable`, snapshot: snap({ service: service({}, sku(name)), needs: ["service"], failed: new Map([["gitAccess", "ARM answered 400 MethodNotAllowedInPricingTier"]]) }) })),
    { name: "children-only input (service not in the input)", snapshot: stub({ tenantAccess: [tenantAccess("gitAccess", true)] }) },
  ],
  unknown: [
    { name: "enabled is a template expression", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", EXPR)] }), expect: [{ resourceId: "tenant/gitAccess", status: "unknown", message: /template expression/ }] },
    { name: "gitAccess was not collected", snapshot: snap({ needs: ["service"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /no gitAccess data/ }] },
    // the tenant list answers `access` only: gitAccess is read by name, and none read is not a pass
    { name: "beyond Policy df73bd95 (a missing gitaccess resource is non-compliant there): no gitAccess setting read -> unknown", snapshot: snap({ tenantAccess: [] }), count: 1, expect: [{ resourceId: `${SERVICE_ID}/tenant/gitAccess`, status: "unknown", message: /no 'gitAccess' setting was read/ }] },
    { name: "only an access setting was read, and it is enabled", snapshot: snap({ tenantAccess: [tenantAccess("access", true)] }), count: 1, expect: [{ resourceId: "tenant/gitAccess", status: "unknown" }] },
    {
      name: "reading gitAccess failed for good (a Developer service answering 404)",
      snapshot: snap({ needs: ["service"], failed: new Map([["gitAccess", "ARM answered 404 ResourceNotFound (AccessInformation not found.)"]]) }),
      count: 1,
      expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /^Not evaluated: the gitAccess data could not be read: ARM answered 404 ResourceNotFound/ }],
    },
  ],
});
