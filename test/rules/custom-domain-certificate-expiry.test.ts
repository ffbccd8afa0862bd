import { describe, expect, it } from "vitest";
import { rule } from "../../src/remediations/custom-domain-certificate-expiry.js";
import { ruleOptions } from "../../src/engine/engine.js";
import { loadConfig } from "../../src/common/config.js";
import type { ArmResource } from "../../src/model/arm.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

/** The fixed clock every case judges against. */
const NOW = new Date("2026-06-01T12:00:00Z");
const inDays = (d: number) => new Date(NOW.getTime() + d * 86_400_000).toISOString();
const options = { now: NOW };

/** A custom hostname as ARM reports it (`certificate` is read-only information ARM adds). */
const host = (hostName: string, expiryInDays: number | undefined, extra: Record<string, unknown> = {}) => ({
  type: "Proxy",
  hostName,
  certificateSource: "Custom",
  negotiateClientCertificate: false,
  ...(expiryInDays === undefined ? {} : { certificate: { expiry: inDays(expiryInDays), thumbprint: "A1B2", subject: `CN=${hostName}` } }),
  ...extra,
});
const builtIn = { type: "Proxy", hostName: "apim1.azure-api.net", certificateSource: "BuiltIn", defaultSslBinding: true, negotiateClientCertificate: false };
const withHosts = (...hosts: unknown[]) => service({ hostnameConfigurations: [builtIn, ...hosts] });
/** A certificate uploaded to the service (`service/certificates`). */
const cert = (name: string, expiryInDays: number, props: Record<string, unknown> = {}): ArmResource => ({
  id: `${SERVICE_ID}/certificates/${name}`,
  name,
  type: "Microsoft.ApiManagement/service/certificates",
  properties: { subject: `CN=${name}`, thumbprint: "C0FFEE", expirationDate: inDays(expiryInDays), ...props },
});
const KV = "https://kv1.vault.azure.net/secrets/api-contoso-com";

ruleTester(rule, {
  valid: [
    { name: "PSRule Azure.APIM.CertificateExpiry: no hostname with a certificate -> pass", snapshot: snap({ service: service({ hostnameConfigurations: [builtIn] }) }), options, count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /only built-in/ }] },
    { name: "PSRule Azure.APIM.CertificateExpiry: 30 whole days left is enough (Days >= 30)", snapshot: snap({ service: withHosts(host("api.contoso.com", 30.5)) }), options, expect: [{ status: "pass", message: /api\.contoso\.com: the certificate expires on .* \(in 30 days\)/ }] },
    { name: "PSRule Azure.APIM.CertificateExpiry: a year left", snapshot: snap({ service: withHosts(host("api.contoso.com", 365), host("portal.contoso.com", 200, { type: "DeveloperPortal" })) }), options },
    { name: "PSRule Azure.APIM.CertificateExpiry: a Key Vault certificate with time left", snapshot: snap({ service: withHosts(host("api.contoso.com", 90, { certificateSource: "KeyVault", keyVaultId: KV })) }), options },
    { name: "beyond PSRule Azure.APIM.CertificateExpiry: a managed certificate inside the window passes (Azure renews it)", snapshot: snap({ service: withHosts(host("api.contoso.com", 5, { certificateSource: "Managed" })) }), options, expect: [{ status: "pass", message: /managed certificate, renewed by Azure/ }] },
    { name: "beyond PSRule Azure.APIM.CertificateExpiry: uploaded certificates with time left pass", snapshot: snap({ service: withHosts(), certificates: [cert("backend-mtls", 120)] }), options, count: 2, expect: [{ resourceId: "certificates/backend-mtls", status: "pass" }] },
    { name: "the window is configurable: 10 days left passes with certificateExpiryDays 7", snapshot: snap({ service: withHosts(host("api.contoso.com", 10)) }), options: { ...options, certificateExpiryDays: 7 } },
    { name: "PascalCase export", snapshot: snap({ service: pascal(withHosts(host("api.contoso.com", 100))) }), options },
    { name: "a Consumption service with a custom domain", snapshot: snap({ service: consumption({ hostnameConfigurations: [host("api.contoso.com", 100)] }) }), options },
  ],
  invalid: [
    { name: "PSRule Azure.APIM.CertificateExpiry: 29 whole days left -> fail", snapshot: snap({ service: withHosts(host("api.contoso.com", 29.9)) }), options, count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /Proxy api\.contoso\.com: the certificate expires on \d{4}-\d{2}-\d{2}, in 29 days \(less than 30\); upload a renewed certificate/ }] },
    { name: "PSRule Azure.APIM.CertificateExpiry: an expired certificate -> fail", snapshot: snap({ service: withHosts(host("api.contoso.com", -3)) }), options, expect: [{ status: "fail", message: /expired on/ }] },
    { name: "PSRule Azure.APIM.CertificateExpiry: one failing hostname among good ones fails the service", snapshot: snap({ service: withHosts(host("good.contoso.com", 300), host("bad.contoso.com", 2)) }), options, expect: [{ status: "fail", message: /good\.contoso\.com.*bad\.contoso\.com.*in 2 days/ }] },
    { name: "PSRule Azure.APIM.CertificateExpiry: a versionless Key Vault certificate inside the window: renew it in the vault", snapshot: snap({ service: withHosts(host("api.contoso.com", 10, { certificateSource: "KeyVault", keyVaultId: KV })) }), options, expect: [{ status: "fail", message: /renew it in Key Vault \(API Management picks up a new version within 4 hours\)/ }] },
    { name: "PSRule Azure.APIM.CertificateExpiry: a Key Vault reference pinned to one version never rotates", snapshot: snap({ service: withHosts(host("api.contoso.com", 10, { certificateSource: "KeyVault", keyVaultId: `${KV}/0123456789abcdef` })) }), options, expect: [{ status: "fail", message: /names one version, which never rotates/ }] },
    { name: "beyond PSRule Azure.APIM.CertificateExpiry: an expired managed certificate fails (renewal failed)", snapshot: snap({ service: withHosts(host("api.contoso.com", -1, { certificateSource: "Managed" })) }), options, expect: [{ status: "fail", message: /managed certificate: Azure's renewal failed/ }] },
    {
      name: "beyond PSRule Azure.APIM.CertificateExpiry: an uploaded certificate about to expire fails on its own resource",
      snapshot: snap({ service: withHosts(host("api.contoso.com", 300)), certificates: [cert("backend-mtls", 12), cert("ca-root", 900)] }),
      options,
      count: 3,
      expect: [
        { resourceId: SERVICE_ID, status: "pass" },
        { resourceId: "certificates/backend-mtls", status: "fail", message: /Certificate 'backend-mtls': the certificate expires on .* in 12 days/ },
        { resourceId: "certificates/ca-root", status: "pass" },
      ],
    },
    { name: "the window is configurable: 40 days left fails with certificateExpiryDays 60", snapshot: snap({ service: withHosts(host("api.contoso.com", 40)) }), options: { ...options, certificateExpiryDays: 60 }, expect: [{ status: "fail", message: /less than 60/ }] },
    { name: "a Premium v2 service", snapshot: snap({ service: service({ hostnameConfigurations: [host("api.contoso.com", 1)] }, sku("PremiumV2")) }), options, expect: [{ status: "fail" }] },
  ],
  notApplicable: [{ name: "children-only input (the service is not in the input)", snapshot: stub(), options }],
  unknown: [
    { name: "a custom certificate's expiry is not in the input (a template)", snapshot: snap({ service: withHosts({ type: "Proxy", hostName: "api.contoso.com", certificateSource: "KeyVault", keyVaultId: KV }) }), options, expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /no readable expiry/ }] },
    { name: "the expiry is a template expression", snapshot: snap({ service: withHosts(host("api.contoso.com", undefined, { certificate: { expiry: EXPR } })) }), options },
    { name: "certificates were not collected", snapshot: snap({ service: withHosts(host("api.contoso.com", 100)), needs: ["apis"] }), options, expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /no certificates data/ }] },
  ],
});

describe("custom-domain-certificate-expiry clock and window", () => {
  it("the engine passes the evaluation's time and REMEDIATOR_CERTIFICATE_EXPIRY_DAYS to the rules", () => {
    const before = Date.now();
    const o = ruleOptions(loadConfig({ REMEDIATOR_CERTIFICATE_EXPIRY_DAYS: "45" }));
    expect(o.certificateExpiryDays).toBe(45);
    expect(o.now?.getTime()).toBeGreaterThanOrEqual(before);
    // a certificate 40 days out fails under the configured 45-day window
    const s = snap({ service: withHosts(host("api.contoso.com", (Date.now() - NOW.getTime()) / 86_400_000 + 40)) });
    expect(rule.detect(s, o)[0]?.status).toBe("fail");
    expect(rule.detect(s, { ...o, certificateExpiryDays: 30 })[0]?.status).toBe("pass");
  });
});
