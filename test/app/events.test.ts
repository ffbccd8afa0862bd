/**
 * Event filtering: which events reach the queue. `decide` is pure; the
 * payload cases go through `handleEvents` (the onResourceEvent core) so the
 * "acknowledge with a reason, never throw" contract is tested where it holds.
 * Samples: test/fixtures/azure-specs/eventgrid (copied from the public specs; see its SOURCES.md) (Event Grid and CloudEvents schemas,
 * rewritten to APIM ids where an APIM event is needed) and the emulator's events.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EventGridEvent } from "../../emulator/events.js";
import { decide, handleEvents, parseEvents, rulesForChanges, type AppDeps } from "../../src/app/app.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { PORTAL_USER, REMEDIATOR, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const DEMO = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
const SPECS = join(process.cwd(), "test", "fixtures", "azure-specs", "eventgrid");
const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const OTHER_SUB = "22222222-2222-4222-8222-222222222222";
const RG = "rg-apim-prod";
const NAME = "apim-contoso-prod";
const PROD = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/${NAME}`;
const SCOPE = { subscriptions: [SUB], resourceGroups: [] as string[], principalId: REMEDIATOR };

/** A published sample, as text (placeholders still in it). */
const sample = (path: string) => readFileSync(join(SPECS, path), "utf8");

/** A published Storage sample turned into the same event for an APIM child resource, by a given principal. */
function apimSample(path: string, resourceUri: string, operationName: string, principal = PORTAL_USER): unknown {
  const text = sample(path)
    .replace(/\/subscriptions\/\{subscription-id\}\/resource[gG]roups\/\{resource-group\}\/providers\/Microsoft\.(Storage\/storageAccounts\/\{storage-name\}|EventHub\/namespaces\/\{namespace\}\/AuthorizationRules\/RootManageSharedAccessKey)/g, resourceUri)
    .replace(/Microsoft\.(Storage\/storageAccounts|EventHub\/namespaces\/AuthorizationRules\/listKeys)\/(write|delete|action)/g, operationName)
    .replace(/\{subscription-id\}/g, SUB)
    .replace(/\{resource-group\}/g, RG)
    .replace(/"\{ID\}"/g, JSON.stringify(principal));
  return JSON.parse(text);
}

/** The CloudEvents 1.0 form of an Event Grid schema event (what a CloudEvents subscription delivers). */
function toCloudEvent(e: EventGridEvent): Record<string, unknown> {
  return { specversion: "1.0", id: e.id, source: e.topic, subject: e.subject, type: e.eventType, time: e.eventTime, datacontenttype: "application/json", data: e.data };
}

/** A minimal resource event (Event Grid schema) for `decide`. */
function ev(resourceUri: string, operationName: string, extra: Record<string, unknown> = {}, type = "Microsoft.Resources.ResourceWriteSuccess") {
  return { id: "e-1", type, subject: resourceUri, data: { resourceUri, operationName, ...extra } };
}

describe("event filtering (decide / handleEvents)", () => {
  let env: TestEnv;
  let deps: AppDeps;
  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB });
  });
  beforeEach(async () => clearAppStorage(deps));
  afterAll(async () => env.emu.stop());

  const queued = async () => (await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount;
  async function takeAll(): Promise<Array<Record<string, unknown>>> {
    const r = await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 32 });
    for (const m of r.receivedMessageItems) await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt);
    await deps.storage.pending.take(PROD);
    return r.receivedMessageItems.map((m) => JSON.parse(Buffer.from(m.messageText, "base64").toString("utf8")) as Record<string, unknown>);
  }

  it("accepts the CloudEvents 1.0 schema: an emulator event re-shaped, and the published samples with APIM ids", async () => {
    const apim = env.clientsAs(PORTAL_USER).apim(SUB);
    const since = env.emu.events.list().length;
    const nv = await apim.namedValue.get(RG, NAME, "environment");
    await apim.namedValue.beginUpdateAndWait(RG, NAME, "environment", nv.eTag as string, { value: "production-2" }, { updateIntervalInMs: 5 });
    const [event] = env.emu.events.list(since) as [EventGridEvent];
    const cloud = toCloudEvent(event);
    expect((await parseEvents(cloud))[0]).toMatchObject({ id: event.id, type: "Microsoft.Resources.ResourceWriteSuccess" });
    const [d] = await handleEvents(cloud, deps);
    expect(d).toMatchObject({ accepted: true, enqueued: true, serviceId: PROD, changedResourceId: `${PROD}/namedValues/environment` });
    expect(await takeAll()).toEqual([expect.objectContaining({ serviceId: PROD, reason: "event", changedResourceId: `${PROD}/namedValues/environment`, correlationId: event.id })]);

    // the published CloudEvents samples (the delete sample spells the attribute "specVersion")
    const samples = [
      apimSample("cloud-events-schema/resource_write_success.json", `${PROD}/apis/orders`, "Microsoft.ApiManagement/service/apis/write"),
      apimSample("cloud-events-schema/resource_delete_success.json", `${PROD}/backends/orders`, "Microsoft.ApiManagement/service/backends/delete"),
      apimSample("cloud-events-schema/resource_action_success.json", `${PROD}/namedValues/environment`, "Microsoft.ApiManagement/service/namedValues/listValue/action"),
    ];
    for (const s of samples) {
      const [n] = await parseEvents(s);
      expect(decide(n as NonNullable<typeof n>, SCOPE)).toMatchObject({ accepted: true, serviceId: PROD });
    }
    // and in one batch (CloudEvents batch mode): one service, one message
    const batch = await handleEvents(samples, deps);
    expect(batch.map((x) => x.accepted)).toEqual([true, true, true]);
    expect(batch.filter((x) => x.enqueued)).toHaveLength(1);
    expect(await takeAll()).toHaveLength(1);
  });

  it("ignores other providers, APIM's own (non-ARM) events, and non-APIM operations", async () => {
    for (const path of ["event-grid-schema/resource_write_success.json", "event-grid-schema/resource_delete_success.json", "event-grid-schema/resource_action_success.json", "cloud-events-schema/resource_write_success.json", "docs-subscription-topic/ResourceWriteSuccess.json"]) {
      const decisions = await handleEvents(JSON.parse(sample(path)), deps);
      expect(decisions, path).toEqual([expect.objectContaining({ accepted: false, reason: "not an API Management resource" })]);
    }
    const apimSource = await handleEvents(JSON.parse(sample("apim-source-events/apiUpdated.event-grid-schema.json")), deps);
    expect(apimSource[0]).toMatchObject({ accepted: false, reason: "event type Microsoft.ApiManagement.APIUpdated is not a resource event" });
    // a Key Vault or role assignment write, even in the service's resource group
    expect(decide(ev(`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`, "Microsoft.KeyVault/vaults/write"), SCOPE).accepted).toBe(false);
    expect(decide(ev(`${PROD}/apis/orders`, "Microsoft.Storage/storageAccounts/write"), SCOPE)).toMatchObject({ accepted: false, reason: expect.stringContaining("is not an API Management or lock operation") });
    expect(await queued()).toBe(0);
  });

  it("rejects services outside the configured subscriptions and resource groups", async () => {
    const other = `/subscriptions/${OTHER_SUB}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/apim-other/apis/a`;
    expect(decide(ev(other, "Microsoft.ApiManagement/service/apis/write"), SCOPE)).toEqual({ accepted: false, reason: `subscription ${OTHER_SUB} is out of scope` });
    expect(decide(ev(other, "Microsoft.ApiManagement/service/apis/write"), { ...SCOPE, subscriptions: [] }).accepted).toBe(true);
    const rgScope = { ...SCOPE, resourceGroups: ["rg-apim-dev"] };
    expect(decide(ev(`${PROD}/apis/orders`, "Microsoft.ApiManagement/service/apis/write"), rgScope)).toEqual({ accepted: false, reason: `resource group ${RG} is out of scope` });
    const dev = `/subscriptions/${SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
    expect(decide(ev(dev, "Microsoft.ApiManagement/service/write"), rgScope)).toMatchObject({ accepted: true, serviceId: dev });
    // through handleEvents: acknowledged, nothing enqueued
    const sampled = apimSample("event-grid-schema/resource_write_success.json", other, "Microsoft.ApiManagement/service/apis/write");
    expect((await handleEvents(sampled, deps))[0]).toMatchObject({ accepted: false, reason: `subscription ${OTHER_SUB} is out of scope` });
    expect(await queued()).toBe(0);
  });

  it("compares ids case-insensitively (resourcegroups, provider, subscription and group casing) and coalesces the variants", async () => {
    const lower = PROD.toLowerCase();
    expect(lower).toContain("/resourcegroups/rg-apim-prod/providers/microsoft.apimanagement/service/");
    const d = decide(ev(`${lower}/apis/orders`, "microsoft.apimanagement/service/apis/write"), { ...SCOPE, resourceGroups: ["RG-APIM-PROD"] });
    // the service id comes back in the canonical casing of its segments
    expect(d).toMatchObject({ accepted: true, serviceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/${NAME}` });
    const upperSub = PROD.replace(SUB, SUB.toUpperCase()).replace("resourceGroups", "RESOURCEGROUPS");
    expect(decide(ev(`${upperSub}/tenant/access`, "Microsoft.ApiManagement/service/tenant/write"), SCOPE).accepted).toBe(true);

    // the same service spelled three ways: one message
    const decisions = [
      ...(await handleEvents(apimSample("event-grid-schema/resource_write_success.json", `${PROD}/apis/orders`, "Microsoft.ApiManagement/service/apis/write"), deps)),
      ...(await handleEvents(apimSample("event-grid-schema/resource_write_success.json", `${lower}/apis/orders`, "Microsoft.ApiManagement/service/apis/write"), deps)),
      ...(await handleEvents(apimSample("event-grid-schema/resource_write_success.json", `${upperSub}/namedValues/x`, "Microsoft.ApiManagement/service/namedValues/write"), deps)),
    ];
    expect(decisions.map((x) => [x.accepted, x.enqueued])).toEqual([
      [true, true],
      [true, false],
      [true, false],
    ]);
    expect(await takeAll()).toHaveLength(1);
  });

  it("accepts locks on a service (and its children), ignores resource-group and subscription locks", async () => {
    const lock = `${PROD}/providers/Microsoft.Authorization/locks/do-not-delete`;
    for (const op of ["Microsoft.Authorization/locks/write", "Microsoft.Authorization/locks/delete"]) {
      const d = decide(ev(lock, op, {}, op.endsWith("delete") ? "Microsoft.Resources.ResourceDeleteSuccess" : "Microsoft.Resources.ResourceWriteSuccess"), SCOPE);
      expect(d).toEqual({ accepted: true, reason: "ok", serviceId: PROD, changedResourceId: lock });
    }
    expect(rulesForChanges(PROD, [lock]).map((r) => r.meta.id)).toEqual(["resource-lock"]);
    expect(decide(ev(`${PROD}/apis/orders/providers/Microsoft.Authorization/locks/l1`, "Microsoft.Authorization/locks/write"), SCOPE)).toMatchObject({ accepted: true, serviceId: PROD });
    expect(decide(ev(`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Authorization/locks/rg-lock`, "Microsoft.Authorization/locks/delete"), SCOPE)).toMatchObject({ accepted: false, reason: "not an API Management resource" });
    expect(decide(ev(`/subscriptions/${SUB}/providers/Microsoft.Authorization/locks/sub-lock`, "Microsoft.Authorization/locks/delete"), SCOPE)).toMatchObject({ accepted: false, reason: "not an API Management resource" });
    // a real RG-lock event from the emulator
    const locks = env.clientsAs(PORTAL_USER).locks(SUB).managementLocks;
    const since = env.emu.events.list().length;
    await locks.createOrUpdateAtResourceGroupLevel(RG, "rg-lock", { level: "CanNotDelete" });
    const [rgEvent] = env.emu.events.list(since);
    expect((await handleEvents(rgEvent, deps))[0]).toMatchObject({ accepted: false, reason: "not an API Management resource" });
    expect(await queued()).toBe(0);
  });

  it("drops the remediator's own events, by claims or by authorization evidence", () => {
    const op = "Microsoft.ApiManagement/service/apis/write";
    expect(decide(ev(`${PROD}/apis/a`, op, { claims: { "http://schemas.microsoft.com/identity/claims/objectidentifier": REMEDIATOR.toUpperCase() } }), SCOPE).reason).toBe("caused by the remediator itself");
    expect(decide(ev(`${PROD}/apis/a`, op, { authorization: { evidence: { principalId: REMEDIATOR.replace(/-/g, "") } } }), SCOPE).reason).toBe("caused by the remediator itself");
    expect(decide(ev(`${PROD}/apis/a`, op, { claims: { oid: PORTAL_USER } }), SCOPE).accepted).toBe(true);
  });

  it("acknowledges malformed payloads with a reason and never throws", async () => {
    const valid = JSON.parse(sample("event-grid-schema/resource_write_success.json")) as Record<string, unknown>;
    const { data: _data, ...withoutData } = valid;
    const payloads: unknown[] = [
      null,
      undefined,
      "",
      "not json",
      42,
      [],
      [null],
      {},
      { eventType: "Microsoft.Resources.ResourceWriteSuccess" },
      { ...valid, eventTime: "yesterday" },
      withoutData,
      { specversion: "1.0", id: "x" },
      { ...valid, data: { operationName: "Microsoft.ApiManagement/service/apis/write" } },
      { ...valid, data: { resourceUri: `${PROD}/apis/a` } },
      { ...valid, data: { resourceUri: `${PROD}/apis/../../../service/other`, operationName: "Microsoft.ApiManagement/service/apis/write" } },
      { ...valid, data: { resourceUri: `${PROD}/apis/a%2Fb`, operationName: "Microsoft.ApiManagement/service/apis/write" } },
      { ...valid, data: { resourceUri: `${PROD}/apis/${"a".repeat(3000)}`, operationName: "Microsoft.ApiManagement/service/apis/write" } },
      { ...valid, data: { resourceUri: 17, operationName: [] } },
      { ...valid, data: "a string" },
    ];
    for (const p of payloads) {
      const decisions = await handleEvents(p, deps);
      expect(decisions.length, JSON.stringify(p)?.slice(0, 80)).toBeGreaterThan(0);
      for (const d of decisions) {
        expect(d.accepted, JSON.stringify(p)?.slice(0, 80)).toBe(false);
        expect(d.reason.length).toBeGreaterThan(0);
      }
    }
    expect((await handleEvents(null, deps))[0]?.reason).toMatch(/^malformed event: /);
    expect(await queued()).toBe(0);
  });
});
