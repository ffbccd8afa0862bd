import { rule } from "../../src/remediations/defender-for-apis.js";
import type { DataNeed, ServiceSnapshot } from "../../src/model/snapshot.js";
import { SERVICE_ID, api, consumption, pascal, service, sku, snap, stub, ruleTester, type SnapParts } from "../helpers/rule-tester.js";

/** The needs an offline input with Microsoft.Security resources collects (the engine maps them into `snap.defender`). */
const OFFLINE: DataNeed[] = ["apis", "apiRevisions", "defender"];

/** A snapshot with the Defender for APIs plan on and these APIs onboarded. */
const on = (onboardedApis: string[], parts: SnapParts = {}): ServiceSnapshot => snap({ defender: { planEnabled: true, onboardedApis }, ...parts });

ruleTester(rule, {
  valid: [
    { name: "plan on, API onboarded", snapshot: on(["echo"], { apis: [api("echo")] }), count: 1, expect: [{ resourceId: "apis/echo", status: "pass", message: /onboarded to Defender for APIs/ }] },
    { name: "an API with type http", snapshot: on(["echo"], { apis: [api("echo", { type: "http" })] }) },
    { name: "mixed-case API name, PascalCase properties", snapshot: on(["echo-api"], { apis: [pascal(api("Echo-API", { type: "HTTP" }))] }), expect: [{ resourceId: "apis/echo-api", status: "pass", message: /'Echo-API'/ }] },
    { name: "non-HTTP APIs are skipped next to an onboarded HTTP API", snapshot: on(["echo"], { apis: [api("echo"), api("gql", { type: "graphql" }), api("chat", { type: "websocket" })] }), count: 1 },
    { name: "only the current revision is evaluated", snapshot: on(["echo"], { apis: [api("echo"), api("echo;rev=2")] }), count: 1 },
    ...["Developer", "Basic", "Standard", "Premium", "Isolated", "BasicV2", "StandardV2", "PremiumV2"].map((name) => ({ name: `a ${name} service`, snapshot: on(["echo"], { service: service({}, sku(name)), apis: [api("echo")] }) })),
    { name: "children-only input", snapshot: () => ({ ...stub({ apis: [api("echo")] }), defender: { planEnabled: true, onboardedApis: ["echo"] } }) },
    // an offline input holding Microsoft.Security/pricings/Api (pricingTier Standard) and apiCollections/echo
    { name: "Policy 7926a6d1 + PSRule Azure.APIM.DefenderCloud: offline pricing Standard and apiCollections/echo -> pass", snapshot: snap({ apis: [api("echo")], needs: OFFLINE, defender: { planEnabled: true, onboardedApis: ["echo"] } }), count: 1, expect: [{ status: "pass" }] },
    { name: "PSRule Azure.APIM.DefenderCloud: a SOAP-to-REST API (type http) is judged", snapshot: on(["orders"], { apis: [api("orders", { type: "http", format: "wsdl", apiType: "http" })] }), count: 1 },
  ],
  invalid: [
    { name: "plan on, API not onboarded", snapshot: on([], { apis: [api("echo")] }), count: 1, expect: [{ resourceId: `${SERVICE_ID}/apis/echo`, status: "fail", message: /API 'echo' is not onboarded/ }] },
    { name: "plan off", snapshot: snap({ apis: [api("echo")], defender: { planEnabled: false, onboardedApis: [] } }), expect: [{ resourceId: "apis/echo", status: "fail", message: /plan is off/ }] },
    { name: "plan off, even with an onboarded collection left behind", snapshot: snap({ apis: [api("echo")], defender: { planEnabled: false, onboardedApis: ["echo"] } }), expect: [{ status: "fail", message: /plan is off/ }] },
    { name: "another API onboarded", snapshot: on(["other"], { apis: [api("echo"), api("other")] }), count: 2, expect: [{ resourceId: "apis/echo", status: "fail" }, { resourceId: "apis/other", status: "pass" }] },
    { name: "an onboarded name that only shares a prefix", snapshot: on(["echo"], { apis: [api("echo2")] }), expect: [{ status: "fail" }] },
    // offline: Microsoft.Security/pricings/Api with pricingTier Free, next to a collection
    { name: "Policy 7926a6d1: offline pricing Free (not Standard) -> fail", snapshot: snap({ apis: [api("echo")], needs: OFFLINE, defender: { planEnabled: false, onboardedApis: ["echo"] } }), count: 1, expect: [{ status: "fail", message: /plan is off.*pricings\/Api/ }] },
    { name: "PSRule Azure.APIM.DefenderCloud: offline pricing Standard, an API without a collection -> fail", snapshot: snap({ apis: [api("echo"), api("orders")], needs: OFFLINE, defender: { planEnabled: true, onboardedApis: ["echo"] } }), count: 2, expect: [{ resourceId: "apis/orders", status: "fail", message: /API 'orders' is not onboarded.*apiCollections\/orders/ }, { resourceId: "apis/echo", status: "pass" }] },
  ],
  notApplicable: [
    // Defender for APIs does not support the Consumption tier (Defender for APIs FAQ)
    { name: "a Consumption service, API not onboarded", snapshot: on([], { service: consumption(), apis: [api("echo")] }) },
    { name: "a Consumption service, plan off", snapshot: snap({ service: consumption(), apis: [api("echo")], defender: { planEnabled: false, onboardedApis: [] } }) },
    { name: "no APIs", snapshot: on([]) },
    { name: "only GraphQL and websocket APIs", snapshot: on([], { apis: [api("gql", { type: "graphql", apiType: "graphql" }), api("chat", { type: "websocket", apiType: "websocket" })] }) },
    { name: "only gRPC and OData APIs (PascalCase)", snapshot: on([], { apis: [pascal(api("grpc", { type: "grpc" })), pascal(api("odata", { type: "odata" }))] }) },
    { name: "only a non-current revision", snapshot: on([], { apis: [api("echo;rev=2")] }) },
    // Learn, Defender for APIs plan limitations: "Currently, Defender for APIs discovers and analyzes REST APIs only"
    { name: "PSRule Azure.APIM.DefenderCloud: a SOAP pass-through API (type soap) is not judged", snapshot: on([], { apis: [api("legacy", { type: "soap", apiType: "soap" })] }) },
    { name: "PSRule Azure.APIM.DefenderCloud: apiType soap without a type is not judged", snapshot: on([], { apis: [api("legacy", { apiType: "soap" })] }) },
  ],
  unknown: [
    // live: the pricing read refused (403); the collector then reads no apiCollections, so none missing says nothing
    { name: "the plan state could not be read", snapshot: snap({ apis: [api("echo")], defender: { planEnabled: undefined, onboardedApis: [] } }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /plan state could not be read/ }] },
    { name: "collected, but no Defender data at all", snapshot: snap({ apis: [api("echo"), api("other")] }), count: 2 },
    // offline: apiCollections but no Microsoft.Security/pricings/Api in the input: `defender` is not collected
    { name: "an offline input with apiCollections and no pricing", snapshot: snap({ apis: [api("echo")], needs: ["apis", "apiRevisions"], defender: { planEnabled: undefined, onboardedApis: ["echo"] } }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /no defender data/ }] },
    { name: "an offline input with apiCollections but no plan state", snapshot: snap({ apis: [api("echo")], needs: OFFLINE, defender: { planEnabled: undefined, onboardedApis: ["echo"] } }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /plan state \(Microsoft.Security\/pricings\/Api\) could not be read/ }] },
    { name: "Defender data was not collected", snapshot: snap({ apis: [api("echo")], needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /defender/ }] },
  ],
});
