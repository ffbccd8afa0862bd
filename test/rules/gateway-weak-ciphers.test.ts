import { DEFAULT_WEAK_CIPHERS, rule } from "../../src/remediations/gateway-weak-ciphers.js";
import { EXPR, SERVICE_ID, consumption, customProperties, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

/** Every default weak cipher key set to `value`, with `overrides` on top. */
const all = (value: unknown, overrides: Record<string, unknown> = {}) => customProperties({ ...Object.fromEntries(DEFAULT_WEAK_CIPHERS.map((c) => [`Ciphers.${c}`, value])), ...overrides });
const svc = (props: Record<string, unknown>) => snap({ service: service(props) });
const CREATED_2017 = "2017-06-01T10:00:00Z";
const CREATED_2023 = "2023-05-01T10:00:00Z";

ruleTester(rule, {
  valid: [
    { name: "every default weak cipher \"False\"", snapshot: svc({ customProperties: all("False") }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /disabled/ }] },
    { name: "every default weak cipher false on a 2017 service", snapshot: svc({ createdAtUtc: CREATED_2017, customProperties: all(false) }) },
    { name: "PSRule Azure.APIM.Ciphers: TripleDes168 hasDefault False (absent on a 2023 service), the others disabled; beyond azqr apim-010 (absent fails there)", snapshot: svc({ createdAtUtc: CREATED_2023, customProperties: all("False", { "Ciphers.TripleDes168": undefined }) }) },
    { name: "configured list: only 3DES, keys absent on a 2023 service", snapshot: svc({ createdAtUtc: CREATED_2023 }), options: { weakCiphers: ["TripleDes168"] } },
    { name: "configured list: only 3DES, keys absent, no createdAtUtc", snapshot: svc({}), options: { weakCiphers: ["TripleDes168"] } },
    { name: "configured list spelled in lower case: 3DES absent on a 2023 service", snapshot: svc({ createdAtUtc: CREATED_2023 }), options: { weakCiphers: ["tripledes168"] } },
    { name: "configured list: one suite, disabled", snapshot: svc({ customProperties: customProperties({ "Ciphers.TLS_RSA_WITH_AES_256_GCM_SHA384": "false" }) }), options: { weakCiphers: ["TLS_RSA_WITH_AES_256_GCM_SHA384"] } },
    { name: "an empty configured list", snapshot: svc({ createdAtUtc: CREATED_2017 }), options: { weakCiphers: [] } },
    {
      name: "PascalCase Properties.CustomProperties with lower-case keys",
      snapshot: snap({ service: pascal(service({ customProperties: Object.fromEntries(Object.entries(all("false")).map(([k, v]) => [k.toLowerCase(), v])) })) }),
    },
  ],
  invalid: [
    { name: "3DES \"True\"", snapshot: svc({ customProperties: all("False", { "Ciphers.TripleDes168": "True" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /^Enabled weak ciphers: TripleDes168\.$/ }] },
    { name: "PSRule Azure.APIM.Ciphers: the seven suites must equal False (absent on a 2023 service fails)", snapshot: svc({ createdAtUtc: CREATED_2023 }), expect: [{ status: "fail", message: /TLS_RSA_WITH_AES_128_CBC_SHA/ }] },
    { name: "keys absent on a 2023 service: 3DES is not among the enabled", snapshot: svc({ createdAtUtc: CREATED_2023 }), expect: [{ status: "fail", message: /^Enabled weak ciphers: TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,/ }] },
    { name: "beyond PSRule Azure.APIM.Ciphers (hasDefault False): 3DES absent on a 2017 service (default enabled)", snapshot: svc({ createdAtUtc: CREATED_2017 }), options: { weakCiphers: ["TripleDes168"] }, expect: [{ status: "fail", message: /TripleDes168/ }] },
    { name: "configured list: a suite outside the default list, absent", snapshot: svc({ customProperties: all("False") }), options: { weakCiphers: ["TLS_RSA_WITH_AES_256_GCM_SHA384"] }, expect: [{ status: "fail", message: /TLS_RSA_WITH_AES_256_GCM_SHA384/ }] },
    { name: "beyond PSRule Azure.APIM.Ciphers: TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA enabled", snapshot: svc({ customProperties: all("False", { "Ciphers.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "True" }) }), count: 1, expect: [{ status: "fail", message: /^Enabled weak ciphers: TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\.$/ }] },
    { name: "PascalCase with one suite \"true\"", snapshot: snap({ service: pascal(service({ customProperties: all("False", { "Ciphers.TLS_RSA_WITH_AES_128_CBC_SHA": "true" }) })) }), expect: [{ status: "fail", message: /TLS_RSA_WITH_AES_128_CBC_SHA/ }] },
    { name: "an enabled suite next to a template expression", snapshot: svc({ customProperties: all("False", { "Ciphers.TripleDes168": true, "Ciphers.TLS_RSA_WITH_AES_128_CBC_SHA": EXPR }) }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "beyond PSRule Azure.APIM.Ciphers (no SKU condition): Consumption SKU", snapshot: snap({ service: consumption({ createdAtUtc: CREATED_2017 }) }) },
    // "The following tiers don't support changes to the default cipher configuration: Consumption, Basic v2, Standard v2, Premium v2"
    // (Learn: manage protocols and ciphers; v2 tiers: "Cipher configuration" unavailable)
    ...["BasicV2", "StandardV2", "PremiumV2"].map((name) => ({ name: `beyond PSRule Azure.APIM.Ciphers (no SKU condition): ${name} SKU, keys absent`, snapshot: snap({ service: service({ createdAtUtc: CREATED_2023 }, sku(name)) }) })),
    { name: "children-only input (service not in the input)", snapshot: stub() },
  ],
  unknown: [
    { name: "customProperties is a template expression", snapshot: svc({ customProperties: EXPR }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expressions/ }] },
    { name: "one suite is a template expression", snapshot: svc({ customProperties: all("False", { "Ciphers.TLS_RSA_WITH_AES_256_CBC_SHA": EXPR }) }) },
    { name: "one suite is not a boolean", snapshot: svc({ customProperties: all("False", { "Ciphers.TripleDes168": 1 }) }) },
  ],
});
