/**
 * The Event Grid wiring in Bicep: a subscription system topic per subscription in scope, an event
 * subscription to onResourceEvent with the agreed filters, retries and dead-lettering, created in the
 * second deployment step. The filter is also evaluated (Event Grid's documented semantics) on events
 * shaped as ARM sends them, against the app's own event decision: the filter may save invocations but
 * must never drop an event the app would act on.
 */
import { describe, expect, it } from "vitest";
import { resourceEvent, type Caller } from "../../emulator/events.js";
import { decide } from "../../src/app/app.js";
import { arrayItems, only, parseBicep, prop, str } from "./bicep.js";

const events = parseBicep("modules/resource-events.bicep");
const main = parseBicep("main.bicep");
const storage = parseBicep("modules/storage.bicep");
const topic = only(events, "Microsoft.EventGrid/systemTopics");
const subscription = only(events, "Microsoft.EventGrid/systemTopics/eventSubscriptions");
const filter = prop(subscription.body, "properties.filter") as string;
const advanced = arrayItems(prop(filter, "advancedFilters") as string);

const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const REMEDIATOR = "0e5a0000-0000-4000-8000-00000000beef";
const USER = "0e5a0000-0000-4000-8000-0000000051e5";
const SERVICE = `/subscriptions/${SUB}/resourceGroups/rg-apim/providers/Microsoft.ApiManagement/service/apim-prod`;

/** Bicep value expressions the filter uses, evaluated for the test principal. */
function value(expr: string): string {
  if (expr === "remediatorPrincipalId") return REMEDIATOR;
  if (expr === "replace(remediatorPrincipalId, '-', '')") return REMEDIATOR.replace(/-/g, "");
  return str(expr);
}

interface Filter {
  operatorType: string;
  key: string;
  values: string[];
}
const FILTERS: Filter[] = advanced.map((f) => ({ operatorType: str(prop(f, "operatorType")), key: str(prop(f, "key")), values: arrayItems(prop(f, "values") as string).map(value) }));
const INCLUDED = arrayItems(prop(filter, "includedEventTypes") as string).map(str);

function lookup(event: Record<string, unknown>, key: string): unknown {
  return key.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), event);
}

/** Event Grid's filtering (learn.microsoft.com/azure/event-grid/event-filtering): string operators are case-insensitive; a missing key matches only the Not-In operators. */
function delivered(event: Record<string, unknown>): boolean {
  if (!INCLUDED.includes(String(event["eventType"]))) return false;
  return FILTERS.every((f) => {
    const v = lookup(event, f.key);
    if (typeof v !== "string") return f.operatorType === "StringNotIn";
    const s = v.toLowerCase();
    const vals = f.values.map((x) => x.toLowerCase());
    switch (f.operatorType) {
      case "StringBeginsWith":
        return vals.some((x) => s.startsWith(x));
      case "StringNotIn":
        return !vals.includes(s);
      default:
        throw new Error(`operator ${f.operatorType} not modelled`);
    }
  });
}

const caller = (principalId: string, upn?: string): Caller => ({ principalId, tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientIp: "10.0.0.4", claims: upn ? { upn, name: "Portal User" } : {} });
const ev = (kind: "write" | "delete" | "action", uri: string, op: string, who: Caller) => resourceEvent(kind, uri, op, who, kind === "delete" ? "DELETE" : kind === "action" ? "POST" : "PUT", `https://management.azure.com${uri}`) as unknown as Record<string, unknown>;
const appAccepts = (e: Record<string, unknown>) =>
  decide({ id: String(e["id"]), type: String(e["eventType"]), data: e["data"] as Record<string, unknown>, subject: String(e["subject"]) }, { subscriptions: [SUB], resourceGroups: [], principalId: REMEDIATOR }).accepted;

describe("infra: Event Grid resources", () => {
  it("creates a Microsoft.Resources.Subscriptions system topic for the subscription (global), unless one exists", () => {
    expect(topic.condition).toBe("createSystemTopic");
    expect(str(prop(topic.body, "properties.topicType"))).toBe("Microsoft.Resources.Subscriptions");
    expect(prop(topic.body, "properties.source")).toBe("'/subscriptions/${subscriptionId}'");
    expect(str(prop(topic.body, "location"))).toBe("global");
    expect(str(prop(topic.body, "identity.type"))).toBe("UserAssigned");
    expect(events.resources.find((r) => r.existing && r.type === "Microsoft.EventGrid/systemTopics")).toBeDefined();
    expect(prop(subscription.body, "parent")).toBe("topic");
  });

  it("delivers to the onResourceEvent function, one event per call, in the Event Grid schema", () => {
    expect(str(prop(subscription.body, "properties.destination.endpointType"))).toBe("AzureFunction");
    expect(prop(subscription.body, "properties.destination.properties.resourceId")).toBe("'${functionAppId}/functions/onResourceEvent'");
    expect(prop(subscription.body, "properties.destination.properties.maxEventsPerBatch")).toBe("1");
    expect(str(prop(subscription.body, "properties.eventDeliverySchema"))).toBe("EventGridSchema");
  });

  it("includes only successful resource writes, deletes and actions", () => {
    expect(INCLUDED).toEqual(["Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceDeleteSuccess", "Microsoft.Resources.ResourceActionSuccess"]);
  });

  it("filters on data.operationName (API Management services, locks) and excludes the remediator's principal in both spellings", () => {
    expect(FILTERS).toEqual([
      { operatorType: "StringBeginsWith", key: "data.operationName", values: ["Microsoft.ApiManagement/service", "Microsoft.Authorization/locks"] },
      { operatorType: "StringNotIn", key: "data.authorization.evidence.principalId", values: [REMEDIATOR, REMEDIATOR.replace(/-/g, "")] },
    ]);
    // within Event Grid's limits: 25 advanced filters and 25 values in all
    expect(FILTERS.flatMap((f) => f.values).length).toBeLessThanOrEqual(25);
  });

  it("retries and dead-letters to the storage container with its own identity", () => {
    expect(prop(subscription.body, "properties.retryPolicy.maxDeliveryAttempts")).toBe("maxDeliveryAttempts");
    expect(prop(subscription.body, "properties.retryPolicy.eventTimeToLiveInMinutes")).toBe("eventTimeToLiveInMinutes");
    const attempts = Number(events.params.get("maxDeliveryAttempts")?.default);
    const ttl = Number(events.params.get("eventTimeToLiveInMinutes")?.default);
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(30);
    expect(ttl).toBeGreaterThanOrEqual(1);
    expect(ttl).toBeLessThanOrEqual(1440);
    const dl = prop(subscription.body, "properties.deadLetterWithResourceIdentity") as string;
    expect(str(prop(dl, "identity.type"))).toBe("UserAssigned");
    expect(prop(dl, "identity.userAssignedIdentity")).toBe("eventsIdentityId");
    expect(str(prop(dl, "deadLetterDestination.endpointType"))).toBe("StorageBlob");
    expect(prop(dl, "deadLetterDestination.properties.resourceId")).toBe("deadLetterStorageAccountId");
    expect(prop(dl, "deadLetterDestination.properties.blobContainerName")).toBe("deadLetterContainerName");
    // the topic carries that identity, which can write to the dead-letter container (storage.bicep)
    expect(prop(topic.body, "identity.userAssignedIdentities")).toContain("'${eventsIdentityId}': {}");
    const mod = main.modules.find((m) => m.symbol === "events");
    expect(prop(mod?.body ?? "{}", "params.deadLetterContainerName")).toBe("deadLetterContainerName");
    expect(prop(main.modules.find((m) => m.symbol === "storage")?.body ?? "{}", "params.deadLetterContainerName")).toBe("deadLetterContainerName");
    expect(storage.resources.some((r) => prop(r.body, "name") === "deadLetterContainerName")).toBe(true);
  });

  it("is deployed per subscription in scope, only in the second step, after the function app", () => {
    const mod = main.modules.find((m) => m.symbol === "events");
    expect(mod?.loop).toBe(true);
    expect(mod?.body).toBeDefined();
    expect(main.text).toMatch(/module events 'modules\/resource-events\.bicep' = \[for \(s, i\) in subscriptionIds: if \(deployEventSubscriptions\)/);
    // the function app's output makes it a dependency: the event subscription is created after the app
    expect(prop(mod?.body ?? "{}", "params.functionAppId")).toBe("functionApp.outputs.id");
    expect(prop(mod?.body ?? "{}", "dependsOn")).toBe("[eventsResourceGroups[i]]");
    expect(prop(mod?.body ?? "{}", "params.eventsIdentityId")).toBe("identity.outputs.eventsIdentityId");
    expect(prop(mod?.body ?? "{}", "scope")).toMatch(/^resourceGroup\(s, /);
    expect(main.params.get("deployEventSubscriptions")?.default).toBe("false");
  });
});

describe("infra: the event filter against the app's decision", () => {
  const user = caller(USER, "admin@contoso.example");
  const remediator = caller(REMEDIATOR);
  const cases: Array<{ name: string; event: Record<string, unknown>; delivered: boolean }> = [
    { name: "a user changes an API", event: ev("write", `${SERVICE}/apis/echo`, "Microsoft.ApiManagement/service/apis/write", user), delivered: true },
    { name: "a user changes the service", event: ev("write", SERVICE, "Microsoft.ApiManagement/service/write", user), delivered: true },
    { name: "a user deletes the service's lock", event: ev("delete", `${SERVICE}/providers/Microsoft.Authorization/locks/baseline`, "Microsoft.Authorization/locks/delete", user), delivered: true },
    { name: "a user reads a secret (listValue)", event: ev("action", `${SERVICE}/namedValues/db-pass`, "Microsoft.ApiManagement/service/namedValues/listValue/action", user), delivered: true },
    { name: "a user deletes a lock on the resource group", event: ev("delete", `/subscriptions/${SUB}/resourceGroups/rg-apim/providers/Microsoft.Authorization/locks/rg-lock`, "Microsoft.Authorization/locks/delete", user), delivered: true },
    { name: "the remediator fixes an API", event: ev("write", `${SERVICE}/apis/echo`, "Microsoft.ApiManagement/service/apis/write", remediator), delivered: false },
    { name: "the remediator re-creates a lock", event: ev("write", `${SERVICE}/providers/Microsoft.Authorization/locks/baseline`, "Microsoft.Authorization/locks/write", remediator), delivered: false },
    { name: "a user changes a storage account", event: ev("write", `/subscriptions/${SUB}/resourceGroups/rg-apim/providers/Microsoft.Storage/storageAccounts/st1`, "Microsoft.Storage/storageAccounts/write", user), delivered: false },
  ];
  const lower = ev("write", SERVICE, "microsoft.apimanagement/service/write", user);
  const noEvidence = ev("write", `${SERVICE}/backends/b1`, "Microsoft.ApiManagement/service/backends/write", user);
  delete ((noEvidence["data"] as Record<string, Record<string, unknown>>)["authorization"] as Record<string, unknown>)["evidence"];
  const dashed = ev("write", `${SERVICE}/apis/echo`, "Microsoft.ApiManagement/service/apis/write", remediator);
  (((dashed["data"] as Record<string, unknown>)["authorization"] as Record<string, unknown>)["evidence"] as Record<string, unknown>)["principalId"] = REMEDIATOR.toUpperCase();
  const failure = { ...ev("write", SERVICE, "Microsoft.ApiManagement/service/write", user), eventType: "Microsoft.Resources.ResourceWriteFailure" };
  cases.push(
    { name: "an operation name in lower case (comparisons ignore case)", event: lower, delivered: true },
    { name: "an event without evidence (the published samples): the app decides on the claims", event: noEvidence, delivered: true },
    { name: "the remediator's principal id with dashes, in upper case", event: dashed, delivered: false },
    { name: "a failed write", event: failure, delivered: false },
  );

  for (const c of cases) {
    it(`${c.name}: ${c.delivered ? "delivered" : "filtered out"}`, () => {
      expect(delivered(c.event)).toBe(c.delivered);
      // never drop what the app would act on
      if (appAccepts(c.event)) expect(delivered(c.event)).toBe(true);
    });
  }

  it("the events the emulator emits for the remediator carry the principal id without dashes (what the second filter value is for)", () => {
    const e = ev("write", `${SERVICE}/apis/echo`, "Microsoft.ApiManagement/service/apis/write", remediator);
    const p = (((e["data"] as Record<string, unknown>)["authorization"] as Record<string, unknown>)["evidence"] as Record<string, unknown>)["principalId"];
    expect(p).toBe(REMEDIATOR.replace(/-/g, ""));
    expect(appAccepts(e)).toBe(false);
  });
});
