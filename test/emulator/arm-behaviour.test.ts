/**
 * The emulator reproduces ARM's behaviour as the REAL, unmodified Azure SDK
 * clients see it: LROs, PATCH semantics, paging, ETags, locks, auth and
 * errors, throttling, faults, role assignments and discovery. Everything goes
 * over HTTPS through the product's own client factory; the only raw HTTPS
 * requests are the protocol checks the SDK cannot make (no token, no
 * api-version) and one call of the admin API.
 */
import { request } from "node:https";
import { getContinuationToken } from "@azure/arm-apimanagement";
import type { FullOperationResponse } from "@azure/core-client";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClients, LocalTokenCredential } from "../../src/azure/clients.js";
import { loadConfig } from "../../src/common/config.js";
import { child, PORTAL_USER, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, SUB2, type TestEnv } from "../helpers/emulator.js";

const TLS = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols";
const BACKEND = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols";
const CIPHERS = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers";
const PROTOCOL_KEYS = [`${TLS}.Tls10`, `${TLS}.Tls11`, `${TLS}.Ssl30`, `${BACKEND}.Tls10`, `${BACKEND}.Tls11`, `${BACKEND}.Ssl30`, `${CIPHERS}.TripleDes168`];

const LOCK_RG = "rg-locked";
const KV_RG = "rg-kv";
const VAULT_ID = `/subscriptions/${SUB}/resourceGroups/${KV_RG}/providers/Microsoft.KeyVault/vaults/kv-arm`;
const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";
const APP_PRINCIPAL = "5a5a5a5a-0000-4000-8000-000000000001";

function api(svc: string, name: string, extra: Record<string, unknown> = {}, rg = RG, sub = SUB): Record<string, unknown> {
  return child(svc, `apis/${name}`, "Microsoft.ApiManagement/service/apis", { displayName: name, path: name.split(";")[0], protocols: ["https"], isCurrent: !name.includes(";rev="), apiRevision: name.includes(";rev=") ? name.split("=")[1] : "1", ...extra }, rg, sub);
}

function estate(): Array<Record<string, unknown>> {
  const many = Array.from({ length: 249 }, (_, i) => api("apim-many", `api-${String(i).padStart(3, "0")}`));
  return [
    service("apim-lro"),
    api("apim-lro", "echo"),
    service("apim-modern", { createdAtUtc: "2023-05-01T00:00:00Z" }),
    service("apim-legacy", { createdAtUtc: "2018-03-15T00:00:00Z" }),
    service("apim-many"),
    api("apim-many", "echo"),
    api("apim-many", "echo;rev=2", { apiRevisionDescription: "second" }),
    ...many,
    service("apim-etag"),
    api("apim-etag", "echo"),
    service("apim-locked", {}, {}, LOCK_RG, SUB2),
    api("apim-locked", "echo", {}, LOCK_RG, SUB2),
    child("apim-locked", "namedValues/nv-secret", "Microsoft.ApiManagement/service/namedValues", { displayName: "nv-secret", secret: true, value: "s3cr3t" }, LOCK_RG, SUB2),
    service("apim-other", {}, {}, "rg-other"),
    { id: VAULT_ID, type: "Microsoft.KeyVault/vaults", name: "kv-arm", location: "westeurope", properties: { enableRbacAuthorization: true, tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", sku: { family: "A", name: "standard" } } },
  ];
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | undefined;
}

/** One raw HTTPS request (trusting only the emulator's CA) for checks the SDK cannot make. */
function raw(env: TestEnv, method: string, url: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers["authorization"] = `Bearer ${options.token}`;
  if (payload !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, ca: env.emu.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

async function tokenFor(principal: string): Promise<string> {
  return (await new LocalTokenCredential(principal).getToken("https://management.azure.com/.default")).token;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Records every attempt on the wire (after the retry policy), without changing anything. */
function observeWire(client: { pipeline: { addPolicy(p: PipelinePolicy, o?: { afterPhase?: "Retry" }): void } }): Array<{ method: string; url: string; status: number; headers: Record<string, string> }> {
  const seen: Array<{ method: string; url: string; status: number; headers: Record<string, string> }> = [];
  client.pipeline.addPolicy(
    {
      name: "test-observe-wire",
      async sendRequest(req, next) {
        const res = await next(req);
        seen.push({ method: req.method, url: req.url, status: res.status, headers: res.headers.toJSON() });
        return res;
      },
    },
    { afterPhase: "Retry" },
  );
  return seen;
}

function logSince(env: TestEnv, seq: number) {
  return env.emu.log.list().filter((e) => e.seq > seq);
}

function lastSeq(env: TestEnv): number {
  return env.emu.log.list().at(-1)?.seq ?? 0;
}

describe("emulator ARM behaviour through the real SDK", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(estate(), { lroDurationMs: 0 });
  });
  afterAll(async () => env.emu.stop());

  describe("long-running service PATCH", () => {
    it("answers 202 with polling headers, shows Updating, blocks writes, and the poller returns the final resource", async () => {
      const apim = env.clients.apim(SUB);
      env.emu.setLroDuration(600);
      try {
        const responses: FullOperationResponse[] = [];
        const seq = lastSeq(env);
        const poller = await apim.apiManagementService.beginUpdate(RG, "apim-lro", { tags: { owner: "lro-test" } }, { updateIntervalInMs: 20, onResponse: (r) => void responses.push(r) });

        const initial = responses[0];
        expect(initial?.request.method).toBe("PATCH");
        expect(initial?.status).toBe(202);
        const asyncOp = initial?.headers.get("azure-asyncoperation") ?? "";
        const location = initial?.headers.get("location") ?? "";
        expect(asyncOp.startsWith(`${env.emu.armEndpoint}${serviceId("apim-lro")}/operationResults/`)).toBe(true);
        expect(location.startsWith(`${env.emu.armEndpoint}${serviceId("apim-lro")}/operationResults/`)).toBe(true);
        // no Retry-After: Azure sends none on service operations (recorded: test/fixtures/recordings/azure-cli, core #1, #77, #336); pollers use their own interval
        expect(initial?.headers.get("retry-after")).toBeUndefined();

        // while the operation runs the service reports Updating, and ARM refuses other writes
        const during = await apim.apiManagementService.get(RG, "apim-lro");
        expect(during.provisioningState).toBe("Updating");
        await expect(apim.api.update(RG, "apim-lro", "echo", "*", { displayName: "changed" })).rejects.toMatchObject({ statusCode: 409, code: "PessimisticConcurrencyConflict" });
        await expect(apim.apiManagementService.beginUpdate(RG, "apim-lro", { tags: { owner: "second" } }, { updateIntervalInMs: 20 })).rejects.toMatchObject({
          statusCode: 409,
          code: "PessimisticConcurrencyConflict",
        });

        const final = await poller.pollUntilDone();
        expect(final.provisioningState).toBe("Succeeded");
        expect(final.tags).toEqual({ owner: "lro-test" });

        // the poller polled the operation (InProgress at least once) and then fetched the resource
        const first = logSince(env, seq)[0];
        expect([first?.method, first?.status]).toEqual(["PATCH", 202]);
        const polls = logSince(env, seq).filter((e) => e.method === "GET" && /\/operationResults\//i.test(e.path));
        expect(polls.length).toBeGreaterThanOrEqual(2);
        expect(polls.every((e) => e.status === 200)).toBe(true);
        expect((await apim.apiManagementService.get(RG, "apim-lro")).provisioningState).toBe("Succeeded");
        // writes work again once the operation finished
        await expect(apim.api.update(RG, "apim-lro", "echo", "*", { displayName: "after" })).resolves.toMatchObject({ displayName: "after" });
      } finally {
        env.emu.setLroDuration(0);
      }
    });
  });

  describe("customProperties PATCH semantics", () => {
    const svc = (name: string) => env.clients.apim(SUB).apiManagementService.get(RG, name);

    it("a PATCH with one TLS key resets the omitted keys to False on a service created after 2018-04-01", async () => {
      const apim = env.clients.apim(SUB);
      // first make every protocol key True, then PATCH only Tls10
      await apim.apiManagementService.beginUpdateAndWait(RG, "apim-modern", { customProperties: Object.fromEntries(PROTOCOL_KEYS.map((k) => [k, "True"])) }, { updateIntervalInMs: 10 });
      expect((await svc("apim-modern")).customProperties?.[`${TLS}.Tls11`]).toBe("True");
      await apim.apiManagementService.beginUpdateAndWait(RG, "apim-modern", { customProperties: { [`${TLS}.Tls10`]: "False" } }, { updateIntervalInMs: 10 });
      const after = (await svc("apim-modern")).customProperties ?? {};
      for (const k of PROTOCOL_KEYS) expect([k, after[k]]).toEqual([k, "False"]);
    });

    it("on a service created on or before 2018-04-01 the omitted keys default to True", async () => {
      const apim = env.clients.apim(SUB);
      await apim.apiManagementService.beginUpdateAndWait(RG, "apim-legacy", { customProperties: { [`${TLS}.Tls10`]: "False" } }, { updateIntervalInMs: 10 });
      const after = (await svc("apim-legacy")).customProperties ?? {};
      expect(after[`${TLS}.Tls10`]).toBe("False");
      for (const k of PROTOCOL_KEYS.filter((k) => k !== `${TLS}.Tls10`)) expect([k, after[k]]).toEqual([k, "True"]);
    });

    it("a PATCH with the full merged map keeps every key", async () => {
      const apim = env.clients.apim(SUB);
      const current = (await svc("apim-legacy")).customProperties ?? {};
      const merged = { ...current, [`${TLS}.Tls11`]: "False" };
      await apim.apiManagementService.beginUpdateAndWait(RG, "apim-legacy", { customProperties: merged }, { updateIntervalInMs: 10 });
      const after = (await svc("apim-legacy")).customProperties ?? {};
      expect(after).toEqual(merged);
      expect(after[`${TLS}.Tls10`]).toBe("False");
      expect(after[`${TLS}.Ssl30`]).toBe("True");
    });
  });

  describe("paging", () => {
    it("lists all 251 APIs (250 and a second revision) over 3 pages of 100, following absolute nextLinks", async () => {
      const seq = lastSeq(env);
      const apis = await collect(env.clients.apim(SUB).api.listByService(RG, "apim-many"));
      expect(apis).toHaveLength(251);
      expect(new Set(apis.map((a) => a.name)).size).toBe(251);
      // Azure's API list holds the other revisions too (recorded: test/fixtures/recordings/azure-cli, api #27 lists api-id;rev=2)
      expect(apis.filter((a) => a.name?.includes(";rev=")).map((a) => a.name)).toEqual(["echo;rev=2"]);
      const pages = logSince(env, seq).filter((e) => e.method === "GET" && /\/service\/apim-many\/apis\?/i.test(e.path));
      expect(pages.map((p) => p.status)).toEqual([200, 200, 200]);
      expect(pages[1]?.path).toMatch(/(\$|%24)skip=100/);
      expect(pages[2]?.path).toMatch(/(\$|%24)skip=200/);
    });

    it("returns nextLink as an absolute URL on the emulator's origin", async () => {
      const pages = env.clients.apim(SUB).api.listByService(RG, "apim-many").byPage();
      const first = await pages.next();
      expect((first.value as unknown[]).length).toBe(100);
      const next = getContinuationToken(first.value);
      expect(next?.startsWith(`${env.emu.armEndpoint}/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/apim-many/apis?`)).toBe(true);
      // resuming from the token alone gives the remaining 151
      let rest = 0;
      for await (const page of env.clients.apim(SUB).api.listByService(RG, "apim-many").byPage({ continuationToken: next })) rest += page.length;
      expect(rest).toBe(151);
    });

    it("serves a non-current revision by GET and from the revisions list", async () => {
      const apim = env.clients.apim(SUB);
      const rev = await apim.api.get(RG, "apim-many", "echo;rev=2");
      expect(rev.name).toBe("echo;rev=2");
      expect(rev.isCurrent).toBe(false);
      const revisions = await collect(apim.apiRevision.listByService(RG, "apim-many", "echo"));
      expect(revisions.map((r) => r.apiRevision).sort()).toEqual(["1", "2"]);
      expect(revisions.find((r) => r.apiRevision === "1")?.isCurrent).toBe(true);
      expect(revisions.find((r) => r.apiRevision === "2")?.isCurrent).toBe(false);
    });
  });

  describe("ETags", () => {
    it("changes the ETag on every write and enforces If-Match on api PATCH", async () => {
      const apim = env.clients.apim(SUB);
      const first = (await apim.api.getEntityTag(RG, "apim-etag", "echo")).eTag ?? "";
      expect(first).not.toBe("");
      const updated = await apim.api.update(RG, "apim-etag", "echo", first, { displayName: "v2" });
      expect(updated.eTag).toBeDefined();
      expect(updated.eTag).not.toBe(first);
      const second = (await apim.api.get(RG, "apim-etag", "echo")).eTag;
      expect(second).toBe(updated.eTag);

      await expect(apim.api.update(RG, "apim-etag", "echo", first, { displayName: "stale" })).rejects.toMatchObject({ statusCode: 412, code: "PreconditionFailed" });
      expect((await apim.api.get(RG, "apim-etag", "echo")).displayName).toBe("v2");

      const forced = await apim.api.update(RG, "apim-etag", "echo", "*", { displayName: "v3" });
      expect(forced.displayName).toBe("v3");
      expect(forced.eTag).not.toBe(second);
    });

    it("changes the service ETag on a PATCH", async () => {
      const apim = env.clients.apim(SUB);
      const before = (await apim.apiManagementService.get(RG, "apim-etag")).etag;
      await apim.apiManagementService.beginUpdateAndWait(RG, "apim-etag", { tags: { x: "1" } }, { updateIntervalInMs: 10 });
      const after = (await apim.apiManagementService.get(RG, "apim-etag")).etag;
      expect(before).toBeDefined();
      expect(after).not.toBe(before);
    });

    it("tenant access PATCH needs If-Match: missing -> 400, stale -> 412, current -> 204/200", async () => {
      const apim = env.clients.apim(SUB);
      const etag = (await apim.tenantAccess.getEntityTag(RG, "apim-etag", "access")).eTag ?? "";
      await expect(apim.tenantAccess.update(RG, "apim-etag", "access", "", { enabled: true })).rejects.toMatchObject({ statusCode: 400 });
      await apim.tenantAccess.update(RG, "apim-etag", "access", etag, { enabled: true });
      expect((await apim.tenantAccess.get(RG, "apim-etag", "access")).enabled).toBe(true);
      await expect(apim.tenantAccess.update(RG, "apim-etag", "access", etag, { enabled: false })).rejects.toMatchObject({ statusCode: 412, code: "PreconditionFailed" });
      expect((await apim.tenantAccess.get(RG, "apim-etag", "access")).enabled).toBe(true);
    });
  });

  describe("management locks", () => {
    const locks = () => env.clients.locks(SUB2);
    const atService = ["Microsoft.ApiManagement", "", "service", "apim-locked"] as const;

    it("creates, reads, lists (with inheritance and atScope()) and deletes locks at subscription, group and resource scope", async () => {
      const seq = lastSeq(env);
      const subLock = await locks().managementLocks.createOrUpdateAtSubscriptionLevel("sub-lock", { level: "CanNotDelete", notes: "subscription" });
      expect(subLock.id).toBe(`/subscriptions/${SUB2}/providers/Microsoft.Authorization/locks/sub-lock`);
      const rgLock = await locks().managementLocks.createOrUpdateAtResourceGroupLevel(LOCK_RG, "rg-lock", { level: "CanNotDelete" });
      expect(rgLock.id).toBe(`/subscriptions/${SUB2}/resourceGroups/${LOCK_RG}/providers/Microsoft.Authorization/locks/rg-lock`);
      const svcLock = await locks().managementLocks.createOrUpdateAtResourceLevel(LOCK_RG, ...atService, "svc-lock", { level: "CanNotDelete" });
      expect(svcLock.id).toBe(`${serviceId("apim-locked", LOCK_RG, SUB2)}/providers/Microsoft.Authorization/locks/svc-lock`);

      // the SDK itself sends lowercase `resourcegroups` and an empty parent path (`//`) here
      const put = logSince(env, seq).find((e) => e.method === "PUT" && e.path.includes("svc-lock"));
      expect(put?.path).toContain("/resourcegroups/");
      expect(put?.path).toContain("Microsoft.ApiManagement//service/");
      expect(put?.status).toBe(201);

      expect((await locks().managementLocks.getAtSubscriptionLevel("sub-lock")).notes).toBe("subscription");
      expect((await locks().managementLocks.getAtResourceGroupLevel(LOCK_RG, "rg-lock")).level).toBe("CanNotDelete");
      expect((await locks().managementLocks.getAtResourceLevel(LOCK_RG, ...atService, "svc-lock")).name).toBe("svc-lock");

      const names = async (it: AsyncIterable<{ name?: string }>) => (await collect(it)).map((l) => l.name).sort();
      expect(await names(locks().managementLocks.listAtResourceLevel(LOCK_RG, ...atService))).toEqual(["rg-lock", "sub-lock", "svc-lock"]);
      expect(await names(locks().managementLocks.listAtResourceGroupLevel(LOCK_RG))).toEqual(["rg-lock", "sub-lock", "svc-lock"]);
      expect(await names(locks().managementLocks.listAtResourceGroupLevel(LOCK_RG, { filter: "atScope()" }))).toEqual(["rg-lock", "sub-lock"]);
      expect(await names(locks().managementLocks.listAtSubscriptionLevel({ filter: "atScope()" }))).toEqual(["sub-lock"]);
      expect(await names(locks().managementLocks.listByScope(serviceId("apim-locked", LOCK_RG, SUB2), { filter: "atScope()" }))).toEqual(["rg-lock", "sub-lock", "svc-lock"]);

      await locks().managementLocks.deleteAtResourceLevel(LOCK_RG, ...atService, "svc-lock");
      await locks().managementLocks.deleteAtResourceGroupLevel(LOCK_RG, "rg-lock");
      await locks().managementLocks.deleteAtSubscriptionLevel("sub-lock");
      expect(await names(locks().managementLocks.listAtSubscriptionLevel())).toEqual([]);
      await expect(locks().managementLocks.getAtSubscriptionLevel("sub-lock")).rejects.toMatchObject({ statusCode: 404 });
    });

    it("a ReadOnly lock on the resource group blocks updates and listValue with ScopeLocked, not reads", async () => {
      const apim = env.clients.apim(SUB2);
      await locks().managementLocks.createOrUpdateAtResourceGroupLevel(LOCK_RG, "ro", { level: "ReadOnly" });
      try {
        await expect(apim.api.update(LOCK_RG, "apim-locked", "echo", "*", { displayName: "x" })).rejects.toMatchObject({ statusCode: 409, code: "ScopeLocked" });
        await expect(apim.namedValue.listValue(LOCK_RG, "apim-locked", "nv-secret")).rejects.toMatchObject({ statusCode: 409, code: "ScopeLocked" });
        await expect(apim.apiManagementService.beginUpdate(LOCK_RG, "apim-locked", { tags: { a: "b" } })).rejects.toMatchObject({ statusCode: 409, code: "ScopeLocked" });
        expect((await apim.api.get(LOCK_RG, "apim-locked", "echo")).name).toBe("echo");
        // the lock's scope matches however the id is spelled: lowercase group segment, other casing, doubled slashes
        expect(() => env.emu.arm.assertNotLocked(`//subscriptions/${SUB2}/resourcegroups/RG-LOCKED/providers/Microsoft.ApiManagement//service/apim-locked/apis/echo`, "write")).toThrow(/ScopeLocked|locked/);
        await expect(apim.api.update(LOCK_RG.toUpperCase(), "apim-locked", "echo", "*", { displayName: "x" })).rejects.toMatchObject({ statusCode: 409, code: "ScopeLocked" });
      } finally {
        await locks().managementLocks.deleteAtResourceGroupLevel(LOCK_RG, "ro");
      }
      expect((await apim.namedValue.listValue(LOCK_RG, "apim-locked", "nv-secret")).value).toBe("s3cr3t");
      expect(() => env.emu.arm.assertNotLocked(`/subscriptions/${SUB2}/resourcegroups/${LOCK_RG}/providers/Microsoft.ApiManagement/service/apim-locked`, "write")).not.toThrow();
    });

    it("a CanNotDelete lock blocks deletes with ScopeLocked but allows updates", async () => {
      const apim = env.clients.apim(SUB2);
      await locks().managementLocks.createOrUpdateAtResourceGroupLevel(LOCK_RG, "nodelete", { level: "CanNotDelete" });
      try {
        await expect(apim.api.beginDeleteAndWait(LOCK_RG, "apim-locked", "echo", "*", { updateIntervalInMs: 10 })).rejects.toMatchObject({ statusCode: 409, code: "ScopeLocked" });
        await expect(apim.api.update(LOCK_RG, "apim-locked", "echo", "*", { displayName: "updated under CanNotDelete" })).resolves.toMatchObject({ displayName: "updated under CanNotDelete" });
        expect((await apim.api.get(LOCK_RG, "apim-locked", "echo")).name).toBe("echo");
        expect((await apim.namedValue.listValue(LOCK_RG, "apim-locked", "nv-secret")).value).toBe("s3cr3t");
      } finally {
        await locks().managementLocks.deleteAtResourceGroupLevel(LOCK_RG, "nodelete");
      }
    });

    it("finds a resource and its locks with a lowercase, differently cased group name", async () => {
      const apim = env.clients.apim(SUB2);
      expect((await apim.apiManagementService.get("RG-Locked", "APIM-LOCKED")).name).toBe("apim-locked");
      await locks().managementLocks.createOrUpdateAtResourceLevel(LOCK_RG, ...atService, "case-lock", { level: "CanNotDelete" });
      try {
        const found = await collect(locks().managementLocks.listAtResourceLevel("RG-LOCKED", "microsoft.apimanagement", "", "SERVICE", "apim-locked", { filter: "atScope()" }));
        expect(found.map((l) => l.name)).toEqual(["case-lock"]);
      } finally {
        await locks().managementLocks.deleteAtResourceLevel(LOCK_RG, ...atService, "case-lock");
      }
    });
  });

  describe("authentication and errors", () => {
    it("answers 401 InvalidAuthenticationToken to a token that is not a JWT", async () => {
      const credential: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: "not-a-jwt", expiresOnTimestamp: Date.now() + 3600_000 }) };
      const bad = createClients(env.config, { credential });
      const seq = lastSeq(env);
      await expect(bad.apim(SUB).apiManagementService.get(RG, "apim-lro")).rejects.toMatchObject({ statusCode: 401, code: "InvalidAuthenticationToken" });
      const logged = logSince(env, seq);
      expect(logged.map((e) => [e.status, e.principal])).toEqual([[401, null]]);
    });

    it("answers 401 AuthenticationFailed with WWW-Authenticate to a request without a token", async () => {
      const res = await raw(env, "GET", `${env.emu.armEndpoint}${serviceId("apim-lro")}?api-version=2024-05-01`);
      expect(res.status).toBe(401);
      expect((res.body?.["error"] as Record<string, unknown>)["code"]).toBe("AuthenticationFailed");
      expect(String(res.headers["www-authenticate"])).toMatch(/^Bearer /);
    });

    it("answers 404 with an ARM error body, surfaced by the SDK as RestError", async () => {
      const apim = env.clients.apim(SUB);
      await expect(apim.api.get(RG, "apim-lro", "no-such-api")).rejects.toMatchObject({ name: "RestError", statusCode: 404, code: "ResourceNotFound" });
      await expect(apim.apiManagementService.get(RG, "no-such-service")).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
      await expect(apim.apiManagementService.get("no-such-rg", "apim-lro")).rejects.toMatchObject({ statusCode: 404, code: "ResourceGroupNotFound" });
      const res = await raw(env, "GET", `${env.emu.armEndpoint}${serviceId("apim-lro")}/apis/no-such-api?api-version=2024-05-01`, { token: await tokenFor(REMEDIATOR) });
      expect(res.status).toBe(404);
      expect(Object.keys(res.body ?? {})).toEqual(["error"]);
      const error = res.body?.["error"] as Record<string, unknown>;
      expect(error["code"]).toBe("ResourceNotFound");
      expect(typeof error["message"]).toBe("string");
    });

    it("requires api-version (400 MissingApiVersionParameter)", async () => {
      const res = await raw(env, "GET", `${env.emu.armEndpoint}${serviceId("apim-lro")}`, { token: await tokenFor(REMEDIATOR) });
      expect(res.status).toBe(400);
      expect((res.body?.["error"] as Record<string, unknown>)["code"]).toBe("MissingApiVersionParameter");
    });
  });

  describe("faults", () => {
    it("a 503 once on a GET is retried by the SDK and succeeds", async () => {
      const id = env.emu.faults.add({ method: "GET", path: "/service/apim-lro/apis/echo", status: 503, retryAfter: 0, count: 1 });
      try {
        const seq = lastSeq(env);
        const got = await env.clients.apim(SUB).api.get(RG, "apim-lro", "echo");
        expect(got.name).toBe("echo");
        const tries = logSince(env, seq).filter((e) => e.path.includes("/apis/echo"));
        expect(tries.map((e) => [e.status, e.fault ?? null])).toEqual([
          [503, id],
          [200, null],
        ]);
      } finally {
        env.emu.faults.remove(id);
      }
    });

    it("a dropped connection once (reset) is retried by the SDK and succeeds", async () => {
      const id = env.emu.faults.add({ method: "GET", path: "/service/apim-etag/apis/echo", reset: true, count: 1 });
      try {
        const seq = lastSeq(env);
        const got = await env.clients.apim(SUB).api.get(RG, "apim-etag", "echo");
        expect(got.name).toBe("echo");
        const tries = logSince(env, seq).filter((e) => e.path.includes("/apis/echo"));
        expect(tries).toHaveLength(2);
        expect(tries[0]?.fault).toBe(id);
        expect(tries[0]?.status).toBe(0); // no response was sent
        expect(tries[1]?.status).toBe(200);
      } finally {
        env.emu.faults.remove(id);
      }
    });

    it("probabilistic faults are deterministic for a seed", async () => {
      const apim = env.clients.apim(SUB);
      const run = async (seed: number): Promise<string> => {
        env.emu.reseed(seed);
        const id = env.emu.faults.add({ method: "GET", path: "/service/apim-many/apis/api-0", status: 503, retryAfter: 0, probability: 0.4 });
        const seq = lastSeq(env);
        try {
          for (let i = 0; i < 12; i++) await apim.api.get(RG, "apim-many", `api-00${i % 10}`).catch(() => undefined);
        } finally {
          env.emu.faults.remove(id);
        }
        return logSince(env, seq)
          .map((e) => `${e.path.split("?")[0]?.split("/").pop()}:${e.status}`)
          .join(",");
      };
      const a = await run(7);
      const b = await run(7);
      expect(a).toBe(b);
      expect(a).toContain(":503");
      expect(a).toContain(":200");
      const c = await run(8);
      expect(c).not.toBe(a);
    });

    it("latency shows in the request log", async () => {
      env.emu.setLatency({ read: 50 });
      try {
        const seq = lastSeq(env);
        await env.clients.apim(SUB).apiManagementService.get(RG, "apim-lro");
        const entry = logSince(env, seq).find((e) => e.method === "GET");
        // answers are aimed at the latency, the emulator's own time included (a timer may fire a millisecond early)
        expect(entry?.durationMs).toBeGreaterThanOrEqual(45);
      } finally {
        env.emu.setLatency({});
      }
    });

    it("the admin API over HTTPS adds a fault that the SDK then meets and retries", async () => {
      const created = await raw(env, "POST", `${env.emu.adminUrl}/faults`, { body: { id: "admin-503", method: "GET", path: "/service/apim-other", status: 503, retryAfter: 0, count: 1 } });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: "admin-503" });
      try {
        const seq = lastSeq(env);
        const svc = await env.clients.apim(SUB).apiManagementService.get("rg-other", "apim-other");
        expect(svc.name).toBe("apim-other");
        expect(logSince(env, seq).map((e) => [e.status, e.fault ?? null])).toEqual([
          [503, "admin-503"],
          [200, null],
        ]);
        const listed = await raw(env, "GET", `${env.emu.adminUrl}/faults`);
        expect((listed.body?.["faults"] as Array<Record<string, unknown>>).find((f) => f["id"] === "admin-503")?.["fired"]).toBe(1);
      } finally {
        env.emu.faults.remove("admin-503");
      }
    });
  });

  describe("role assignments", () => {
    it("creates at a vault scope, lists with atScope() and principalId filters, refuses a duplicate, deletes", async () => {
      const authz = env.clients.authorization(SUB);
      const roleDefinitionId = `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_USER}`;
      const name = "9a8b7c6d-0000-4000-8000-000000000001";
      const created = await authz.roleAssignments.create(VAULT_ID, name, { roleDefinitionId, principalId: APP_PRINCIPAL, principalType: "ServicePrincipal" });
      expect(created.id).toBe(`${VAULT_ID}/providers/Microsoft.Authorization/roleAssignments/${name}`);
      expect(created.scope).toBe(VAULT_ID);
      expect(created.principalId).toBe(APP_PRINCIPAL);

      const atScope = await collect(authz.roleAssignments.listForScope(VAULT_ID, { filter: "atScope()" }));
      expect(atScope.map((r) => r.name)).toEqual([name]);
      const byPrincipal = await collect(authz.roleAssignments.listForScope(`/subscriptions/${SUB}`, { filter: `principalId eq '${APP_PRINCIPAL}'` }));
      expect(byPrincipal.map((r) => r.name)).toEqual([name]);
      expect(await collect(authz.roleAssignments.listForScope(`/subscriptions/${SUB}`, { filter: `principalId eq '${PORTAL_USER}'` }))).toEqual([]);
      // atScope() at the subscription does not include assignments below it
      expect(await collect(authz.roleAssignments.listForScope(`/subscriptions/${SUB}`, { filter: "atScope()" }))).toEqual([]);

      await expect(authz.roleAssignments.create(VAULT_ID, "9a8b7c6d-0000-4000-8000-000000000002", { roleDefinitionId, principalId: APP_PRINCIPAL })).rejects.toMatchObject({ statusCode: 409, code: "RoleAssignmentExists" });

      const deleted = await authz.roleAssignments.delete(VAULT_ID, name);
      expect(deleted.name).toBe(name);
      expect(await collect(authz.roleAssignments.listForScope(VAULT_ID, { filter: "atScope()" }))).toEqual([]);
      await expect(authz.roleAssignments.get(VAULT_ID, name)).rejects.toMatchObject({ statusCode: 404 });
    });
  });

  describe("discovery", () => {
    it("lists subscriptions, resource groups, and services by subscription and by resource group", async () => {
      const subs = await collect(env.clients.subscriptions().subscriptions.list());
      expect(subs.map((s) => s.subscriptionId).sort()).toEqual([SUB, SUB2].sort());
      expect(subs.every((s) => s.state === "Enabled")).toBe(true);

      const groups = await collect(env.clients.resources(SUB).resourceGroups.list());
      expect(groups.map((g) => g.name).sort()).toEqual([KV_RG, RG, "rg-other"].sort());

      const apim = env.clients.apim(SUB);
      const all = await collect(apim.apiManagementService.list());
      expect(all.map((s) => s.name).sort()).toEqual(["apim-etag", "apim-legacy", "apim-lro", "apim-many", "apim-modern", "apim-other"]);
      const inRg = await collect(apim.apiManagementService.listByResourceGroup("rg-other"));
      expect(inRg.map((s) => s.id)).toEqual([serviceId("apim-other", "rg-other")]);
      const inSub2 = await collect(env.clients.apim(SUB2).apiManagementService.list());
      expect(inSub2.map((s) => s.name)).toEqual(["apim-locked"]);
    });
  });
});

describe("emulator ARM throttling through the real SDK", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-t"), api("apim-t", "echo")], {
      throttle: { reads: { capacity: 5, refillPerSecond: 5 }, writes: { capacity: 3, refillPerSecond: 5 } },
    });
  });
  afterAll(async () => env.emu.stop());

  it("answers 429 with Retry-After and the remaining-reads header; the SDK waits, retries and succeeds", async () => {
    const clients = createClients(env.config);
    const apim = clients.apim(SUB);
    const wire = observeWire(apim);
    const seq = lastSeq(env);
    const results = await Promise.all(Array.from({ length: 10 }, () => apim.apiManagementService.get(RG, "apim-t")));
    expect(results.every((r) => r.name === "apim-t")).toBe(true);

    const throttled = wire.filter((w) => w.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    for (const t of throttled) {
      expect(Number(t.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(t.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("0");
    }
    const ok = wire.filter((w) => w.status === 200);
    expect(ok).toHaveLength(10);
    expect(ok.every((w) => w.headers["x-ms-ratelimit-remaining-subscription-reads"] !== undefined)).toBe(true);

    const logged = logSince(env, seq);
    expect(logged.filter((e) => e.status === 429)).toHaveLength(throttled.length);
    expect(logged.filter((e) => e.status === 200)).toHaveLength(10);
    expect(logged.every((e) => e.principal === REMEDIATOR)).toBe(true);
  });

  it("throttles writes in their own bucket with the remaining-writes header", async () => {
    const apim = createClients(env.config).apim(SUB);
    const wire = observeWire(apim);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => apim.api.update(RG, "apim-t", "echo", "*", { displayName: `w${i}` })));
    expect(results).toHaveLength(6);
    const throttled = wire.filter((w) => w.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.every((t) => t.headers["x-ms-ratelimit-remaining-subscription-writes"] === "0")).toBe(true);
    expect(wire.filter((w) => w.status === 200)).toHaveLength(6);
  });

  it("keeps a bucket per principal: another principal is not throttled by the first one's burst", async () => {
    // let the buckets refill, then exhaust REMEDIATOR's bucket and read as PORTAL_USER while it is empty
    await new Promise((r) => setTimeout(r, 1100));
    const remediator = createClients(env.config).apim(SUB);
    const portal = env.clientsAs(PORTAL_USER).apim(SUB);
    const seq = lastSeq(env);
    const burst = Promise.all(Array.from({ length: 10 }, () => remediator.apiManagementService.get(RG, "apim-t")));
    const firstThrottle = () => logSince(env, seq).some((e) => e.principal === REMEDIATOR && e.status === 429);
    for (let i = 0; i < 400 && !firstThrottle(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(firstThrottle()).toBe(true);
    const portalReads = await Promise.all(Array.from({ length: 5 }, () => portal.api.get(RG, "apim-t", "echo")));
    expect(portalReads).toHaveLength(5);
    expect(await burst).toHaveLength(10);
    const logged = logSince(env, seq);
    const portalLogged = logged.filter((e) => e.principal === PORTAL_USER);
    expect(portalLogged).toHaveLength(5);
    expect(portalLogged.every((e) => e.status === 200)).toBe(true);
    expect(logged.filter((e) => e.principal === REMEDIATOR && e.status === 200)).toHaveLength(10);
  });
});

/** An answer's own and global remaining-reads counts. */
const countsOf = (w: { headers: Record<string, string> }) => [w.headers["x-ms-ratelimit-remaining-subscription-reads"], w.headers["x-ms-ratelimit-remaining-subscription-global-reads"]];

// Learn, "Understand how Azure Resource Manager throttles requests": besides each principal's bucket per
// subscription, "global subscription limits that are equivalent to 15 times the individual service principal
// limits ... apply across all service principals", counted in `x-ms-ratelimit-remaining-subscription-global-*`
// (e.g. `x-ms-ratelimit-remaining-subscription-global-reads: 3749` on a first read: 15 x 250, less that read).
describe("emulator ARM throttling: the subscription's global bucket", () => {
  let env: TestEnv;
  beforeAll(async () => {
    // two principals' worth of global tokens, refilled slowly enough that the test sees none come back
    env = await startTestEmulator([service("apim-g")], { throttle: { reads: { capacity: 5, refillPerSecond: 0.2 }, globalMultiplier: 2 } });
  });
  afterAll(async () => env.emu.stop());

  it("counts every principal's reads against it and throttles a principal whose own bucket is not empty", async () => {
    // unpaced and not retried: the answers as ARM gives them
    const alone = (id: string) => {
      const c = createClients(loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, ARM_PACING: "false", ARM_MAX_RETRIES: "0" }), { credential: new LocalTokenCredential(id) }).apim(SUB);
      return { c, wire: observeWire(c) };
    };
    const a = alone(REMEDIATOR);
    const b = alone(PORTAL_USER);
    const c = alone("0e5a0000-0000-4000-8000-00000000c0c0");
    for (let i = 0; i < 5; i++) await a.c.apiManagementService.get(RG, "apim-g");
    for (let i = 0; i < 4; i++) await b.c.apiManagementService.get(RG, "apim-g");
    // each answer: the principal's own count and the subscription's, both after this read
    expect(a.wire.map(countsOf)).toEqual([["4", "9"], ["3", "8"], ["2", "7"], ["1", "6"], ["0", "5"]]);
    expect(b.wire.map(countsOf)).toEqual([["4", "4"], ["3", "3"], ["2", "2"], ["1", "1"]]);
    await b.c.apiManagementService.get(RG, "apim-g");
    expect(countsOf(b.wire[4] as { headers: Record<string, string> })).toEqual(["0", "0"]);
    // a third principal has its whole own bucket, but the subscription has no read left
    const third = await c.c.apiManagementService.get(RG, "apim-g").then(() => 200, (e: { statusCode?: number }) => e.statusCode);
    expect(third).toBe(429);
    const throttled = c.wire.find((w) => w.status === 429) as { headers: Record<string, string> };
    expect(Number(throttled.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(countsOf(throttled)).toEqual(["5", "0"]);
  });
});

describe("emulator ARM throttling: ARM's default figures", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-d")], { throttle: { enabled: true } });
  });
  afterAll(async () => env.emu.stop());

  it("a first read answers 249 left of the principal's 250 and 3749 of the subscription's 3750", async () => {
    const c = env.clientsAs(REMEDIATOR).apim(SUB);
    const wire = observeWire(c);
    await c.apiManagementService.get(RG, "apim-d");
    expect(countsOf(wire[0] as { headers: Record<string, string> })).toEqual(["249", "3749"]);
  });
});
