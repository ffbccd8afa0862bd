/**
 * Estates for the reliability suites: the demo estate with its secret values
 * replaced by unique seeded ones, and a larger generated estate (several
 * subscriptions and resource groups, in and out of scope, every kind of
 * drift, a compliant service, Key Vault references, locks, exemptions).
 *
 * Every secret named value is listed with its original value, so the
 * invariant checker can tell that none was lost and the hygiene checks can
 * look for each value in everything the product produced.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ownerTags } from "../../src/remediations/fixes/key-vault.js";
import type { Rng } from "./rng.js";

export const DEMO_SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
export const GEN_SUB = "3a7c1e55-0b2d-4c6e-8f10-2a4b6c8d0e1f";
export const OUT_SUB = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";
export const REMEDIATOR = "0e5a0000-0000-4000-8000-00000000beef";
export const PORTAL_USER = "0e5a0000-0000-4000-8000-0000000051e5";
/** The invariant checker reads as its own principal, so its requests never count as the remediator's. */
export const AUDITOR = "0e5a0000-0000-4000-8000-0000000a0d17";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";
const SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";

type Res = Record<string, unknown>;

export interface SecretNamedValue {
  /** The named value's ARM id. */
  id: string;
  /** The value it must resolve to, inline or through its Key Vault reference. */
  value: string;
  /** A Key Vault reference the service's identity could not read at the start (the value is in the vault). */
  unresolvedAtStart?: boolean;
  /**
   * A reference the remediator must never act on: into a vault it is not configured for, or to a
   * secret of its vault that this named value does not own. It stays unresolved and is ticketed.
   */
  foreign?: boolean;
}

export interface EstateSpec {
  kind: "demo" | "generated";
  resources: Res[];
  /** The settings that define scope and the vault (REMEDIATOR_SUBSCRIPTIONS, _RESOURCE_GROUPS, KEY_VAULT_*). */
  scope: { subscriptions: string[]; resourceGroups: string[] };
  vaultName: string;
  vaultResourceId: string;
  secrets: SecretNamedValue[];
  /** Every secret value seeded into the estate (named values and vault secrets). */
  seeded: string[];
  /** Services in the estate, in scope or not. */
  services: string[];
  /** Vaults besides the configured one (the remediator may read them, but must never contact them). */
  otherVaults: string[];
}

const DEMO_PATH = join(process.cwd(), "emulator/estates/demo.json");
let demoCache: Res[] | undefined;

export function demoResources(): Res[] {
  demoCache ??= JSON.parse(readFileSync(DEMO_PATH, "utf8")) as Res[];
  return structuredClone(demoCache);
}

/** A secret value nobody could mistake for anything else (and that no product text could contain by accident). */
export function secretValue(rng: Rng, label: string): string {
  return `s3cr3t-${label}-${rng.hex(12)}-${rng.pick(["Qx", "Zk", "Wv", "Jp"])}${rng.int(100, 999)}`;
}

const props = (r: Res) => ((r["properties"] ??= {}) as Res);
const isType = (r: Res, t: string) => String(r["type"]).toLowerCase() === t.toLowerCase();

/**
 * The demo estate with every secret value replaced by a unique seeded one; with
 * `breakReference`, the production service's identity cannot read its Key Vault
 * reference (its role assignment on the vault is gone).
 */
export function demoEstate(rng: Rng, options: { breakReference?: boolean } = {}): EstateSpec {
  let resources = demoResources();
  const prodPrincipal = "6a1f7c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
  if (options.breakReference) resources = resources.filter((r) => !(isType(r, "Microsoft.Authorization/roleAssignments") && props(r)["principalId"] === prodPrincipal));
  const seeded: string[] = [];
  const vaultSecrets = new Map<string, string>();
  for (const r of resources) {
    if (isType(r, "Microsoft.KeyVault/vaults/secrets")) {
      const v = secretValue(rng, "kv");
      props(r)["value"] = v;
      seeded.push(v);
      vaultSecrets.set(String(r["id"]).split("/").pop()!.toLowerCase(), v);
    }
  }
  const secrets: SecretNamedValue[] = [];
  for (const r of resources) {
    if (!isType(r, "Microsoft.ApiManagement/service/namedValues") || props(r)["secret"] !== true) continue;
    const kv = props(r)["keyVault"] as { secretIdentifier?: string } | undefined;
    if (kv?.secretIdentifier) {
      const name = /\/secrets\/([^/]+)/.exec(kv.secretIdentifier)?.[1]?.toLowerCase() ?? "";
      secrets.push({ id: String(r["id"]), value: vaultSecrets.get(name) ?? "", ...(options.breakReference ? { unresolvedAtStart: true } : {}) });
    } else {
      const v = secretValue(rng, "nv");
      props(r)["value"] = v;
      seeded.push(v);
      secrets.push({ id: String(r["id"]), value: v });
    }
  }
  const vaultResourceId = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`;
  return {
    kind: "demo",
    resources,
    scope: { subscriptions: [DEMO_SUB], resourceGroups: [] },
    vaultName: "kv-contoso-apim",
    vaultResourceId,
    secrets,
    seeded,
    services: resources.filter((r) => isType(r, "Microsoft.ApiManagement/service")).map((r) => String(r["id"])),
    otherVaults: [],
  };
}

const svcId = (sub: string, rg: string, name: string) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ApiManagement/service/${name}`;
const guid = (rng: Rng) => `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-8${rng.hex(3)}-${rng.hex(12)}`;

export interface GeneratedOptions {
  /** Services in scope (besides the always-compliant one). */
  services?: number;
}

/**
 * A generated estate: `GEN_SUB` with resource groups rg-a1 and rg-a2 in scope
 * and rg-a-out out of scope, plus `OUT_SUB` out of scope. One service in scope
 * is fully compliant; the others draw their drift from the seed.
 */
export function generatedEstate(rng: Rng, options: GeneratedOptions = {}): EstateSpec {
  const resources: Res[] = [];
  const seeded: string[] = [];
  const secrets: SecretNamedValue[] = [];
  const services: string[] = [];
  const vaultName = "kv-rel";
  const vaultResourceId = `/subscriptions/${GEN_SUB}/resourceGroups/rg-a1/providers/Microsoft.KeyVault/vaults/${vaultName}`;
  resources.push(
    { id: `/subscriptions/${GEN_SUB}`, type: "Microsoft.Resources/subscriptions", displayName: "Reliability (in scope)" },
    { id: `/subscriptions/${OUT_SUB}`, type: "Microsoft.Resources/subscriptions", displayName: "Reliability (out of scope)" },
    ...["rg-a1", "rg-a2", "rg-a-out"].map((rg) => ({ id: `/subscriptions/${GEN_SUB}/resourceGroups/${rg}`, type: "Microsoft.Resources/resourceGroups", location: "westeurope" })),
    { id: `/subscriptions/${OUT_SUB}/resourceGroups/rg-b1`, type: "Microsoft.Resources/resourceGroups", location: "westeurope" },
    { id: vaultResourceId, type: "Microsoft.KeyVault/vaults", name: vaultName, location: "westeurope", properties: { tenantId: TENANT, sku: { family: "A", name: "standard" }, enableRbacAuthorization: true } },
    roleAssignment(rng, vaultResourceId, SECRETS_OFFICER, REMEDIATOR),
  );
  // issue 15: another team's vault the remediator can read (it must never contact it), a secret of the
  // configured vault nobody migrated (a ticket token: never granted to a service), and services whose
  // secret names collide under a naming scheme without the hash. A fork, so the draws above stay as they were.
  const guards = rng.fork("issue-15-guards");
  const otherVault = "kv-rel-other";
  const otherVaultId = `/subscriptions/${GEN_SUB}/resourceGroups/rg-a2/providers/Microsoft.KeyVault/vaults/${otherVault}`;
  const otherValue = secretValue(guards, "other-team");
  const tokenValue = secretValue(guards, "ticket-token");
  seeded.push(otherValue, tokenValue);
  resources.push(
    { id: otherVaultId, type: "Microsoft.KeyVault/vaults", name: otherVault, location: "westeurope", properties: { tenantId: TENANT, sku: { family: "A", name: "standard" }, enableRbacAuthorization: true } },
    roleAssignment(guards, otherVaultId, SECRETS_OFFICER, REMEDIATOR),
    { id: `${otherVaultId}/secrets/team-secret`, type: "Microsoft.KeyVault/vaults/secrets", name: `${otherVault}/team-secret`, properties: { value: otherValue } },
    { id: `${vaultResourceId}/secrets/ticket-token`, type: "Microsoft.KeyVault/vaults/secrets", name: `${vaultName}/ticket-token`, properties: { value: tokenValue } },
  );
  const foreignReference = (serviceId: string, nv: string, identifier: string, value: string) => {
    secrets.push({ id: `${serviceId}/namedValues/${nv}`, value, unresolvedAtStart: true, foreign: true });
    resources.push({ id: `${serviceId}/namedValues/${nv}`, type: "Microsoft.ApiManagement/service/namedValues", name: nv, properties: { displayName: nv, secret: true, keyVault: { secretIdentifier: identifier } } });
  };

  const addService = (sub: string, rg: string, name: string, drift: boolean) => {
    const id = svcId(sub, rg, name);
    services.push(id);
    const sku = drift && rng.chance(0.12) ? "Consumption" : rng.pick(["Developer", "Premium", "Basic"]);
    const identityKind = !drift ? "system" : rng.pick(["none", "none", "system", "user"]);
    const principal = guid(rng);
    const identity =
      identityKind === "system"
        ? { type: "SystemAssigned", principalId: principal, tenantId: TENANT }
        : identityKind === "user"
          ? { type: "UserAssigned", userAssignedIdentities: { [`/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}-uai`]: { principalId: principal, clientId: guid(rng) } } }
          : undefined;
    const tags: Record<string, string> = { env: drift ? "test" : "prod" };
    if (drift && rng.chance(0.15)) tags["apim-remediator:exempt"] = rng.pick(["resource-lock", "api-https-only@2099-12-31", "min-api-version@2020-01-01", "*"]);
    const minApi = !drift || rng.chance(0.4) ? "2021-08-01" : rng.pick([undefined, "2017-03-01"]);
    resources.push({
      id,
      type: "Microsoft.ApiManagement/service",
      name,
      location: "westeurope",
      tags,
      sku: { name: sku, capacity: sku === "Consumption" ? 0 : 1 },
      ...(identity ? { identity } : {}),
      properties: {
        publisherEmail: "apis@contoso.example",
        publisherName: "Contoso",
        createdAtUtc: "2022-05-01T00:00:00Z",
        customProperties: {
          "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10": "False",
          "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11": "False",
          "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Ssl30": "False",
          "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10": "False",
          "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11": "False",
          "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30": "False",
          "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TripleDes168": "False",
        },
        virtualNetworkType: "None",
        publicNetworkAccess: "Enabled",
        platformVersion: "stv2",
        ...(minApi ? { apiVersionConstraint: { minApiVersion: minApi } } : {}),
      },
    });
    // APIs (some with a second revision)
    const apiCount = rng.int(1, 3);
    for (let i = 0; i < apiCount; i++) {
      const api = `api${i}`;
      const protocols = !drift ? ["https"] : rng.pick([["https"], ["https"], ["http", "https"], ["http"], ["ws"], ["wss"]]);
      resources.push({ id: `${id}/apis/${api}`, type: "Microsoft.ApiManagement/service/apis", name: api, properties: { displayName: api, path: `${name}-${api}`, protocols, serviceUrl: `https://${api}.backend.example`, isCurrent: true, apiRevision: "1", subscriptionRequired: true } });
      if (rng.chance(0.25)) {
        const rev = !drift ? ["https"] : rng.pick([["https"], ["http"]]);
        resources.push({ id: `${id}/apis/${api};rev=2`, type: "Microsoft.ApiManagement/service/apis", name: `${api};rev=2`, properties: { displayName: api, path: `${name}-${api}`, protocols: rev, serviceUrl: `https://${api}.backend.example`, isCurrent: false, apiRevision: "2", subscriptionRequired: true } });
      }
    }
    // named values: inline secrets, Key Vault references, plain values
    const nvCount = rng.int(0, 3);
    for (let i = 0; i < nvCount; i++) {
      const nv = `nv-${i}`;
      const kind = !drift ? rng.pick(["kv", "plain"]) : rng.pick(["inline", "inline", "kv", "plain"]);
      if (kind === "plain") {
        resources.push({ id: `${id}/namedValues/${nv}`, type: "Microsoft.ApiManagement/service/namedValues", name: nv, properties: { displayName: nv, secret: false, value: `plain-${i}` } });
      } else if (kind === "inline") {
        const v = secretValue(rng, `${name}-${nv}`);
        seeded.push(v);
        secrets.push({ id: `${id}/namedValues/${nv}`, value: v });
        resources.push({ id: `${id}/namedValues/${nv}`, type: "Microsoft.ApiManagement/service/namedValues", name: nv, properties: { displayName: `${nv}-display`, secret: true, value: v, tags: ["rel"] } });
      } else if (identity) {
        // a Key Vault reference: the secret exists, and the identity may read it — or, drifted, may not
        // (a reference APIM cannot resolve: the remediation repairs it with a grant and a refresh)
        const secretName = `pre-${name}-${nv}`;
        const v = secretValue(rng, `${name}-${nv}-kv`);
        const broken = drift && rng.chance(0.35);
        seeded.push(v);
        secrets.push({ id: `${id}/namedValues/${nv}`, value: v, ...(broken ? { unresolvedAtStart: true } : {}) });
        // migrated earlier by the remediator: the tags name its owner (a broken one is repaired only so)
        resources.push({ id: `${vaultResourceId}/secrets/${secretName}`, type: "Microsoft.KeyVault/vaults/secrets", name: `${vaultName}/${secretName}`, tags: ownerTags(id, nv), properties: { value: v } });
        if (!broken) resources.push(roleAssignment(rng, `${vaultResourceId}/secrets/${secretName}`, SECRETS_USER, principal));
        const clientId = identityKind === "user" ? Object.values((identity as { userAssignedIdentities: Record<string, { clientId: string }> }).userAssignedIdentities)[0]?.clientId : undefined;
        resources.push({ id: `${id}/namedValues/${nv}`, type: "Microsoft.ApiManagement/service/namedValues", name: nv, properties: { displayName: nv, secret: true, keyVault: { secretIdentifier: `https://${vaultName}.vault.azure.net/secrets/${secretName}`, ...(clientId ? { identityClientId: clientId } : {}) } } });
      }
    }
    // someone with named value write points one at a secret that is not this service's to read
    if (drift && identity && guards.chance(0.35)) foreignReference(id, "nv-foreign", `https://${otherVault}.vault.azure.net/secrets/team-secret`, otherValue);
    if (drift && identity && guards.chance(0.35)) foreignReference(id, "nv-token", `https://${vaultName}.vault.azure.net/secrets/ticket-token`, tokenValue);
    // tenant access (direct management / git)
    resources.push({ id: `${id}/tenant/access`, type: "Microsoft.ApiManagement/service/tenant", name: "access", properties: { enabled: drift && rng.chance(0.4) } });
    resources.push({ id: `${id}/tenant/gitAccess`, type: "Microsoft.ApiManagement/service/tenant", name: "gitAccess", properties: { principalId: "git", enabled: drift && rng.chance(0.3) } });
    // locks: none, CanNotDelete, or a ReadOnly lock (every write is ScopeLocked: drift is ticketed instead)
    const lock = !drift ? "CanNotDelete" : rng.pick(["none", "none", "CanNotDelete", "CanNotDelete", "ReadOnly"]);
    if (lock !== "none") resources.push({ id: `${id}/providers/Microsoft.Authorization/locks/keep`, type: "Microsoft.Authorization/locks", name: "keep", properties: { level: lock, notes: "reliability" } });
    // a global policy (keeps ticket rules quiet where the service is meant to be compliant)
    if (!drift) {
      resources.push({
        id: `${id}/policies/policy`,
        type: "Microsoft.ApiManagement/service/policies",
        name: "policy",
        properties: { format: "xml", value: '<policies><inbound><rate-limit calls="100" renewal-period="60" /><validate-jwt header-name="Authorization"><openid-config url="https://login.microsoftonline.com/contoso.example/v2.0/.well-known/openid-configuration" /></validate-jwt><validate-headers specified-header-action="prevent" unspecified-header-action="ignore" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>' },
      });
    }
  };

  addService(GEN_SUB, "rg-a1", "apim-rel-ok", false);
  const n = options.services ?? rng.int(3, 5);
  for (let i = 0; i < n; i++) addService(GEN_SUB, rng.pick(["rg-a1", "rg-a2"]), `apim-rel-${i}`, true);
  if (guards.chance(0.5)) {
    // 'apim-rel-twin' + 'db-key' and 'apim-rel-twin-db' + 'key': one secret name without the hash, two owners
    for (const [svc, nv] of [["apim-rel-twin", "db-key"], ["apim-rel-twin-db", "key"]] as const) {
      addService(GEN_SUB, "rg-a1", svc, true);
      const v = secretValue(guards, `${svc}-${nv}`);
      seeded.push(v);
      const nvId = `${svcId(GEN_SUB, "rg-a1", svc)}/namedValues/${nv}`;
      secrets.push({ id: nvId, value: v });
      resources.push({ id: nvId, type: "Microsoft.ApiManagement/service/namedValues", name: nv, properties: { displayName: nv, secret: true, value: v } });
    }
  }
  // out of scope: another resource group of the same subscription, and another subscription
  addService(GEN_SUB, "rg-a-out", "apim-out-rg", true);
  addService(OUT_SUB, "rg-b1", "apim-out-sub", true);
  return { kind: "generated", resources, scope: { subscriptions: [GEN_SUB], resourceGroups: ["rg-a1", "rg-a2"] }, vaultName, vaultResourceId, secrets, seeded, services, otherVaults: [otherVault] };
}

function roleAssignment(rng: Rng, scope: string, role: string, principalId: string): Res {
  const name = guid(rng);
  const sub = /^\/subscriptions\/([^/]+)/.exec(scope)?.[1] ?? GEN_SUB;
  return { id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`, type: "Microsoft.Authorization/roleAssignments", name, properties: { roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${role}`, principalId, principalType: "ServicePrincipal", scope } };
}

/** Is this ARM id inside the configured scope (subscription and, when set, resource group)? */
export function inScope(id: string, scope: EstateSpec["scope"]): boolean {
  const m = /^\/subscriptions\/([^/]+)(?:\/resourcegroups\/([^/]+))?/i.exec(id);
  if (!m) return false;
  if (scope.subscriptions.length > 0 && !scope.subscriptions.some((s) => s.toLowerCase() === m[1]!.toLowerCase())) return false;
  if (scope.resourceGroups.length > 0 && (!m[2] || !scope.resourceGroups.some((g) => g.toLowerCase() === m[2]!.toLowerCase()))) return false;
  return true;
}

/** A request that reads: GET/HEAD, or a Resource Graph query (a POST whose permission is Microsoft.ResourceGraph/resources/read). */
export function isRead(l: { method: string; path: string }): boolean {
  if (l.method === "GET" || l.method === "HEAD") return true;
  return l.method === "POST" && /^\/providers\/microsoft\.resourcegraph\/resources\/?$/i.test(l.path.split("?")[0] as string);
}
