/**
 * Migrates a secret named value into Key Vault without ever losing or
 * exposing the value:
 *
 *   1. read the named value (its ETag) first, then its value (`listValue`): a rotation between
 *      the two moves the ETag, so the If-Match of step 5 refuses to point at a stale copy
 *   2. write the value to Key Vault under a name unique to service and named value (reuse when
 *      it already holds it; never overwrite a secret whose tags name another owner). A name
 *      that is soft-deleted is recovered when the recovered secret is this named value's; a
 *      name another owner holds, live or soft-deleted, is passed over for the next one
 *      (`-2`, `-3`, … : the same on every run)
 *   3. read it back and compare
 *   4. grant the service identity `Key Vault Secrets User` on that one secret (or check access exists);
 *      a lock that refuses the grant (409 ScopeLocked) stops the migration, the named value unchanged
 *   5. PATCH the named value to `keyVault.secretIdentifier` (If-Match). API Management fetches the
 *      secret when the reference is written and refuses the write when it cannot; a grant takes
 *      minutes to apply, so a refusal is retried with backoff a few times, and while the grant is
 *      young (PROPAGATION_WINDOW_MS) the outcome is "in progress": the value stays inline and the
 *      next evaluation continues. The named value never points at a secret the service cannot read
 *   6. wait until APIM resolves the reference (`keyVault.lastStatus`), refreshing if needed
 *   7. confirm `listValue` returns the original value
 *
 * The value lives in APIM until step 5 and in Key Vault (verified) from step 3
 * on, so a crash between any two steps leaves it recoverable; a reference APIM
 * cannot resolve (access removed later) is itself a finding, and the next run
 * repairs it (grant + refresh).
 *
 * Only the configured vault (KEY_VAULT_URL / KEY_VAULT_RESOURCE_ID) is ever
 * read, written or granted on. A reference into any other vault, or to a
 * secret of that vault this service's named value does not own (tags), is
 * reported and never acted on: otherwise anyone who can write a named value
 * could have the remediator grant their service access to a secret they may
 * not read. For the same reason there is no rollback that copies a value out
 * of Key Vault back into API Management.
 */
import { createHash } from "node:crypto";
import type { NamedValueContract } from "@azure/arm-apimanagement";
import { isLoopbackUrl } from "../../common/config.js";
import { pick, str } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";
import type { SecretClient } from "@azure/keyvault-secrets";
import { BlockedError, InProgressError, type ApplyContext, type Plan, type Remediation } from "../types.js";
import { childName, code, isNotFound, serviceOf, status } from "./write.js";

export const SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6";
const READER_ROLES = [SECRETS_USER_ROLE, "b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "00482a5a-887f-4fb3-b363-3b7fe8e74483"];
export const TAG_SERVICE = "apim-remediator-service";
export const TAG_NAMED_VALUE = "apim-remediator-named-value";

/**
 * A Key Vault secret name (1-127 of [0-9a-zA-Z-]) for a service's named value,
 * stable across runs and distinct for every (service, named value) pair: the
 * readable part alone is ambiguous (`contoso` + `prod-key` and `contoso-prod`
 * + `key` read the same), so a hash of the exact pair always follows it. ARM
 * names are case-insensitive, so is the name (Key Vault's are too). Service names are globally
 * unique (they are DNS names), so the pair names one named value anywhere.
 *
 * `n` > 0 gives the n-th next name (`…-<hash>-<n+1>`), for when another owner
 * holds the first one (live or soft-deleted): the same on every run.
 */
export function secretNameFor(serviceName: string, namedValue: string, n = 0): string {
  const clean = (s: string) => s.replace(/[^0-9a-zA-Z-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");
  const hash = createHash("sha256").update(`${serviceName.toLowerCase()}\u0000${namedValue.toLowerCase()}`).digest("hex").slice(0, 12);
  const suffix = n > 0 ? `-${n + 1}` : "";
  const base = `apim-${clean(serviceName.toLowerCase())}-${clean(namedValue.toLowerCase())}`.slice(0, 127 - hash.length - 1 - suffix.length).replace(/-+$/, "");
  return `${base}-${hash}${suffix}`;
}

/** How many names (the first and its successors) the migration tries before it reports that all are taken. */
export const SECRET_NAME_CANDIDATES = 5;

/**
 * How long after a role assignment was made a refusal to read the secret is
 * still taken for propagation ("in progress", retried by the next
 * evaluation) rather than for a lasting problem ("failed"). Azure: "Allow
 * several minutes for role assignments to refresh" (Key Vault RBAC guide,
 * https://learn.microsoft.com/azure/key-vault/general/rbac-guide); "it can
 * take up to 10 minutes for changes to take effect"
 * (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting).
 * Three times the documented bound.
 */
export const PROPAGATION_WINDOW_MS = 30 * 60_000;

/** Attempts of the named value PATCH while API Management refuses the reference (each is a write), with backoff between. */
export const REFERENCE_ATTEMPTS = 4;
const MAX_BACKOFF_MS = 30_000;

/** Tags that name the owner of a migrated secret: the service's ARM id and the named value. */
export function ownerTags(serviceId: string, namedValue: string): Record<string, string> {
  return { [TAG_SERVICE]: serviceId, [TAG_NAMED_VALUE]: namedValue };
}

/** Whether a Key Vault secret's tags name this service's named value as its owner. */
export function ownedBy(tags: Record<string, string> | undefined, serviceId: string, namedValue: string): boolean {
  return (tags?.[TAG_SERVICE] ?? "").toLowerCase() === serviceId.toLowerCase() && (tags?.[TAG_NAMED_VALUE] ?? "").toLowerCase() === namedValue.toLowerCase();
}

/** The origin of a URL, lower case; undefined when it is not an https URL. */
export function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === "https:" ? u.origin.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a Key Vault URL (a vault or a secret identifier) is in the configured
 * vault, the only one the remediator touches: its origin is KEY_VAULT_URL's.
 * Against the loopback emulator, the vault's Azure name
 * (`https://NAME.vault.azure.net`, NAME from KEY_VAULT_RESOURCE_ID) is the
 * configured vault too, as it is in Azure; requests always go to
 * KEY_VAULT_URL, so that name is mapped to the emulator and never resolved.
 */
export function inAllowedVault(url: string, vault: { keyVaultUrl?: string; keyVaultResourceId?: string }): boolean {
  const o = originOf(url);
  const configured = vault.keyVaultUrl === undefined ? undefined : originOf(vault.keyVaultUrl);
  if (o === undefined || configured === undefined) return false;
  if (o === configured) return true;
  const name = vault.keyVaultResourceId?.split("/").pop()?.toLowerCase();
  return isLoopbackUrl(configured) && name !== undefined && o === `https://${name}.vault.azure.net`;
}

/** The secret name of a Key Vault secret identifier (`https://VAULT/secrets/NAME[/VERSION]`), or undefined. */
export function secretNameOf(secretIdentifier: string): string | undefined {
  try {
    return /^\/secrets\/([0-9a-zA-Z-]{1,127})(?:\/[0-9a-zA-Z]*)?\/?$/.exec(new URL(secretIdentifier).pathname)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * The secret a reference read at apply time names in the configured vault. A reference into another vault (or no
 * secret identifier) is a BlockedError: access is only ever granted on the secret the reference points at, and only
 * in the configured vault (KEY_VAULT_RESOURCE_ID), so a reference changed between plan and apply gets nothing.
 */
export function referencedSecret(secretIdentifier: string, vault: { keyVaultUrl?: string; keyVaultResourceId?: string }): string {
  if (!inAllowedVault(secretIdentifier, vault)) {
    throw new BlockedError(`the reference now points into ${originOf(secretIdentifier) ?? "an unknown location"}, which is not the configured Key Vault (KEY_VAULT_URL): nothing granted; fix the reference or the access by hand`);
  }
  const named = secretNameOf(secretIdentifier);
  if (!named) throw new BlockedError("the reference is not a Key Vault secret identifier (https://VAULT/secrets/NAME[/VERSION]): nothing granted");
  return named;
}

/** A deterministic role assignment name (GUID), so re-running the grant is idempotent. */
export function assignmentName(scope: string, principalId: string, role: string): string {
  const h = createHash("sha256").update(`${scope.toLowerCase()}|${principalId.toLowerCase()}|${role}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface Identity {
  principalId: string;
  /** Set for a user-assigned identity (APIM's `identityClientId`). */
  clientId?: string;
}

/** The identity APIM will use for the reference: the system-assigned one, else the first user-assigned one. */
export function referenceIdentity(s: ServiceSnapshot): Identity | undefined {
  const type = str(pick(s.service, "identity.type")) ?? "";
  const pid = str(pick(s.service, "identity.principalId"));
  if (/SystemAssigned/i.test(type) && pid) return { principalId: pid };
  const users = (pick(s.service, "identity.userAssignedIdentities") as Record<string, unknown> | undefined) ?? {};
  for (const v of Object.values(users)) {
    const p = str(pick(v, "principalId"));
    const c = str(pick(v, "clientId"));
    if (p && c) return { principalId: p, clientId: c };
  }
  return undefined;
}

function vaultSubscription(resourceId: string): string {
  return /^\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1] ?? "";
}

interface Payload {
  namedValue: string;
  secretName: string;
  vaultUrl: string;
  secretIdentifier: string;
  principalId: string;
  clientId?: string;
  grant: boolean;
  vaultResourceId?: string;
  /** "migrate" an inline secret, or "repair" a reference APIM cannot resolve. */
  kind: "migrate" | "repair";
}

export const fixKeyVaultMigration: Remediation = {
  plan(finding, s, ctx) {
    const nv = s.namedValues.find((n) => n.id.toLowerCase() === finding.resourceId.toLowerCase());
    if (!nv) return { kind: "blocked", reason: "the named value is not in the snapshot" };
    const identity = referenceIdentity(s);
    if (!identity) {
      return {
        kind: "blocked",
        reason: ctx.settings.managedIdentityAuto ? "the service has no managed identity yet (the managed-identity fix runs first)" : "the service has no managed identity: enable one (or the managed-identity remediation) so APIM can read Key Vault",
      };
    }
    const vaultUrl = ctx.settings.keyVaultUrl;
    if (!vaultUrl) return { kind: "blocked", reason: "KEY_VAULT_URL is not set: no vault to migrate the secret into" };
    if (ctx.settings.grantKeyVaultAccess && !ctx.settings.keyVaultResourceId) {
      return { kind: "blocked", reason: "KEY_VAULT_RESOURCE_ID is not set: it is needed to grant the service identity access (or set REMEDIATOR_GRANT_KEY_VAULT_ACCESS=false and grant by hand)" };
    }
    const existingRef = str(pick(nv, "properties.keyVault.secretIdentifier"));
    const repair = existingRef !== undefined;
    let secretName = secretNameFor(s.service.name, nv.name);
    if (repair) {
      // a reference into another vault is never acted on: we would read from, or grant on, a vault we were not given
      if (!inAllowedVault(existingRef, ctx.settings)) return { kind: "blocked", reason: `the reference points into ${originOf(existingRef) ?? "an unknown location"}, which is not the configured Key Vault (KEY_VAULT_URL): not repaired; fix the reference or the access by hand` };
      const named = secretNameOf(existingRef);
      if (!named) return { kind: "blocked", reason: "the reference is not a Key Vault secret identifier (https://VAULT/secrets/NAME[/VERSION]): not repaired" };
      secretName = named;
    }
    const secretIdentifier = repair ? existingRef : `${vaultUrl.replace(/\/+$/, "")}/secrets/${secretName}`;
    const payload: Payload = {
      namedValue: nv.name,
      secretName,
      vaultUrl,
      secretIdentifier,
      principalId: identity.principalId,
      clientId: identity.clientId,
      grant: ctx.settings.grantKeyVaultAccess,
      vaultResourceId: ctx.settings.keyVaultResourceId,
      kind: repair ? "repair" : "migrate",
    };
    const steps = repair
      ? ["check the secret is this named value's (its tags)", "grant the service identity read access to the secret", "refresh the reference"]
      : [
          "read the named value's ETag, then its value (listValue)",
          `write it to Key Vault as '${secretName}' (reused if it already holds the value; a soft-deleted secret of that name is recovered when it is this named value's; a name another owner holds, live or soft-deleted, is passed over for '${secretNameFor(s.service.name, nv.name, 1)}' and so on; never over another owner's secret)`,
          "read it back and compare",
          payload.grant ? `grant ${identity.clientId ? "the user-assigned" : "the system-assigned"} identity 'Key Vault Secrets User' on that secret` : "check the identity can read the vault",
          "PATCH the named value to the Key Vault reference (If-Match); while the new grant is still propagating API Management refuses it: retried, then 'in progress' with the value left inline",
          "wait for API Management to resolve it",
          "confirm the resolved value equals the original",
        ];
    return {
      kind: "plan",
      plan: {
        ruleId: finding.ruleId,
        resourceId: nv.id,
        targetId: nv.id,
        operation: repair ? "repair Key Vault reference" : "migrate named value to Key Vault",
        summary: repair ? `Repair the Key Vault reference of '${nv.name}'` : `Move secret named value '${nv.name}' into Key Vault secret '${secretName}'`,
        changes: repair
          ? [{ path: "properties.keyVault.lastStatus.code", before: str(pick(nv, "properties.keyVault.lastStatus.code")) ?? null, after: "Success" }]
          : [
              { path: "properties.value", before: "(secret, stored in API Management)", after: "(moved to Key Vault; never shown)" },
              { path: "properties.keyVault.secretIdentifier", before: null, after: secretIdentifier },
              ...(identity.clientId ? [{ path: "properties.keyVault.identityClientId", before: null, after: identity.clientId }] : []),
            ],
        steps,
        payload: payload as unknown as Record<string, unknown>,
      },
    };
  },

  async apply(plan, ctx) {
    const p = plan.payload as unknown as Payload;
    const ref = serviceOf(plan.targetId);
    const apim = ctx.clients.apim(ref.subscriptionId);
    const name = childName(plan.targetId, "namedValues");
    if (!inAllowedVault(p.vaultUrl, ctx.settings)) throw new BlockedError("the plan's vault is not the configured Key Vault (KEY_VAULT_URL): nothing done");
    const kv = ctx.clients.secrets(p.vaultUrl);
    if (p.kind === "repair") {
      const [current, secret] = await Promise.all([apim.namedValue.get(ref.resourceGroup, ref.name, name), kv.getSecret(p.secretName).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)))]);
      if (typeof secret?.value === "string") ctx.secret(secret.value);
      // the reference as it is now, not as planned: re-pointed meanwhile (another vault, another secret, or inline
      // again), it is not repaired here and the next evaluation judges it afresh
      const now = current.keyVault?.secretIdentifier;
      if (!now) throw new BlockedError("the named value no longer references Key Vault: not repaired; the next evaluation judges it again");
      if (referencedSecret(now, ctx.settings).toLowerCase() !== p.secretName.toLowerCase()) throw new BlockedError(`the reference changed since it was read (now Key Vault secret '${secretNameOf(now) ?? "?"}'): not repaired; the next evaluation judges it again`);
      // only a secret this named value owns gets a grant: a reference to another service's secret is not ours to open
      if (!secret) throw new BlockedError(`the Key Vault secret '${p.secretName}' does not exist: the reference cannot be repaired`);
      if (!ownedBy(secret.properties.tags, ref.id, name)) throw new BlockedError(`the Key Vault secret '${p.secretName}' is not this named value's (its tags name another owner or none): not granted; fix the reference or the access by hand`);
      await ensureAccess(p, p.secretName, ctx);
      await waitResolved(plan, ctx, current, () => checkAccess(p, p.secretName, ctx));
      return;
    }

    // 1. every read the migration needs (nothing changes before all of them succeed): the named value's ETag
    //    and then its value (in that order: a rotation in between moves the ETag, and the If-Match of step 5
    //    refuses the stale copy), alongside the secret Key Vault may already hold and the identity's access
    const getting = apim.namedValue.get(ref.resourceGroup, ref.name, name);
    const [currentRead, valueRead, existingRead, accessRead] = await Promise.allSettled([
      getting,
      getting.then(() => apim.namedValue.listValue(ref.resourceGroup, ref.name, name)),
      kv.getSecret(p.secretName).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e))),
      checkAccess(p, p.secretName, ctx),
    ]);
    // values are registered before anything else, so nothing can print them
    if (valueRead.status === "fulfilled" && typeof valueRead.value.value === "string") ctx.secret(valueRead.value.value);
    if (existingRead.status === "fulfilled" && typeof existingRead.value?.value === "string") ctx.secret(existingRead.value.value);
    if (currentRead.status === "rejected") throw currentRead.reason;
    const current = currentRead.value;
    if (current.keyVault?.secretIdentifier) {
      // migrated meanwhile (another worker, or a person): make sure it resolves, granting only on the secret the
      // reference names, in the configured vault, and only when that secret is this named value's (its tags)
      const named = referencedSecret(current.keyVault.secretIdentifier, ctx.settings);
      const held = await kv.getSecret(named).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
      if (typeof held?.value === "string") ctx.secret(held.value);
      if (!held || !ownedBy(held.properties.tags, ref.id, name)) {
        throw new BlockedError(`the named value was pointed at Key Vault secret '${named}' meanwhile, which is not this named value's (${held ? "its tags name another owner or none" : "it does not exist"}): not granted; fix the reference or the access by hand`);
      }
      await ensureAccess(p, named, ctx);
      await waitResolved(plan, ctx, current, () => checkAccess(p, named, ctx));
      return;
    }
    if (valueRead.status === "rejected") throw valueRead.reason;
    const value = valueRead.value.value;
    if (typeof value !== "string") throw new BlockedError(`named value '${name}' returned no value`);
    // the access check fails before any change when we may not grant
    if (accessRead.status === "rejected") throw accessRead.reason;
    if (existingRead.status === "rejected") throw existingRead.reason;

    // 2. write (or reuse) the Key Vault secret under the first name that is free or this named value's; a secret
    //    that holds something else and is not ours (tags) is never overwritten: that would destroy another owner's value
    const placed = await placeSecret({ kv, ctx, serviceName: ref.name, serviceId: ref.id, namedValue: name, first: p.secretName, firstExisting: existingRead.value, value });
    const secretName = placed.name;
    const secretIdentifier = secretName === p.secretName ? p.secretIdentifier : `${p.vaultUrl.replace(/\/+$/, "")}/secrets/${secretName}`;
    const knownAccess = secretName === p.secretName ? accessRead.value : await checkAccess(p, secretName, ctx);
    // 3. read back and compare: until this holds, APIM keeps the only copy and the named value is not touched;
    // 4. alongside it, access for the service identity when step 1 found none (reading a secret that holds
    //    what API Management already holds; nothing in API Management changes)
    const [backRead, granted] = await Promise.allSettled([kv.getSecret(secretName, { version: placed.version }), p.grant && !knownAccess ? grantAccess(p, secretName, ctx) : Promise.resolve(knownAccess)]);
    if (backRead.status === "fulfilled" && typeof backRead.value.value === "string") ctx.secret(backRead.value.value);
    if (backRead.status === "rejected") throw backRead.reason;
    if (backRead.value.value !== value) throw new Error(`Key Vault read-back of '${secretName}' does not match; the named value was not changed`);
    if (granted.status === "rejected") throw granted.reason;

    // 5. point the named value at Key Vault (If-Match on the ETag read in step 1), once API Management can read it
    const recheck = () => checkAccess(p, secretName, ctx);
    const pointed = await pointAtVault(plan, ctx, { etag: current.eTag as string, secretName, secretIdentifier, clientId: p.clientId }, recheck);
    // 6 + 7. resolved, and to the same value
    await waitResolved(plan, ctx, pointed, recheck);
    const resolved = await apim.namedValue.listValue(ref.resourceGroup, ref.name, name);
    if (resolved.value !== value) throw new Error(`the Key Vault reference of '${name}' resolves to a different value`);
  },
  // No rollback: restoring the inline value would mean copying a secret out of Key Vault into API
  // Management with the remediator's own identity. A reference that does not resolve stays a finding,
  // the value is verified in Key Vault, and the next evaluation repairs the access (or a ticket asks for it).
};

/** The identity's access to the secret: when the role assignment that gives it was made (undefined: long ago or unknown). */
interface Access {
  since?: Date;
}

/** Grants `Key Vault Secrets User` on the one secret (idempotent), or, when granting is off, checks some read role exists. */
async function ensureAccess(p: Payload, secretName: string, ctx: ApplyContext): Promise<Access | undefined> {
  return (await checkAccess(p, secretName, ctx)) ?? (p.grant ? await grantAccess(p, secretName, ctx) : undefined);
}

/**
 * Reads only. With grants on: the service identity's `Key Vault Secrets User`
 * assignment on the secret, or undefined (`grantAccess` must add it). With
 * grants off: the read role that covers the secret; throws BlockedError when
 * none does.
 */
async function checkAccess(p: Payload, secretName: string, ctx: ApplyContext): Promise<Access | undefined> {
  if (!p.vaultResourceId) {
    if (p.grant) throw new BlockedError("KEY_VAULT_RESOURCE_ID is not set: cannot grant the service identity access");
    return {}; // cannot check without the vault's ARM id; the reference status will tell
  }
  const { auth, secretScope, assignment } = accessTarget(p.vaultResourceId, p, secretName, ctx);
  if (!p.grant) {
    const found = await readerAssignment(auth, p.vaultResourceId, secretScope, p.principalId, READER_ROLES);
    if (found) return found;
    throw new BlockedError(`grant access: the service identity ${p.principalId} cannot read Key Vault secrets (automatic grants are off)`);
  }
  try {
    const ra = await auth.roleAssignments.get(secretScope, assignment);
    return { since: ra.createdOn };
  } catch (e) {
    if (!isNotFound(e)) throw e;
    return undefined;
  }
}

/** A role assignment of the principal at or above the secret with one of the roles (listed at the vault: the secret scope may not exist yet). */
async function readerAssignment(auth: ReturnType<ApplyContext["clients"]["authorization"]>, listAt: string, secretScope: string, principalId: string, roles: string[]): Promise<Access | undefined> {
  const covers = (scope: string | undefined) => {
    if (scope === undefined) return false;
    const s = scope.toLowerCase().replace(/\/+$/, "");
    return s === "" || secretScope.toLowerCase() === s || secretScope.toLowerCase().startsWith(`${s}/`);
  };
  for await (const ra of auth.roleAssignments.listForScope(listAt, { filter: `principalId eq '${principalId}'` })) {
    if (covers(ra.scope) && roles.includes((ra.roleDefinitionId ?? "").split("/").pop()?.toLowerCase() ?? "")) return { since: ra.createdOn };
  }
  return undefined;
}

/** Where the identity's access to the one secret is checked and granted: the client, the secret's scope and the assignment's deterministic name. */
function accessTarget(vaultResourceId: string, p: Payload, secretName: string, ctx: ApplyContext) {
  const secretScope = `${vaultResourceId}/secrets/${secretName}`;
  return { auth: ctx.clients.authorization(vaultSubscription(vaultResourceId)), secretScope, assignment: assignmentName(secretScope, p.principalId, SECRETS_USER_ROLE) };
}

/**
 * Creates the `Key Vault Secrets User` assignment on the one secret (a deterministic name: idempotent). Of ARM's
 * 409 answers only `RoleAssignmentExists` means the access is there (the same role for the same principal at the
 * same scope under another name); `ScopeLocked` is a lock on the vault or above that refuses every role assignment
 * (a ReadOnly lock: lock-resources, "A read-only lock also prevents the assignment of Azure RBAC roles"): nothing
 * was granted, so nothing may point at the secret.
 */
async function grantAccess(p: Payload, secretName: string, ctx: ApplyContext): Promise<Access> {
  if (!p.vaultResourceId) throw new BlockedError("KEY_VAULT_RESOURCE_ID is not set: cannot grant the service identity access");
  const { auth, secretScope, assignment } = accessTarget(p.vaultResourceId, p, secretName, ctx);
  ctx.write(`grant Key Vault Secrets User on ${secretName} to ${p.principalId}`);
  try {
    const ra = await auth.roleAssignments.create(secretScope, assignment, {
      roleDefinitionId: `/subscriptions/${vaultSubscription(p.vaultResourceId)}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_USER_ROLE}`,
      principalId: p.principalId,
      principalType: "ServicePrincipal",
    });
    return { since: ra.createdOn ?? new Date() };
  } catch (e) {
    if (status(e) === 409 && code(e) === "RoleAssignmentExists") return (await readerAssignment(auth, secretScope, secretScope, p.principalId, [SECRETS_USER_ROLE])) ?? {};
    if (status(e) === 409 && code(e) === "ScopeLocked") {
      throw new BlockedError(`a lock refuses the role assignment on Key Vault secret '${secretName}' (${(e as Error).message}): grant the service identity 'Key Vault Secrets User' on it by hand or remove the lock; the named value was not changed`);
    }
    throw e;
  }
}

/** The Key Vault error's own cause (`innererror.code`, e.g. ObjectIsDeletedButRecoverable), as the SecretClient reports it. */
function innerCode(e: unknown): string | undefined {
  return (e as { details?: { error?: { innerError?: { code?: string } } } })?.details?.error?.innerError?.code;
}

interface Placement {
  kv: SecretClient;
  ctx: ApplyContext;
  serviceName: string;
  serviceId: string;
  namedValue: string;
  first: string;
  /** What step 1 read under the first name. */
  firstExisting: { value?: string; properties: { version?: string; tags?: Record<string, string> } } | undefined;
  value: string;
}

/**
 * Puts the value in Key Vault under the first name that is free or this named value's (its owner tags): reuses a
 * version that holds it, adds a version to a secret of ours, recovers a soft-deleted secret of that name and keeps
 * it when it turns out to be ours. A name another owner holds is never written. A soft-deleted name that is not ours
 * passes the migration on to the next name (`secretNameFor(…, n)`), the same on every run. A live secret of another
 * owner under the first name ends the migration (not remediable), unless one of the next names already holds this
 * named value's secret (an earlier run moved on after recovering someone else's deleted secret): that one is used.
 *
 * Writing a name that is deleted but recoverable answers 409 Conflict with innererror ObjectIsDeletedButRecoverable
 * ("…its name cannot be reused; in this state, the secret can only be recovered or purged": PowerShell Universal
 * #1990, external-secrets #3519). Recovering needs `secrets/recover` (SecretClient.beginRecoverDeletedSecret, which
 * polls the secret until it is back); the remediator never purges.
 */
async function placeSecret(o: Placement): Promise<{ name: string; version: string }> {
  let refused: string | undefined;
  for (let n = 0; n < SECRET_NAME_CANDIDATES; n++) {
    const name = n === 0 ? o.first : secretNameFor(o.serviceName, o.namedValue, n);
    const existing = n === 0 ? o.firstExisting : await o.kv.getSecret(name).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    if (typeof existing?.value === "string") o.ctx.secret(existing.value);
    if (existing && existing.value === o.value && existing.properties.version) return { name, version: existing.properties.version };
    if (existing && !ownedBy(existing.properties.tags, o.serviceId, o.namedValue)) {
      if (n === 0) refused = `the Key Vault secret '${name}' exists with another value and its tags do not name this named value as owner: not overwritten; the named value was not changed`;
      continue;
    }
    // a live secret of ours with another value (a new version), or a free name: but not a new one after a refusal
    if (!existing && refused) continue;
    const written = await writeOrRecover(o, name);
    if (written) return written;
    o.ctx.log.info({ secretName: name }, `Key Vault secret '${name}' is taken (soft-deleted, not this named value's): trying the next name`);
  }
  throw new BlockedError(refused ?? `the Key Vault secret names '${o.first}' … '${secretNameFor(o.serviceName, o.namedValue, SECRET_NAME_CANDIDATES - 1)}' are all taken by other owners (live or soft-deleted): the named value was not changed`);
}

/** Writes the value under `name`; when the name is soft-deleted, recovers it and writes only if it is ours. Undefined: the name is not ours to use. */
async function writeOrRecover(o: Placement, name: string): Promise<{ name: string; version: string } | undefined> {
  const set = async () => {
    o.ctx.write(`set Key Vault secret ${name}`);
    const s = await o.kv.setSecret(name, o.value, { contentType: "text/plain", tags: ownerTags(o.serviceId, o.namedValue) });
    return { name, version: s.properties.version as string };
  };
  try {
    return await set();
  } catch (e) {
    if (!(status(e) === 409 && innerCode(e) === "ObjectIsDeletedButRecoverable")) throw e;
  }
  o.ctx.write(`recover soft-deleted Key Vault secret ${name}`);
  try {
    const poller = await o.kv.beginRecoverDeletedSecret(name, { intervalInMs: o.ctx.pollIntervalMs });
    await poller.pollUntilDone();
  } catch (e) {
    // not recoverable by us (no recover permission, or it went meanwhile): another name, this one stays as it is
    if (status(e) === 403 || isNotFound(e)) return undefined;
    throw e;
  }
  const back = await o.kv.getSecret(name);
  if (typeof back.value === "string") o.ctx.secret(back.value);
  // recovered, but another owner's: left recovered (the remediator never deletes), and not used
  if (!ownedBy(back.properties.tags, o.serviceId, o.namedValue)) return undefined;
  if (back.value === o.value && back.properties.version) return { name, version: back.properties.version };
  return set();
}

/** API Management refused to point the named value at the secret because it could not read it (400, the write changed nothing). */
function isRefusedReference(e: unknown): boolean {
  return status(e) === 400 && !/identityClientId|Managed Identity with provided/i.test((e as Error)?.message ?? "");
}

/**
 * PATCHes the named value to the Key Vault reference once API Management can read the secret. API Management
 * fetches the secret when the reference is written and refuses the write when it cannot (azure-rest-api-specs
 * #21655; terraform-provider-azurerm#19255: the first write right after the grant fails, the next succeeds), and
 * a new grant is not in effect at once. So a refusal is retried with backoff (REFERENCE_ATTEMPTS, each a write);
 * if API Management still refuses, the named value was not changed (it stays inline, its value intact) and:
 * while the grant is younger than PROPAGATION_WINDOW_MS, InProgressError (the next evaluation continues);
 * otherwise an error naming what to check. Returns the named value as it is after the write.
 */
async function pointAtVault(plan: Plan, ctx: ApplyContext, t: { etag: string; secretName: string; secretIdentifier: string; clientId?: string }, recheck: () => Promise<Access | undefined>): Promise<NamedValueContract> {
  const ref = serviceOf(plan.targetId);
  const apim = ctx.clients.apim(ref.subscriptionId);
  const name = childName(plan.targetId, "namedValues");
  let refusal = "";
  for (let attempt = 1; attempt <= REFERENCE_ATTEMPTS; attempt++) {
    if (attempt > 1) await ctx.sleep(Math.min(ctx.pollIntervalMs * 2 ** (attempt - 2), MAX_BACKOFF_MS));
    ctx.write(`PATCH ${plan.targetId} keyVault${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
    try {
      await apim.namedValue.beginUpdateAndWait(
        ref.resourceGroup,
        ref.name,
        name,
        t.etag,
        { secret: true, keyVault: { secretIdentifier: t.secretIdentifier, ...(t.clientId ? { identityClientId: t.clientId } : {}) } },
        { updateIntervalInMs: ctx.pollIntervalMs },
      );
      return await apim.namedValue.get(ref.resourceGroup, ref.name, name);
    } catch (e) {
      if (!isRefusedReference(e)) throw e;
      refusal = (e as Error).message;
    }
  }
  // refused every time: make sure nothing changed (a reference the service cannot read must never stay behind)
  const after = await apim.namedValue.get(ref.resourceGroup, ref.name, name);
  if (after.keyVault?.secretIdentifier) return after;
  throw notReadableYet({ what: `Key Vault secret '${t.secretName}'`, inline: true, detail: refusal }, await recheck());
}

/**
 * In progress while the grant (read again just now) is young or of unknown age, else a lasting failure with what to
 * check. The conclusion comes first and API Management's own words last (an outcome's reason is cut at 500 characters).
 */
function notReadableYet(o: { what: string; inline: boolean; detail: string }, access: Access | undefined): Error {
  const since = access?.since;
  const age = since ? Date.now() - since.getTime() : undefined;
  const state = o.inline ? "the named value stays inline, its value intact" : "the named value keeps its reference";
  const detail = o.detail ? ` (${o.detail.length > 200 ? `${o.detail.slice(0, 200)}…` : o.detail})` : "";
  if (access && (age === undefined || age < PROPAGATION_WINDOW_MS)) {
    const when = since ? `granted ${since.toISOString()}` : "access found";
    return new InProgressError(`in progress: waiting for the role assignment to take effect (${when}): API Management cannot read ${o.what} yet; ${state}; the next evaluation continues${detail}`, age === undefined ? undefined : Math.max(0, PROPAGATION_WINDOW_MS - age));
  }
  if (!access) return new Error(`API Management cannot read ${o.what}: the service identity has no role assignment on the secret; ${state}${detail}`);
  return new Error(`API Management cannot read ${o.what} although the role assignment exists since ${since?.toISOString() ?? "long ago"}: not propagation; check deny assignments, the vault's network rules and the identity; ${state}${detail}`);
}

/** Waits for APIM to resolve the reference, asking it to refresh when the last attempt failed. */
async function waitResolved(plan: Plan, ctx: ApplyContext, first: NamedValueContract, recheck: () => Promise<Access | undefined>): Promise<void> {
  const ref = serviceOf(plan.targetId);
  const apim = ctx.clients.apim(ref.subscriptionId);
  const name = childName(plan.targetId, "namedValues");
  let nv = first;
  for (let i = 0; i < ctx.pollAttempts; i++) {
    const code = nv.keyVault?.lastStatus?.code;
    if (code && /^success$/i.test(code)) return;
    ctx.write(`refresh ${plan.targetId}`);
    await apim.namedValue.beginRefreshSecretAndWait(ref.resourceGroup, ref.name, name, { updateIntervalInMs: ctx.pollIntervalMs });
    nv = await apim.namedValue.get(ref.resourceGroup, ref.name, name);
    if (/^success$/i.test(nv.keyVault?.lastStatus?.code ?? "")) return;
    await ctx.sleep(ctx.pollIntervalMs);
  }
  throw notReadableYet({ what: `the Key Vault reference of '${name}'`, inline: false, detail: `last status ${nv.keyVault?.lastStatus?.code ?? "none"}` }, await recheck());
}
