/**
 * fast-check arbitraries for hostile Event Grid input: resource ids crafted to
 * escape the configured scope (other subscriptions, odd casing, encoded
 * slashes, dot segments, unicode look-alikes, whitespace, query strings),
 * events in both schemas with missing or wrongly typed fields, batches,
 * huge payloads, malformed JSON text and arbitrary values.
 */
import fc from "fast-check";

export const IN_SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
export const IN_SUB_2 = "5b0e2c1d-9a8f-4e7d-8c6b-5a4f3e2d1c0b";
export const OTHER_SUB = "22222222-2222-4222-8222-222222222222";
export const REMEDIATOR = "0e5a0000-0000-4000-8000-00000000beef";
export const RESOURCE_EVENTS = ["Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Resources.ResourceDeleteSuccess", "Microsoft.Resources.ResourceActionSuccess"];

const mixed = (s: string) => s.split("").map((c, i) => (i % 2 ? c.toUpperCase() : c.toLowerCase())).join("");

const subscription = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(IN_SUB, IN_SUB_2) },
  { weight: 2, arbitrary: fc.constantFrom(IN_SUB.toUpperCase(), mixed(IN_SUB)) },
  { weight: 3, arbitrary: fc.constantFrom(OTHER_SUB) },
  { weight: 2, arbitrary: fc.uuid() },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      IN_SUB.replace(/-/g, ""),
      `{${IN_SUB}}`,
      `${IN_SUB}%2F..%2F${OTHER_SUB}`,
      `${IN_SUB}/../${OTHER_SUB}`,
      `${IN_SUB}\u200b`,
      ` ${IN_SUB}`,
      `${IN_SUB}\u0000`,
      IN_SUB.replace("a", "\u0430"), // Cyrillic a
      "",
      "*",
      `${OTHER_SUB}#${IN_SUB}`,
    ),
  },
);

const groupsWord = fc.constantFrom("resourceGroups", "resourcegroups", "RESOURCEGROUPS", "ResourceGroups", "resourceGroup", "resource%47roups", "resourceGroups/", "resourceＧroups");

const group = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("rg-apim-prod", "rg-apim-dev", "RG-APIM-PROD", "Rg-Apim-Dev") },
  { weight: 2, arbitrary: fc.constantFrom("rg-other", "rg-apim-prod-2", "rg-apim") },
  { weight: 2, arbitrary: fc.constantFrom("rg-apim-prod/..", "rg%2Fapim-prod", "rg-apim-pr\u043ed", "..", ".", "rg-apim-prod\t", "rg-apim-prod\u202e", "") },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

const provider = fc.constantFrom(
  "Microsoft.ApiManagement",
  "Microsoft.ApiManagement",
  "microsoft.apimanagement",
  "MICROSOFT.APIMANAGEMENT",
  "Microsoft.ApiManagemen",
  "Microsoft.Storage",
  "\u041cicrosoft.ApiManagement", // Cyrillic M
  "Microsoft.ApiManagement%2Fservice",
  "Microsoft.ApiManagement/",
);

const serviceWord = fc.constantFrom("service", "service", "Service", "SERVICE", "services", "servic\u0435");

const serviceName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("apim-contoso-prod", "apim-contoso-dev", "APIM-CONTOSO-PROD", "apim-gone") },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/) },
  { weight: 2, arbitrary: fc.constantFrom("..", ".", "%2e%2e", "a%2Fb", "x\\..\\y", "\uff41\uff50\uff49\uff4d", " apim", "apim ", "apim\n", "apim?x=1", "apim#y", "apim;rev=1", "") },
);

const child = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("", "/apis/orders", "/apis/orders;rev=2", "/namedValues/environment", "/tenant/access", "/backends/orders", "/providers/Microsoft.Authorization/locks/do-not-delete", "/apis/gone-api") },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      `/../../../../subscriptions/${OTHER_SUB}/resourceGroups/rg-other/providers/Microsoft.ApiManagement/service/x`,
      "/./apis/orders",
      "//apis/orders",
      "/apis/%2F..%2F..",
      "/apis/a\u2215b",
      "/apis/a\uff0fb",
      "/",
      "?api-version=2024-05-01",
      "#frag",
      "/apis/orders/../../../../..",
      `/providers/Microsoft.Authorization/locks/../../../../../../subscriptions/${OTHER_SUB}`,
      "/apis/\u0000",
      `/apis/${"a".repeat(3000)}`,
    ),
  },
  { weight: 2, arbitrary: fc.array(fc.oneof(fc.stringMatching(/^[A-Za-z0-9;=.-]{1,12}$/), fc.string({ maxLength: 6 })), { maxLength: 5 }).map((segs) => (segs.length ? `/${segs.join("/")}` : "")) },
);

const prefix = fc.constantFrom("", "", "", "", "https://management.azure.com", " ", "/", "\\", "subscriptions");

/** A resource id shaped like an APIM id, with every part possibly crafted. */
export const resourceUri = fc.tuple(prefix, subscription, groupsWord, group, provider, serviceWord, serviceName, child).map(([p, sub, gw, rg, prov, sw, name, rest]) => `${p}${p.endsWith("/") ? "" : "/"}subscriptions/${sub}/${gw}/${rg}/providers/${prov}/${sw}/${name}${rest}`.replace(/^\/(?=https)/, ""));

const operationName = fc.oneof(
  fc.constantFrom("Microsoft.ApiManagement/service/apis/write", "Microsoft.ApiManagement/service/write", "Microsoft.ApiManagement/service/namedValues/listValue/action", "Microsoft.Authorization/locks/delete", "Microsoft.Authorization/locks/write", "microsoft.apimanagement/service/delete"),
  fc.constantFrom("Microsoft.Storage/storageAccounts/write", "Microsoft.ApiManagement", "", "Microsoft.Authorization/roleAssignments/write"),
  fc.string({ maxLength: 20 }),
);

const principal = fc.oneof(fc.constant(REMEDIATOR), fc.constant(REMEDIATOR.toUpperCase()), fc.constant(REMEDIATOR.replace(/-/g, "")), fc.uuid(), fc.string({ maxLength: 8 }));

const eventData = fc.record(
  {
    resourceUri: fc.oneof({ weight: 8, arbitrary: resourceUri }, { weight: 1, arbitrary: fc.anything() }),
    operationName: fc.oneof({ weight: 8, arbitrary: operationName }, { weight: 1, arbitrary: fc.anything() }),
    claims: fc.oneof(fc.record({ "http://schemas.microsoft.com/identity/claims/objectidentifier": principal }), fc.record({ oid: principal }), fc.anything()),
    authorization: fc.oneof(fc.record({ evidence: fc.record({ principalId: principal }) }), fc.anything()),
    status: fc.constantFrom("Succeeded", "Failed"),
  },
  { requiredKeys: [] },
);

const isoTime = fc.oneof(fc.date({ min: new Date("2020-01-01"), max: new Date("2030-01-01"), noInvalidDate: true }).map((d) => d.toISOString()), fc.constantFrom("yesterday", "", "2024-13-45T99:99:99Z"), fc.anything());

/** An event in the Event Grid schema, any field possibly missing or wrong. */
export const eventGridEvent = fc.record(
  {
    id: fc.oneof(fc.uuid(), fc.string({ maxLength: 10 }), fc.anything()),
    topic: fc.oneof(fc.constant(`/subscriptions/${IN_SUB}`), fc.string({ maxLength: 20 })),
    subject: fc.oneof(resourceUri, fc.string({ maxLength: 30 })),
    eventType: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...RESOURCE_EVENTS) }, { weight: 1, arbitrary: fc.constantFrom("Microsoft.ApiManagement.APIUpdated", "Microsoft.EventGrid.SubscriptionValidationEvent", "") }, { weight: 1, arbitrary: fc.anything() }),
    eventTime: isoTime,
    data: fc.oneof({ weight: 8, arbitrary: eventData }, { weight: 1, arbitrary: fc.anything() }),
    dataVersion: fc.oneof(fc.constant("2"), fc.anything()),
    metadataVersion: fc.oneof(fc.constant("1"), fc.anything()),
  },
  { requiredKeys: [] },
);

/** A CloudEvents 1.0 event (or a broken one). */
export const cloudEvent = fc
  .record(
    {
      id: fc.oneof(fc.uuid(), fc.anything()),
      source: fc.oneof(fc.constant(`/subscriptions/${IN_SUB}`), fc.anything()),
      type: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...RESOURCE_EVENTS) }, { weight: 1, arbitrary: fc.anything() }),
      subject: fc.oneof(resourceUri, fc.anything()),
      time: isoTime,
      datacontenttype: fc.constantFrom("application/json", "text/plain"),
      data: fc.oneof({ weight: 8, arbitrary: eventData }, { weight: 1, arbitrary: fc.anything() }),
    },
    { requiredKeys: [] },
  )
  .chain((e) => fc.constantFrom<Record<string, unknown>>({ ...e, specversion: "1.0" }, { ...e, specVersion: "1.0" }, { ...e, specversion: "0.3" }, { ...e, specversion: 1 }));

/** A well-formed Event Grid event for a resource (used to build valid-looking batches and JSON text). */
export const plausibleEvent = fc.record({
  id: fc.uuid(),
  topic: fc.constant(`/subscriptions/${IN_SUB}`),
  subject: resourceUri,
  eventType: fc.constantFrom(...RESOURCE_EVENTS),
  eventTime: fc.date({ min: new Date("2020-01-01"), max: new Date("2030-01-01"), noInvalidDate: true }).map((d) => d.toISOString()),
  data: fc.record({ resourceUri, operationName, claims: fc.record({ "http://schemas.microsoft.com/identity/claims/objectidentifier": principal }) }),
  dataVersion: fc.constant("2"),
  metadataVersion: fc.constant("1"),
});

/** Whatever may reach onResourceEvent's handler: one event, a batch, junk, JSON text (even truncated), huge payloads. */
export const payload = fc.oneof(
  { weight: 5, arbitrary: eventGridEvent },
  { weight: 3, arbitrary: plausibleEvent },
  { weight: 2, arbitrary: cloudEvent },
  { weight: 3, arbitrary: fc.array(fc.oneof(eventGridEvent, plausibleEvent, cloudEvent, fc.anything()), { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.anything() },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: plausibleEvent.chain((e) => fc.nat({ max: JSON.stringify(e).length }).map((n) => JSON.stringify(e).slice(0, n))) },
  { weight: 1, arbitrary: fc.array(plausibleEvent, { minLength: 200, maxLength: 400 }) },
  { weight: 1, arbitrary: plausibleEvent.map((e) => ({ ...e, data: { ...e.data, resourceUri: `${e.data.resourceUri}/${"x".repeat(100_000)}`, padding: "y".repeat(200_000) } })) },
);

/** Scope settings the app may run with. */
export const scopeConfig = fc.record({
  subscriptions: fc.constantFrom<string[]>([IN_SUB], [IN_SUB, IN_SUB_2], [IN_SUB_2]),
  resourceGroups: fc.constantFrom<string[]>([], ["rg-apim-prod"], ["RG-APIM-DEV"], ["rg-apim-prod", "rg-apim-dev"]),
  principalId: fc.constant<string>(REMEDIATOR),
});
