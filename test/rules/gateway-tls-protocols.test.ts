import { PROTOCOL_KEYS, rule } from "../../src/remediations/gateway-tls-protocols.js";
import { CUSTOM_PREFIX, EXPR, SERVICE_ID, consumption, customProperties, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

/** Every legacy protocol key set to `value`, with `overrides` on top. */
const all = (value: unknown, overrides: Record<string, unknown> = {}) => customProperties({ ...Object.fromEntries(PROTOCOL_KEYS.map((k) => [k, value])), ...overrides });
const svc = (props: Record<string, unknown>) => snap({ service: service(props) });
const CREATED_2017 = "2017-06-01T10:00:00.1234567Z";
const CREATED_2023 = "2023-05-01T10:00:00Z";

ruleTester(rule, {
  valid: [
    { name: "every key \"False\"", snapshot: svc({ customProperties: all("False") }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /disabled/ }] },
    { name: "every key false (boolean)", snapshot: svc({ customProperties: all(false) }) },
    { name: "PSRule Azure.APIM.Protocols: keys absent (hasDefault False) on a service created in 2023", snapshot: svc({ createdAtUtc: CREATED_2023 }) },
    { name: "keys absent, no createdAtUtc (template: created now)", snapshot: svc({}) },
    { name: "customProperties without protocol keys on a 2023 service", snapshot: svc({ createdAtUtc: CREATED_2023, customProperties: customProperties({ "Protocols.Server.Http2": "True" }) }) },
    { name: "keys absent on a service created the day after the cutoff", snapshot: svc({ createdAtUtc: "2018-04-02T00:00:00Z" }) },
    { name: "a 2017 service with every key disabled", snapshot: svc({ createdAtUtc: CREATED_2017, customProperties: all("false") }) },
    {
      name: "PascalCase Properties.CustomProperties with lower-case keys",
      snapshot: snap({ service: pascal(service({ createdAtUtc: CREATED_2017, customProperties: Object.fromEntries(PROTOCOL_KEYS.map((k) => [(CUSTOM_PREFIX + k).toLowerCase(), "FALSE"])) })) }),
    },
    { name: "a Consumption service with keys absent", snapshot: snap({ service: consumption({ createdAtUtc: CREATED_2023 }) }) },
    { name: "beyond azqr apim-009 (null customProperties fails there): no customProperties on a 2023 service", snapshot: svc({ createdAtUtc: CREATED_2023, customProperties: undefined }), count: 1 },
    // protocol settings can be changed in every tier, v2 included (Learn: manage protocols and ciphers); only ciphers cannot
    ...["BasicV2", "StandardV2", "PremiumV2"].map((name) => ({ name: `a ${name} service with every key disabled`, snapshot: snap({ service: service({ customProperties: all("False") }, sku(name)) }) })),
  ],
  invalid: [
    { name: "TLS 1.0 \"True\"", snapshot: svc({ customProperties: all("False", { "Protocols.Tls10": "True" }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /Enabled legacy protocols: Protocols\.Tls10\.$/ }] },
    { name: "beyond Checkov CKV_AZURE_173 (no enable_backend_tls11): backend TLS 1.1 true", snapshot: svc({ customProperties: all(false, { "Backend.Protocols.Tls11": true }) }), expect: [{ status: "fail", message: /Backend\.Protocols\.Tls11/ }] },
    { name: "beyond PSRule Azure.APIM.Protocols (hasDefault False): keys absent on a service created in 2017 (default enabled)", snapshot: svc({ createdAtUtc: CREATED_2017 }), expect: [{ status: "fail", message: /Protocols\.Tls10, Protocols\.Tls11, Protocols\.Ssl30, Backend\.Protocols\.Tls10/ }] },
    { name: "keys absent on a service created on the cutoff day", snapshot: svc({ createdAtUtc: "2018-04-01T12:00:00Z" }), expect: [{ status: "fail" }] },
    { name: "a 2017 service with only the client keys disabled", snapshot: svc({ createdAtUtc: CREATED_2017, customProperties: customProperties({ "Protocols.Tls10": "False", "Protocols.Tls11": "False", "Protocols.Ssl30": "False" }) }), expect: [{ status: "fail", message: /^Enabled legacy protocols: Backend\.Protocols\.Tls10, Backend\.Protocols\.Tls11, Backend\.Protocols\.Ssl30\.$/ }] },
    { name: "a Standard v2 service with TLS 1.0 enabled", snapshot: snap({ service: service({ customProperties: all("False", { "Protocols.Tls10": "True" }) }, sku("StandardV2")) }), expect: [{ status: "fail", message: /Protocols\.Tls10/ }] },
    { name: "PascalCase with SSL 3.0 \"true\"", snapshot: snap({ service: pascal(service({ customProperties: all("False", { "Protocols.Ssl30": "true" }) })) }), expect: [{ status: "fail", message: /Protocols\.Ssl30/ }] },
    { name: "an enabled key next to a template expression", snapshot: svc({ customProperties: all(false, { "Protocols.Tls10": true, "Protocols.Tls11": EXPR }) }), expect: [{ status: "fail", message: /Tls10/ }] },
  ],
  notApplicable: [{ name: "children-only input (service not in the input)", snapshot: stub() }],
  unknown: [
    { name: "customProperties is a template expression", snapshot: svc({ customProperties: EXPR }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expressions/ }] },
    { name: "one key is a template expression", snapshot: svc({ customProperties: all("False", { "Backend.Protocols.Ssl30": EXPR }) }) },
    { name: "one key is not a boolean", snapshot: svc({ customProperties: all("False", { "Protocols.Tls11": "maybe" }) }) },
  ],
});
