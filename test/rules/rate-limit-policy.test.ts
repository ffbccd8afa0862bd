import { rule } from "../../src/remediations/rate-limit-policy.js";
import type { ArmResource } from "../../src/model/arm.js";
import { SERVICE_ID, api, consumption, pascal, policy, policyXml, product, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const RATE = `<rate-limit calls="100" renewal-period="60" />`;
const API_ID = (name: string) => `${SERVICE_ID}/apis/${name}`;
const PRODUCT_ID = (name: string) => `${SERVICE_ID}/products/${name}`;
/** A policy whose inbound holds `body`; every section keeps `<base/>` unless `base` is false. */
const doc = (body = "", base = true) => policyXml({ inbound: body, base });
const global = (body: string, base = false): ArmResource => policy(doc(body, base));
const apiPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), API_ID(name));
const productPolicy = (name: string, body = "", base = true): ArmResource => policy(doc(body, base), PRODUCT_ID(name));
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
            doc(`<set-variable name="n" value="@(context.Variables.GetValueOrDefault<int>("n") < 3)" /><choose><when condition="@(context.Request.Method == "POST")">${RATE}</when></choose><set-body>@{ var x = "<a>"; return x + "}"; }</set-body>`),
            API_ID("echo"),
            "rawxml",
          ),
        },
      }),
    },
    {
      name: "only the current revision is evaluated",
      snapshot: snap({ apis: [api("echo"), api("echo;rev=2")], apiPolicies: { echo: apiPolicy("echo", RATE) } }),
      count: 1,
      expect: [{ resourceId: "apis/echo", status: "pass" }],
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
    { name: "a Consumption service without limits", snapshot: snap({ service: consumption(), apis: [api("echo")] }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "no APIs", snapshot: snap({ globalPolicy: global(RATE) }) },
    { name: "only a non-current revision", snapshot: snap({ apis: [api("echo;rev=2")] }) },
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
    { name: "nothing was collected", snapshot: snap({ needs: [] }), expect: [{ status: "unknown", message: /apis, policies/ }] },
  ],
});
