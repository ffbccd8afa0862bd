import { rule } from "../../src/remediations/git-configuration-endpoint-disabled.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, tenantAccess, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "no gitAccess setting (disabled by default)", snapshot: snap({ tenantAccess: [] }), expect: [{ resourceId: `${SERVICE_ID}/tenant/gitAccess`, status: "pass", message: /disabled by default/ }] },
    { name: "enabled: false", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", false)] }), count: 1, expect: [{ resourceId: "tenant/gitAccess", status: "pass" }] },
    { name: "enabled: \"false\"", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", "false")] }) },
    { name: "PascalCase Properties.Enabled \"False\"", snapshot: snap({ tenantAccess: [pascal(tenantAccess("gitAccess", "False"))] }) },
    { name: "only the direct management API is enabled", snapshot: snap({ tenantAccess: [tenantAccess("access", true), tenantAccess("gitAccess", false)] }), count: 1, expect: [{ resourceId: "tenant/gitAccess", status: "pass" }] },
    { name: "only an access setting exists, and it is enabled", snapshot: snap({ tenantAccess: [tenantAccess("access", true)] }), expect: [{ resourceId: "tenant/gitAccess", status: "pass" }] },
  ],
  invalid: [
    { name: "enabled: true", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", true)] }), count: 1, expect: [{ resourceId: "tenant/gitAccess", status: "fail", message: /Git configuration endpoint of 'apim1' is enabled/ }] },
    { name: "enabled: \"True\"", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", "True")] }), expect: [{ status: "fail" }] },
    { name: "PascalCase Properties.Enabled true", snapshot: snap({ tenantAccess: [pascal(tenantAccess("gitAccess", true))] }), expect: [{ status: "fail" }] },
    { name: "name spelled 'GitAccess'", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", true, { name: "GitAccess" })] }), expect: [{ resourceId: "tenant/gitAccess", status: "fail" }] },
    { name: "a Standard service", snapshot: snap({ service: service({}, sku("Standard")), tenantAccess: [tenantAccess("gitAccess", true)] }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "Consumption SKU", snapshot: snap({ service: consumption(), tenantAccess: [tenantAccess("gitAccess", true)] }) },
    { name: "children-only input (service not in the input)", snapshot: stub({ tenantAccess: [tenantAccess("gitAccess", true)] }) },
  ],
  unknown: [
    { name: "enabled is a template expression", snapshot: snap({ tenantAccess: [tenantAccess("gitAccess", EXPR)] }), expect: [{ resourceId: "tenant/gitAccess", status: "unknown", message: /template expression/ }] },
    { name: "tenant access was not collected", snapshot: snap({ needs: ["service"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /tenantAccess/ }] },
  ],
});
