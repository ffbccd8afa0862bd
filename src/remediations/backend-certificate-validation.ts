import { bool, isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";
import { fixBackendCertificateValidation } from "./fixes/backend-tls.js";

export const rule = defineRule(
  {
    id: "backend-certificate-validation",
    title: "Backends validate TLS certificates",
    severity: "high",
    description: "No backend sets `tls.validateCertificateChain` or `tls.validateCertificateName` to false (absent flags default to true). Pools are not judged: their members are.",
    rationale: "Without certificate validation the gateway talks to whoever answers at the backend address: a man-in-the-middle reads and alters every request.",
    defaultAction: "ticket",
    target: "backends",
    references: {
      azurePolicy: "92bb331d-ac71-416a-8c91-02f2cb734ce4",
      defender: "API Management calls to API backends should not bypass certificate thumbprint or name validation",
      baseline: "DP-3: Encrypt sensitive data in transit",
      links: ["https://learn.microsoft.com/azure/api-management/backends"],
    },
    needs: ["backends"],
    fixActions: ["Microsoft.ApiManagement/service/backends/read", "Microsoft.ApiManagement/service/backends/write"],
  },
  (s) =>
    // a pool (`type: Pool`) opens no connection of its own: its members are backends with their own `tls`, judged as such
    s.backends.filter((b) => !/^pool$/i.test(str(pick(b, "properties.type")) ?? "")).map((b) => {
      const chain = pick(b, "properties.tls.validateCertificateChain");
      const name = pick(b, "properties.tls.validateCertificateName");
      const off = [bool(chain) === false ? "certificate chain" : "", bool(name) === false ? "certificate name" : ""].filter((x) => x);
      // a known `false` fails whatever the other setting resolves to
      if (off.length === 0 && (isExpression(chain) || isExpression(name) || isExpression(pick(b, "properties.tls")))) {
        return { resourceId: b.id, status: "unknown" as const, message: `Backend '${b.name}' sets TLS validation with a template expression.` };
      }
      return off.length > 0
        ? { resourceId: b.id, status: "fail" as const, message: `Backend '${b.name}' does not validate the ${off.join(" or ")}.` }
        : { resourceId: b.id, status: "pass" as const, message: `Backend '${b.name}' validates certificates.` };
    }),
);

/** Remediation: opt-in: turns certificate chain and name validation back on, with If-Match. */
rule.remediation = fixBackendCertificateValidation;
