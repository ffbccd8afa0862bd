/**
 * The vocabulary of rules, shared by every part: what a rule is (meta, detect,
 * remediation), what it finds, and what a fix plans and records. The rule
 * files implement these (src/remediations), the engine runs them, tickets and
 * reports describe them. Types only, plus the catalog's rule ids.
 */
import type { DataNeed, ServiceSnapshot } from "./snapshot.js";

/**
 * Every rule id in the catalog, in report order. Configuration validates
 * `REMEDIATOR_RULE_MODES` against this list without importing the rules
 * themselves; src/remediations/index.ts checks at load that the catalog has
 * exactly these ids, so the two cannot drift apart.
 */
export const RULE_IDS = [
  "api-https-only",
  "direct-management-endpoint-disabled",
  "git-configuration-endpoint-disabled",
  "named-value-secrets-in-key-vault",
  "resource-lock",
  "min-api-version",
  "managed-identity",
  "gateway-tls-protocols",
  "gateway-weak-ciphers",
  "backend-certificate-validation",
  "backend-authenticated",
  "backend-https",
  "subscription-scope-not-all-apis",
  "api-authentication",
  "rate-limit-policy",
  "request-validation-policy",
  "policy-base-inheritance",
  "network-isolation",
  "platform-stv2",
  "defender-for-apis",
  "unused-api",
  "cors-no-wildcard",
  "product-subscription-required",
  "product-approval-required",
  "sample-products-removed",
  "gateway-configuration-endpoint-disabled",
  "developer-portal-basic-auth-disabled",
  "resource-logs-enabled",
  "application-insights-logger",
  "public-network-access-disabled",
  "client-certificates-enabled",
  "custom-domain-certificate-expiry",
  "sku-supports-vnet",
  "zone-redundancy",
  "waf-in-front",
  "ip-filter",
] as const;

export type RuleId = (typeof RULE_IDS)[number];

export type Severity = "critical" | "high" | "medium" | "low";
export type Action = "auto" | "ticket";
export type Status = "fail" | "pass" | "unknown";

export interface RuleMeta {
  id: string;
  title: string;
  severity: Severity;
  description: string;
  /** Why it matters, for tickets and docs. */
  rationale: string;
  defaultAction: Action;
  references: {
    /** Azure Policy built-in definition GUID. */
    azurePolicy?: string;
    /** Defender for Cloud recommendation name. */
    defender?: string;
    /** PSRule for Azure rule name. */
    psrule?: string;
    /** Microsoft cloud security benchmark / APIM security baseline control. */
    baseline?: string;
    /** Documentation links. */
    links?: string[];
  };
  /** The ARM data detect() reads. */
  needs: DataNeed[];
  /** The ARM actions a fix needs (for the least-privilege role). */
  fixActions: string[];
  /** What a finding's resource is: the service itself, or its children of one kind. */
  target: "service" | "apis" | "namedValues" | "backends" | "subscriptions" | "policies" | "products";
  /** Service SKUs the rule does not apply to. */
  notApplicableSkus?: string[];
}

export interface Finding {
  ruleId: string;
  resourceId: string;
  status: Status;
  severity: Severity;
  message: string;
  action: Action;
}

export interface RuleOptions {
  /** Minimum API version for `min-api-version`. */
  minApiVersion: string;
  /** Cipher customProperties suffixes that must be disabled for `gateway-weak-ciphers`. */
  weakCiphers: string[];
  /** Look-back window of `unused-api`. */
  unusedDays: number;
  /** `resource-lock`: the remediator's own lock (REMEDIATOR_LOCK_NAME; default `apim-remediator-baseline`): re-created whatever its level. */
  lockName?: string;
  /**
   * `resource-lock`: re-create every deleted lock exactly as it was (REMEDIATOR_RECREATE_FOREIGN_LOCKS). Off (the
   * default): a deleted lock is re-created when it is the remediator's own or CanNotDelete; a ReadOnly (or
   * NotSpecified) lock someone else placed and then deleted is reported, not re-created.
   */
  recreateForeignLocks?: boolean;
  /** `custom-domain-certificate-expiry`: a certificate must expire more than this many days from now (REMEDIATOR_CERTIFICATE_EXPIRY_DAYS; PSRule's default 30). */
  certificateExpiryDays: number;
  /** The time rules judge dates against (the engine passes the evaluation's start); absent = the current time. Tests pass a fixed date. */
  now?: Date;
}

export interface Rule {
  meta: RuleMeta;
  detect(snapshot: ServiceSnapshot, options: RuleOptions): Finding[];
  /** Present for rules that can be fixed automatically. */
  remediation?: Remediation;
}

/** What a rule's detect returns before the engine stamps rule id, severity and action. */
export interface Verdict {
  resourceId: string;
  status: Status;
  message: string;
}

// ---- remediation ----------------------------------------------------------------

/** One owned field's change; secret values never appear here (they are described, not copied). */
export interface Change {
  path: string;
  before: unknown;
  after: unknown;
}

/** The exact change a remediation will make, as data: what dry-run tickets, `plan` and audit records show. */
export interface Plan {
  ruleId: string;
  /** The resource the finding is about. */
  resourceId: string;
  /** The resource written (may differ, e.g. a lock under the service). */
  targetId: string;
  /** ARM operation, e.g. `PATCH Microsoft.ApiManagement/service/apis`. */
  operation: string;
  summary: string;
  changes: Change[];
  /** Ordered steps for multi-step fixes (e.g. a Key Vault migration). */
  steps?: string[];
  /** Rule-private inputs for apply (never secret values). */
  payload: Record<string, unknown>;
}

export type PlanResult = { kind: "plan"; plan: Plan } | { kind: "blocked"; reason: string };

/** Settings every remediation may read (all from configuration). */
export interface RemediationSettings {
  minApiVersion: string;
  weakCiphers: string[];
  keyVaultUrl?: string;
  keyVaultResourceId?: string;
  /** Grant the service identity `Key Vault Secrets User` on the migrated secret. */
  grantKeyVaultAccess: boolean;
  lockName: string;
  lockLevel: "CanNotDelete" | "ReadOnly";
  lockNotes: string;
  /** Re-create deleted ReadOnly locks the remediator did not create (see RuleOptions.recreateForeignLocks); absent = off. */
  recreateForeignLocks?: boolean;
  /** Whether `managed-identity` is enabled for auto-fix (the Key Vault migration may then enable it first). */
  managedIdentityAuto: boolean;
  /** `resource-logs-enabled`: the Log Analytics workspace (ARM id) resource logs are sent to; absent = the fix is blocked. */
  logAnalyticsWorkspaceId?: string;
}

export interface PlanContext {
  settings: RemediationSettings;
  /** Locks seen on the service before (inventory), for re-creating deleted ones. */
  lockInventory?: Array<{ id: string; name: string; level: string; notes?: string; owners?: unknown }>;
}

export interface Remediation {
  plan(finding: Finding, snapshot: ServiceSnapshot, ctx: PlanContext): PlanResult;
  /** Performs the plan; every write goes through `ctx.write` (counted, If-Match where ARM has it). */
  apply(plan: Plan, ctx: ApplyContext): Promise<void>;
  /** Restores the state before `apply` where that is safe; resolves false when there was nothing to restore. */
  rollback?(plan: Plan, ctx: ApplyContext): Promise<boolean>;
  /**
   * Picks up a long-running operation `apply` handed off (ApplyContext.longRunning): restores its
   * poller from `state` (the poller's `toString()`) and polls it once, without waiting.
   */
  resume?(plan: Plan, state: string, ctx: Pick<ApplyContext, "clients" | "pollIntervalMs">): Promise<OperationPoller>;
}

/** How a service fix's `skipped` reason starts while another update of the service runs (ARM answers 409 to other service writes meanwhile). */
export const WAITING_FOR_UPDATE = "waiting for the service update in progress";

/** The part of an Azure SDK poller (@azure/core-lro `SimplePollerLike`) the engine uses. */
export interface OperationPoller {
  isDone(): boolean;
  poll(): Promise<void>;
  pollUntilDone(): Promise<unknown>;
  getOperationState(): { status: string; error?: Error };
  /** The serialized state, restorable with the SDK's `resumeFrom`. */
  toString(): string;
}

/** What apply gets: ARM clients, settings and the guarded write hook. Defined structurally so the engine can pass its own. */
export interface ApplyContext {
  clients: import("./clients.js").RemediationClients;
  settings: RemediationSettings;
  /** Call before every write: counts it against the blast-radius limits and records it. Throws when over the limit. */
  write(description: string): void;
  /** Registers a secret value so no log line, audit record or error can carry it. */
  secret(value: string): void;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  sleep(ms: number): Promise<void>;
  /** Polling bounds for waits (e.g. Key Vault reference resolution). */
  pollIntervalMs: number;
  pollAttempts: number;
  /**
   * A long-running ARM operation the fix started (the SDK's `begin*` poller, after its first poll):
   * resolves once it succeeded (the engine waits in-process, e.g. the CLI) or throws the engine's
   * hand-off signal, so the fix ends while ARM works and a later evaluation resumes it (the app).
   * Absent: the fix waits for the poller itself.
   */
  longRunning?(poller: OperationPoller, what: string): Promise<void>;
}
