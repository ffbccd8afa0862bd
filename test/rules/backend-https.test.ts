import { rule } from "../../src/remediations/backend-https.js";
import { EXPR, SERVICE_ID, api, backend, consumption, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const serviceFabric = (name: string) => backend(name, { url: "fabric:/myapp/mysvc", properties: { serviceFabricCluster: { managementEndpoints: ["http://sf.example.com:19080"] } } });

ruleTester(rule, {
  valid: [
    { name: "an HTTPS backend", snapshot: snap({ backends: [backend("b1")] }), count: 1, expect: [{ resourceId: "backends/b1", status: "pass", message: /encrypted protocol/ }] },
    { name: "an API serviceUrl on HTTPS", snapshot: snap({ apis: [api("echo")] }), count: 1, expect: [{ resourceId: "apis/echo", status: "pass", message: /API 'echo'/ }] },
    { name: "a websocket API on wss", snapshot: snap({ apis: [api("chat", { type: "websocket", serviceUrl: "wss://chat.example.com/ws" })] }) },
    { name: "HTTPS in upper case", snapshot: snap({ backends: [backend("b1", { url: "HTTPS://b1.example.com" })] }) },
    { name: "a host that starts with http", snapshot: snap({ backends: [backend("b1", { url: "https://http.example.com/" })] }) },
    { name: "PascalCase Properties.Url and ServiceUrl", snapshot: snap({ backends: [pascal(backend("b1"))], apis: [pascal(api("echo"))] }), count: 2 },
    { name: "a Service Fabric backend next to an HTTPS one", snapshot: snap({ backends: [serviceFabric("sf"), backend("b1")] }), count: 1 },
    { name: "every revision on HTTPS", snapshot: snap({ apis: [api("echo"), api("echo;rev=2")] }), count: 2, expect: [{ resourceId: "apis/echo", status: "pass" }, { resourceId: "apis/echo;rev=2", status: "pass" }] },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), backends: [backend("b1")] }) },
    { name: "children-only input", snapshot: stub({ backends: [backend("b1")] }) },
  ],
  invalid: [
    { name: "an HTTP backend", snapshot: snap({ backends: [backend("b1", { url: "http://b1.example.com/api" })] }), count: 1, expect: [{ resourceId: `${SERVICE_ID}/backends/b1`, status: "fail", message: /Backend 'b1' calls its backend unencrypted \(http:\/\/b1\.example\.com\/api\)/ }] },
    { name: "an API serviceUrl on HTTP", snapshot: snap({ apis: [api("echo", { serviceUrl: "http://echo.example.com" })] }), expect: [{ resourceId: "apis/echo", status: "fail", message: /API 'echo'/ }] },
    { name: "a websocket API on ws", snapshot: snap({ apis: [api("chat", { type: "websocket", serviceUrl: "ws://chat.example.com/ws" })] }), expect: [{ resourceId: "apis/chat", status: "fail" }] },
    { name: "HTTP in upper case with leading spaces", snapshot: snap({ backends: [backend("b1", { url: "  HTTP://b1.example.com" })] }), expect: [{ status: "fail" }] },
    { name: "PascalCase Properties.Url on HTTP", snapshot: snap({ backends: [pascal(backend("B1", { url: "http://b1.example.com" }))] }), expect: [{ resourceId: "backends/b1", status: "fail" }] },
    {
      name: "a non-current revision still calls HTTP (callable as echo;rev=2)",
      snapshot: snap({ apis: [api("echo"), api("echo;rev=2", { serviceUrl: "http://old.example.com" })] }),
      count: 2,
      expect: [{ resourceId: "apis/echo", status: "pass" }, { resourceId: "apis/echo;rev=2", status: "fail", message: /echo;rev=2/ }],
    },
    { name: "a SOAP backend on HTTP", snapshot: snap({ backends: [backend("soap", { protocol: "soap", url: "http://soap.example.com/svc.asmx" })] }), expect: [{ status: "fail" }] },
    {
      name: "one of several backends and APIs",
      snapshot: snap({ backends: [backend("a"), backend("b", { url: "http://b.example.com" })], apis: [api("x"), api("y", { serviceUrl: "http://y.example.com" })] }),
      count: 4,
      expect: [{ resourceId: "backends/a", status: "pass" }, { resourceId: "backends/b", status: "fail" }, { resourceId: "apis/x", status: "pass" }, { resourceId: "apis/y", status: "fail" }],
    },
    { name: "a Consumption service with an HTTP backend", snapshot: snap({ service: consumption(), backends: [backend("b1", { url: "http://b1.example.com" })] }), expect: [{ status: "fail" }] },
    { name: "PSRule Azure.APIM.HTTPBackend / Checkov CKV_AZURE_215: an http:// backend url -> fail", snapshot: snap({ backends: [backend("b1", { url: "http://b1.example.com" })] }), count: 1, expect: [{ status: "fail" }] },
    {
      name: "PSRule Azure.APIM.HTTPBackend: a pool's http:// member fails on its own",
      snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined, pool: { services: [{ id: "/backends/m1" }] } }), backend("m1", { url: "http://m1.example.com" })] }),
      count: 1,
      expect: [{ resourceId: "backends/m1", status: "fail" }],
    },
  ],
  notApplicable: [
    { name: "no backends and no APIs", snapshot: snap() },
    { name: "a Service Fabric backend", snapshot: snap({ backends: [serviceFabric("sf")] }) },
    { name: "an API without a serviceUrl (backend set in policy)", snapshot: snap({ apis: [api("echo", { serviceUrl: undefined })] }) },
    { name: "an API with an empty serviceUrl", snapshot: snap({ apis: [api("echo", { serviceUrl: "" })] }) },
    // PSRule Azure.APIM.HTTPBackend (AZR-000044) keeps only backends that have a url (HasField properties.url)
    { name: "PSRule Azure.APIM.HTTPBackend: a pool (type Pool, no url) is not judged", snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined, pool: { services: [{ id: "/backends/a" }] } })] }) },
  ],
  unknown: [
    { name: "a backend URL that is a template expression", snapshot: snap({ backends: [backend("b1", { url: EXPR })] }), expect: [{ resourceId: "backends/b1", status: "unknown", message: /template expression/ }] },
    { name: "an API serviceUrl that is a template expression", snapshot: snap({ apis: [api("echo", { serviceUrl: "[concat('https://', parameters('host'))]" })] }), expect: [{ resourceId: "apis/echo", status: "unknown" }] },
    { name: "backends were not collected", snapshot: snap({ apis: [api("echo")], needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /backends/ }] },
    { name: "APIs were not collected", snapshot: snap({ backends: [backend("b1")], needs: ["backends"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /apis, apiRevisions/ }] },
    { name: "API revisions were not collected", snapshot: snap({ backends: [backend("b1")], apis: [api("echo")], needs: ["backends", "apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /apiRevisions/ }] },
  ],
});
