import { rule } from "../../src/remediations/platform-stv2.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "Policy 1dc2fc00: platformVersion stv2 (not equals stv1) passes", snapshot: snap({ service: service({ platformVersion: "stv2" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /Platform stv2/ }] },
    { name: "stv2.1", snapshot: snap({ service: service({ platformVersion: "stv2.1" }) }), expect: [{ status: "pass", message: /stv2\.1/ }] },
    { name: "STV2 in upper case", snapshot: snap({ service: service({ platformVersion: "STV2" }) }) },
    { name: "Policy 1dc2fc00: no platform version passes (a template for a new service)", snapshot: snap(), expect: [{ status: "pass", message: /No platform version/ }] },
    { name: "PascalCase Properties.PlatformVersion", snapshot: snap({ service: pascal(service({ platformVersion: "stv2" })) }) },
    { name: "a Premium service on stv2", snapshot: snap({ service: service({ platformVersion: "stv2" }, sku("Premium", 2)) }) },
    { name: "an Isolated service on stv2", snapshot: snap({ service: service({ platformVersion: "stv2" }, sku("Isolated")) }) },
  ],
  invalid: [
    { name: "Policy 1dc2fc00 / azqr apim-012: platformVersion equals stv1 -> fail", snapshot: snap({ service: service({ platformVersion: "stv1" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /retired stv1/ }] },
    { name: "Policy 1dc2fc00: equals is case-insensitive (STV1 fails)", snapshot: snap({ service: service({ platformVersion: "STV1" }) }), expect: [{ status: "fail" }] },
    { name: "PascalCase Properties.PlatformVersion stv1", snapshot: snap({ service: pascal(service({ platformVersion: "stv1" })) }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "Policy 1dc2fc00 passes mtv1: a Consumption service (mtv1) has nothing to migrate, no finding", snapshot: snap({ service: consumption({ platformVersion: "mtv1" }) }) },
    { name: "a Consumption service, SKU in lower case", snapshot: snap({ service: service({ platformVersion: "mtv1" }, { sku: { name: "consumption", capacity: 0 } }) }) },
    // stv1/stv2 are platforms of the classic dedicated tiers; the v2 tiers are unrelated to them (Learn: v2 tiers FAQ)
    ...["BasicV2", "StandardV2", "PremiumV2"].map((name) => ({ name: `a ${name} service`, snapshot: snap({ service: service({ platformVersion: "stv1" }, sku(name)) }) })),
    { name: "children-only input (the service is not in the input)", snapshot: stub() },
  ],
  unknown: [
    { name: "platform version is a template expression", snapshot: snap({ service: service({ platformVersion: EXPR }) }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expression/ }] },
  ],
});
