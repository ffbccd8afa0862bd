import { rule } from "../../src/remediations/waf-in-front.js";
import type { ArmResource } from "../../src/model/arm.js";
import { EXPR, SERVICE_ID, consumption, policy, policyXml, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

/** The global policy (no <base/> at service scope). */
const global = (inbound: string): ArmResource => policy(policyXml({ inbound, base: false }));
/** Learn "Configure Front Door Standard/Premium in front of Azure API Management": admit only one Front Door. */
const FDID = `<check-header name="X-Azure-FDID" failed-check-httpcode="403" failed-check-error-message="Invalid request." ignore-case="false"><value>00000000-0000-0000-0000-000000000000</value></check-header>`;
const IP = `<ip-filter action="allow"><address>203.0.113.10</address></ip-filter>`;

ruleTester(rule, {
  valid: [
    { name: "baseline NS-6: an Internal virtual network gateway is not public (the WAF publishes it)", snapshot: snap({ service: service({ virtualNetworkType: "Internal" }, sku("Premium")) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /not reachable from the internet \(the service is deployed in a virtual network in Internal mode\)/ }] },
    { name: "baseline NS-6: public network access disabled (private endpoint behind Front Door Premium)", snapshot: snap({ service: service({ publicNetworkAccess: "Disabled" }) }), expect: [{ status: "pass", message: /public network access is disabled/ }] },
  ],
  invalid: [
    { name: "baseline NS-6: a public gateway with no restriction to a front -> fail", snapshot: snap({ service: service({ publicNetworkAccess: "Enabled" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /The gateway is public: not deployed in a virtual network, public network access Enabled, and nothing restricts callers to a WAF/ }] },
    { name: "baseline NS-6: External virtual network mode is public", snapshot: snap({ service: service({ virtualNetworkType: "External" }, sku("Premium")), globalPolicy: global("<cors />") }), expect: [{ status: "fail", message: /External mode/ }] },
    { name: "baseline NS-6: a Consumption gateway is always public", snapshot: snap({ service: consumption() }), expect: [{ status: "fail" }] },
    { name: "a check-header on another header is no Front Door restriction", snapshot: snap({ service: service(), globalPolicy: global(`<check-header name="X-Api-Client" failed-check-httpcode="401" failed-check-error-message="no" ignore-case="true" />`) }), expect: [{ status: "fail" }] },
    { name: "X-Azure-FDID only in an XML comment is no restriction", snapshot: snap({ service: service(), globalPolicy: global(`<!-- add X-Azure-FDID later -->`) }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [{ name: "children-only input", snapshot: stub() }],
  unknown: [
    { name: "baseline NS-6: the gateway admits only one Front Door (X-Azure-FDID): its WAF is not visible -> unknown, never pass", snapshot: snap({ service: service(), globalPolicy: global(FDID) }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /only calls through one Azure Front Door.*not visible from API Management/ }] },
    { name: "baseline NS-6: a global ip-filter may admit only an Application Gateway -> unknown", snapshot: snap({ service: service({ virtualNetworkType: "External" }, sku("Premium")), globalPolicy: global(IP) }), expect: [{ status: "unknown", message: /filters callers by IP address/ }] },
    { name: "the global policy includes a fragment", snapshot: snap({ service: service(), globalPolicy: global(`<include-fragment fragment-id="front-door" />`) }) },
    { name: "the global policy is not readable XML", snapshot: snap({ service: service(), globalPolicy: { ...policy(""), properties: { format: "xml", value: "<policies><inbound>" } } }), expect: [{ status: "unknown", message: /could not be read/ }] },
    { name: "network settings are template expressions", snapshot: snap({ service: service({ publicNetworkAccess: EXPR }) }), expect: [{ status: "unknown", message: /not known/ }] },
    { name: "the global policy was not collected", snapshot: snap({ service: service(), needs: ["apis"] }), expect: [{ status: "unknown", message: /no policies data/ }] },
  ],
});
