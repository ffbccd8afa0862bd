import { rule } from "../../src/remediations/api-authentication.js";
import type { ArmResource } from "../../src/model/arm.js";
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
    { name: "an open revision is not evaluated, the current one requires a key", snapshot: snap({ apis: [api("echo"), open("echo;rev=2")] }), count: 1 },
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
    {
      name: "open API in two products, one validates",
      snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), productApis: { a: ["echo"], b: ["echo"] }, productPolicies: { a: productPolicy("a", JWT), b: productPolicy("b", "", false) } }),
      expect: [{ status: "fail" }],
    },
    { name: "validate-jwt only in an XML comment", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<!-- ${JWT} -->`) } }), expect: [{ status: "fail" }] },
    { name: "validate-jwt only in outbound", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: policy(`<policies><inbound><base /></inbound><outbound><base />${JWT}</outbound></policies>`, API_ID("echo")) } }), expect: [{ status: "fail" }] },
    { name: "check-header is not authentication", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<check-header name="Authorization" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="false" />`) } }), expect: [{ status: "fail" }] },
    { name: "one open API among protected ones", snapshot: snap({ apis: [api("a"), open("b"), open("c")], apiPolicies: { c: apiPolicy("c", JWT) } }), count: 3, expect: [{ resourceId: "apis/a", status: "pass" }, { resourceId: "apis/b", status: "fail" }, { resourceId: "apis/c", status: "pass" }] },
    { name: "PascalCase open API", snapshot: snap({ apis: [pascal(open("Echo"))] }), expect: [{ resourceId: "apis/Echo", status: "fail", message: /'Echo'/ }] },
    { name: "a Consumption service with an open API", snapshot: snap({ service: consumption(), apis: [open("echo")] }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "no APIs", snapshot: snap({ globalPolicy: global(JWT) }) },
    { name: "only a non-current revision", snapshot: snap({ apis: [open("echo;rev=2")] }) },
  ],
  unknown: [
    { name: "subscriptionRequired is a template expression", snapshot: snap({ apis: [api("echo", { subscriptionRequired: EXPR })] }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /template expression/ }] },
    { name: "open API whose policy includes a fragment", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: apiPolicy("echo", `<include-fragment fragment-id="auth" />`) } }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /fragments or invalid XML/ }] },
    { name: "open API whose global policy includes a fragment", snapshot: snap({ apis: [open("echo")], globalPolicy: global(`<include-fragment fragment-id="auth" />`) }) },
    { name: "open API whose policy is not well-formed XML", snapshot: snap({ apis: [open("echo")], globalPolicy: global(JWT), apiPolicies: { echo: rawPolicy(`<policies><inbound><base /><validate-jwt></inbound></policies>`, API_ID("echo")) } }) },
    { name: "open API whose policy is a link", snapshot: snap({ apis: [open("echo")], apiPolicies: { echo: rawPolicy("https://example.com/p.xml", API_ID("echo"), "rawxml-link") } }) },
    { name: "API policies were not collected", snapshot: snap({ apis: [open("echo")], needs: ["apis", "policies", "products", "productApis", "productPolicies"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /apiPolicies/ }] },
  ],
});
