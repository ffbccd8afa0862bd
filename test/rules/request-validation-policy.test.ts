import { rule } from "../../src/remediations/request-validation-policy.js";
import type { ArmResource } from "../../src/model/arm.js";
import type { WorkspaceContents } from "../../src/model/snapshot.js";
import { SERVICE_ID, api, consumption, pascal, policy, policyXml, product, snap, stub, subscription, ruleTester } from "../helpers/rule-tester.js";

const CONTENT = `<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent"><content type="application/json" validate-as="json" action="prevent" /></validate-content>`;
const API_ID = (name: string) => `${SERVICE_ID}/apis/${name}`;
const PRODUCT_ID = (name: string) => `${SERVICE_ID}/products/${name}`;
const doc = (body = "", base = true) => policyXml({ inbound: body, base });
const global = (body: string): ArmResource => policy(doc(body, false));
const apiPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), API_ID(name));
const productPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), PRODUCT_ID(name));
const rawPolicy = (value: string, parent = SERVICE_ID, format = "xml"): ArmResource => ({ ...policy("", parent), properties: { format, value } });
const operation = (apiName: string, op: string): ArmResource => ({ id: `${API_ID(apiName)}/operations/${op}`, name: op, type: "Microsoft.ApiManagement/service/apis/operations", properties: { displayName: op, method: "POST", urlTemplate: `/${op}` } });
const opPolicy = (apiName: string, op: string, body = "", base = true): ArmResource => policy(doc(body, base), `${API_ID(apiName)}/operations/${op}`);
const WS_ID = (ws: string) => `${SERVICE_ID}/workspaces/${ws}`;
const wsResource = (ws: string): ArmResource => ({ id: WS_ID(ws), name: ws, type: "Microsoft.ApiManagement/service/workspaces", properties: { displayName: ws } });
const wsApi = (ws: string, name: string, props: Record<string, unknown> = {}): ArmResource => ({ ...api(name, props), id: `${WS_ID(ws)}/apis/${name}`, type: "Microsoft.ApiManagement/service/workspaces/apis" });
const contents = (parts: Partial<WorkspaceContents>): WorkspaceContents => ({ apis: [], apiPolicies: {}, operationPolicies: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [], ...parts });
const productValidated = { apis: [api("echo")], products: [product("starter")], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", CONTENT) } };

ruleTester(rule, {
  valid: [
    { name: "validate-content at API scope", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", CONTENT) } }), count: 1, expect: [{ resourceId: "apis/echo", status: "pass", message: /validates requests/ }] },
    { name: "validate-parameters", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent" errors-variable-name="e" />`) } }) },
    { name: "validate-headers", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<validate-headers specified-header-action="prevent" unspecified-header-action="ignore" />`) } }) },
    { name: "validate-graphql-request on a GraphQL API", snapshot: snap({ apis: [api("gql", { type: "graphql", apiType: "graphql" })], apiPolicies: { gql: apiPolicy("gql", `<validate-graphql-request error-variable-name="e" max-size="102400" max-depth="4" />`) } }) },
    { name: "validate-odata-request on an OData API", snapshot: snap({ apis: [api("odata", { type: "odata", apiType: "odata" })], apiPolicies: { odata: apiPolicy("odata", `<validate-odata-request max-size="10000" />`) } }) },
    { name: "global validate-content, API keeps <base/>", snapshot: snap({ apis: [api("echo")], globalPolicy: global(CONTENT), apiPolicies: { echo: apiPolicy("echo") } }) },
    { name: "product validate-content covers its APIs", snapshot: snap({ apis: [api("echo")], products: [product("starter")], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", CONTENT) } }) },
    { name: "validation in every <choose> branch, <otherwise> included", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(context.Request.Method == &quot;POST&quot;)">${CONTENT}</when><otherwise><validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent" /></otherwise></choose>`) } }) },
    { name: "every operation inherits the API's validation", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", CONTENT) }, operations: { echo: [operation("echo", "create")] }, operationPolicies: { "echo/create": opPolicy("echo", "create", "<cors />") } }) },
    { name: "Learn subscriptions: a product-scoped subscription runs the product's validation", snapshot: snap({ ...productValidated, subscriptions: [subscription("s", { scope: `${SERVICE_ID}/products/starter` })] }) },
    { name: "an online non-current revision with its own validation", snapshot: snap({ apis: [api("echo"), api("echo;rev=2")], apiPolicies: { echo: apiPolicy("echo", CONTENT), "echo;rev=2": apiPolicy("echo;rev=2", CONTENT) } }), count: 2 },
    { name: "workspace chain global -> workspace: the workspace policy validates its APIs", snapshot: snap({ workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders")], policy: policy(doc(CONTENT), WS_ID("team-a")) }) } }), count: 1 },
    { name: "mixed-case API name and PascalCase properties", snapshot: snap({ apis: [pascal(api("Orders"))], apiPolicies: { orders: pascal(apiPolicy("Orders", CONTENT)) } }), expect: [{ resourceId: "apis/orders", status: "pass" }] },
    { name: "a websocket API next to a validated HTTP API", snapshot: snap({ apis: [api("echo"), api("chat", { type: "websocket", apiType: "websocket", protocols: ["wss"] })], apiPolicies: { echo: apiPolicy("echo", CONTENT) } }), count: 1 },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), apis: [api("echo")], globalPolicy: global(CONTENT) }) },
    { name: "children-only input", snapshot: stub({ apis: [api("echo")], globalPolicy: global(CONTENT) }) },
  ],
  invalid: [
    { name: "no validation policy", snapshot: snap({ apis: [api("echo")] }), count: 1, expect: [{ resourceId: "apis/echo", status: "fail", message: /validates no request content/ }] },
    { name: "global validate-content, API inbound lacks <base/>", snapshot: snap({ apis: [api("echo")], globalPolicy: global(CONTENT), apiPolicies: { echo: apiPolicy("echo", "", false) } }), expect: [{ status: "fail" }] },
    { name: "validate-status-code is response validation only", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<validate-status-code unspecified-status-code-action="prevent" />`) } }), expect: [{ status: "fail" }] },
    { name: "validate-content only in outbound", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: policy(`<policies><inbound><base /></inbound><outbound><base />${CONTENT}</outbound></policies>`, API_ID("echo")) } }), expect: [{ status: "fail" }] },
    { name: "validate-content only in an XML comment", snapshot: snap({ apis: [api("echo")], globalPolicy: global(`<!-- ${CONTENT} -->`) }), expect: [{ status: "fail" }] },
    {
      name: "an API in two products, only one validates",
      snapshot: snap({ apis: [api("echo")], productApis: { a: ["echo"], b: ["echo"] }, productPolicies: { a: productPolicy("a", CONTENT), b: productPolicy("b") } }),
      expect: [{ status: "fail" }],
    },
    { name: "subscriptionRequired false: the no-product path does not validate", snapshot: snap({ apis: [api("echo", { subscriptionRequired: false })], productApis: { a: ["echo"] }, productPolicies: { a: productPolicy("a", CONTENT) } }), expect: [{ status: "fail" }] },
    { name: "a GraphQL API without validation", snapshot: snap({ apis: [api("gql", { type: "graphql" })] }), expect: [{ resourceId: "apis/gql", status: "fail" }] },
    { name: "validation only in a <when> without <otherwise>", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(context.Request.Method == &quot;POST&quot;)">${CONTENT}</when></choose>`) } }), expect: [{ status: "fail" }] },
    { name: "Learn subscriptions: an active all-APIs subscription skips the product's validation", snapshot: snap({ ...productValidated, subscriptions: [subscription("all", { scope: "/apis" })] }), expect: [{ resourceId: "apis/echo", status: "fail", message: /scoped to all APIs/ }] },
    {
      name: "an operation policy without <base/> drops the API's validation, naming the operation",
      snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", CONTENT) }, operations: { echo: [operation("echo", "create"), operation("echo", "import")] }, operationPolicies: { "echo/import": opPolicy("echo", "import", "", false) } }),
      expect: [{ resourceId: "apis/echo", status: "fail", message: /operation 'import'/ }],
    },
    { name: "an online non-current revision without its own validation", snapshot: snap({ apis: [api("echo"), api("echo;rev=2")], apiPolicies: { echo: apiPolicy("echo", CONTENT) } }), expect: [{ resourceId: "apis/echo", status: "pass" }, { resourceId: "apis/echo;rev=2", status: "fail" }] },
    { name: "a workspace API without validation", snapshot: snap({ workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders")] }) } }), expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "fail" }] },
  ],
  notApplicable: [
    { name: "a websocket API (type)", snapshot: snap({ apis: [api("chat", { type: "websocket", protocols: ["wss"] })] }) },
    { name: "a websocket API (apiType only, PascalCase, upper case)", snapshot: snap({ apis: [pascal(api("chat", { apiType: "WebSocket", protocols: ["wss"] }))] }) },
    { name: "no APIs", snapshot: snap() },
    { name: "only an offline non-current revision", snapshot: snap({ apis: [api("echo;rev=2", { isOnline: false })] }) },
  ],
  unknown: [
    { name: "API policy includes a fragment", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<include-fragment fragment-id="validation" />`) } }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /fragments or invalid XML/ }] },
    { name: "product policy includes a fragment", snapshot: snap({ apis: [api("echo")], productApis: { a: ["echo"] }, productPolicies: { a: productPolicy("a", `<include-fragment fragment-id="validation" />`) } }) },
    { name: "global policy is not well-formed XML", snapshot: snap({ apis: [api("echo")], globalPolicy: rawPolicy("<policies><inbound><validate-content></policies>") }) },
    { name: "API policy is not well-formed XML", snapshot: snap({ apis: [api("echo")], globalPolicy: global(CONTENT), apiPolicies: { echo: rawPolicy("<<policies>>", API_ID("echo")) } }) },
    { name: "global policies were not collected", snapshot: snap({ apis: [api("echo")], needs: ["apis", "apiPolicies", "products", "productApis", "productPolicies"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /policies/ }] },
  ],
});
