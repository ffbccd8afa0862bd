/**
 * The permission manifest: every Azure action the remediator needs, derived
 * from the rules (`meta.needs` read through the collector, `meta.fixActions`
 * of the rules that can fix) plus what discovery and long-running operations
 * call. The deployment's least-privilege custom role is generated from it
 * (`npm run gen:role` writes infra/role-actions.json) and the tests fail when
 * the two drift apart, when the code calls an action the role lacks, or when
 * the role grants one nothing needs.
 *
 * Three custom roles are generated from it (all in infra/role-actions.json):
 *  - the ARM role, assigned at the subscriptions / resource groups in scope:
 *    the reads in every mode, the writes of the rules that fix by default
 *    (`write`), and per opt-in rule (a `ticket` rule with a fix, enabled with
 *    REMEDIATOR_RULE_MODES=<rule>=enforce) the writes only it needs
 *    (`optIn`): the Bicep grants those only for the rules the deployment
 *    enables;
 *  - on the target vault, the secret data actions the migration calls
 *    (`keyVault.dataActions`: exactly getSecret, setSecret and recover of a
 *    soft-deleted secret; no list, delete or purge);
 *  - on the target vault, the role-assignment actions of the grant
 *    (`keyVault.grantActions`: read and write, never delete), constrained by a
 *    condition to assigning `Key Vault Secrets User` to service principals;
 *  - on the configured Log Analytics workspace (REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID),
 *    what linking a diagnostic setting to it needs (`logAnalytics.workspaceActions`;
 *    see LOG_ANALYTICS_DESTINATION): nothing the remediator calls on the
 *    workspace itself, so it is granted there only, never at the targets.
 */
import type { DataNeed } from "../model/snapshot.js";
import type { Rule } from "../model/rule.js";
import { expandNeeds } from "./collector.js";

/** ARM read actions per piece of data the collector reads (operation names as Azure publishes them). */
export const NEED_ACTIONS: Readonly<Record<DataNeed, readonly string[]>> = {
  service: ["Microsoft.ApiManagement/service/read"],
  apis: ["Microsoft.ApiManagement/service/apis/read"],
  // the revision list, then GET of each non-current revision (`apis/name;rev=N` is an API read)
  apiRevisions: ["Microsoft.ApiManagement/service/apis/revisions/read", "Microsoft.ApiManagement/service/apis/read"],
  namedValues: ["Microsoft.ApiManagement/service/namedValues/read"],
  tenantAccess: ["Microsoft.ApiManagement/service/tenant/read"],
  // GET tenant/gitAccess by name
  gitAccess: ["Microsoft.ApiManagement/service/tenant/read"],
  // listAtResourceLevel with atScope(): locks on the service and inherited from its resource group and subscription
  locks: ["Microsoft.Authorization/locks/read"],
  backends: ["Microsoft.ApiManagement/service/backends/read"],
  subscriptions: ["Microsoft.ApiManagement/service/subscriptions/read"],
  products: ["Microsoft.ApiManagement/service/products/read"],
  productApis: ["Microsoft.ApiManagement/service/products/apis/read"],
  policies: ["Microsoft.ApiManagement/service/policies/read"],
  apiPolicies: ["Microsoft.ApiManagement/service/apis/policies/read"],
  productPolicies: ["Microsoft.ApiManagement/service/products/policies/read"],
  operationPolicies: ["Microsoft.ApiManagement/service/apis/operations/read", "Microsoft.ApiManagement/service/apis/operations/policies/read"],
  // the subscription's Defender for APIs plan, then each API's onboarding (an apiCollections child of the service)
  defender: ["Microsoft.Security/pricings/read", "Microsoft.Security/apiCollections/read"],
  metrics: ["Microsoft.Insights/metrics/read"],
  operations: ["Microsoft.ApiManagement/service/apis/operations/read"],
  // GET tenant/gatewayAccess by name
  gatewayAccess: ["Microsoft.ApiManagement/service/tenant/read"],
  revisionPolicies: ["Microsoft.ApiManagement/service/apis/revisions/read", "Microsoft.ApiManagement/service/apis/policies/read", "Microsoft.ApiManagement/service/apis/operations/read", "Microsoft.ApiManagement/service/apis/operations/policies/read"],
  workspaces: [
    "Microsoft.ApiManagement/service/workspaces/read",
    "Microsoft.ApiManagement/service/workspaces/policies/read",
    "Microsoft.ApiManagement/service/workspaces/apis/read",
    "Microsoft.ApiManagement/service/workspaces/apis/policies/read",
    "Microsoft.ApiManagement/service/workspaces/apis/operations/read",
    "Microsoft.ApiManagement/service/workspaces/apis/operations/policies/read",
    "Microsoft.ApiManagement/service/workspaces/products/read",
    "Microsoft.ApiManagement/service/workspaces/products/apiLinks/read",
    "Microsoft.ApiManagement/service/workspaces/products/policies/read",
    "Microsoft.ApiManagement/service/workspaces/subscriptions/read",
  ],
  // published as `portalConfigs` (Learn, "Azure permissions for Integration": "Lists a collection of developer portal config entities")
  portalConfigs: ["Microsoft.ApiManagement/service/portalConfigs/read"],
  identityProviders: ["Microsoft.ApiManagement/service/identityProviders/read"],
  loggers: ["Microsoft.ApiManagement/service/loggers/read"],
  diagnostics: ["Microsoft.ApiManagement/service/diagnostics/read"],
  apiDiagnostics: ["Microsoft.ApiManagement/service/apis/diagnostics/read"],
  certificates: ["Microsoft.ApiManagement/service/certificates/read"],
  // ARM authorizes an extension resource by its own provider's action ("Read a resource diagnostic setting"); the
  // `Microsoft.ApiManagement/service/providers/Microsoft.Insights/diagnosticSettings/read` entry names the same read
  diagnosticSettings: ["Microsoft.Insights/diagnosticSettings/read"],
  // Reports_ListByOperation; published as one action for every report (Learn, "Azure permissions for Integration":
  // "Get report aggregated by time periods ... or Get report aggregated by operations ..."), not per report
  operationReports: ["Microsoft.ApiManagement/service/reports/read"],
  gateways: ["Microsoft.ApiManagement/service/gateways/read"],
};

/** What discovery (sweep, `services`, health) reads besides the rules. */
export const DISCOVERY_ACTIONS: readonly string[] = [
  // list subscriptions when REMEDIATOR_SUBSCRIPTIONS is empty; health reads each configured one
  "Microsoft.Resources/subscriptions/read",
  // list services per subscription / resource group
  "Microsoft.ApiManagement/service/read",
  // discovery through Azure Resource Graph (REMEDIATOR_DISCOVERY=resource-graph, the default): "Submits a query on
  // resources within specified subscriptions, management groups or tenant scope" (Learn, Azure permissions for
  // Management and governance: Microsoft.ResourceGraph); without it discovery falls back to ARM listing
  "Microsoft.ResourceGraph/resources/read",
  // a query over REMEDIATOR_MANAGEMENT_GROUPS reads the management groups it names ("List management groups for the
  // authenticated user", Microsoft.Management); granted where the role is assigned at a management group
  "Microsoft.Management/managementGroups/read",
];

/**
 * Actions a fix calls besides the ones its rule names: polling long-running
 * operations (service PATCH polls `service/{name}/operationresults`, named
 * value PUT/PATCH/refreshSecret poll `service/{name}/tenant/operationResults`),
 * the read-before-write of idempotent grants and locks.
 */
export const IMPLIED_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  "Microsoft.ApiManagement/service/write": ["Microsoft.ApiManagement/service/operationresults/read"],
  "Microsoft.ApiManagement/service/namedValues/write": ["Microsoft.ApiManagement/service/tenant/operationResults/read", "Microsoft.ApiManagement/service/operationresults/read"],
  "Microsoft.ApiManagement/service/namedValues/refreshSecret/action": ["Microsoft.ApiManagement/service/tenant/operationResults/read", "Microsoft.ApiManagement/service/operationresults/read"],
  "Microsoft.Authorization/locks/write": ["Microsoft.Authorization/locks/read"],
  "Microsoft.Authorization/roleAssignments/write": ["Microsoft.Authorization/roleAssignments/read"],
};

/** Where an action is granted from in the deployment. */
export type Grant = "custom-role" | "key-vault-data" | "key-vault-rbac" | "log-analytics-workspace";

/**
 * What the principal writing a diagnostic setting needs on the Log Analytics workspace it names: ARM checks the
 * linked workspace when `Microsoft.Insights/diagnosticSettings/write` carries a `workspaceId` (its refusal reads
 * "does not have permission to perform action 'Microsoft.OperationalInsights/workspaces/sharedKeys/action' on the
 * linked scope(s)"). Microsoft Learn, "Manage access to Log Analytics workspaces": `workspaces/read` "View workspace
 * basic properties", `workspaces/sharedKeys/action` "Read the workspace keys to allow sending logs to this
 * workspace". The `resource-logs-enabled` fix names them in its fixActions; the deployment grants them with a
 * custom role on that workspace alone (infra/modules/log-analytics-access.bicep), not at the subscriptions in scope.
 */
export const LOG_ANALYTICS_DESTINATION = {
  readWorkspace: "Microsoft.OperationalInsights/workspaces/read",
  sharedKeys: "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
} as const;

/** The built-in role the remediator assigns to APIM identities (ids are the same in every tenant). */
export const BUILT_IN_ROLES = {
  keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
} as const;

/** Roles the deployment never assigns (tests look for their ids in infra/). */
export const FORBIDDEN_ROLES = {
  owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
  contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
  userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
  // replaced by the generated Key Vault roles: Officer also lists, deletes, purges, backs up and recovers
  // every secret; RBAC Administrator also deletes role assignments
  keyVaultSecretsOfficer: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
  roleBasedAccessControlAdministrator: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
} as const;

/**
 * Key Vault data actions the migration calls besides reading and writing a secret, granted through the rule's
 * `fixActions` (and so the generated Key Vault role, `npm run gen:role`): recovering a soft-deleted secret of its
 * own name before writing it again (`SecretClient.beginRecoverDeletedSecret`, POST /deletedsecrets/{name}/recover;
 * writing a deleted-but-recoverable name answers 409 ObjectIsDeletedButRecoverable). Never purge, delete or list.
 */
export const KEY_VAULT_RECOVER = {
  recoverDeletedSecret: "Microsoft.KeyVault/vaults/secrets/recover/action",
} as const;

export function grantFor(action: string): Grant {
  if (/^Microsoft\.KeyVault\/vaults\/secrets\//i.test(action)) return "key-vault-data";
  if (/^Microsoft\.Authorization\/roleAssignments\//i.test(action)) return "key-vault-rbac";
  if (/^Microsoft\.OperationalInsights\/workspaces\//i.test(action)) return "log-analytics-workspace";
  return "custom-role";
}

/** `read` actions are needed in every mode; everything else only when a rule enforces. */
export function isRead(action: string): boolean {
  return /\/read$/i.test(action);
}

export interface RulePermissions {
  id: string;
  defaultAction: "auto" | "ticket";
  /** True when the rule has a remediation (it can write in enforce mode). */
  remediable: boolean;
  /** Read actions its detection needs (through the collector). */
  reads: string[];
  /** Actions its fix calls, with where each is granted; empty for rules that only report. */
  fix: Array<{ action: string; grant: Grant }>;
  /** What a person fixing a report-only rule by hand needs; never granted to the remediator. */
  manualFixActions: string[];
}

export interface PermissionManifest {
  rules: RulePermissions[];
  discovery: string[];
  /**
   * The custom role (assigned at the subscriptions / resource groups in scope): reads in every mode, the
   * writes of the rules that fix by default for enforce, and per opt-in rule the writes only it needs
   * (granted when the deployment enables that rule; an empty list: the default writes cover it).
   */
  customRole: { read: string[]; write: string[]; optIn: Record<string, string[]> };
  keyVault: {
    /** Data actions on the target vault (the generated Key Vault secrets role): what the migration's SDK calls need. */
    dataActions: string[];
    /** Role-assignment actions for granting each APIM identity `Key Vault Secrets User` on its secrets (the generated grant role). */
    grantActions: string[];
    /** The only role the remediator may assign (the condition on its grants role assignment on the vault). */
    assignableRoleDefinitionId: string;
  };
  logAnalytics: {
    /** Actions on the Log Analytics workspace resource-logs-enabled sends logs to (LOG_ANALYTICS_DESTINATION; the generated workspace role). */
    workspaceActions: string[];
  };
}

const uniqSorted = (xs: Iterable<string>) => [...new Set(xs)].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));

/** Reads a rule needs: its data needs as the collector expands them. */
export function readsFor(rule: Rule): string[] {
  return uniqSorted([...expandNeeds(rule.meta.needs)].flatMap((n) => NEED_ACTIONS[n]));
}

/** Actions a remediable rule's fix calls: its fixActions plus what they imply (polling, read-before-write). */
export function fixActionsFor(rule: Rule): string[] {
  if (!rule.remediation) return [];
  const out = new Set<string>();
  const add = (a: string) => {
    if (out.has(a)) return;
    out.add(a);
    for (const implied of IMPLIED_ACTIONS[a] ?? []) add(implied);
  };
  rule.meta.fixActions.forEach(add);
  return uniqSorted(out);
}

/** The manifest for a set of rules (default: all of them, as the deployment enables them all). */
export function permissionManifest(rules: readonly Rule[]): PermissionManifest {
  const perRule: RulePermissions[] = rules.map((r) => {
    const fix = fixActionsFor(r);
    return {
      id: r.meta.id,
      defaultAction: r.meta.defaultAction,
      remediable: r.remediation !== undefined,
      reads: readsFor(r),
      fix: fix.map((action) => ({ action, grant: grantFor(action) })),
      manualFixActions: r.remediation ? [] : uniqSorted(r.meta.fixActions),
    };
  });
  const role = new Set<string>([...DISCOVERY_ACTIONS, ...perRule.flatMap((r) => r.reads)]);
  for (const r of perRule) for (const f of r.fix) if (f.grant === "custom-role") role.add(f.action);
  const all = uniqSorted(role);
  const fixes = perRule.flatMap((r) => r.fix);
  const writesOf = (r: RulePermissions) => r.fix.filter((f) => f.grant === "custom-role" && !isRead(f.action)).map((f) => f.action);
  // writes every enforce deployment needs: the fixes of the rules that fix by default
  const write = uniqSorted(perRule.filter((r) => r.remediable && r.defaultAction === "auto").flatMap(writesOf));
  // an opt-in rule's writes beyond those: granted only when the deployment enables the rule
  const optIn = Object.fromEntries(perRule.filter((r) => r.remediable && r.defaultAction !== "auto").map((r) => [r.id, uniqSorted(writesOf(r).filter((a) => !write.includes(a)))]));
  return {
    rules: perRule,
    discovery: [...DISCOVERY_ACTIONS],
    customRole: { read: all.filter(isRead), write, optIn },
    keyVault: {
      dataActions: uniqSorted(fixes.filter((f) => f.grant === "key-vault-data").map((f) => f.action)),
      grantActions: uniqSorted(fixes.filter((f) => f.grant === "key-vault-rbac").map((f) => f.action)),
      assignableRoleDefinitionId: BUILT_IN_ROLES.keyVaultSecretsUser,
    },
    logAnalytics: { workspaceActions: uniqSorted(fixes.filter((f) => f.grant === "log-analytics-workspace").map((f) => f.action)) },
  };
}

/** The content of infra/role-actions.json (what `npm run gen:role` writes and the Bicep role loads). */
export function renderRoleActionsJson(manifest: PermissionManifest): string {
  const doc = {
    $comment: "Generated by `npm run gen:role` from src/azure/permissions.ts (apim-remediator permissions --format role-json). Do not edit: the tests fail when it is out of date.",
    read: manifest.customRole.read,
    write: manifest.customRole.write,
    optIn: manifest.customRole.optIn,
    keyVault: { dataActions: manifest.keyVault.dataActions, grantActions: manifest.keyVault.grantActions },
    logAnalytics: { workspaceActions: manifest.logAnalytics.workspaceActions },
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

/** A Bicep snippet with the custom role's actions, for templates of one's own. */
export function renderRoleActionsBicep(manifest: PermissionManifest): string {
  const list = (xs: string[]) => xs.map((a) => `  '${a}'`).join("\n");
  const arrayVar = (name: string, xs: string[]) => [`var ${name} = [`, list(xs), "]"];
  return [
    "// Generated by `apim-remediator permissions --format bicep`: the actions of the apim-remediator custom role.",
    "// Reads are needed in every mode; writes only when a rule enforces (dry-run deployments may leave them out);",
    "// an opt-in rule's writes only when REMEDIATOR_RULE_MODES enables it (<rule>=enforce).",
    "// Key Vault: a custom role with remediatorKeyVaultDataActions on the target vault, and one with remediatorKeyVaultGrantActions",
    `// on it with a condition allowing only role ${manifest.keyVault.assignableRoleDefinitionId} (Key Vault Secrets User); see infra/modules/key-vault-access.bicep.`,
    "// Log Analytics: a custom role with remediatorLogAnalyticsWorkspaceActions on the workspace resource-logs-enabled sends logs to; see infra/modules/log-analytics-access.bicep.",
    ...arrayVar("remediatorReadActions", manifest.customRole.read),
    ...arrayVar("remediatorWriteActions", manifest.customRole.write),
    "var remediatorOptInWriteActions = {",
    ...Object.entries(manifest.customRole.optIn).flatMap(([id, xs]) => (xs.length === 0 ? [`  '${id}': []`] : [`  '${id}': [`, ...xs.map((a) => `    '${a}'`), "  ]"])),
    "}",
    ...arrayVar("remediatorKeyVaultDataActions", manifest.keyVault.dataActions),
    ...arrayVar("remediatorKeyVaultGrantActions", manifest.keyVault.grantActions),
    ...arrayVar("remediatorLogAnalyticsWorkspaceActions", manifest.logAnalytics.workspaceActions),
    "",
  ].join("\n");
}

/** `apim-remediator permissions --format json`: the whole manifest. */
export function renderManifestJson(manifest: PermissionManifest): string {
  return JSON.stringify(manifest, null, 2) + "\n";
}
