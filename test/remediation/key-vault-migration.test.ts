/**
 * The Key Vault migration of secret named values (`named-value-secrets-in-key-vault`,
 * src/remediations/fixes/key-vault.ts), end to end through the engine and the
 * real SDK clients against the emulator: the happy path, a failure injected at
 * each step, a crash between steps, prerequisites, and secret hygiene.
 *
 * Every case seeds its own secret value; values are compared by fingerprint so
 * a failing assertion never prints one.
 */
import { createHash, randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ActionResult, EvaluationResult } from "../../src/engine/engine.js";
import { CENSOR } from "../../src/common/logger.js";
import { rule as identityRule } from "../../src/remediations/managed-identity.js";
import { rule as kvRule } from "../../src/remediations/named-value-secrets-in-key-vault.js";
import type { Rule } from "../../src/remediations/types.js";
import { assignmentName, ownerTags, PROPAGATION_WINDOW_MS, REFERENCE_ATTEMPTS, secretNameFor, SECRETS_USER_ROLE, TAG_NAMED_VALUE, TAG_SERVICE } from "../../src/remediations/fixes/key-vault.js";
import { child, PORTAL_USER, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";
import { engineFor, type EngineEnv } from "../helpers/engine.js";
import { idKey } from "../../emulator/ids.js";
import { guidFrom } from "../../emulator/store.js";

const RULE = kvRule.meta.id;
const NV_TYPE = "Microsoft.ApiManagement/service/namedValues";
const SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
const VAULT = "kv-migrate";
const KV_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/${VAULT}`;
/** A vault the remediator can read but is not configured for (e.g. another team's, or the ticket tokens' vault). */
const OTHER_VAULT = "kv-other-team";
const OTHER_KV_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/${OTHER_VAULT}`;
const UAI_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/apim-uai`;
const UAI_PRINCIPAL = "0e5a0000-0000-4000-8000-0000000000c1";
const UAI_CLIENT = "0e5a0000-0000-4000-8000-0000000000c2";
const NV = "db-password";
const DISPLAY = "Db-Password.Display";

const roleDef = (guid: string) => `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
const fp = (v: string | undefined) => (v === undefined ? "<undefined>" : createHash("sha256").update(v).digest("hex").slice(0, 16));

/** Every secret value seeded by this file (for the hygiene checks). */
const SEEDED: string[] = [];
/** Everything the product produced that could carry a secret: results, audit records, log lines, error messages. */
const OUTPUTS: string[] = [];

interface Case {
  svc: string;
  serviceId: string;
  id: string;
  value: string;
  secretName: string;
}

type IdentityKind = "system" | "user" | "none";

let env: TestEnv;
let kvUrl: string;
let counter = 0;

function roleAssignment(scope: string, role: string, principalId: string): Record<string, unknown> {
  const name = randomUUID();
  return { id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`, type: "Microsoft.Authorization/roleAssignments", name, properties: { roleDefinitionId: roleDef(role), principalId, principalType: "ServicePrincipal", scope } };
}

function identityOf(kind: IdentityKind): Record<string, unknown> {
  if (kind === "none") return {};
  if (kind === "user") return { identity: { type: "UserAssigned", userAssignedIdentities: { [UAI_ID]: { principalId: UAI_PRINCIPAL, clientId: UAI_CLIENT } } } };
  return { identity: { type: "SystemAssigned" } };
}

/**
 * Resets the emulator to a fresh estate: a vault where the remediator is Secrets
 * Officer, and one service with one inline secret named value holding a new value.
 */
function setup(
  opts: { identity?: IdentityKind; vaultSecret?: (c: Case) => string; vaultSecretTags?: (c: Case) => Record<string, string>; extra?: (c: Case) => Array<Record<string, unknown>>; brokenReference?: boolean } = {},
): Case {
  const svc = `apim-kvm-${++counter}`;
  const value = `kvmig-${counter}-${randomUUID()}`;
  SEEDED.push(value);
  const c: Case = { svc, serviceId: serviceId(svc), id: `${serviceId(svc)}/namedValues/${NV}`, value, secretName: secretNameFor(svc, NV) };
  const resources: Array<Record<string, unknown>> = [
    { id: `/subscriptions/${SUB}`, type: "Microsoft.Resources/subscriptions", displayName: "Key Vault migration tests" },
    { id: `/subscriptions/${SUB}/resourceGroups/${RG}`, type: "Microsoft.Resources/resourceGroups", location: "westeurope" },
    { id: KV_ID, type: "Microsoft.KeyVault/vaults", name: VAULT, location: "westeurope", properties: { tenantId: env.emu.tenantId, sku: { family: "A", name: "standard" }, enableRbacAuthorization: true } },
    roleAssignment(KV_ID, SECRETS_OFFICER, REMEDIATOR),
    service(svc, {}, identityOf(opts.identity ?? "system")),
    // a reference that broke after it was made (its grant removed): migrated once, its secret ours, the service may not read it now
    opts.brokenReference
      ? child(svc, `namedValues/${NV}`, NV_TYPE, { displayName: DISPLAY, secret: true, tags: ["payments"], keyVault: { secretIdentifier: `${kvUrl}/secrets/${c.secretName}` } })
      : child(svc, `namedValues/${NV}`, NV_TYPE, { displayName: DISPLAY, secret: true, value, tags: ["payments"] }),
  ];
  if (opts.brokenReference) resources.push({ id: `${KV_ID}/secrets/${c.secretName}`, type: "Microsoft.KeyVault/vaults/secrets", name: `${VAULT}/${c.secretName}`, tags: ownerTags(c.serviceId, NV), properties: { value, contentType: "text/plain" } });
  if (opts.vaultSecret) {
    const v = opts.vaultSecret(c);
    SEEDED.push(v);
    resources.push({ id: `${KV_ID}/secrets/${c.secretName}`, type: "Microsoft.KeyVault/vaults/secrets", name: `${VAULT}/${c.secretName}`, ...(opts.vaultSecretTags ? { tags: opts.vaultSecretTags(c) } : {}), properties: { value: v } });
  }
  resources.push(...(opts.extra?.(c) ?? []));
  env.emu.reset(resources);
  return c;
}

/** Fails when a seeded secret value (or a redaction, i.e. an attempted leak) appears in text. */
function expectClean(text: string, what: string, allowRedaction = false): void {
  for (const s of SEEDED) expect(text.includes(s), `${what} carries a secret value (${fp(s)})`).toBe(false);
  if (!allowRedaction) expect(text.includes(CENSOR), `${what} needed redaction`).toBe(false);
}

interface Run {
  e: EngineEnv;
  result: EvaluationResult;
  action: ActionResult | undefined;
}

/** One evaluation of the service by a fresh engine (a fresh worker), with hygiene checks on everything it produced. */
async function evaluate(c: Case, settings: Record<string, string> = {}, rules: Rule[] = [kvRule], opts: { allowRedaction?: boolean } = {}): Promise<Run> {
  const e = engineFor(env.emu, { KEY_VAULT_URL: kvUrl, KEY_VAULT_RESOURCE_ID: KV_ID, ...settings });
  let result: EvaluationResult;
  try {
    result = await e.engine.evaluate(c.serviceId, { rules });
  } catch (err) {
    const text = `${String(err)}\n${(err as Error).stack ?? ""}`;
    OUTPUTS.push(text);
    expectClean(text, "the thrown error");
    throw err;
  }
  const produced = [JSON.stringify(result), JSON.stringify(e.audit.records), e.logLines.join("\n")];
  OUTPUTS.push(...produced);
  expectClean(produced[0] as string, "the evaluation result", opts.allowRedaction);
  expectClean(produced[1] as string, "the audit records", opts.allowRedaction);
  expectClean(produced[2] as string, "the log lines", opts.allowRedaction);
  for (const a of result.actions) if (a.reason) expectClean(a.reason, "an action reason", opts.allowRedaction);
  return { e, result, action: result.actions.find((a) => a.ruleId === RULE && a.resourceId.toLowerCase() === c.id.toLowerCase()) };
}

const apim = () => env.clients.apim(SUB);
const secrets = () => env.clients.secrets(kvUrl);

async function namedValue(c: Case) {
  return apim().namedValue.get(RG, c.svc, NV);
}

async function listValue(c: Case): Promise<string | undefined> {
  return (await apim().namedValue.listValue(RG, c.svc, NV)).value;
}

async function versions(c: Case): Promise<number> {
  let n = 0;
  for await (const _ of secrets().listPropertiesOfSecretVersions(c.secretName)) n++;
  return n;
}

async function servicePrincipal(c: Case): Promise<string> {
  const s = await apim().apiManagementService.get(RG, c.svc);
  return (s.identity?.principalId ?? Object.values(s.identity?.userAssignedIdentities ?? {})[0]?.principalId) as string;
}

/** The value is intact and resolvable: still inline in APIM, or a reference that resolves to it. */
async function expectIntact(c: Case): Promise<void> {
  expect(fp(await listValue(c))).toBe(fp(c.value));
  const nv = await namedValue(c);
  expect(nv.displayName).toBe(DISPLAY);
  expect(nv.secret).toBe(true);
  if (nv.keyVault?.secretIdentifier) expect(nv.keyVault.lastStatus?.code).toBe("Success");
}

async function expectStillInline(c: Case): Promise<void> {
  await expectIntact(c);
  expect((await namedValue(c)).keyVault?.secretIdentifier).toBeUndefined();
}

/** The migration is complete: a versionless reference that resolves to the original value, held in Key Vault with tags, readable by the service identity. */
async function expectMigrated(c: Case, identity: IdentityKind = "system", opts: { tagged?: boolean } = {}): Promise<void> {
  const nv = await namedValue(c);
  expect(nv.name).toBe(NV);
  expect(nv.displayName).toBe(DISPLAY);
  expect(nv.secret).toBe(true);
  expect(nv.tags).toEqual(["payments"]);
  expect(nv.value).toBeUndefined();
  expect(nv.keyVault?.secretIdentifier).toBe(`${kvUrl}/secrets/${c.secretName}`);
  expect(nv.keyVault?.identityClientId).toBe(identity === "user" ? UAI_CLIENT : undefined);
  expect(nv.keyVault?.lastStatus?.code).toBe("Success");
  expect(fp(await listValue(c))).toBe(fp(c.value));

  const s = await secrets().getSecret(c.secretName);
  expect(fp(s.value)).toBe(fp(c.value));
  if (opts.tagged !== false) {
    expect(s.properties.tags).toEqual({ [TAG_SERVICE]: c.serviceId, [TAG_NAMED_VALUE]: NV });
    expect(s.properties.contentType).toBe("text/plain");
  }

  const principal = await servicePrincipal(c);
  if (identity === "user") expect(principal).toBe(UAI_PRINCIPAL);
  const scope = `${KV_ID}/secrets/${c.secretName}`;
  const grants: Array<{ role: string; scope?: string; name?: string }> = [];
  for await (const ra of env.clients.authorization(SUB).roleAssignments.listForScope(scope, { filter: `principalId eq '${principal}'` })) {
    grants.push({ role: (ra.roleDefinitionId ?? "").split("/").pop() as string, scope: ra.scope, name: ra.name });
  }
  expect(grants).toContainEqual({ role: SECRETS_USER_ROLE, scope, name: assignmentName(scope, principal, SECRETS_USER_ROLE) });
}

/** A role assignment made by an administrator (outside the remediator). */
async function grantByHand(scope: string, principalId: string): Promise<void> {
  await env.clients.authorization(SUB).roleAssignments.create(scope, randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER_ROLE), principalId, principalType: "ServicePrincipal" });
}

/** Non-GET requests the emulator served since the last clear (ARM and vault). */
function writesSeen(): Array<[string, string, string]> {
  return env.emu.log
    .list()
    .filter((l) => l.method !== "GET")
    .map((l) => [l.host, l.method, l.path.split("?")[0] as string]);
}

beforeAll(async () => {
  env = await startTestEmulator(
    [
      { id: KV_ID, type: "Microsoft.KeyVault/vaults", name: VAULT, location: "westeurope", properties: { enableRbacAuthorization: true } },
      { id: OTHER_KV_ID, type: "Microsoft.KeyVault/vaults", name: OTHER_VAULT, location: "westeurope", properties: { enableRbacAuthorization: true } },
    ],
    { throttle: { enabled: false } },
  );
  kvUrl = env.emu.keyVaults[VAULT] as string;
});
afterAll(async () => env.emu.stop());

describe("happy path", () => {
  it("moves the value into Key Vault, grants the system identity, and a second evaluation writes nothing", async () => {
    const c = setup();
    const { action, result } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(action?.plan?.operation).toBe("migrate named value to Key Vault");
    expect(result.writes).toBe(3); // Key Vault secret, role assignment, named value PATCH
    await expectMigrated(c);
    expect(await versions(c)).toBe(1);

    env.emu.log.clear();
    const second = await evaluate(c);
    expect(second.result.writes).toBe(0);
    expect(second.result.actions).toEqual([]);
    expect(second.result.findings.find((f) => f.resourceId.toLowerCase() === c.id.toLowerCase())?.status).toBe("pass");
    expect(writesSeen()).toEqual([]);
  });

  it("uses identityClientId for a service with only a user-assigned identity", async () => {
    const c = setup({ identity: "user" });
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(action?.plan?.changes).toContainEqual({ path: "properties.keyVault.identityClientId", before: null, after: UAI_CLIENT });
    await expectMigrated(c, "user");
  });

  it("reuses a Key Vault secret that already holds the same value (no new version)", async () => {
    const c = setup({ vaultSecret: (x) => x.value });
    env.emu.log.clear();
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(action?.writes).toBe(2); // role assignment, PATCH
    expect(writesSeen().filter(([host]) => host.startsWith("vault:"))).toEqual([]);
    expect(await versions(c)).toBe(1);
    await expectMigrated(c, "system", { tagged: false }); // a secret someone else wrote keeps its own tags
  });

  it("adds a new version when the secret of that name is this named value's and holds another value", async () => {
    const c = setup({ vaultSecret: () => `stale-${randomUUID()}`, vaultSecretTags: (x) => ({ [TAG_SERVICE]: x.serviceId, [TAG_NAMED_VALUE]: NV }) });
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(await versions(c)).toBe(2);
    await expectMigrated(c);
  });
});

describe("a failure at each step leaves the value intact, and a rerun completes the migration", () => {
  const VAULT_HOST = `vault:${VAULT}`;
  const NO_RETRY = { ARM_MAX_RETRIES: "0" };

  /** Removes the faults, evaluates again with default settings, and expects the migration done with one Key Vault version. */
  async function rerunCompletes(c: Case): Promise<void> {
    env.emu.faults.clear();
    const again = await evaluate(c);
    expect(again.action?.outcome, again.action?.reason).toBe("applied");
    await expectMigrated(c);
  }

  it.each([
    [500, "InternalServerError"],
    [403, "Forbidden"],
  ])("the Key Vault write fails (%i)", async (status, code) => {
    const c = setup();
    env.emu.faults.add({ method: "PUT", host: VAULT_HOST, path: `/secrets/${c.secretName}`, status, code });
    env.emu.log.clear();
    const { action } = await evaluate(c, NO_RETRY);
    expect(["failed", "rolled-back"]).toContain(action?.outcome);
    expect(action?.reason).toContain(`HTTP ${status}`);
    expect(writesSeen().filter(([host]) => host === "arm")).toEqual([["arm", "POST", `${c.id}/listValue`]]); // only the read of the value
    await expectStillInline(c);
    await rerunCompletes(c);
    expect(await versions(c)).toBe(1);
  });

  it("the Key Vault write is acknowledged but lost (read-back finds nothing)", async () => {
    const c = setup();
    env.emu.faults.add({ method: "PUT", host: VAULT_HOST, path: `/secrets/${c.secretName}`, swallow: true });
    const { action } = await evaluate(c);
    expect(["failed", "rolled-back"]).toContain(action?.outcome);
    await expectStillInline(c);
    await expect(secrets().getSecret(c.secretName)).rejects.toMatchObject({ statusCode: 404 });
    await rerunCompletes(c);
    expect(await versions(c)).toBe(1);
  });

  it("the Key Vault write is lost and a stale version of that name remains", async () => {
    const c = setup({ vaultSecret: () => `stale-${randomUUID()}`, vaultSecretTags: (x) => ({ [TAG_SERVICE]: x.serviceId, [TAG_NAMED_VALUE]: NV }) });
    env.emu.faults.add({ method: "PUT", host: VAULT_HOST, path: `/secrets/${c.secretName}`, swallow: true });
    const { action } = await evaluate(c);
    expect(["failed", "rolled-back"]).toContain(action?.outcome);
    await expectStillInline(c);
    expect(await versions(c)).toBe(1); // only the stale one
    await rerunCompletes(c);
    expect(await versions(c)).toBe(2);
  });

  it("the read-back of the written version fails (404)", async () => {
    const c = setup();
    env.emu.faults.add({ method: "GET", host: VAULT_HOST, pathRegex: `/secrets/${c.secretName}/[0-9a-f]{32}`, status: 404, code: "SecretNotFound" });
    const { action } = await evaluate(c, NO_RETRY);
    expect(["failed", "rolled-back"]).toContain(action?.outcome);
    expect(action?.reason).toContain("HTTP 404");
    await expectStillInline(c);
    await rerunCompletes(c);
    expect(await versions(c)).toBe(1); // the verified copy from the first run is reused
  });

  it.each([
    [500, "InternalServerError"],
    [403, "AuthorizationFailed"],
  ])("the role assignment PUT fails (%i)", async (status, code) => {
    const c = setup();
    env.emu.faults.add({ method: "PUT", host: "arm", path: "/providers/Microsoft.Authorization/roleAssignments/", status, code });
    env.emu.log.clear();
    const { action } = await evaluate(c, NO_RETRY);
    expect(["failed", "rolled-back"]).toContain(action?.outcome);
    expect(action?.reason).toContain(`HTTP ${status}`);
    await expectStillInline(c);
    expect(writesSeen().filter(([, method]) => method === "PATCH")).toEqual([]);
    // the value is also verified in Key Vault already; the rerun reuses it
    expect(fp((await secrets().getSecret(c.secretName)).value)).toBe(fp(c.value));
    await rerunCompletes(c);
    expect(await versions(c)).toBe(1);
  });

  it.each([
    [409, "Conflict"],
    [500, "InternalServerError"],
  ])("the named value PATCH fails (%i, every attempt)", async (status, code) => {
    const c = setup();
    env.emu.faults.add({ method: "PATCH", host: "arm", path: `/namedValues/${NV}`, status, code });
    const { action } = await evaluate(c, NO_RETRY);
    expect(["failed", "rolled-back"]).toContain(action?.outcome);
    expect(action?.reason).toContain(`HTTP ${status}`);
    await expectStillInline(c);
    await rerunCompletes(c);
    expect(await versions(c)).toBe(1);
  });

  it("a 409 on the PATCH is retried after a backoff within the same evaluation", async () => {
    const c = setup();
    env.emu.faults.add({ method: "PATCH", host: "arm", path: `/namedValues/${NV}`, status: 409, code: "PessimisticConcurrencyConflict", count: 1 });
    const { action } = await evaluate(c, NO_RETRY);
    expect(action?.outcome, action?.reason).toBe("applied");
    await expectMigrated(c);
    expect(await versions(c)).toBe(1);
  });

  it("a 412 on the PATCH re-reads and re-plans, then completes", async () => {
    const c = setup();
    env.emu.faults.add({ method: "PATCH", host: "arm", path: `/namedValues/${NV}`, status: 412, code: "PreconditionFailed", count: 1 });
    env.emu.log.clear();
    const { action } = await evaluate(c, NO_RETRY);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(writesSeen().filter(([, method]) => method === "PATCH")).toHaveLength(2);
    await expectMigrated(c);
    expect(await versions(c)).toBe(1);
  });

  it("a concurrent rotation (real 412) re-plans and migrates the new value, not the stale one", async () => {
    const c = setup();
    const rotated = `rotated-${randomUUID()}`;
    SEEDED.push(rotated);
    // hold our role assignment PUT (after the Key Vault copy of the old value) while someone rotates the value in the portal
    const hold = env.emu.faults.add({ method: "PUT", host: "arm", path: "/providers/Microsoft.Authorization/roleAssignments/", delayMs: 300, count: 1 });
    const running = evaluate(c);
    for (let i = 0; i < 200 && !env.emu.faults.list().some((f) => f.id === hold && f.fired > 0); i++) await new Promise((r) => setTimeout(r, 5));
    const portal = env.clientsAs(PORTAL_USER).apim(SUB);
    await portal.namedValue.beginUpdateAndWait(RG, c.svc, NV, "*", { secret: true, value: rotated }, { updateIntervalInMs: 5 });
    env.emu.log.clear();
    const { action } = await running;
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(writesSeen().filter(([, method]) => method === "PATCH")).toHaveLength(2); // 412, then the re-planned PATCH
    await expectMigrated({ ...c, value: rotated });
    expect(await versions(c)).toBe(2); // the stale copy stays as an older version
  });

  it("grants off and the identity has no access: stops before any change (not-remediable, grant access)", async () => {
    const c = setup();
    env.emu.log.clear();
    const { action } = await evaluate(c, { REMEDIATOR_GRANT_KEY_VAULT_ACCESS: "false" });
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/grant access/);
    expect(action?.writes).toBe(0);
    expect(writesSeen().filter(([, method]) => method !== "POST")).toEqual([]);
    await expect(secrets().getSecret(c.secretName)).rejects.toMatchObject({ statusCode: 404 });
    await expectStillInline(c);
  });

  it("grants off and the identity can read only another secret: not-remediable before any change", async () => {
    const c = setup({ extra: () => [{ id: `${KV_ID}/secrets/other`, type: "Microsoft.KeyVault/vaults/secrets", name: `${VAULT}/other`, properties: { value: "not-this-one" } }] });
    await grantByHand(`${KV_ID}/secrets/other`, await servicePrincipal(c));
    env.emu.log.clear();
    const { action } = await evaluate(c, { REMEDIATOR_GRANT_KEY_VAULT_ACCESS: "false" });
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/grant access/);
    expect(writesSeen().filter(([, method]) => method !== "POST")).toEqual([]);
    await expectStillInline(c);
  });

  it("grants off and the identity can read the vault: migrates without a role assignment", async () => {
    const c = setup();
    await grantByHand(KV_ID, await servicePrincipal(c));
    env.emu.log.clear();
    const { action } = await evaluate(c, { REMEDIATOR_GRANT_KEY_VAULT_ACCESS: "false" });
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(writesSeen().filter(([, , path]) => /roleAssignments/i.test(path))).toEqual([]);
    await expectIntact(c);
    expect((await namedValue(c)).keyVault?.secretIdentifier).toBe(`${kvUrl}/secrets/${c.secretName}`);
  });

  it("the grant is acknowledged but lost: API Management refuses the reference, the value stays inline (failed: no grant), and the next evaluation grants and completes", async () => {
    const c = setup();
    env.emu.faults.add({ method: "PUT", host: "arm", path: "/providers/Microsoft.Authorization/roleAssignments/", swallow: true });
    env.emu.log.clear();
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("failed");
    expect(action?.reason).toMatch(/^API Management cannot read Key Vault secret '.+': the service identity has no role assignment on the secret; the named value stays inline, its value intact \(/);
    // every PATCH was refused, and nothing pointed at the unreadable secret: no rollback, no refresh, the value intact in APIM
    const nvWrites = writesSeen().filter(([host, , path]) => host === "arm" && path.toLowerCase().startsWith(c.id.toLowerCase()));
    expect(nvWrites.map(([, method, path]) => `${method} ${path.slice(c.id.length)}`).filter((w) => !/^POST \/listValue$/.test(w))).toEqual(Array(REFERENCE_ATTEMPTS).fill("PATCH "));
    await expectStillInline(c);
    expect(fp((await secrets().getSecret(c.secretName)).value)).toBe(fp(c.value)); // verified in Key Vault, recoverable
    await rerunCompletes(c);
    expect(await versions(c)).toBe(1);
  });
});

describe("a crash between steps leaves the value recoverable, and the next evaluation completes", () => {
  // REMEDIATOR_MAX_WRITES_PER_SERVICE=N stops the engine before write N+1, as a worker that died there would
  it.each([0, 1, 2])("stopped after %i write(s)", async (n) => {
    const c = setup();
    const first = await evaluate(c, { REMEDIATOR_MAX_WRITES_PER_SERVICE: String(n) });
    expect(first.action?.outcome).toBe("skipped");
    expect(first.action?.reason).toMatch(/per-service write limit/);
    expect(first.action?.writes).toBe(n);
    // recoverable: the value is still in APIM, and from write 1 on also verified in Key Vault
    await expectStillInline(c);
    if (n >= 1) expect(fp((await secrets().getSecret(c.secretName)).value)).toBe(fp(c.value));
    else await expect(secrets().getSecret(c.secretName)).rejects.toMatchObject({ statusCode: 404 });

    const again = await evaluate(c);
    expect(again.action?.outcome, again.action?.reason).toBe("applied");
    expect(again.action?.writes).toBe(3 - n);
    await expectMigrated(c);
    expect(await versions(c)).toBe(1);
  });

  it("a limit of 3 writes is exactly one whole migration", async () => {
    const c = setup();
    const { action } = await evaluate(c, { REMEDIATOR_MAX_WRITES_PER_SERVICE: "3" });
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(action?.writes).toBe(3);
    await expectMigrated(c);
  });

  it("stopped after 3 writes while API Management refuses the reference (grant lost): the value stays inline and in Key Vault, and the next evaluation completes", async () => {
    const c = setup();
    // the grant is lost, so API Management refuses the PATCH; the retry would be the 4th write, which the crash prevents
    env.emu.faults.add({ method: "PUT", host: "arm", path: "/providers/Microsoft.Authorization/roleAssignments/", swallow: true });
    const first = await evaluate(c, { REMEDIATOR_MAX_WRITES_PER_SERVICE: "3" });
    expect(first.action?.outcome).toBe("skipped");
    expect(first.action?.writes).toBe(3);
    await expectStillInline(c);
    // recoverable from Key Vault, with the same value
    expect(fp((await secrets().getSecret(c.secretName)).value)).toBe(fp(c.value));

    env.emu.faults.clear();
    const again = await evaluate(c);
    expect(again.action?.outcome, again.action?.reason).toBe("applied");
    await expectMigrated(c);
    expect(await versions(c)).toBe(1);
  });

  it("a reference that broke later (its grant removed) is repaired: grant and refresh", async () => {
    const c = setup({ brokenReference: true });
    const again = await evaluate(c);
    expect(again.result.findings.find((f) => f.resourceId.toLowerCase() === c.id.toLowerCase())?.message).toMatch(/cannot resolve/);
    expect(again.action?.plan?.operation).toBe("repair Key Vault reference");
    expect(again.action?.outcome, again.action?.reason).toBe("applied");
    await expectMigrated(c);
    expect(await versions(c)).toBe(1);
  });

  it("a broken reference that cannot be repaired (grants off) is reported, and the value stays in Key Vault", async () => {
    const c = setup({ brokenReference: true });
    const again = await evaluate(c, { REMEDIATOR_GRANT_KEY_VAULT_ACCESS: "false" });
    expect(again.action?.outcome).toBe("not-remediable");
    expect(again.action?.reason).toMatch(/grant access/);
    expect(fp((await secrets().getSecret(c.secretName)).value)).toBe(fp(c.value));
    // with grants on, it is repaired
    const third = await evaluate(c);
    expect(third.action?.outcome, third.action?.reason).toBe("applied");
    await expectMigrated(c);
  });
});

describe("prerequisites", () => {
  it("without KEY_VAULT_URL: not-remediable with the reason, nothing changed", async () => {
    const c = setup();
    env.emu.log.clear();
    const { action } = await evaluate(c, { KEY_VAULT_URL: "" });
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/KEY_VAULT_URL is not set/);
    expect(writesSeen()).toEqual([]);
    await expectStillInline(c);
  });

  it("without KEY_VAULT_RESOURCE_ID while grants are on: not-remediable, nothing changed", async () => {
    const c = setup();
    env.emu.log.clear();
    const { action } = await evaluate(c, { KEY_VAULT_RESOURCE_ID: "" });
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/KEY_VAULT_RESOURCE_ID is not set/);
    expect(writesSeen()).toEqual([]);
    await expectStillInline(c);
  });

  it.each(["off", "dry-run"])("no managed identity and managed-identity %s: not-remediable, nothing changed", async (mode) => {
    const c = setup({ identity: "none" });
    env.emu.log.clear();
    const { action, result } = await evaluate(c, { REMEDIATOR_RULE_MODES: `managed-identity=${mode}` }, [identityRule, kvRule]);
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/no managed identity: enable one/);
    expect(result.writes).toBe(0);
    expect(writesSeen()).toEqual([]);
    await expectStillInline(c);
  });

  it("in dry-run, the plan assumes the identity the managed-identity fix would create, and nothing is read or written", async () => {
    const c = setup({ identity: "none" });
    env.emu.log.clear();
    const { result, action } = await evaluate(c, { REMEDIATOR_MODE: "dry-run" }, [identityRule, kvRule]);
    expect(result.actions.map((a) => [a.ruleId, a.outcome])).toEqual([
      ["managed-identity", "planned"],
      [RULE, "planned"],
    ]);
    expect(action?.plan?.steps).toContain("grant the system-assigned identity 'Key Vault Secrets User' on that secret");
    expect(env.emu.log.list().filter((l) => l.method !== "GET")).toEqual([]);
    await expectStillInline(c);
  });

  it("no managed identity and managed-identity enforced: the identity is added first, then the migration runs in the same evaluation", async () => {
    const c = setup({ identity: "none" });
    const { result, action } = await evaluate(c, {}, [kvRule, identityRule]);
    expect(result.actions.map((a) => [a.ruleId, a.outcome])).toEqual([
      ["managed-identity", "applied"],
      [RULE, "applied"],
    ]);
    expect(action?.reason).toBeUndefined();
    await expectMigrated(c);
  });
});

describe("only the configured vault, only this named value's secret, never a stale copy (issue 15)", () => {
  const SECRET_TYPE = "Microsoft.KeyVault/vaults/secrets";
  const otherUrl = () => env.emu.keyVaults[OTHER_VAULT] as string;
  const vaultTraffic = (vault: string) => env.emu.log.list().filter((l) => l.host === `vault:${vault}`);
  const grantsWritten = () => writesSeen().filter(([, method, path]) => method === "PUT" && /roleAssignments/i.test(path));

  /**
   * A person who may write named values points this one at a secret of their choosing. API Management only takes a
   * reference its identity can read at that moment, so they grant themselves that access for the write and it is gone
   * again afterwards (revoked, or it was someone else's temporary grant): the reference stays, and no longer resolves.
   */
  async function pointAt(c: Case, secretIdentifier: string, vaultId: string): Promise<void> {
    const scope = `${vaultId}/secrets/${/\/secrets\/([^/]+)/.exec(secretIdentifier)?.[1] ?? ""}`;
    const principal = await servicePrincipal(c);
    const temporary = await env.clients.authorization(SUB).roleAssignments.create(scope, randomUUID(), { roleDefinitionId: roleDef(SECRETS_USER_ROLE), principalId: principal, principalType: "ServicePrincipal" });
    await env.clientsAs(PORTAL_USER).apim(SUB).namedValue.beginCreateOrUpdateAndWait(RG, c.svc, NV, { displayName: DISPLAY, secret: true, keyVault: { secretIdentifier } }, { ifMatch: "*", updateIntervalInMs: 5 });
    await env.clients.authorization(SUB).roleAssignments.deleteById(temporary.id as string);
    await env.clientsAs(PORTAL_USER).apim(SUB).namedValue.beginRefreshSecretAndWait(RG, c.svc, NV, { updateIntervalInMs: 5 });
  }

  it("a reference into a vault that is not the configured one is reported, and that vault is never contacted, granted on or copied from", async () => {
    const stolen = `other-team-${randomUUID()}`;
    SEEDED.push(stolen);
    const c = setup({
      extra: () => [
        { id: OTHER_KV_ID, type: "Microsoft.KeyVault/vaults", name: OTHER_VAULT, location: "westeurope", properties: { enableRbacAuthorization: true } },
        roleAssignment(OTHER_KV_ID, SECRETS_OFFICER, REMEDIATOR),
        { id: `${OTHER_KV_ID}/secrets/payroll-db`, type: SECRET_TYPE, name: `${OTHER_VAULT}/payroll-db`, properties: { value: stolen } },
      ],
    });
    await pointAt(c, `${otherUrl()}/secrets/payroll-db`, OTHER_KV_ID);
    expect((await namedValue(c)).keyVault?.lastStatus?.code).not.toBe("Success"); // the service may not read it
    env.emu.log.clear();
    const { action, result } = await evaluate(c);
    expect(result.findings.find((f) => f.resourceId.toLowerCase() === c.id.toLowerCase())?.status).toBe("fail");
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/not the configured Key Vault/);
    expect(vaultTraffic(OTHER_VAULT)).toEqual([]);
    expect(grantsWritten()).toEqual([]);
    expect(writesSeen().filter(([host]) => host === "arm")).toEqual([]);
    await expect(listValue(c)).rejects.toMatchObject({ statusCode: 400 }); // still not resolvable: nothing was opened up
  });

  it("a reference to another service's migrated secret in the configured vault gets no grant", async () => {
    const victim = `victim-${randomUUID()}`;
    SEEDED.push(victim);
    const victimService = serviceId("apim-victim");
    const c = setup({
      extra: () => [{ id: `${KV_ID}/secrets/apim-victim-key`, type: SECRET_TYPE, name: `${VAULT}/apim-victim-key`, tags: { [TAG_SERVICE]: victimService, [TAG_NAMED_VALUE]: "key" }, properties: { value: victim } }],
    });
    await pointAt(c, `${kvUrl}/secrets/apim-victim-key`, KV_ID);
    env.emu.log.clear();
    const { action } = await evaluate(c);
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/not this named value's/);
    expect(grantsWritten()).toEqual([]);
    expect(writesSeen().filter(([host]) => host === "arm")).toEqual([]);
    await expect(listValue(c)).rejects.toMatchObject({ statusCode: 400 });
  });

  /**
   * Issue 17: a reference re-pointed between the plan and the apply (a person, or another tool, writes the named value while
   * the fix runs) is judged as it is then: nothing is granted unless the reference names a secret of this named value in
   * the configured vault. `during` runs when the engine records its intent, just before the fix's first request.
   */
  /** Every role assignment the service identity holds in the subscription (either vault, any secret). */
  async function grantsOf(c: Case): Promise<string[]> {
    const held: string[] = [];
    for await (const ra of env.clients.authorization(SUB).roleAssignments.listForScope(`/subscriptions/${SUB}`, { filter: `principalId eq '${await servicePrincipal(c)}'` })) held.push(ra.scope ?? "");
    return held;
  }

  const otherVault = { id: OTHER_KV_ID, type: "Microsoft.KeyVault/vaults", name: OTHER_VAULT, location: "westeurope", properties: { enableRbacAuthorization: true } };

  async function evaluateRepointed(c: Case, during: () => Promise<void>): Promise<{ action: ActionResult | undefined; byRemediator: Array<[string, string, string]> }> {
    let seq = -1;
    const e = engineFor(env.emu, { KEY_VAULT_URL: kvUrl, KEY_VAULT_RESOURCE_ID: KV_ID }, undefined, {
      wrapAudit: (memory) => ({
        async write(r) {
          if (r.outcome === "started" && seq < 0) {
            await during();
            seq = Math.max(0, ...env.emu.log.list().map((l) => l.seq));
          }
          return memory.write(r);
        },
      }),
    });
    const result = await e.engine.evaluate(c.serviceId, { rules: [kvRule] });
    OUTPUTS.push(JSON.stringify(result), JSON.stringify(e.audit.records), e.logLines.join("\n"));
    expect(seq, "the fix started").toBeGreaterThanOrEqual(0);
    const byRemediator = env.emu.log
      .list()
      // writes only: a GET, or the POST that reads a named value's value (listValue), changes nothing
      .filter((l) => l.seq > seq && l.principal === REMEDIATOR && l.method !== "GET" && !/\/listValue$/i.test(l.path.split("?")[0] ?? ""))
      .map((l): [string, string, string] => [l.host, l.method, l.path.split("?")[0] as string]);
    return { action: result.actions.find((a) => a.ruleId === RULE && a.resourceId.toLowerCase() === c.id.toLowerCase()), byRemediator };
  }

  it("a named value pointed into another vault while its migration starts gets no grant anywhere, and is not written", async () => {
    const stolen = `other-team-${randomUUID()}`;
    SEEDED.push(stolen);
    const c = setup({
      extra: () => [otherVault, roleAssignment(OTHER_KV_ID, SECRETS_OFFICER, REMEDIATOR), { id: `${OTHER_KV_ID}/secrets/payroll-db`, type: SECRET_TYPE, name: `${OTHER_VAULT}/payroll-db`, properties: { value: stolen } }],
    });
    const { action, byRemediator } = await evaluateRepointed(c, () => pointAt(c, `${otherUrl()}/secrets/payroll-db`, OTHER_KV_ID));
    expect(action?.outcome, action?.reason).toBe("not-remediable");
    expect(action?.reason).toMatch(/now points into .* not the configured Key Vault/);
    // no role assignment (not on the configured vault under the migration's name, not on the other vault), no named value write
    expect(byRemediator.filter(([, , path]) => /roleAssignments|namedValues/i.test(path))).toEqual([]);
    expect(byRemediator.filter(([host]) => host === `vault:${OTHER_VAULT}`)).toEqual([]);
    expect(await grantsOf(c)).toEqual([]);
    expect((await namedValue(c)).keyVault?.secretIdentifier).toBe(`${otherUrl()}/secrets/payroll-db`); // left as the person set it
  });

  it("a broken reference re-pointed into another vault while its repair starts is not repaired: no grant, never written inline", async () => {
    const stolen = `other-team-${randomUUID()}`;
    SEEDED.push(stolen);
    const c = setup({
      brokenReference: true,
      extra: () => [otherVault, roleAssignment(OTHER_KV_ID, SECRETS_OFFICER, REMEDIATOR), { id: `${OTHER_KV_ID}/secrets/payroll-db`, type: SECRET_TYPE, name: `${OTHER_VAULT}/payroll-db`, properties: { value: stolen } }],
    });
    const { action, byRemediator } = await evaluateRepointed(c, () => pointAt(c, `${otherUrl()}/secrets/payroll-db`, OTHER_KV_ID));
    expect(action?.plan?.operation).toBe("repair Key Vault reference");
    expect(action?.outcome, action?.reason).toBe("not-remediable");
    expect(action?.reason).toMatch(/now points into .* not the configured Key Vault/);
    expect(byRemediator).toEqual([]); // no grant, no named value write (no rollback to an inline value), nothing in either vault
    expect(await grantsOf(c)).toEqual([]);
    const nv = await namedValue(c);
    expect(nv.value).toBeUndefined();
    expect(nv.keyVault?.secretIdentifier).toBe(`${otherUrl()}/secrets/payroll-db`);
  });

  it("a secret of the migration's name that holds another owner's value is never overwritten", async () => {
    const c = setup({ vaultSecret: () => `someone-elses-${randomUUID()}`, vaultSecretTags: () => ({ owner: "payments-team" }) });
    env.emu.log.clear();
    const { action } = await evaluate(c);
    expect(action?.outcome).toBe("not-remediable");
    expect(action?.reason).toMatch(/not overwritten/);
    expect(writesSeen().filter(([host]) => host.startsWith("vault:"))).toEqual([]);
    expect(await versions(c)).toBe(1);
    await expectStillInline(c);
  });

  it("names are unique per service and named value: 'x' + 'db-password' and 'x-db' + 'password' keep their own secrets", async () => {
    const valueB = `kvmig-b-${randomUUID()}`;
    SEEDED.push(valueB);
    let svcB = "";
    const c = setup({
      extra: (x) => {
        svcB = `${x.svc}-db`;
        return [service(svcB, {}, identityOf("system")), child(svcB, "namedValues/password", NV_TYPE, { displayName: "password", secret: true, value: valueB })];
      },
    });
    expect(secretNameFor(c.svc, NV)).not.toBe(secretNameFor(svcB, "password"));
    expect((await evaluate(c)).action?.outcome).toBe("applied");
    const b = await engineFor(env.emu, { KEY_VAULT_URL: kvUrl, KEY_VAULT_RESOURCE_ID: KV_ID }).engine.evaluate(serviceId(svcB), { rules: [kvRule] });
    expect(b.actions.map((a) => a.outcome)).toEqual(["applied"]);
    // each resolves to its own value: the second migration did not write over the first one's secret
    expect(fp(await listValue(c))).toBe(fp(c.value));
    expect(fp((await apim().namedValue.listValue(RG, svcB, "password")).value)).toBe(fp(valueB));
    expect(await versions(c)).toBe(1);
  });

  it("a rotation between the ETag read and the value read is migrated, not reverted to the stale value", async () => {
    const c = setup();
    const rotated = `rotated-early-${randomUUID()}`;
    SEEDED.push(rotated);
    // hold the migration's GET of the named value (its ETag) while someone rotates the value in the portal
    const hold = env.emu.faults.add({ method: "GET", host: "arm", pathRegex: `/namedValues/${NV}\\?`, delayMs: 1500, count: 1 });
    const running = evaluate(c);
    for (let i = 0; i < 400 && !env.emu.faults.list().some((f) => f.id === hold && f.fired > 0); i++) await new Promise((r) => setTimeout(r, 5));
    await env.clientsAs(PORTAL_USER).apim(SUB).namedValue.beginUpdateAndWait(RG, c.svc, NV, "*", { secret: true, value: rotated }, { updateIntervalInMs: 5 });
    const { action } = await running;
    expect(action?.outcome, action?.reason).toBe("applied");
    await expectMigrated({ ...c, value: rotated });
  });
});

describe("a grant takes minutes to apply (issue 16: role assignment propagation)", () => {
  // the emulator applies a new role assignment `propagationMs` after it was made (emulator/profile.ts); back to at once after each case
  afterEach(() => env.emu.setTiming({ propagationMs: 0, referenceRefreshMs: 0 }));

  const patches = () => env.emu.log.list().filter((l) => l.method === "PATCH" && l.path.split("?")[0]?.toLowerCase().endsWith(`/namedvalues/${NV}`));
  /** How the emulator answered each poll of the named value's writes: 202 accepted, then 200 done or 400 refused. */
  const refusedPolls = () => env.emu.log.list().filter((l) => l.method === "GET" && /asyncId=/.test(l.path) && l.status === 400);

  it("while the new grant is not in effect the named value stays inline (in progress, not failed); once it is, the next evaluation migrates it", async () => {
    const c = setup();
    env.emu.setTiming({ propagationMs: 10 * 60_000 }); // minutes, as in Azure: not within this evaluation
    env.emu.log.clear();
    const first = await evaluate(c);
    expect(first.action?.outcome, first.action?.reason).toBe("in-progress");
    expect(first.action?.reason).toMatch(/^in progress: waiting for the role assignment to take effect \(granted [0-9T:.-]+Z\): API Management cannot read Key Vault secret '.+' yet; the named value stays inline, its value intact; the next evaluation continues \(.+\)$/);
    // tried within bounds, refused each time, and never pointed at the secret the service cannot read yet
    expect(patches()).toHaveLength(REFERENCE_ATTEMPTS);
    expect(refusedPolls()).toHaveLength(REFERENCE_ATTEMPTS);
    await expectStillInline(c);
    expect(fp((await secrets().getSecret(c.secretName)).value)).toBe(fp(c.value)); // and verified in Key Vault
    // an action in progress is left alone by ticketing (no ticket opened or closed meanwhile)
    const { exemptedFingerprints } = await import("../../src/tickets/manager.js");
    expect(exemptedFingerprints(first.result.findings, first.result.actions)).toHaveLength(1);

    env.emu.setTiming({ propagationMs: 0 }); // the minutes have passed
    env.emu.log.clear();
    const second = await evaluate(c);
    expect(second.action?.outcome, second.action?.reason).toBe("applied");
    expect(second.action?.writes).toBe(1); // the PATCH: the secret is reused and the grant is there
    await expectMigrated(c);
    expect(await versions(c)).toBe(1);
  });

  it("a grant that takes effect while the migration waits is migrated in the same evaluation, after refused attempts", async () => {
    const c = setup();
    env.emu.setTiming({ propagationMs: 400 });
    // a real sleep between the PATCH attempts (200, 400, 800 ms): the grant takes effect during them
    const e = engineFor(env.emu, { KEY_VAULT_URL: kvUrl, KEY_VAULT_RESOURCE_ID: KV_ID }, undefined, { timings: { sleep: (ms) => new Promise((r) => setTimeout(r, ms)), pollIntervalMs: 200 } });
    env.emu.log.clear();
    const result = await e.engine.evaluate(c.serviceId, { rules: [kvRule] });
    const action = result.actions.find((a) => a.ruleId === RULE);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(patches().length).toBeGreaterThan(1);
    expect(refusedPolls()).toHaveLength(patches().length - 1); // every attempt before the last was refused, and changed nothing
    await expectMigrated(c);
  });

  it("a grant older than the propagation window that still does not work is a failure naming what to check, the value inline", async () => {
    const made = new Date(Date.now() - PROPAGATION_WINDOW_MS - 60 * 60_000).toISOString();
    const c = setup({
      vaultSecret: (x) => x.value,
      extra: (x) => {
        // the grant the remediator made earlier (its deterministic name), long enough ago that propagation cannot explain it
        const scope = `${KV_ID}/secrets/${x.secretName}`;
        const principal = guidFrom(`${idKey(x.serviceId)}#system`);
        const name = assignmentName(scope, principal, SECRETS_USER_ROLE);
        return [{ id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`, type: "Microsoft.Authorization/roleAssignments", name, properties: { roleDefinitionId: roleDef(SECRETS_USER_ROLE), principalId: principal, principalType: "ServicePrincipal", scope, createdOn: made } }];
      },
    });
    env.emu.setTiming({ propagationMs: 24 * 3_600_000 }); // not in effect, for whatever reason (a deny assignment, a network rule…)
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("failed");
    expect(action?.reason).toContain(`although the role assignment exists since ${made}: not propagation; check deny assignments, the vault's network rules and the identity; the named value stays inline, its value intact`);
    await expectStillInline(c);
  });

  it("a reference being repaired while its new grant propagates: in progress, then repaired", async () => {
    const c = setup({ brokenReference: true });
    // API Management refreshes a reference by itself only every 4 hours: the reference does not heal on its own here
    env.emu.setTiming({ propagationMs: 10 * 60_000, referenceRefreshMs: 4 * 3_600_000 });
    const first = await evaluate(c);
    expect(first.action?.plan?.operation).toBe("repair Key Vault reference");
    expect(first.action?.outcome, first.action?.reason).toBe("in-progress");
    expect(first.action?.reason).toMatch(/^in progress: waiting for the role assignment to take effect/);
    env.emu.setTiming({ propagationMs: 0 });
    const second = await evaluate(c);
    expect(second.action?.outcome, second.action?.reason).toBe("applied");
    await expectMigrated(c);
  });
});

describe("a ReadOnly lock refuses the grant (issue 16: ScopeLocked is not RoleAssignmentExists)", () => {
  const lock = (scope: string) => ({ id: `${scope}/providers/Microsoft.Authorization/locks/freeze`, type: "Microsoft.Authorization/locks", name: "freeze", properties: { level: "ReadOnly" } });

  it.each([
    ["the vault", KV_ID],
    ["its resource group", `/subscriptions/${SUB}/resourceGroups/${RG}`],
  ])("a ReadOnly lock on %s: not remediable with the lock named, no grant, the named value unchanged", async (_what, scope) => {
    // a lock on the resource group also locks the service: the migration's named value write would be refused too, after the grant
    const c = setup({ extra: () => [lock(scope)] });
    env.emu.log.clear();
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("not-remediable");
    // the vault's lock refuses the grant; the resource group's also locks the service, whose listValue (a POST) it refuses first
    expect(action?.reason).toMatch(scope === KV_ID ? /^a lock refuses the role assignment on Key Vault secret '.+' \(The scope '.+' cannot perform write operation because following scope\(s\) are locked: / : /ScopeLocked.*cannot perform write operation because following scope\(s\) are locked/);
    expect(action?.reason).toContain(`'${scope}'`);
    expect(env.emu.log.list().filter((l) => l.method === "PATCH")).toEqual([]);
    const grants = [];
    for await (const ra of env.clients.authorization(SUB).roleAssignments.listForScope(KV_ID, { filter: `principalId eq '${await servicePrincipal(c)}'` })) grants.push(ra);
    expect(grants).toEqual([]);
    if (scope === KV_ID) await expectStillInline(c);
    else expect((await namedValue(c)).keyVault).toBeUndefined(); // listValue is a POST: the lock refuses it to the test too
  });

  it("the same role already granted under another name (409 RoleAssignmentExists) is access: migrated", async () => {
    const c = setup({ vaultSecret: (x) => x.value });
    await grantByHand(`${KV_ID}/secrets/${c.secretName}`, await servicePrincipal(c));
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(fp(await listValue(c))).toBe(fp(c.value));
  });
});

describe("Key Vault soft delete (issue 16: a deleted-but-recoverable name)", () => {
  /** Writes a secret under the migration's name as someone with delete rights (the estate's Secrets Officer), then soft-deletes it. */
  async function softDeleted(name: string, value: string, tags: Record<string, string>): Promise<void> {
    SEEDED.push(value);
    await secrets().setSecret(name, value, { tags, contentType: "text/plain" });
    await (await secrets().beginDeleteSecret(name, { intervalInMs: 5 })).pollUntilDone({ abortSignal: AbortSignal.timeout(10_000) });
  }
  const recovers = () => env.emu.log.list().filter((l) => l.method === "POST" && /\/deletedsecrets\/[^/]+\/recover/i.test(l.path));

  it("the name is soft-deleted and was this named value's: it is recovered, reused, and the migration completes", async () => {
    const c = setup();
    await softDeleted(c.secretName, c.value, ownerTags(c.serviceId, NV));
    env.emu.log.clear();
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    expect(recovers()).toHaveLength(1);
    await expectMigrated(c);
    expect(await versions(c)).toBe(1); // the recovered version holds the value: no new one
  });

  it("recovered with an older value of ours: a new version is added", async () => {
    const c = setup();
    await softDeleted(c.secretName, `older-${randomUUID()}`, ownerTags(c.serviceId, NV));
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    await expectMigrated(c);
    expect(await versions(c)).toBe(2);
  });

  it("the name is soft-deleted and another owner's: left as it is (recovered, never overwritten), the migration uses the next name, and stays there", async () => {
    const c = setup();
    const theirs = `theirs-${randomUUID()}`;
    await softDeleted(c.secretName, theirs, { owner: "payments-team" });
    const next = secretNameFor(c.svc, NV, 1);
    expect(next).toBe(`${c.secretName}-2`);
    const { action } = await evaluate(c);
    expect(action?.outcome, action?.reason).toBe("applied");
    await expectMigrated({ ...c, secretName: next });
    // theirs is untouched: same value, same tags, one version
    const kept = await secrets().getSecret(c.secretName);
    expect(fp(kept.value)).toBe(fp(theirs));
    expect(kept.properties.tags).toEqual({ owner: "payments-team" });
    expect(await versions(c)).toBe(1);

    env.emu.log.clear();
    const again = await evaluate(c);
    expect(again.result.writes).toBe(0);
    expect(writesSeen()).toEqual([]);
  });

  it("stopped after moving on to the next name, the next evaluation finds its secret there (the first name now holds the other owner's)", async () => {
    const c = setup();
    await softDeleted(c.secretName, `theirs-${randomUUID()}`, { owner: "payments-team" });
    // writes: the refused set (1), the recover (2), the set under the next name (3); the grant would be the 4th
    const first = await evaluate(c, { REMEDIATOR_MAX_WRITES_PER_SERVICE: "3" });
    expect(first.action?.outcome).toBe("skipped");
    await expectStillInline(c);
    const again = await evaluate(c);
    expect(again.action?.outcome, again.action?.reason).toBe("applied");
    await expectMigrated({ ...c, secretName: secretNameFor(c.svc, NV, 1) });
  });
});

describe("secret hygiene", () => {
  it("dry-run plans say what will happen without reading or carrying the value", async () => {
    const c = setup();
    env.emu.log.clear();
    const { action } = await evaluate(c, { REMEDIATOR_MODE: "dry-run" });
    expect(action?.outcome).toBe("planned");
    expect(action?.plan?.steps?.length).toBeGreaterThan(3);
    expect(env.emu.log.list().filter((l) => /listValue/i.test(l.path))).toEqual([]);
    await expectStillInline(c);
  });

  it("a service error that echoes the value does not carry it into results, audit records or logs", async () => {
    const c = setup();
    env.emu.faults.add({ method: "PUT", host: `vault:${VAULT}`, path: `/secrets/${c.secretName}`, status: 400, code: "BadParameter", message: `The secret value '${c.value}' is not acceptable.` });
    const { action } = await evaluate(c, {}, [kvRule], { allowRedaction: true });
    expect(["failed", "rolled-back"]).toContain(action?.outcome);
    expect(action?.reason).toContain(CENSOR);
    await expectStillInline(c);
  });

  it("no seeded value appeared in any result, audit record, log line, reason or error of this file, nor in the emulator's request log or events", () => {
    // every evaluation above already checked its own output; this sweeps them all again against every value seeded in the file
    for (const o of OUTPUTS) expectClean(o, "a product output", true);
    expectClean(JSON.stringify(env.emu.log.list()), "the emulator request log");
    expectClean(JSON.stringify(env.emu.events.list(0)), "the emulator events");
  });
});
