import { keyState } from "./utils/custom-properties.js";
import { defineRule } from "./types.js";
import { fixCustomProperties } from "./fixes/service.js";

export const PROTOCOL_KEYS = ["Protocols.Tls10", "Protocols.Tls11", "Protocols.Ssl30", "Backend.Protocols.Tls10", "Backend.Protocols.Tls11", "Backend.Protocols.Ssl30"];

export const rule = defineRule(
  {
    id: "gateway-tls-protocols",
    title: "Legacy TLS and SSL protocols are disabled",
    severity: "high",
    description: "TLS 1.0, TLS 1.1 and SSL 3.0 are disabled for client and backend connections (`customProperties`). An absent key counts as enabled on services created on or before 2018-04-01.",
    rationale: "TLS 1.0/1.1 and SSL 3.0 have known weaknesses (POODLE, BEAST) and are out of compliance with PCI DSS and most baselines.",
    defaultAction: "ticket",
    target: "service",
    references: {
      psrule: "Azure.APIM.Protocols",
      // Defender for Cloud has no protocol recommendation for API Management (its API Management recommendations reference)
      baseline: "DP-3: Encrypt sensitive data in transit",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-manage-protocols-ciphers"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/read", "Microsoft.ApiManagement/service/write"],
  },
  (s) => {
    const states = PROTOCOL_KEYS.map((k) => [k, keyState(s, k, true)] as const);
    const enabled = states.filter(([, v]) => v === "enabled").map(([k]) => k);
    if (enabled.length > 0) return [{ resourceId: s.service.id, status: "fail", message: `Enabled legacy protocols: ${enabled.join(", ")}.` }];
    if (states.some(([, v]) => v === "unknown")) return [{ resourceId: s.service.id, status: "unknown", message: "Some protocol settings are template expressions or not booleans." }];
    return [{ resourceId: s.service.id, status: "pass", message: "TLS 1.0, TLS 1.1 and SSL 3.0 are disabled for clients and backends." }];
  },
);

/** Remediation: opt-in: sets the protocol keys to False, sending the full merged customProperties map. */
rule.remediation = fixCustomProperties(() => PROTOCOL_KEYS, "TLS 1.0, TLS 1.1 and SSL 3.0");
