import { rule } from "../../src/remediations/api-https-only.js";
import { EXPR, SERVICE_ID, api, consumption, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "an HTTPS-only API", snapshot: snap({ apis: [api("echo")] }), expect: [{ resourceId: "apis/echo", status: "pass", message: /only encrypted/ }] },
    { name: "a websocket API on wss", snapshot: snap({ apis: [api("chat", { type: "websocket", apiType: "websocket", protocols: ["wss"] })] }) },
    { name: "https and wss together", snapshot: snap({ apis: [api("echo", { protocols: ["https", "wss"] })] }) },
    { name: "protocols in upper case", snapshot: snap({ apis: [api("echo", { protocols: ["HTTPS"] })] }) },
    { name: "PascalCase Properties.Protocols", snapshot: snap({ apis: [pascal(api("echo"))] }) },
    {
      name: "every revision HTTPS only",
      snapshot: snap({ apis: [api("echo"), api("echo;rev=2"), api("echo;rev=3")] }),
      count: 3,
      expect: [
        { resourceId: "apis/echo", status: "pass" },
        { resourceId: "apis/echo;rev=2", status: "pass" },
      ],
    },
    { name: "Policy ee7495e7: no protocols listed (count of http/ws is 0; ARM defaults to https)", snapshot: snap({ apis: [api("echo", { protocols: undefined })] }) },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), apis: [api("echo")] }) },
  ],
  invalid: [
    { name: "Policy ee7495e7 / PSRule Azure.APIM.HTTPEndpoint: protocols contains http next to https -> fail", snapshot: snap({ apis: [api("echo", { protocols: ["http", "https"] })] }), expect: [{ resourceId: `${SERVICE_ID}/apis/echo`, status: "fail", message: /accepts http;/ }] },
    { name: "http only", snapshot: snap({ apis: [api("echo", { protocols: ["http"] })] }), expect: [{ resourceId: "apis/echo", status: "fail" }] },
    { name: "Policy ee7495e7: a websocket API on ws -> fail (beyond PSRule Azure.APIM.HTTPEndpoint, which looks for http only)", snapshot: snap({ apis: [api("chat", { apiType: "websocket", protocols: ["ws"] })] }), expect: [{ resourceId: "apis/chat", status: "fail", message: /accepts ws;/ }] },
    { name: "http and ws", snapshot: snap({ apis: [api("echo", { protocols: ["http", "ws", "https"] })] }), expect: [{ status: "fail", message: /http and ws/ }] },
    { name: "HTTP in upper case", snapshot: snap({ apis: [api("echo", { protocols: ["HTTPS", "HTTP"] })] }), expect: [{ status: "fail", message: /http/ }] },
    { name: "PascalCase Properties.Protocols with http", snapshot: snap({ apis: [pascal(api("echo", { protocols: ["https", "http"] }))] }), expect: [{ resourceId: "apis/echo", status: "fail" }] },
    {
      name: "Policy ee7495e7: a non-current revision (apis/echo;rev=2) accepting http fails on its own",
      snapshot: snap({ apis: [api("echo"), api("echo;rev=2", { protocols: ["https", "http"] })] }),
      count: 2,
      expect: [
        { resourceId: "apis/echo;rev=2", status: "fail", message: /echo;rev=2/ },
        { resourceId: "apis/echo", status: "pass" },
      ],
    },
    {
      name: "one API of several",
      snapshot: snap({ apis: [api("a"), api("b", { protocols: ["http"] }), api("c", { protocols: ["wss"] })] }),
      count: 3,
      expect: [
        { resourceId: "apis/a", status: "pass" },
        { resourceId: "apis/b", status: "fail" },
        { resourceId: "apis/c", status: "pass" },
      ],
    },
    { name: "http next to a template expression (known to fail regardless)", snapshot: snap({ apis: [api("echo", { protocols: ["http", EXPR] })] }), expect: [{ resourceId: "apis/echo", status: "fail" }] },
    { name: "children-only input (the service itself is not in the input)", snapshot: stub({ apis: [api("echo", { protocols: ["http"] })] }), expect: [{ resourceId: "apis/echo", status: "fail" }] },
  ],
  notApplicable: [
    { name: "no APIs (PSRule Azure.APIM.HTTPEndpoint passes the service; findings here are per API)", snapshot: snap() },
    { name: "children-only input without APIs", snapshot: stub() },
  ],
  unknown: [
    { name: "protocols is a template expression", snapshot: snap({ apis: [api("echo", { protocols: EXPR })] }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /template expression/ }] },
    { name: "one protocol is a template expression", snapshot: snap({ apis: [api("echo", { protocols: ["https", EXPR] })] }) },
    { name: "API revisions were not collected", snapshot: snap({ apis: [api("echo")], needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /apiRevisions/ }] },
    { name: "APIs were not collected", snapshot: snap({ needs: [] }), expect: [{ status: "unknown", message: /apis, apiRevisions/ }] },
  ],
});
