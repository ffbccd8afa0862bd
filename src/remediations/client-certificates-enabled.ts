import { bool, isExpression, pick } from "../model/arm.js";
import { defineRule } from "./types.js";

export const rule = defineRule(
  {
    id: "client-certificates-enabled",
    title: "The gateway requests client certificates (Consumption and v2 tiers)",
    severity: "low",
    description: "`enableClientCertificate` is `true` on a Consumption, Basic v2, Standard v2 or Premium v2 service.",
    rationale: "On these tiers the gateway receives client certificates only with this setting on: without it callers cannot be authenticated with mutual TLS and validate-client-certificate policies never see a certificate.",
    defaultAction: "ticket",
    target: "service",
    references: {
      baseline: "IM-4: Authenticate server and services",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-mutual-certificates-for-clients"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/write"],
    // Learn "How to secure APIs using client certificate authentication": the Consumption, Basic v2, Standard v2 and
    // Premium v2 tiers receive client certificates with "Request client certificate" (enableClientCertificate); the
    // classic dedicated tiers negotiate them per hostname (negotiateClientCertificate) instead, where the ARM property
    // is "only meant to be used for Consumption SKU Service" (REST spec) (docs/rules/README.md#sku-applicability)
    notApplicableSkus: ["Developer", "Basic", "Standard", "Premium", "Isolated"],
  },
  (s) => {
    const v = pick(s.service, "properties.enableClientCertificate");
    if (isExpression(v)) return [{ resourceId: s.service.id, status: "unknown", message: "enableClientCertificate is a template expression." }];
    return bool(v) === true
      ? [{ resourceId: s.service.id, status: "pass", message: "The gateway requests a client certificate on each request (enableClientCertificate)." }]
      : [{ resourceId: s.service.id, status: "fail", message: `enableClientCertificate is ${v === undefined ? "not set (default false)" : "false"}: the gateway does not request client certificates, so no caller can be authenticated by certificate.` }];
  },
);
