import { rule } from "../../src/remediations/unused-api.js";
import type { ArmResource } from "../../src/model/arm.js";
import type { DataNeed } from "../../src/model/snapshot.js";
import { ALL_NEEDS, SERVICE_ID, api, consumption, pascal, service, sku, snap as snapAll, stub as stubAll, ruleTester, type SnapParts } from "../helpers/rule-tester.js";

/** Every need, operations and the report by operation included. */
const NEEDS: DataNeed[] = [...new Set<DataNeed>([...ALL_NEEDS, "operations", "operationReports"])];
const snap = (parts: SnapParts = {}) => snapAll({ needs: NEEDS, ...parts });
const stub = (parts: SnapParts = {}) => stubAll({ needs: NEEDS, ...parts });

/** An operation of an API (ARM shape). */
const op = (apiName: string, name: string): ArmResource => ({ id: `${SERVICE_ID}/apis/${apiName}/operations/${name}`, name, type: "Microsoft.ApiManagement/service/apis/operations", properties: { displayName: name, method: "GET", urlTemplate: `/${name}` } });
/** `operations` of the snapshot: API name -> its operations. */
const ops = (apiName: string, ...names: string[]) => ({ [apiName.toLowerCase()]: names.map((n) => op(apiName, n)) });

ruleTester(rule, {
  valid: [
    { name: "an API with traffic", snapshot: snap({ apis: [api("echo")], requestsByApi: { echo: 42 } }), count: 1, expect: [{ resourceId: "apis/echo", status: "pass", message: /served 42 request\(s\) in the last 30 days/ }] },
    { name: "the look-back window from options", snapshot: snap({ apis: [api("echo")], requestsByApi: { echo: 1 } }), options: { unusedDays: 7 }, expect: [{ status: "pass", message: /last 7 days/ }] },
    { name: "mixed-case API name, lowercase metric keys, PascalCase properties", snapshot: snap({ apis: [pascal(api("Echo-API"))], requestsByApi: { "echo-api": 3 } }), expect: [{ resourceId: "apis/echo-api", status: "pass", message: /'Echo-API'/ }] },
    { name: "only the current revision is evaluated", snapshot: snap({ apis: [api("echo"), api("echo;rev=2")], requestsByApi: { echo: 5 } }), count: 1 },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), apis: [api("echo")], requestsByApi: { echo: 1 } }) },
    { name: "children-only input", snapshot: stub({ apis: [api("echo")], requestsByApi: { echo: 1 } }) },
    {
      name: "Policy c8acafaf: every operation served requests",
      snapshot: snap({ apis: [api("echo")], operations: ops("echo", "get-item", "delete-item"), requestsByApi: { echo: 7 }, requestsByOperation: { "echo/get-item": 5, "echo/delete-item": 2 } }),
      count: 1,
      expect: [{ status: "pass", message: /served 7 request\(s\) in the last 30 days; each of its 2 operation\(s\) had traffic/ }],
    },
    // fall back, and say so, where per-operation data is missing
    { name: "per API when the report by operation could not be read", snapshot: snap({ apis: [api("echo")], operations: ops("echo", "a", "b"), requestsByApi: { echo: 3 } }), expect: [{ status: "pass", message: /judged per API: per-operation counts are not available \(the report by operation could not be read\)/ }] },
    // the reports are the classic tiers' built-in analytics (Learn, "Get API analytics in Azure API Management"): Consumption and v2 have none
    { name: "beyond Policy c8acafaf: Consumption has no reports by operation -> judged per API from the metrics, saying why", snapshot: snap({ service: consumption(), apis: [api("echo")], operations: ops("echo", "a", "b"), requestsByApi: { echo: 3 } }), expect: [{ status: "pass", message: /served 3 request\(s\) in the last 30 days \(judged per API: the Consumption tier has no reports by operation\)/ }] },
    { name: "beyond Policy c8acafaf: StandardV2 has no reports by operation -> judged per API", snapshot: snap({ service: service({}, sku("StandardV2")), apis: [api("echo")], operations: ops("echo", "a"), requestsByApi: { echo: 1 } }), expect: [{ status: "pass", message: /judged per API: the StandardV2 tier has no reports by operation/ }] },
    { name: "Policy c8acafaf: per operation from the report alone (no Azure Monitor metrics)", snapshot: snap({ apis: [api("echo")], operations: ops("echo", "a", "b"), requestsByOperation: { "echo/a": 1, "echo/b": 2 } }), expect: [{ status: "pass", message: /each of its 2 operation\(s\) had traffic/ }] },
    { name: "per API when the API's operations are not in the snapshot", snapshot: snap({ apis: [api("echo")], requestsByApi: { echo: 3 }, requestsByOperation: { "echo/a": 3 } }), expect: [{ status: "pass", message: /judged per API: its operations are not in the input/ }] },
    { name: "per API when the API has no operations", snapshot: snap({ apis: [api("echo")], operations: { echo: [] }, requestsByApi: { echo: 3 }, requestsByOperation: {} }), expect: [{ status: "pass", message: /judged per API: it has no operations/ }] },
    {
      name: "another API's busy operation does not count for this one",
      snapshot: snap({ apis: [api("a"), api("b")], operations: { ...ops("a", "x"), ...ops("b", "x") }, requestsByOperation: { "a/x": 9, "b/x": 1 } }),
      count: 2,
    },
  ],
  invalid: [
    { name: "zero requests", snapshot: snap({ apis: [api("echo")], requestsByApi: { echo: 0 } }), count: 1, expect: [{ resourceId: `${SERVICE_ID}/apis/echo`, status: "fail", message: /API 'echo' had no requests in the last 30 days/ }] },
    { name: "absent from the metrics", snapshot: snap({ apis: [api("echo")], requestsByApi: {} }), expect: [{ status: "fail" }] },
    { name: "the look-back window from options", snapshot: snap({ apis: [api("echo")], requestsByApi: {} }), options: { unusedDays: 90 }, expect: [{ status: "fail", message: /last 90 days/ }] },
    { name: "one unused API among used ones", snapshot: snap({ apis: [api("a"), api("b"), api("c")], requestsByApi: { a: 10, c: 1 } }), count: 3, expect: [{ resourceId: "apis/a", status: "pass" }, { resourceId: "apis/b", status: "fail" }, { resourceId: "apis/c", status: "pass" }] },
    { name: "traffic on a similarly named API only", snapshot: snap({ apis: [api("echo")], requestsByApi: { "echo-v2": 100 } }), expect: [{ status: "fail" }] },
    // Defender judges each operation (Policy c8acafaf targets Microsoft.ApiManagement/service/apis/operations)
    {
      name: "Policy c8acafaf: one busy operation does not hide an unused one",
      snapshot: snap({ apis: [api("echo")], operations: ops("echo", "get-item", "delete-item"), requestsByApi: { echo: 5000 }, requestsByOperation: { "echo/get-item": 5000 } }),
      count: 1,
      expect: [{ resourceId: "apis/echo", status: "fail", message: /API 'echo': 1 of its 2 operations had no requests in the last 30 days: 'delete-item' \(the API served 5000 request\(s\) on the others\)/ }],
    },
    {
      name: "Policy c8acafaf: every operation unused -> the API fails, naming them",
      snapshot: snap({ apis: [api("echo")], operations: ops("echo", "a", "b"), requestsByApi: {}, requestsByOperation: {} }),
      expect: [{ status: "fail", message: /API 'echo' had no requests in the last 30 days \(none of its 2 operation\(s\): 'a', 'b'\)/ }],
    },
    {
      name: "Policy c8acafaf: many unused operations are listed five at a time",
      snapshot: snap({ apis: [api("echo")], operations: ops("echo", "used", "o1", "o2", "o3", "o4", "o5", "o6", "o7"), requestsByOperation: { "echo/used": 1 } }),
      expect: [{ status: "fail", message: /7 of its 8 operations .*'o1', 'o2', 'o3', 'o4', 'o5' and 2 more/ }],
    },
    {
      name: "Policy c8acafaf: mixed-case operation names match the lowercase metric keys",
      snapshot: snap({ apis: [api("Echo")], operations: ops("Echo", "Get-Item", "Put-Item"), requestsByOperation: { "echo/get-item": 3 } }),
      expect: [{ resourceId: "apis/echo", status: "fail", message: /'Put-Item'/ }],
    },
    { name: "per API when the report by operation could not be read: no requests", snapshot: snap({ apis: [api("echo")], operations: ops("echo", "a"), requestsByApi: {} }), expect: [{ status: "fail", message: /judged per API: per-operation counts are not available/ }] },
    {
      name: "Policy c8acafaf: the report's busy operation does not hide the API's other operation, whatever the per-API metric says",
      snapshot: snap({ service: service({}, sku("Premium")), apis: [api("echo")], operations: ops("echo", "get-item", "delete-item"), requestsByApi: { echo: 900 }, requestsByOperation: { "echo/get-item": 900, "echo/delete-item": 0 } }),
      expect: [{ status: "fail", message: /1 of its 2 operations had no requests in the last 30 days: 'delete-item'/ }],
    },
  ],
  notApplicable: [
    { name: "no APIs", snapshot: snap({ requestsByApi: {} }) },
    { name: "only a non-current revision", snapshot: snap({ apis: [api("echo;rev=2")], requestsByApi: {} }) },
  ],
  unknown: [
    { name: "metrics unavailable (no access)", snapshot: snap({ apis: [api("echo"), api("other")] }), count: 2, expect: [{ resourceId: "apis/echo", status: "unknown", message: /metrics are not available/ }] },
    { name: "metrics were not collected (offline input)", snapshot: snap({ apis: [api("echo")], needs: ["apis"] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /metrics/ }] },
    { name: "operations listed, but no metrics at all", snapshot: snap({ apis: [api("echo")], operations: ops("echo", "a") }), count: 1, expect: [{ status: "unknown", message: /metrics are not available/ }] },
    { name: "operations were not collected (an input without them)", snapshot: snapAll({ needs: NEEDS.filter((n) => n !== "operations"), apis: [api("echo")], requestsByApi: { echo: 3 }, requestsByOperation: { "echo/a": 3 } }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /the input has no operations data/ }] },
  ],
});
