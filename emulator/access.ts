import { idKey, isAtOrBelow } from "./ids.js";
import type { Resource, Store } from "./store.js";

/** Built-in role definition GUIDs the emulator understands for Key Vault data access. */
export const ROLES = {
  keyVaultAdministrator: "00482a5a-887f-4fb3-b363-3b7fe8e74483",
  keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
} as const;

export const BUILTIN_ROLE_NAMES: Record<string, string> = {
  [ROLES.keyVaultAdministrator]: "Key Vault Administrator",
  [ROLES.keyVaultSecretsOfficer]: "Key Vault Secrets Officer",
  [ROLES.keyVaultSecretsUser]: "Key Vault Secrets User",
  "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
  "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
  "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
  "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
  "312a565d-c81f-4fd8-895a-4e21e48d571c": "API Management Service Contributor",
};

export type SecretPermission = "get" | "list" | "set" | "delete" | "recover" | "purge";

// Administrator and Secrets Officer hold `Microsoft.KeyVault/vaults/secrets/*` (recover and purge included); Secrets User
// getSecret and readMetadata (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security)
const ROLE_PERMISSIONS: Record<string, SecretPermission[]> = {
  [ROLES.keyVaultAdministrator]: ["get", "list", "set", "delete", "recover", "purge"],
  [ROLES.keyVaultSecretsOfficer]: ["get", "list", "set", "delete", "recover", "purge"],
  [ROLES.keyVaultSecretsUser]: ["get", "list"],
};

/** The scope a role assignment or lock applies to: the part of its id before `/providers/Microsoft.Authorization/`. */
export function authorizationScopeOf(id: string): string {
  const m = /^(.*?)\/providers\/Microsoft\.Authorization\//i.exec(id);
  return m && m[1] !== undefined && m[1] !== "" ? m[1] : "/";
}

function roleGuid(roleDefinitionId: unknown): string {
  if (typeof roleDefinitionId !== "string") return "";
  const parts = roleDefinitionId.split("/");
  return (parts[parts.length - 1] ?? "").toLowerCase();
}

/**
 * When a role assignment takes effect: `propagationMs` after it was created
 * (its `createdOn`, set when it is written through ARM). An assignment of the
 * estate (no `createdOn`) was made long ago and is in effect. Azure applies
 * a new assignment after a delay: "Allow several minutes for role assignments
 * to refresh" (https://learn.microsoft.com/azure/key-vault/general/rbac-guide);
 * a removed one stops at once here (not modelled).
 */
export function effectiveFrom(ra: Resource, propagationMs: number): number {
  const created = Date.parse(String(ra.properties["createdOn"] ?? ""));
  return Number.isFinite(created) ? created + propagationMs : 0;
}

/**
 * Decides Key Vault data-plane access as Azure does: in RBAC mode by role
 * assignments at the vault, secret or any parent scope that are in effect
 * (`propagationMs` after they were made); otherwise by the vault's access
 * policies.
 */
export function canAccessSecret(store: Store, vault: Resource, principalId: string | undefined, secretName: string | undefined, perm: SecretPermission, propagationMs = 0, now = Date.now()): boolean {
  if (!principalId) return false;
  const pid = principalId.toLowerCase();
  const rbac = vault.properties["enableRbacAuthorization"] !== false;
  if (!rbac) {
    const policies = Array.isArray(vault.properties["accessPolicies"]) ? (vault.properties["accessPolicies"] as Array<Record<string, unknown>>) : [];
    return policies.some((p) => {
      if (String(p["objectId"] ?? "").toLowerCase() !== pid) return false;
      const perms = (p["permissions"] as Record<string, unknown> | undefined)?.["secrets"];
      return Array.isArray(perms) && perms.some((x) => String(x).toLowerCase() === perm || String(x).toLowerCase() === "all");
    });
  }
  const target = secretName ? `${vault.id}/secrets/${secretName}` : vault.id;
  for (const ra of store.ofType("Microsoft.Authorization/roleAssignments")) {
    if (String(ra.properties["principalId"] ?? "").toLowerCase() !== pid) continue;
    const scope = typeof ra.properties["scope"] === "string" ? (ra.properties["scope"] as string) : authorizationScopeOf(ra.id);
    if (idKey(scope) !== "/" && !isAtOrBelow(target, scope)) continue;
    if (effectiveFrom(ra, propagationMs) > now) continue;
    const allowed = ROLE_PERMISSIONS[roleGuid(ra.properties["roleDefinitionId"])];
    if (allowed?.includes(perm)) return true;
  }
  return false;
}
