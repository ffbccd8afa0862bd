/**
 * Event Grid resource events of the emulator: exactly one event per
 * successful write, delete or action made through the real SDK clients, in
 * the shape of ARM's subscription system topic (checked against the published
 * samples and `@azure/eventgrid`'s deserializer), none for reads and failed
 * writes, and webhook delivery as Event Grid does it.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { EventGridDeserializer, isSystemEvent } from "@azure/eventgrid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventGridEvent } from "../../emulator/events.js";
import { child, PORTAL_USER, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const SVC = "apim-events";
const SVC_ID = serviceId(SVC);
const API_ID = `${SVC_ID}/apis/echo`;
const NV_ID = `${SVC_ID}/namedValues/backend-key`;
const SECRET_VALUE = `nv-${randomUUID()}`;
const OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier";
const SHARED = path.join(process.cwd(), "test", "fixtures");
const SAMPLES = path.join(SHARED, "azure-specs", "eventgrid", "event-grid-schema");
const lro = { updateIntervalInMs: 10 };

function estate(): Array<Record<string, unknown>> {
  return [
    service(SVC),
    child(SVC, "apis/echo", "Microsoft.ApiManagement/service/apis", { displayName: "Echo", path: "echo", protocols: ["https"], serviceUrl: "https://backend.example/echo" }),
    child(SVC, "namedValues/backend-key", "Microsoft.ApiManagement/service/namedValues", { displayName: "backend-key", secret: true, value: SECRET_VALUE }),
    child(SVC, "namedValues/to-delete", "Microsoft.ApiManagement/service/namedValues", { displayName: "to-delete", secret: false, value: "x" }),
  ];
}

const sameId = (a: string | undefined, b: string) => (a ?? "").toLowerCase() === b.toLowerCase();
const noDashes = (guid: string) => guid.replace(/-/g, "").toLowerCase();

/** Runs `action` and returns the events it produced. */
async function eventsOf(env: TestEnv, action: () => Promise<unknown>): Promise<EventGridEvent[]> {
  const before = env.emu.events.list().length;
  await action();
  return env.emu.events.list(before);
}

/** The one event an action produced, checked for the ARM resource-event contract. */
async function oneEvent(
  env: TestEnv,
  action: () => Promise<unknown>,
  expected: { eventType: string; operationName: string; resourceUri: string; principal: string; method: string },
): Promise<EventGridEvent> {
  const events = await eventsOf(env, action);
  expect(events.map((e) => [e.eventType, e.data["operationName"]])).toEqual([[expected.eventType, expected.operationName]]);
  const e = events[0] as EventGridEvent;
  expect(sameId(e.subject, expected.resourceUri)).toBe(true);
  expect(sameId(e.data["resourceUri"] as string, expected.resourceUri)).toBe(true);
  expect(e.topic).toBe(`/subscriptions/${SUB}`);
  expect(e.data["subscriptionId"]).toBe(SUB);
  expect(e.data["tenantId"]).toBe(env.emu.tenantId);
  expect(e.data["status"]).toBe("Succeeded");
  expect(e.dataVersion).toBe("2");
  expect(e.metadataVersion).toBe("1");
  const auth = e.data["authorization"] as { scope: string; action: string; evidence: Record<string, string> };
  expect(auth.action).toBe(expected.operationName);
  expect(sameId(auth.scope, expected.resourceUri)).toBe(true);
  // ARM writes evidence ids without dashes
  expect(noDashes(auth.evidence["principalId"] ?? "")).toBe(noDashes(expected.principal));
  const claims = e.data["claims"] as Record<string, string>;
  expect(claims[OID_CLAIM]).toBe(expected.principal);
  expect(claims["http://schemas.microsoft.com/identity/claims/tenantid"]).toBe(env.emu.tenantId);
  const http = e.data["httpRequest"] as { method: string; url: string };
  expect(http.method).toBe(expected.method);
  expect(new URL(http.url).origin).toBe(env.emu.armEndpoint);
  return e;
}

function sample(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(SAMPLES, file), "utf8")) as Record<string, unknown>;
}
const keys = (o: unknown) => Object.keys(o as Record<string, unknown>).sort();

/**
 * The event has the published sample's keys. The write sample omits
 * `httpRequest`, which the delete and action samples (and real ARM events)
 * carry; `httpRequest` and `evidence` are compared with the action sample's.
 */
function expectSampleShape(e: EventGridEvent, file: string): void {
  const s = sample(file);
  const full = sample("resource_action_success.json")["data"] as Record<string, Record<string, unknown>>;
  expect(s["eventType"]).toBe(e.eventType);
  expect(keys(e)).toEqual(keys(s));
  const sd = s["data"] as Record<string, unknown>;
  expect(keys(e.data)).toEqual([...new Set([...keys(sd), "httpRequest"])].sort());
  expect(keys(e.data["httpRequest"])).toEqual(keys(full["httpRequest"]));
  const auth = e.data["authorization"] as Record<string, unknown>;
  expect(keys(auth)).toEqual(keys(sd["authorization"]));
  expect(keys(auth["evidence"])).toEqual(keys(full["authorization"]?.["evidence"]));
  const sampleClaims = new Set(keys(sd["claims"]));
  expect(keys(e.data["claims"]).filter((k) => !sampleClaims.has(k))).toEqual([]);
  for (const [k, v] of Object.entries(e.data["claims"] as Record<string, unknown>)) expect(typeof v, `claim ${k}`).toBe("string");
}

describe("Event Grid resource events", () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await startTestEmulator(estate(), { lroDurationMs: 0 });
  });
  afterAll(async () => env.emu.stop());

  const apim = () => env.clients.apim(SUB);
  const portal = () => env.clientsAs(PORTAL_USER).apim(SUB);

  it("api.update: one ResourceWriteSuccess with the caller's identity (portal user)", async () => {
    const { eTag: etag } = await portal().api.getEntityTag(RG, SVC, "echo");
    const e = await oneEvent(env, () => portal().api.update(RG, SVC, "echo", etag as string, { displayName: "Echo v2" }), {
      eventType: "Microsoft.Resources.ResourceWriteSuccess",
      operationName: "Microsoft.ApiManagement/service/apis/write",
      resourceUri: API_ID,
      principal: PORTAL_USER,
      method: "PATCH",
    });
    expect(e.data["resourceProvider"]).toBe("Microsoft.ApiManagement");
    expectSampleShape(e, "resource_write_success.json");
  });

  it("the same write by the remediator names the remediator", async () => {
    const { eTag: etag } = await apim().api.getEntityTag(RG, SVC, "echo");
    await oneEvent(env, () => apim().api.update(RG, SVC, "echo", etag as string, { displayName: "Echo" }), {
      eventType: "Microsoft.Resources.ResourceWriteSuccess",
      operationName: "Microsoft.ApiManagement/service/apis/write",
      resourceUri: API_ID,
      principal: REMEDIATOR,
      method: "PATCH",
    });
  });

  it("namedValue.listValue: one ResourceActionSuccess, without the value in it", async () => {
    let value: string | undefined;
    const e = await oneEvent(
      env,
      async () => {
        value = (await portal().namedValue.listValue(RG, SVC, "backend-key")).value;
      },
      {
        eventType: "Microsoft.Resources.ResourceActionSuccess",
        operationName: "Microsoft.ApiManagement/service/namedValues/listValue/action",
        resourceUri: NV_ID,
        principal: PORTAL_USER,
        method: "POST",
      },
    );
    expect(value === SECRET_VALUE).toBe(true);
    expect(JSON.stringify(e).includes(SECRET_VALUE)).toBe(false);
    expectSampleShape(e, "resource_action_success.json");
  });

  it("tenantAccess.update: one write event on the tenant access resource", async () => {
    const { eTag } = await apim().tenantAccess.getEntityTag(RG, SVC, "access");
    await oneEvent(env, () => apim().tenantAccess.update(RG, SVC, "access", eTag as string, { enabled: false }), {
      eventType: "Microsoft.Resources.ResourceWriteSuccess",
      operationName: "Microsoft.ApiManagement/service/tenant/write",
      resourceUri: `${SVC_ID}/tenant/access`,
      principal: REMEDIATOR,
      method: "PATCH",
    });
  });

  it("service beginUpdateAndWait (long-running): exactly one write event, after completion", async () => {
    const e = await oneEvent(env, () => apim().apiManagementService.beginUpdateAndWait(RG, SVC, { publisherName: "Contoso APIs" }, lro), {
      eventType: "Microsoft.Resources.ResourceWriteSuccess",
      operationName: "Microsoft.ApiManagement/service/write",
      resourceUri: SVC_ID,
      principal: REMEDIATOR,
      method: "PATCH",
    });
    expect(e.data["resourceProvider"]).toBe("Microsoft.ApiManagement");
    // polling the operation is a read: still one event after more polls/reads
    await apim().apiManagementService.get(RG, SVC);
    expect(env.emu.events.list().filter((x) => x.id === e.id)).toHaveLength(1);
  });

  it("namedValue.delete: one ResourceDeleteSuccess", async () => {
    const e = await oneEvent(env, () => portal().namedValue.delete(RG, SVC, "to-delete", "*"), {
      eventType: "Microsoft.Resources.ResourceDeleteSuccess",
      operationName: "Microsoft.ApiManagement/service/namedValues/delete",
      resourceUri: `${SVC_ID}/namedValues/to-delete`,
      principal: PORTAL_USER,
      method: "DELETE",
    });
    expectSampleShape(e, "resource_delete_success.json");
    // deleting what is gone succeeds (204) but changes nothing: no event
    expect(await eventsOf(env, () => portal().namedValue.delete(RG, SVC, "to-delete", "*"))).toEqual([]);
  });

  it("lock create and delete through ManagementLockClient: one write and one delete event", async () => {
    const locks = env.clientsAs(PORTAL_USER).locks(SUB).managementLocks;
    const lockId = `${SVC_ID}/providers/Microsoft.Authorization/locks/no-delete`;
    const w = await oneEvent(env, () => locks.createOrUpdateByScope(SVC_ID, "no-delete", { level: "CanNotDelete", notes: "keep" }), {
      eventType: "Microsoft.Resources.ResourceWriteSuccess",
      operationName: "Microsoft.Authorization/locks/write",
      resourceUri: lockId,
      principal: PORTAL_USER,
      method: "PUT",
    });
    expect(w.data["resourceProvider"]).toBe("Microsoft.Authorization");
    const d = await oneEvent(env, () => locks.deleteByScope(SVC_ID, "no-delete"), {
      eventType: "Microsoft.Resources.ResourceDeleteSuccess",
      operationName: "Microsoft.Authorization/locks/delete",
      resourceUri: lockId,
      principal: PORTAL_USER,
      method: "DELETE",
    });
    expect(d.subject).not.toBe("");

    // resource-group level lock, through the group-level operation
    const rgLock = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Authorization/locks/rg-ro`;
    await oneEvent(env, () => locks.createOrUpdateAtResourceGroupLevel(RG, "rg-ro", { level: "ReadOnly" }), {
      eventType: "Microsoft.Resources.ResourceWriteSuccess",
      operationName: "Microsoft.Authorization/locks/write",
      resourceUri: rgLock,
      principal: PORTAL_USER,
      method: "PUT",
    });
    // a write refused by the lock (409 ScopeLocked) produces no event
    const { eTag: etag } = await apim().api.getEntityTag(RG, SVC, "echo");
    expect(await eventsOf(env, () => apim().api.update(RG, SVC, "echo", etag as string, { displayName: "locked" }).catch((err: { statusCode?: number }) => expect(err.statusCode).toBe(409)))).toEqual([]);
    await oneEvent(env, () => locks.deleteAtResourceGroupLevel(RG, "rg-ro"), {
      eventType: "Microsoft.Resources.ResourceDeleteSuccess",
      operationName: "Microsoft.Authorization/locks/delete",
      resourceUri: rgLock,
      principal: PORTAL_USER,
      method: "DELETE",
    });
  });

  it("role assignment create: one write event", async () => {
    const name = randomUUID();
    await oneEvent(
      env,
      () =>
        env.clientsAs(PORTAL_USER).authorization(SUB).roleAssignments.create(SVC_ID, name, {
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/312a565d-c81f-4fd8-895a-4e21e48d571c`,
          principalId: REMEDIATOR,
        }),
      {
        eventType: "Microsoft.Resources.ResourceWriteSuccess",
        operationName: "Microsoft.Authorization/roleAssignments/write",
        resourceUri: `${SVC_ID}/providers/Microsoft.Authorization/roleAssignments/${name}`,
        principal: PORTAL_USER,
        method: "PUT",
      },
    );
  });

  it("failed writes produce no event (412, 400)", async () => {
    const stale = '"AAAAAAAAAAA="';
    const statuses: Array<number | undefined> = [];
    const events = await eventsOf(env, async () => {
      for (const call of [
        () => apim().api.update(RG, SVC, "echo", stale, { displayName: "stale" }),
        () => apim().tenantAccess.update(RG, SVC, "access", stale, { enabled: true }),
        () => apim().namedValue.beginUpdateAndWait(RG, SVC, "backend-key", stale, { value: "other" }, lro),
        () => env.clients.locks(SUB).managementLocks.createOrUpdateByScope(SVC_ID, "bad", { level: "NotALevel" }),
      ]) {
        statuses.push(await call().then(() => 200, (err: { statusCode?: number }) => err.statusCode));
      }
    });
    expect(statuses).toEqual([412, 412, 412, 400]);
    expect(events).toEqual([]);
    expect((await apim().api.get(RG, SVC, "echo")).displayName).toBe("Echo");
  });

  it("reads produce no event", async () => {
    const events = await eventsOf(env, async () => {
      await apim().apiManagementService.get(RG, SVC);
      for await (const _ of apim().apiManagementService.listByResourceGroup(RG)) void _;
      await apim().api.get(RG, SVC, "echo");
      await apim().api.getEntityTag(RG, SVC, "echo");
      for await (const _ of apim().api.listByService(RG, SVC)) void _;
      await apim().namedValue.get(RG, SVC, "backend-key");
      for await (const _ of apim().namedValue.listByService(RG, SVC)) void _;
      await apim().tenantAccess.get(RG, SVC, "access");
      for await (const _ of env.clients.locks(SUB).managementLocks.listAtResourceGroupLevel(RG)) void _;
      for await (const _ of env.clients.authorization(SUB).roleAssignments.listForScope(SVC_ID)) void _;
    });
    expect(events).toEqual([]);
  });

  it("every event deserializes with @azure/eventgrid and narrows with isSystemEvent", async () => {
    const all = env.emu.events.list();
    expect(all.length).toBeGreaterThanOrEqual(10);
    const parsed = await new EventGridDeserializer().deserializeEventGridEvents(JSON.stringify(all));
    expect(parsed).toHaveLength(all.length);
    let writes = 0;
    for (const [i, e] of parsed.entries()) {
      const raw = all[i] as EventGridEvent;
      expect(e.id).toBe(raw.id);
      expect(e.eventTime).toBeInstanceOf(Date);
      expect(Number.isNaN(e.eventTime.getTime())).toBe(false);
      if (isSystemEvent("Microsoft.Resources.ResourceWriteSuccess", e)) {
        writes++;
        // typed access through the narrowed type
        expect(e.data.operationName.endsWith("/write")).toBe(true);
        expect(e.data.authorization.action).toBe(e.data.operationName);
        expect(sameId(e.subject, e.data.resourceUri)).toBe(true);
        expect(typeof e.data.claims[OID_CLAIM]).toBe("string");
        expect(e.data.httpRequest.method).toMatch(/^(PUT|PATCH)$/);
      } else if (isSystemEvent("Microsoft.Resources.ResourceDeleteSuccess", e)) {
        expect(e.data.operationName.endsWith("/delete")).toBe(true);
      } else if (isSystemEvent("Microsoft.Resources.ResourceActionSuccess", e)) {
        expect(e.data.operationName.endsWith("/action")).toBe(true);
      } else {
        throw new Error(`unexpected event type ${e.eventType}`);
      }
    }
    expect(writes).toBeGreaterThanOrEqual(5);
    // the deserializer rejects what is not an Event Grid event
    await expect(new EventGridDeserializer().deserializeEventGridEvents(JSON.stringify([{ ...all[0], eventTime: undefined }]))).rejects.toThrow();
  });
});

describe("Event Grid webhook delivery", () => {
  let env: TestEnv;
  let server: Server;
  const received: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    env = await startTestEmulator(estate(), { lroDurationMs: 0, eventWebhook: `http://127.0.0.1:${port}/runtime/webhooks/EventGrid?functionName=onResourceEvent` });
  });
  afterAll(async () => {
    await env.emu.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("POSTs each event as a Notification holding a JSON array", async () => {
    const { eTag: etag } = await env.clients.apim(SUB).api.getEntityTag(RG, SVC, "echo");
    const events = await eventsOf(env, () => env.clients.apim(SUB).api.update(RG, SVC, "echo", etag as string, { displayName: "Echo hook" }));
    expect(events).toHaveLength(1);
    const event = events[0] as EventGridEvent;

    const arrived = () => received.find((r) => r.body.includes(event.id));
    for (let i = 0; i < 200 && !arrived(); i++) await new Promise((r) => setTimeout(r, 10));
    const delivery = arrived();
    expect(delivery, "webhook delivery").toBeDefined();
    expect(delivery?.method).toBe("POST");
    expect(delivery?.url).toBe("/runtime/webhooks/EventGrid?functionName=onResourceEvent");
    expect(delivery?.headers["aeg-event-type"]).toBe("Notification");
    expect(delivery?.headers["content-type"]).toMatch(/^application\/json/);
    const body = JSON.parse(delivery?.body ?? "null") as unknown;
    expect(Array.isArray(body)).toBe(true);
    expect(body).toEqual([event]);
    const parsed = await new EventGridDeserializer().deserializeEventGridEvents(delivery?.body ?? "");
    expect(parsed[0] && isSystemEvent("Microsoft.Resources.ResourceWriteSuccess", parsed[0])).toBe(true);
    expect(env.emu.events.webhookErrors).toBe(0);
  });
});
