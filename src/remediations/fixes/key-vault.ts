/**
 * Migrates a secret named value into Key Vault without ever losing or
 * exposing the value:
 *
 *   1. read the named value (its ETag) first, then its value (`listValue`): a rotation between
 *      the two moves the ETag, so the If-Match of step 5 refuses to point at a stale copy
 *   2. write the value to Key Vault under a name unique to service and named value (reuse when
 *      it already holds it; never overwrite a secret whose tags name another owner)
 *   3. read it back and compare
 *   4. grant the service identity `Key Vault Secrets User` on that one secret (or check access exists)
 *   5. PATCH the named value to `keyVault.secretIdentifier` (If-Match)
 *   6. wait until APIM resolves the reference (`keyVault.lastStatus`), refreshing if needed
 *   7. confirm `listValue` returns the original value
 *
 * The value lives in APIM until step 5 and in Key Vault (verified) from step 3
 * on, so a crash between any two steps leaves it recoverable; a reference APIM
 * cannot resolve is itself a finding, and the next run repairs it (grant +
 * refresh).
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
import { pick, str } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";
import { BlockedError, type ApplyContext, type Plan, type Remediation } from "../types.js";
import { childName, isNotFound, serviceOf, status } from "./write.js";

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
 */
export function secretNameFor(serviceName: string, namedValue: string): string {
  const clean = (s: string) => s.replace(/[^0-9a-zA-Z-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");
  const hash = createHash("sha256").update(`${serviceName.toLowerCase()}\u0000${namedValue.toLowerCase()}`).digest("hex").slice(0, 12);
  const base = `apim-${clean(serviceName.toLowerCase())}-${clean(namedValue.toLowerCase())}`.slice(0, 127 - hash.length - 1).replace(/-+$/, "");
  return `${base}-${hash}`;
}

/** Tags that name the owner of a migrated secret: the service's ARM id and the named value. */
export function ownerTags(serviceId: string, namedValue: string): Record<string, string> {
  return { [TAG_SERVICE]: serviceId, [TAG_NAMED_VALUE]: namedValue };
}

/** Whether a Key Vault secret's tags name this service's named value as its owner. */
export function ownedBy(tags: Record<string, string> | undefined, serviceId: string, namedValue: string): boolean {
  return (tags?.[TAG_SERVICE] ?? "").toLowerCase() === serviceId.toLowerCase() && (tags?.[TAG_NAMED_VALUE] ?? "").toLowerCase() === namedValue.toLowerCase();
}

/** The origin of a URL, lower case; undefined when it is not an https URL. */
function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === "https:" ? u.origin.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

const LOOPBACK = /^https:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/;

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
  return LOOPBACK.test(configured) && name !== undefined && o === `https://${name}.vault.azure.net`;
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
      const named = /^\/secrets\/([0-9a-zA-Z-]{1,127})(?:\/[0-9a-zA-Z]*)?\/?$/.exec(new URL(existingRef).pathname)?.[1];
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
          `write it to Key Vault as '${secretName}' (reused if it already holds the value; never over another owner's secret)`,
          "read it back and compare",
          payload.grant ? `grant ${identity.clientId ? "the user-assigned" : "the system-assigned"} identity 'Key Vault Secrets User' on that secret` : "check the identity can read the vault",
          "PATCH the named value to the Key Vault reference (If-Match)",
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
      // only a secret this named value owns gets a grant: a reference to another service's secret is not ours to open
      if (!secret) throw new BlockedError(`the Key Vault secret '${p.secretName}' does not exist: the reference cannot be repaired`);
      if (!ownedBy(secret.properties.tags, ref.id, name)) throw new BlockedError(`the Key Vault secret '${p.secretName}' is not this named value's (its tags name another owner or none): not granted; fix the reference or the access by hand`);
      await ensureAccess(p, ctx);
      await waitResolved(plan, ctx, current);
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
      checkAccess(p, ctx),
    ]);
    // values are registered before anything else, so nothing can print them
    if (valueRead.status === "fulfilled" && typeof valueRead.value.value === "string") ctx.secret(valueRead.value.value);
    if (existingRead.status === "fulfilled" && typeof existingRead.value?.value === "string") ctx.secret(existingRead.value.value);
    if (currentRead.status === "rejected") throw currentRead.reason;
    const current = currentRead.value;
    if (current.keyVault?.secretIdentifier) {
      // migrated meanwhile (another worker, or a person): make sure it resolves
      await ensureAccess(p, ctx);
      await waitResolved(plan, ctx, current);
      return;
    }
    if (valueRead.status === "rejected") throw valueRead.reason;
    const value = valueRead.value.value;
    if (typeof value !== "string") throw new BlockedError(`named value '${name}' returned no value`);
    // the access check fails before any change when we may not grant
    if (accessRead.status === "rejected") throw accessRead.reason;
    if (existingRead.status === "rejected") throw existingRead.reason;

    // 2. write (or reuse) the Key Vault secret; a secret of that name that holds something else and is not
    //    ours (tags) is never overwritten: that would destroy another owner's value
    const existing = existingRead.value;
    let version: string | undefined = existing?.value === value ? existing.properties.version : undefined;
    if (!version && existing && !ownedBy(existing.properties.tags, ref.id, name)) {
      throw new BlockedError(`the Key Vault secret '${p.secretName}' exists with another value and its tags do not name this named value as owner: not overwritten; the named value was not changed`);
    }
    if (!version) {
      ctx.write(`set Key Vault secret ${p.secretName}`);
      const set = await kv.setSecret(p.secretName, value, { contentType: "text/plain", tags: ownerTags(ref.id, name) });
      version = set.properties.version;
    }
    // 3. read back and compare: until this holds, APIM keeps the only copy and the named value is not touched;
    // 4. alongside it, access for the service identity when step 1 found none (reading a secret that holds
    //    what API Management already holds; nothing in API Management changes)
    const [backRead, granted] = await Promise.allSettled([kv.getSecret(p.secretName, { version }), p.grant && !accessRead.value ? grantAccess(p, ctx) : Promise.resolve()]);
    if (backRead.status === "fulfilled" && typeof backRead.value.value === "string") ctx.secret(backRead.value.value);
    if (backRead.status === "rejected") throw backRead.reason;
    if (backRead.value.value !== value) throw new Error(`Key Vault read-back of '${p.secretName}' does not match; the named value was not changed`);
    if (granted.status === "rejected") throw granted.reason;

    // 5. point the named value at Key Vault (If-Match on the ETag read in step 1)
    ctx.write(`PATCH ${plan.targetId} keyVault`);
    await apim.namedValue.beginUpdateAndWait(
      ref.resourceGroup,
      ref.name,
      name,
      current.eTag as string,
      { secret: true, keyVault: { secretIdentifier: p.secretIdentifier, ...(p.clientId ? { identityClientId: p.clientId } : {}) } },
      { updateIntervalInMs: ctx.pollIntervalMs },
    );
    // 6 + 7. resolved, and to the same value
    const after = await apim.namedValue.get(ref.resourceGroup, ref.name, name);
    await waitResolved(plan, ctx, after);
    const resolved = await apim.namedValue.listValue(ref.resourceGroup, ref.name, name);
    if (resolved.value !== value) throw new Error(`the Key Vault reference of '${name}' resolves to a different value`);
  },
  // No rollback: restoring the inline value would mean copying a secret out of Key Vault into API
  // Management with the remediator's own identity. A reference that does not resolve stays a finding,
  // the value is verified in Key Vault, and the next evaluation repairs the access (or a ticket asks for it).
};

/** Grants `Key Vault Secrets User` on the one secret (idempotent), or, when granting is off, checks some read role exists. */
async function ensureAccess(p: Payload, ctx: ApplyContext): Promise<void> {
  if (!(await checkAccess(p, ctx))) await grantAccess(p, ctx);
}

/**
 * Reads only. With grants on: true when the service identity already holds
 * `Key Vault Secrets User` on the secret (false: `grantAccess` must add it).
 * With grants off: true when some read role covers the secret; throws
 * BlockedError when none does.
 */
async function checkAccess(p: Payload, ctx: ApplyContext): Promise<boolean> {
  if (!p.vaultResourceId) {
    if (p.grant) throw new BlockedError("KEY_VAULT_RESOURCE_ID is not set: cannot grant the service identity access");
    return true; // cannot check without the vault's ARM id; the reference status will tell
  }
  const { auth, secretScope, assignment } = accessTarget(p.vaultResourceId, p, ctx);
  if (!p.grant) {
    // list at the vault (the secret scope does not exist before the secret is written); count only roles at or above the secret
    const covers = (scope: string | undefined) => {
      if (scope === undefined) return false;
      const s = scope.toLowerCase().replace(/\/+$/, "");
      return s === "" || secretScope.toLowerCase() === s || secretScope.toLowerCase().startsWith(`${s}/`);
    };
    for await (const ra of auth.roleAssignments.listForScope(p.vaultResourceId, { filter: `principalId eq '${p.principalId}'` })) {
      if (covers(ra.scope) && READER_ROLES.includes((ra.roleDefinitionId ?? "").split("/").pop()?.toLowerCase() ?? "")) return true;
    }
    throw new BlockedError(`grant access: the service identity ${p.principalId} cannot read Key Vault secrets (automatic grants are off)`);
  }
  try {
    await auth.roleAssignments.get(secretScope, assignment);
    return true;
  } catch (e) {
    if (!isNotFound(e)) throw e;
    return false;
  }
}

/** Where the identity's access to the one secret is checked and granted: the client, the secret's scope and the assignment's deterministic name. */
function accessTarget(vaultResourceId: string, p: Payload, ctx: ApplyContext) {
  const secretScope = `${vaultResourceId}/secrets/${p.secretName}`;
  return { auth: ctx.clients.authorization(vaultSubscription(vaultResourceId)), secretScope, assignment: assignmentName(secretScope, p.principalId, SECRETS_USER_ROLE) };
}

/** Creates the `Key Vault Secrets User` assignment on the one secret (a deterministic name: idempotent). */
async function grantAccess(p: Payload, ctx: ApplyContext): Promise<void> {
  if (!p.vaultResourceId) throw new BlockedError("KEY_VAULT_RESOURCE_ID is not set: cannot grant the service identity access");
  const { auth, secretScope, assignment } = accessTarget(p.vaultResourceId, p, ctx);
  ctx.write(`grant Key Vault Secrets User on ${p.secretName} to ${p.principalId}`);
  try {
    await auth.roleAssignments.create(secretScope, assignment, {
      roleDefinitionId: `/subscriptions/${vaultSubscription(p.vaultResourceId)}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_USER_ROLE}`,
      principalId: p.principalId,
      principalType: "ServicePrincipal",
    });
  } catch (e) {
    if (status(e) === 409) return; // RoleAssignmentExists under another name: access is there
    throw e;
  }
}

/** Waits for APIM to resolve the reference, asking it to refresh when the last attempt failed. */
async function waitResolved(plan: Plan, ctx: ApplyContext, first: NamedValueContract): Promise<void> {
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
  throw new Error(`API Management cannot resolve the Key Vault reference of '${name}' (${nv.keyVault?.lastStatus?.code ?? "no status"})`);
}
