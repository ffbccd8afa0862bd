import { rule } from "../../src/remediations/min-api-version.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const withMin = (minApiVersion: unknown) => snap({ service: service({ apiVersionConstraint: { minApiVersion } }) });

ruleTester(rule, {
  valid: [
    { name: "exactly the default minimum", snapshot: withMin("2019-12-01"), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /2019-12-01/ }] },
    { name: "a newer version", snapshot: withMin("2021-08-01") },
    { name: "a preview of a later date", snapshot: withMin("2020-06-01-preview") },
    { name: "PascalCase Properties.ApiVersionConstraint.MinApiVersion", snapshot: snap({ service: pascal(service({ apiVersionConstraint: { minApiVersion: "2022-08-01" } })) }) },
    { name: "a configured minimum that is met", snapshot: withMin("2022-08-01"), options: { minApiVersion: "2021-08-01" } },
    { name: "a configured preview minimum met by its GA", snapshot: withMin("2021-08-01"), options: { minApiVersion: "2021-08-01-preview" } },
  ],
  invalid: [
    { name: "no apiVersionConstraint", snapshot: snap(), expect: [{ resourceId: SERVICE_ID, status: "fail", message: /No minimum API version is set.*2019-12-01/ }] },
    { name: "an empty apiVersionConstraint", snapshot: snap({ service: service({ apiVersionConstraint: {} }) }), expect: [{ status: "fail", message: /No minimum/ }] },
    { name: "an empty minApiVersion", snapshot: withMin(""), expect: [{ status: "fail" }] },
    { name: "an older version", snapshot: withMin("2019-01-01"), expect: [{ status: "fail", message: /2019-01-01 is older than 2019-12-01/ }] },
    { name: "the preview of the minimum date", snapshot: withMin("2019-12-01-preview"), expect: [{ status: "fail" }] },
    { name: "PascalCase with an older version", snapshot: snap({ service: pascal(service({ apiVersionConstraint: { minApiVersion: "2018-01-01" } })) }), expect: [{ status: "fail" }] },
    { name: "a configured minimum that is not met", snapshot: withMin("2019-12-01"), options: { minApiVersion: "2021-08-01" }, expect: [{ status: "fail", message: /older than 2021-08-01/ }] },
    { name: "a version that is not an API version", snapshot: withMin("latest"), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "Consumption SKU", snapshot: snap({ service: consumption() }) },
    { name: "children-only input (service not in the input)", snapshot: stub() },
  ],
  unknown: [
    { name: "minApiVersion is a template expression", snapshot: withMin(EXPR), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expression/ }] },
    { name: "apiVersionConstraint is a template expression", snapshot: snap({ service: service({ apiVersionConstraint: EXPR }) }) },
  ],
});
