/**
 * The emulated Key Vault data plane and APIM Key Vault references, driven
 * through the real SDK clients (SecretClient, ApiManagementClient,
 * AuthorizationManagementClient) over HTTPS.
 *
 * Secret values never appear in assertions' output: they are compared by
 * fingerprint (see `fp`).
 */
import { createHash, randomUUID } from "node:crypto";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { child, REMEDIATOR, RG, service, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";
const SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
const roleDef = (guid: string) => `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

const RG_KV = "rg-secrets";
const vaultId = (name: string, rg = RG) => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`;

// principals
const NOBODY = "0e5a0000-0000-4000-8000-0000000000a0";
const READER = "0e5a0000-0000-4000-8000-0000000000a1";
const WRITER = "0e5a0000-0000-4000-8000-0000000000a2";
const GROUP_READER = "0e5a0000-0000-4000-8000-0000000000a3";
const ONE_SECRET = "0e5a0000-0000-4000-8000-0000000000a4";
const POLICY_GET = "0e5a0000-0000-4000-8000-0000000000a5";
const LATE = "0e5a0000-0000-4000-8000-0000000000a6";
const UAI_PRINCIPAL = "0e5a0000-0000-4000-8000-0000000000b1";
const UAI_CLIENT = "0e5a0000-0000-4000-8000-0000000000b2";
const UAI_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/apim-uai`;

// test-only secret values; compared by fingerprint only
const VALUES = { alpha: `alpha-${randomUUID()}`, beta: `beta-${randomUUID()}`, gamma: `gamma-${randomUUID()}`, delta: `delta-${randomUUID()}`, backend: `backend-${randomUUID()}` };
const fp = (v: string | undefined) => (v === undefined ? "<undefined>" : createHash("sha256").update(v).digest("hex").slice(0, 16));

function vault(name: string, properties: Record<string, unknown> = {}, rg = RG): Record<string, unknown> {
  return { id: vaultId(name, rg), type: "Microsoft.KeyVault/vaults", name, location: "westeurope", properties: { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", sku: { family: "A", name: "standard" }, ...properties } };
}
function secret(vaultName: string, name: string, value: string, rg = RG): Record<string, unknown> {
  return { id: `${vaultId(vaultName, rg)}/secrets/${name}`, type: "Microsoft.KeyVault/vaults/secrets", name: `${vaultName}/${name}`, properties: { value } };
}
function roleAssignment(scope: string, role: string, principalId: string): Record<string, unknown> {
  const name = randomUUID();
  return { id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`, type: "Microsoft.Authorization/roleAssignments", name, properties: { roleDefinitionId: roleDef(role), principalId, scope } };
}

/** Status code of a rejected SDK call (fails the test when the call succeeds). */
async function statusOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    return (e as { statusCode?: number }).statusCode;
  }
  throw new Error("expected the call to fail");
}

describe("emulated Key Vault (SecretClient over HTTPS)", () => {
  let env: TestEnv;
  let kv: string; // origin of vault "kv-main"
  let kvGroup: string; // origin of vault "kv-group" (in another resource group)
  let kvPolicy: string; // origin of the access-policy vault

  beforeAll(async () => {
    env = await startTestEmulator([
      vault("kv-main"),
      secret("kv-main", "alpha", VALUES.alpha),
      secret("kv-main", "beta", VALUES.beta),
      vault("kv-group", {}, RG_KV),
      secret("kv-group", "gamma", VALUES.gamma, RG_KV),
      vault("kv-policy", { enableRbacAuthorization: false, accessPolicies: [{ tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", objectId: POLICY_GET, permissions: { secrets: ["get"] } }] }),
      secret("kv-policy", "delta", VALUES.delta),
      roleAssignment(vaultId("kv-main"), SECRETS_OFFICER, REMEDIATOR),
      roleAssignment(vaultId("kv-main"), SECRETS_USER, READER),
      roleAssignment(vaultId("kv-main"), SECRETS_OFFICER, WRITER),
      roleAssignment(`/subscriptions/${SUB}/resourceGroups/${RG_KV}`, SECRETS_USER, GROUP_READER),
      roleAssignment(`${vaultId("kv-main")}/secrets/alpha`, SECRETS_USER, ONE_SECRET),
      // RBAC assignments are ignored by a vault in access-policy mode
      roleAssignment(vaultId("kv-policy"), SECRETS_OFFICER, READER),
    ]);
    kv = env.emu.keyVaults["kv-main"] as string;
    kvGroup = env.emu.keyVaults["kv-group"] as string;
    kvPolicy = env.emu.keyVaults["kv-policy"] as string;
  });
  afterAll(async () => env.emu.stop());

  describe("challenge authentication", () => {
    it("answers an unauthenticated request with 401 and the Key Vault challenge", async () => {
      const url = new URL("/secrets/alpha/?api-version=7.5", kv);
      const res = await new Promise<{ status: number; challenge: string | undefined; body: string }>((resolve, reject) => {
        const req = request(url, { method: "GET", ca: env.emu.ca }, (r) => {
          let body = "";
          r.on("data", (d: Buffer) => (body += d.toString()));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, challenge: r.headers["www-authenticate"], body }));
        });
        req.on("error", reject);
        req.end();
      });
      expect(res.status).toBe(401);
      expect(res.challenge).toBe(`Bearer authorization="https://login.microsoftonline.com/${env.emu.tenantId}", resource="https://vault.azure.net"`);
      expect(res.body).not.toContain(VALUES.alpha);
    });

    it("the SDK's first request goes without a token, gets 401, then succeeds with one", async () => {
      const before = env.emu.log.list().length;
      // a fresh factory, so the client has no cached challenge
      const client = env.clientsAs(READER).secrets(kv);
      const s = await client.getSecret("beta");
      expect(fp(s.value)).toBe(fp(VALUES.beta));
      const entries = env.emu.log.list().slice(before).filter((e) => e.host === "vault:kv-main");
      expect(entries.map((e) => [e.method, e.path.split("?")[0], e.status, e.principal])).toEqual([
        ["GET", "/secrets/beta/", 401, null],
        ["GET", "/secrets/beta/", 200, READER],
      ]);
      // later requests reuse the token: no second challenge
      await client.getSecret("alpha");
      expect(env.emu.log.list().slice(before).filter((e) => e.status === 401)).toHaveLength(1);
    });
  });

  describe("secrets and versions", () => {
    it("setSecret creates a new version each time; getSecret reads latest and by version", async () => {
      const client = env.clients.secrets(kv);
      const v1 = await client.setSecret("rotating", "value-one", { contentType: "text/plain", tags: { owner: "team-a" } });
      const v2 = await client.setSecret("rotating", "value-two");
      expect(v1.properties.version).toMatch(/^[0-9a-f]{32}$/);
      expect(v2.properties.version).not.toBe(v1.properties.version);
      const origin = kv.replace(/\./g, "\\.");
      expect(v1.properties.id).toMatch(new RegExp(`^${origin}/secrets/rotating/${v1.properties.version}$`));
      expect(kv).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(v1.properties.vaultUrl).toBe(kv);
      expect(v1.properties.contentType).toBe("text/plain");
      expect(v1.properties.tags).toEqual({ owner: "team-a" });
      expect(v1.properties.enabled).toBe(true);
      expect(v1.properties.recoveryLevel).toBe("Recoverable+Purgeable");

      const latest = await client.getSecret("rotating");
      expect(latest.properties.version).toBe(v2.properties.version);
      expect(fp(latest.value)).toBe(fp("value-two"));
      const old = await client.getSecret("rotating", { version: v1.properties.version as string });
      expect(old.properties.version).toBe(v1.properties.version);
      expect(fp(old.value)).toBe(fp("value-one"));
      expect(old.properties.id).toBe(v1.properties.id);

      expect(await statusOf(client.getSecret("rotating", { version: "0".repeat(32) }))).toBe(404);
      expect(await statusOf(client.getSecret("never-set"))).toBe(404);
    });

    it("lists versions in pages of 25 following nextLink", async () => {
      const client = env.clients.secrets(kv);
      const made: string[] = [];
      for (let i = 0; i < 30; i++) made.push((await client.setSecret("many", `v-${i}`)).properties.version as string);
      const before = env.emu.log.list().length;
      const pages: number[] = [];
      const seen: string[] = [];
      for await (const page of client.listPropertiesOfSecretVersions("many").byPage()) {
        pages.push(page.length);
        for (const p of page) {
          expect(p.id).toBe(`${kv}/secrets/many/${p.version}`);
          expect(p.name).toBe("many");
          seen.push(p.version as string);
        }
      }
      expect(pages).toEqual([25, 5]);
      expect(seen.sort()).toEqual([...made].sort());
      const listCalls = env.emu.log.list().slice(before).filter((e) => e.host === "vault:kv-main" && e.path.startsWith("/secrets/many/versions"));
      expect(listCalls.map((e) => e.status)).toEqual([200, 200]);
      expect(listCalls[1]?.path).toContain("$skiptoken=25");

      // the secret list shows each secret once (its latest version)
      const names: string[] = [];
      for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
      expect(names).toEqual(expect.arrayContaining(["alpha", "beta", "rotating", "many"]));
      expect(names.filter((n) => n === "many")).toHaveLength(1);
    });

    it("updateSecretProperties changes attributes without a new version", async () => {
      const client = env.clients.secrets(kv);
      const made = await client.setSecret("to-update", "first");
      const updated = await client.updateSecretProperties("to-update", made.properties.version as string, { contentType: "application/x-pem-file", tags: { rotated: "no" } });
      expect(updated.version).toBe(made.properties.version);
      expect(updated.contentType).toBe("application/x-pem-file");
      expect(updated.tags).toEqual({ rotated: "no" });
      const versions: string[] = [];
      for await (const p of client.listPropertiesOfSecretVersions("to-update")) versions.push(p.version as string);
      expect(versions).toEqual([made.properties.version]);

      const disabled = await client.updateSecretProperties("to-update", made.properties.version as string, { enabled: false });
      expect(disabled.enabled).toBe(false);
      const err = await client.getSecret("to-update").then(
        () => undefined,
        (e: { statusCode?: number; code?: string }) => e,
      );
      expect(err?.statusCode).toBe(403);
      expect(err?.code).toBe("Forbidden");
    });

    it("beginDeleteSecret deletes the secret and completes via the deleted-secret endpoint", async () => {
      const client = env.clients.secrets(kv);
      const made = await client.setSecret("to-delete", "doomed");
      const poller = await client.beginDeleteSecret("to-delete", { intervalInMs: 10 });
      // bounded: a poller that never sees the deleted secret would otherwise poll forever
      const deleted = await poller.pollUntilDone({ abortSignal: AbortSignal.timeout(10_000) });
      expect(deleted.name).toBe("to-delete");
      expect(deleted.recoveryId).toBe(`${kv}/deletedsecrets/to-delete`);
      expect(deleted.properties.version).toBe(made.properties.version);
      expect(deleted.deletedOn).toBeInstanceOf(Date);
      expect(deleted.scheduledPurgeDate).toBeInstanceOf(Date);
      expect(deleted.value).toBeUndefined();

      const fetched = await client.getDeletedSecret("to-delete");
      expect(fetched.recoveryId).toBe(deleted.recoveryId);
      expect(fetched.properties.id).toBe(made.properties.id);
      expect(await statusOf(client.getSecret("to-delete"))).toBe(404);
      expect(await statusOf(client.getDeletedSecret("never-existed"))).toBe(404);
      const deletedPolls = env.emu.log.list().filter((e) => e.host === "vault:kv-main" && e.path.startsWith("/deletedsecrets/to-delete"));
      expect(deletedPolls.length).toBeGreaterThanOrEqual(1);
      expect(deletedPolls.every((e) => e.status === 200 || e.status === 404)).toBe(true);
    });
  });

  describe("RBAC", () => {
    it("no role assignment: 403 Forbidden", async () => {
      const client = env.clientsAs(NOBODY).secrets(kv);
      const err = await client.getSecret("alpha").then(
        () => undefined,
        (e: { statusCode?: number; code?: string; message?: string }) => e,
      );
      expect(err?.statusCode).toBe(403);
      expect(err?.code).toBe("Forbidden");
      expect(err?.message).toContain(`oid=${NOBODY}`);
      expect(await statusOf(client.setSecret("alpha", "nope"))).toBe(403);
      expect(await statusOf(client.listPropertiesOfSecrets().next())).toBe(403);
    });

    it("Key Vault Secrets User can read but not write or delete", async () => {
      const client = env.clientsAs(READER).secrets(kv);
      expect(fp((await client.getSecret("alpha")).value)).toBe(fp(VALUES.alpha));
      const versions = [];
      for await (const v of client.listPropertiesOfSecretVersions("alpha")) versions.push(v);
      expect(versions).toHaveLength(1);
      expect(await statusOf(client.setSecret("alpha", "overwritten"))).toBe(403);
      expect(await statusOf(client.beginDeleteSecret("alpha", { intervalInMs: 10 }))).toBe(403);
      // nothing changed
      expect(fp((await env.clients.secrets(kv).getSecret("alpha")).value)).toBe(fp(VALUES.alpha));
    });

    it("Key Vault Secrets Officer can write", async () => {
      const client = env.clientsAs(WRITER).secrets(kv);
      const made = await client.setSecret("officer-made", "x");
      expect(made.properties.version).toBeTruthy();
      expect((await client.getSecret("officer-made")).properties.version).toBe(made.properties.version);
    });

    it("an assignment at resource group scope is inherited by the group's vaults only", async () => {
      const client = env.clientsAs(GROUP_READER).secrets(kvGroup);
      expect(fp((await client.getSecret("gamma")).value)).toBe(fp(VALUES.gamma));
      expect(await statusOf(client.setSecret("gamma", "x"))).toBe(403);
      // kv-main is in another resource group
      expect(await statusOf(env.clientsAs(GROUP_READER).secrets(kv).getSecret("alpha"))).toBe(403);
    });

    it("an assignment on one secret grants that secret only", async () => {
      const client = env.clientsAs(ONE_SECRET).secrets(kv);
      expect(fp((await client.getSecret("alpha")).value)).toBe(fp(VALUES.alpha));
      expect(await statusOf(client.getSecret("beta"))).toBe(403);
      // listing the vault needs a vault-level grant
      expect(await statusOf(client.listPropertiesOfSecrets().next())).toBe(403);
    });

    it("granting a role at run time (AuthorizationManagementClient) changes access", async () => {
      const client = env.clientsAs(LATE).secrets(kv);
      expect(await statusOf(client.getSecret("beta"))).toBe(403);
      const eventsBefore = env.emu.events.list().length;
      const ra = await env.clients.authorization(SUB).roleAssignments.create(vaultId("kv-main"), randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER), principalId: LATE });
      expect(ra.principalId).toBe(LATE);
      expect(ra.scope?.toLowerCase()).toBe(vaultId("kv-main").toLowerCase());
      expect(env.emu.events.list().length).toBe(eventsBefore + 1);
      expect(fp((await client.getSecret("beta")).value)).toBe(fp(VALUES.beta));
      expect(await statusOf(client.setSecret("beta", "x"))).toBe(403);

      // and removing it takes access away again
      await env.clients.authorization(SUB).roleAssignments.delete(vaultId("kv-main"), ra.name as string);
      expect(await statusOf(client.getSecret("beta"))).toBe(403);
    });

    it("a run-time assignment on one secret grants that secret only", async () => {
      const principal = randomUUID();
      const client = env.clientsAs(principal).secrets(kv);
      await env.clients.authorization(SUB).roleAssignments.create(`${vaultId("kv-main")}/secrets/beta`, randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER), principalId: principal });
      expect(fp((await client.getSecret("beta")).value)).toBe(fp(VALUES.beta));
      expect(await statusOf(client.getSecret("alpha"))).toBe(403);

      // a secret created through the data plane is an ARM scope too
      await env.clients.secrets(kv).setSecret("made-at-runtime", "runtime-value");
      expect(await statusOf(client.getSecret("made-at-runtime"))).toBe(403);
      await env.clients.authorization(SUB).roleAssignments.create(`${vaultId("kv-main")}/secrets/made-at-runtime`, randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER), principalId: principal });
      expect(fp((await client.getSecret("made-at-runtime")).value)).toBe(fp("runtime-value"));
      expect(await statusOf(client.getSecret("alpha"))).toBe(403);
    });
  });

  describe("access-policy mode", () => {
    it("grants exactly the listed secret permissions and ignores role assignments", async () => {
      const client = env.clientsAs(POLICY_GET).secrets(kvPolicy);
      expect(fp((await client.getSecret("delta")).value)).toBe(fp(VALUES.delta));
      expect(await statusOf(client.setSecret("delta", "x"))).toBe(403);
      expect(await statusOf(client.listPropertiesOfSecretVersions("delta").next())).toBe(403);
      expect(await statusOf(env.clientsAs(NOBODY).secrets(kvPolicy).getSecret("delta"))).toBe(403);
      // READER holds Secrets Officer on kv-policy, which an access-policy vault ignores
      expect(await statusOf(env.clientsAs(READER).secrets(kvPolicy).getSecret("delta"))).toBe(403);
    });
  });
});

describe("APIM Key Vault references (resolved with the service's managed identity)", () => {
  let env: TestEnv;
  let kv: string;
  let systemPrincipal: string;
  const SVC = "apim-kvref";
  const lro = { updateIntervalInMs: 10 };

  beforeAll(async () => {
    env = await startTestEmulator(
      [
        service(SVC, {}, { identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: { [UAI_ID]: {} } } }),
        { id: UAI_ID, type: "Microsoft.ManagedIdentity/userAssignedIdentities", name: "apim-uai", location: "westeurope", properties: { principalId: UAI_PRINCIPAL, clientId: UAI_CLIENT, tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47" } },
        service("apim-noidentity"),
        vault("kvref"),
        secret("kvref", "backend-key", VALUES.backend),
        child(SVC, "namedValues/plain-secret", "Microsoft.ApiManagement/service/namedValues", { displayName: "plain-secret", secret: true, value: VALUES.alpha }),
      ],
      { lroDurationMs: 0 },
    );
    kv = env.emu.keyVaults["kvref"] as string;
  });
  afterAll(async () => env.emu.stop());

  const apim = () => env.clients.apim(SUB);
  const grant = async (principalId: string, scope = vaultId("kvref")) =>
    env.clients.authorization(SUB).roleAssignments.create(scope, randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER), principalId });
  const createRef = (id: string, secretIdentifier: string, identityClientId?: string, svc = SVC) =>
    apim().namedValue.beginCreateOrUpdateAndWait(RG, svc, id, { displayName: id, secret: true, keyVault: { secretIdentifier, ...(identityClientId ? { identityClientId } : {}) } }, lro);
  /** The error of a rejected SDK call (fails the test when the call succeeds). */
  const errorOf = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e as { statusCode?: number; code?: string; message?: string };
    }
    throw new Error("expected the call to fail");
  };

  it("derives the system-assigned identity's principal id", async () => {
    const svc = await apim().apiManagementService.get(RG, SVC);
    expect(svc.identity?.type).toBe("SystemAssigned, UserAssigned");
    expect(svc.identity?.principalId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(svc.identity?.tenantId).toBe(env.emu.tenantId);
    expect(svc.identity?.userAssignedIdentities?.[UAI_ID]?.principalId).toBe(UAI_PRINCIPAL);
    expect(svc.identity?.userAssignedIdentities?.[UAI_ID]?.clientId).toBe(UAI_CLIENT);
    systemPrincipal = svc.identity?.principalId as string;
    // stable: a second read returns the same id
    expect((await apim().apiManagementService.get(RG, SVC)).identity?.principalId).toBe(systemPrincipal);
  });

  it("refuses to write a reference the service identity cannot read (400 on the operation's poll), and nothing is created", async () => {
    // API Management fetches the secret when the reference is written (azure-rest-api-specs#21655, terraform-provider-azurerm#19255)
    const err = await errorOf(createRef("backend-key", `${kv}/secrets/backend-key`));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe("InvalidOperation");
    expect(err.message).toContain(`Failed to access KeyVault Secret ${kv}/secrets/backend-key`);
    expect(err.message).toContain(systemPrincipal);
    expect(await statusOf(apim().namedValue.get(RG, SVC, "backend-key"))).toBe(404);

    // the service's identity is what counts: the remediator's own access does not help
    await grant(REMEDIATOR);
    expect((await errorOf(createRef("backend-key", `${kv}/secrets/backend-key`))).statusCode).toBe(400);

    await grant(systemPrincipal);
    const created = await createRef("backend-key", `${kv}/secrets/backend-key`);
    expect(created.keyVault?.secretIdentifier).toBe(`${kv}/secrets/backend-key`);
    expect(created.keyVault?.lastStatus?.code).toBe("Success");
    const got = await apim().namedValue.get(RG, SVC, "backend-key");
    expect(got.keyVault?.lastStatus?.code).toBe("Success");
    expect(typeof got.keyVault?.lastStatus?.timeStampUtc).toBe("object"); // deserialized to a Date
    const listed = await apim().namedValue.listValue(RG, SVC, "backend-key");
    expect(fp(listed.value)).toBe(fp(VALUES.backend));
  });

  it("a PATCH that would point an inline secret at an unreadable secret is refused and changes nothing", async () => {
    const before = await apim().namedValue.get(RG, SVC, "plain-secret");
    const err = await errorOf(apim().namedValue.beginUpdateAndWait(RG, SVC, "plain-secret", before.eTag as string, { secret: true, keyVault: { secretIdentifier: `${kv}/secrets/does-not-exist` } }, lro));
    expect(err.statusCode).toBe(400);
    const after = await apim().namedValue.get(RG, SVC, "plain-secret");
    expect(after.keyVault).toBeUndefined();
    expect(after.eTag).toBe(before.eTag);
    expect(fp((await apim().namedValue.listValue(RG, SVC, "plain-secret")).value)).toBe(fp(VALUES.alpha));
  });

  it("the named value GET never returns the value", async () => {
    for (const id of ["backend-key", "plain-secret"]) {
      const res = await apim().namedValue.get(RG, SVC, id);
      expect(res.secret).toBe(true);
      expect(res.value).toBeUndefined();
      expect(JSON.stringify(res).includes(VALUES.backend) || JSON.stringify(res).includes(VALUES.alpha)).toBe(false);
    }
    const all = [];
    for await (const nv of apim().namedValue.listByService(RG, SVC)) all.push(nv);
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(all.every((nv) => nv.value === undefined)).toBe(true);
    // the list carries each reference's lastStatus, as a GET does (ApiManagementListNamedValues example)
    expect(all.find((nv) => nv.name === "backend-key")?.keyVault?.lastStatus?.code).toBe("Success");
    // listValue is the one way to read it
    expect(fp((await apim().namedValue.listValue(RG, SVC, "plain-secret")).value)).toBe(fp(VALUES.alpha));
  });

  it("resolves a secretIdentifier in the real-Azure form https://<vault>.vault.azure.net/...", async () => {
    const created = await createRef("azure-form", "https://kvref.vault.azure.net/secrets/backend-key");
    expect(created.keyVault?.lastStatus?.code).toBe("Success");
    expect(fp((await apim().namedValue.listValue(RG, SVC, "azure-form")).value)).toBe(fp(VALUES.backend));
    // with an explicit version too
    const version = (await env.clientsAs(systemPrincipal).secrets(kv).getSecret("backend-key")).properties.version as string;
    const pinned = await createRef("azure-form-pinned", `https://kvref.vault.azure.net/secrets/backend-key/${version}`);
    expect(pinned.keyVault?.lastStatus?.code).toBe("Success");
  });

  it("follows a new secret version (unversioned identifier) after a refresh", async () => {
    const rotated = `rotated-${randomUUID()}`;
    // the remediator holds Secrets User only (granted above); rotating needs Officer
    expect(await statusOf(env.clients.secrets(kv).setSecret("backend-key", rotated))).toBe(403);
    await env.clients.authorization(SUB).roleAssignments.create(vaultId("kvref"), randomUUID(), { roleDefinitionId: roleDef(SECRETS_OFFICER), principalId: REMEDIATOR });
    await env.clients.secrets(kv).setSecret("backend-key", rotated);
    await apim().namedValue.beginRefreshSecretAndWait(RG, SVC, "backend-key", lro);
    expect(fp((await apim().namedValue.listValue(RG, SVC, "backend-key")).value)).toBe(fp(rotated));
  });

  it("uses the user-assigned identity chosen by identityClientId", async () => {
    // the system identity has access, the user-assigned one not yet: refused
    const refused = await errorOf(createRef("via-uai", `${kv}/secrets/backend-key`, UAI_CLIENT));
    expect(refused.statusCode).toBe(400);
    expect(refused.message).toContain(UAI_PRINCIPAL);
    await grant(UAI_PRINCIPAL);
    const created = await createRef("via-uai", `${kv}/secrets/backend-key`, UAI_CLIENT);
    expect(created.keyVault?.identityClientId).toBe(UAI_CLIENT);
    expect(created.keyVault?.lastStatus?.code).toBe("Success");
    expect((await apim().namedValue.listValue(RG, SVC, "via-uai")).value).toBeTruthy();

    // an identityClientId the service does not have: APIM's field validation (apiops#214, #257)
    const unknown = await errorOf(createRef("via-unknown", `${kv}/secrets/backend-key`, "0e5a0000-0000-4000-8000-0000000000ff"));
    expect(unknown.statusCode).toBe(400);
    expect(unknown.code).toBe("ValidationError");
    expect(await statusOf(apim().namedValue.get(RG, SVC, "via-unknown"))).toBe(404);
  });

  it("refuses a missing secret, an unknown vault and a service without identity", async () => {
    expect((await errorOf(createRef("missing", `${kv}/secrets/does-not-exist`))).statusCode).toBe(400);
    const noVault = await errorOf(createRef("no-vault", "https://nosuchvault.vault.azure.net/secrets/backend-key"));
    expect(noVault.statusCode).toBe(400);
    expect(noVault.message).toContain("The remote name could not be resolved: 'nosuchvault.vault.azure.net'");
    expect((await errorOf(createRef("ref", `${kv}/secrets/backend-key`, undefined, "apim-noidentity"))).statusCode).toBe(400);
    for (const [svc, id] of [
      [SVC, "missing"],
      [SVC, "no-vault"],
      ["apim-noidentity", "ref"],
    ] as const) {
      expect(await statusOf(apim().namedValue.get(RG, svc, id))).toBe(404);
    }
  });

  it("revoking the identity's access shows on the next refresh, and listValue refuses what API Management cannot fetch", async () => {
    const ras = [];
    for await (const ra of env.clients.authorization(SUB).roleAssignments.listForScope(vaultId("kvref"), { filter: `principalId eq '${systemPrincipal}'` })) ras.push(ra);
    expect(ras.length).toBeGreaterThanOrEqual(1);
    for (const ra of ras) await env.clients.authorization(SUB).roleAssignments.deleteById(ra.id as string);
    const refreshed = await apim().namedValue.beginRefreshSecretAndWait(RG, SVC, "backend-key", lro);
    expect(refreshed.keyVault?.lastStatus?.code).toBe("Forbidden");
    expect(await statusOf(apim().namedValue.listValue(RG, SVC, "backend-key"))).toBe(400);
    const listed = [];
    for await (const nv of apim().namedValue.listByService(RG, SVC)) listed.push(nv);
    expect(listed.find((nv) => nv.name === "backend-key")?.keyVault?.lastStatus?.code).toBe("Forbidden");
  });
});

describe("role assignment propagation (the emulator's propagationMs)", () => {
  let env: TestEnv;
  let kv: string;
  const SVC = "apim-propagation";
  const lro = { updateIntervalInMs: 10 };

  beforeAll(async () => {
    env = await startTestEmulator([service(SVC, {}, { identity: { type: "SystemAssigned" } }), vault("kvprop"), secret("kvprop", "late-key", VALUES.gamma), roleAssignment(vaultId("kvprop"), SECRETS_USER, READER)], {
      timing: { propagationMs: 10 * 60_000 },
    });
    kv = env.emu.keyVaults["kvprop"] as string;
  });
  afterAll(async () => env.emu.stop());

  it("a new role assignment is not in effect until it has propagated, for the data plane and for API Management; one of the estate is", async () => {
    // made long ago (the estate): in effect
    expect(fp((await env.clientsAs(READER).secrets(kv).getSecret("late-key")).value)).toBe(fp(VALUES.gamma));
    const principal = (await env.clients.apim(SUB).apiManagementService.get(RG, SVC)).identity?.principalId as string;
    for (const p of [LATE, principal]) await env.clients.authorization(SUB).roleAssignments.create(`${vaultId("kvprop")}/secrets/late-key`, randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER), principalId: p });
    // listed at once (ARM has it), but not in effect yet: Key Vault still refuses, with the propagation hint
    const denied = await env.clientsAs(LATE).secrets(kv).getSecret("late-key").then(
      () => undefined,
      (e: { statusCode?: number; message?: string; details?: { error?: { innerError?: { code?: string } } } }) => e,
    );
    expect(denied?.statusCode).toBe(403);
    expect(denied?.message).toContain("please observe propagation time");
    expect(denied?.details?.error?.innerError?.code).toBe("ForbiddenByRbac");
    const refused = env.clients.apim(SUB).namedValue.beginCreateOrUpdateAndWait(RG, SVC, "late", { displayName: "late", secret: true, keyVault: { secretIdentifier: `${kv}/secrets/late-key` } }, lro);
    expect(await statusOf(refused)).toBe(400);

    // the minutes pass (time scale): both are in effect
    env.emu.setTiming({ propagationMs: 0 });
    expect(fp((await env.clientsAs(LATE).secrets(kv).getSecret("late-key")).value)).toBe(fp(VALUES.gamma));
    const created = await env.clients.apim(SUB).namedValue.beginCreateOrUpdateAndWait(RG, SVC, "late", { displayName: "late", secret: true, keyVault: { secretIdentifier: `${kv}/secrets/late-key` } }, lro);
    expect(created.keyVault?.lastStatus?.code).toBe("Success");
  });

  it("the realistic profile takes minutes; a time scale compresses them; a bad value is refused with its name", async () => {
    const { effectiveTimings } = await import("../../emulator/profile.js");
    expect(effectiveTimings({ profile: "realistic" }).propagationMs).toBeGreaterThanOrEqual(60_000);
    expect(effectiveTimings({ profile: "realistic", timeScale: 0.001 }).propagationMs).toBe(effectiveTimings({ profile: "realistic" }).propagationMs / 1000);
    expect(effectiveTimings({}).propagationMs).toBe(0);
    expect(() => effectiveTimings({ propagationMs: -1 })).toThrow(/propagationMs/);
    expect(() => effectiveTimings({ profile: "slow" as never })).toThrow(/unknown emulator profile 'slow'/);
  });
});

describe("API Management's own copy of a Key Vault secret (listValue, refresh)", () => {
  it("with API Management's own refresh interval (4 hours), a new Key Vault version shows in listValue only after a refresh", async () => {
    const env = await startTestEmulator(
      [service("apim-copy", {}, { identity: { type: "SystemAssigned" } }), vault("kvcopy"), secret("kvcopy", "rotating", VALUES.delta), roleAssignment(vaultId("kvcopy"), SECRETS_OFFICER, REMEDIATOR)],
      // the realistic interval, without the realistic profile's long-running operations
      { timing: { referenceRefreshMs: 4 * 3_600_000 } },
    );
    try {
      const kv = env.emu.keyVaults["kvcopy"] as string;
      const principal = (await env.clients.apim(SUB).apiManagementService.get(RG, "apim-copy")).identity?.principalId as string;
      await env.clients.authorization(SUB).roleAssignments.create(vaultId("kvcopy"), randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER), principalId: principal });
      const lro = { updateIntervalInMs: 10 };
      await env.clients.apim(SUB).namedValue.beginCreateOrUpdateAndWait(RG, "apim-copy", "rotating", { displayName: "rotating", secret: true, keyVault: { secretIdentifier: `${kv}/secrets/rotating` } }, lro);
      const rotated = `rotated-${randomUUID()}`;
      await env.clients.secrets(kv).setSecret("rotating", rotated);
      // "a named value in API Management is updated within 4 hours" (api-management-howto-properties): the old copy until then
      expect(fp((await env.clients.apim(SUB).namedValue.listValue(RG, "apim-copy", "rotating")).value)).toBe(fp(VALUES.delta));
      await env.clients.apim(SUB).namedValue.beginRefreshSecretAndWait(RG, "apim-copy", "rotating", lro);
      expect(fp((await env.clients.apim(SUB).namedValue.listValue(RG, "apim-copy", "rotating")).value)).toBe(fp(rotated));
    } finally {
      await env.emu.stop();
    }
  });
});

describe("Key Vault soft delete, recover and purge protection", () => {
  let env: TestEnv;
  let kv: string;
  let kvProtected: string;
  const deletedErr = (e: unknown) => (e as { details?: { error?: { innerError?: { code?: string } } } }).details?.error?.innerError?.code;

  beforeAll(async () => {
    env = await startTestEmulator([
      vault("kvsoft", { softDeleteRetentionInDays: 7 }),
      vault("kvguard", { enablePurgeProtection: true }),
      roleAssignment(vaultId("kvsoft"), SECRETS_OFFICER, REMEDIATOR),
      roleAssignment(vaultId("kvguard"), SECRETS_OFFICER, REMEDIATOR),
      roleAssignment(vaultId("kvsoft"), SECRETS_USER, READER),
    ]);
    kv = env.emu.keyVaults["kvsoft"] as string;
    kvProtected = env.emu.keyVaults["kvguard"] as string;
  });
  afterAll(async () => env.emu.stop());

  async function deleteSecret(client: ReturnType<TestEnv["clients"]["secrets"]>, name: string) {
    await (await client.beginDeleteSecret(name, { intervalInMs: 10 })).pollUntilDone({ abortSignal: AbortSignal.timeout(10_000) });
  }

  it("a deleted-but-recoverable name cannot be written (409 Conflict, ObjectIsDeletedButRecoverable); the deleted secret shows its tags, never its value", async () => {
    const client = env.clients.secrets(kv);
    await client.setSecret("gone", "first", { tags: { owner: "team-a" } });
    await client.setSecret("gone", "second", { tags: { owner: "team-a" } });
    await deleteSecret(client, "gone");
    const err = await client.setSecret("gone", "third").then(
      () => undefined,
      (e: { statusCode?: number; code?: string; message?: string }) => e,
    );
    expect(err?.statusCode).toBe(409);
    expect(err?.code).toBe("Conflict");
    expect(deletedErr(err)).toBe("ObjectIsDeletedButRecoverable");
    expect(err?.message).toContain("is currently in a deleted but recoverable state, and its name cannot be reused");
    const deleted = await client.getDeletedSecret("gone");
    expect(deleted.properties.tags).toEqual({ owner: "team-a" });
    expect(deleted.value).toBeUndefined();
    expect(deleted.properties.recoveryLevel).toBe("CustomizedRecoverable+Purgeable");
    expect(deleted.properties.recoverableDays).toBe(7);
    expect(deleted.scheduledPurgeDate?.getTime()).toBe((deleted.deletedOn?.getTime() ?? 0) + 7 * 86_400_000);
    const names: string[] = [];
    for await (const d of client.listDeletedSecrets()) names.push(d.name);
    expect(names).toContain("gone");
  });

  it("beginRecoverDeletedSecret brings back every version; only a principal with recover may", async () => {
    expect(await statusOf(env.clientsAs(READER).secrets(kv).beginRecoverDeletedSecret("gone", { intervalInMs: 10 }))).toBe(403);
    const client = env.clients.secrets(kv);
    const recovered = await (await client.beginRecoverDeletedSecret("gone", { intervalInMs: 10 })).pollUntilDone({ abortSignal: AbortSignal.timeout(10_000) });
    expect(recovered.name).toBe("gone");
    expect(fp((await client.getSecret("gone")).value)).toBe(fp("second"));
    let versions = 0;
    for await (const _ of client.listPropertiesOfSecretVersions("gone")) versions++;
    expect(versions).toBe(2);
    expect(await statusOf(client.getDeletedSecret("gone"))).toBe(404);
    // and the name takes writes again
    expect((await client.setSecret("gone", "third")).properties.version).toBeTruthy();
  });

  it("purge frees the name at once; purge protection refuses it (403) and the name stays taken", async () => {
    const client = env.clients.secrets(kv);
    await client.setSecret("purged", "x");
    await deleteSecret(client, "purged");
    await client.purgeDeletedSecret("purged");
    expect(await statusOf(client.getDeletedSecret("purged"))).toBe(404);
    expect((await client.setSecret("purged", "y")).properties.version).toBeTruthy();

    const guarded = env.clients.secrets(kvProtected);
    const made = await guarded.setSecret("kept", "x");
    expect(made.properties.recoveryLevel).toBe("Recoverable");
    await deleteSecret(guarded, "kept");
    const err = await guarded.purgeDeletedSecret("kept").then(
      () => undefined,
      (e: { statusCode?: number; message?: string }) => e,
    );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain('Operation "purge" is not allowed because purge protection is enabled for this vault');
    expect(deletedErr(await guarded.setSecret("kept", "y").catch((e: unknown) => e))).toBe("ObjectIsDeletedButRecoverable");
  });
});

describe("role assignments under management locks", () => {
  let env: TestEnv;
  const lock = (scope: string, name: string, level: "ReadOnly" | "CanNotDelete") => ({ id: `${scope}/providers/Microsoft.Authorization/locks/${name}`, type: "Microsoft.Authorization/locks", name, properties: { level } });

  beforeAll(async () => {
    env = await startTestEmulator([vault("kvlocked"), vault("kvnodelete"), secret("kvlocked", "s", VALUES.alpha), lock(vaultId("kvlocked"), "freeze", "ReadOnly"), lock(vaultId("kvnodelete"), "keep", "CanNotDelete")]);
  });
  afterAll(async () => env.emu.stop());

  const create = (scope: string, principalId = randomUUID()) => env.clients.authorization(SUB).roleAssignments.create(scope, randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER), principalId });

  it("a ReadOnly lock on the vault refuses a role assignment on the vault or one of its secrets: 409 ScopeLocked, not RoleAssignmentExists", async () => {
    for (const scope of [vaultId("kvlocked"), `${vaultId("kvlocked")}/secrets/s`]) {
      const err = await create(scope).then(
        () => undefined,
        (e: { statusCode?: number; code?: string; message?: string }) => e,
      );
      expect(err?.statusCode).toBe(409);
      expect(err?.code).toBe("ScopeLocked");
      expect(err?.message).toContain("cannot perform write operation because following scope(s) are locked");
      expect(err?.message).toContain(vaultId("kvlocked"));
    }
    const listed = [];
    for await (const ra of env.clients.authorization(SUB).roleAssignments.listForScope(vaultId("kvlocked"))) listed.push(ra);
    expect(listed).toEqual([]);
  });

  it("a CanNotDelete lock allows a new assignment and refuses its removal; the same assignment twice under another name is RoleAssignmentExists", async () => {
    const principal = randomUUID();
    const ra = await create(vaultId("kvnodelete"), principal);
    const err = await env.clients.authorization(SUB).roleAssignments.deleteById(ra.id as string).then(
      () => undefined,
      (e: { statusCode?: number; code?: string; message?: string }) => e,
    );
    expect(err?.statusCode).toBe(409);
    expect(err?.code).toBe("ScopeLocked");
    expect(err?.message).toContain("cannot perform delete operation");
    const dup = await create(vaultId("kvnodelete"), principal).then(
      () => undefined,
      (e: { statusCode?: number; code?: string }) => e,
    );
    expect([dup?.statusCode, dup?.code]).toEqual([409, "RoleAssignmentExists"]);
  });
});
