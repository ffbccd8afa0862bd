import { rule } from "../../src/remediations/backend-authenticated.js";
import { EXPR, SERVICE_ID, backend, consumption, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const serviceFabric = (name: string, credentials?: Record<string, unknown>) =>
  backend(name, {
    url: "fabric:/myapp/mysvc",
    ...(credentials ? { credentials } : {}),
    properties: { serviceFabricCluster: { clientCertificateId: `${SERVICE_ID}/certificates/sf`, managementEndpoints: ["https://sf.example.com:19080"], maxPartitionResolutionRetries: 5 } },
  });

ruleTester(rule, {
  valid: [
    { name: "client certificate ids", snapshot: snap({ backends: [backend("b1", { credentials: { certificateIds: [`${SERVICE_ID}/certificates/c1`] } })] }), count: 1, expect: [{ resourceId: "backends/b1", status: "pass", message: /certificateIds/ }] },
    { name: "client certificate thumbprints", snapshot: snap({ backends: [backend("b1", { credentials: { certificate: ["A1B2C3"] } })] }), expect: [{ status: "pass", message: /certificate/ }] },
    { name: "authorization scheme and parameter", snapshot: snap({ backends: [backend("b1", { credentials: { authorization: { scheme: "Basic", parameter: "{{backend-basic}}" } } })] }), expect: [{ status: "pass", message: /authorization/ }] },
    { name: "a header credential", snapshot: snap({ backends: [backend("b1", { credentials: { header: { "x-functions-key": ["{{fn-key}}"] } } })] }), expect: [{ status: "pass", message: /header/ }] },
    { name: "a query credential", snapshot: snap({ backends: [backend("b1", { credentials: { query: { code: ["{{fn-key}}"] } } })] }), expect: [{ status: "pass", message: /query/ }] },
    { name: "a header value that is a template expression (the header is set)", snapshot: snap({ backends: [backend("b1", { credentials: { header: { "x-key": [EXPR] } } })] }) },
    { name: "a concrete credential next to an expression", snapshot: snap({ backends: [backend("b1", { credentials: { header: EXPR, certificateIds: ["c1"] } })] }) },
    { name: "protocol in upper case", snapshot: snap({ backends: [backend("b1", { protocol: "HTTP", credentials: { certificate: ["A1"] } })] }) },
    { name: "PascalCase Properties.Credentials.Header", snapshot: snap({ backends: [pascal(backend("b1", { credentials: { header: { "x-key": ["{{k}}"] } } }))] }) },
    { name: "a Service Fabric backend next to an authenticated one", snapshot: snap({ backends: [serviceFabric("sf"), backend("b1", { credentials: { certificate: ["A1"] } })] }), count: 1, expect: [{ resourceId: "backends/b1", status: "pass" }] },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), backends: [backend("b1", { credentials: { certificate: ["A1"] } })] }) },
    { name: "children-only input", snapshot: stub({ backends: [backend("b1", { credentials: { certificate: ["A1"] } })] }) },
    { name: "Policy c15dcc82: authorization with scheme and parameter passes", snapshot: snap({ backends: [backend("b1", { credentials: { authorization: { scheme: "Bearer", parameter: "{{token}}" } } })] }), count: 1, expect: [{ status: "pass", message: /authorization/ }] },
    // Policy c15dcc82 counts only `certificate` thumbprints and `authorization`; a client certificate by id is the same credential
    { name: "beyond Policy c15dcc82: certificateIds (client certificates by id) count", snapshot: snap({ backends: [backend("b1", { credentials: { certificateIds: ["/certificates/c1"] } })] }), expect: [{ status: "pass", message: /certificateIds/ }] },
    // ... and a key in a header is how APIM's own Azure Functions import authenticates (x-functions-key)
    { name: "beyond Policy c15dcc82: a header key (x-functions-key) counts", snapshot: snap({ backends: [backend("b1", { credentials: { header: { "x-functions-key": ["{{fn-key}}"] } } })] }), expect: [{ status: "pass", message: /header/ }] },
    // a circuit breaker is a setting of a single backend: it is judged like any other
    {
      name: "Policy c15dcc82: a single backend with a circuit breaker is judged by its own credentials",
      snapshot: snap({ backends: [backend("cb", { type: "Single", circuitBreaker: { rules: [{ name: "r", tripDuration: "PT1M", failureCondition: { count: 3, interval: "PT1M", statusCodeRanges: [{ min: 500, max: 599 }] } }] }, credentials: { certificate: ["A1"] } })] }),
      count: 1,
    },
    {
      name: "Policy c15dcc82: a pool is not judged, its members are",
      snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined, pool: { services: [{ id: "/backends/m1" }] } }), backend("m1", { credentials: { certificate: ["A1"] } })] }),
      count: 1,
      expect: [{ resourceId: "backends/m1", status: "pass" }],
    },
  ],
  invalid: [
    { name: "no credentials", snapshot: snap({ backends: [backend("b1")] }), count: 1, expect: [{ resourceId: `${SERVICE_ID}/backends/b1`, status: "fail", message: /Backend 'b1' has no credentials/ }] },
    { name: "empty credential collections", snapshot: snap({ backends: [backend("b1", { credentials: { certificateIds: [], certificate: [], header: {}, query: {}, authorization: {} } })] }), expect: [{ status: "fail" }] },
    { name: "a header with no values", snapshot: snap({ backends: [backend("b1", { credentials: { header: { "x-key": [] } } })] }), expect: [{ status: "fail" }] },
    { name: "null credentials", snapshot: snap({ backends: [backend("b1", { credentials: null })] }), expect: [{ status: "fail" }] },
    { name: "TLS settings are not credentials", snapshot: snap({ backends: [backend("b1", { tls: { validateCertificateChain: true, validateCertificateName: true } })] }), expect: [{ status: "fail" }] },
    { name: "one of several", snapshot: snap({ backends: [backend("a", { credentials: { certificate: ["A1"] } }), backend("b")] }), count: 2, expect: [{ resourceId: "backends/a", status: "pass" }, { resourceId: "backends/b", status: "fail" }] },
    { name: "PascalCase without credentials", snapshot: snap({ backends: [pascal(backend("B1", { credentials: { header: {} } }))] }), expect: [{ resourceId: "backends/b1", status: "fail" }] },
    { name: "a Service Fabric-looking name is not Service Fabric", snapshot: snap({ backends: [backend("servicefabric")] }), expect: [{ status: "fail" }] },
    { name: "Policy c15dcc82: url exists, protocol http, no certificate and no authorization -> fail", snapshot: snap({ backends: [backend("b1", { protocol: "http" })] }), count: 1, expect: [{ status: "fail" }] },
    // Policy c15dcc82: `authorization.scheme` or `authorization.parameter` absent is no credential
    { name: "Policy c15dcc82: an authorization scheme without a parameter -> fail", snapshot: snap({ backends: [backend("b1", { credentials: { authorization: { scheme: "Basic" } } })] }), count: 1, expect: [{ status: "fail", message: /needs both a scheme and a parameter/ }] },
    { name: "Policy c15dcc82: an authorization parameter without a scheme -> fail", snapshot: snap({ backends: [backend("b1", { credentials: { authorization: { parameter: "{{k}}" } } })] }), expect: [{ status: "fail" }] },
    {
      name: "Policy c15dcc82: a pool member without credentials fails on its own",
      snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined, pool: { services: [{ id: "/backends/m1" }] } }), backend("m1")] }),
      count: 1,
      expect: [{ resourceId: "backends/m1", status: "fail" }],
    },
  ],
  notApplicable: [
    { name: "no backends", snapshot: snap() },
    { name: "a Service Fabric backend without credentials", snapshot: snap({ backends: [serviceFabric("sf")] }) },
    { name: "a Service Fabric backend, PascalCase", snapshot: snap({ backends: [pascal(serviceFabric("sf"))] }) },
    { name: "a Service Fabric backend by cluster resource id", snapshot: snap({ backends: [backend("sf", { url: "fabric:/app/svc", resourceId: "https://management.azure.com/subscriptions/x/resourceGroups/rg/providers/Microsoft.ServiceFabric/clusters/c1" })] }) },
    { name: "a SOAP backend", snapshot: snap({ backends: [backend("soap", { protocol: "soap" })] }) },
    // ARM requires `protocol` on a single backend and has no default; Policy c15dcc82's `protocol equals 'http'` is false without it
    { name: "Policy c15dcc82: an absent protocol is not http", snapshot: snap({ backends: [backend("b1", { protocol: undefined })] }) },
    { name: "Policy c15dcc82: a load-balanced pool (type Pool, no url) is not judged", snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined, pool: { services: [{ id: "/backends/a", priority: 1, weight: 3 }, { id: "/backends/b" }] } })] }) },
    { name: "Policy c15dcc82: a backend without a url is not judged", snapshot: snap({ backends: [backend("b1", { url: undefined })] }) },
    { name: "a pool in PascalCase (Type: pool)", snapshot: snap({ backends: [pascal(backend("pool", { type: "pool", url: undefined, protocol: undefined }))] }) },
  ],
  unknown: [
    { name: "credentials are a template expression", snapshot: snap({ backends: [backend("b1", { credentials: EXPR })] }), expect: [{ resourceId: "backends/b1", status: "unknown", message: /template expression/ }] },
    { name: "the only credential kind is a template expression", snapshot: snap({ backends: [backend("b1", { credentials: { header: EXPR } })] }), expect: [{ resourceId: "backends/b1", status: "unknown", message: /template expression/ }] },
    { name: "the protocol is a template expression and there are no credentials", snapshot: snap({ backends: [backend("b1", { protocol: EXPR })] }) },
    { name: "an authorization scheme set and its parameter a template expression", snapshot: snap({ backends: [backend("b1", { credentials: { authorization: { scheme: "Basic", parameter: EXPR } } })] }) },
    { name: "the url is a template expression and there are no credentials", snapshot: snap({ backends: [backend("b1", { url: EXPR, credentials: { header: EXPR } })] }) },
    { name: "backends were not collected", snapshot: snap({ needs: [] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /backends/ }] },
  ],
});
