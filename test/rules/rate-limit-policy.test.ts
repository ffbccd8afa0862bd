import { rule } from "../../src/remediations/rate-limit-policy.js";
import type { ArmResource } from "../../src/model/arm.js";
import type { WorkspaceContents } from "../../src/model/snapshot.js";
import { EXPR, SERVICE_ID, api, consumption, pascal, policy, policyXml, product, snap, stub, subscription, ruleTester } from "../helpers/rule-tester.js";

const RATE = `<rate-limit calls="100" renewal-period="60" />`;
const API_ID = (name: string) => `${SERVICE_ID}/apis/${name}`;
const PRODUCT_ID = (name: string) => `${SERVICE_ID}/products/${name}`;
/** A policy whose inbound holds `body`; every section keeps `<base/>` unless `base` is false. */
const doc = (body = "", base = true) => policyXml({ inbound: body, base });
const global = (body: string, base = false): ArmResource => policy(doc(body, base));
const apiPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), API_ID(name));
const productPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), PRODUCT_ID(name));
const operation = (apiName: string, op: string): ArmResource => ({ id: `${API_ID(apiName)}/operations/${op}`, name: op, type: "Microsoft.ApiManagement/service/apis/operations", properties: { displayName: op, method: "GET", urlTemplate: `/${op}` } });
const opPolicy = (apiName: string, op: string, body = "", base = true): ArmResource => policy(doc(body, base), `${API_ID(apiName)}/operations/${op}`);
const WS_ID = (ws: string) => `${SERVICE_ID}/workspaces/${ws}`;
const wsResource = (ws: string): ArmResource => ({ id: WS_ID(ws), name: ws, type: "Microsoft.ApiManagement/service/workspaces", properties: { displayName: ws } });
const wsApi = (ws: string, name: string, props: Record<string, unknown> = {}): ArmResource => ({ ...api(name, props), id: `${WS_ID(ws)}/apis/${name}`, type: "Microsoft.ApiManagement/service/workspaces/apis" });
const contents = (parts: Partial<WorkspaceContents>): WorkspaceContents => ({ apis: [], apiPolicies: {}, operationPolicies: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [], ...parts });
/** `echo` in product `starter`, whose policy limits. */
const productLimited = { apis: [api("echo")], products: [product("starter")], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", RATE) } };
/** A policy resource with raw text (not necessarily XML) or another format. */
const rawPolicy = (value: string, parent = SERVICE_ID, format = "xml"): ArmResource => {
  const p = policy("", parent);
  return { ...p, properties: { format, value } };
};

ruleTester(rule, {
  valid: [
    { name: "rate-limit at API scope", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE) } }), count: 1, expect: [{ resourceId: "apis/echo", status: "pass", message: /rate limited/ }] },
    { name: "rate-limit at API scope without <base/> (the API's own limit applies)", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE, false) } }) },
    { name: "global rate-limit, API policy keeps <base/> in inbound", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: apiPolicy("echo", "<set-header name=\"x\" exists-action=\"override\"><value>1</value></set-header>") } }) },
    { name: "global rate-limit, no API policy at all", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE) }) },
    {
      name: "global rate-limit, <base/> after other inbound elements",
      snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: policy(`<policies><inbound><set-variable name="a" value="1" /><base /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`, API_ID("echo")) } }),
    },
    {
      name: "a product policy covers the APIs in that product",
      snapshot: snap({ apis: [api("echo")], products: [product("starter")], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", RATE) } }),
      expect: [{ resourceId: "apis/echo", status: "pass" }],
    },
    {
      name: "a product policy without <base/> still covers with its own limit",
      snapshot: snap({ apis: [api("echo")], products: [product("starter")], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", RATE, false) } }),
    },
    {
      name: "an API in two products, both product policies limit",
      snapshot: snap({
        apis: [api("echo")],
        products: [product("starter"), product("unlimited")],
        productApis: { starter: ["echo"], unlimited: ["echo"] },
        productPolicies: { starter: productPolicy("starter", RATE), unlimited: productPolicy("unlimited", `<quota calls="1000" renewal-period="86400" />`) },
      }),
    },
    {
      name: "an API in two products, one limits and the other inherits a global limit",
      snapshot: snap({
        apis: [api("echo")],
        globalPolicy: global(`<rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Request.IpAddress)" />`),
        products: [product("starter"), product("unlimited")],
        productApis: { starter: ["echo"], unlimited: ["echo"] },
        productPolicies: { starter: productPolicy("starter", RATE), unlimited: productPolicy("unlimited", "<cors><allowed-origins><origin>https://a.example.com</origin></allowed-origins></cors>") },
      }),
    },
    {
      name: "an API in two products, one without any product policy, under a global limit",
      snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), productApis: { starter: ["echo"], unlimited: ["echo"] }, productPolicies: { starter: productPolicy("starter", RATE) } }),
    },
    {
      name: "subscriptionRequired false: product path and no-product path both limited",
      snapshot: snap({ apis: [api("echo", { subscriptionRequired: false })], globalPolicy: global(RATE), productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", `<quota calls="5" renewal-period="60" />`) } }),
    },
    { name: "rate-limit nested in <choose><when>", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(context.Request.Method == &quot;POST&quot;)">${RATE}</when><otherwise><quota calls="10" renewal-period="60" /></otherwise></choose>`) } }) },
    { name: "rate-limit-by-key", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Subscription.Id)" />`) } }) },
    { name: "quota", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<quota calls="10" renewal-period="3600" />`) } }) },
    { name: "quota-by-key", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<quota-by-key calls="10" renewal-period="3600" counter-key="x" />`) } }) },
    { name: "llm-token-limit", snapshot: snap({ apis: [api("chat")], apiPolicies: { chat: apiPolicy("chat", `<llm-token-limit tokens-per-minute="500" counter-key="x" estimate-prompt-tokens="false" />`) } }) },
    { name: "azure-openai-token-limit", snapshot: snap({ apis: [api("aoai")], globalPolicy: global(`<azure-openai-token-limit tokens-per-minute="500" counter-key="x" estimate-prompt-tokens="false" />`) }) },
    { name: "a global policy with a fragment and a rate-limit", snapshot: snap({ apis: [api("echo")], globalPolicy: global(`<include-fragment fragment-id="common" />${RATE}`) }) },
    { name: "an API policy with a fragment that inherits a global limit", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: apiPolicy("echo", `<include-fragment fragment-id="cors" />`) } }) },
    {
      name: "mixed-case API name, lowercase map keys, PascalCase properties",
      snapshot: snap({ apis: [pascal(api("Echo-API"))], products: [pascal(product("Starter"))], productApis: { starter: ["echo-api"] }, productPolicies: { starter: pascal(productPolicy("Starter", RATE)) } }),
      expect: [{ resourceId: "apis/echo-api", status: "pass", message: /Echo-API/ }],
    },
    { name: "element names in upper case", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: policy(`<policies><inbound><base /><RATE-LIMIT calls="1" renewal-period="1" /></inbound></policies>`, API_ID("echo")) } }) },
    { name: "format rawxml with escaped XML", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: rawPolicy(doc(RATE), API_ID("echo"), "rawxml") } }) },
    { name: "an XML declaration before <policies>", snapshot: snap({ apis: [api("echo")], globalPolicy: rawPolicy(`<?xml version="1.0" encoding="utf-8"?>\n${doc(RATE)}`) }) },
    {
      name: "format rawxml with unescaped quotes and < in policy expressions",
      snapshot: snap({
        apis: [api("echo")],
        apiPolicies: {
          echo: rawPolicy(
            doc(`<set-variable name="n" value="@(context.Variables.GetValueOrDefault<int>("n") < 3)" /><choose><when condition="@(context.Request.Method == "POST")">${RATE}</when><otherwise>${RATE}</otherwise></choose><set-body>@{ var x = "<a>"; return x + "}"; }</set-body>`),
            API_ID("echo"),
            "rawxml",
          ),
        },
      }),
    },
    {
      name: "an offline revision (isOnline false) is not callable and not judged",
      snapshot: snap({ apis: [api("echo"), api("echo;rev=2", { isOnline: false })], apiPolicies: { echo: apiPolicy("echo", RATE) } }),
      count: 1,
      expect: [{ resourceId: "apis/echo", status: "pass" }],
    },
    { name: "an online non-current revision with its own limit", snapshot: snap({ apis: [api("echo"), api("echo;rev=2")], apiPolicies: { echo: apiPolicy("echo", RATE), "echo;rev=2": apiPolicy("echo;rev=2", RATE) } }), count: 2 },
    {
      name: "every operation inherits the API's limit (operation policies keep <base/>)",
      snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE) }, operations: { echo: [operation("echo", "a"), operation("echo", "b")] }, operationPolicies: { "echo/a": opPolicy("echo", "a", "<cors />") } }),
      expect: [{ resourceId: "apis/echo", status: "pass", message: /each of its 2 operation/ }],
    },
    { name: "an operation without <base/> that limits itself", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE) }, operations: { echo: [operation("echo", "a")] }, operationPolicies: { "echo/a": opPolicy("echo", "a", RATE, false) } }) },
    { name: "Learn subscriptions: a suspended all-APIs subscription grants no access, the product limit covers", snapshot: snap({ ...productLimited, subscriptions: [subscription("all", { scope: "/apis", state: "suspended" })] }) },
    { name: "Learn subscriptions: a subscription without a state is not active (ARM creates it submitted)", snapshot: snap({ ...productLimited, subscriptions: [subscription("all", { scope: "/apis", state: undefined })] }) },
    { name: "Learn subscriptions: a product-scoped subscription runs the product's policy", snapshot: snap({ ...productLimited, subscriptions: [subscription("s", { scope: `${SERVICE_ID}/products/starter` })] }) },
    { name: "a subscription scoped to another API does not reach this one", snapshot: snap({ ...productLimited, subscriptions: [subscription("s", { scope: `${SERVICE_ID}/apis/other` })] }) },
    { name: "the built-in all-access subscription (service scope) is not counted", snapshot: snap({ ...productLimited, subscriptions: [subscription("master", { scope: `${SERVICE_ID}/` })] }) },
    { name: "Learn subscriptions: an all-APIs subscription with an API-scope limit", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE) }, subscriptions: [subscription("all", { scope: "/apis" })] }) },
    {
      name: "workspace chain global -> workspace: the workspace policy limits its APIs",
      snapshot: snap({ workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders")], policy: policy(doc(RATE), WS_ID("team-a")) }) } }),
      count: 1,
      expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "pass", message: /in workspace 'team-a'/ }],
    },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), apis: [api("echo")], globalPolicy: global(RATE) }) },
    { name: "children-only input", snapshot: stub({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE) } }) },
  ],
  invalid: [
    { name: "no policy anywhere", snapshot: snap({ apis: [api("echo")] }), count: 1, expect: [{ resourceId: "apis/echo", status: "fail", message: /no rate-limit or quota policy/ }] },
    { name: "global rate-limit, API inbound lacks <base/>", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: apiPolicy("echo", "<set-header name=\"x\" exists-action=\"delete\" />", false) } }), expect: [{ resourceId: "apis/echo", status: "fail" }] },
    { name: "global rate-limit, API policy has no inbound section", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: policy("<policies><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>", API_ID("echo")) } }), expect: [{ status: "fail" }] },
    { name: "global rate-limit, <base/> only nested inside <choose>", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: policy(`<policies><inbound><choose><when condition="@(true)"><base /></when></choose></inbound></policies>`, API_ID("echo")) } }), expect: [{ status: "fail" }] },
    {
      name: "global rate-limit, product inbound lacks <base/>",
      snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", "<cors />", false) } }),
      expect: [{ status: "fail" }],
    },
    {
      name: "an API in two products, only one path limited",
      snapshot: snap({ apis: [api("echo")], products: [product("starter"), product("unlimited")], productApis: { starter: ["echo"], unlimited: ["echo"] }, productPolicies: { starter: productPolicy("starter", RATE) } }),
      expect: [{ resourceId: "apis/echo", status: "fail" }],
    },
    {
      name: "subscriptionRequired false: product limited but the no-product path is not",
      snapshot: snap({ apis: [api("echo", { subscriptionRequired: false })], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", RATE) } }),
      expect: [{ status: "fail" }],
    },
    {
      name: "subscriptionRequired \"False\" (string) also takes the no-product path",
      snapshot: snap({ apis: [pascal(api("echo", { SubscriptionRequired: "False" }))], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", RATE) } }),
      expect: [{ status: "fail" }],
    },
    { name: "a product policy limits a different product", snapshot: snap({ apis: [api("echo"), api("other")], productApis: { starter: ["other"] }, productPolicies: { starter: productPolicy("starter", RATE) } }), count: 2, expect: [{ resourceId: "apis/echo", status: "fail" }, { resourceId: "apis/other", status: "pass" }] },
    { name: "rate-limit only in an XML comment", snapshot: snap({ apis: [api("echo")], globalPolicy: global(`<!-- ${RATE} rate-limit disabled for now -->`) }), expect: [{ status: "fail" }] },
    { name: "rate-limit only in text and attribute values", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<set-header name="rate-limit" exists-action="override"><value>rate-limit</value></set-header>`) } }), expect: [{ status: "fail" }] },
    { name: "rate-limit only in the outbound section", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: policy(`<policies><inbound><base /></inbound><outbound><base />${RATE}</outbound></policies>`, API_ID("echo")) } }), expect: [{ status: "fail" }] },
    { name: "rate-limit in another API's policy", snapshot: snap({ apis: [api("echo"), api("other")], apiPolicies: { other: apiPolicy("other", RATE) } }), expect: [{ resourceId: "apis/echo", status: "fail" }, { resourceId: "apis/other", status: "pass" }] },
    { name: "an unreadable global policy does not matter when the API cuts it off", snapshot: snap({ apis: [api("echo")], globalPolicy: rawPolicy("<policies><inbound>"), apiPolicies: { echo: apiPolicy("echo", "", false) } }), expect: [{ status: "fail" }] },
    { name: "a global fragment does not matter when the API cuts it off", snapshot: snap({ apis: [api("echo")], globalPolicy: global(`<include-fragment fragment-id="limits" />`), apiPolicies: { echo: apiPolicy("echo", "", false) } }), expect: [{ status: "fail" }] },
    {
      name: "a covered product path with a fragment does not make an uncovered path unknown",
      snapshot: snap({
        apis: [api("echo")],
        globalPolicy: global(RATE),
        productApis: { starter: ["echo"], unlimited: ["echo"] },
        productPolicies: { starter: productPolicy("starter", `<include-fragment fragment-id="x" />`), unlimited: productPolicy("unlimited", "", false) },
      }),
      expect: [{ resourceId: "apis/echo", status: "fail" }],
    },
    {
      name: "an unknown path does not hide a path known to be unlimited",
      snapshot: snap({
        apis: [api("echo")],
        productApis: { a: ["echo"], b: ["echo"] },
        productPolicies: { a: rawPolicy("<policies>", PRODUCT_ID("a")), b: productPolicy("b", "<cors />", false) },
      }),
      expect: [{ resourceId: "apis/echo", status: "fail" }],
    },
    { name: "rawxml: a policy expression mentioning rate-limit is not an element", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: rawPolicy(doc(`<set-variable name="x" value="@("<rate-limit calls='1' renewal-period='1' />")" />`), API_ID("echo"), "rawxml") } }), expect: [{ status: "fail" }] },
    { name: "Learn subscriptions: an active all-APIs subscription skips the product's limit", snapshot: snap({ ...productLimited, subscriptions: [subscription("all", { scope: "/apis" })] }), expect: [{ resourceId: "apis/echo", status: "fail", message: /without a product \(subscription 'all' is scoped to all APIs\)/ }] },
    { name: "Learn subscriptions: an active subscription scoped to the API skips the product's limit", snapshot: snap({ ...productLimited, subscriptions: [subscription("one", { scope: `${SERVICE_ID}/apis/echo` })] }), expect: [{ status: "fail", message: /scoped to the API/ }] },
    { name: "Learn subscriptions: an API-scoped subscription named by the relative scope /apis/Echo", snapshot: snap({ ...productLimited, subscriptions: [subscription("one", { scope: "/apis/Echo" })] }), expect: [{ status: "fail" }] },
    {
      name: "an operation policy without <base/> drops the API's limit, naming the operation",
      snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE) }, operations: { echo: [operation("echo", "a"), operation("echo", "upload")] }, operationPolicies: { "echo/upload": opPolicy("echo", "upload", "", false) } }),
      count: 1,
      expect: [{ resourceId: "apis/echo", status: "fail", message: /for operation 'upload' on the path/ }],
    },
    { name: "rate-limit only in a <when> without <otherwise>", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(context.Request.Method == &quot;POST&quot;)">${RATE}</when></choose>`) } }), expect: [{ status: "fail" }] },
    { name: "one <choose> branch is unlimited", snapshot: snap({ apis: [api("echo")], globalPolicy: global(`<choose><when condition="@(true)">${RATE}</when><otherwise><cors /></otherwise></choose>`) }), expect: [{ status: "fail" }] },
    {
      name: "an online non-current revision (echo;rev=2) without its own limit",
      snapshot: snap({ apis: [api("echo"), api("echo;rev=2")], apiPolicies: { echo: apiPolicy("echo", RATE) } }),
      count: 2,
      expect: [{ resourceId: "apis/echo", status: "pass" }, { resourceId: "apis/echo;rev=2", status: "fail" }],
    },
    { name: "a workspace API without any limit", snapshot: snap({ globalPolicy: global("<cors />"), workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders")] }) } }), expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "fail" }] },
    {
      name: "workspace: an all-APIs workspace subscription skips the workspace product's limit",
      snapshot: snap({
        workspaces: [wsResource("team-a")],
        workspaceContents: {
          "team-a": contents({
            apis: [wsApi("team-a", "orders")],
            products: [{ ...product("gold"), id: `${WS_ID("team-a")}/products/gold` }],
            productApis: { gold: ["orders"] },
            productPolicies: { gold: policy(doc(RATE), `${WS_ID("team-a")}/products/gold`) },
            subscriptions: [{ ...subscription("all", { scope: `${WS_ID("team-a")}/apis` }), id: `${WS_ID("team-a")}/subscriptions/all` }],
          }),
        },
      }),
      expect: [{ status: "fail", message: /scoped to all APIs/ }],
    },
    { name: "workspace: the workspace policy without <base/> cuts the global limit", snapshot: snap({ globalPolicy: global(RATE), workspaces: [wsResource("team-a")], workspaceContents: { "team-a": contents({ apis: [wsApi("team-a", "orders")], policy: policy(doc("<cors />", false), WS_ID("team-a")) }) } }), expect: [{ status: "fail" }] },
    { name: "a Consumption service without limits", snapshot: snap({ service: consumption(), apis: [api("echo")] }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "no APIs", snapshot: snap({ globalPolicy: global(RATE) }) },
    { name: "only an offline non-current revision", snapshot: snap({ apis: [api("echo;rev=2", { isOnline: false })] }) },
  ],
  unknown: [
    { name: "API policy includes a fragment, no limit elsewhere", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<include-fragment fragment-id="limits" />`) } }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /fragments or invalid XML/ }] },
    { name: "API policy includes a fragment and cuts <base/>, global limited", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: apiPolicy("echo", `<include-fragment fragment-id="limits" />`, false) } }) },
    { name: "a product policy includes a fragment, no limit elsewhere", snapshot: snap({ apis: [api("echo")], productApis: { starter: ["echo"] }, productPolicies: { starter: productPolicy("starter", `<include-fragment fragment-id="limits" />`) } }) },
    { name: "a global policy includes a fragment", snapshot: snap({ apis: [api("echo")], globalPolicy: global(`<include-fragment fragment-id="limits" />`) }) },
    { name: "the global policy is not well-formed XML", snapshot: snap({ apis: [api("echo")], globalPolicy: rawPolicy(`<policies><inbound><rate-limit calls="1"></inbound></policies>`) }) },
    { name: "the API policy is not well-formed XML, global limited", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: rawPolicy("<policies><inbound><base/>", API_ID("echo")) } }) },
    { name: "the API policy has no <policies> root", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: rawPolicy("<inbound><base /></inbound>", API_ID("echo")) } }) },
    { name: "the API policy is a link (xml-link)", snapshot: snap({ apis: [api("echo")], globalPolicy: global(RATE), apiPolicies: { echo: rawPolicy("https://example.com/policy.xml", API_ID("echo"), "xml-link") } }) },
    { name: "the product policy is not well-formed XML", snapshot: snap({ apis: [api("echo")], productApis: { starter: ["echo"] }, productPolicies: { starter: rawPolicy("not xml", PRODUCT_ID("starter")) } }) },
    { name: "product policies were not collected", snapshot: snap({ apis: [api("echo")], needs: ["apis", "policies", "apiPolicies", "products", "productApis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /productPolicies/ }] },
    { name: "an all-APIs subscription whose state is a template expression, only the product limits", snapshot: snap({ ...productLimited, subscriptions: [subscription("all", { scope: "/apis", state: EXPR })] }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /template expression/ }] },
    { name: "a subscription whose scope is a template expression, only the product limits", snapshot: snap({ ...productLimited, subscriptions: [subscription("s", { scope: EXPR })] }) },
    { name: "an operation policy includes a fragment and cuts <base/>", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", RATE) }, operations: { echo: [operation("echo", "a")] }, operationPolicies: { "echo/a": opPolicy("echo", "a", `<include-fragment fragment-id="x" />`, false) } }), expect: [{ status: "unknown", message: /operation 'a'/ }] },
    { name: "subscriptions were not collected", snapshot: snap({ apis: [api("echo")], needs: ["apis", "apiRevisions", "policies", "apiPolicies", "products", "productApis", "productPolicies", "operations", "operationPolicies", "revisionPolicies", "workspaces"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /subscriptions/ }] },
    { name: "nothing was collected", snapshot: snap({ needs: [] }), expect: [{ status: "unknown", message: /apis, apiRevisions, policies/ }] },
  ],
});
