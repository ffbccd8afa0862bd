/**
 * A snapshot of one API Management service: the service and exactly the
 * collections the enabled rules need, read once (live) or taken from an
 * offline file. Rules are pure functions of a snapshot.
 */
import type { ArmResource } from "./arm.js";

/** The pieces of ARM data a rule can ask for. The collector reads only these. */
export type DataNeed =
  | "service"
  | "apis"
  | "apiRevisions"
  | "namedValues"
  | "tenantAccess"
  | "gitAccess"
  | "locks"
  | "backends"
  | "subscriptions"
  | "products"
  | "productApis"
  | "policies"
  | "apiPolicies"
  | "productPolicies"
  | "operationPolicies"
  | "defender"
  | "metrics"
  /** Operations of every API read (current APIs and, with `apiRevisions`, non-current revisions). */
  | "operations"
  /** Tenant access setting `gatewayAccess` (the self-hosted gateway configuration endpoint), read by name. */
  | "gatewayAccess"
  /** API and operation policies of non-current revisions (keys `echo;rev=2`, `echo;rev=2/get-x`). */
  | "revisionPolicies"
  /** Workspaces and, per workspace, its policy, APIs, API and operation policies, products, product APIs, product policies and subscriptions. */
  | "workspaces"
  /** Developer portal configurations (`service/portalconfigs`). */
  | "portalConfigs"
  /** Developer portal identity providers (`service/identityProviders`). */
  | "identityProviders"
  /** Loggers (`service/loggers`). */
  | "loggers"
  /** Service-scope diagnostics (`service/diagnostics`: applicationinsights, azuremonitor). */
  | "diagnostics"
  /** API-scope diagnostics (`service/apis/{api}/diagnostics`) of current APIs. */
  | "apiDiagnostics"
  /** Certificates uploaded to the service (`service/certificates`). */
  | "certificates"
  /** Azure Monitor diagnostic settings on the service (`providers/Microsoft.Insights/diagnosticSettings`). */
  | "diagnosticSettings"
  /** API Management's own report by operation over the look-back window (`service/reports/byOperation`): fills `requestsByOperation`. */
  | "operationReports"
  /** Self-hosted gateways (`service/gateways`; the managed gateway excluded; a tier that refuses the list has none). */
  | "gateways";

/** A lock as remembered by the lock inventory. */
export interface LockRecord {
  id: string;
  name: string;
  level: string;
  notes?: string;
  owners?: unknown;
}

/** What one workspace holds (need `workspaces`); keys as in ServiceSnapshot, lowercase. */
export interface WorkspaceContents {
  /** The workspace-scope policy (applies to every API of the workspace), if any. */
  policy?: ArmResource;
  apis: ArmResource[];
  apiPolicies: Record<string, ArmResource>;
  /** `api/operation` (lowercase) -> operation-scope policy. */
  operationPolicies: Record<string, ArmResource>;
  /** API resource name (lowercase) -> its operations (read with the workspace's operation policies). */
  operations?: Record<string, ArmResource[]>;
  products: ArmResource[];
  productApis: Record<string, string[]>;
  productPolicies: Record<string, ArmResource>;
  subscriptions: ArmResource[];
}

export interface ServiceSnapshot {
  service: ArmResource;
  /** False when an offline input holds children of a service but not the service itself. */
  serviceKnown: boolean;
  /** Every API, all revisions (ids `.../apis/echo;rev=2` for non-current ones). */
  apis: ArmResource[];
  namedValues: ArmResource[];
  /** Tenant access settings: `access` (from the tenant list, need `tenantAccess`) and `gitAccess` (read by name, need `gitAccess`). */
  tenantAccess: ArmResource[];
  /** Locks on the service and inherited from its resource group and subscription. */
  locks: ArmResource[];
  backends: ArmResource[];
  subscriptions: ArmResource[];
  products: ArmResource[];
  /** Product name (lowercase) -> names (lowercase) of the APIs it contains. */
  productApis: Record<string, string[]>;
  /** Service-scope (global) policy, if any. */
  globalPolicy?: ArmResource;
  /** API name (lowercase) -> API-scope policy; with `revisionPolicies`, also non-current revisions (`echo;rev=2`). */
  apiPolicies: Record<string, ArmResource>;
  /** Product name (lowercase) -> product-scope policy. */
  productPolicies: Record<string, ArmResource>;
  /** `api/operation` (lowercase) -> operation-scope policy; with `revisionPolicies`, also `api;rev=n/operation`. */
  operationPolicies: Record<string, ArmResource>;
  /** API resource name (lowercase: `echo`, `echo;rev=2`) -> its operations (need `operations`). */
  operations: Record<string, ArmResource[]>;
  /** Workspaces (need `workspaces`). */
  workspaces: ArmResource[];
  /** Workspace name (lowercase) -> what it holds (need `workspaces`). */
  workspaceContents: Record<string, WorkspaceContents>;
  portalConfigs: ArmResource[];
  identityProviders: ArmResource[];
  loggers: ArmResource[];
  /** Service-scope diagnostics. */
  diagnostics: ArmResource[];
  /** API name (lowercase) -> its API-scope diagnostics. */
  apiDiagnostics: Record<string, ArmResource[]>;
  certificates: ArmResource[];
  /** Azure Monitor diagnostic settings of the service. */
  diagnosticSettings: ArmResource[];
  /** Self-hosted gateways of the service (need `gateways`). */
  gateways: ArmResource[];
  /** Defender for APIs: plan state for the subscription and onboarded API names (lowercase). */
  defender?: { planEnabled: boolean | undefined; onboardedApis: string[] };
  /** Requests per API name (lowercase) over the look-back window, when metrics are available. */
  requestsByApi?: Record<string, number>;
  /**
   * Requests per `api/operation` (lowercase resource names) over the look-back window, when per-operation counts are
   * available (need `operationReports` live: the service's report by operation; absent when the tier or the role has no reports).
   */
  requestsByOperation?: Record<string, number>;
  /** Locks seen on the service in earlier evaluations (the lock inventory), when the engine supplies it. */
  lockInventory?: LockRecord[];
  /** Which needs were actually collected (offline files may lack some: rules then answer `unknown`). */
  collected: ReadonlySet<DataNeed>;
  /**
   * Needs whose collection failed for a reason that does not go away on retry (e.g. ARM's 400
   * `MethodNotAllowedInPricingTier` for tenant access on a Consumption service), with that reason.
   * The rules that need one answer `unknown` with the reason; every other rule runs as usual.
   */
  failed?: ReadonlyMap<DataNeed, string>;
}

export function emptySnapshot(service: ArmResource, collected: Iterable<DataNeed> = []): ServiceSnapshot {
  return {
    service,
    serviceKnown: true,
    apis: [],
    namedValues: [],
    tenantAccess: [],
    locks: [],
    backends: [],
    subscriptions: [],
    products: [],
    productApis: {},
    apiPolicies: {},
    productPolicies: {},
    operationPolicies: {},
    operations: {},
    workspaces: [],
    workspaceContents: {},
    portalConfigs: [],
    identityProviders: [],
    loggers: [],
    diagnostics: [],
    apiDiagnostics: {},
    certificates: [],
    diagnosticSettings: [],
    gateways: [],
    collected: new Set(["service", ...collected]),
  };
}

/**
 * A narrowed evaluation: an event named some APIs, so only they (every
 * revision, their policies and operations) are read and judged. Other
 * collections the rules need are read whole; findings outside the scope are
 * dropped, and stored verdicts and tickets outside it are left as they are.
 */
export interface EvaluationScope {
  /** API names (lowercase, without `;rev=`). */
  apis: string[];
  /**
   * The complement (a chunked evaluation's service part, src/engine/chunks.ts): everything of the service but these
   * APIs and what lies under them; the API list is read whole, no API is read one by one.
   */
  exclude?: boolean;
}

/** The scope of one API when `resourceId` is an API of the service or lies under one (a revision, an operation, a policy). */
export function apiScopeOf(serviceId: string, resourceId: string): EvaluationScope | undefined {
  const base = `${serviceId.toLowerCase()}/apis/`;
  const id = resourceId.toLowerCase();
  if (!id.startsWith(base)) return undefined;
  const name = (id.slice(base.length).split("/")[0] ?? "").split(";")[0] ?? "";
  return name === "" ? undefined : { apis: [name] };
}

/** True when `resourceId` is one of the scoped APIs or lies under one (revisions included). */
export function inScope(serviceId: string, scope: EvaluationScope | undefined, resourceId: string): boolean {
  if (!scope) return true;
  const own = apiScopeOf(serviceId, resourceId);
  if (scope.exclude) return own === undefined || !scope.apis.includes(own.apis[0] as string);
  return own !== undefined && scope.apis.includes(own.apis[0] as string);
}
