import { randomBytes } from "node:crypto";
import { canAccessSecret, type SecretPermission } from "./access.js";
import { ArmError, type Reply } from "./http.js";
import type { Timings } from "./profile.js";
import type { Resource, Store } from "./store.js";

export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  created: number;
  updated: number;
}

/** A soft-deleted secret: every version, kept until it is recovered, purged or its retention ends. */
interface DeletedSecret {
  name: string;
  versions: SecretVersion[];
  deletedDate: number;
  scheduledPurgeDate: number;
}

/**
 * The deletion recovery level of a vault's secrets and the retention in days
 * (DeletionRecoveryLevel, Key Vault REST 7.5): soft delete keeps a deleted
 * secret `softDeleteRetentionInDays` (7-90, default 90); purge protection
 * drops "+Purgeable"; a retention under 90 days is "Customized". A legacy
 * vault with `enableSoftDelete: false` deletes at once ("Purgeable").
 */
function recoveryOf(vault: Resource): { recoveryLevel: string; recoverableDays?: number } {
  if (vault.properties["enableSoftDelete"] === false) return { recoveryLevel: "Purgeable" };
  const days = typeof vault.properties["softDeleteRetentionInDays"] === "number" ? (vault.properties["softDeleteRetentionInDays"] as number) : 90;
  const level = `${days < 90 ? "Customized" : ""}Recoverable${vault.properties["enablePurgeProtection"] === true ? "" : "+Purgeable"}`;
  return { recoveryLevel: level, recoverableDays: days };
}

/** Secret state of every vault in the estate; each vault is served from its own origin. */
export class Vaults {
  /** vault name (lowercase) -> secret name (lowercase) -> versions, oldest first */
  private readonly secrets = new Map<string, Map<string, { name: string; versions: SecretVersion[] }>>();
  /** vault name (lowercase) -> secret name (lowercase) -> the soft-deleted secret */
  private readonly deleted = new Map<string, Map<string, DeletedSecret>>();
  /** vault name (lowercase) -> origin (https://127.0.0.1:port) */
  readonly origins = new Map<string, string>();
  /** Real (scaled) delays: role assignment propagation, API Management's own reference refresh (emulator/profile.ts). */
  timings: Timings = { propagationMs: 0, referenceRefreshMs: 0 };

  constructor(private readonly store: Store) {}

  vaultResources(): Resource[] {
    return this.store.ofType("Microsoft.KeyVault/vaults");
  }

  vaultByName(name: string): Resource | undefined {
    return this.vaultResources().find((v) => v.name.toLowerCase() === name.toLowerCase());
  }

  /** Loads `Microsoft.KeyVault/vaults/secrets` entries of the estate as first versions. */
  loadFromStore(): void {
    this.secrets.clear();
    this.deleted.clear();
    for (const s of this.store.ofType("Microsoft.KeyVault/vaults/secrets")) {
      const [vaultName, secretName] = s.name.includes("/") ? s.name.split("/") : [s.id.split("/").slice(-3)[0], s.name];
      if (!vaultName || !secretName) continue;
      const created = Math.floor(Date.now() / 1000);
      this.putVersion(vaultName, secretName, {
        version: randomBytes(16).toString("hex"),
        value: s.hiddenValue ?? "",
        contentType: typeof s.properties["contentType"] === "string" ? (s.properties["contentType"] as string) : undefined,
        // the ARM resource's tags are the secret's tags (ARM template reference, Microsoft.KeyVault/vaults/secrets: `tags`)
        tags: s.tags && Object.keys(s.tags).length > 0 ? { ...s.tags } : undefined,
        enabled: (s.properties["attributes"] as Record<string, unknown> | undefined)?.["enabled"] !== false,
        created,
        updated: created,
      });
    }
  }

  private putVersion(vault: string, secret: string, v: SecretVersion): void {
    let vm = this.secrets.get(vault.toLowerCase());
    if (!vm) this.secrets.set(vault.toLowerCase(), (vm = new Map()));
    let entry = vm.get(secret.toLowerCase());
    if (!entry) vm.set(secret.toLowerCase(), (entry = { name: secret, versions: [] }));
    entry.versions.push(v);
  }

  /** Latest enabled version or a named version. */
  find(vault: string, secret: string, version?: string): { name: string; v: SecretVersion } | undefined {
    const entry = this.secrets.get(vault.toLowerCase())?.get(secret.toLowerCase());
    if (!entry || entry.versions.length === 0) return undefined;
    if (version) {
      const v = entry.versions.find((x) => x.version.toLowerCase() === version.toLowerCase());
      return v ? { name: entry.name, v } : undefined;
    }
    const latest = entry.versions[entry.versions.length - 1];
    return latest ? { name: entry.name, v: latest } : undefined;
  }

  /**
   * Resolves a secret identifier URL (`https://<vault>.vault.azure.net/secrets/<name>[/<version>]`
   * or the emulator's own vault origin) to a vault and secret.
   */
  parseIdentifier(identifier: string): { vault: Resource; secret: string; version?: string } | undefined {
    let url: URL;
    try {
      url = new URL(identifier);
    } catch {
      return undefined;
    }
    const m = /^\/secrets\/([^/]+)(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (!m || !m[1]) return undefined;
    let vault: Resource | undefined;
    for (const [name, origin] of this.origins) {
      if (new URL(origin).host === url.host) vault = this.vaultByName(name);
    }
    if (!vault) vault = this.vaultByName(url.hostname.split(".")[0] ?? "");
    if (!vault) return undefined;
    return { vault, secret: decodeURIComponent(m[1]), version: m[2] ? decodeURIComponent(m[2]) : undefined };
  }

  /** What a principal (e.g. an APIM managed identity) gets when it reads a secret. */
  resolveAs(principalId: string | undefined, identifier: string): { ok: true; value: string } | { ok: false; code: string; message: string } {
    const ref = this.parseIdentifier(identifier);
    if (!ref) return { ok: false, code: "KeyVaultNotFound", message: `The Key Vault referenced by '${identifier}' could not be found.` };
    if (!principalId) return { ok: false, code: "IdentityNotFound", message: "The service has no managed identity that can access Key Vault." };
    if (!canAccessSecret(this.store, ref.vault, principalId, ref.secret, "get", this.timings.propagationMs)) {
      return { ok: false, code: "Forbidden", message: `The managed identity '${principalId}' does not have secrets get permission on key vault '${ref.vault.name}'.` };
    }
    const found = this.find(ref.vault.name, ref.secret, ref.version);
    if (!found || !found.v.enabled) return { ok: false, code: "SecretNotFound", message: `Secret '${ref.secret}' was not found in key vault '${ref.vault.name}'.` };
    return { ok: true, value: found.v.value };
  }

  // ---- data plane -------------------------------------------------------

  private bundle(origin: string, name: string, v: SecretVersion, withValue: boolean, vault: Resource): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (withValue) out["value"] = v.value;
    out["id"] = `${origin}/secrets/${name}/${v.version}`;
    if (v.contentType !== undefined) out["contentType"] = v.contentType;
    out["attributes"] = { enabled: v.enabled, created: v.created, updated: v.updated, ...recoveryOf(vault) };
    if (v.tags) out["tags"] = v.tags;
    return out;
  }

  private item(id: string, v: SecretVersion, vault: Resource): Record<string, unknown> {
    const out: Record<string, unknown> = { id, attributes: { enabled: v.enabled, created: v.created, updated: v.updated, ...recoveryOf(vault) } };
    if (v.contentType !== undefined) out["contentType"] = v.contentType;
    if (v.tags) out["tags"] = v.tags;
    return out;
  }

  /** A deleted secret as Get Deleted Secret answers it: the latest version's bundle (no value), recoveryId and dates. */
  private deletedBundle(origin: string, d: DeletedSecret, vault: Resource): Record<string, unknown> {
    return { recoveryId: `${origin}/deletedsecrets/${d.name}`, deletedDate: d.deletedDate, scheduledPurgeDate: d.scheduledPurgeDate, ...this.bundle(origin, d.name, d.versions[d.versions.length - 1] as SecretVersion, false, vault) };
  }

  /**
   * Key Vault's RBAC refusal (403 Forbidden, innererror ForbiddenByRbac), in the
   * shape Azure answers it (terraform-provider-azurerm#17015, Azure/
   * terraform-azurerm-avm-res-keyvault-vault#78): the caller, the action, the
   * resource and the propagation hint.
   */
  private deny(vault: Resource, principal: string, secret: string | undefined, action: string): ArmError {
    const resource = `${vault.id}${secret ? `/secrets/${secret}` : ""}`.toLowerCase();
    return new ArmError(
      403,
      "Forbidden",
      `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: oid=${principal}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/${action}'\r\nResource: '${resource}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: ${vault.name};location=${vault.location ?? "westeurope"}\r\n`,
      {},
      undefined,
      "ForbiddenByRbac",
    );
  }

  private check(vault: Resource, principal: string, secret: string | undefined, perm: SecretPermission, action: string): void {
    if (!canAccessSecret(this.store, vault, principal, secret, perm, this.timings.propagationMs)) throw this.deny(vault, principal, secret, action);
  }

  /** Handles one authenticated data-plane request against a vault. */
  handle(vaultName: string, origin: string, method: string, url: URL, principal: string, body: Record<string, unknown>): Reply {
    const vault = this.vaultByName(vaultName);
    if (!vault) throw new ArmError(404, "VaultNotFound", `Vault '${vaultName}' does not exist.`);
    if (!url.searchParams.get("api-version")) throw new ArmError(400, "BadParameter", "The 'api-version' query parameter is required.");
    const parts = url.pathname.split("/").filter((p) => p.length > 0).map((p) => decodeURIComponent(p));
    const maxResults = Math.max(1, Math.min(25, Number(url.searchParams.get("maxresults") ?? "25") || 25));
    const skip = Number(url.searchParams.get("$skiptoken") ?? "0") || 0;
    const page = <T>(items: T[], basePath: string) => {
      const slice = items.slice(skip, skip + maxResults);
      const next = skip + maxResults < items.length ? `${origin}${basePath}?api-version=${url.searchParams.get("api-version")}&$skiptoken=${skip + maxResults}&maxresults=${maxResults}` : null;
      return { value: slice, nextLink: next };
    };
    if (parts[0]?.toLowerCase() === "deletedsecrets") return this.deletedSecrets(vault, origin, method, parts, principal, page);
    if (parts[0]?.toLowerCase() !== "secrets") throw new ArmError(404, "NotFound", `The requested path '${url.pathname}' is not served by this vault.`);
    const name = parts[1];
    const sub = parts[2];

    if (!name) {
      if (method !== "GET") throw new ArmError(405, "MethodNotAllowed", "Method not allowed.");
      this.check(vault, principal, undefined, "list", "readMetadata/action");
      const all = [...(this.secrets.get(vault.name.toLowerCase())?.values() ?? [])]
        .filter((e) => e.versions.length > 0)
        .map((e) => this.item(`${origin}/secrets/${e.name}`, e.versions[e.versions.length - 1] as SecretVersion, vault));
      return { status: 200, body: page(all, "/secrets") };
    }
    if (!/^[0-9a-zA-Z-]{1,127}$/.test(name)) throw new ArmError(400, "BadParameter", `The secret name '${name}' is invalid: use 1-127 letters, digits and dashes.`);

    if (method === "PUT" && !sub) {
      this.check(vault, principal, name, "set", "setSecret/action");
      if (typeof body["value"] !== "string") throw new ArmError(400, "BadParameter", "Property 'value' is required and must be a string.");
      const gone = this.deleted.get(vault.name.toLowerCase())?.get(name.toLowerCase());
      if (gone) {
        // a soft-deleted name cannot be reused until it is recovered or purged (PowerShell Universal #1990, external-secrets
        // #3519, terraform-provider-azurerm#12285 for the body's shape): 409 Conflict, innererror ObjectIsDeletedButRecoverable
        throw new ArmError(
          409,
          "Conflict",
          `Secret ${gone.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
          {},
          undefined,
          "ObjectIsDeletedButRecoverable",
        );
      }
      const now = Math.floor(Date.now() / 1000);
      const attrs = (body["attributes"] as Record<string, unknown> | undefined) ?? {};
      const v: SecretVersion = {
        version: randomBytes(16).toString("hex"),
        value: body["value"],
        contentType: typeof body["contentType"] === "string" ? body["contentType"] : undefined,
        tags: body["tags"] && typeof body["tags"] === "object" ? (body["tags"] as Record<string, string>) : undefined,
        enabled: attrs["enabled"] !== false,
        created: now,
        updated: now,
      };
      const existing = this.find(vault.name, name);
      this.putVersion(vault.name, existing?.name ?? name, v);
      return { status: 200, body: this.bundle(origin, existing?.name ?? name, v, true, vault) };
    }
    if (method === "GET" && sub?.toLowerCase() === "versions") {
      this.check(vault, principal, name, "list", "readMetadata/action");
      const entry = this.secrets.get(vault.name.toLowerCase())?.get(name.toLowerCase());
      if (!entry || entry.versions.length === 0) throw secretNotFound(name);
      const items = entry.versions.map((v) => this.item(`${origin}/secrets/${entry.name}/${v.version}`, v, vault));
      return { status: 200, body: page(items, `/secrets/${entry.name}/versions`) };
    }
    if (method === "GET") {
      this.check(vault, principal, name, "get", "getSecret/action");
      const found = this.find(vault.name, name, sub);
      if (!found) throw secretNotFound(name, sub);
      if (!found.v.enabled) throw new ArmError(403, "Forbidden", `Operation get is not allowed on a disabled secret.`);
      return { status: 200, body: this.bundle(origin, found.name, found.v, true, vault) };
    }
    if (method === "PATCH") {
      this.check(vault, principal, name, "set", "writeSecret/action");
      const found = this.find(vault.name, name, sub);
      if (!found) throw secretNotFound(name, sub);
      const attrs = (body["attributes"] as Record<string, unknown> | undefined) ?? {};
      if (typeof attrs["enabled"] === "boolean") found.v.enabled = attrs["enabled"];
      if (typeof body["contentType"] === "string") found.v.contentType = body["contentType"];
      if (body["tags"] && typeof body["tags"] === "object") found.v.tags = body["tags"] as Record<string, string>;
      found.v.updated = Math.floor(Date.now() / 1000);
      return { status: 200, body: this.bundle(origin, found.name, found.v, false, vault) };
    }
    if (method === "DELETE" && !sub) {
      this.check(vault, principal, name, "delete", "delete");
      const entry = this.secrets.get(vault.name.toLowerCase())?.get(name.toLowerCase());
      if (!entry || entry.versions.length === 0) throw secretNotFound(name);
      this.secrets.get(vault.name.toLowerCase())?.delete(name.toLowerCase());
      const now = Math.floor(Date.now() / 1000);
      const recovery = recoveryOf(vault);
      const d: DeletedSecret = { name: entry.name, versions: entry.versions, deletedDate: now, scheduledPurgeDate: now + (recovery.recoverableDays ?? 0) * 86400 };
      // a vault without soft delete (legacy) deletes at once: nothing to recover
      if (recovery.recoverableDays !== undefined) {
        let dm = this.deleted.get(vault.name.toLowerCase());
        if (!dm) this.deleted.set(vault.name.toLowerCase(), (dm = new Map()));
        dm.set(name.toLowerCase(), d);
      }
      return { status: 200, body: this.deletedBundle(origin, d, vault) };
    }
    throw new ArmError(405, "MethodNotAllowed", `Method ${method} is not allowed on ${url.pathname}.`);
  }

  /**
   * Soft-deleted secrets (Key Vault REST 7.5, Secrets): Get Deleted Secrets
   * (GET /deletedsecrets, secrets/list), Get Deleted Secret (GET
   * /deletedsecrets/{name}, secrets/get: its tags and dates, never its value),
   * Recover Deleted Secret (POST /deletedsecrets/{name}/recover,
   * secrets/recover: every version comes back; SecretClient.beginRecoverDeletedSecret
   * then polls GET /secrets/{name} until it answers) and Purge Deleted Secret
   * (DELETE /deletedsecrets/{name}, secrets/purge: 204; refused while the vault
   * has purge protection: 403 'Operation "purge" is not allowed because purge
   * protection is enabled for this vault', Azure/sap-automation#200,
   * microsoft/AzureTRE#1951).
   */
  private deletedSecrets(vault: Resource, origin: string, method: string, parts: string[], principal: string, page: <T>(items: T[], basePath: string) => { value: T[]; nextLink: string | null }): Reply {
    const dm = this.deleted.get(vault.name.toLowerCase());
    const name = parts[1];
    if (!name) {
      if (method !== "GET") throw new ArmError(405, "MethodNotAllowed", `Method ${method} is not allowed on /deletedsecrets.`);
      this.check(vault, principal, undefined, "list", "readMetadata/action");
      // DeletedSecretItem: the versionless id, attributes, tags and content type, recoveryId and dates
      const all = [...(dm?.values() ?? [])].map((d) => ({
        ...this.item(`${origin}/secrets/${d.name}`, d.versions[d.versions.length - 1] as SecretVersion, vault),
        recoveryId: `${origin}/deletedsecrets/${d.name}`,
        deletedDate: d.deletedDate,
        scheduledPurgeDate: d.scheduledPurgeDate,
      }));
      return { status: 200, body: page(all, "/deletedsecrets") };
    }
    const d = dm?.get(name.toLowerCase());
    const notFound = () => new ArmError(404, "SecretNotFound", `Deleted Secret not found: ${name}`);
    if (method === "GET" && parts.length === 2) {
      this.check(vault, principal, name, "get", "readMetadata/action");
      if (!d) throw notFound();
      return { status: 200, body: this.deletedBundle(origin, d, vault) };
    }
    if (method === "POST" && parts.length === 3 && parts[2]?.toLowerCase() === "recover") {
      this.check(vault, principal, name, "recover", "recover/action");
      if (!d) throw notFound();
      dm?.delete(name.toLowerCase());
      for (const v of d.versions) this.putVersion(vault.name, d.name, v);
      return { status: 200, body: this.bundle(origin, d.name, d.versions[d.versions.length - 1] as SecretVersion, false, vault) };
    }
    if (method === "DELETE" && parts.length === 2) {
      this.check(vault, principal, name, "purge", "purge/action");
      if (!d) throw notFound();
      if (vault.properties["enablePurgeProtection"] === true) {
        throw new ArmError(403, "Forbidden", `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.\r\nVault: ${vault.name};location=${vault.location ?? "westeurope"}`);
      }
      dm?.delete(name.toLowerCase());
      return { status: 204 };
    }
    throw new ArmError(405, "MethodNotAllowed", `Method ${method} is not allowed on /${parts.join("/")}.`);
  }

  /** Every secret value currently held (for the secret-hygiene tests). */
  allValues(): string[] {
    const out: string[] = [];
    for (const vm of this.secrets.values()) for (const e of vm.values()) for (const v of e.versions) out.push(v.value);
    return out;
  }

  snapshot(): Record<string, Record<string, Array<{ version: string; enabled: boolean }>>> {
    const out: Record<string, Record<string, Array<{ version: string; enabled: boolean }>>> = {};
    for (const [vault, vm] of this.secrets) {
      out[vault] = {};
      for (const e of vm.values()) out[vault][e.name] = e.versions.map((v) => ({ version: v.version, enabled: v.enabled }));
    }
    return out;
  }
}

function secretNotFound(name: string, version?: string): ArmError {
  return new ArmError(404, "SecretNotFound", `A secret with (name/id) ${name}${version ? "/" + version : ""} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`);
}
