import { rule } from "../../src/remediations/unused-api.js";
import { SERVICE_ID, api, consumption, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "an API with traffic", snapshot: snap({ apis: [api("echo")], requestsByApi: { echo: 42 } }), count: 1, expect: [{ resourceId: "apis/echo", status: "pass", message: /served 42 request\(s\) in the last 30 days/ }] },
    { name: "the look-back window from options", snapshot: snap({ apis: [api("echo")], requestsByApi: { echo: 1 } }), options: { unusedDays: 7 }, expect: [{ status: "pass", message: /last 7 days/ }] },
    { name: "mixed-case API name, lowercase metric keys, PascalCase properties", snapshot: snap({ apis: [pascal(api("Echo-API"))], requestsByApi: { "echo-api": 3 } }), expect: [{ resourceId: "apis/echo-api", status: "pass", message: /'Echo-API'/ }] },
    { name: "only the current revision is evaluated", snapshot: snap({ apis: [api("echo"), api("echo;rev=2")], requestsByApi: { echo: 5 } }), count: 1 },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), apis: [api("echo")], requestsByApi: { echo: 1 } }) },
    { name: "children-only input", snapshot: stub({ apis: [api("echo")], requestsByApi: { echo: 1 } }) },
  ],
  invalid: [
    { name: "zero requests", snapshot: snap({ apis: [api("echo")], requestsByApi: { echo: 0 } }), count: 1, expect: [{ resourceId: `${SERVICE_ID}/apis/echo`, status: "fail", message: /API 'echo' had no requests in the last 30 days/ }] },
    { name: "absent from the metrics", snapshot: snap({ apis: [api("echo")], requestsByApi: {} }), expect: [{ status: "fail" }] },
    { name: "the look-back window from options", snapshot: snap({ apis: [api("echo")], requestsByApi: {} }), options: { unusedDays: 90 }, expect: [{ status: "fail", message: /last 90 days/ }] },
    { name: "one unused API among used ones", snapshot: snap({ apis: [api("a"), api("b"), api("c")], requestsByApi: { a: 10, c: 1 } }), count: 3, expect: [{ resourceId: "apis/a", status: "pass" }, { resourceId: "apis/b", status: "fail" }, { resourceId: "apis/c", status: "pass" }] },
    { name: "traffic on a similarly named API only", snapshot: snap({ apis: [api("echo")], requestsByApi: { "echo-v2": 100 } }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "no APIs", snapshot: snap({ requestsByApi: {} }) },
    { name: "only a non-current revision", snapshot: snap({ apis: [api("echo;rev=2")], requestsByApi: {} }) },
  ],
  unknown: [
    { name: "metrics unavailable (no access)", snapshot: snap({ apis: [api("echo"), api("other")] }), count: 2, expect: [{ resourceId: "apis/echo", status: "unknown", message: /metrics are not available/ }] },
    { name: "metrics were not collected (offline input)", snapshot: snap({ apis: [api("echo")], needs: ["apis"] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /metrics/ }] },
  ],
});
