/**
 * API Management's resource contracts as recorded real traffic shows them.
 *
 * Source: the Azure CLI's recordings of its exchanges with real ARM
 * (Azure/azure-cli, src/azure-cli/azure/cli/command_modules/apim/tests/latest/recordings,
 * MIT; copied with their commits and blob ids into test/fixtures/recordings/azure-cli
 * and replayed by test/emulator/recordings.test.ts). A reference such as
 * "core #263" is interaction 263 of test_apim_core_service.yaml; "api", "nv",
 * "sub", "mi", "rev", "policy" name test_apim_api, _named_value, _Subscription,
 * _managed_identity, _api_revision and _policy.
 *
 * What they show, and this module reproduces for resources written through
 * ARM (estate entries are answered as given):
 * - a write stores what Azure fills in (nulls and defaults for what the body
 *   omitted) and drops write-only input (import `value`/`format`, `sourceApiId`,
 *   a service's `restore`);
 * - GET, list and write answers are different views of one resource (an API's
 *   list item in 2021-08-01 has `authenticationSettings: null`; a product's
 *   write answer lists its groups; subscription keys only in write answers and
 *   listSecrets);
 * - a new service activates (computed URLs, addresses and security settings
 *   appear when it is done) and comes with default children.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Resource, Store } from "./store.js";

export type ViewMode = "get" | "list" | "write";

export interface ViewContext {
  mode: ViewMode;
  /** The request's api-version (shapes differ between 2021-08-01 and 2022-08-01). */
  apiVersion: string;
  /** The write created the resource (201). */
  created?: boolean;
}

type Json = Record<string, unknown>;

const SERVICE = "microsoft.apimanagement/service";
const APIS = "microsoft.apimanagement/service/apis";
const SUBSCRIPTIONS = "microsoft.apimanagement/service/subscriptions";
const PRODUCTS = "microsoft.apimanagement/service/products";
const VERSION_SETS = "microsoft.apimanagement/service/apiversionsets";
const OPERATIONS = "microsoft.apimanagement/service/apis/operations";
const RELEASES = "microsoft.apimanagement/service/apis/releases";
const RESOLVERS = "microsoft.apimanagement/service/apis/resolvers";
const SCHEMAS = "microsoft.apimanagement/service/apis/schemas";

/** `v` is this api-version or a later one (dates compare as text). */
export function atLeast(v: string, version: string): boolean {
  return v.slice(0, 10) >= version;
}

function isConsumption(svc: Resource): boolean {
  return String(svc.sku?.["name"] ?? "").toLowerCase() === "consumption";
}

/** Rebuilds `props` with `order` first (Azure's key order), then the rest. */
function ordered(props: Json, order: string[]): Json {
  const out: Json = {};
  for (const k of order) if (k in props) out[k] = props[k];
  for (const [k, v] of Object.entries(props)) if (!(k in out)) out[k] = v;
  return out;
}

function hexKey(): string {
  return randomBytes(16).toString("hex");
}

/** A 24-hex-digit APIM internal id (core #309 `internalId`). */
function internalId(): string {
  return randomBytes(12).toString("hex");
}

// ---- services -----------------------------------------------------------------------

/** The security settings a new service reports once active: Developer (core #73, 2022-08-01) and Consumption (mi #2). */
const NEW_SERVICE_SECURITY: Record<"classic" | "consumption", string[]> = {
  classic: [
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Ssl30",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TripleDes168",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Protocols.Server.Http2",
  ],
  consumption: [
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30",
    "Microsoft.WindowsAzure.ApiManagement.Gateway.Protocols.Server.Http2",
  ],
};

const SERVICE_ORDER = [
  "publisherEmail",
  "publisherName",
  "notificationSenderEmail",
  "provisioningState",
  "targetProvisioningState",
  "createdAtUtc",
  "gatewayUrl",
  "gatewayRegionalUrl",
  "portalUrl",
  "developerPortalUrl",
  "managementApiUrl",
  "scmUrl",
  "hostnameConfigurations",
  "publicIPAddresses",
  "privateIPAddresses",
  "additionalLocations",
  "virtualNetworkConfiguration",
  "customProperties",
  "virtualNetworkType",
  "certificates",
  "disableGateway",
  "natGatewayState",
  "outboundPublicIPAddresses",
  "apiVersionConstraint",
  "publicIpAddressId",
  "publicNetworkAccess",
  "privateEndpointConnections",
  "platformVersion",
];

/** A hostname configuration as Azure answers it: every key present (core #1, #73). */
function hostnameConfiguration(h: Json): Json {
  return ordered(
    {
      encodedCertificate: null,
      keyVaultId: null,
      certificatePassword: null,
      negotiateClientCertificate: false,
      certificate: null,
      defaultSslBinding: false,
      identityClientId: null,
      certificateSource: "BuiltIn",
      certificateStatus: null,
      ...h,
    },
    ["type", "hostName", "encodedCertificate", "keyVaultId", "certificatePassword", "negotiateClientCertificate", "certificate", "defaultSslBinding", "identityClientId", "certificateSource", "certificateStatus"],
  );
}

function systemData(principal: string, at: string, created?: Json): Json {
  return {
    createdBy: created?.["createdBy"] ?? principal,
    createdByType: created?.["createdByType"] ?? "Application",
    createdAt: created?.["createdAt"] ?? at,
    lastModifiedBy: principal,
    lastModifiedByType: "Application",
    lastModifiedAt: at,
  };
}

/**
 * A service PUT: a new service answers while it activates with every
 * property present, the computed ones null (core #1 Developer, mi #1
 * Consumption: `provisioningState` "Created", `platformVersion` "mtv1"); an
 * update keeps what the body omitted, its identity and zones (core #77
 * sends neither and the answer still has both). `restore` is write-only, and
 * `enableClientCertificate` is answered for Consumption only (core #1).
 */
export function putService(r: Resource, existing: Resource | undefined, principal: string): void {
  const p = r.properties;
  const now = new Date().toISOString();
  delete p["restore"];
  if (!isConsumption(r)) delete p["enableClientCertificate"];
  if (p["publicNetworkAccess"] === "True") p["publicNetworkAccess"] = "Enabled";
  if (p["publicNetworkAccess"] === "False") p["publicNetworkAccess"] = "Disabled";
  const x = r as unknown as Json;
  if (existing) {
    for (const [k, v] of Object.entries(existing.properties)) if (!(k in p)) p[k] = structuredClone(v);
    for (const k of ["identity", "zones", "tags"] as const) if (x[k] === undefined && (existing as unknown as Json)[k] !== undefined) x[k] = structuredClone((existing as unknown as Json)[k]);
    x["systemData"] = systemData(principal, now, existing.systemData);
  } else {
    const consumption = isConsumption(r);
    const defaults: Json = {
      notificationSenderEmail: "apimgmt-noreply@mail.windowsazure.com",
      gatewayUrl: `https://${r.name}.azure-api.net`,
      gatewayRegionalUrl: null,
      portalUrl: null,
      developerPortalUrl: null,
      managementApiUrl: null,
      scmUrl: null,
      hostnameConfigurations: [{ type: "Proxy", hostName: `${r.name}.azure-api.net`, defaultSslBinding: true }],
      publicIPAddresses: null,
      privateIPAddresses: null,
      additionalLocations: null,
      virtualNetworkConfiguration: null,
      customProperties: null,
      virtualNetworkType: "None",
      certificates: null,
      disableGateway: false,
      natGatewayState: "Disabled",
      outboundPublicIPAddresses: null,
      publicIpAddressId: null,
      publicNetworkAccess: "Enabled",
      privateEndpointConnections: null,
    };
    for (const [k, v] of Object.entries(defaults)) if (p[k] === undefined) p[k] = v;
    p["platformVersion"] = consumption ? "mtv1" : "undetermined";
    x["tags"] ??= {};
    x["zones"] ??= null;
    x["systemData"] = systemData(principal, now);
  }
  const constraint = (p["apiVersionConstraint"] ?? {}) as Json;
  p["apiVersionConstraint"] = { minApiVersion: constraint["minApiVersion"] ?? null };
  if (Array.isArray(p["hostnameConfigurations"])) p["hostnameConfigurations"] = (p["hostnameConfigurations"] as Json[]).map(hostnameConfiguration);
  r.properties = ordered(p, SERVICE_ORDER);
}

/** The provisioning states a service PUT answers with while it runs (core #1 "Activating", mi #1 "Created", core #77 "Updating"). */
export function pendingServiceStates(r: Resource, creating: boolean): { provisioningState: string; targetProvisioningState: string } {
  if (!creating) return { provisioningState: "Updating", targetProvisioningState: "Updating" };
  return { provisioningState: isConsumption(r) ? "Created" : "Activating", targetProvisioningState: "Activating" };
}

/** A stable public address for a service (values are not Azure's; the shape is: core #73 `publicIPAddresses`). */
function addressOf(name: string): string {
  const h = createHash("sha256").update(name).digest();
  return `20.${h[0] ?? 0}.${h[1] ?? 0}.${(h[2] ?? 0) | 1}`;
}

/**
 * A new service is active: the regional, portal and management URLs and the
 * addresses appear, the platform is known and the security settings are
 * reported (core #73 Developer; Consumption has none of the URLs or
 * addresses, mi #2).
 */
export function activateService(r: Resource): void {
  const p = r.properties;
  const consumption = isConsumption(r);
  if (!consumption) {
    const region = String(r.location ?? "westus").toLowerCase().replace(/\s+/g, "").slice(0, 2);
    p["gatewayRegionalUrl"] = `https://${r.name}-${region}-01.regional.azure-api.net`;
    p["portalUrl"] = `https://${r.name}.portal.azure-api.net`;
    p["developerPortalUrl"] = `https://${r.name}.developer.azure-api.net`;
    p["managementApiUrl"] = `https://${r.name}.management.azure-api.net`;
    p["scmUrl"] = `https://${r.name}.scm.azure-api.net`;
    p["publicIPAddresses"] = [addressOf(r.name)];
    if ("outboundPublicIPAddresses" in p) p["outboundPublicIPAddresses"] = [addressOf(r.name)];
    p["platformVersion"] = "stv2";
  }
  if (p["customProperties"] === null || p["customProperties"] === undefined) {
    p["customProperties"] = Object.fromEntries(NEW_SERVICE_SECURITY[consumption ? "consumption" : "classic"].map((k) => [k, "False"]));
  }
}

/** Properties a service answer has only from this api-version on (natGatewayState: core, 2022-08-01; absent in mi and sub, 2021-08-01). */
const SERVICE_SINCE: Array<[key: string, version: string]> = [
  ["natGatewayState", "2022-04-01"],
  ["outboundPublicIPAddresses", "2022-04-01"],
];

// ---- default children of a new service ------------------------------------------------

const ADMINISTRATORS_DESCRIPTION = "Administrators is a built-in group containing the admin email account provided at the time of service creation. Its membership is managed by the system.";

/**
 * What a new service comes with: the Echo API (core #262), the Starter and
 * Unlimited products (core #263), the built-in groups (core #264 lists
 * Administrators in a new product's groups), the built-in all-access
 * subscription (sub #0) and a global policy (policy #0 answers 200: it
 * existed).
 */
export function defaultChildren(svc: Resource, nextEtag: () => string): Resource[] {
  const id = svc.id;
  const child = (path: string, type: string, properties: Json): Resource => ({ id: `${id}/${path}`, name: path.split("/").pop() as string, type, properties, etag: nextEtag(), armWritten: true });
  const now = new Date().toISOString();
  return [
    child("apis/echo-api", "Microsoft.ApiManagement/service/apis", {
      displayName: "Echo API",
      apiRevision: "1",
      description: null,
      subscriptionRequired: true,
      serviceUrl: "http://echoapi.cloudapp.net/api",
      path: "echo",
      protocols: ["https"],
      authenticationSettings: { oAuth2: null, openid: null },
      subscriptionKeyParameterNames: { header: "Ocp-Apim-Subscription-Key", query: "subscription-key" },
      isCurrent: true,
    }),
    child("products/starter", "Microsoft.ApiManagement/service/products", {
      displayName: "Starter",
      description: "Subscribers will be able to run 5 calls/minute up to a maximum of 100 calls/week.",
      terms: "",
      subscriptionRequired: true,
      approvalRequired: false,
      subscriptionsLimit: 1,
      state: "published",
    }),
    child("products/unlimited", "Microsoft.ApiManagement/service/products", {
      displayName: "Unlimited",
      description: "Subscribers have completely unlimited access to the API. Administrator approval is required.",
      terms: null,
      subscriptionRequired: true,
      approvalRequired: true,
      subscriptionsLimit: 1,
      state: "published",
    }),
    child("groups/administrators", "Microsoft.ApiManagement/service/groups", { displayName: "Administrators", description: ADMINISTRATORS_DESCRIPTION, builtIn: true, type: "system", externalId: null }),
    child("groups/developers", "Microsoft.ApiManagement/service/groups", {
      displayName: "Developers",
      description: "Developers is a built-in group. Its membership is managed by the system. Signed-in users fall into this group.",
      builtIn: true,
      type: "system",
      externalId: null,
    }),
    child("groups/guests", "Microsoft.ApiManagement/service/groups", {
      displayName: "Guests",
      description: "Guests is a built-in group. Its membership is managed by the system. Unauthenticated users visiting the developer portal fall into this group.",
      builtIn: true,
      type: "system",
      externalId: null,
    }),
    child("subscriptions/master", "Microsoft.ApiManagement/service/subscriptions", {
      scope: `${id}/`,
      displayName: "Built-in all-access subscription",
      state: "active",
      createdDate: now,
      startDate: null,
      expirationDate: null,
      endDate: null,
      notificationDate: null,
      primaryKey: hexKey(),
      secondaryKey: hexKey(),
      stateComment: null,
      allowTracing: false,
    }),
    child("policies/policy", "Microsoft.ApiManagement/service/policies", {
      format: "xml",
      value: "<policies>\r\n\t<inbound></inbound>\r\n\t<backend>\r\n\t\t<forward-request />\r\n\t</backend>\r\n\t<outbound></outbound>\r\n\t<on-error></on-error>\r\n</policies>",
    }),
  ];
}

// ---- APIs -----------------------------------------------------------------------------

/** Input only: never answered (api #17/#18 import `value`/`format`, #23/#24 `wsdlSelector`, #13/#14 `sourceApiId`). */
const API_WRITE_ONLY = ["value", "format", "wsdlSelector", "sourceApiId", "apiType", "translateRequiredQueryParameters"];

const API_ORDER = [
  "displayName",
  "apiRevision",
  "description",
  "subscriptionRequired",
  "serviceUrl",
  "path",
  "protocols",
  "authenticationSettings",
  "subscriptionKeyParameterNames",
  "contact",
  "license",
  "type",
  "isCurrent",
  "apiRevisionDescription",
  "apiVersion",
  "apiVersionSetId",
];

const DEFAULT_KEY_NAMES = { header: "Ocp-Apim-Subscription-Key", query: "subscription-key" };

/** Imports Azure runs as a long-running operation (api #17, #21, #23, core #257: 202); a GraphQL link is imported at once (core #302: 201). */
export function isAsyncImport(props: Json): boolean {
  const format = typeof props["format"] === "string" ? props["format"].toLowerCase() : undefined;
  return format !== undefined && typeof props["value"] === "string" && format !== "graphql-link";
}

export function revisionOf(name: string): string | undefined {
  const i = name.indexOf(";rev=");
  return i < 0 ? undefined : name.slice(i + 5);
}

/**
 * An API PUT as Azure stores it: a clone or a new revision (`sourceApiId`)
 * starts from its source (api #13/#15: serviceUrl, key names and, for a
 * revision, displayName and description come from api-id); every property is
 * present (description, serviceUrl null; subscriptionRequired true; default key
 * names; `authenticationSettings` with oAuth2/openid null); a leading "/" of
 * the path is dropped (api_policy #0); `type` "http" is the default and not
 * answered (core #135); a revision is not current and carries no `isCurrent`
 * (api #15); a version set id is answered in full (core #258); a GraphQL link
 * import takes its URL as serviceUrl (core #302).
 */
export function putApi(r: Resource, given: Json, existing: Resource | undefined, source: Resource | undefined, serviceId: string): void {
  const rev = revisionOf(r.name);
  const base: Json = source ? structuredClone(source.properties) : {};
  delete base["isCurrent"];
  delete base["apiRevisionDescription"];
  const p: Json = { ...base, ...given };
  const format = typeof given["format"] === "string" ? given["format"].toLowerCase() : undefined;
  if (format === "graphql-link") {
    p["type"] = "graphql";
    p["serviceUrl"] ??= given["value"];
  }
  for (const k of API_WRITE_ONLY) delete p[k];
  if (typeof p["path"] === "string") p["path"] = p["path"].replace(/^\/+/, "");
  p["apiRevision"] = rev ?? (typeof given["apiRevision"] === "string" ? given["apiRevision"] : (existing?.properties["apiRevision"] ?? "1"));
  p["description"] ??= null;
  p["subscriptionRequired"] ??= true;
  p["serviceUrl"] ??= null;
  p["protocols"] ??= ["https"];
  const auth = (p["authenticationSettings"] ?? {}) as Json;
  const oAuth2List = Array.isArray(auth["oAuth2AuthenticationSettings"]) ? (auth["oAuth2AuthenticationSettings"] as unknown[]) : [];
  const openidList = Array.isArray(auth["openidAuthenticationSettings"]) ? (auth["openidAuthenticationSettings"] as unknown[]) : [];
  p["authenticationSettings"] = { oAuth2: auth["oAuth2"] ?? oAuth2List[0] ?? null, openid: auth["openid"] ?? openidList[0] ?? null };
  p["subscriptionKeyParameterNames"] ??= { ...DEFAULT_KEY_NAMES };
  if (typeof p["type"] === "string" && p["type"].toLowerCase() === "http") delete p["type"];
  if (rev === undefined) p["isCurrent"] = existing?.properties["isCurrent"] ?? true;
  else delete p["isCurrent"];
  if (typeof p["apiVersionSetId"] === "string" && p["apiVersionSetId"].startsWith("/apiVersionSets/")) p["apiVersionSetId"] = `${serviceId}${p["apiVersionSetId"]}`;
  r.properties = ordered(p, API_ORDER);
}

/**
 * An API's answer: a list item in 2021-08-01 has null `authenticationSettings`
 * and `subscriptionKeyParameterNames` (api #27); from 2022-08-01 GET and list
 * answers add the oAuth2/openid lists to `authenticationSettings` (core #136,
 * #262) that write answers do not have (core #135, #261).
 */
function apiView(props: Json, ctx: ViewContext): void {
  if (ctx.mode === "list" && !atLeast(ctx.apiVersion, "2022-08-01")) {
    if ("authenticationSettings" in props) props["authenticationSettings"] = null;
    if ("subscriptionKeyParameterNames" in props) props["subscriptionKeyParameterNames"] = null;
    return;
  }
  const auth = props["authenticationSettings"];
  if (ctx.mode !== "write" && atLeast(ctx.apiVersion, "2022-08-01") && auth && typeof auth === "object") {
    const a = auth as Json;
    props["authenticationSettings"] = { ...a, oAuth2AuthenticationSettings: a["oAuth2"] ? [a["oAuth2"]] : [], openidAuthenticationSettings: a["openid"] ? [a["openid"]] : [] };
  }
}

/**
 * An API as a product lists it (`products/{p}/apis`): the API's properties
 * without its settings objects; a write answer also has no protocols (core
 * #290 PUT, #291 list).
 */
export function productApiView(api: Resource, linkId: string, ctx: ViewContext): Json {
  const props = structuredClone(api.properties);
  if ("authenticationSettings" in props) props["authenticationSettings"] = null;
  if ("subscriptionKeyParameterNames" in props) props["subscriptionKeyParameterNames"] = null;
  if (ctx.mode === "write") props["protocols"] = null;
  return { id: linkId, type: "Microsoft.ApiManagement/service/products/apis", name: api.name, properties: props };
}

/** An API revision as `apis/{api}/revisions` lists it (rev #2, core #277). */
export function revisionView(api: Resource): Json {
  const rev = String(api.properties["apiRevision"] ?? revisionOf(api.name) ?? "1");
  const base = api.name.split(";rev=")[0] as string;
  const current = api.properties["isCurrent"] === true;
  const at = String(api.systemData?.["createdAt"] ?? "2024-01-01T00:00:00Z");
  return {
    id: `/apis/${base};rev=${rev}/revisions/${base};rev=${rev}`,
    apiId: `/apis/${base};rev=${rev}`,
    apiRevision: rev,
    createdDateTime: at,
    updatedDateTime: at,
    description: api.properties["apiRevisionDescription"] ?? null,
    privateUrl: `/${String(api.properties["path"] ?? "")}${current ? "" : `;rev=${rev}`}`,
    isOnline: true,
    isCurrent: current,
  };
}

/**
 * A release makes its revision current (core #282, then #283: the API
 * answers with revision 2's apiRevision and apiRevisionDescription): the
 * current API takes the revision's properties, and the former current one
 * stays reachable as `{api};rev={n}`.
 */
export function release(store: Store, serviceId: string, apiName: string, revision: string, nextEtag: () => string): void {
  const current = store.get(`${serviceId}/apis/${apiName}`);
  const target = store.get(`${serviceId}/apis/${apiName};rev=${revision}`);
  if (!current || !target || String(current.properties["apiRevision"]) === revision) return;
  const oldRev = String(current.properties["apiRevision"] ?? "1");
  const former: Resource = { ...structuredClone(current), id: `${serviceId}/apis/${apiName};rev=${oldRev}`, name: `${apiName};rev=${oldRev}`, etag: nextEtag() };
  delete former.properties["isCurrent"];
  const props = structuredClone(target.properties);
  props["isCurrent"] = true;
  current.properties = ordered(props, API_ORDER);
  current.etag = nextEtag();
  store.delete(target.id);
  store.put(former);
}

// ---- other children ---------------------------------------------------------------------

/**
 * The other child PUTs as Azure stores them:
 * - subscriptions: state "active", the dates and stateComment null, keys
 *   generated (sub #2);
 * - products: description and terms null, subscription required, not
 *   published unless given (core #264);
 * - version sets: description and the version names null (core #131, #134:
 *   a PUT without description answers null);
 * - operations: every template parameter has `values`, request, responses and
 *   policies are there (core #270);
 * - releases: the API id in full, without the revision; creation and update
 *   times (core #282);
 * - resolvers: internal and public ids, no display name (core #309);
 * - policies: format "xml" (policy #0).
 */
export function putChild(r: Resource, existing: Resource | undefined, serviceId: string): void {
  const t = r.type.toLowerCase();
  const p = r.properties;
  const now = new Date().toISOString();
  if (t === SUBSCRIPTIONS) {
    const before = existing?.properties ?? {};
    p["state"] ??= before["state"] ?? "active";
    p["createdDate"] = before["createdDate"] ?? now;
    for (const k of ["startDate", "expirationDate", "endDate", "notificationDate"]) p[k] ??= before[k] ?? null;
    p["primaryKey"] ??= before["primaryKey"] ?? hexKey();
    p["secondaryKey"] ??= before["secondaryKey"] ?? hexKey();
    p["stateComment"] ??= before["stateComment"] ?? null;
    r.properties = ordered(p, ["ownerId", "scope", "displayName", "state", "createdDate", "startDate", "expirationDate", "endDate", "notificationDate", "primaryKey", "secondaryKey", "stateComment"]);
  } else if (t === PRODUCTS) {
    p["description"] ??= null;
    p["terms"] ??= null;
    p["subscriptionRequired"] ??= true;
    p["state"] ??= "notPublished";
    r.properties = ordered(p, ["displayName", "description", "terms", "subscriptionRequired", "approvalRequired", "subscriptionsLimit", "state"]);
  } else if (t === VERSION_SETS) {
    p["description"] ??= null;
    p["versionQueryName"] ??= null;
    p["versionHeaderName"] ??= null;
    r.properties = ordered(p, ["displayName", "description", "versioningScheme", "versionQueryName", "versionHeaderName"]);
  } else if (t === OPERATIONS) {
    if (Array.isArray(p["templateParameters"])) p["templateParameters"] = (p["templateParameters"] as Json[]).map((tp) => ({ ...tp, values: tp["values"] ?? [] }));
    else p["templateParameters"] = [];
    p["description"] ??= null;
    const request = (p["request"] ?? {}) as Json;
    p["request"] = { ...request, queryParameters: request["queryParameters"] ?? [], headers: request["headers"] ?? [], representations: request["representations"] ?? [] };
    p["responses"] ??= [];
    p["policies"] ??= null;
    r.properties = ordered(p, ["displayName", "method", "urlTemplate", "templateParameters", "description", "request", "responses", "policies"]);
  } else if (t === RELEASES) {
    const apiId = typeof p["apiId"] === "string" ? p["apiId"].split(";rev=")[0] ?? "" : "";
    p["apiId"] = apiId.startsWith("/apis/") ? `${serviceId}${apiId}` : apiId;
    p["createdDateTime"] = existing?.properties["createdDateTime"] ?? now;
    p["updatedDateTime"] = now;
    p["notes"] ??= null;
    r.properties = ordered(p, ["apiId", "createdDateTime", "updatedDateTime", "notes"]);
  } else if (t === RESOLVERS) {
    delete p["displayName"];
    p["internalId"] = existing?.properties["internalId"] ?? internalId();
    p["publicId"] = r.name;
    p["description"] ??= null;
    r.properties = ordered(p, ["internalId", "publicId", "description", "path"]);
  } else if (t.endsWith("/policies")) {
    p["format"] ??= "xml";
    r.properties = ordered(p, ["format", "value"]);
  } else if (t === IDENTITY_PROVIDERS) {
    // ApiManagementCreateIdentityProvider: the answer names the provider's type and has no clientSecret (listSecrets has it)
    p["type"] ??= existing?.properties["type"] ?? r.name.toLowerCase();
    keepWriteOnly(r);
  } else if (t === LOGGERS) {
    // ApiManagementCreateAILogger: `description` null and `isBuffered` false unless given; the key is answered as a named value reference
    p["description"] ??= null;
    p["isBuffered"] ??= false;
    keepWriteOnly(r);
  }
}

const IDENTITY_PROVIDERS = "microsoft.apimanagement/service/identityproviders";
const LOGGERS = "microsoft.apimanagement/service/loggers";

/**
 * Write-only secrets stay out of every answer: an identity provider's clientSecret (kept for listSecrets), a logger's
 * credentials, answered as `{{named value}}` references (ApiManagementCreateAILogger: "instrumentationKey": "{{5a.......2a}}").
 */
export function keepWriteOnly(r: Resource): void {
  const t = r.type.toLowerCase();
  const p = r.properties;
  if (t === IDENTITY_PROVIDERS && typeof p["clientSecret"] === "string") {
    r.hiddenValue = p["clientSecret"];
    delete p["clientSecret"];
  }
  if (t === LOGGERS && p["credentials"] && typeof p["credentials"] === "object") {
    const creds = p["credentials"] as Json;
    for (const [k, v] of Object.entries(creds)) {
      if (typeof v === "string" && !/^\{\{.+\}\}$/.test(v)) creds[k] = `{{${internalId()}}}`;
    }
  }
}

// ---- views --------------------------------------------------------------------------------

/**
 * Adjusts the answer `v` for a resource. Every resource: a subscription's
 * keys are answered only by writes and listSecrets (sub #3/#5 GET and #0 list
 * have none; #2 PUT and #4 PATCH have them). Resources written through ARM
 * also get their type's views (see apiView and the list below).
 */
export function shapeView(r: Resource, v: Json, ctx: ViewContext, store: Store, serviceId: string | undefined): void {
  const t = r.type.toLowerCase();
  const props = v["properties"] as Json;
  if (t === SUBSCRIPTIONS && ctx.mode !== "write") {
    delete props["primaryKey"];
    delete props["secondaryKey"];
  }
  if (t === SERVICE) {
    for (const [k, since] of SERVICE_SINCE) if (!atLeast(ctx.apiVersion, since)) delete props[k];
  }
  if (!r.armWritten) return;
  if (t === APIS) apiView(props, ctx);
  else if (t === OPERATIONS && ctx.mode === "list") delete props["request"]; // core #271
  else if (t === SCHEMAS && ctx.mode === "list") delete props["document"]; // core #317
  else if (t === RESOLVERS && ctx.mode === "list") {
    // core #311: the list answers the ids as null
    props["internalId"] = null;
    props["publicId"] = null;
  } else if (t === PRODUCTS && ctx.mode === "write") {
    // core #264: a new product belongs to Administrators; core #268: an update answers no groups
    const admins = serviceId ? store.get(`${serviceId}/groups/administrators`) : undefined;
    const group = (g: Resource) => ({ id: g.id, name: g.properties["displayName"], description: g.properties["description"] ?? null, builtIn: g.properties["builtIn"] ?? true, type: g.properties["type"] ?? "system", externalId: g.properties["externalId"] ?? null });
    props["groups"] = ctx.created && admins ? [group(admins)] : [];
  }
}

/** The keys of a subscription for listSecrets (sub #6), generated for one that has none. */
export function subscriptionKeys(r: Resource): { primaryKey: string; secondaryKey: string } {
  const p = r.properties;
  if (typeof p["primaryKey"] !== "string") p["primaryKey"] = hexKey();
  if (typeof p["secondaryKey"] !== "string") p["secondaryKey"] = hexKey();
  return { primaryKey: p["primaryKey"] as string, secondaryKey: p["secondaryKey"] as string };
}

export function regenerateKey(r: Resource, which: "primaryKey" | "secondaryKey"): void {
  r.properties[which] = hexKey();
}
