import { rule } from "../../src/remediations/ip-filter.js";
import type { ArmResource } from "../../src/model/arm.js";
import { EXPR, SERVICE_ID, api, consumption, policy, policyXml, product, service, sku, snap, ruleTester } from "../helpers/rule-tester.js";

const IP = `<ip-filter action="allow"><address-range from="10.0.0.0" to="10.0.255.255" /></ip-filter>`;
const API_ID = (name: string) => `${SERVICE_ID}/apis/${name}`;
const global = (inbound: string): ArmResource => policy(policyXml({ inbound, base: false }));
const apiPolicy = (name: string, inbound = "", base = true): ArmResource => policy(policyXml({ inbound, base }), API_ID(name));
const productPolicy = (name: string, inbound: string): ArmResource => policy(policyXml({ inbound }), `${SERVICE_ID}/products/${name}`);
const WS = `${SERVICE_ID}/workspaces/team-a`;
/** Workspace 'team-a' holding API 'orders', with the workspace-scope policy given. */
const workspace = (wsPolicy?: ArmResource) => ({
  "team-a": { policy: wsPolicy, apis: [{ ...api("orders"), id: `${WS}/apis/orders` }], apiPolicies: {}, operationPolicies: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [] },
});

ruleTester(rule, {
  valid: [
    { name: "seed network section: a global ip-filter covers every API", snapshot: snap({ apis: [api("echo"), api("orders")], globalPolicy: global(IP) }), count: 2, expect: [{ resourceId: "apis/echo", status: "pass", message: /filters callers by IP address \(ip-filter\) on every path/ }, { resourceId: "apis/orders", status: "pass" }] },
    { name: "seed network section: an API-scope ip-filter", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", IP) } }) },
    { name: "seed network section: an ip-filter inside every branch of <choose>", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(true)">${IP}</when><otherwise>${IP}</otherwise></choose>`) } }) },
    { name: "seed network section: an Internal virtual network restricts callers by network", snapshot: snap({ service: service({ virtualNetworkType: "Internal" }, sku("Premium")), apis: [api("echo")] }), expect: [{ status: "pass", message: /restricted by the network \(the service is deployed in a virtual network in Internal mode\)/ }] },
    { name: "seed network section: public network access disabled restricts callers by network", snapshot: snap({ service: service({ publicNetworkAccess: "Disabled" }), apis: [api("echo")] }) },
    { name: "a product-scope ip-filter when every caller comes through that product", snapshot: snap({ apis: [api("echo")], products: [product("partners")], productApis: { partners: ["echo"] }, productPolicies: { partners: productPolicy("partners", IP) } }) },
    { name: "seed network section: a workspace-scope ip-filter covers the workspace's APIs", snapshot: snap({ workspaceContents: workspace(policy(policyXml({ inbound: IP }), WS)) }), count: 1, expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "pass", message: /in workspace 'team-a'/ }] },
    { name: "a Consumption API under a global ip-filter", snapshot: snap({ service: consumption(), apis: [api("echo")], globalPolicy: global(IP) }) },
  ],
  invalid: [
    { name: "seed network section: a public gateway and no ip-filter -> fail", snapshot: snap({ apis: [api("echo")] }), count: 1, expect: [{ resourceId: "apis/echo", status: "fail", message: /API 'echo': the gateway is public: .*no ip-filter policy runs/ }] },
    { name: "the API cuts the global ip-filter off (no <base/> in inbound)", snapshot: snap({ apis: [api("echo")], globalPolicy: global(IP), apiPolicies: { echo: apiPolicy("echo", "<cors />", false) } }), expect: [{ status: "fail" }] },
    { name: "an ip-filter in one <choose> branch only", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<choose><when condition="@(true)">${IP}</when></choose>`) } }), expect: [{ status: "fail" }] },
    { name: "an ip-filter only in outbound", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: policy(`<policies><inbound><base /></inbound><backend><base /></backend><outbound><base />${IP}</outbound><on-error><base /></on-error></policies>`, API_ID("echo")) } }), expect: [{ status: "fail" }] },
    { name: "External virtual network mode is public", snapshot: snap({ service: service({ virtualNetworkType: "External" }, sku("Premium")), apis: [api("echo")] }), expect: [{ status: "fail", message: /External mode/ }] },
    { name: "a workspace API with no ip-filter at any scope", snapshot: snap({ workspaceContents: workspace() }), expect: [{ resourceId: "workspaces/team-a/apis/orders", status: "fail" }] },
    { name: "one filtered API among unfiltered ones", snapshot: snap({ apis: [api("a"), api("b")], apiPolicies: { a: apiPolicy("a", IP) } }), count: 2, expect: [{ resourceId: "apis/a", status: "pass" }, { resourceId: "apis/b", status: "fail" }] },
  ],
  notApplicable: [{ name: "no APIs", snapshot: snap({ globalPolicy: global(IP) }) }],
  unknown: [
    { name: "the API's policy includes a fragment", snapshot: snap({ apis: [api("echo")], apiPolicies: { echo: apiPolicy("echo", `<include-fragment fragment-id="ip" />`) } }), expect: [{ resourceId: "apis/echo", status: "unknown", message: /fragments or invalid XML/ }] },
    { name: "network settings are template expressions and no ip-filter", snapshot: snap({ service: service({ publicNetworkAccess: EXPR }), apis: [api("echo")] }), expect: [{ status: "unknown", message: /whether the gateway is public is not known/ }] },
    { name: "policies were not collected", snapshot: snap({ apis: [api("echo")], needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /Not evaluated/ }] },
  ],
});
