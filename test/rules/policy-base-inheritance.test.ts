import { rule } from "../../src/remediations/policy-base-inheritance.js";
import type { ArmResource } from "../../src/model/arm.js";
import type { WorkspaceContents } from "../../src/model/snapshot.js";
import { SERVICE_ID, consumption, pascal, policy, policyXml, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const API_ID = (name: string) => `${SERVICE_ID}/apis/${name}`;
const PRODUCT_ID = (name: string) => `${SERVICE_ID}/products/${name}`;
const OPERATION_ID = (apiName: string, op: string) => `${SERVICE_ID}/apis/${apiName}/operations/${op}`;
const FULL = policyXml({ inbound: `<rate-limit calls="5" renewal-period="60" />` });
const rawPolicy = (value: string, parent: string, format = "xml"): ArmResource => ({ ...policy("", parent), properties: { format, value } });
/** A policy with the given section bodies (no `<base/>` added); a section left undefined is absent. */
const sections = (s: { inbound?: string; backend?: string; outbound?: string; onError?: string }) =>
  `<policies>${s.inbound === undefined ? "" : `<inbound>${s.inbound}</inbound>`}${s.backend === undefined ? "" : `<backend>${s.backend}</backend>`}${s.outbound === undefined ? "" : `<outbound>${s.outbound}</outbound>`}${s.onError === undefined ? "" : `<on-error>${s.onError}</on-error>`}</policies>`;
const B = "<base />";
const WS_ID = (ws: string) => `${SERVICE_ID}/workspaces/${ws}`;
const NO_BASE = policyXml({ base: false });
const contents = (parts: Partial<WorkspaceContents>): WorkspaceContents => ({ apis: [], apiPolicies: {}, operationPolicies: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [], ...parts });
/** A snapshot whose workspace `team-a` holds `parts`. */
const inWorkspace = (parts: Partial<WorkspaceContents>) => snap({ workspaces: [{ id: WS_ID("team-a"), name: "team-a", type: "Microsoft.ApiManagement/service/workspaces", properties: {} }], workspaceContents: { "team-a": contents(parts) } });

ruleTester(rule, {
  valid: [
    { name: "API policy with <base/> in all four sections", snapshot: snap({ apiPolicies: { echo: policy(FULL, API_ID("echo")) } }), count: 1, expect: [{ resourceId: "apis/echo/policies/policy", status: "pass", message: /API 'echo'.*every section/ }] },
    { name: "product policy with <base/> everywhere", snapshot: snap({ productPolicies: { starter: policy(FULL, PRODUCT_ID("starter")) } }), expect: [{ resourceId: "products/starter/policies/policy", status: "pass", message: /product 'starter'/ }] },
    { name: "operation policy with <base/> everywhere", snapshot: snap({ operationPolicies: { "echo/get": policy(FULL, OPERATION_ID("echo", "get")) } }), expect: [{ resourceId: "operations/get/policies/policy", status: "pass", message: /operation 'echo\/get'/ }] },
    { name: "differs from Policy d5448c98 (wants <base/> first): <base/> after other elements still runs the parent -> pass", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: `<set-variable name="a" value="1" />${B}`, backend: B, outbound: `<set-header name="x" exists-action="delete" />${B}`, onError: B }), API_ID("echo")) } }) },
    { name: "<base></base> spelled as an element with an end tag", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: "<base></base>", backend: "<base></base>", outbound: "<base></base>", onError: "<base></base>" }), API_ID("echo")) } }) },
    { name: "a section with a fragment next to <base/>", snapshot: snap({ apiPolicies: { echo: policy(policyXml({ inbound: `<include-fragment fragment-id="x" />` }), API_ID("echo")) } }) },
    {
      name: "API, product and operation policies all inherit",
      snapshot: snap({ apiPolicies: { echo: policy(FULL, API_ID("echo")) }, productPolicies: { starter: policy(FULL, PRODUCT_ID("starter")) }, operationPolicies: { "echo/get": policy(FULL, OPERATION_ID("echo", "get")) } }),
      count: 3,
    },
    { name: "a global policy without <base/> is not checked (it has no parent)", snapshot: snap({ globalPolicy: policy(policyXml({ base: false })), apiPolicies: { echo: policy(FULL, API_ID("echo")) } }), count: 1 },
    { name: "PascalCase Properties.Value and Format", snapshot: snap({ apiPolicies: { echo: pascal(policy(FULL, API_ID("echo"))) } }) },
    { name: "format rawxml with unescaped policy expressions", snapshot: snap({ apiPolicies: { echo: rawPolicy(policyXml({ inbound: `<set-variable name="v" value="@(context.Request.Headers.GetValueOrDefault("x", ""))" />` }), API_ID("echo"), "rawxml") } }) },
    { name: "Policy d5448c98: a non-current revision's policy (apis/echo;rev=2/policies) with <base/> everywhere -> pass", snapshot: snap({ apiPolicies: { "echo;rev=2": policy(FULL, API_ID("echo;rev=2")) } }), count: 1, expect: [{ resourceId: "apis/echo;rev=2/policies/policy", status: "pass" }] },
    {
      name: "Policy d5448c98: workspace, workspace API, operation and product policies with <base/> everywhere -> pass",
      snapshot: inWorkspace({ policy: policy(FULL, WS_ID("team-a")), apiPolicies: { orders: policy(FULL, `${WS_ID("team-a")}/apis/orders`) }, operationPolicies: { "orders/get": policy(FULL, `${WS_ID("team-a")}/apis/orders/operations/get`) }, productPolicies: { gold: policy(FULL, `${WS_ID("team-a")}/products/gold`) } }),
      count: 4,
    },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), apiPolicies: { echo: policy(FULL, API_ID("echo")) } }) },
    { name: "children-only input", snapshot: stub({ apiPolicies: { echo: policy(FULL, API_ID("echo")) } }) },
  ],
  invalid: [
    { name: "inbound lacks <base/>", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: "<cors />", backend: B, outbound: B, onError: B }), API_ID("echo")) } }), count: 1, expect: [{ resourceId: "apis/echo/policies/policy", status: "fail", message: /no <base\/> in: inbound;/ }] },
    { name: "backend lacks <base/> (forward-request only)", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: B, backend: `<forward-request timeout="30" />`, outbound: B, onError: B }), API_ID("echo")) } }), expect: [{ status: "fail", message: /in: backend;/ }] },
    { name: "outbound lacks <base/>", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: B, backend: B, outbound: "", onError: B }), API_ID("echo")) } }), expect: [{ status: "fail", message: /in: outbound;/ }] },
    { name: "on-error lacks <base/>", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: B, backend: B, outbound: B, onError: "<return-response />" }), API_ID("echo")) } }), expect: [{ status: "fail", message: /in: on-error;/ }] },
    { name: "the on-error section is missing (as PSRule Azure.APIM.PolicyBase)", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: B, backend: B, outbound: B }), API_ID("echo")) } }), expect: [{ status: "fail", message: /in: on-error;/ }] },
    { name: "only inbound present", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: B }), API_ID("echo")) } }), expect: [{ status: "fail", message: /in: backend, outbound, on-error;/ }] },
    { name: "an empty <policies/> document", snapshot: snap({ apiPolicies: { echo: policy("<policies />", API_ID("echo")) } }), expect: [{ status: "fail", message: /inbound, backend, outbound, on-error/ }] },
    { name: "no <base/> anywhere", snapshot: snap({ apiPolicies: { echo: policy(policyXml({ base: false }), API_ID("echo")) } }), expect: [{ status: "fail", message: /inbound, backend, outbound, on-error/ }] },
    { name: "<base/> only nested inside <choose><when>", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: `<choose><when condition="@(true)">${B}</when></choose>`, backend: B, outbound: B, onError: B }), API_ID("echo")) } }), expect: [{ status: "fail", message: /in: inbound;/ }] },
    { name: "<base/> only in an XML comment", snapshot: snap({ apiPolicies: { echo: policy(sections({ inbound: "<!-- <base /> -->", backend: B, outbound: B, onError: B }), API_ID("echo")) } }), expect: [{ status: "fail", message: /in: inbound;/ }] },
    { name: "a product policy without <base/>", snapshot: snap({ productPolicies: { starter: policy(policyXml({ base: false }), PRODUCT_ID("starter")) } }), expect: [{ resourceId: "products/starter/policies/policy", status: "fail", message: /product 'starter'/ }] },
    { name: "an operation policy without <base/> in inbound", snapshot: snap({ operationPolicies: { "echo/post": policy(sections({ inbound: "", backend: B, outbound: B, onError: B }), OPERATION_ID("echo", "post")) } }), expect: [{ resourceId: "operations/post/policies/policy", status: "fail", message: /operation 'echo\/post'/ }] },
    {
      name: "one failing policy among passing ones",
      snapshot: snap({ apiPolicies: { a: policy(FULL, API_ID("a")), b: policy(policyXml({ base: false }), API_ID("b")) }, productPolicies: { p: policy(FULL, PRODUCT_ID("p")) } }),
      count: 3,
      expect: [{ resourceId: "apis/a/policies/policy", status: "pass" }, { resourceId: "apis/b/policies/policy", status: "fail" }, { resourceId: "products/p/policies/policy", status: "pass" }],
    },
    { name: "Policy d5448c98: a non-current revision's API policy (echo;rev=2) without <base/> -> fail", snapshot: snap({ apiPolicies: { echo: policy(FULL, API_ID("echo")), "echo;rev=2": policy(NO_BASE, API_ID("echo;rev=2")) } }), count: 2, expect: [{ resourceId: "apis/echo;rev=2/policies/policy", status: "fail", message: /API 'echo;rev=2'/ }] },
    { name: "Policy d5448c98: a non-current revision's operation policy without <base/> -> fail", snapshot: snap({ operationPolicies: { "echo;rev=2/get": policy(NO_BASE, OPERATION_ID("echo;rev=2", "get")) } }), expect: [{ resourceId: "apis/echo;rev=2/operations/get/policies/policy", status: "fail" }] },
    { name: "Policy d5448c98: a workspace policy (workspaces/policies) without <base/> -> fail", snapshot: inWorkspace({ policy: policy(NO_BASE, WS_ID("team-a")) }), expect: [{ resourceId: "workspaces/team-a/policies/policy", status: "fail", message: /workspace 'team-a'/ }] },
    { name: "Policy d5448c98: a workspace API policy (workspaces/apis/policies) without <base/> -> fail", snapshot: inWorkspace({ apiPolicies: { orders: policy(NO_BASE, `${WS_ID("team-a")}/apis/orders`) } }), expect: [{ resourceId: "workspaces/team-a/apis/orders/policies/policy", status: "fail", message: /API 'orders' in workspace 'team-a'/ }] },
    { name: "Policy d5448c98: a workspace operation policy (workspaces/apis/operations/policies) without <base/> -> fail", snapshot: inWorkspace({ operationPolicies: { "orders/get": policy(NO_BASE, `${WS_ID("team-a")}/apis/orders/operations/get`) } }), expect: [{ status: "fail", message: /operation 'orders\/get' in workspace 'team-a'/ }] },
    { name: "Policy d5448c98: a workspace product policy (workspaces/products/policies) without <base/> -> fail", snapshot: inWorkspace({ productPolicies: { gold: policy(NO_BASE, `${WS_ID("team-a")}/products/gold`) } }), expect: [{ resourceId: "workspaces/team-a/products/gold/policies/policy", status: "fail", message: /product 'gold' in workspace 'team-a'/ }] },
    { name: "PascalCase properties without <base/>", snapshot: snap({ apiPolicies: { echo: pascal(policy(policyXml({ base: false }), API_ID("Echo"))) } }), expect: [{ resourceId: "apis/Echo/policies/policy", status: "fail" }] },
  ],
  notApplicable: [
    { name: "no policies", snapshot: snap() },
    { name: "only a global policy", snapshot: snap({ globalPolicy: policy(policyXml({ base: false })) }) },
  ],
  unknown: [
    { name: "an API policy that is not well-formed XML", snapshot: snap({ apiPolicies: { echo: rawPolicy("<policies><inbound><base /></inbound>", API_ID("echo")) } }), expect: [{ resourceId: "apis/echo/policies/policy", status: "unknown", message: /not readable XML/ }] },
    { name: "a document without a <policies> root", snapshot: snap({ productPolicies: { p: rawPolicy("<inbound><base /></inbound>", PRODUCT_ID("p")) } }) },
    { name: "a linked policy (xml-link)", snapshot: snap({ apiPolicies: { echo: rawPolicy("https://example.com/policy.xml", API_ID("echo"), "xml-link") } }) },
    { name: "a policy without a value", snapshot: snap({ operationPolicies: { "echo/get": { ...policy("", OPERATION_ID("echo", "get")), properties: { format: "xml" } } } }) },
    { name: "a workspace policy that is not readable XML", snapshot: inWorkspace({ policy: rawPolicy("<policies><inbound>", WS_ID("team-a")) }), expect: [{ resourceId: "workspaces/team-a/policies/policy", status: "unknown" }] },
    { name: "workspaces were not collected", snapshot: snap({ apiPolicies: { echo: policy(FULL, API_ID("echo")) }, needs: ["apiPolicies", "productPolicies", "operationPolicies", "revisionPolicies"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /workspaces/ }] },
    { name: "revision policies were not collected", snapshot: snap({ apiPolicies: { echo: policy(FULL, API_ID("echo")) }, needs: ["apiPolicies", "productPolicies", "operationPolicies", "workspaces"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /revisionPolicies/ }] },
    { name: "operation policies were not collected", snapshot: snap({ apiPolicies: { echo: policy(FULL, API_ID("echo")) }, needs: ["apiPolicies", "productPolicies"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /operationPolicies/ }] },
  ],
});
