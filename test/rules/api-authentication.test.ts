import { rule } from "../../src/remediations/api-authentication.js";
import type { ArmResource } from "../../src/model/arm.js";
import type { WorkspaceContents } from "../../src/model/snapshot.js";
import { EXPR, SERVICE_ID, api, consumption, pascal, policy, policyXml, product, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const JWT = `<validate-jwt header-name="Authorization" failed-validation-httpcode="401"><openid-config url="https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration" /></validate-jwt>`;
const API_ID = (name: string) => `${SERVICE_ID}/apis/${name}`;
const PRODUCT_ID = (name: string) => `${SERVICE_ID}/products/${name}`;
const doc = (body = "", base = true) => policyXml({ inbound: body, base });
const global = (body: string): ArmResource => policy(doc(body, false));
const apiPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), API_ID(name));
const productPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), PRODUCT_ID(name));
const rawPolicy = (value: string, parent = SERVICE_ID, format = "xml"): ArmResource => ({ ...policy("", parent), properties: { format, value } });
/** An API callers reach without a subscription key. */
const open = (name: string, props: Record<string, unknown> = {}) => api(name, { subscriptionRequired: false, ...props });
const operation = (apiName: string, op: string): ArmResource => ({ id: `${API_ID(apiName)}/operations/${op}`, name: op, type: "Microsoft.ApiManagement/service/apis/operations", properties: { displayName: op, method: "GET", urlTemplate: `/${op}` } });
const opPolicy = (apiName: string, op: string, body = "", base = true): ArmResource => policy(doc(body, base), `${API_ID(apiName)}/operations/${op}`);
const WS_ID = (ws: string) => `${SERVICE_ID}/workspaces/${ws}`;
const wsResource = (ws: string): ArmResource => ({ id: WS_ID(ws), name: ws, type: "Microsoft.ApiManagement/service/workspaces", properties: { displayName: ws } });
const wsApi = (ws: string, name: string, props: Record<string, unknown> = {}): ArmResource => ({ ...api(name, props), id: `${WS_ID(ws)}/apis/${name}`, type: "Microsoft.ApiManagement/service/workspaces/apis" });
const contents = (parts: Partial<WorkspaceContents>): WorkspaceContents => ({ apis: [], apiPolicies: {}, operationPolicies: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [], ...parts });
const CHOOSE_WHEN = (body: string) => `<choose><when condition="@(context.Request.Headers.ContainsKey(&quot;Authorization&quot;))">${body}</when></choose>`;

ruleTester(rule, {
  valid: [
    { name: "subscriptionRequired true", snapshot: snap({ apis: [api("echo", { subscriptionRequired: true })] }), count: 1, expect: [{ resourceId: "apis/echo", status: "pass", message: /requires a subscription key/ }] },
    { name: "subscriptionRequired absent (ARM default true)", snapshot: snap({ apis: [api("echo")] }) },
    { name: "subscriptionRequired \"true\" as a string, PascalCase", snapshot: snap({ apis: [pascal(api("echo", { SubscriptionRequired: "True" }))] }) },
    { name: "open API with validate-jwt at API scope", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", JWT) } }), expect: [{ resourceId: "apis/echo", status: "pass", message: /validates callers in policy/ }] },
    { name: "open API with validate-azure-ad-token", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<validate-azure-ad-token tenant-id="contoso.onmicrosoft.com"><client-application-ids><application-id>1</application-id></client-application-ids></validate-azure-ad-token>`) } }) },
    { name: "open API with validate-client-certificate", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<validate-client-certificate validate-revocation="true" validate-trust="true" />`) } }) },
    { name: "open API under a global validate-jwt, API keeps <base/>", snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), apiPolicies: { echo: apiPolicy("echo", "<cors />") } }) },
    { name: "open API under a global validate-jwt, no API policy", snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT) }) },
    {
      name: "open API in a product that validates, and a global validate-jwt for the no-product path",
      snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), products: [product("open", { subscriptionRequired: false })], productApis: { open: ["echo"] }, productPolicies: { open: productPolicy("open", `<validate-client-certificate />`) } }),
    },
    { name: "validate-jwt nested in <choose><when>", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(context.Request.Method != &quot;OPTIONS&quot;)">${JWT}</when><otherwise>${JWT}</otherwise></choose>`) } }) },
    { name: "mixed-case API name and PascalCase properties", snapshot: snap({ apis: [pascal(open("Echo-API"))], apiPolicies: { "echo-api": pascal(apiPolicy("Echo-API", JWT)) } }), expect: [{ resourceId: "apis/Echo-API", status: "pass" }] },
    {
      name: "Learn subscriptions: key-less calls to an open API run in the API's context, so a product without <base/> does not matter",
      snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), productApis: { a: ["echo"], b: ["echo"] }, productPolicies: { a: productPolicy("a", JWT), b: productPolicy("b", "", false) } }),
      expect: [{ resourceId: "apis/echo", status: "pass" }],
    },
    {
      name: "Defender 8ac833bd: every operation inherits the API's validate-jwt (operation policies keep <base/>) -> pass",
      snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", JWT) }, operations: { echo: [operation("echo", "get-a"), operation("echo", "get-b")] }, operationPolicies: { "echo/get-b": opPolicy("echo", "get-b", "<cors />") } }),
      count: 1,
      expect: [{ resourceId: "apis/echo", status: "pass", message: /each of its 2 operation/ }],
    },
    {
      name: "Defender 8ac833bd: an operation that drops <base/> but validates itself -> pass",
      snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", JWT) }, operations: { echo: [operation("echo", "get-a")] }, operationPolicies: { "echo/get-a": opPolicy("echo", "get-a", JWT, false) } }),
    },
    {
      name: "Learn subscriptions: a key-required API in an open product whose product policy validates -> pass",
      snapshot: snap({ apis: [api("echo")], products: [product("open", { subscriptionRequired: false })], productApis: { open: ["echo"] }, productPolicies: { open: productPolicy("open", JWT) } }),
      expect: [{ resourceId: "apis/echo", status: "pass", message: /validates callers in policy/ }],
    },
    {
      name: "Defender 8ac833bd: every <choose> branch validates or returns 401 -> pass",
      snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(!context.Request.Headers.ContainsKey(&quot;Authorization&quot;))"><return-response><set-status code="401" reason="Unauthorized" /></return-response></when><otherwise>${JWT}</otherwise></choose>`) } }),
    },
    {
      name: "Defender 8ac833bd: an online non-current revision with its own validate-jwt -> pass",
      snapshot: snap({ apis: [api("echo"), open("echo;rev=2")], apiPolicies: { "echo;rev=2": apiPolicy("echo;rev=2", JWT) } }),
      count: 2,
      expect: [{ resourceId: "apis/echo;rev=2", status: "pass" }],
    },
    { name: "an offline revision (isOnline false) is not callable and not judged", snapshot: snap({ apis: [api("echo"), open("echo;rev=2", { isOnline: false })] }), count: 1 },
    {
      name: "workspace chain global -> workspace -> API: the workspace policy's validate-jwt covers its open API -> pass",
      snapshot: snap({ workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders", { subscriptionRequired: false })], policy: policy(doc(JWT), WS_ID("team-a")) }) } }),
      count: 1,
      expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "pass", message: /in workspace 'team-a'/ }],
    },
    {
      name: "workspace chain: the global validate-jwt reaches a workspace API through workspace and API policies with <base/> -> pass",
      snapshot: snap({ globalPolicy: global(JWT), workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders", { subscriptionRequired: false })], policy: policy(doc("<cors />"), WS_ID("team-a")), apiPolicies: { orders: policy(doc(""), `${WS_ID("team-a")}/apis/orders`) } }) } }),
    },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), apis: [api("echo")] }) },
    { name: "children-only input", snapshot: stub({ apis: [api("echo")] }) },
  ],
  invalid: [
    { name: "open API without any policy", snapshot: snap({ apis: [open("echo")] }), count: 1, expect: [{ resourceId: "apis/echo", status: "fail", message: /needs no subscription key and no policy validates/ }] },
    { name: "subscriptionRequired \"false\" as a string", snapshot: snap({ apis: [open("echo", { subscriptionRequired: "false" })] }), expect: [{ status: "fail" }] },
    { name: "global validate-jwt, API inbound lacks <base/>", snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), apiPolicies: { echo: apiPolicy("echo", "<cors />", false) } }), expect: [{ status: "fail" }] },
    {
      name: "open API validated only through its product (the no-product path is open)",
      snapshot: snap({ apis: [open("echo")], products: [product("starter")], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", JWT) } }),
      expect: [{ status: "fail" }],
    },
    { name: "validate-jwt only in an XML comment", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<!-- ${JWT} -->`) } }), expect: [{ status: "fail" }] },
    { name: "validate-jwt only in outbound", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: policy(`<policies><inbound><base /></inbound><outbound><base />${JWT}</outbound></policies>`, API_ID("echo")) } }), expect: [{ status: "fail" }] },
    { name: "check-header is not authentication", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="false" />`) } }), expect: [{ status: "fail" }] },
    { name: "one open API among protected ones", snapshot: snap({ apis: [api("a"), open("b"), open("c")], apiPolicies: { c: apiPolicy("c", JWT) } }), count: 3, expect: [{ resourceId: "apis/a", status: "pass" }, { resourceId: "apis/b", status: "fail" }, { resourceId: "apis/c", status: "pass" }] },
    { name: "PascalCase open API", snapshot: snap({ apis: [pascal(open("Echo"))] }), expect: [{ resourceId: "apis/Echo", status: "fail", message: /'Echo'/ }] },
    {
      name: "Defender 8ac833bd: an operation policy without <base/> drops the API's validate-jwt -> fail, naming the operation",
      snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", JWT) }, operations: { echo: [operation("echo", "get-a"), operation("echo", "get-b")] }, operationPolicies: { "echo/get-b": opPolicy("echo", "get-b", "<cors />", false) } }),
      count: 1,
      expect: [{ resourceId: "apis/echo", status: "fail", message: /for operation 'get-b': callable without a key/ }],
    },
    {
      name: "Defender 8ac833bd: an operation without <base/> drops the global validate-jwt -> fail",
      snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), operations: { echo: [operation("echo", "list"), operation("echo", "delete")] }, operationPolicies: { "echo/delete": opPolicy("echo", "delete", "", false) } }),
      expect: [{ resourceId: "apis/echo", status: "fail", message: /operation 'delete'/ }],
    },
    {
      name: "beyond Policy 8ac833bd: open product makes a key-required API callable without a key -> fail",
      snapshot: snap({ apis: [api("echo", { subscriptionRequired: true })], products: [product("open", { subscriptionRequired: false })], productApis: { open: ["echo"] } }),
      expect: [{ resourceId: "apis/echo", status: "fail", message: /open product 'open'/ }],
    },
    {
      name: "Learn subscriptions: an open product's policy without <base/> cuts the global validate-jwt for key-less callers -> fail",
      snapshot: snap({ apis: [api("echo")], globalPolicy: global(JWT), products: [product("open", { subscriptionRequired: "False" })], productApis: { open: ["echo"] }, productPolicies: { open: productPolicy("open", "<cors />", false) } }),
      expect: [{ status: "fail" }],
    },
    { name: "Defender 8ac833bd: validate-jwt only in a <when> without <otherwise> -> fail", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", CHOOSE_WHEN(JWT)) } }), expect: [{ status: "fail" }] },
    { name: "Defender 8ac833bd: one <choose> branch has no validation -> fail", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(true)">${JWT}</when><otherwise><set-header name="x" exists-action="delete" /></otherwise></choose>`) } }), expect: [{ status: "fail" }] },
    {
      name: "Defender 8ac833bd: an online non-current revision (echo;rev=2) is callable and has no validation -> fail",
      snapshot: snap({ apis: [open("echo"), open("echo;rev=2")], apiPolicies: { echo: apiPolicy("echo", JWT) } }),
      count: 2,
      expect: [{ resourceId: "apis/echo", status: "pass" }, { resourceId: "apis/echo;rev=2", status: "fail", message: /API 'echo;rev=2'/ }],
    },
    {
      name: "Defender 8ac833bd: an operation of a non-current revision drops <base/> -> fail",
      snapshot: snap({
        apis: [open("echo"), open("echo;rev=2")],
        apiPolicies: { echo: apiPolicy("echo", JWT), "echo;rev=2": apiPolicy("echo;rev=2", JWT) },
        operations: { "echo;rev=2": [operation("echo;rev=2", "x")] },
        operationPolicies: { "echo;rev=2/x": opPolicy("echo;rev=2", "x", "", false) },
      }),
      expect: [{ resourceId: "apis/echo", status: "pass" }, { resourceId: "apis/echo;rev=2", status: "fail", message: /operation 'x'/ }],
    },
    {
      name: "beyond Defender 8ac833bd (it does not cover workspace APIs): an open workspace API without validation -> fail",
      snapshot: snap({ workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders", { subscriptionRequired: false })] }) } }),
      expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "fail", message: /in workspace 'team-a'/ }],
    },
    {
      name: "workspace chain: a workspace API policy without <base/> drops the workspace's validate-jwt -> fail",
      snapshot: snap({ workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders", { subscriptionRequired: false })], policy: policy(doc(JWT), WS_ID("team-a")), apiPolicies: { orders: policy(doc("", false), `${WS_ID("team-a")}/apis/orders`) } }) } }),
      expect: [{ status: "fail" }],
    },
    {
      name: "Defender 8ac833bd in a workspace: an operation policy without <base/> drops the workspace API's validate-jwt -> fail, naming it",
      snapshot: () => {
        const ops = ["get", "put"].map((o) => ({ id: `${WS_ID("team-a")}/apis/orders/operations/${o}`, name: o, type: "Microsoft.ApiManagement/service/workspaces/apis/operations", properties: {} }));
        const wsPolicy = (path: string, body: string, base = true) => policy(doc(body, base), `${WS_ID("team-a")}/${path}`);
        return snap({
          workspaces: [wsResource("team-a")],
          workspaceContents: { "team-a": { ...contents({ apis: [wsApi("team-a", "orders", { subscriptionRequired: false })], apiPolicies: { orders: wsPolicy("apis/orders", JWT) }, operationPolicies: { "orders/put": wsPolicy("apis/orders/operations/put", "", false) } }), operations: { orders: ops } } },
        });
      },
      expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "fail", message: /for operation 'put'/ }],
    },
    {
      name: "workspace chain: a key-required workspace API in an open workspace product -> fail",
      snapshot: snap({ workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders")], products: [{ ...product("free", { subscriptionRequired: false }), id: `${WS_ID("team-a")}/products/free` }], productApis: { free: ["orders"] } }) } }),
      expect: [{ status: "fail", message: /open product 'free'/ }],
    },
    { name: "a Consumption service with an open API", snapshot: snap({ service: consumption(), apis: [open("echo")] }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "no APIs", snapshot: snap({ globalPolicy: global(JWT) }) },
    { name: "only an offline non-current revision (isOnline false: not callable)", snapshot: snap({ apis: [open("echo;rev=2", { isOnline: false })] }) },
  ],
  unknown: [
    { name: "subscriptionRequired is a template expression", snapshot: snap({ apis: [api("echo", { subscriptionRequired: EXPR })] }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /template expression/ }] },
    { name: "open API whose policy includes a fragment", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<include-fragment fragment-id="auth" />`) } }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /fragments or invalid XML/ }] },
    { name: "open API whose global policy includes a fragment", snapshot: snap({ apis: [open("echo")], globalPolicy: global(`<include-fragment fragment-id="auth" />`) }) },
    { name: "open API whose policy is not well-formed XML", snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), apiPolicies: { echo: rawPolicy(`<policies><inbound><base /><validate-jwt></inbound></policies>`, API_ID("echo")) } }) },
    { name: "open API whose policy is a link", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: rawPolicy("https://example.com/p.xml", API_ID("echo"), "rawxml-link") } }) },
    {
      name: "a product's subscriptionRequired is a template expression (it may be open), nothing validates -> unknown",
      snapshot: snap({ apis: [api("echo")], products: [product("p", { subscriptionRequired: EXPR })], productApis: { p: ["echo"] } }),
      expect: [{ resourceId: "apis/echo", status: "unknown", message: /template expression/ }],
    },
    {
      name: "an operation policy with a fragment that cuts <base/> -> unknown for that operation",
      snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", JWT) }, operations: { echo: [operation("echo", "a")] }, operationPolicies: { "echo/a": opPolicy("echo", "a", `<include-fragment fragment-id="auth" />`, false) } }),
      expect: [{ resourceId: "apis/echo", status: "unknown", message: /operation 'a'.*fragments or invalid XML/ }],
    },
    { name: "validate-jwt in <when>, the <otherwise> includes a fragment -> unknown", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(true)">${JWT}</when><otherwise><include-fragment fragment-id="auth" /></otherwise></choose>`) } }) },
    { name: "operations were not collected", snapshot: snap({ apis: [open("echo")], needs: ["apis", "apiRevisions", "policies", "apiPolicies", "products", "productApis", "productPolicies", "operationPolicies", "revisionPolicies", "workspaces"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /operations/ }] },
    { name: "workspaces were not collected", snapshot: snap({ apis: [open("echo")], needs: ["apis", "apiRevisions", "policies", "apiPolicies", "products", "productApis", "productPolicies", "operations", "operationPolicies", "revisionPolicies"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /workspaces/ }] },
    { name: "API policies were not collected", snapshot: snap({ apis: [open("echo")], needs: ["apis", "policies", "products", "productApis", "productPolicies"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /apiPolicies/ }] },
  ],
});
