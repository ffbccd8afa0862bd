/**
 * The ARM surface of the emulator: subscriptions and resource groups for
 * discovery, API Management services and their children, management locks
 * and role assignments, with ARM's ETag, lock, LRO and error behaviour.
 */
import { randomUUID } from "node:crypto";
import { authorizationScopeOf, BUILTIN_ROLE_NAMES } from "./access.js";
import * as contracts from "./contracts.js";
import { resourceEvent, type Caller, type EventSink } from "./events.js";
import { listedTenantSettings, tierRefusal } from "./tiers.js";
import { ArmError, errorReply, etagValue, type Reply } from "./http.js";
import { collectionOf, idKey, isAtOrBelow, nameOf, parseId, segments, typeOfId } from "./ids.js";
import type { Vaults } from "./keyvault.js";
import { guidFrom, type Resource, type Store } from "./store.js";
import { lroKindOf, type LroKind } from "./lro.js";
import { operationReportRows, requestsEntry, totalsByApi } from "./traffic.js";

export interface ArmRequest {
  method: string;
  url: URL;
  origin: string;
  caller: Caller;
  body: Record<string, unknown>;
  ifMatch?: string;
}

export interface ArmSettings {
  /** Items per page of APIM collections (ARM's APIM default is 100). */
  pageSize: number;
  /** How long a long-running operation stays in progress. */
  lroDurationMs: number;
  /** Per kind of operation (emulator/lro.ts: the realistic profile, scaled); a kind not given takes lroDurationMs. */
  lroByKind?: Partial<Record<LroKind, number>>;
}

/** customProperties keys that ARM resets to their default when a PATCH omits them. */
export const SECURITY_KEYS = [
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Ssl30",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TripleDes168",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_RSA_WITH_AES_128_GCM_SHA256",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_RSA_WITH_AES_256_CBC_SHA256",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_RSA_WITH_AES_128_CBC_SHA256",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_RSA_WITH_AES_256_CBC_SHA",
  "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TLS_RSA_WITH_AES_128_CBC_SHA",
];
const LEGACY_CUTOFF = Date.parse("2018-04-01T23:59:59Z");

const SERVICE_TYPE = "microsoft.apimanagement/service";

interface Operation {
  id: string;
  resourceId: string;
  serviceId?: string;
  status: "InProgress" | "Succeeded" | "Failed";
  startTime: string;
  endTime?: string;
  finalStatus: number;
  deleted: boolean;
  /** The poll URLs the operation was answered with (an in-progress status poll repeats them: core #2). */
  headers: Record<string, string>;
  /** Why a Failed operation failed: what its poll answers. */
  error?: ArmError;
  complete: () => void;
}

/**
 * How Azure answers a long-running write (recorded: test/fixtures/recordings/azure-cli; none has Retry-After):
 * - "azure-async": Azure-AsyncOperation and Location, both polled for `{status}` (service PUT core #1/#77, DELETE core #336);
 * - "location": Location only; 202 while running, then the resource (service backup core #120, Consumption service PUT mi #1);
 * - "async-id": 202 without a body, Location = the resource's URL with asyncId and asyncCode; polling it answers
 *   asyncCode with the resource (named values nv #0/#8, API imports api #17, GraphQL schemas core #307).
 */
type LroStyle = "azure-async" | "location" | "async-id";

type Mutability = { patchNeedsIfMatch: boolean; putLro: boolean; patchLro: boolean; deleteLro: boolean };

/** Per child type: which writes need If-Match and which are long-running (from the 2024-05-01 swagger). */
const CHILD_RULES: Record<string, Mutability> = {
  // an API PUT is long-running only when it imports a document (contracts.isAsyncImport); its DELETE answers 200 (api #30, core #297)
  "microsoft.apimanagement/service/apis": { patchNeedsIfMatch: true, putLro: true, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/apis/schemas": { patchNeedsIfMatch: false, putLro: true, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/namedvalues": { patchNeedsIfMatch: true, putLro: true, patchLro: true, deleteLro: false },
  "microsoft.apimanagement/service/tenant": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/backends": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/subscriptions": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/products": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
  // PortalConfig_Update and _CreateOrUpdate both take If-Match (ApiManagementUpdatePortalConfig: "If-Match": "*")
  "microsoft.apimanagement/service/portalconfigs": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/identityproviders": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/loggers": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
  "microsoft.apimanagement/service/diagnostics": { patchNeedsIfMatch: true, putLro: false, patchLro: false, deleteLro: false },
};
const DEFAULT_RULES: Mutability = { patchNeedsIfMatch: false, putLro: false, patchLro: false, deleteLro: false };

export class Arm {
  private readonly operations = new Map<string, Operation>();
  /** Named value id (idKey) -> the value API Management last fetched from Key Vault for it (its own copy). */
  private readonly fetched = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly vaults: Vaults,
    private readonly events: EventSink,
    public settings: ArmSettings,
  ) {}

  /** Seeds defaults ARM would have: tenant access settings, service identities' principal ids. */
  normalizeEstate(): void {
    for (const svc of this.store.ofType("Microsoft.ApiManagement/service")) {
      svc.properties["provisioningState"] ??= "Succeeded";
      svc.properties["targetProvisioningState"] ??= "";
      this.fillIdentity(svc);
      // gatewayAccess: the self-hosted gateway configuration endpoint (Azure Policy df73bd95 reads tenant 'gatewayaccess'),
      // seeded like `access` (not enabled) unless the estate gives it
      for (const access of ["access", "gitAccess", "gatewayAccess"]) {
        const id = `${svc.id}/tenant/${access}`;
        if (!this.store.get(id)) {
          this.store.put({
            id,
            name: access,
            type: "Microsoft.ApiManagement/service/tenant",
            // as the 2024-05-01 GetTenantAccess / GetTenantGitAccess examples: only gitAccess carries a principalId
            properties: access === "gitAccess" ? { principalId: "git", enabled: false } : { enabled: false },
            etag: this.store.nextEtag(),
          });
        }
      }
    }
    for (const nv of this.store.ofType("Microsoft.ApiManagement/service/namedValues")) {
      if (nv.properties["keyVault"]) this.resolveNamedValue(nv);
    }
  }

  private fillIdentity(svc: Resource): void {
    const ident = svc.identity;
    if (!ident) return;
    const type = String(ident["type"] ?? "None");
    if (/SystemAssigned/i.test(type)) {
      ident["principalId"] ??= guidFrom(`${idKey(svc.id)}#system`);
      ident["tenantId"] ??= this.store.tenantId;
    } else {
      delete ident["principalId"];
      delete ident["tenantId"];
    }
    const uai = ident["userAssignedIdentities"] as Record<string, Record<string, unknown>> | undefined;
    if (uai && typeof uai === "object") {
      for (const [uid, v] of Object.entries(uai)) {
        const entry = v && typeof v === "object" ? v : (uai[uid] = {});
        const known = this.store.get(uid);
        entry["principalId"] ??= (known?.properties["principalId"] as string | undefined) ?? guidFrom(`${idKey(uid)}#principal`);
        entry["clientId"] ??= (known?.properties["clientId"] as string | undefined) ?? guidFrom(`${idKey(uid)}#client`);
      }
    }
  }

  // ---- routing -----------------------------------------------------------

  handle(req: ArmRequest): Reply {
    const segs = segments(req.url.pathname);
    const ls = segs.map((s) => s.toLowerCase());
    const m = req.method;

    if (ls.length === 1 && ls[0] === "subscriptions") return this.expectGet(m, () => this.listSubscriptions());
    if (ls[0] !== "subscriptions" || !segs[1]) throw notFound(req.url.pathname);
    const sub = segs[1];
    if (!this.store.hasSubscription(sub)) throw new ArmError(404, "SubscriptionNotFound", `The subscription '${sub}' could not be found.`);
    if (ls.length === 2) return this.expectGet(m, () => ({ status: 200, body: this.subscriptionView(sub) }));

    const authIdx = lastAuthorizationIndex(ls);
    if (authIdx >= 0) return this.authorization(req, segs, authIdx);

    if (ls.length === 3 && ls[2] === "resourcegroups") {
      return this.expectGet(m, () => ({ status: 200, body: { value: this.store.listGroups(sub).map((g) => this.groupView(g)) } }));
    }
    if (ls.length === 4 && ls[2] === "resourcegroups") {
      return this.expectGet(m, () => {
        const g = this.store.getGroup(req.url.pathname);
        if (!g) throw new ArmError(404, "ResourceGroupNotFound", `Resource group '${segs[3]}' could not be found.`);
        return { status: 200, body: this.groupView(g) };
      });
    }
    // subscription-level provider resources, e.g. Microsoft.Security/pricings/Api
    if (ls.length === 6 && ls[2] === "providers") return this.extensionResource(req, "/" + segs.join("/"), `/subscriptions/${sub}`);
    // extension resources and metrics under a resource: {resourceId}/providers/{namespace}/...
    const extIdx = ls.indexOf("providers", 6);
    if (extIdx > 0 && ls[2] === "resourcegroups") {
      const parentId = "/" + segs.slice(0, extIdx).join("/");
      if (ls[extIdx + 1] === "microsoft.insights" && ls[extIdx + 2] === "metrics" && ls.length === extIdx + 3) return this.expectGet(m, () => this.metrics(req, parentId));
      if ((ls.length - extIdx) % 2 === 0) return this.extensionResource(req, "/" + segs.join("/"), parentId);
      return this.expectGet(m, () => this.page(req, this.store.list("/" + segs.join("/")), (r) => this.view(r, req), false));
    }
    if (ls.length === 5 && ls[2] === "providers" && ls[3] === "microsoft.apimanagement" && ls[4] === "checknameavailability") {
      if (m !== "POST") throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${m}'.`);
      return this.checkNameAvailability(req);
    }
    // service lists by subscription / resource group
    if ((ls.length === 5 && ls[2] === "providers") || (ls.length === 7 && ls[2] === "resourcegroups" && ls[4] === "providers")) {
      const type = `${segs[ls.length - 2]}/${segs[ls.length - 1]}`;
      const scope = ls.length === 5 ? `/subscriptions/${sub}` : `/subscriptions/${sub}/resourceGroups/${segs[3]}`;
      if (ls.length === 7 && !this.store.getGroup(scope)) throw new ArmError(404, "ResourceGroupNotFound", `Resource group '${segs[3]}' could not be found.`);
      // ARM's service collection (ApiManagementServiceListResult) has value and nextLink, no count
      return this.expectGet(m, () => this.page(req, this.store.ofType(type, scope), (r) => this.view(r, req), false));
    }
    if (ls[ls.length - 2] === "operationresults") {
      const opId = segs[segs.length - 1] ?? "";
      return this.expectGet(m, () => (req.url.searchParams.get("asyncResponse") === "location" ? this.locationPoll(opId, req) : this.operationStatus(opId)));
    }
    if (ls[2] !== "resourcegroups" || ls[4] !== "providers" || segs.length < 8) throw notFound(req.url.pathname);
    if (!this.store.getGroup(`/subscriptions/${sub}/resourceGroups/${segs[3]}`)) {
      throw new ArmError(404, "ResourceGroupNotFound", `Resource group '${segs[3]}' could not be found.`);
    }
    const afterProvider = segs.length - 6; // type/name pairs after providers/{ns}
    const path = "/" + segs.join("/");
    // a feature the service's tier lacks (tenant access on Consumption and v2): emulator/tiers.ts
    const refused = tierRefusal(this.store, path);
    if (refused) throw refused;
    if (ls.length === 10 && ls[6] === "service" && ls[8] === "reports" && ls[9] === "byoperation") return this.expectGet(m, () => this.operationReport(req, "/" + segs.slice(0, 8).join("/")));
    if (afterProvider % 2 === 0) return this.resource(req, path);
    return this.collectionOrAction(req, segs);
  }

  /** Extension resources (e.g. Microsoft.Security/apiCollections on a service, pricings on a subscription). */
  private extensionResource(req: ArmRequest, path: string, parentId: string): Reply {
    const existing = this.store.get(path);
    if (req.method === "GET") {
      if (!existing) throw new ArmError(404, "ResourceNotFound", `The resource '${path}' was not found.`);
      return this.withEtag(existing, { status: 200, body: this.view(existing, req) });
    }
    if (segments(parentId).length > 2 && !this.store.get(parentId)) throw this.notFoundFor(parentId, typeOfId(parentId) ?? "");
    if (req.method === "PUT") {
      this.assertNotLocked(path, "write");
      const r = this.applyPut(path, typeOfId(path) ?? "", existing, req.body);
      this.emit(req, "write", r.id, `${r.type}/write`);
      // a diagnostic setting's PUT answers 200 whether it created the setting or not (DiagnosticSettings_CreateOrUpdate,
      // 2021-05-01-preview: responses 200 and default only; @azure/arm-monitor's createOrUpdate maps any other status to an error)
      const created = !existing && r.type.toLowerCase() !== "microsoft.insights/diagnosticsettings";
      return this.withEtag(r, { status: created ? 201 : 200, body: this.view(r, req) });
    }
    if (req.method === "DELETE") {
      if (!existing) return { status: 204 };
      this.assertNotLocked(path, "delete");
      this.store.delete(path);
      this.emit(req, "delete", existing.id, `${existing.type}/delete`);
      return { status: 200 };
    }
    throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${req.method}'.`);
  }

  /**
   * Azure Monitor metrics of a resource. Request counts come from an estate entry
   * `{resourceId}/providers/Microsoft.Insights/metrics/Requests` with `properties.totalsByApiId` and/or
   * `properties.totalsByOperation` (emulator/traffic.ts, shared with the report by operation);
   * without one, the resource served no requests (empty time series, as Azure answers).
   */
  private metrics(req: ArmRequest, resourceId: string): Reply {
    if (!this.store.get(resourceId)) throw this.notFoundFor(resourceId, typeOfId(resourceId) ?? "");
    const names = (req.url.searchParams.get("metricnames") ?? "Requests").split(",");
    const timespan = req.url.searchParams.get("timespan") ?? `${new Date(Date.now() - 30 * 86400_000).toISOString()}/${new Date().toISOString()}`;
    const interval = req.url.searchParams.get("interval") ?? "P30D";
    const filter = req.url.searchParams.get("$filter") ?? "";
    const byApi = /apiid\s+eq\s+'\*'/i.test(filter);
    const value = names.map((name) => {
      const totals = totalsByApi(requestsEntry(this.store, resourceId, name));
      const start = timespan.split("/")[0] ?? new Date().toISOString();
      const series = byApi
        ? Object.entries(totals).map(([api, total]) => ({ metadatavalues: [{ name: { value: "apiid", localizedValue: "ApiId" }, value: api }], data: [{ timeStamp: start, total }] }))
        : [{ metadatavalues: [], data: [{ timeStamp: start, total: Object.values(totals).reduce((a, b) => a + b, 0) }] }];
      return {
        id: `${resourceId}/providers/Microsoft.Insights/metrics/${name}`,
        type: "Microsoft.Insights/metrics",
        name: { value: name, localizedValue: name },
        displayDescription: "Number of gateway requests",
        unit: "Count",
        timeseries: series,
        errorCode: "Success",
      };
    });
    return { status: 200, body: { cost: 0, timespan, interval, value, namespace: "Microsoft.ApiManagement/service", resourceregion: "westeurope" } };
  }

  /**
   * API Management's report by operation (Reports_ListByOperation, apimreports.json 2024-05-01): `$filter` is
   * required (the timestamp range, `timestamp ge datetime'…' and timestamp le datetime'…'`); one row per operation
   * with the shapes of ApiManagementGetReportsByOperation.json, paged like the other lists (`$top`, `$skip`,
   * `count`), the last page with `nextLink: ""` as the example. The counts are the estate's (emulator/traffic.ts);
   * the time range is not applied (the estate's counts have no time). A tier without the reports refuses them
   * (emulator/tiers.ts).
   */
  private operationReport(req: ArmRequest, serviceId: string): Reply {
    const svc = this.store.get(serviceId);
    if (!svc) throw this.notFoundFor(serviceId, "Microsoft.ApiManagement/service");
    const filter = req.url.searchParams.get("$filter") ?? "";
    if (!/\btimestamp\s+ge\s+datetime'[^']+'/i.test(filter) || !/\btimestamp\s+le\s+datetime'[^']+'/i.test(filter)) {
      throw new ArmError(400, "ValidationError", "The $filter parameter must give the time range: timestamp ge datetime'...' and timestamp le datetime'...'.");
    }
    const rows = operationReportRows(this.store, serviceId);
    const top = clampInt(req.url.searchParams.get("$top"), this.settings.pageSize, 1, 1000);
    const skip = clampInt(req.url.searchParams.get("$skip"), 0, 0, Number.MAX_SAFE_INTEGER);
    let nextLink = "";
    if (skip + top < rows.length) {
      const next = new URL(req.url.pathname, req.origin);
      for (const [k, v] of req.url.searchParams) if (k !== "$skip" && k !== "$top") next.searchParams.set(k, v);
      next.searchParams.set("$top", String(top));
      next.searchParams.set("$skip", String(skip + top));
      nextLink = next.toString();
    }
    return { status: 200, body: { value: rows.slice(skip, skip + top), count: rows.length, nextLink } };
  }

  /** Service names are global (`{name}.azure-api.net`): answers as core #0 (nameAvailable, reason, message). */
  private checkNameAvailability(req: ArmRequest): Reply {
    const name = typeof req.body["name"] === "string" ? req.body["name"] : "";
    if (!/^[a-zA-Z](?:[a-zA-Z0-9-]{0,48}[a-zA-Z0-9])?$/.test(name)) return { status: 200, body: { nameAvailable: false, reason: "Invalid", message: `Invalid service name '${name}'.` } };
    const taken = this.store.ofType("Microsoft.ApiManagement/service").some((s) => s.name.toLowerCase() === name.toLowerCase());
    return { status: 200, body: taken ? { nameAvailable: false, reason: "AlreadyExists", message: `${name} is already in use. Please select a different name.` } : { nameAvailable: true, reason: "Valid", message: "" } };
  }

  private expectGet(method: string, f: () => Reply): Reply {
    if (method !== "GET") throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${method}'.`);
    return f();
  }

  // ---- discovery -----------------------------------------------------------

  private listSubscriptions(): Reply {
    return { status: 200, body: { value: this.store.listSubscriptions().map((s) => this.subscriptionView(s.subscriptionId)) } };
  }

  private subscriptionView(sub: string): Record<string, unknown> {
    const s = this.store.listSubscriptions().find((x) => x.subscriptionId.toLowerCase() === sub.toLowerCase());
    return {
      id: `/subscriptions/${s?.subscriptionId ?? sub}`,
      subscriptionId: s?.subscriptionId ?? sub,
      displayName: s?.displayName ?? sub,
      state: "Enabled",
      tenantId: s?.tenantId ?? this.store.tenantId,
      subscriptionPolicies: { locationPlacementId: "Public_2014-09-01", quotaId: "PayAsYouGo_2014-09-01", spendingLimit: "Off" },
      authorizationSource: "RoleBased",
    };
  }

  private groupView(g: { id: string; name: string; location: string }): Record<string, unknown> {
    return { id: g.id, name: g.name, type: "Microsoft.Resources/resourceGroups", location: g.location, properties: { provisioningState: "Succeeded" } };
  }

  // ---- views ------------------------------------------------------------

  /** The ARM view of a resource as the caller sees it. */
  view(r: Resource, req: Pick<ArmRequest, "origin"> & Partial<Pick<ArmRequest, "method" | "url">>, extra: { created?: boolean } = {}): Record<string, unknown> {
    const v = this.store.view(r);
    const t = r.type.toLowerCase();
    const props = v["properties"] as Record<string, unknown>;
    if (t === "microsoft.apimanagement/service/namedvalues" && props["secret"] === true) delete props["value"];
    if (t === "microsoft.keyvault/vaults") {
      const origin = this.vaults.origins.get(r.name.toLowerCase());
      if (origin) props["vaultUri"] = `${origin}/`;
    }
    if (t === "microsoft.keyvault/vaults/secrets") delete props["value"];
    if (t.startsWith(SERVICE_TYPE)) {
      // GET, list and write answers differ (emulator/contracts.ts); a collection's items are answered in list form
      const method = req.method ?? "GET";
      const listing = req.url !== undefined && idKey(req.url.pathname) === idKey(collectionOf(r.id)) && idKey(req.url.pathname) !== idKey(r.id);
      const mode: contracts.ViewMode = method === "GET" || method === "HEAD" ? (listing ? "list" : "get") : "write";
      contracts.shapeView(r, v, { mode, apiVersion: req.url?.searchParams.get("api-version") ?? "", created: extra.created }, this.store, this.serviceOf(r.id)?.id);
    }
    return v;
  }

  private page(req: ArmRequest, items: Resource[], map: (r: Resource) => unknown, withCount = true): Reply {
    const top = clampInt(req.url.searchParams.get("$top"), this.settings.pageSize, 1, 1000);
    const skip = clampInt(req.url.searchParams.get("$skip"), 0, 0, Number.MAX_SAFE_INTEGER);
    const sorted = [...items].sort((a, b) => (a.id.toLowerCase() < b.id.toLowerCase() ? -1 : a.id.toLowerCase() > b.id.toLowerCase() ? 1 : 0));
    const slice = sorted.slice(skip, skip + top);
    const body: Record<string, unknown> = withCount ? { value: slice.map(map), count: sorted.length } : { value: slice.map(map) };
    if (skip + top < sorted.length) {
      const next = new URL(req.url.pathname, req.origin);
      for (const [k, v] of req.url.searchParams) if (k !== "$skip" && k !== "$top") next.searchParams.set(k, v);
      next.searchParams.set("$top", String(top));
      next.searchParams.set("$skip", String(skip + top));
      body["nextLink"] = next.toString();
    }
    return { status: 200, body };
  }

  private withEtag(r: Resource, reply: Reply): Reply {
    return { ...reply, headers: { ...(reply.headers ?? {}), etag: `"${r.etag}"` } };
  }

  // ---- resources ----------------------------------------------------------

  private serviceOf(id: string): Resource | undefined {
    const segs = segments(id);
    if (segs.length < 8 || segs[6]?.toLowerCase() !== "service") return undefined;
    const svc = this.store.get("/" + segs.slice(0, 8).join("/"));
    return svc && svc.type.toLowerCase() === SERVICE_TYPE ? svc : undefined;
  }

  private assertNotUpdating(id: string): void {
    const svc = this.serviceOf(id);
    if (svc && svc.properties["provisioningState"] === "Updating") {
      throw new ArmError(409, "PessimisticConcurrencyConflict", `Operation on the API Management service '${svc.name}' is in progress; retry after it completes.`, { "retry-after": "10" });
    }
  }

  /** Throws ScopeLocked when a lock on the id or any parent forbids the operation. */
  assertNotLocked(id: string, op: "write" | "delete"): void {
    const blocking: string[] = [];
    for (const lock of this.store.ofType("Microsoft.Authorization/locks")) {
      const level = String(lock.properties["level"] ?? "");
      const scope = authorizationScopeOf(lock.id);
      if (!isAtOrBelow(id, scope)) continue;
      if (level === "ReadOnly" || (level === "CanNotDelete" && op === "delete")) blocking.push(scope);
    }
    if (blocking.length > 0) {
      const list = [...new Set(blocking)].map((s) => `'${s}'`).join(",");
      throw new ArmError(409, "ScopeLocked", `The scope '${id}' cannot perform ${op} operation because following scope(s) are locked: ${list}. Please remove the lock and try again.`);
    }
  }

  private checkIfMatch(r: Resource, req: ArmRequest, required: boolean): void {
    if (req.ifMatch === undefined || req.ifMatch === "") {
      if (required) throw new ArmError(400, "ValidationError", "The 'If-Match' header is required for this operation.");
      return;
    }
    if (req.ifMatch.trim() === "*") return;
    const wanted = req.ifMatch.split(",").map(etagValue);
    if (!wanted.includes(r.etag)) {
      throw new ArmError(412, "PreconditionFailed", "The entity's ETag does not match the If-Match header: it was changed since it was read.");
    }
  }

  private resource(req: ArmRequest, path: string): Reply {
    const existing = this.store.get(path);
    const type = existing?.type ?? typeOfId(path) ?? "";
    const lt = type.toLowerCase();
    const rules = lt === SERVICE_TYPE ? { patchNeedsIfMatch: false, putLro: true, patchLro: true, deleteLro: true } : (CHILD_RULES[lt] ?? DEFAULT_RULES);
    switch (req.method) {
      case "GET":
      case "HEAD": {
        const asyncId = req.url.searchParams.get("asyncId");
        if (req.method === "GET" && asyncId !== null && this.operations.has(asyncId)) return this.asyncIdPoll(asyncId, req);
        if (!existing) throw this.notFoundFor(path, type);
        // a product's API link answers its existence check with 204 and no ETag (core #292)
        if (req.method === "HEAD" && lt === "microsoft.apimanagement/service/products/apis") return { status: 204 };
        if (lt === "microsoft.apimanagement/service/namedvalues" && existing.properties["keyVault"]) this.noteResolution(existing);
        return this.withEtag(existing, { status: 200, body: req.method === "HEAD" ? undefined : this.view(existing, req) });
      }
      case "PATCH": {
        if (!existing) throw this.notFoundFor(path, type);
        this.checkIfMatch(existing, req, rules.patchNeedsIfMatch);
        this.assertNotLocked(existing.id, "write");
        this.assertNotUpdating(existing.id);
        const refusedPatch = lt === "microsoft.apimanagement/service/namedvalues" ? this.referenceRefusal(existing.id, existing, req.body) : undefined;
        if (refusedPatch) return this.refusedWrite(req, existing.id, refusedPatch, 200);
        this.applyPatch(existing, req.body);
        return this.finishWrite(req, existing, rules.patchLro, 200, "write");
      }
      case "PUT": {
        const parent = parentOf(path);
        if (parent && !this.store.get(parent)) throw this.notFoundFor(parent, typeOfId(parent) ?? "");
        if (existing) this.checkIfMatch(existing, req, false);
        this.assertNotLocked(path, "write");
        this.assertNotUpdating(path);
        const refusedPut = lt === "microsoft.apimanagement/service/namedvalues" ? this.referenceRefusal(path, undefined, req.body) : undefined;
        if (refusedPut) return this.refusedWrite(req, existing?.id ?? path, refusedPut, existing ? 200 : 201);
        if (lt === "microsoft.apimanagement/service/products/apis") return this.linkProductApi(req, path, existing);
        const given = (req.body["properties"] ?? {}) as Record<string, unknown>;
        const r = this.applyPut(path, type, existing, req.body, req.caller.principalId);
        const lro = lt === "microsoft.apimanagement/service/apis" ? contracts.isAsyncImport(given) : rules.putLro;
        return this.finishWrite(req, r, lro, existing ? 200 : 201, "write");
      }
      case "DELETE": {
        if (!existing) return { status: 204 };
        this.checkIfMatch(existing, req, false);
        this.assertNotLocked(existing.id, "delete");
        this.assertNotUpdating(existing.id);
        if (lt === SERVICE_TYPE || rules.deleteLro) {
          return this.startOperation(req, existing, 202, true, () => this.store.delete(existing.id));
        }
        this.store.delete(existing.id);
        if (lt === "microsoft.apimanagement/service/apis" && req.url.searchParams.get("deleteRevisions") === "true" && !existing.name.includes(";rev=")) {
          // deleteRevisions=true takes the API's other revisions with it (api #30, then #31 lists none of them)
          for (const rev of this.store.list(collectionOf(existing.id))) if (rev.name.toLowerCase().startsWith(`${existing.name.toLowerCase()};rev=`)) this.store.delete(rev.id);
        }
        this.emit(req, "delete", existing.id, `${existing.type}/delete`);
        // a version set's DELETE answers 204 (core #334)
        return { status: lt === "microsoft.apimanagement/service/apiversionsets" ? 204 : 200 };
      }
      default:
        throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${req.method}'.`);
    }
  }

  private notFoundFor(path: string, type: string): ArmError {
    const lt = type.toLowerCase();
    if (lt === SERVICE_TYPE) return new ArmError(404, "ResourceNotFound", `The Resource '${type}/${nameOf(path)}' under resource group '${parseId(path).resourceGroup}' was not found.`);
    // API Management's own errors carry details: null (policy #3: "PoliciesConfiguration not found.")
    if (lt.startsWith("microsoft.apimanagement/service/")) return new ArmError(404, "ResourceNotFound", `${type.split("/").pop()} not found.`, {}, null);
    return new ArmError(404, "ResourceNotFound", `The Resource '${type}/${nameOf(path)}' under resource group '${parseId(path).resourceGroup}' was not found.`);
  }

  private applyPatch(r: Resource, body: Record<string, unknown>): void {
    const lt = r.type.toLowerCase();
    const patchProps = (body["properties"] ?? {}) as Record<string, unknown>;
    if (lt === SERVICE_TYPE && patchProps["customProperties"] && typeof patchProps["customProperties"] === "object") {
      // ARM resets every security key the PATCH omits to its default.
      const created = Date.parse(String(r.properties["createdAtUtc"] ?? ""));
      const legacyDefault = Number.isFinite(created) && created <= LEGACY_CUTOFF ? "True" : "False";
      const given = patchProps["customProperties"] as Record<string, unknown>;
      const givenKeys = new Map(Object.keys(given).map((k) => [k.toLowerCase(), k]));
      const merged: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(given)) merged[k] = v;
      for (const key of SECURITY_KEYS) {
        if (givenKeys.has(key.toLowerCase())) continue;
        // protocols and 3DES default to enabled only on services created on or before 2018-04-01; other ciphers default to enabled
        merged[key] = key.includes(".Ciphers.") && !key.endsWith("TripleDes168") ? "True" : legacyDefault;
      }
      r.properties = mergePatch(r.properties, { ...patchProps, customProperties: undefined }) as Record<string, unknown>;
      r.properties["customProperties"] = merged;
    } else if (lt === "microsoft.apimanagement/service/namedvalues") {
      this.patchNamedValue(r, patchProps);
    } else {
      r.properties = mergePatch(r.properties, patchProps) as Record<string, unknown>;
      contracts.keepWriteOnly(r);
    }
    for (const k of ["tags", "sku", "identity", "location"] as const) {
      if (body[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = k === "sku" ? mergePatch(r.sku ?? {}, body[k]) : structuredClone(body[k]);
    }
    if (lt === SERVICE_TYPE && body["identity"] !== undefined) this.fillIdentity(r);
    r.etag = this.store.nextEtag();
  }

  private patchNamedValue(r: Resource, patch: Record<string, unknown>): void {
    const before = { ...r.properties };
    const next = mergePatch(r.properties, patch) as Record<string, unknown>;
    // value moves between properties (non-secret) and the hidden slot (secret)
    const newValue = typeof patch["value"] === "string" ? (patch["value"] as string) : undefined;
    const secret = next["secret"] === true;
    const plainValue = typeof before["value"] === "string" ? (before["value"] as string) : undefined;
    if (newValue !== undefined) {
      r.hiddenValue = secret ? newValue : undefined;
      if (secret) delete next["value"];
    } else if (secret && plainValue !== undefined) {
      r.hiddenValue = plainValue;
      delete next["value"];
    } else if (!secret && r.hiddenValue !== undefined && next["keyVault"] === undefined) {
      next["value"] = r.hiddenValue;
      r.hiddenValue = undefined;
    }
    if (patch["keyVault"] !== undefined && patch["keyVault"] !== null) {
      delete next["value"];
      r.hiddenValue = undefined;
    }
    r.properties = next;
    if (r.properties["keyVault"]) this.resolveNamedValue(r);
  }

  private applyPut(path: string, type: string, existing: Resource | undefined, body: Record<string, unknown>, principal = ""): Resource {
    const props = { ...((body["properties"] as Record<string, unknown> | undefined) ?? {}) };
    const segs = segments(path);
    const r: Resource = {
      id: existing?.id ?? "/" + segs.join("/"),
      name: existing?.name ?? nameOf(path),
      type: existing?.type ?? type,
      properties: props,
      etag: this.store.nextEtag(),
    };
    for (const k of ["location", "sku", "identity", "tags", "kind", "zones"] as const) {
      if (body[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = structuredClone(body[k]);
      else if (existing && existing[k] !== undefined && k === "location") r.location = existing.location;
    }
    const lt = r.type.toLowerCase();
    if (lt === SERVICE_TYPE) {
      props["createdAtUtc"] = existing?.properties["createdAtUtc"] ?? new Date().toISOString();
      props["provisioningState"] = "Succeeded";
      contracts.putService(r, existing, principal);
      this.fillIdentity(r);
    }
    if (lt === "microsoft.apimanagement/service/namedvalues") {
      if (props["secret"] === true && typeof props["value"] === "string") {
        r.hiddenValue = props["value"];
        delete props["value"];
      }
      if (props["keyVault"]) {
        delete props["value"];
        this.resolveNamedValue(r);
      }
    }
    const svcId = this.serviceOf(r.id)?.id ?? "";
    if (lt === "microsoft.apimanagement/service/apis") {
      const sourceId = typeof props["sourceApiId"] === "string" ? props["sourceApiId"] : undefined;
      const source = sourceId ? this.store.get(sourceId.startsWith("/apis/") ? `${svcId}${sourceId}` : sourceId) : undefined;
      contracts.putApi(r, props, existing, source, svcId);
    } else if (lt.startsWith(SERVICE_TYPE + "/") && lt !== "microsoft.apimanagement/service/namedvalues") {
      const released = lt === "microsoft.apimanagement/service/apis/releases" && typeof props["apiId"] === "string" ? contracts.revisionOf(props["apiId"]) : undefined;
      contracts.putChild(r, existing, svcId);
      if (released !== undefined) contracts.release(this.store, svcId, segments(r.id)[9] ?? "", released, () => this.store.nextEtag());
    }
    if (lt.startsWith(SERVICE_TYPE)) r.armWritten = true;
    if (lt === "microsoft.keyvault/vaults/secrets" && typeof props["value"] === "string") {
      r.hiddenValue = props["value"];
      delete props["value"];
    }
    this.store.put(r);
    return r;
  }

  private finishWrite(req: ArmRequest, r: Resource, lro: boolean, status: number, kind: "write"): Reply {
    // a long-running PATCH answers 202 without a body (service and named value examples); a long-running PUT answers 201/200 with the body
    if (lro) {
      const isService = r.type.toLowerCase() === SERVICE_TYPE;
      if (!isService) return this.startOperation(req, r, 202, false, undefined, "async-id", { asyncCode: status });
      const creating = req.method === "PUT" && status === 201;
      // a new service activates: computed properties and default children appear when it is done (core #1 -> #73, #262, #263)
      const activate = creating
        ? () => {
            contracts.activateService(r);
            for (const c of contracts.defaultChildren(r, () => this.store.nextEtag())) if (!this.store.get(c.id)) this.store.put(c);
          }
        : undefined;
      const consumptionPut = req.method === "PUT" && String(r.sku?.["name"] ?? "").toLowerCase() === "consumption";
      return this.startOperation(req, r, req.method === "PATCH" ? 202 : status, false, activate, consumptionPut ? "location" : "azure-async", { creating });
    }
    this.emit(req, kind, r.id, `${r.type}/write`);
    return this.withEtag(r, { status, body: this.view(r, req, { created: status === 201 }) });
  }

  /** A product's API link (`products/{p}/apis/{api}`): the answer is the API as the product lists it, with the API's ETag (core #290). */
  private linkProductApi(req: ArmRequest, path: string, existing: Resource | undefined): Reply {
    const segs = segments(path);
    const api = this.store.get(`/${segs.slice(0, 8).join("/")}/apis/${segs[11] ?? ""}`);
    if (!api) throw this.notFoundFor(`/${segs.slice(0, 8).join("/")}/apis/${segs[11] ?? ""}`, "Microsoft.ApiManagement/service/apis");
    const link = this.applyPut(path, "Microsoft.ApiManagement/service/products/apis", existing, {}, req.caller.principalId);
    this.emit(req, "write", link.id, `${link.type}/write`);
    return this.withEtag(api, { status: existing ? 200 : 201, body: contracts.productApiView(api, link.id, { mode: "write", apiVersion: req.url.searchParams.get("api-version") ?? "" }) });
  }

  // ---- long-running operations ------------------------------------------------

  private startOperation(
    req: ArmRequest,
    r: Resource,
    status: number,
    deleting: boolean,
    onComplete: (() => void) | undefined,
    style: LroStyle = "azure-async",
    options: { asyncCode?: number; creating?: boolean; keepState?: boolean } = {},
  ): Reply {
    const opId = randomUUID().replace(/-/g, "");
    const svc = this.serviceOf(r.id);
    const isService = r.type.toLowerCase() === SERVICE_TYPE && !options.keepState;
    if (isService) {
      // while it runs a service reports the operation in both states (core #1 Activating, #77 Updating, #336 Deleting)
      const pending = deleting ? { provisioningState: "Deleting", targetProvisioningState: "Deleting" } : contracts.pendingServiceStates(r, options.creating === true);
      Object.assign(r.properties, pending);
    }
    const op: Operation = {
      id: opId,
      resourceId: r.id,
      serviceId: svc?.id,
      status: "InProgress",
      startTime: new Date().toISOString(),
      finalStatus: options.asyncCode ?? 200,
      deleted: deleting,
      headers: {},
      complete: () => {
        if (op.status !== "InProgress") return;
        op.status = "Succeeded";
        op.endTime = new Date().toISOString();
        if (isService && !deleting) {
          r.properties["provisioningState"] = "Succeeded";
          r.properties["targetProvisioningState"] = "";
        }
        onComplete?.();
        this.emit(req, deleting ? "delete" : "write", r.id, `${r.type}/${deleting ? "delete" : "write"}`);
      },
    };
    this.operations.set(opId, op);
    const kind = lroKindOf(r.type, req.method, req.body, deleting, options.creating === true);
    const t = setTimeout(op.complete, this.settings.lroByKind?.[kind] ?? this.settings.lroDurationMs);
    t.unref?.();
    const apiVersion = req.url.searchParams.get("api-version") ?? "";
    const base = svc?.id ?? r.id;
    const asyncUrl = new URL(`${base}/operationResults/${opId}`, req.origin);
    asyncUrl.searchParams.set("api-version", apiVersion);
    const locationUrl = new URL(`${base}/operationResults/${opId}`, req.origin);
    locationUrl.searchParams.set("api-version", apiVersion);
    locationUrl.searchParams.set("asyncResponse", "location");
    const resourceUrl = new URL(r.id, req.origin);
    resourceUrl.searchParams.set("api-version", apiVersion);
    resourceUrl.searchParams.set("asyncId", opId);
    resourceUrl.searchParams.set("asyncCode", String(op.finalStatus));
    // no Retry-After: Azure sends none on any of these (every recorded LRO answer and poll); clients poll at their own interval
    const headers: Record<string, string> =
      style === "azure-async" ? { "azure-asyncoperation": asyncUrl.toString(), location: locationUrl.toString() } : style === "location" ? { location: locationUrl.toString() } : { location: resourceUrl.toString() };
    op.headers = headers;
    // a service DELETE answers 202 with the service, Deleting (core #336)
    if (status === 202 && !(deleting && isService)) return { status, headers };
    const body = this.view(r, req);
    if (deleting) return { status, headers, body }; // without an ETag (core #336)
    // the initial body of a named value PUT reports the operation as in progress (CreateNamedValueWithKeyVault example)
    if (r.type.toLowerCase() === "microsoft.apimanagement/service/namedvalues") (body["properties"] as Record<string, unknown>)["provisioningState"] = "InProgress";
    return this.withEtag(r, { status, headers, body });
  }

  private operationStatus(opId: string): Reply {
    const op = this.operations.get(opId);
    if (!op) throw new ArmError(404, "OperationNotFound", `Operation '${opId}' was not found.`);
    // the status body is `{status}` alone; while running it repeats the poll headers (core #2 InProgress, #72 Succeeded)
    const body: Record<string, unknown> = { status: op.status };
    if (op.error) body["error"] = { code: op.error.code, message: op.error.message };
    const headers: Record<string, string> = op.status === "InProgress" ? { ...op.headers } : {};
    return { status: 200, body, headers };
  }

  /** Polling a resource URL with `asyncId` (style "async-id"): 202 while running, then `asyncCode` with the resource (nv #1, api #18). */
  private asyncIdPoll(opId: string, req: ArmRequest): Reply {
    const op = this.operations.get(opId) as Operation;
    if (op.status === "InProgress") return { status: 202, headers: { location: req.url.toString() } };
    // a failed write's poll answers the error (apiops#214: 400 ValidationError on `...?asyncId=...&asyncCode=200`)
    if (op.error) return errorReply(op.error);
    const r = this.store.get(op.resourceId);
    if (!r) throw this.notFoundFor(op.resourceId, typeOfId(op.resourceId) ?? "");
    return this.withEtag(r, { status: op.finalStatus, body: this.view(r, req) });
  }

  /** Location-header polling: 202 while running, then the resource (or 200/204 for deletes). */
  locationPoll(opId: string, req: ArmRequest): Reply {
    const op = this.operations.get(opId);
    if (!op) throw new ArmError(404, "OperationNotFound", `Operation '${opId}' was not found.`);
    if (op.status === "InProgress") return { status: 202, headers: { location: req.url.toString() } };
    if (op.error) return errorReply(op.error);
    if (op.deleted) return { status: 204 };
    const r = this.store.get(op.resourceId);
    if (!r) return { status: 204 };
    // the resource, without an ETag header (core #129, mi #2)
    return { status: 200, body: this.view(r, req) };
  }

  /**
   * Ends every pending operation as Failed (tests): the status poll answers `{status: "Failed", error}` (the
   * Azure-AsyncOperation contract: https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations)
   * and a service is writable again. The written properties stay (the emulator keeps no copy of the state before the write).
   */
  failPending(code = "InternalServerError", message = "The operation failed."): number {
    let n = 0;
    for (const op of this.operations.values()) {
      if (op.status !== "InProgress") continue;
      op.status = "Failed";
      op.endTime = new Date().toISOString();
      op.error = new ArmError(500, code, message);
      const r = this.store.get(op.resourceId);
      if (r && r.type.toLowerCase() === SERVICE_TYPE) {
        r.properties["provisioningState"] = "Succeeded";
        r.properties["targetProvisioningState"] = "";
      }
      n++;
    }
    return n;
  }

  /** Finishes every pending operation at once (tests, state dumps). */
  settleAll(): void {
    for (const op of this.operations.values()) op.complete();
  }

  // ---- collections and actions ----------------------------------------------

  private collectionOrAction(req: ArmRequest, segs: string[]): Reply {
    const parentPath = "/" + segs.slice(0, -1).join("/");
    const last = segs[segs.length - 1] as string;
    const ll = last.toLowerCase();
    const parent = this.store.get(parentPath);
    if (req.method === "POST") {
      if (!parent) throw this.notFoundFor(parentPath, typeOfId(parentPath) ?? "");
      return this.action(req, parent, last);
    }
    if (req.method !== "GET") throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${req.method}'.`);
    if (!parent) throw this.notFoundFor(parentPath, typeOfId(parentPath) ?? "");
    const lt = parent.type.toLowerCase();
    const path = "/" + segs.join("/");
    if (lt === "microsoft.apimanagement/service/apis" && ll === "revisions") return this.revisions(req, parent);
    if (lt === "microsoft.apimanagement/service/products" && ll === "apis") {
      const svc = this.serviceOf(parent.id);
      const apiOf = (link: Resource) => (svc ? this.store.get(`${svc.id}/apis/${link.name}`) : undefined);
      const links = this.store.list(path).filter((link) => apiOf(link) !== undefined);
      // each item is the API with the link's id and type (core #291)
      return this.page(req, links, (link) => contracts.productApiView(apiOf(link) as Resource, link.id, { mode: "list", apiVersion: req.url.searchParams.get("api-version") ?? "" }));
    }
    let items = this.store.list(path);
    // the API collection lists every revision, current or not (api #27 lists `api-id;rev=2`, without isCurrent)
    // the tenant list answers `access` only; `gitAccess` is read by name (emulator/tiers.ts)
    if (lt === SERVICE_TYPE && ll === "tenant") items = listedTenantSettings(items);
    const filter = req.url.searchParams.get("$filter");
    if (filter && lt === SERVICE_TYPE && ll === "namedvalues") items = applyODataFilter(items, filter);
    // the list answers the same lastStatus as a GET of each (ApiManagementListNamedValues example)
    if (lt === SERVICE_TYPE && ll === "namedvalues") for (const nv of items) if (nv.properties["keyVault"]) this.noteResolution(nv);
    return this.page(req, items, (r) => this.view(r, req));
  }

  private revisions(req: ArmRequest, api: Resource): Reply {
    const svc = this.serviceOf(api.id);
    const base = api.name.split(";rev=")[0] as string;
    const all = svc ? this.store.list(`${svc.id}/apis`).filter((a) => a.name.split(";rev=")[0]?.toLowerCase() === base.toLowerCase()) : [api];
    const reply = this.page(req, all, contracts.revisionView);
    // the revisions list answers nextLink null on its last page (rev #2, core #277)
    (reply.body as Record<string, unknown>)["nextLink"] ??= null;
    return reply;
  }

  private action(req: ArmRequest, r: Resource, action: string): Reply {
    const lt = r.type.toLowerCase();
    const la = action.toLowerCase();
    // ARM blocks POST actions under a ReadOnly lock (e.g. listValue, listKeys)
    this.assertNotLocked(r.id, "write");
    if (lt === "microsoft.apimanagement/service/namedvalues" && la === "listvalue") {
      let value: string | undefined;
      if (r.properties["keyVault"]) {
        // API Management answers its own copy, fetched when the reference was written or last refreshed ("a named value in
        // API Management is updated within 4 hours", api-management-howto-properties), not a read of Key Vault now
        this.noteResolution(r);
        const last = (r.properties["keyVault"] as Record<string, unknown>)["lastStatus"] as Record<string, unknown> | undefined;
        value = this.fetched.get(idKey(r.id));
        if (last?.["code"] !== "Success" || value === undefined) throw new ArmError(400, "KeyVaultSecretResolutionFailed", `Named value '${r.name}' could not be resolved from Key Vault: ${String(last?.["message"] ?? last?.["code"] ?? "never fetched")}`);
      } else {
        value = r.properties["secret"] === true ? r.hiddenValue : (r.properties["value"] as string | undefined);
      }
      this.emit(req, "action", r.id, `${r.type}/listValue/action`);
      return this.withEtag(r, { status: 200, body: { value: value ?? "" } });
    }
    if (lt === "microsoft.apimanagement/service/namedvalues" && la === "refreshsecret") {
      this.assertNotUpdating(r.id);
      if (!r.properties["keyVault"]) throw new ArmError(400, "ValidationError", `Named value '${r.name}' is not a Key Vault reference.`);
      this.resolveNamedValue(r);
      r.etag = this.store.nextEtag();
      return this.startOperation(req, r, 202, false, undefined);
    }
    if (lt === "microsoft.apimanagement/service/subscriptions" && la === "listsecrets") {
      // the keys, with the subscription's ETag (sub #6)
      this.emit(req, "action", r.id, `${r.type}/listSecrets/action`);
      return this.withEtag(r, { status: 200, body: contracts.subscriptionKeys(r) });
    }
    if (lt === "microsoft.apimanagement/service/subscriptions" && (la === "regenerateprimarykey" || la === "regeneratesecondarykey")) {
      // 204 without a body; the subscription's ETag changes (sub #7, #8, then #9)
      contracts.regenerateKey(r, la === "regenerateprimarykey" ? "primaryKey" : "secondaryKey");
      r.etag = this.store.nextEtag();
      this.emit(req, "action", r.id, `${r.type}/${action}/action`);
      return { status: 204 };
    }
    if (lt === SERVICE_TYPE && la === "backup") {
      // 202 with Location only; polling answers 202, then the service (core #120, #121, #129)
      this.assertNotUpdating(r.id);
      return this.startOperation(req, r, 202, false, undefined, "location", { keepState: true });
    }
    throw new ArmError(404, "ActionNotFound", `The action '${action}' is not supported on '${r.type}'.`);
  }

  // ---- Key Vault references --------------------------------------------------

  /** The principal APIM uses for a Key Vault reference: the user-assigned identity named by client id, else the system identity. */
  private referencePrincipal(svc: Resource | undefined, identityClientId: unknown): string | undefined {
    const ident = svc?.identity;
    if (!ident) return undefined;
    if (typeof identityClientId === "string" && identityClientId !== "") {
      const uai = (ident["userAssignedIdentities"] ?? {}) as Record<string, Record<string, unknown>>;
      for (const v of Object.values(uai)) {
        if (String(v?.["clientId"] ?? "").toLowerCase() === identityClientId.toLowerCase()) return String(v["principalId"]);
      }
      return undefined;
    }
    return /SystemAssigned/i.test(String(ident["type"] ?? "")) ? (ident["principalId"] as string | undefined) : undefined;
  }

  resolveNamedValue(r: Resource): { ok: true; value: string } | { ok: false; code: string; message: string } {
    const kv = (r.properties["keyVault"] ?? {}) as Record<string, unknown>;
    const svc = this.serviceOf(r.id);
    const principal = this.referencePrincipal(svc, kv["identityClientId"]);
    const res = this.vaults.resolveAs(principal, String(kv["secretIdentifier"] ?? ""));
    const status: Record<string, unknown> = res.ok
      ? { code: "Success", timeStampUtc: new Date().toISOString() }
      : { code: res.code, message: res.message, timeStampUtc: new Date().toISOString() };
    r.properties["keyVault"] = { ...kv, lastStatus: status };
    if (res.ok) this.fetched.set(idKey(r.id), res.value);
    return res;
  }

  /**
   * API Management refreshes a reference by itself every `referenceRefreshMs` (Azure: within 4 hours; 0, the default
   * profile: on every read, so access changes show at once); a read in between answers the last fetch.
   */
  private noteResolution(r: Resource): void {
    const kv = r.properties["keyVault"] as Record<string, unknown>;
    const prev = kv["lastStatus"] as Record<string, unknown> | undefined;
    const every = this.vaults.timings.referenceRefreshMs;
    const last = Date.parse(String(prev?.["timeStampUtc"] ?? ""));
    if (every > 0 && Number.isFinite(last) && Date.now() - last < every) return;
    const res = this.resolveNamedValue(r);
    if (prev && prev["code"] === (res.ok ? "Success" : res.code)) (r.properties["keyVault"] as Record<string, unknown>)["lastStatus"] = prev;
  }

  /**
   * Why API Management refuses a Key Vault reference being written, or undefined when it can fetch the secret now.
   * It fetches the secret when the reference is written, and the write fails when it cannot (azure-rest-api-specs
   * #21655: NamedValue_CreateOrUpdate answered "The remote name could not be resolved: 'kv-….vault.azure.net'";
   * terraform-provider-azurerm#19255: a named value write right after its role assignment fails, a rerun succeeds).
   * An identityClientId the service has no identity for: 400 ValidationError (apiops#214, #257); a secret the identity
   * may not GET (or that is missing): APIM's "Failed to access KeyVault Secret …" (InvalidOperation, Microsoft Q&A
   * 1688796, the same refusal for a certificate reference).
   */
  private referenceRefusal(id: string, existing: Resource | undefined, body: Record<string, unknown>): ArmError | undefined {
    const given = ((body["properties"] ?? {}) as Record<string, unknown>)["keyVault"];
    if (given === undefined || given === null || typeof given !== "object") return undefined;
    const kv = (existing ? mergePatch(existing.properties["keyVault"] ?? {}, given) : given) as Record<string, unknown>;
    const svc = this.serviceOf(id);
    const clientId = typeof kv["identityClientId"] === "string" && kv["identityClientId"] !== "" ? (kv["identityClientId"] as string) : undefined;
    const principal = this.referencePrincipal(svc, clientId);
    if (clientId && !principal) {
      const message = `Can not find Managed Identity with provided IdentityClientId : ${clientId}. For more information please see aka.ms/apimmsi.`;
      return new ArmError(400, "ValidationError", "One or more fields contain incorrect values:", {}, [{ code: "ValidationError", target: "identityClientId", message }]);
    }
    const identifier = String(kv["secretIdentifier"] ?? "");
    const res = this.vaults.resolveAs(principal, identifier);
    if (res.ok) return undefined;
    if (res.code === "KeyVaultNotFound") {
      let host = identifier;
      try {
        host = new URL(identifier).host;
      } catch {
        /* not a URL: named as given */
      }
      return new ArmError(400, "InvalidOperation", `The remote name could not be resolved: '${host}'`, {}, null);
    }
    if (!principal) return new ArmError(400, "InvalidOperation", `Failed to access KeyVault Secret ${identifier}: the API Management service has no managed identity (${res.message})`, {}, null);
    const type = clientId ? `UserAssigned, ClientId: ${clientId}` : "SystemAssigned";
    return new ArmError(400, "InvalidOperation", `Failed to access KeyVault Secret ${identifier} using Managed Service Identity of Api Management service. Check if Managed Identity of Type: ${type} and ObjectId: ${principal} has GET permissions on secrets in the KeyVault Access Policies.`, {}, null);
  }

  /** A write API Management refuses: 202 as every named value write, and its poll answers the error; nothing changes. */
  private refusedWrite(req: ArmRequest, id: string, error: ArmError, asyncCode: number): Reply {
    const opId = randomUUID().replace(/-/g, "");
    const now = new Date().toISOString();
    const url = new URL(id, req.origin);
    url.searchParams.set("api-version", req.url.searchParams.get("api-version") ?? "");
    url.searchParams.set("asyncId", opId);
    url.searchParams.set("asyncCode", String(asyncCode));
    const headers = { location: url.toString() };
    this.operations.set(opId, { id: opId, resourceId: id, serviceId: this.serviceOf(id)?.id, status: "Failed", startTime: now, endTime: now, finalStatus: error.status, deleted: false, headers, error, complete: () => undefined });
    return { status: 202, headers };
  }

  // ---- locks and role assignments -----------------------------------------------

  private authorization(req: ArmRequest, segs: string[], idx: number): Reply {
    const scope = "/" + segs.slice(0, idx).join("/");
    const kind = segs[idx + 2]?.toLowerCase();
    const name = segs[idx + 3];
    if (segs.length > idx + 4) throw notFound(req.url.pathname);
    if (!this.scopeExists(scope)) throw new ArmError(404, "ResourceNotFound", `The scope '${scope}' does not exist.`);
    if (kind === "locks") return name ? this.lockItem(req, scope, name) : this.expectGet(req.method, () => this.listLocks(req, scope));
    if (kind === "roleassignments") return name ? this.roleAssignmentItem(req, scope, name) : this.expectGet(req.method, () => this.listRoleAssignments(req, scope));
    if (kind === "roledefinitions" && name) {
      return this.expectGet(req.method, () => {
        const roleName = BUILTIN_ROLE_NAMES[name.toLowerCase()];
        if (!roleName) throw new ArmError(404, "RoleDefinitionDoesNotExist", `The specified role definition with ID '${name}' does not exist.`);
        return { status: 200, body: { id: `${scope}/providers/Microsoft.Authorization/roleDefinitions/${name}`, name, type: "Microsoft.Authorization/roleDefinitions", properties: { roleName, type: "BuiltInRole" } } };
      });
    }
    throw notFound(req.url.pathname);
  }

  private scopeExists(scope: string): boolean {
    const p = segments(scope);
    if (p.length === 2) return true; // subscription checked by the caller
    if (p.length === 4) return this.store.getGroup(scope) !== undefined;
    if (this.store.get(scope) !== undefined) return true;
    // secrets set through the vault's data plane are ARM scopes too (`<vaultId>/secrets/<name>`)
    if (p.length === 10 && typeOfId(scope)?.toLowerCase() === "microsoft.keyvault/vaults/secrets") {
      const vault = this.store.get("/" + p.slice(0, 8).join("/"));
      return vault !== undefined && this.vaults.find(vault.name, p[9] as string) !== undefined;
    }
    return false;
  }

  private lockView(l: Resource): Record<string, unknown> {
    return { properties: structuredClone(l.properties), id: l.id, type: "Microsoft.Authorization/locks", name: l.name };
  }

  /** Locks at the scope, inherited from its parents, and (without `atScope()`) below it. */
  private listLocks(req: ArmRequest, scope: string): Reply {
    const atScope = /atScope\(\)/i.test(req.url.searchParams.get("$filter") ?? "");
    const locks = this.store.ofType("Microsoft.Authorization/locks").filter((l) => {
      const s = authorizationScopeOf(l.id);
      return isAtOrBelow(scope, s) || (!atScope && isAtOrBelow(s, scope));
    });
    return { status: 200, body: { value: locks.map((l) => this.lockView(l)) } };
  }

  private lockItem(req: ArmRequest, scope: string, name: string): Reply {
    const id = `${canonicalScope(scope)}/providers/Microsoft.Authorization/locks/${name}`;
    const existing = this.store.get(id);
    if (req.method === "GET") {
      if (!existing) throw new ArmError(404, "LockNotFound", `The lock '${name}' could not be found.`);
      return { status: 200, body: this.lockView(existing) };
    }
    if (req.method === "PUT") {
      const props = (req.body["properties"] ?? {}) as Record<string, unknown>;
      if (props["level"] !== "CanNotDelete" && props["level"] !== "ReadOnly") {
        throw new ArmError(400, "InvalidLockLevel", "The lock level must be 'CanNotDelete' or 'ReadOnly'.");
      }
      const lock: Resource = { id, name, type: "Microsoft.Authorization/locks", properties: { ...props }, etag: this.store.nextEtag() };
      if (lock.properties["owners"] === undefined) delete lock.properties["owners"];
      this.store.put(lock);
      this.emit(req, "write", id, "Microsoft.Authorization/locks/write");
      return { status: existing ? 200 : 201, body: this.lockView(lock) };
    }
    if (req.method === "DELETE") {
      if (!existing) return { status: 204 };
      this.store.delete(id);
      this.emit(req, "delete", id, "Microsoft.Authorization/locks/delete");
      return { status: 200 };
    }
    throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${req.method}'.`);
  }

  private roleAssignmentView(ra: Resource): Record<string, unknown> {
    const props = { ...ra.properties };
    props["scope"] ??= authorizationScopeOf(ra.id);
    return { properties: props, id: ra.id, type: "Microsoft.Authorization/roleAssignments", name: ra.name };
  }

  private listRoleAssignments(req: ArmRequest, scope: string): Reply {
    const filter = req.url.searchParams.get("$filter") ?? "";
    const atScope = /atScope\(\)/i.test(filter);
    const principal = /principalId\s+eq\s+'([^']+)'/i.exec(filter)?.[1]?.toLowerCase();
    const items = this.store.ofType("Microsoft.Authorization/roleAssignments").filter((ra) => {
      const s = String(ra.properties["scope"] ?? authorizationScopeOf(ra.id));
      if (principal && String(ra.properties["principalId"] ?? "").toLowerCase() !== principal) return false;
      return isAtOrBelow(scope, s) || (!atScope && isAtOrBelow(s, scope));
    });
    return { status: 200, body: { value: items.map((r) => this.roleAssignmentView(r)) } };
  }

  private roleAssignmentItem(req: ArmRequest, scope: string, name: string): Reply {
    const id = `${canonicalScope(scope)}/providers/Microsoft.Authorization/roleAssignments/${name}`;
    const existing = this.store.get(id);
    if (req.method === "GET") {
      if (!existing) throw new ArmError(404, "RoleAssignmentNotFound", `The role assignment '${name}' is not found.`);
      return { status: 200, body: this.roleAssignmentView(existing) };
    }
    // a role assignment is an extension resource: it inherits the locks of its scope, so a ReadOnly lock refuses a new
    // one and a ReadOnly or CanNotDelete lock its removal, 409 ScopeLocked (lock-resources, "Lock inheritance" and
    // "Considerations": "A read-only lock also prevents the assignment of Azure RBAC roles", "A cannot-delete lock ...
    // prevents the deletion of Azure RBAC assignments"; Azure/enterprise-azure-policy-as-code#661, MicrosoftDocs/azure-docs#110791)
    if (req.method === "PUT") this.assertNotLocked(id, "write");
    if (req.method === "DELETE") this.assertNotLocked(id, "delete");
    if (req.method === "PUT") {
      const props = { ...((req.body["properties"] ?? {}) as Record<string, unknown>) };
      if (typeof props["roleDefinitionId"] !== "string" || typeof props["principalId"] !== "string") {
        throw new ArmError(400, "InvalidRoleAssignmentRequest", "The role assignment needs 'roleDefinitionId' and 'principalId'.");
      }
      if (existing && String(existing.properties["principalId"]) !== props["principalId"]) {
        throw new ArmError(400, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.");
      }
      const dup = this.store
        .ofType("Microsoft.Authorization/roleAssignments")
        .find(
          (ra) =>
            idKey(ra.id) !== idKey(id) &&
            idKey(String(ra.properties["scope"] ?? authorizationScopeOf(ra.id))) === idKey(scope) &&
            String(ra.properties["principalId"]).toLowerCase() === String(props["principalId"]).toLowerCase() &&
            String(ra.properties["roleDefinitionId"]).toLowerCase().split("/").pop() === String(props["roleDefinitionId"]).toLowerCase().split("/").pop(),
        );
      if (dup) throw new ArmError(409, "RoleAssignmentExists", `The role assignment already exists. The ID of the existing role assignment is ${dup.name}.`);
      props["scope"] = canonicalScope(scope);
      props["principalType"] ??= "ServicePrincipal";
      props["createdOn"] = new Date().toISOString();
      const ra: Resource = { id, name, type: "Microsoft.Authorization/roleAssignments", properties: props, etag: this.store.nextEtag() };
      this.store.put(ra);
      this.emit(req, "write", id, "Microsoft.Authorization/roleAssignments/write");
      return { status: 201, body: this.roleAssignmentView(ra) };
    }
    if (req.method === "DELETE") {
      if (!existing) return { status: 204 };
      this.store.delete(id);
      this.emit(req, "delete", id, "Microsoft.Authorization/roleAssignments/delete");
      return { status: 200, body: this.roleAssignmentView(existing) };
    }
    throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${req.method}'.`);
  }

  // ---- events ---------------------------------------------------------------

  private emit(req: ArmRequest, kind: "write" | "delete" | "action", resourceUri: string, operationName: string): void {
    this.events.emit(resourceEvent(kind, resourceUri, operationName, req.caller, req.method, new URL(req.url.pathname + req.url.search, req.origin).toString()));
  }
}

function notFound(path: string): ArmError {
  return new ArmError(404, "NotFound", `No route matches '${path}'.`);
}

function lastAuthorizationIndex(ls: string[]): number {
  for (let i = ls.length - 2; i >= 0; i--) {
    if (ls[i] === "providers" && ls[i + 1] === "microsoft.authorization") return i;
  }
  return -1;
}

function parentOf(path: string): string | undefined {
  const segs = segments(path);
  if (segs.length <= 8) return undefined;
  return "/" + segs.slice(0, -2).join("/");
}

/** Normalises a scope's spelling the way ARM reports it (`resourceGroups`). */
function canonicalScope(scope: string): string {
  const segs = segments(scope);
  if (segs[2]?.toLowerCase() === "resourcegroups") segs[2] = "resourceGroups";
  if (segs[0]?.toLowerCase() === "subscriptions") segs[0] = "subscriptions";
  return "/" + segs.join("/");
}

function clampInt(v: string | null, dflt: number, min: number, max: number): number {
  if (v === null || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ArmError(400, "InvalidParameters", `Invalid paging value '${v}'.`);
  return Math.min(max, Math.max(min, n));
}

/** RFC 7386 JSON merge patch (null deletes, objects merge, anything else replaces). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = target && typeof target === "object" && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === undefined) continue;
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The small OData subset APIM clients send to named values (`properties/secret eq true`, `isKeyVaultRefreshFailed`). */
function applyODataFilter(items: Resource[], filter: string): Resource[] {
  const secret = /properties\/secret\s+eq\s+(true|false)/i.exec(filter);
  let out = items;
  if (secret) out = out.filter((r) => (r.properties["secret"] === true) === (secret[1]?.toLowerCase() === "true"));
  return out;
}
