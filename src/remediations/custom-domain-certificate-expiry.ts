import { arr, isExpression, pick, str } from "../model/arm.js";
import { defineRule, type Status, type Verdict } from "./types.js";

const DAY_MS = 86_400_000;

/** A Key Vault secret identifier that names a version (`.../secrets/NAME/VERSION`) never rotates. */
function pinnedVersion(secretId: string | undefined): boolean {
  return secretId !== undefined && /\/secrets\/[^/]+\/[^/?]+\/?(\?.*)?$/i.test(secretId);
}

interface Judged {
  status: Status;
  text: string;
}

/**
 * One certificate's verdict: `expiry` against now + `days` (PSRule Azure.APIM.CertificateExpiry: whole days left,
 * `(expiry - now).Days`, must be at least Azure_MinimumCertificateLifetime, default 30).
 */
function judge(what: string, expiry: unknown, days: number, now: Date, source: { managed?: boolean; keyVault?: string }): Judged {
  if (isExpression(expiry)) return { status: "unknown", text: `${what}: the expiry is a template expression` };
  const at = typeof expiry === "string" ? Date.parse(expiry) : Number.NaN;
  if (Number.isNaN(at)) return { status: "unknown", text: `${what}: the input carries no readable expiry (ARM reports it; templates do not)` };
  const date = new Date(at).toISOString().slice(0, 10);
  const left = Math.floor((at - now.getTime()) / DAY_MS);
  if (at <= now.getTime()) {
    const why = source.managed ? " (a managed certificate: Azure's renewal failed; the hostname's DNS must still point at the service)" : "";
    return { status: "fail", text: `${what}: the certificate expired on ${date}${why}` };
  }
  // Azure renews managed certificates itself (Learn "Configure a custom domain name": free managed certificate)
  if (source.managed) return { status: "pass", text: `${what}: a managed certificate, renewed by Azure (expires ${date})` };
  if (left >= days) return { status: "pass", text: `${what}: the certificate expires on ${date} (in ${left} days)` };
  const fix =
    source.keyVault === undefined
      ? "upload a renewed certificate"
      : pinnedVersion(source.keyVault)
        ? "its Key Vault reference names one version, which never rotates: reference the secret without a version"
        : "renew it in Key Vault (API Management picks up a new version within 4 hours)";
  return { status: "fail", text: `${what}: the certificate expires on ${date}, in ${left} days (less than ${days}); ${fix}` };
}

const worst = (xs: Status[]): Status => (xs.includes("fail") ? "fail" : xs.includes("unknown") ? "unknown" : "pass");

export const rule = defineRule(
  {
    id: "custom-domain-certificate-expiry",
    title: "Custom domain and uploaded certificates are not about to expire",
    severity: "high",
    description: "Every custom hostname's certificate (`hostnameConfigurations[].certificate.expiry`) and every certificate uploaded to the service (`certificates`, `expirationDate`) expires more than `certificateExpiryDays` (default 30) days from now; managed certificates only fail once expired.",
    rationale: "An expired hostname certificate makes every client's TLS handshake fail; an expired uploaded certificate breaks the backends and client validations that use it. Renewing ahead of time avoids an outage.",
    defaultAction: "ticket",
    target: "service",
    references: {
      psrule: "Azure.APIM.CertificateExpiry",
      baseline: "DP-7: Use a secure certificate management process",
      links: ["https://learn.microsoft.com/azure/api-management/configure-custom-domain", "https://learn.microsoft.com/azure/api-management/api-management-howto-mutual-certificates"],
    },
    needs: ["service", "certificates"],
    fixActions: ["Microsoft.ApiManagement/service/write", "Microsoft.ApiManagement/service/certificates/write"],
  },
  (s, o) => {
    const now = o.now ?? new Date();
    const days = o.certificateExpiryDays;
    const out: Verdict[] = [];
    const hosts: Judged[] = [];
    for (const h of arr(pick(s.service, "properties.hostnameConfigurations"))) {
      const source = str(pick(h, "certificateSource")) ?? "";
      if (/^BuiltIn$/i.test(source)) continue;
      const what = `${str(pick(h, "type")) ?? "hostname"} ${str(pick(h, "hostName")) ?? "(no host name)"}`;
      const keyVault = str(pick(h, "keyVaultId"));
      const expiry = pick(h, "certificate.expiry");
      const managed = /^Managed$/i.test(source);
      // a hostname without certificate information and without a certificate of its own (e.g. a managed one in a template) has nothing to judge
      if (expiry === undefined && (managed || (keyVault === undefined && pick(h, "encodedCertificate") === undefined && !/^(Custom|KeyVault)$/i.test(source)))) continue;
      hosts.push(judge(what, expiry, days, now, { managed, keyVault }));
    }
    out.push(
      hosts.length === 0
        ? { resourceId: s.service.id, status: "pass", message: "No custom hostname carries a certificate of its own (only built-in hostnames)." }
        : { resourceId: s.service.id, status: worst(hosts.map((h) => h.status)), message: `Custom hostnames: ${hosts.map((h) => h.text).join("; ")}.` },
    );
    for (const c of s.certificates) {
      const j = judge(`Certificate '${c.name}'`, pick(c, "properties.expirationDate"), days, now, { keyVault: str(pick(c, "properties.keyVault.secretIdentifier")) });
      out.push({ resourceId: c.id, status: j.status, message: `${j.text}.` });
    }
    return out;
  },
);
