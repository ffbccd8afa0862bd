import { rule } from "../../src/remediations/sku-supports-vnet.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "Policy 73ef9241: Developer is in the default listOfAllowedSKUs -> compliant", snapshot: snap({ service: service() }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /Developer tier can be deployed into a virtual network/ }] },
    { name: "Policy 73ef9241: Premium -> compliant", snapshot: snap({ service: service({}, sku("Premium")) }) },
    { name: "Policy 73ef9241: Isolated -> compliant", snapshot: snap({ service: service({}, sku("Isolated")) }) },
    { name: "Policy 73ef9241: sku.name compared case-insensitively (premium)", snapshot: snap({ service: service({}, { sku: { name: "premium", capacity: 1 } }) }) },
    // Learn: Premium v2 supports virtual network injection; the policy's allowed values predate the v2 tiers
    { name: "beyond Policy 73ef9241: Premium v2 can be injected into a virtual network -> pass", snapshot: snap({ service: service({}, sku("PremiumV2")) }) },
    { name: "PascalCase Sku.Name", snapshot: snap({ service: pascal(service({}, sku("Premium"))) }) },
  ],
  invalid: [
    { name: "Policy 73ef9241: Basic is not in the default list -> non-compliant", snapshot: snap({ service: service({}, sku("Basic")) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /SKU Basic: the Basic tier cannot be deployed into a virtual network/ }] },
    { name: "Policy 73ef9241: Standard -> non-compliant", snapshot: snap({ service: service({}, sku("Standard")) }), expect: [{ status: "fail" }] },
    { name: "Policy 73ef9241: Consumption -> non-compliant", snapshot: snap({ service: consumption() }), expect: [{ status: "fail", message: /no virtual network support/ }] },
    { name: "Policy 73ef9241: Standard v2 (not in the list) -> non-compliant: outbound integration only", snapshot: snap({ service: service({ virtualNetworkType: "External" }, sku("StandardV2")) }), expect: [{ status: "fail", message: /outbound calls only/ }] },
    { name: "Policy 73ef9241: Basic v2 -> non-compliant", snapshot: snap({ service: service({}, sku("BasicV2")) }), expect: [{ status: "fail" }] },
    { name: "Policy 73ef9241: a tier name not in the list (a future tier) -> non-compliant", snapshot: snap({ service: service({}, sku("Starter")) }), expect: [{ status: "fail", message: /Starter tier is not one/ }] },
  ],
  notApplicable: [{ name: "children-only input", snapshot: stub() }],
  unknown: [
    { name: "the SKU is a template expression", snapshot: snap({ service: service({}, { sku: { name: EXPR, capacity: 1 } }) }), expect: [{ status: "unknown", message: /template expression/ }] },
    { name: "the input gives no SKU", snapshot: snap({ service: { ...service(), sku: undefined } }), expect: [{ status: "unknown", message: /no SKU/ }] },
  ],
});
