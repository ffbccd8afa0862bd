import { parsePolicy, policyXml } from "./utils/policy.js";
import { gatewayExposure } from "./utils/network.js";
import { defineRule } from "./types.js";

export const rule = defineRule(
  {
    id: "waf-in-front",
    title: "A public gateway accepts only traffic through a web application firewall",
    severity: "medium",
    description:
      "A gateway reachable from the internet (no Internal virtual network, public network access enabled) shows it is fronted by a WAF: fails when nothing on the service restricts callers to a front (a global `check-header` on `X-Azure-FDID` for Azure Front Door, or a global `ip-filter`); unknown when such a restriction exists, since the front's WAF policy is not visible from API Management; passes when the gateway is not public.",
    rationale: "A WAF (Application Gateway WAF or Front Door WAF) filters OWASP attacks and bots before they reach the gateway; a public gateway that also accepts direct calls lets an attacker bypass it.",
    defaultAction: "ticket",
    target: "service",
    references: {
      baseline: "NS-6: Deploy web application firewall",
      links: [
        "https://learn.microsoft.com/security/benchmark/azure/baselines/api-management-security-baseline",
        "https://learn.microsoft.com/azure/api-management/front-door-api-management",
        "https://learn.microsoft.com/azure/api-management/api-management-howto-integrate-internal-vnet-appgateway",
      ],
    },
    needs: ["service", "policies"],
    fixActions: ["Microsoft.ApiManagement/service/policies/write"],
  },
  (s) => {
    const id = s.service.id;
    const e = gatewayExposure(s);
    if (e.reach === "private") return [{ resourceId: id, status: "pass", message: `The gateway is not reachable from the internet (${e.why}); a WAF in front is where it is published.` }];
    if (e.reach === "unknown") return [{ resourceId: id, status: "unknown", message: `Whether the gateway is public is not known: ${e.why}.` }];
    const xml = policyXml(s.globalPolicy);
    const p = parsePolicy(xml);
    if (s.globalPolicy && !p) return [{ resourceId: id, status: "unknown", message: `${cap(e.why)}, and the global policy could not be read.` }];
    const inbound = p?.sections.inbound ?? [];
    // Learn "Configure Front Door Standard/Premium in front of Azure API Management": restrict the gateway to one
    // Front Door with a check-header policy on X-Azure-FDID (the Front Door's id); Front Door's WAF policy is its own resource.
    if (inbound.includes("check-header") && /x-azure-fdid/i.test(xml ?? "")) {
      return [{ resourceId: id, status: "unknown", message: `${cap(e.why)}; the global policy admits only calls through one Azure Front Door (check-header X-Azure-FDID). Whether that Front Door applies a WAF policy is not visible from API Management.` }];
    }
    if (inbound.includes("ip-filter")) {
      return [{ resourceId: id, status: "unknown", message: `${cap(e.why)}; the global policy filters callers by IP address (ip-filter). If it admits only an Application Gateway or Front Door, check that it runs a WAF policy; that is not visible from API Management.` }];
    }
    if (inbound.includes("include-fragment")) return [{ resourceId: id, status: "unknown", message: `${cap(e.why)}; the global policy includes a fragment, which may restrict callers.` }];
    return [{ resourceId: id, status: "fail", message: `${cap(e.why)}, and nothing restricts callers to a WAF in front: no global policy admits only one Front Door (check-header X-Azure-FDID) or filters by IP address, so direct calls bypass any WAF.` }];
  },
);

function cap(t: string): string {
  return t.length === 0 ? t : (t[0] as string).toUpperCase() + t.slice(1);
}
