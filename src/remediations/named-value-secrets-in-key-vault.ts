import { bool, isExpression, pick, str } from "../model/arm.js";
import { defineRule, type Verdict } from "./types.js";
import { fixKeyVaultMigration } from "./fixes/key-vault.js";

export const rule = defineRule(
  {
    id: "named-value-secrets-in-key-vault",
    title: "Secret named values are stored in Key Vault",
    severity: "high",
    description: "Every named value with `secret: true` is a Key Vault reference (`keyVault.secretIdentifier`), and every Key Vault reference resolves (`keyVault.lastStatus`).",
    rationale: "Secrets kept inline in APIM cannot be rotated centrally, audited or access-controlled like Key Vault secrets, and are copied into every backup.",
    defaultAction: "auto",
    target: "namedValues",
    references: {
      azurePolicy: "f1cc7827-022c-473e-836e-5a51cae0b249",
      defender: "API Management secret named values should be stored in Azure Key Vault",
      psrule: "Azure.APIM.EncryptValues",
      baseline: "IM-8: Restrict the exposure of credentials and secrets",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-properties"],
    },
    needs: ["namedValues"],
    fixActions: [
      "Microsoft.ApiManagement/service/namedValues/read",
      "Microsoft.ApiManagement/service/namedValues/write",
      "Microsoft.ApiManagement/service/namedValues/listValue/action",
      "Microsoft.ApiManagement/service/namedValues/refreshSecret/action",
      "Microsoft.KeyVault/vaults/secrets/setSecret/action",
      "Microsoft.KeyVault/vaults/secrets/getSecret/action",
      // a soft-deleted secret of the migration's name is recovered (then kept only when it is this named value's)
      "Microsoft.KeyVault/vaults/secrets/recover/action",
      "Microsoft.Authorization/roleAssignments/write",
    ],
  },
  (s) =>
    s.namedValues.flatMap((nv): Verdict[] => {
      const secret = pick(nv, "properties.secret");
      const ref = str(pick(nv, "properties.keyVault.secretIdentifier"));
      // a Key Vault named value is a secret whether or not the input spells out `secret: true` (APIM stores it as one)
      if (ref) {
        // a reference APIM cannot resolve leaves the named value unusable: that is drift too (and what a half-done migration looks like)
        const last = str(pick(nv, "properties.keyVault.lastStatus.code"));
        if (last && !/^success$/i.test(last)) {
          return [{ resourceId: nv.id, status: "fail" as const, message: `Named value '${nv.name}' references Key Vault but API Management cannot resolve it (${last}).` }];
        }
        return [{ resourceId: nv.id, status: "pass" as const, message: `Secret named value '${nv.name}' references Key Vault.` }];
      }
      if (isExpression(pick(nv, "properties.keyVault"))) return [{ resourceId: nv.id, status: "unknown" as const, message: `Named value '${nv.name}' sets 'keyVault' with a template expression.` }];
      if (isExpression(secret)) return [{ resourceId: nv.id, status: "unknown" as const, message: `Named value '${nv.name}' sets 'secret' with a template expression.` }];
      if (bool(secret) !== true) return [];
      return [{ resourceId: nv.id, status: "fail" as const, message: `Secret named value '${nv.name}' is stored in API Management, not in Key Vault.` }];
    }),
);

/** Remediation: migrates the value into Key Vault step by step, never losing or exposing it (see fixes/key-vault.ts). */
rule.remediation = fixKeyVaultMigration;
