import { rule } from "../../src/remediations/zone-redundancy.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const premium = (capacity: number, zones?: unknown, props: Record<string, unknown> = {}) => service(props, { sku: { name: "Premium", capacity }, ...(zones === undefined ? {} : { zones }) } as never);
const v2 = (name: string, capacity: number, zones?: unknown) => service({}, { sku: { name, capacity }, ...(zones === undefined ? {} : { zones }) } as never);
const location = (name: string, capacity: number, zones?: string[]) => ({ location: name, sku: { name: "Premium", capacity }, ...(zones ? { zones } : {}) });

ruleTester(rule, {
  valid: [
    { name: "Policy 42daa904: Premium with two zones -> compliant; PSRule Azure.APIM.AvailabilityZone: capacity >= zones", snapshot: snap({ service: premium(2, ["1", "2"]) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /2 unit\(s\) across zones 1, 2/ }] },
    { name: "Policy 42daa904: Premium with three zones and three units", snapshot: snap({ service: premium(3, ["1", "2", "3"]) }) },
    { name: "PSRule Azure.APIM.AvailabilityZone: additional locations with zones too", snapshot: snap({ service: premium(3, ["1", "2", "3"], { additionalLocations: [location("northeurope", 2, ["1", "2"])] }) }), expect: [{ status: "pass", message: /additional location northeurope: 2 unit\(s\) across zones 1, 2/ }] },
    { name: "beyond Policy 42daa904: Premium v2 with zones passes (Learn: Standard v2 and Premium v2 support zones)", snapshot: snap({ service: v2("PremiumV2", 3, ["1", "2", "3"]) }) },
    { name: "PascalCase export", snapshot: snap({ service: pascal(premium(2, ["1", "2"])) }) },
  ],
  invalid: [
    { name: "Policy 42daa904: not Premium (Developer) -> non-compliant", snapshot: snap({ service: service() }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /Developer tier has no availability zones/ }] },
    { name: "Policy 42daa904: Standard -> non-compliant", snapshot: snap({ service: service({}, { sku: { name: "Standard", capacity: 2 } }) }), expect: [{ status: "fail" }] },
    { name: "Policy 42daa904: Consumption -> non-compliant", snapshot: snap({ service: consumption() }), expect: [{ status: "fail" }] },
    { name: "Policy 42daa904: Premium with one zone (count < 2) -> non-compliant", snapshot: snap({ service: premium(1, ["2"]) }), expect: [{ status: "fail", message: /zonal, pinned to zone 2/ }] },
    { name: "PSRule Azure.APIM.AvailabilityZone: fewer units than zones -> fail", snapshot: snap({ service: premium(2, ["1", "2", "3"]) }), expect: [{ status: "fail", message: /2 unit\(s\) across 3 zones/ }] },
    { name: "beyond Policy 42daa904 (PSRule Azure.APIM.AvailabilityZone): an additional location in one zone fails", snapshot: snap({ service: premium(3, ["1", "2", "3"], { additionalLocations: [location("northeurope", 1, ["1"])] }) }), expect: [{ status: "fail", message: /additional location northeurope: zonal/ }] },
    { name: "beyond PSRule Azure.APIM.AvailabilityZone: a Standard v2 service created without zones fails (not automatic on v2)", snapshot: snap({ service: v2("StandardV2", 1) }), expect: [{ status: "fail", message: /not automatic/ }] },
  ],
  notApplicable: [{ name: "children-only input", snapshot: stub() }],
  unknown: [
    // Learn (Reliability in API Management): automatic availability zone support when no zones are given, in regions with zones
    { name: "beyond Policy 42daa904: Premium without zones may be automatically zone redundant -> unknown, not fail", snapshot: snap({ service: premium(3) }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /automatic availability zone support/ }] },
    { name: "zones are a template expression", snapshot: snap({ service: premium(2, EXPR) }) },
    { name: "the SKU is a template expression", snapshot: snap({ service: service({}, { sku: { name: EXPR, capacity: 1 } }) }) },
  ],
});
