import { rule } from "../../src/remediations/min-api-version.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const withMin = (minApiVersion: unknown) => snap({ service: service({ apiVersionConstraint: { minApiVersion } }) });

ruleTester(rule, {
  valid: [
    { name: "PSRule Azure.APIM.MinAPIVersion: exactly the default minimum 2021-08-01", snapshot: withMin("2021-08-01"), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /2021-08-01/ }] },
    { name: "PSRule Azure.APIM.MinAPIVersion: a newer version", snapshot: withMin("2022-08-01") },
    { name: "PSRule Azure.APIM.MinAPIVersion: 2021-08-01-preview counts (-preview dropped before comparing)", snapshot: withMin("2021-08-01-preview") },
    { name: "PSRule Azure.APIM.MinAPIVersion: a preview of a later date (2021-12-01-preview)", snapshot: withMin("2021-12-01-preview") },
    { name: "PascalCase Properties.ApiVersionConstraint.MinApiVersion", snapshot: snap({ service: pascal(service({ apiVersionConstraint: { minApiVersion: "2022-08-01" } })) }) },
    { name: "a configured minimum that is met", snapshot: withMin("2022-08-01"), options: { minApiVersion: "2022-04-01-preview" } },
    { name: "a configured preview minimum met by its GA", snapshot: withMin("2021-08-01"), options: { minApiVersion: "2021-08-01-preview" } },
    { name: "beyond Policy 549814b6: a configured older minimum (2019-12-01) is honoured", snapshot: withMin("2019-12-01"), options: { minApiVersion: "2019-12-01" } },
    { name: "a v2 tier is evaluated (no SKU condition, as Policy 549814b6 excludes only Consumption)", snapshot: snap({ service: service({ apiVersionConstraint: { minApiVersion: "2024-05-01" } }, sku("StandardV2")) }) },
  ],
  invalid: [
    { name: "PSRule Azure.APIM.MinAPIVersion: no apiVersionConstraint", snapshot: snap(), expect: [{ resourceId: SERVICE_ID, status: "fail", message: /No minimum API version is set.*2021-08-01/ }] },
    { name: "an empty apiVersionConstraint", snapshot: snap({ service: service({ apiVersionConstraint: {} }) }), expect: [{ status: "fail", message: /No minimum/ }] },
    { name: "an empty minApiVersion", snapshot: withMin(""), expect: [{ status: "fail" }] },
    // Policy 549814b6 (deprecated) accepted 2019-12-01; those versions are retired, PSRule's default is 2021-08-01
    { name: "PSRule Azure.APIM.MinAPIVersion: 2019-12-01 is older than the default 2021-08-01 (Policy 549814b6 passed it)", snapshot: withMin("2019-12-01"), expect: [{ status: "fail", message: /2019-12-01 is older than 2021-08-01/ }] },
    { name: "PSRule Azure.APIM.MinAPIVersion: 2021-04-01-preview is older than 2021-08-01", snapshot: withMin("2021-04-01-preview"), expect: [{ status: "fail", message: /2021-04-01-preview is older than 2021-08-01/ }] },
    { name: "PascalCase with an older version", snapshot: snap({ service: pascal(service({ apiVersionConstraint: { minApiVersion: "2018-01-01" } })) }), expect: [{ status: "fail" }] },
    { name: "a configured minimum that is not met", snapshot: withMin("2021-08-01"), options: { minApiVersion: "2022-08-01" }, expect: [{ status: "fail", message: /older than 2022-08-01/ }] },
    { name: "a version that is not an API version", snapshot: withMin("latest"), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "Policy 549814b6: sku.name notEquals Consumption (Consumption is not judged)", snapshot: snap({ service: consumption() }) },
    { name: "children-only input (service not in the input)", snapshot: stub() },
  ],
  unknown: [
    { name: "minApiVersion is a template expression", snapshot: withMin(EXPR), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expression/ }] },
    { name: "apiVersionConstraint is a template expression", snapshot: snap({ service: service({ apiVersionConstraint: EXPR }) }) },
  ],
});
