import { rule } from "../../src/remediations/named-value-secrets-in-key-vault.js";
import { EXPR, SERVICE_ID, consumption, inlineSecret, keyVaultSecret, namedValue, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "a secret that references Key Vault", snapshot: snap({ namedValues: [keyVaultSecret("db-password")] }), expect: [{ resourceId: "namedValues/db-password", status: "pass", message: /references Key Vault/ }] },
    { name: "secret: \"True\" with a Key Vault reference", snapshot: snap({ namedValues: [keyVaultSecret("db-password", { secret: "True" })] }) },
    { name: "PascalCase Properties.KeyVault.SecretIdentifier", snapshot: snap({ namedValues: [pascal(keyVaultSecret("db-password"))] }) },
    { name: "a Key Vault reference by template expression is still a reference", snapshot: snap({ namedValues: [keyVaultSecret("db-password", { keyVault: { secretIdentifier: "[reference('kv').secretUri]" } })] }) },
    {
      name: "plain named values produce no finding",
      snapshot: snap({ namedValues: [namedValue("region", { value: "westeurope" }), namedValue("tier", { secret: "false", value: "gold" }), namedValue("nosecret", { secret: undefined }), keyVaultSecret("api-key")] }),
      count: 1,
      expect: [{ resourceId: "namedValues/api-key", status: "pass" }],
    },
  ],
  invalid: [
    { name: "a secret stored in API Management", snapshot: snap({ namedValues: [inlineSecret("db-password", { value: "hunter2" })] }), expect: [{ resourceId: `${SERVICE_ID}/namedValues/db-password`, status: "fail", message: /not in Key Vault/ }] },
    { name: "secret: \"True\" stored inline", snapshot: snap({ namedValues: [inlineSecret("db-password", { secret: "True" })] }), expect: [{ status: "fail" }] },
    { name: "PascalCase Properties.Secret true stored inline", snapshot: snap({ namedValues: [pascal(inlineSecret("db-password"))] }), expect: [{ resourceId: "namedValues/db-password", status: "fail" }] },
    { name: "an empty secretIdentifier", snapshot: snap({ namedValues: [keyVaultSecret("db-password", { keyVault: { secretIdentifier: "" } })] }), expect: [{ status: "fail" }] },
    { name: "a Key Vault block with only an identity", snapshot: snap({ namedValues: [keyVaultSecret("db-password", { keyVault: { identityClientId: "abc" } })] }), expect: [{ status: "fail" }] },
    {
      name: "one inline secret among Key Vault references and plain values",
      snapshot: snap({ namedValues: [keyVaultSecret("a"), inlineSecret("b"), namedValue("c")] }),
      count: 2,
      expect: [
        { resourceId: "namedValues/a", status: "pass" },
        { resourceId: "namedValues/b", status: "fail" },
      ],
    },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), namedValues: [inlineSecret("db-password")] }), expect: [{ status: "fail" }] },
    { name: "children-only input (service not in the input)", snapshot: stub({ namedValues: [inlineSecret("db-password")] }), expect: [{ resourceId: "namedValues/db-password", status: "fail" }] },
  ],
  notApplicable: [
    { name: "no named values", snapshot: snap() },
    { name: "only plain named values", snapshot: snap({ namedValues: [namedValue("region"), namedValue("tier", { secret: "False" }), pascal(namedValue("x", { Secret: false }))] }) },
  ],
  unknown: [
    { name: "secret is a template expression", snapshot: snap({ namedValues: [namedValue("db-password", { secret: EXPR })] }), expect: [{ resourceId: "namedValues/db-password", status: "unknown", message: /template expression/ }] },
    { name: "the keyVault block is a template expression", snapshot: snap({ namedValues: [inlineSecret("db-password", { keyVault: EXPR })] }) },
    { name: "named values were not collected", snapshot: snap({ needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /namedValues/ }] },
  ],
});
