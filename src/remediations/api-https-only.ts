import { arr, isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";
import { fixApiProtocols } from "./fixes/api-protocols.js";

export const rule = defineRule(
  {
    id: "api-https-only",
    title: "APIs accept only encrypted protocols (HTTPS, WSS)",
    severity: "high",
    description: "Every API, in every revision, lists no `http` or `ws` protocol.",
    rationale: "Requests over plain HTTP or WS expose subscription keys, tokens and payloads to anyone on the network path.",
    defaultAction: "auto",
    target: "apis",
    references: {
      azurePolicy: "ee7495e7-3ba7-40b6-bfee-c29e22cc75d4",
      defender: "API Management APIs should use only encrypted protocols",
      psrule: "Azure.APIM.HTTPEndpoint",
      baseline: "DP-3: Encrypt sensitive data in transit",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-manage-protocols-ciphers"],
    },
    needs: ["apis", "apiRevisions"],
    fixActions: ["Microsoft.ApiManagement/service/apis/read", "Microsoft.ApiManagement/service/apis/write"],
  },
  (s) =>
    s.apis.map((api) => {
      const protocols = pick(api, "properties.protocols");
      const insecure = arr(protocols)
        .map((p) => (str(p) ?? "").toLowerCase())
        .filter((p) => p === "http" || p === "ws");
      // a listed http/ws fails whatever the expressions next to it resolve to
      if (insecure.length === 0 && (isExpression(protocols) || arr(protocols).some(isExpression))) {
        return { resourceId: api.id, status: "unknown" as const, message: `API '${api.name}' sets protocols with a template expression.` };
      }
      return insecure.length > 0
        ? { resourceId: api.id, status: "fail" as const, message: `API '${api.name}' accepts ${insecure.join(" and ")}; only https/wss should be allowed.` }
        : { resourceId: api.id, status: "pass" as const, message: `API '${api.name}' accepts only encrypted protocols.` };
    }),
);

/** Remediation: removes `http` (adding `https` when it was the only one) and turns `ws` into `wss`, per revision, with If-Match. */
rule.remediation = fixApiProtocols;
