/**
 * Fidelity: the emulator answers with the same SHAPE (property names, JSON
 * types, nesting) as Azure's published REST examples in
 * test/fixtures/azure-specs (public Azure REST examples; see its SOURCES.md) (API Management 2024-05-01, management locks
 * 2020-05-01, Key Vault secrets 7.5; see SOURCES.md there).
 *
 * Every call goes through the real SDK clients (ApiManagementClient,
 * ManagementLockClient, SecretClient) built by the product's client factory;
 * the raw JSON is captured with the operation's `onResponse` option and its
 * recursive shape is compared with the example's response body.
 *
 * Each example lives in its own subscription (the example's all-zero
 * subscription id is rewritten to a GUID derived from the example's name),
 * with the example's resource group and service names, so one emulator per
 * describe block serves every example without them seeing each other.
 *
 * Allowed differences are listed where they apply (ALLOWED: ...); everything
 * else must match exactly.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REMEDIATOR, service, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const SPECS = path.join(process.cwd(), "test", "fixtures", "azure-specs");
const EXAMPLE_SUB = "00000000-0000-0000-0000-000000000000";
const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";
const SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
/** Short LRO polling for the SDK pollers (the emulator completes operations at once). */
const LRO = { updateIntervalInMs: 10 } as const;

type Json = Record<string, unknown>;
interface ExampleResponse {
  body?: unknown;
  headers?: Record<string, string>;
}
interface Example {
  parameters: Json;
  responses: Record<string, ExampleResponse>;
}

/** A stable subscription GUID per example. */
function subFor(name: string): string {
  const h = createHash("sha256").update(`fidelity:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Reads an example with its placeholder subscription ids rewritten to `sub`. */
function example(rel: string, sub: string): Example {
  const text = readFileSync(path.join(SPECS, rel), "utf8");
  return JSON.parse(text.split(EXAMPLE_SUB).join(sub).split("/subscriptions/subscriptionId/").join(`/subscriptions/${sub}/`)) as Example;
}

function body(ex: Example, status = "200"): Json {
  const b = ex.responses[status]?.body;
  if (!b || typeof b !== "object") throw new Error(`example has no ${status} body`);
  return structuredClone(b) as Json;
}

// ---- shapes ----------------------------------------------------------------

type Shape = string | Shape[] | { [key: string]: Shape };

/** Objects whose keys are data (dictionaries), not schema: their shape is the set of their values' shapes. */
function isMap(key: string, parentKey: string): boolean {
  if (key === "tags" || key === "customProperties" || key === "userAssignedIdentities") return true;
  return parentKey === "credentials" && (key === "query" || key === "header");
}

function uniqueSorted(shapes: Shape[]): Shape[] {
  const byText = new Map<string, Shape>();
  for (const s of shapes) byText.set(JSON.stringify(s), s);
  return [...byText.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

/**
 * The recursive shape of a JSON value: objects -> sorted keys with nested
 * shapes; arrays -> the set of their elements' shapes (order-free, so a list
 * holding the same kinds of items has the same shape); primitives -> typeof.
 */
function shapeOf(value: unknown, key = "", parentKey = ""): Shape {
  if (value === null) return "null";
  if (Array.isArray(value)) return uniqueSorted(value.map((v) => shapeOf(v, "", key)));
  if (typeof value === "object") {
    const entries = Object.entries(value as Json);
    if (isMap(key, parentKey)) return { "<map>": uniqueSorted(entries.map(([, v]) => shapeOf(v, "", key))) };
    const out: { [k: string]: Shape } = {};
    for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = shapeOf(v, k, key);
    return out;
  }
  return typeof value;
}

/**
 * Removes a documented difference from a body: `path` is dot-separated, a
 * segment ending in `[]` walks every element of that array.
 */
function drop(value: unknown, pathText: string): unknown {
  const copy = structuredClone(value);
  const walk = (node: unknown, segs: string[]): void => {
    if (!node || typeof node !== "object" || segs.length === 0) return;
    const [head, ...rest] = segs as [string, ...string[]];
    const isArr = head.endsWith("[]");
    const key = isArr ? head.slice(0, -2) : head;
    const obj = node as Json;
    if (rest.length === 0 && !isArr) {
      delete obj[key];
      return;
    }
    const next = key === "" ? node : obj[key];
    if (isArr) {
      if (Array.isArray(next)) for (const el of next) walk(el, rest);
    } else walk(next, rest);
  };
  walk(copy, pathText.split("."));
  return copy;
}

function dropAll(value: unknown, paths: string[]): unknown {
  return paths.reduce((v, p) => drop(v, p), value);
}

/** Asserts the same shape, after removing the listed (documented) differences from both sides. */
function expectSameShape(actual: unknown, expected: unknown, allowed: string[] = []): void {
  expect(shapeOf(dropAll(actual, allowed))).toEqual(shapeOf(dropAll(expected, allowed)));
}

// ---- raw responses ---------------------------------------------------------

interface RawLike {
  status: number;
  bodyAsText?: string | null;
  parsedBody?: unknown;
  headers: { get(name: string): string | undefined };
}
interface Captured {
  status: number;
  body: unknown;
  header(name: string): string | undefined;
}

/** Records every raw response an SDK operation sees (initial request first, then LRO polls). */
function recorder(): { onResponse: (raw: RawLike) => void; all: Captured[]; first(): Captured; last(): Captured } {
  const all: Captured[] = [];
  return {
    all,
    onResponse: (raw: RawLike) => {
      let parsed: unknown;
      if (typeof raw.bodyAsText === "string" && raw.bodyAsText !== "") parsed = JSON.parse(raw.bodyAsText) as unknown;
      else if (raw.parsedBody !== undefined) parsed = structuredClone(raw.parsedBody);
      const headers = raw.headers;
      all.push({ status: raw.status, body: parsed, header: (n) => headers.get(n) });
    },
    first() {
      const r = all[0];
      if (!r) throw new Error("no response recorded");
      return r;
    },
    last() {
      const r = all[all.length - 1];
      if (!r) throw new Error("no response recorded");
      return r;
    },
  };
}

/** The example's LRO headers (Location and Azure-AsyncOperation) are present on the captured initial response, as absolute URLs. */
function expectLroHeaders(captured: Captured, exampleResponse: ExampleResponse | undefined): void {
  const names = Object.keys(exampleResponse?.headers ?? {});
  expect(names.map((n) => n.toLowerCase()).sort()).toEqual(["azure-asyncoperation", "location"]);
  for (const n of names) expect(captured.header(n), n).toMatch(/^https:\/\/[^/]+\/subscriptions\//);
}

/** Drains a paged SDK iterator (the raw pages are seen by the recorder). */
async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function items(page: unknown): Json[] {
  return ((page as Json)["value"] as Json[] | undefined) ?? [];
}

// ---- estates -----------------------------------------------------------------

function vault(sub: string, rg: string, name: string): Json {
  return {
    id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`,
    type: "Microsoft.KeyVault/vaults",
    name,
    location: "westeurope",
    properties: { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", sku: { family: "A", name: "standard" }, enableRbacAuthorization: true },
  };
}

function vaultSecret(vaultRes: Json, name: string, properties: Json = {}): Json {
  return { id: `${String(vaultRes["id"])}/secrets/${name}`, type: "Microsoft.KeyVault/vaults/secrets", name: `${String(vaultRes["name"])}/${name}`, properties: { value: `v-${randomUUID()}`, ...properties } };
}

function roleAssignment(sub: string, scope: string, role: string, principalId: string): Json {
  const name = randomUUID();
  return {
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
    type: "Microsoft.Authorization/roleAssignments",
    name,
    properties: { roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${role}`, principalId, scope },
  };
}

/** A service in the estate format with a user-assigned identity whose client id is `clientId` (for Key Vault references). */
function serviceWithIdentity(sub: string, rg: string, name: string, clientId: string, principalId: string): Json {
  const uai = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}-uai`;
  return service(name, {}, { identity: { type: "UserAssigned", userAssignedIdentities: { [uai]: { clientId, principalId } } } }, rg, sub);
}

/** A Key Vault-backed named value in the estate format: what a user PUTs, without the read-only `lastStatus`. */
function estateNamedValue(exampleBody: Json): Json {
  const b = structuredClone(exampleBody);
  const kv = (b["properties"] as Json)["keyVault"] as Json;
  delete kv["lastStatus"];
  return b;
}

// =============================================================================

describe("API Management responses match the 2024-05-01 examples", () => {
  let env: TestEnv;
  const RG1 = "rg1";
  const SVC = "apimService1";
  const estate: Json[] = [];
  const ex = new Map<string, { sub: string; ex: Example }>();

  /** Registers an example under its own subscription and returns it. */
  const use = (file: string): { sub: string; ex: Example } => {
    const sub = subFor(file);
    const e = { sub, ex: example(`apimanagement/examples/${file}`, sub) };
    ex.set(file, e);
    return e;
  };
  const stub = (sub: string) => service(SVC, {}, {}, RG1, sub);
  /** A service given in the minimal estate format (not an example). */
  const MINIMAL_SUB = subFor("minimal-service");
  const get = (file: string) => {
    const e = ex.get(file);
    if (!e) throw new Error(`example ${file} not registered`);
    return e;
  };

  // Key Vault references in the examples point at vaults by host name; the emulator resolves
  // `https://<name>.vault...` to its vault `<name>`, so these vaults make the references resolve.
  const KV_CLIENT_GET = "2d2df842-44d8-4885-8dec-77cc1a984a31";
  const KV_CLIENT_CREATE = "ceaa6b06-c00f-43ef-99ac-f53d1fe876a0";
  const KV_PRINCIPAL_GET = "0e5a0000-0000-4000-8000-00000000f001";
  const KV_PRINCIPAL_LIST = "0e5a0000-0000-4000-8000-00000000f002";
  const KV_PRINCIPAL_CREATE = "0e5a0000-0000-4000-8000-00000000f003";

  {
    // services
    const getSvc = use("ApiManagementServiceGetService.json");
    estate.push(body(getSvc.ex));
    const listSvc = use("ApiManagementListServiceBySubscription.json");
    for (const s of items(body(listSvc.ex))) estate.push(s);
    estate.push(service("apim-minimal", {}, { identity: { type: "SystemAssigned" } }, RG1, MINIMAL_SUB));
    const patchSvc = use("ApiManagementUpdateServiceDisableTls10.json");
    estate.push(body(patchSvc.ex));

    // APIs
    const getApi = use("ApiManagementGetApiContract.json");
    estate.push(stub(getApi.sub), body(getApi.ex));
    const listApis = use("ApiManagementListApis.json");
    estate.push(stub(listApis.sub), ...items(body(listApis.ex)));
    const patchApi = use("ApiManagementUpdateApi.json");
    const before = body(patchApi.ex);
    (before["properties"] as Json)["displayName"] = "Echo API";
    estate.push(stub(patchApi.sub), before);

    // named values
    const getNv = use("ApiManagementGetNamedValue.json");
    estate.push(stub(getNv.sub), body(getNv.ex));

    const getKv = use("ApiManagementGetNamedValueWithKeyVault.json");
    const kvGet = vault(getKv.sub, RG1, "rpbvtkeyvaultintegration");
    estate.push(
      serviceWithIdentity(getKv.sub, RG1, SVC, KV_CLIENT_GET, KV_PRINCIPAL_GET),
      estateNamedValue(body(getKv.ex)),
      kvGet,
      vaultSecret(kvGet, "msitestingCert"),
      roleAssignment(getKv.sub, String(kvGet["id"]), SECRETS_USER, KV_PRINCIPAL_GET),
    );

    const listNv = use("ApiManagementListNamedValues.json");
    const kvContoso = vault(listNv.sub, RG1, "contoso");
    const [plain, kvRef] = items(body(listNv.ex)) as [Json, Json];
    estate.push(
      serviceWithIdentity(listNv.sub, RG1, SVC, KV_CLIENT_GET, KV_PRINCIPAL_LIST),
      plain,
      estateNamedValue(kvRef),
      kvContoso,
      vaultSecret(kvContoso, "aadSecret"),
      roleAssignment(listNv.sub, String(kvContoso["id"]), SECRETS_USER, KV_PRINCIPAL_LIST),
      // the create example's service identity reads the same vault
      roleAssignment(listNv.sub, String(kvContoso["id"]), SECRETS_USER, KV_PRINCIPAL_CREATE),
    );

    const createNv = use("ApiManagementCreateNamedValueWithKeyVault.json");
    estate.push(serviceWithIdentity(createNv.sub, RG1, SVC, KV_CLIENT_CREATE, KV_PRINCIPAL_CREATE));

    const listValue = use("ApiManagementNamedValueListValue.json");
    const secretNv = body(get("ApiManagementGetNamedValue.json").ex);
    // the same named value, but secret: in the estate format its value is given in properties.value
    const secretNvId = String(secretNv["id"]).split(get("ApiManagementGetNamedValue.json").sub).join(listValue.sub);
    estate.push(stub(listValue.sub), { ...secretNv, id: secretNvId, properties: { ...(secretNv["properties"] as Json), secret: true, value: `s-${randomUUID()}` } });

    const patchNv = use("ApiManagementUpdateNamedValue.json");
    const nvBefore = body(patchNv.ex);
    (nvBefore["properties"] as Json)["displayName"] = "prop2name";
    estate.push(stub(patchNv.sub), nvBefore);

    // tenant access: seeded by the emulator for every service (ARM has both settings on every service)
    const getAccess = use("ApiManagementGetTenantAccess.json");
    estate.push(stub(getAccess.sub));
    const getGit = use("ApiManagementGetTenantGitAccess.json");
    estate.push(stub(getGit.sub));
    const listAccess = use("ApiManagementListTenantAccess.json");
    estate.push(stub(listAccess.sub));
    const patchAccess = use("ApiManagementUpdateTenantAccess.json");
    estate.push(stub(patchAccess.sub));

    // backends
    const getBackend = use("ApiManagementGetBackend.json");
    estate.push(stub(getBackend.sub), body(getBackend.ex));
    const listBackends = use("ApiManagementListBackends.json");
    estate.push(stub(listBackends.sub), ...items(body(listBackends.ex)));
    const patchBackend = use("ApiManagementUpdateBackend.json");
    const backendBefore = body(patchBackend.ex);
    ((backendBefore["properties"] as Json)["tls"] as Json)["validateCertificateName"] = false;
    estate.push(stub(patchBackend.sub), backendBefore);

    // subscriptions
    const getSubscription = use("ApiManagementGetSubscription.json");
    estate.push(stub(getSubscription.sub), body(getSubscription.ex));
    const listSubscriptions = use("ApiManagementListSubscriptions.json");
    estate.push(stub(listSubscriptions.sub), ...items(body(listSubscriptions.ex)));
    const patchSubscription = use("ApiManagementUpdateSubscription.json");
    const subscriptionBefore = body(patchSubscription.ex);
    (subscriptionBefore["properties"] as Json)["displayName"] = "before";
    estate.push(stub(patchSubscription.sub), subscriptionBefore);

    // policies
    const getPolicy = use("ApiManagementGetPolicy.json");
    estate.push(stub(getPolicy.sub), body(getPolicy.ex));
    const getApiPolicy = use("ApiManagementGetApiPolicy.json");
    const apiPolicy = body(getApiPolicy.ex);
    const apiId = String(apiPolicy["id"]).split("/policies/")[0] as string;
    estate.push(stub(getApiPolicy.sub), { id: apiId, type: "Microsoft.ApiManagement/service/apis", name: apiId.split("/").pop(), properties: { displayName: "Policy API", path: "pol", protocols: ["https"] } }, apiPolicy);
  }

  beforeAll(async () => {
    env = await startTestEmulator(estate);
  });
  afterAll(async () => env.emu.stop());

  const apim = (file: string) => env.clients.apim(get(file).sub);

  describe("service", () => {
    it("GET service (ApiManagementServiceGetService)", async () => {
      const file = "ApiManagementServiceGetService.json";
      const expected = body(get(file).ex);
      const rec = recorder();
      await apim(file).apiManagementService.get(RG1, String(expected["name"]), { onResponse: rec.onResponse });
      expect(rec.first().status).toBe(200);
      expectSameShape(rec.first().body, expected);
    });

    it("a service given in the minimal estate format has no key or type that Azure's GET example lacks", async () => {
      const expected = body(get("ApiManagementServiceGetService.json").ex);
      const rec = recorder();
      await env.clients.apim(MINIMAL_SUB).apiManagementService.get(RG1, "apim-minimal", { onResponse: rec.onResponse });
      const actual = rec.first().body as Json;
      // the emulator fills what ARM always returns: body etag, provisioning states, identity ids
      expect(Object.keys(actual).sort()).toEqual(["etag", "id", "identity", "location", "name", "properties", "sku", "type"]);
      expect(subShapeMismatches(shapeOf(actual), shapeOf(expected))).toEqual([]);
    });

    it("list services by subscription (ApiManagementListServiceBySubscription)", async () => {
      const file = "ApiManagementListServiceBySubscription.json";
      const rec = recorder();
      const listed = await drain(apim(file).apiManagementService.list({ onResponse: rec.onResponse }));
      expect(listed).toHaveLength(4);
      // ARM's service collection (ApiManagementServiceListResult) has value and nextLink only: no count
      expectSameShape(rec.first().body, body(get(file).ex));
    });

    it("PATCH service (ApiManagementUpdateServiceDisableTls10): 202 with Location and Azure-AsyncOperation, then the 200 body", async () => {
      const file = "ApiManagementUpdateServiceDisableTls10.json";
      const e = get(file).ex;
      const params = (e.parameters["parameters"] as Json)["properties"] as Json;
      const rec = recorder();
      const poller = await apim(file).apiManagementService.beginUpdate(RG1, SVC, params, { ...LRO, onResponse: rec.onResponse });
      await poller.pollUntilDone();
      expect(rec.first().status).toBe(202);
      expect(rec.first().body).toBeUndefined();
      expectLroHeaders(rec.first(), e.responses["202"]);
      expect(rec.last().status).toBe(200);
      expectSameShape(rec.last().body, body(e));
    });
  });

  describe("APIs", () => {
    it("GET api (ApiManagementGetApiContract)", async () => {
      const file = "ApiManagementGetApiContract.json";
      const rec = recorder();
      await apim(file).api.get(RG1, SVC, String(get(file).ex.parameters["apiId"]), { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
    });

    it("list apis (ApiManagementListApis)", async () => {
      const file = "ApiManagementListApis.json";
      const rec = recorder();
      expect(await drain(apim(file).api.listByService(RG1, SVC, { onResponse: rec.onResponse }))).toHaveLength(4);
      // ALLOWED: the example's last page carries `"nextLink": ""`; the emulator omits nextLink on the last page
      // (the SDK pagers treat both as "no more pages").
      expectSameShape(rec.first().body, body(get(file).ex), ["nextLink"]);
      expect((rec.first().body as Json)["count"]).toBe(4);
    });

    it("PATCH api with If-Match * (ApiManagementUpdateApi)", async () => {
      const file = "ApiManagementUpdateApi.json";
      const e = get(file).ex;
      const rec = recorder();
      await apim(file).api.update(RG1, SVC, String(e.parameters["apiId"]), "*", (e.parameters["parameters"] as Json)["properties"] as Json, { onResponse: rec.onResponse });
      expect(rec.first().status).toBe(200);
      expectSameShape(rec.first().body, body(e));
    });
  });

  describe("named values", () => {
    it("GET named value (ApiManagementGetNamedValue)", async () => {
      const file = "ApiManagementGetNamedValue.json";
      const rec = recorder();
      await apim(file).namedValue.get(RG1, SVC, String(get(file).ex.parameters["namedValueId"]), { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
    });

    it("GET Key Vault named value (ApiManagementGetNamedValueWithKeyVault): the emulator resolves the reference and reports lastStatus", async () => {
      const file = "ApiManagementGetNamedValueWithKeyVault.json";
      const rec = recorder();
      await apim(file).namedValue.get(RG1, SVC, String(get(file).ex.parameters["namedValueId"]), { onResponse: rec.onResponse });
      const actual = rec.first().body as Json;
      expectSameShape(actual, body(get(file).ex));
      expect(((actual["properties"] as Json)["keyVault"] as Json)["lastStatus"]).toMatchObject({ code: "Success" });
    });

    it("list named values (ApiManagementListNamedValues): plain value shown, Key Vault secret without value", async () => {
      const file = "ApiManagementListNamedValues.json";
      const rec = recorder();
      expect(await drain(apim(file).namedValue.listByService(RG1, SVC, { onResponse: rec.onResponse }))).toHaveLength(2);
      // ALLOWED: nextLink omitted on the last page (example: ""). The example's `"count": 1` for two items is an upstream quirk; only its type is compared.
      expectSameShape(rec.first().body, body(get(file).ex), ["nextLink"]);
    });

    it("POST listValue (ApiManagementNamedValueListValue) returns the secret, which GET hides exactly like ARM", async () => {
      const file = "ApiManagementNamedValueListValue.json";
      const id = String(get(file).ex.parameters["namedValueId"]);
      const rec = recorder();
      await apim(file).namedValue.listValue(RG1, SVC, id, { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
      expect(String((rec.first().body as Json)["value"])).toMatch(/^s-/);

      const got = recorder();
      await apim(file).namedValue.get(RG1, SVC, id, { onResponse: got.onResponse });
      // a secret named value's GET omits `value` (swagger: "This property will not be filled on 'GET' operations")
      const expected = body(get("ApiManagementGetNamedValue.json").ex);
      expect((got.first().body as Json)["properties"]).not.toHaveProperty("value");
      expectSameShape(got.first().body, drop(expected, "properties.value"));
    });

    it("PUT Key Vault named value (ApiManagementCreateNamedValueWithKeyVault): 202 with Location to the resource, then the resource", async () => {
      const file = "ApiManagementCreateNamedValueWithKeyVault.json";
      const e = get(file).ex;
      const params = (e.parameters["parameters"] as Json)["properties"] as Json;
      const rec = recorder();
      const poller = await apim(file).namedValue.beginCreateOrUpdate(RG1, SVC, String(e.parameters["namedValueId"]), params, { ...LRO, onResponse: rec.onResponse });
      const result = await poller.pollUntilDone();
      // ALLOWED: the example answers 201 with a body, Location and Azure-AsyncOperation; Azure answers 202 without a body and with
      // Location only, the resource's URL with asyncId and asyncCode=201 (recorded: test/fixtures/recordings/azure-cli, nv #0, core #323)
      expect(rec.first().status).toBe(202);
      expect(rec.first().body).toBeUndefined();
      expect(rec.first().header("azure-asyncoperation")).toBeUndefined();
      expect(rec.first().header("location")).toMatch(/\/namedValues\/[^?]+\?.*asyncId=[^&]+&asyncCode=201$/);
      expect(result.keyVault?.lastStatus?.code).toBe("Success");
      // once done, polling the Location answers asyncCode 201 with the resource (nv #1), which reads like the GET example (no provisioningState)
      expect(rec.last().status).toBe(201);
      expectSameShape(rec.last().body, body(get("ApiManagementGetNamedValueWithKeyVault.json").ex));
    });

    it("PATCH named value (ApiManagementUpdateNamedValue): 202 with Location and Azure-AsyncOperation, then the 200 body", async () => {
      const file = "ApiManagementUpdateNamedValue.json";
      const e = get(file).ex;
      const rec = recorder();
      const poller = await apim(file).namedValue.beginUpdate(RG1, SVC, String(e.parameters["namedValueId"]), "*", (e.parameters["parameters"] as Json)["properties"] as Json, {
        ...LRO,
        onResponse: rec.onResponse,
      });
      await poller.pollUntilDone();
      expect(rec.first().status).toBe(202);
      expect(rec.first().body).toBeUndefined();
      // ALLOWED: the example has Azure-AsyncOperation too; Azure answers with Location only, the resource's URL with asyncId and
      // asyncCode=200 (recorded: test/fixtures/recordings/azure-cli, nv #8)
      expect(rec.first().header("azure-asyncoperation")).toBeUndefined();
      expect(rec.first().header("location")).toMatch(/\/namedValues\/[^?]+\?.*asyncId=[^&]+&asyncCode=200$/);
      expect(rec.last().status).toBe(200);
      // ALLOWED: the example's 200 body omits `name` (every other named value example, and ARM's proxy resource, has it)
      expectSameShape(rec.last().body, body(e), ["name"]);
      expect((rec.last().body as Json)["name"]).toBe(e.parameters["namedValueId"]);
    });
  });

  describe("tenant access", () => {
    it("GET tenant/access (ApiManagementGetTenantAccess), seeded by the emulator, carries no keys", async () => {
      const file = "ApiManagementGetTenantAccess.json";
      const rec = recorder();
      await apim(file).tenantAccess.get(RG1, SVC, "access", { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
      expect(rec.first().header("etag")).toBeTruthy();
    });

    it("GET tenant/gitAccess (ApiManagementGetTenantGitAccess)", async () => {
      const file = "ApiManagementGetTenantGitAccess.json";
      const rec = recorder();
      await apim(file).tenantAccess.get(RG1, SVC, "gitAccess", { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
    });

    it("list tenant access (ApiManagementListTenantAccess)", async () => {
      const file = "ApiManagementListTenantAccess.json";
      const rec = recorder();
      await drain(apim(file).tenantAccess.listByService(RG1, SVC, { onResponse: rec.onResponse }));
      const page = rec.first().body as Json;
      // as the example: the list holds `access` only (gitAccess, which every service also has, is read by name)
      expect(items(page).map((i) => i["name"])).toEqual(["access"]);
      expect(page["count"]).toBe(1);
      // ALLOWED: nextLink omitted on the last page (example: "")
      expectSameShape(page, body(get(file).ex), ["nextLink"]);
    });

    it("PATCH tenant/access with If-Match * (ApiManagementUpdateTenantAccess)", async () => {
      const file = "ApiManagementUpdateTenantAccess.json";
      const e = get(file).ex;
      const rec = recorder();
      await apim(file).tenantAccess.update(RG1, SVC, "access", "*", (e.parameters["parameters"] as Json)["properties"] as Json, { onResponse: rec.onResponse });
      expect(rec.first().status).toBe(200);
      expectSameShape(rec.first().body, body(e));
      expect((rec.first().body as Json)["properties"]).toEqual({ enabled: true });
    });
  });

  describe("backends", () => {
    it("GET backend (ApiManagementGetBackend)", async () => {
      const file = "ApiManagementGetBackend.json";
      const rec = recorder();
      await apim(file).backend.get(RG1, SVC, String(get(file).ex.parameters["backendId"]), { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
    });

    it("list backends (ApiManagementListBackends)", async () => {
      const file = "ApiManagementListBackends.json";
      const rec = recorder();
      expect(await drain(apim(file).backend.listByService(RG1, SVC, { onResponse: rec.onResponse }))).toHaveLength(2);
      // ALLOWED: nextLink omitted on the last page (example: "")
      expectSameShape(rec.first().body, body(get(file).ex), ["nextLink"]);
    });

    it("PATCH backend with If-Match * (ApiManagementUpdateBackend)", async () => {
      const file = "ApiManagementUpdateBackend.json";
      const e = get(file).ex;
      const rec = recorder();
      await apim(file).backend.update(RG1, SVC, String(e.parameters["backendId"]), "*", (e.parameters["parameters"] as Json)["properties"] as Json, { onResponse: rec.onResponse });
      expect(rec.first().status).toBe(200);
      expectSameShape(rec.first().body, body(e));
      expect((rec.first().body as Json)["properties"]).toMatchObject({ tls: { validateCertificateChain: false, validateCertificateName: true } });
    });
  });

  describe("subscriptions", () => {
    it("GET subscription (ApiManagementGetSubscription)", async () => {
      const file = "ApiManagementGetSubscription.json";
      const rec = recorder();
      await apim(file).subscription.get(RG1, SVC, String(get(file).ex.parameters["sid"]), { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
    });

    it("list subscriptions (ApiManagementListSubscriptions)", async () => {
      const file = "ApiManagementListSubscriptions.json";
      const rec = recorder();
      expect(await drain(apim(file).subscription.list(RG1, SVC, { onResponse: rec.onResponse }))).toHaveLength(3);
      // ALLOWED: nextLink omitted on the last page (example: "")
      expectSameShape(rec.first().body, body(get(file).ex), ["nextLink"]);
    });

    it("PATCH subscription with If-Match * (ApiManagementUpdateSubscription)", async () => {
      const file = "ApiManagementUpdateSubscription.json";
      const e = get(file).ex;
      const rec = recorder();
      await apim(file).subscription.update(RG1, SVC, String(e.parameters["sid"]), "*", (e.parameters["parameters"] as Json)["properties"] as Json, { onResponse: rec.onResponse });
      expect(rec.first().status).toBe(200);
      expectSameShape(rec.first().body, body(e));
      expect((rec.first().body as Json)["properties"]).toMatchObject({ displayName: "testsub" });
    });
  });

  describe("policies", () => {
    it("GET service policy (ApiManagementGetPolicy)", async () => {
      const file = "ApiManagementGetPolicy.json";
      const rec = recorder();
      await apim(file).policy.get(RG1, SVC, "policy", { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
    });

    it("GET API policy (ApiManagementGetApiPolicy)", async () => {
      const file = "ApiManagementGetApiPolicy.json";
      const rec = recorder();
      await apim(file).apiPolicy.get(RG1, SVC, String(get(file).ex.parameters["apiId"]), "policy", { onResponse: rec.onResponse });
      expectSameShape(rec.first().body, body(get(file).ex));
    });
  });
});

/** Paths where `actual` has a key or type that `expected` does not (actual must be a sub-shape of expected). */
function subShapeMismatches(actual: Shape, expected: Shape, at = "$"): string[] {
  if (typeof actual === "string" || typeof expected === "string") return actual === expected ? [] : [`${at}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`];
  if (Array.isArray(actual) || Array.isArray(expected)) {
    if (!Array.isArray(actual) || !Array.isArray(expected)) return [`${at}: array vs non-array`];
    const out: string[] = [];
    for (const a of actual) {
      const best = expected.map((e) => subShapeMismatches(a, e, `${at}[]`)).sort((x, y) => x.length - y.length)[0];
      if (best === undefined) out.push(`${at}[]: no element in the example`);
      else out.push(...best);
    }
    return out;
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(actual)) {
    const e = expected[k];
    if (e === undefined) out.push(`${at}.${k}: not in the example`);
    else out.push(...subShapeMismatches(v, e, `${at}.${k}`));
  }
  return out;
}

// =============================================================================

describe("management locks match the 2020-05-01 examples", () => {
  let env: TestEnv;
  const sub = subFor("locks");
  const RGL = "resourcegroupname";
  const storage = {
    id: `/subscriptions/${sub}/resourceGroups/${RGL}/providers/Microsoft.Storage/storageAccounts/teststorageaccount`,
    type: "Microsoft.Storage/storageAccounts",
    name: "teststorageaccount",
    location: "westeurope",
    properties: {},
  };
  const lockEx = (name: string) => example(`locks/examples/ManagementLocks_${name}.json`, sub);
  // the resource-level operations of the examples: Microsoft.Storage/storageAccounts/teststorageaccount, no parent resource
  const at = ["Microsoft.Storage", "", "storageAccounts", "teststorageaccount"] as const;

  beforeAll(async () => {
    env = await startTestEmulator([storage]);
  });
  afterAll(async () => env.emu.stop());

  it("create (201), update (200), get and list at resource-group level", async () => {
    const ex = lockEx("CreateOrUpdateAtResourceGroupLevel");
    const params = (ex.parameters["parameters"] as Json)["properties"] as { level: "ReadOnly" };
    const locks = env.clients.locks(sub);
    const created = recorder();
    await locks.managementLocks.createOrUpdateAtResourceGroupLevel(RGL, "testlock", { level: params.level }, { onResponse: created.onResponse });
    expect(created.first().status).toBe(201);
    expectSameShape(created.first().body, body(ex, "201"));
    const updated = recorder();
    await locks.managementLocks.createOrUpdateAtResourceGroupLevel(RGL, "testlock", { level: params.level }, { onResponse: updated.onResponse });
    expect(updated.first().status).toBe(200);
    expectSameShape(updated.first().body, body(ex, "200"));

    const got = recorder();
    await locks.managementLocks.getAtResourceGroupLevel(RGL, "testlock", { onResponse: got.onResponse });
    expectSameShape(got.first().body, body(lockEx("GetAtResourceLevel")));
    expect((got.first().body as Json)["id"]).toBe(`/subscriptions/${sub}/resourceGroups/${RGL}/providers/Microsoft.Authorization/locks/testlock`);

    const listed = recorder();
    expect(await drain(locks.managementLocks.listAtResourceGroupLevel(RGL, { onResponse: listed.onResponse }))).toHaveLength(1);
    expectSameShape(listed.first().body, body(lockEx("ListAtResourceGroupLevel")));

    await locks.managementLocks.deleteAtResourceGroupLevel(RGL, "testlock");
  });

  it("create, get, list and delete at resource level", async () => {
    const locks = env.clients.locks(sub);
    const ex = lockEx("CreateOrUpdateAtResourceLevel");
    const created = recorder();
    await locks.managementLocks.createOrUpdateAtResourceLevel(RGL, ...at, "testlock", { level: "ReadOnly" }, { onResponse: created.onResponse });
    expect(created.first().status).toBe(201);
    expectSameShape(created.first().body, body(ex, "201"));
    // the example's id is scoped to the resource group (upstream quirk); ARM scopes it to the resource
    expect((created.first().body as Json)["id"]).toBe(`${storage.id}/providers/Microsoft.Authorization/locks/testlock`);
    const again = recorder();
    await locks.managementLocks.createOrUpdateAtResourceLevel(RGL, ...at, "testlock", { level: "ReadOnly" }, { onResponse: again.onResponse });
    expect(again.first().status).toBe(200);
    expectSameShape(again.first().body, body(ex, "200"));

    const got = recorder();
    await locks.managementLocks.getAtResourceLevel(RGL, ...at, "testlock", { onResponse: got.onResponse });
    expectSameShape(got.first().body, body(lockEx("GetAtResourceLevel")));

    const listed = recorder();
    expect(await drain(locks.managementLocks.listAtResourceLevel(RGL, ...at, { onResponse: listed.onResponse }))).toHaveLength(1);
    expectSameShape(listed.first().body, body(lockEx("ListAtResourceLevel")));

    // DeleteAtResourceLevel: 200 then 204, both without a body
    const del = lockEx("DeleteAtResourceLevel");
    expect(del.responses["200"]?.body).toBeUndefined();
    const deleted = recorder();
    await locks.managementLocks.deleteAtResourceLevel(RGL, ...at, "testlock", { onResponse: deleted.onResponse });
    expect(deleted.first().status).toBe(200);
    expect(deleted.first().body).toBeUndefined();
    const gone = recorder();
    await locks.managementLocks.deleteAtResourceLevel(RGL, ...at, "testlock", { onResponse: gone.onResponse });
    expect(gone.first().status).toBe(204);
    expect(gone.first().body).toBeUndefined();
  });
});

// =============================================================================

describe("Key Vault secrets match the 7.5 examples", () => {
  let env: TestEnv;
  const sub = subFor("keyvault");
  const RGK = "rg-kv";
  const main = vault(sub, RGK, "myvault");
  const listing = vault(sub, RGK, "listvault");
  const kvEx = (name: string) => example(`keyvault/examples/${name}-example.json`, sub);
  /**
   * ALLOWED: attributes.recoverableDays. Vaults with soft delete (the default) return it and the 7.5
   * SecretBundle/SecretItem models define it; the examples were recorded before it existed.
   * List items (SecretItem) also carry attributes.recoveryLevel, which the list examples lack for the same reason.
   */
  const BUNDLE_ALLOWED = ["attributes.recoverableDays"];
  const ITEM_ALLOWED = ["value[].attributes.recoverableDays", "value[].attributes.recoveryLevel"];

  beforeAll(async () => {
    env = await startTestEmulator([
      main,
      vaultSecret(main, "mysecretname"),
      vaultSecret(main, "GetDeletedSecretTest"),
      listing,
      vaultSecret(listing, "listsecrettest0", { contentType: "plainText" }),
      vaultSecret(listing, "listsecretversionstest"),
      // RBAC: the remediator is Key Vault Secrets Officer on the resource group holding both vaults
      roleAssignment(sub, `/subscriptions/${sub}/resourceGroups/${RGK}`, SECRETS_OFFICER, REMEDIATOR),
    ]);
  });
  afterAll(async () => env.emu.stop());

  const client = (name: string) => {
    const url = env.emu.keyVaults[name];
    if (!url) throw new Error(`no vault ${name}`);
    return env.clients.secrets(url);
  };

  it("set secret (SetSecret): SecretBundle with value", async () => {
    const ex = kvEx("SetSecret");
    const rec = recorder();
    await client("myvault").setSecret(String(ex.parameters["secret-name"]), String((ex.parameters["parameters"] as Json)["value"]), { onResponse: rec.onResponse });
    expect(rec.first().status).toBe(200);
    expectSameShape(rec.first().body, body(ex), BUNDLE_ALLOWED);
  });

  it("get secret by version (GetSecret)", async () => {
    const ex = kvEx("GetSecret");
    const latest = await client("myvault").getSecret(String(ex.parameters["secret-name"]));
    const rec = recorder();
    await client("myvault").getSecret(String(ex.parameters["secret-name"]), { version: String(latest.properties.version), onResponse: rec.onResponse });
    expectSameShape(rec.first().body, body(ex), BUNDLE_ALLOWED);
    expect((rec.first().body as Json)["id"]).toBe(`${env.emu.keyVaults["myvault"]}/secrets/mysecretname/${latest.properties.version}`);
  });

  it("list secrets with maxresults=1 (GetSecrets): unversioned ids and a nextLink", async () => {
    const ex = kvEx("GetSecrets");
    const rec = recorder();
    const pages = client("listvault").listPropertiesOfSecrets({ onResponse: rec.onResponse }).byPage({ maxPageSize: 1 });
    const first = await pages.next();
    expect(first.done).toBe(false);
    const page = rec.first().body as Json;
    expectSameShape(page, body(ex), ITEM_ALLOWED);
    expect(String(items(page)[0]?.["id"])).toBe(`${env.emu.keyVaults["listvault"]}/secrets/listsecrettest0`);
  });

  it("list versions with maxresults=1 (GetSecretVersions)", async () => {
    const ex = kvEx("GetSecretVersions");
    const name = String(ex.parameters["secret-name"]);
    await client("listvault").setSecret(name, `v-${randomUUID()}`);
    const rec = recorder();
    const pages = client("listvault").listPropertiesOfSecretVersions(name, { onResponse: rec.onResponse }).byPage({ maxPageSize: 1 });
    const all = [];
    for await (const p of pages) all.push(...p);
    expect(all).toHaveLength(2);
    expectSameShape(rec.first().body, body(ex), ITEM_ALLOWED);
  });

  it("update secret properties (UpdateSecret): no value in the response", async () => {
    const ex = kvEx("UpdateSecret");
    const name = String(ex.parameters["secret-name"]);
    const set = await client("myvault").setSecret(name, `v-${randomUUID()}`);
    const p = ex.parameters["parameters"] as { tags: Record<string, string>; contentType: string; attributes: { enabled: boolean } };
    const rec = recorder();
    await client("myvault").updateSecretProperties(name, String(set.properties.version), { tags: p.tags, contentType: p.contentType, enabled: p.attributes.enabled, onResponse: rec.onResponse });
    expectSameShape(rec.first().body, body(ex), BUNDLE_ALLOWED);
    expect(rec.first().body).not.toHaveProperty("value");
  });

  it("delete secret (DeleteSecret): DeletedSecretBundle", async () => {
    const ex = kvEx("DeleteSecret");
    const rec = recorder();
    // the first poll sends the DELETE; the test does not wait for the soft delete to finish
    await client("myvault").beginDeleteSecret(String(ex.parameters["secret-name"]), { onResponse: rec.onResponse });
    const del = rec.all.find((r) => r.body !== undefined && (r.body as Json)["recoveryId"] !== undefined);
    expect(del?.status).toBe(200);
    expectSameShape(del?.body, body(ex), BUNDLE_ALLOWED);
  });
});
