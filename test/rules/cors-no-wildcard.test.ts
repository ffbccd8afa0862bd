import { rule } from "../../src/remediations/cors-no-wildcard.js";
import type { ArmResource } from "../../src/model/arm.js";
import type { WorkspaceContents } from "../../src/model/snapshot.js";
import { SERVICE_ID, consumption, namedValue, pascal, policy, policyXml, service, sku, snap, stub, ruleTester, ALL_NEEDS } from "../helpers/rule-tester.js";

const API_ID = (name: string) => `${SERVICE_ID}/apis/${name}`;
const PRODUCT_ID = (name: string) => `${SERVICE_ID}/products/${name}`;
const OPERATION_ID = (apiName: string, op: string) => `${SERVICE_ID}/apis/${apiName}/operations/${op}`;
const rawPolicy = (value: string, parent: string, format = "xml"): ArmResource => ({ ...policy("", parent), properties: { format, value } });

/** A `<cors>` element; each list is given as its values (undefined: the list is left out). */
function cors(o: { origins?: string[]; methods?: string[]; headers?: string[]; expose?: string[]; credentials?: string } = {}): string {
  const list = (tag: string, leaf: string, values: string[] | undefined) => (values === undefined ? "" : `<${tag}>${values.map((v) => `<${leaf}>${v}</${leaf}>`).join("")}</${tag}>`);
  const origins = o.origins ?? ["https://app.contoso.com"];
  return `<cors${o.credentials === undefined ? "" : ` allow-credentials="${o.credentials}"`}>${list("allowed-origins", "origin", origins)}${list("allowed-methods", "method", o.methods ?? ["GET"])}${list("allowed-headers", "header", o.headers ?? ["Content-Type"])}${list("expose-headers", "header", o.expose)}</cors>`;
}
const withCors = (c: string) => policyXml({ inbound: c });
/** PSRule's own test policy (Resources.APIM.json, apim-C policy-B): every list a wildcard, with credentials. */
const PSRULE_ALL_WILD = `<policies><inbound><cors allow-credentials="true"><allowed-origins><origin>*</origin></allowed-origins><allowed-methods preflight-result-max-age="300"><method>*</method></allowed-methods><allowed-headers><header>*</header></allowed-headers><expose-headers><header>*</header></expose-headers></cors></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`;

function workspace(name: string, parts: Partial<WorkspaceContents>): Record<string, WorkspaceContents> {
  return { [name]: { apis: [], apiPolicies: {}, operationPolicies: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [], ...parts } };
}
const WS_ID = (name: string) => `${SERVICE_ID}/workspaces/${name}`;

ruleTester(rule, {
  valid: [
    {
      name: "PSRule Azure.APIM.CORSPolicy: exact origins, methods and headers pass (apim-E policy-A)",
      snapshot: snap({ globalPolicy: policy(withCors(cors({ origins: ["https://apim-E.developer.azure-api.net"], methods: ["GET"], headers: ["x-application"], expose: ["x-application-id"], credentials: "true" }))) }),
      count: 1,
      expect: [{ resourceId: `${SERVICE_ID}/policies/policy`, status: "pass", message: /global policy's <cors> names its origins/ }],
    },
    { name: "beyond PSRule Azure.APIM.CORSPolicy: a policy without <cors> passes (PSRule does not judge it)", snapshot: snap({ apiPolicies: { echo: policy(policyXml({}), API_ID("echo")) } }), count: 1, expect: [{ status: "pass", message: /API 'echo' policy has no <cors>/ }] },
    { name: "several exact origins", snapshot: snap({ productPolicies: { gold: policy(withCors(cors({ origins: ["https://a.contoso.com", "https://b.contoso.com"] })), PRODUCT_ID("gold")) } }) },
    { name: "an origin that merely contains * as part of a URI is not the wildcard", snapshot: snap({ apiPolicies: { echo: policy(withCors(cors({ origins: ["https://*.contoso.com"] })), API_ID("echo")) } }) },
    { name: "a named value that resolves to an exact origin", snapshot: snap({ namedValues: [namedValue("allowed-origin", { value: "https://app.contoso.com" })], apiPolicies: { echo: policy(withCors(cors({ origins: ["{{allowed-origin}}"] })), API_ID("echo")) } }) },
    { name: "the word * in a comment is not a value", snapshot: snap({ apiPolicies: { echo: policy(withCors(`<!-- <origin>*</origin> -->${cors()}`), API_ID("echo")) } }) },
    { name: "PascalCase Properties.Value (PowerShell export)", snapshot: snap({ apiPolicies: { echo: pascal(policy(withCors(cors()), API_ID("echo"))) } }) },
    { name: "format rawxml with an unescaped expression elsewhere in the document", snapshot: snap({ apiPolicies: { echo: rawPolicy(withCors(`${cors()}<set-variable name="v" value="@(context.Request.Headers.GetValueOrDefault("x", ""))" />`), API_ID("echo"), "rawxml") } }) },
    { name: "a Consumption service (cors applies to all tiers)", snapshot: snap({ service: consumption(), globalPolicy: policy(withCors(cors())) }) },
    { name: "a v2 tier", snapshot: snap({ service: service({}, sku("StandardV2")), globalPolicy: policy(withCors(cors())) }) },
    { name: "children-only input", snapshot: stub({ apiPolicies: { echo: policy(withCors(cors()), API_ID("echo")) } }) },
  ],
  invalid: [
    {
      name: "PSRule Azure.APIM.CORSPolicy: <origin>*</origin> fails (apim-C policy-B)",
      snapshot: snap({ globalPolicy: policy(PSRULE_ALL_WILD) }),
      count: 1,
      expect: [{ resourceId: `${SERVICE_ID}/policies/policy`, status: "fail", message: /global policy's <cors> allows any origin \(<allowed-origins> \*\), any method .*any request header.*any response header.*with allow-credentials="true"/ }],
    },
    { name: "PSRule Azure.APIM.CORSPolicy: only the origin is a wildcard", snapshot: snap({ apiPolicies: { echo: policy(withCors(cors({ origins: ["*"] })), API_ID("echo")) } }), expect: [{ resourceId: "apis/echo/policies/policy", status: "fail", message: /allows any origin \(<allowed-origins> \*\); name the exact/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: exact origin but <method>*</method> fails (apim-B policy-A)", snapshot: snap({ globalPolicy: policy(withCors(cors({ methods: ["*"] }))) }), expect: [{ status: "fail", message: /any method \(<allowed-methods> \*\)/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: <allowed-headers><header>*</header> fails", snapshot: snap({ globalPolicy: policy(withCors(cors({ headers: ["*"] }))) }), expect: [{ status: "fail", message: /any request header/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: <expose-headers><header>*</header> fails", snapshot: snap({ globalPolicy: policy(withCors(cors({ expose: ["*"] }))) }), expect: [{ status: "fail", message: /any response header to be exposed/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: an <origin>*</origin> written directly under <cors> fails", snapshot: snap({ globalPolicy: policy(withCors(`<cors><origin>*</origin></cors>`)) }), expect: [{ status: "fail", message: /any origin/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: a wildcard among exact origins still fails", snapshot: snap({ globalPolicy: policy(withCors(cors({ origins: ["https://a.contoso.com", "*"] }))) }), expect: [{ status: "fail", message: /any origin/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: product scope", snapshot: snap({ productPolicies: { gold: policy(withCors(cors({ origins: ["*"] })), PRODUCT_ID("gold")) } }), expect: [{ resourceId: "products/gold/policies/policy", status: "fail", message: /product 'gold'/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: operation scope", snapshot: snap({ operationPolicies: { "echo/get": policy(withCors(cors({ origins: ["*"] })), OPERATION_ID("echo", "get")) } }), expect: [{ resourceId: "operations/get/policies/policy", status: "fail", message: /operation 'echo\/get'/ }] },
    { name: "PSRule Azure.APIM.CORSPolicy: a <cors> inside <choose><when> counts (PSRule reads //cors)", snapshot: snap({ apiPolicies: { echo: policy(withCors(`<choose><when condition="@(true)">${cors({ origins: ["*"] })}</when></choose>`), API_ID("echo")) } }), expect: [{ status: "fail" }] },
    {
      name: "beyond PSRule Azure.APIM.CORSPolicy: a non-current revision's policy is judged (callable as api;rev=2)",
      snapshot: snap({ apiPolicies: { echo: policy(withCors(cors()), API_ID("echo")), "echo;rev=2": policy(withCors(cors({ origins: ["*"] })), API_ID("echo;rev=2")) } }),
      count: 2,
      expect: [{ resourceId: "apis/echo/policies/policy", status: "pass" }, { resourceId: "apis/echo;rev=2/policies/policy", status: "fail", message: /API 'echo;rev=2'/ }],
    },
    {
      name: "beyond PSRule Azure.APIM.CORSPolicy: workspace policies are judged (workspace, its API and product)",
      snapshot: snap({
        workspaceContents: workspace("team", {
          policy: policy(withCors(cors({ origins: ["*"] })), WS_ID("team")),
          apiPolicies: { orders: policy(withCors(cors()), `${WS_ID("team")}/apis/orders`) },
          productPolicies: { partners: policy(withCors(cors({ headers: ["*"] })), `${WS_ID("team")}/products/partners`) },
        }),
      }),
      count: 3,
      expect: [
        { resourceId: "workspaces/team/policies/policy", status: "fail", message: /workspace 'team' policy/ },
        { resourceId: "workspaces/team/apis/orders/policies/policy", status: "pass" },
        { resourceId: "workspaces/team/products/partners/policies/policy", status: "fail", message: /workspace 'team' product 'partners'/ },
      ],
    },
    { name: "a named value that resolves to *", snapshot: snap({ namedValues: [namedValue("allowed-origin", { value: "*" })], apiPolicies: { echo: policy(withCors(cors({ origins: ["{{allowed-origin}}"] })), API_ID("echo")) } }), expect: [{ status: "fail", message: /any origin/ }] },
    { name: "a wildcard decides even when a fragment is included too", snapshot: snap({ globalPolicy: policy(withCors(`<include-fragment fragment-id="common" />${cors({ origins: ["*"] })}`)) }), expect: [{ status: "fail" }] },
    { name: "one failing policy among passing ones", snapshot: snap({ globalPolicy: policy(withCors(cors())), apiPolicies: { a: policy(withCors(cors({ origins: ["*"] })), API_ID("a")), b: policy(policyXml({}), API_ID("b")) } }), count: 3, expect: [{ resourceId: "apis/a/policies/policy", status: "fail" }, { resourceId: "apis/b/policies/policy", status: "pass" }, { resourceId: `${SERVICE_ID}/policies/policy`, status: "pass" }] },
  ],
  notApplicable: [
    { name: "no policies at all", snapshot: snap() },
    { name: "workspace policies when workspaces were not collected", snapshot: snap({ needs: ALL_NEEDS.filter((n) => n !== "workspaces"), workspaceContents: workspace("team", { policy: policy(withCors(cors({ origins: ["*"] })), WS_ID("team")) }) }) },
  ],
  unknown: [
    { name: "an origin written as a policy expression", snapshot: snap({ apiPolicies: { echo: policy(withCors(cors({ origins: ["@(context.Request.Headers.GetValueOrDefault(&quot;Origin&quot;, &quot;&quot;))"] })), API_ID("echo")) } }), expect: [{ status: "unknown", message: /cannot be read at rest \(origin @\(context/ }] },
    { name: "an unescaped expression in a rawxml policy", snapshot: snap({ apiPolicies: { echo: rawPolicy(withCors(cors({ origins: [`@(context.Variables.GetValueOrDefault<string>("o"))`] })), API_ID("echo"), "rawxml") } }), expect: [{ status: "unknown", message: /origin @\(\)/ }] },
    { name: "a secret named value in an origin", snapshot: snap({ namedValues: [namedValue("allowed-origin", { secret: true })], apiPolicies: { echo: policy(withCors(cors({ origins: ["{{allowed-origin}}"] })), API_ID("echo")) } }), expect: [{ status: "unknown", message: /origin \{\{allowed-origin\}\}/ }] },
    { name: "a named value when named values were not collected", snapshot: snap({ namedValues: [namedValue("allowed-origin", { value: "https://a.contoso.com" })], apiPolicies: { echo: policy(withCors(cors({ origins: ["{{allowed-origin}}"] })), API_ID("echo")) }, needs: ["policies", "apiPolicies", "productPolicies", "operationPolicies"] }) },
    { name: "a policy fragment, not read, may hold a <cors>", snapshot: snap({ apiPolicies: { echo: policy(policyXml({ inbound: `<include-fragment fragment-id="cors-common" />` }), API_ID("echo")) } }), expect: [{ status: "unknown", message: /fragment\(s\) cors-common/ }] },
    { name: "a policy that is not well-formed XML", snapshot: snap({ globalPolicy: rawPolicy("<policies><inbound><cors>", SERVICE_ID) }), expect: [{ status: "unknown", message: /not readable XML/ }] },
    { name: "a linked policy (xml-link)", snapshot: snap({ apiPolicies: { echo: rawPolicy("https://example.com/policy.xml", API_ID("echo"), "xml-link") } }) },
    { name: "global policies were not collected", snapshot: snap({ apiPolicies: { echo: policy(withCors(cors()), API_ID("echo")) }, needs: ["apiPolicies", "productPolicies", "operationPolicies"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /policies/ }] },
  ],
});
