import { keyState } from "./utils/custom-properties.js";
import { defineRule, V2_SKUS } from "./types.js";
import { fixCustomProperties } from "./fixes/service.js";

/** Default set: 3DES and the CBC / RSA key-exchange suites the baseline asks to disable. */
export const DEFAULT_WEAK_CIPHERS = [
  "TripleDes168",
  "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
  "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
  "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
  "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
  "TLS_RSA_WITH_AES_128_GCM_SHA256",
  "TLS_RSA_WITH_AES_256_CBC_SHA256",
  "TLS_RSA_WITH_AES_128_CBC_SHA256",
  "TLS_RSA_WITH_AES_256_CBC_SHA",
  "TLS_RSA_WITH_AES_128_CBC_SHA",
];

export const rule = defineRule(
  {
    id: "gateway-weak-ciphers",
    title: "Weak cipher suites are disabled",
    severity: "medium",
    description: "3DES (`TripleDes168`) and the CBC/RSA cipher suites are disabled (`customProperties`). The list is configurable.",
    rationale: "3DES is vulnerable to Sweet32; CBC-mode and static-RSA suites lack forward secrecy or have padding-oracle history.",
    defaultAction: "ticket",
    target: "service",
    references: {
      psrule: "Azure.APIM.Ciphers",
      baseline: "DP-3: Encrypt sensitive data in transit",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-manage-protocols-ciphers"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/read", "Microsoft.ApiManagement/service/write"],
    // no cipher configuration on Consumption or the v2 tiers (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Consumption", ...V2_SKUS],
  },
  (s, o) => {
    const states = o.weakCiphers.map((c) => [c, keyState(s, `Ciphers.${c}`, c.toLowerCase() === "tripledes168")] as const);
    const enabled = states.filter(([, v]) => v === "enabled").map(([k]) => k);
    if (enabled.length > 0) return [{ resourceId: s.service.id, status: "fail", message: `Enabled weak ciphers: ${enabled.join(", ")}.` }];
    if (states.some(([, v]) => v === "unknown")) return [{ resourceId: s.service.id, status: "unknown", message: "Some cipher settings are template expressions or not booleans." }];
    return [{ resourceId: s.service.id, status: "pass", message: "Weak cipher suites are disabled." }];
  },
);

/** Remediation: opt-in: sets the weak cipher keys to False, sending the full merged customProperties map. */
rule.remediation = fixCustomProperties((settings) => settings.weakCiphers.map((c) => `Ciphers.${c}`), "weak cipher suites");
