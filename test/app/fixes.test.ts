/**
 * End to end for each named fix: a user's change in the emulator (as a portal
 * user) -> its Event Grid event -> handleEvents -> the evaluation queue
 * (Azurite) -> the worker (drainQueue) -> the fixed state, re-read through the
 * SDKs. The remediator's own writes emit events too: fed back in, every one is
 * dropped and nothing is enqueued. One of the fixes goes through the actual
 * Functions handlers (onResourceEvent, evaluate) built from process.env.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventGridEvent } from "../../emulator/events.js";
import { handleEvents, type AppDeps, type EvaluateOutcome } from "../../src/app/app.js";
import type { AzureClients } from "../../src/azure/clients.js";
import { drainQueue } from "../../src/local/driver.js";
import { resetAppDeps } from "../../src/app/runtime.js";
import { encodeMessage } from "../../src/app/storage.js";
import { evaluate } from "../../src/functions/evaluate.js";
import { onResourceEvent } from "../../src/functions/onResourceEvent.js";
import { secretNameFor } from "../../src/remediations/fixes/key-vault.js";
import { appEnv, appFor, clearAppStorage } from "../helpers/app.js";
import { PORTAL_USER, REMEDIATOR, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const DEMO = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const RG = "rg-apim-prod";
const NAME = "apim-contoso-prod";
const PROD = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/${NAME}`;
const KV_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`;
const LOCK = "do-not-delete";

describe("each fix end to end: user change -> event -> queue -> worker -> fixed", () => {
  let env: TestEnv;
  let deps: AppDeps;
  let user: AzureClients;
  let settings: Record<string, string>;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
    settings = { REMEDIATOR_SUBSCRIPTIONS: SUB, KEY_VAULT_URL: env.emu.keyVaults["kv-contoso-apim"] as string, KEY_VAULT_RESOURCE_ID: KV_ID };
    deps = await appFor(env.emu, settings);
    await clearAppStorage(deps);
    user = env.clientsAs(PORTAL_USER);
  });
  afterAll(async () => {
    process.env = savedEnv;
    resetAppDeps();
    await env.emu.stop();
  });

  /** Runs the user's change and returns the one event it emitted (and where the event feed stood after it). */
  async function userChange(change: () => Promise<unknown>): Promise<{ event: EventGridEvent; after: number }> {
    const since = env.emu.events.list().length;
    await change();
    const events = env.emu.events.list(since);
    expect(events).toHaveLength(1);
    const event = events[0] as EventGridEvent;
    expect((event.data["authorization"] as { evidence: { principalId: string } }).evidence.principalId).toBe(PORTAL_USER.replace(/-/g, ""));
    return { event, after: since + 1 };
  }

  async function queued(): Promise<number> {
    return (await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount ?? -1;
  }

  /** The remediator's own writes emitted events; fed back in, all are dropped and nothing is enqueued. */
  async function ownEventsCauseNothing(after: number, until?: number): Promise<void> {
    const own = env.emu.events.list(after).slice(0, until === undefined ? undefined : until - after);
    expect(own.length).toBeGreaterThan(0);
    for (const e of own) {
      const evidence = (e.data["authorization"] as { evidence: { principalId: string } }).evidence;
      expect(evidence.principalId).toBe(REMEDIATOR.replace(/-/g, ""));
      const [d] = await handleEvents(e, deps);
      expect(d?.accepted).toBe(false);
      if (String(e.data["resourceUri"]).toLowerCase().startsWith(PROD.toLowerCase())) expect(d?.reason).toBe("caused by the remediator itself");
    }
    // the whole batch at once, as Event Grid may deliver it
    expect((await handleEvents(own, deps)).every((d) => !d.accepted)).toBe(true);
    expect(await queued()).toBe(0);
  }

  /** The event through handleEvents and the queue to the worker; `until` is where the event feed stood when the worker was done. */
  async function eventToFix(event: EventGridEvent): Promise<{ outcome: EvaluateOutcome; until: number }> {
    const [decision] = await handleEvents(event, deps);
    expect(decision).toMatchObject({ accepted: true, enqueued: true, serviceId: PROD, changedResourceId: event.data["resourceUri"] });
    expect(await queued()).toBe(1);
    const drained = await drainQueue(deps);
    const until = env.emu.events.list().length;
    expect(drained).toMatchObject({ processed: 1, failed: 0, poisoned: 0 });
    expect(await queued()).toBe(0);
    const outcome = drained.outcomes[0] as EvaluateOutcome;
    expect(outcome.kind).toBe("evaluated");
    return { outcome, until };
  }

  const applied = (o: EvaluateOutcome) => (o.kind === "evaluated" ? o.result.actions.filter((a) => a.outcome === "applied").map((a) => `${a.ruleId} ${a.resourceId.slice(PROD.length)}`) : []);

  it("re-enabled HTTP on an API: back to HTTPS only", async () => {
    const apim = user.apim(SUB);
    const api = await apim.api.get(RG, NAME, "orders");
    const { event, after } = await userChange(() => apim.api.update(RG, NAME, "orders", api.eTag as string, { protocols: ["http", "https"] }));
    expect(event.data["operationName"]).toBe("Microsoft.ApiManagement/service/apis/write");
    const { outcome, until } = await eventToFix(event);
    expect(applied(outcome)).toEqual(["api-https-only /apis/orders"]);
    expect((await apim.api.get(RG, NAME, "orders")).protocols).toEqual(["https"]);
    await ownEventsCauseNothing(after, until);
  });

  it("enabled the direct management endpoint: switched off again (through the onResourceEvent and evaluate handlers)", async () => {
    Object.assign(process.env, appEnv(env.emu, settings));
    resetAppDeps();
    const apim = user.apim(SUB);
    const access = await apim.tenantAccess.get(RG, NAME, "access");
    expect(access.enabled).toBe(false);
    const { event, after } = await userChange(() => apim.tenantAccess.update(RG, NAME, "access", access.eTag as string, { enabled: true }));
    expect((await apim.tenantAccess.get(RG, NAME, "access")).enabled).toBe(true);

    // the Event Grid trigger hands the handler the one event, JSON-parsed, in the Event Grid schema
    const eventContext = new InvocationContext({ invocationId: "evt-1", functionName: "onResourceEvent", logHandler: () => undefined });
    const decisions = await onResourceEvent(JSON.parse(JSON.stringify(event)), eventContext);
    expect(decisions).toEqual([expect.objectContaining({ accepted: true, enqueued: true, serviceId: PROD })]);

    // the queue trigger hands the handler the message base64-decoded and, being JSON, parsed
    const { receivedMessageItems } = await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    expect(receivedMessageItems).toHaveLength(1);
    const item = receivedMessageItems[0] as (typeof receivedMessageItems)[number];
    const message = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as Record<string, unknown>;
    expect(message).toMatchObject({ serviceId: PROD, reason: "event", changedResourceId: `${PROD}/tenant/access`, correlationId: event.id });
    const queueContext = new InvocationContext({
      invocationId: "eval-1",
      functionName: "evaluate",
      logHandler: () => undefined,
      triggerMetadata: { id: item.messageId, dequeueCount: item.dequeueCount, popReceipt: item.popReceipt },
    });
    const outcome = await evaluate(message, queueContext);
    const until = env.emu.events.list().length;
    await deps.storage.evaluateQueue.deleteMessage(item.messageId, item.popReceipt); // the host deletes it on success
    expect(outcome?.kind).toBe("evaluated");
    expect(applied(outcome as EvaluateOutcome)).toEqual(["direct-management-endpoint-disabled /tenant/access"]);
    expect((await apim.tenantAccess.get(RG, NAME, "access")).enabled).toBe(false);

    for (const e of env.emu.events.list(after).slice(0, until - after)) expect((await onResourceEvent(JSON.parse(JSON.stringify(e)), eventContext))[0]?.accepted).toBe(false);
    await ownEventsCauseNothing(after, until);
  });

  it("added a plain-text secret named value: migrated to Key Vault, value intact", async () => {
    const apim = user.apim(SUB);
    const value = "demo-new-secret-Hv92";
    const { event, after } = await userChange(() => apim.namedValue.beginCreateOrUpdateAndWait(RG, NAME, "billing-key", { displayName: "billing-key", secret: true, value }, { updateIntervalInMs: 5 }));
    expect(event.data["resourceUri"]).toBe(`${PROD}/namedValues/billing-key`);
    const { outcome, until } = await eventToFix(event);
    expect(applied(outcome)).toEqual(["named-value-secrets-in-key-vault /namedValues/billing-key"]);
    const nv = await apim.namedValue.get(RG, NAME, "billing-key");
    const secretName = secretNameFor(NAME, "billing-key");
    expect(nv.keyVault?.secretIdentifier).toMatch(new RegExp(`/secrets/${secretName}$`));
    expect(nv.value).toBeUndefined();
    expect((await apim.namedValue.listValue(RG, NAME, "billing-key")).value).toBe(value);
    expect((await deps.clients.secrets(settings["KEY_VAULT_URL"]).getSecret(secretName)).value).toBe(value);
    await ownEventsCauseNothing(after, until);
  });

  it("deleted a lock: re-created exactly as the inventory saw it", async () => {
    const locks = user.locks(SUB).managementLocks;
    const before = await locks.getByScope(PROD, LOCK);
    // the inventory has to have seen the lock: one evaluation first (as a sweep or an earlier event would)
    await deps.storage.evaluateQueue.sendMessage(encodeMessage({ serviceId: PROD, reason: "manual", correlationId: "inventory-1", enqueuedAt: new Date().toISOString() }));
    const first = await drainQueue(deps);
    expect(first).toMatchObject({ processed: 1, failed: 0 });
    expect(first.outcomes[0]?.kind === "evaluated" && first.outcomes[0].result.writes).toBe(0);
    expect((await deps.storage.inventory.get(PROD)).map((l) => l.name)).toContain(LOCK);

    const { event, after } = await userChange(() => locks.deleteByScope(PROD, LOCK));
    expect(event.data).toMatchObject({ resourceUri: `${PROD}/providers/Microsoft.Authorization/locks/${LOCK}`, operationName: "Microsoft.Authorization/locks/delete" });
    const { outcome, until } = await eventToFix(event);
    expect(applied(outcome)).toEqual(["resource-lock "]);
    const recreated = await locks.getByScope(PROD, LOCK);
    expect({ id: recreated.id?.toLowerCase(), name: recreated.name, level: recreated.level, notes: recreated.notes, owners: recreated.owners ?? [] }).toEqual({
      id: before.id?.toLowerCase(),
      name: before.name,
      level: before.level,
      notes: before.notes,
      owners: before.owners ?? [],
    });
    expect(before.level).toBe("CanNotDelete");
    expect(before.notes).toBe("Production gateway");
    await ownEventsCauseNothing(after, until);
  });

  it("lowered the minimum API version (service PATCH): raised to the configured minimum", async () => {
    const apim = user.apim(SUB);
    const { event, after } = await userChange(() => apim.apiManagementService.beginUpdateAndWait(RG, NAME, { apiVersionConstraint: { minApiVersion: "2014-02-14" } }, { updateIntervalInMs: 5 }));
    expect(event.data).toMatchObject({ resourceUri: PROD, operationName: "Microsoft.ApiManagement/service/write" });
    const { outcome, until } = await eventToFix(event);
    // a change to the service itself re-evaluates every rule; only this one drifted
    expect(applied(outcome)).toEqual(["min-api-version "]);
    const svc = await apim.apiManagementService.get(RG, NAME);
    expect(svc.apiVersionConstraint?.minApiVersion).toBe("2021-08-01");
    expect(svc.provisioningState).toBe("Succeeded");
    await ownEventsCauseNothing(after, until);
  });
});
