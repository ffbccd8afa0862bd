/**
 * The permission manifest (src/azure/permissions.ts) against the rules, the code and the role:
 *  - infra/role-actions.json is what `npm run gen:role` generates (fails when stale);
 *  - the role holds every action the rules' needs and fixes call, and nothing else;
 *  - every Azure SDK call in the collector, discovery and remediations maps to a granted action;
 *  - linking a diagnostic setting to the configured Log Analytics workspace is granted on that workspace only
 *    (the generated destination role), never at the targets;
 *  - a real run (enforce, every fixable rule on, on the emulator) makes only ARM calls the role grants
 *    (or, for the Key Vault grant, the generated grants role on the vault), only Key Vault calls the
 *    generated secrets role grants, and a dry-run only reads; a run with only the default (auto) rules
 *    needs none of the opt-in rules' writes;
 *  - every action the roles grant is exercised by that run or listed here with the reason it is not.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run, type CliIO } from "../../src/cli/main.js";
import { expandNeeds } from "../../src/azure/collector.js";
import { discoverServices } from "../../src/azure/discovery.js";
import {
  DISCOVERY_ACTIONS,
  grantFor,
  IMPLIED_ACTIONS,
  isRead,
  KEY_VAULT_RECOVER,
  LOG_ANALYTICS_DESTINATION,
  NEED_ACTIONS,
  permissionManifest,
  renderRoleActionsBicep,
  renderRoleActionsJson,
} from "../../src/azure/permissions.js";
import { RULES } from "../../src/remediations/index.js";
import type { DataNeed } from "../../src/model/snapshot.js";
import { startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { engineFor } from "../helpers/engine.js";

const ROOT = process.cwd();
interface RoleActions {
  read: string[];
  write: string[];
  optIn: Record<string, string[]>;
  keyVault: { dataActions: string[]; grantActions: string[] };
  logAnalytics: { workspaceActions: string[] };
}
const ROLE = JSON.parse(readFileSync(join(ROOT, "infra/role-actions.json"), "utf8")) as RoleActions;
/** Everything the ARM role can hold: reads, the default writes and every opt-in rule's writes (each only when enabled). */
const ROLE_ACTIONS = [...ROLE.read, ...ROLE.write, ...Object.values(ROLE.optIn).flat()];
const has = (list: string[], action: string) => list.some((a) => a.toLowerCase() === action.toLowerCase());

/** Whether the deployment grants an action, and through which role (the four generated roles). */
function granted(action: string): boolean {
  switch (grantFor(action)) {
    case "custom-role":
      return has(ROLE_ACTIONS, action);
    case "key-vault-data":
      return has(ROLE.keyVault.dataActions, action);
    case "key-vault-rbac":
      return has(ROLE.keyVault.grantActions, action);
    case "log-analytics-workspace":
      return has(ROLE.logAnalytics.workspaceActions, action);
  }
}

/** The ARM operation a request is authorized as: provider namespace + resource types + read/write/delete/action. */
export function actionOf(method: string, rawPath: string): string {
  const path = decodeURIComponent(rawPath.split("?")[0] as string).replace(/\/+/g, "/").replace(/\/$/, "");
  const segs = path.split("/").filter((s) => s.length > 0);
  const lower = segs.map((s) => s.toLowerCase());
  const verb = method === "GET" || method === "HEAD" ? "read" : method === "DELETE" ? "delete" : method === "POST" ? "action" : "write";
  // a Resource Graph query is a POST authorized as a read (Learn, Azure permissions for Management and governance:
  // Microsoft.ResourceGraph/resources/read "Submits a query on resources within specified subscriptions, management groups or tenant scope")
  if (method === "POST" && lower.join("/") === "providers/microsoft.resourcegraph/resources") return "Microsoft.ResourceGraph/resources/read";
  const p = lower.lastIndexOf("providers");
  let types: string[];
  let ns: string;
  if (p < 0) {
    ns = "Microsoft.Resources";
    types = lower.length > 2 && lower[2] === "resourcegroups" ? ["subscriptions", "resourceGroups"] : ["subscriptions"];
  } else {
    ns = segs[p + 1] as string;
    const rest = segs.slice(p + 2);
    // type, name, type, name, ...; a POST ends with the action's name
    const action = verb === "action" ? rest.pop() : undefined;
    types = rest.filter((_, i) => i % 2 === 0);
    if (action) types.push(action);
  }
  return `${ns}/${types.join("/")}/${verb}`;
}

describe("permission manifest", () => {
  it("infra/role-actions.json is up to date (run `npm run gen:role`)", () => {
    expect(readFileSync(join(ROOT, "infra/role-actions.json"), "utf8")).toBe(renderRoleActionsJson(permissionManifest(RULES)));
  });

  it("the role is exactly: discovery + every rule's reads + the fixes of the rules that can fix (their custom-role actions, with what they imply)", () => {
    const expected = new Set<string>(DISCOVERY_ACTIONS);
    for (const r of RULES) {
      for (const n of expandNeeds(r.meta.needs)) for (const a of NEED_ACTIONS[n]) expected.add(a);
      if (!r.remediation) continue;
      const add = (a: string) => {
        if (grantFor(a) === "custom-role") expected.add(a);
        for (const i of IMPLIED_ACTIONS[a] ?? []) add(i);
      };
      r.meta.fixActions.forEach(add);
    }
    expect([...ROLE_ACTIONS].sort()).toEqual([...expected].sort());
    expect(ROLE.read.every(isRead)).toBe(true);
    expect(ROLE.write.some(isRead)).toBe(false);
  });

  it("grants what every rule needs: reads for detection, fixes for the rules that fix (custom role, Key Vault Secrets Officer, or the constrained RBAC Administrator)", () => {
    const m = permissionManifest(RULES);
    for (const r of m.rules) {
      for (const a of r.reads) expect(has(ROLE.read, a), `${r.id} reads ${a}`).toBe(true);
      for (const f of r.fix) expect(granted(f.action), `${r.id} fixes with ${f.action} (${f.grant})`).toBe(true);
    }
    for (const rule of RULES.filter((r) => r.remediation)) for (const a of rule.meta.fixActions) expect(granted(a), `${rule.meta.id}: ${a}`).toBe(true);
    expect(m.keyVault.grantActions).toEqual(["Microsoft.Authorization/roleAssignments/read", "Microsoft.Authorization/roleAssignments/write"]);
    expect(m.keyVault.dataActions.every((a) => a.startsWith("Microsoft.KeyVault/vaults/secrets/"))).toBe(true);
  });

  it("an opt-in rule's writes are granted apart: only those no default (auto) fix needs, per rule", () => {
    const m = permissionManifest(RULES);
    const optInRules = RULES.filter((r) => r.remediation && r.meta.defaultAction === "ticket").map((r) => r.meta.id);
    expect(Object.keys(ROLE.optIn).sort()).toEqual(optInRules.sort());
    const autoWrites = new Set(m.rules.filter((r) => r.remediable && r.defaultAction === "auto").flatMap((r) => r.fix.filter((f) => f.grant === "custom-role" && !isRead(f.action)).map((f) => f.action)));
    expect([...ROLE.write].sort()).toEqual([...autoWrites].sort());
    for (const id of optInRules) {
      const own = (m.rules.find((r) => r.id === id)?.fix ?? []).filter((f) => f.grant === "custom-role" && !isRead(f.action)).map((f) => f.action);
      expect(ROLE.optIn[id], id).toEqual(own.filter((a) => !autoWrites.has(a)));
    }
    expect(ROLE.optIn["backend-certificate-validation"]).toEqual(["Microsoft.ApiManagement/service/backends/write"]);
  });

  it("never grants lock deletion, role assignments, Key Vault, wildcards or the writes only report rules would need", () => {
    for (const a of ROLE_ACTIONS) {
      expect(a).toMatch(/^Microsoft\.[A-Za-z]+(\/[A-Za-z]+)+\/(read|write|delete|action)$/);
      expect(a).not.toMatch(/\*/);
      expect(a).not.toMatch(/\/delete$/);
      expect(a).not.toMatch(/^Microsoft\.(Authorization\/roleAssignments|KeyVault|OperationalInsights)\//i);
    }
    expect(has(ROLE_ACTIONS, "Microsoft.Authorization/locks/delete")).toBe(false);
    const m = permissionManifest(RULES);
    const reportOnly = m.rules.filter((r) => !r.remediable);
    expect(reportOnly.length).toBeGreaterThan(0);
    for (const r of reportOnly) {
      expect(r.fix).toEqual([]);
      for (const a of r.manualFixActions.filter((x) => !isRead(x))) {
        // a write only a person fixing a report-only rule needs is not granted (unless a fixable rule needs it too)
        const neededByFix = m.rules.some((x) => x.fix.some((f) => f.action === a));
        expect(has(ROLE_ACTIONS, a), `${r.id}: ${a}`).toBe(neededByFix);
      }
    }
  });

  it("covers the operations the issue names (checked against Azure's published operation names)", () => {
    for (const a of [
      "Microsoft.ApiManagement/service/read",
      "Microsoft.ApiManagement/service/apis/read",
      "Microsoft.ApiManagement/service/apis/revisions/read",
      "Microsoft.ApiManagement/service/namedValues/read",
      "Microsoft.ApiManagement/service/tenant/read",
      "Microsoft.ApiManagement/service/backends/read",
      "Microsoft.ApiManagement/service/subscriptions/read",
      "Microsoft.ApiManagement/service/products/read",
      "Microsoft.ApiManagement/service/products/apis/read",
      "Microsoft.ApiManagement/service/policies/read",
      "Microsoft.ApiManagement/service/apis/policies/read",
      "Microsoft.ApiManagement/service/products/policies/read",
      "Microsoft.ApiManagement/service/apis/operations/read",
      "Microsoft.ApiManagement/service/apis/operations/policies/read",
      "Microsoft.Authorization/locks/read",
      "Microsoft.Security/pricings/read",
      "Microsoft.Security/apiCollections/read",
      "Microsoft.Insights/metrics/read",
      "Microsoft.Resources/subscriptions/read",
      "Microsoft.ApiManagement/service/namedValues/listValue/action",
      "Microsoft.ApiManagement/service/namedValues/refreshSecret/action",
      "Microsoft.ApiManagement/service/write",
      "Microsoft.Authorization/locks/write",
      // issue 17's data and fixes (Learn, "Azure permissions for Integration", Microsoft.ApiManagement; "Monitor", Microsoft.Insights)
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
      "Microsoft.ApiManagement/service/portalConfigs/read",
      "Microsoft.ApiManagement/service/portalConfigs/write",
      "Microsoft.ApiManagement/service/identityProviders/read",
      "Microsoft.ApiManagement/service/gateways/read",
      "Microsoft.ApiManagement/service/loggers/read",
      "Microsoft.ApiManagement/service/diagnostics/read",
      "Microsoft.ApiManagement/service/apis/diagnostics/read",
      "Microsoft.ApiManagement/service/certificates/read",
      "Microsoft.ApiManagement/service/tenant/write",
      "Microsoft.Insights/diagnosticSettings/read",
      "Microsoft.Insights/diagnosticSettings/write",
    ])
      expect(has(ROLE_ACTIONS, a), a).toBe(true);
    // exactly as published: an action in another casing would be a second, different-looking entry of the role
    for (const a of ["Microsoft.ApiManagement/service/portalConfigs/read", "Microsoft.ApiManagement/service/portalConfigs/write"]) expect(ROLE_ACTIONS, a).toContain(a);
    expect(ROLE_ACTIONS.filter((a) => /portalconfigs/.test(a))).toEqual([]);
    // every kind of data the collector can read has its actions
    const needs = Object.keys(NEED_ACTIONS) as DataNeed[];
    const snapshot = readFileSync(join(ROOT, "src/model/snapshot.ts"), "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
    // the union's members, comments left out (a doc comment may hold a `;`, as in `echo;rev=2`)
    const declared = [...(/export type DataNeed =([^;]+);/.exec(snapshot)?.[1] ?? "").matchAll(/"(\w+)"/g)].map((x) => x[1]);
    expect(needs.sort()).toEqual(declared.sort());
  });

  it("linking diagnostic settings to the Log Analytics workspace is granted on that workspace alone: read and sharedKeys, from resource-logs-enabled's fix", () => {
    const m = permissionManifest(RULES);
    expect(ROLE.logAnalytics.workspaceActions).toEqual([LOG_ANALYTICS_DESTINATION.readWorkspace, LOG_ANALYTICS_DESTINATION.sharedKeys]);
    expect(m.logAnalytics.workspaceActions).toEqual(ROLE.logAnalytics.workspaceActions);
    // only the rule that writes a diagnostic setting with a workspaceId needs it, and it writes the setting through the ARM role
    const needing = m.rules.filter((r) => r.fix.some((f) => f.grant === "log-analytics-workspace")).map((r) => r.id);
    expect(needing).toEqual(["resource-logs-enabled"]);
    expect(ROLE.write).toContain("Microsoft.Insights/diagnosticSettings/write");
    // nothing on the workspace lands in the ARM role (granted at the subscriptions in scope): not even its read
    for (const a of ROLE.logAnalytics.workspaceActions) expect(has(ROLE_ACTIONS, a), a).toBe(false);
    // narrowing to the rules without that fix leaves the workspace role empty
    expect(permissionManifest(RULES.filter((r) => r.meta.id !== "resource-logs-enabled")).logAnalytics.workspaceActions).toEqual([]);
  });
});

/** Every Azure SDK operation the product calls, with the action it is authorized as. */
const SDK_CALLS: Record<string, string> = {
  "apiManagementService.get": "Microsoft.ApiManagement/service/read",
  "apiManagementService.list": "Microsoft.ApiManagement/service/read",
  "apiManagementService.listByResourceGroup": "Microsoft.ApiManagement/service/read",
  "apiManagementService.beginUpdateAndWait": "Microsoft.ApiManagement/service/write",
  "apiManagementService.beginUpdate": "Microsoft.ApiManagement/service/write",
  "api.get": "Microsoft.ApiManagement/service/apis/read",
  "api.listByService": "Microsoft.ApiManagement/service/apis/read",
  "api.update": "Microsoft.ApiManagement/service/apis/write",
  "apiRevision.listByService": "Microsoft.ApiManagement/service/apis/revisions/read",
  "apiPolicy.listByApi": "Microsoft.ApiManagement/service/apis/policies/read",
  "apiOperation.listByApi": "Microsoft.ApiManagement/service/apis/operations/read",
  "apiOperationPolicy.listByOperation": "Microsoft.ApiManagement/service/apis/operations/policies/read",
  "namedValue.get": "Microsoft.ApiManagement/service/namedValues/read",
  "namedValue.listByService": "Microsoft.ApiManagement/service/namedValues/read",
  "namedValue.listValue": "Microsoft.ApiManagement/service/namedValues/listValue/action",
  "namedValue.beginUpdateAndWait": "Microsoft.ApiManagement/service/namedValues/write",
  "namedValue.beginCreateOrUpdateAndWait": "Microsoft.ApiManagement/service/namedValues/write",
  "namedValue.beginRefreshSecretAndWait": "Microsoft.ApiManagement/service/namedValues/refreshSecret/action",
  "tenantAccess.get": "Microsoft.ApiManagement/service/tenant/read",
  "tenantAccess.listByService": "Microsoft.ApiManagement/service/tenant/read",
  "tenantAccess.update": "Microsoft.ApiManagement/service/tenant/write",
  "backend.get": "Microsoft.ApiManagement/service/backends/read",
  "backend.listByService": "Microsoft.ApiManagement/service/backends/read",
  "backend.update": "Microsoft.ApiManagement/service/backends/write",
  "subscription.list": "Microsoft.ApiManagement/service/subscriptions/read",
  "product.listByService": "Microsoft.ApiManagement/service/products/read",
  "productApi.listByProduct": "Microsoft.ApiManagement/service/products/apis/read",
  "productPolicy.listByProduct": "Microsoft.ApiManagement/service/products/policies/read",
  "policy.listByService": "Microsoft.ApiManagement/service/policies/read",
  "managementLocks.listAtResourceLevel": "Microsoft.Authorization/locks/read",
  "managementLocks.getAtResourceLevel": "Microsoft.Authorization/locks/read",
  "managementLocks.createOrUpdateAtResourceLevel": "Microsoft.Authorization/locks/write",
  "roleAssignments.listForScope": "Microsoft.Authorization/roleAssignments/read",
  "roleAssignments.get": "Microsoft.Authorization/roleAssignments/read",
  "roleAssignments.create": "Microsoft.Authorization/roleAssignments/write",
  "subscriptions.list": "Microsoft.Resources/subscriptions/read",
  "subscriptions.get": "Microsoft.Resources/subscriptions/read",
  "metrics.list": "Microsoft.Insights/metrics/read",
  // issue 17's reads (src/azure/collector.ts) and fixes (src/remediations/fixes/{portal,diagnostic-settings,tenant-access}.ts,
  // the gateway guard of gateway-configuration-endpoint-disabled); names as Learn publishes them (Azure permissions for Integration)
  "gateway.listByService": "Microsoft.ApiManagement/service/gateways/read",
  "portalConfig.listByService": "Microsoft.ApiManagement/service/portalConfigs/read",
  "portalConfig.get": "Microsoft.ApiManagement/service/portalConfigs/read",
  "portalConfig.update": "Microsoft.ApiManagement/service/portalConfigs/write",
  "identityProvider.listByService": "Microsoft.ApiManagement/service/identityProviders/read",
  "logger.listByService": "Microsoft.ApiManagement/service/loggers/read",
  "diagnostic.listByService": "Microsoft.ApiManagement/service/diagnostics/read",
  "apiDiagnostic.listByService": "Microsoft.ApiManagement/service/apis/diagnostics/read",
  "certificate.listByService": "Microsoft.ApiManagement/service/certificates/read",
  "workspace.listByService": "Microsoft.ApiManagement/service/workspaces/read",
  // GET workspaces/{ws}/policies (the SDK names the workspace-scope policy list `listByApi`)
  "workspacePolicy.listByApi": "Microsoft.ApiManagement/service/workspaces/policies/read",
  "workspaceApi.listByService": "Microsoft.ApiManagement/service/workspaces/apis/read",
  "workspaceApiPolicy.listByApi": "Microsoft.ApiManagement/service/workspaces/apis/policies/read",
  "workspaceApiOperation.listByApi": "Microsoft.ApiManagement/service/workspaces/apis/operations/read",
  "workspaceApiOperationPolicy.listByOperation": "Microsoft.ApiManagement/service/workspaces/apis/operations/policies/read",
  "workspaceProduct.listByService": "Microsoft.ApiManagement/service/workspaces/products/read",
  "workspaceProductApiLink.listByProduct": "Microsoft.ApiManagement/service/workspaces/products/apiLinks/read",
  "workspaceProductPolicy.listByProduct": "Microsoft.ApiManagement/service/workspaces/products/policies/read",
  "workspaceSubscription.list": "Microsoft.ApiManagement/service/workspaces/subscriptions/read",
  // Key Vault data actions (https://learn.microsoft.com/azure/role-based-access-control/permissions/security#microsoftkeyvault):
  // GET /secrets/{name}[/{version}] returns the value: getSecret/action (readMetadata/action is list or properties
  // without the value, which nothing calls); PUT /secrets/{name}: setSecret/action
  "secrets.getSecret": "Microsoft.KeyVault/vaults/secrets/getSecret/action",
  "secrets.setSecret": "Microsoft.KeyVault/vaults/secrets/setSecret/action",
  // POST /deletedsecrets/{name}/recover: a soft-deleted secret of the migration's name (granted through the rule's fixActions)
  "secrets.beginRecoverDeletedSecret": KEY_VAULT_RECOVER.recoverDeletedSecret,
  "secrets.listPropertiesOfSecrets": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
  "secrets.getDeletedSecret": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
  "secrets.updateSecretProperties": "Microsoft.KeyVault/vaults/secrets/update/action",
  "secrets.beginDeleteSecret": "Microsoft.KeyVault/vaults/secrets/delete",
  "secrets.purgeDeletedSecret": "Microsoft.KeyVault/vaults/secrets/purge/action",
};
/** resources.getById reads by id: the provider path names the action. */
const GET_BY_ID: Record<string, string> = {
  "Microsoft.Security/pricings": "Microsoft.Security/pricings/read",
  "Microsoft.Security/apiCollections": "Microsoft.Security/apiCollections/read",
  // an extension resource is authorized by its own provider's action (Learn, Monitor: "Microsoft.Insights/DiagnosticSettings/Read")
  "Microsoft.Insights/diagnosticSettings": "Microsoft.Insights/diagnosticSettings/read",
};
/**
 * Generic-resources calls whose id is not a literal provider path (a plan's target id): the file, the call and the
 * action. Only the diagnostic settings fix makes them: GET, then PUT of its own setting at 2021-05-01-preview.
 */
const BY_ID_CALLS: Record<string, Record<string, string>> = {
  "src/remediations/fixes/diagnostic-settings.ts": {
    getById: "Microsoft.Insights/diagnosticSettings/read",
    beginCreateOrUpdateByIdAndWait: "Microsoft.Insights/diagnosticSettings/write",
  },
};

describe("what the code calls", () => {
  const files = [
    ...(readdirSync(join(ROOT, "src/remediations"), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).map((f) => `src/remediations/${f}`),
    "src/azure/collector.ts",
    "src/azure/discovery.ts",
    "src/app/health.ts",
    "src/engine/engine.ts",
  ];
  const source = files.map((f) => [f, readFileSync(join(ROOT, f), "utf8")] as const);
  const GROUPS = [
    ...["apiManagementService", "api", "apiRevision", "apiPolicy", "apiOperation", "apiOperationPolicy", "namedValue", "tenantAccess", "backend", "subscription", "product", "productApi", "productPolicy", "policy", "managementLocks", "roleAssignments", "subscriptions", "metrics"],
    ...["gateway", "portalConfig", "identityProvider", "logger", "diagnostic", "apiDiagnostic", "certificate", "workspace", "workspacePolicy", "workspaceApi", "workspaceApiPolicy", "workspaceApiOperation", "workspaceApiOperationPolicy", "workspaceProduct", "workspaceProductApiLink", "workspaceProductPolicy", "workspaceSubscription"],
  ];
  const ARRAY_METHODS = new Set(["find", "filter", "map", "some", "every", "forEach", "flatMap", "push", "includes", "slice", "concat", "reduce", "sort", "findIndex", "entries", "keys", "values", "at", "indexOf"]);
  const lockClients = /(\w+) = ctx\.clients\.locks\([^)]*\)\.managementLocks/g;
  const kvClients = /(\w+) = ctx\.clients\.secrets\(/g;
  /** The generic resources client: `x = ….resources(sub).resources` (its calls are checked by id below). */
  const resourceClients = /(\w+) = [\w.]*clients\.resources\([^)]*\)\.resources\b/g;
  const byId: Array<{ file: string; op: string }> = [];

  const calls: Array<{ file: string; op: string }> = [];
  for (const [file, text] of source) {
    // SDK operation groups on a client (snapshot arrays of the same names are filtered out by their array methods)
    for (const m of text.matchAll(new RegExp(`\\.(${GROUPS.join("|")})\\.(\\w+)\\(`, "g"))) if (!ARRAY_METHODS.has(m[2] as string)) calls.push({ file, op: `${m[1]}.${m[2]}` });
    for (const v of text.matchAll(lockClients)) for (const m of text.matchAll(new RegExp(`\\b${v[1]}\\.(\\w+)\\(`, "g"))) calls.push({ file, op: `managementLocks.${m[1]}` });
    for (const v of text.matchAll(kvClients)) for (const m of text.matchAll(new RegExp(`\\b${v[1]}\\.(\\w+)\\(`, "g"))) calls.push({ file, op: `secrets.${m[1]}` });
    for (const m of text.matchAll(/ctx\.clients\.secrets\([^)]*\)\.(\w+)\(/g)) calls.push({ file, op: `secrets.${m[1]}` });
    for (const v of text.matchAll(resourceClients)) for (const m of text.matchAll(new RegExp(`\\b${v[1]}\\.(\\w+)\\((?!\`[^\`]*\\/providers\\/Microsoft)`, "g"))) byId.push({ file, op: m[1] as string });
    for (const m of text.matchAll(/clients\.resources\([^)]*\)\.resources\.(\w+)\((?!`[^`]*\/providers\/Microsoft)/g)) byId.push({ file, op: m[1] as string });
  }

  it("finds the calls (the scan works)", () => {
    const ops = new Set(calls.map((c) => c.op));
    for (const op of ["apiManagementService.get", "namedValue.listValue", "managementLocks.createOrUpdateAtResourceLevel", "roleAssignments.create", "secrets.setSecret", "subscriptions.list", "metrics.list"]) expect(ops, op).toContain(op);
  });

  it("every SDK call maps to an action the deployment grants", () => {
    for (const c of calls) {
      const action = SDK_CALLS[c.op];
      expect(action, `${c.file}: ${c.op} is not in the table of known calls; add it with the action it needs`).toBeDefined();
      expect(granted(action as string), `${c.file}: ${c.op} needs ${action}`).toBe(true);
    }
    for (const [file, text] of source) {
      for (const m of text.matchAll(/getById\(`[^`]*\/providers\/(Microsoft\.\w+\/\w+)[/`]/g)) {
        const action = GET_BY_ID[m[1] as string];
        expect(action, `${file}: getById of ${m[1]}`).toBeDefined();
        expect(granted(action as string), `${file}: ${m[1]} needs ${action}`).toBe(true);
      }
    }
    // calls by a computed id: each is listed with its action, and granted
    for (const c of byId) {
      const action = BY_ID_CALLS[c.file]?.[c.op];
      expect(action, `${c.file}: resources.${c.op} by a computed id is not in BY_ID_CALLS; add it with the action it needs`).toBeDefined();
      expect(granted(action as string), `${c.file}: resources.${c.op} needs ${action}`).toBe(true);
    }
  });

  it("finds the calls issue 17 added (the scan covers the new operation groups and the generic resources client)", () => {
    const ops = new Set(calls.map((c) => c.op));
    for (const op of ["gateway.listByService", "portalConfig.get", "portalConfig.update", "identityProvider.listByService", "workspaceProductApiLink.listByProduct", "apiDiagnostic.listByService", "certificate.listByService"]) expect(ops, op).toContain(op);
    expect(byId.map((c) => `${c.file}: ${c.op}`).sort()).toEqual(["src/remediations/fixes/diagnostic-settings.ts: beginCreateOrUpdateByIdAndWait", "src/remediations/fixes/diagnostic-settings.ts: getById"]);
  });

  it("the Key Vault secrets role is exactly the data actions of the secret calls the code makes (get, set, and recover of a soft-deleted secret)", () => {
    const kvCalls = [...new Set(calls.filter((c) => c.op.startsWith("secrets.")).map((c) => c.op))].sort();
    expect(kvCalls).toEqual(["secrets.beginRecoverDeletedSecret", "secrets.getSecret", "secrets.setSecret"]);
    expect([...new Set(kvCalls.map((op) => SDK_CALLS[op] as string))].sort()).toEqual([...ROLE.keyVault.dataActions].sort());
    expect(has(ROLE.keyVault.dataActions, KEY_VAULT_RECOVER.recoverDeletedSecret)).toBe(true);
  });

  it("never deletes: no lock, secret or role-assignment deletion anywhere in the product", () => {
    for (const c of calls) expect(c.op).not.toMatch(/\.(delete|beginDelete|deleteAt|purge)/i);
    for (const [file, text] of source) expect(text, file).not.toMatch(/deleteAtResourceLevel|beginDeleteSecret|purgeDeletedSecret|roleAssignments\.delete/);
  });
});

describe("a real run against the emulator", () => {
  const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
  const KV_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`;
  const DEV = `/subscriptions/${SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
  const PROD = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso-prod`;
  // the demo estate's workspace (prod already sends its logs there)
  const WORKSPACE_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.OperationalInsights/workspaces/law-contoso-apim`;
  const T = "Microsoft.ApiManagement/service";
  const POLICY = "<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>";
  // the demo estate, plus what makes every read and fix happen: a product with an API and a policy, an operation
  // with a policy, and a Key Vault reference the drifted service cannot resolve yet (grant + refresh)
  const ESTATE = [
    ...(JSON.parse(readFileSync(join(ROOT, "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>),
    { id: `${DEV}/products/starter`, type: `${T}/products`, name: "starter", properties: { displayName: "Starter", state: "published", subscriptionRequired: true } },
    { id: `${DEV}/products/starter/apis/echo`, type: `${T}/products/apis`, name: "echo", properties: {} },
    { id: `${DEV}/products/starter/policies/policy`, type: `${T}/products/policies`, name: "policy", properties: { format: "xml", value: POLICY } },
    { id: `${DEV}/apis/echo/operations/get-echo`, type: `${T}/apis/operations`, name: "get-echo", properties: { displayName: "Get echo", method: "GET", urlTemplate: "/echo" } },
    { id: `${DEV}/apis/echo/operations/get-echo/policies/policy`, type: `${T}/apis/operations/policies`, name: "policy", properties: { format: "xml", value: POLICY } },
    // the named value's own secret (owner tags), so the repair may grant on it
    { id: `${KV_ID}/secrets/rotated-partner-key`, type: "Microsoft.KeyVault/vaults/secrets", name: "rotated-partner-key", properties: { value: "perm-test-rotated-Vb81" }, tags: { "apim-remediator-service": DEV, "apim-remediator-named-value": "rotated-partner-key" } },
    {
      id: `${DEV}/namedValues/rotated-partner-key`,
      type: `${T}/namedValues`,
      name: "rotated-partner-key",
      properties: { displayName: "rotated-partner-key", secret: true, keyVault: { secretIdentifier: "https://kv-contoso-apim.vault.azure.net/secrets/rotated-partner-key" } },
    },
    // issue 17: the demo's dev service has the self-hosted gateway configuration endpoint and username and password
    // sign-in on; another identity provider lets the opt-in portal fix run, and a Premium service's workspace holds
    // every child the collector reads
    { id: `${DEV}/identityProviders/aad`, type: `${T}/identityProviders`, name: "aad", properties: { type: "aad", clientId: "00000000-0000-0000-0000-0000000000aa", allowedTenants: ["contoso.onmicrosoft.com"] } },
    { id: `${PROD}/workspaces/payments`, type: `${T}/workspaces`, name: "payments", properties: { displayName: "Payments" } },
    { id: `${PROD}/workspaces/payments/policies/policy`, type: `${T}/workspaces/policies`, name: "policy", properties: { format: "xml", value: POLICY } },
    { id: `${PROD}/workspaces/payments/apis/refunds`, type: `${T}/workspaces/apis`, name: "refunds", properties: { displayName: "Refunds", path: "refunds", protocols: ["https"], isCurrent: true, apiRevision: "1", subscriptionRequired: true } },
    { id: `${PROD}/workspaces/payments/apis/refunds/policies/policy`, type: `${T}/workspaces/apis/policies`, name: "policy", properties: { format: "xml", value: POLICY } },
    { id: `${PROD}/workspaces/payments/apis/refunds/operations/create`, type: `${T}/workspaces/apis/operations`, name: "create", properties: { displayName: "Create", method: "POST", urlTemplate: "/" } },
    { id: `${PROD}/workspaces/payments/apis/refunds/operations/create/policies/policy`, type: `${T}/workspaces/apis/operations/policies`, name: "policy", properties: { format: "xml", value: POLICY } },
    { id: `${PROD}/workspaces/payments/products/partners`, type: `${T}/workspaces/products`, name: "partners", properties: { displayName: "Partners", state: "published", subscriptionRequired: true } },
    { id: `${PROD}/workspaces/payments/products/partners/apiLinks/refunds`, type: `${T}/workspaces/products/apiLinks`, name: "refunds", properties: { apiId: `${PROD}/workspaces/payments/apis/refunds` } },
    { id: `${PROD}/workspaces/payments/products/partners/policies/policy`, type: `${T}/workspaces/products/policies`, name: "policy", properties: { format: "xml", value: POLICY } },
    { id: `${PROD}/workspaces/payments/subscriptions/partner-a`, type: `${T}/workspaces/subscriptions`, name: "partner-a", properties: { displayName: "Partner A", scope: `${PROD}/workspaces/payments/products/partners`, state: "active" } },
  ];
  let env: TestEnv;
  const enforced: Array<{ host: string; method: string; path: string; action: string }> = [];
  let dryRun: typeof enforced = [];
  let armHost = "";

  /** The grants role on the vault covers role-assignment calls at or under the vault. */
  const grantedOnVault = (action: string, path: string) => path.toLowerCase().startsWith(KV_ID.toLowerCase()) && has(ROLE.keyVault.grantActions, action);
  /** The Key Vault data action a request needs (the request log keeps method and path). */
  const dataActionOf = (method: string, path: string) =>
    method === "GET" && /^\/secrets\/[^/]+(\/[^/]*)?$/.test(path.split("?")[0] as string)
      ? "Microsoft.KeyVault/vaults/secrets/getSecret/action"
      : method === "PUT" && /^\/secrets\/[^/]+$/.test(path.split("?")[0] as string)
        ? "Microsoft.KeyVault/vaults/secrets/setSecret/action"
        : `unmapped ${method} ${path}`;
  let autoOnly: typeof enforced = [];

  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
    armHost = "arm"; // the request log's host for ARM; Key Vault requests are logged as vault:<name>
    const record = () =>
      env.emu.log
        .list()
        .map((l) => ({ host: l.host, method: l.method, path: l.path, action: l.host === armHost ? actionOf(l.method, l.path) : `keyvault:${l.method}` }));
    const settings = {
      KEY_VAULT_URL: env.emu.keyVaults["kv-contoso-apim"] as string,
      KEY_VAULT_RESOURCE_ID: KV_ID,
      REMEDIATOR_RULE_MODES: "gateway-tls-protocols=enforce,gateway-weak-ciphers=enforce,backend-certificate-validation=enforce,developer-portal-basic-auth-disabled=enforce",
      // resource-logs-enabled links the service's logs to this workspace (granted there by the destination role, not the ARM role)
      REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: WORKSPACE_ID,
    };
    // dry-run first: only reads
    env.emu.log.clear();
    const d = engineFor(env.emu, { ...settings, REMEDIATOR_MODE: "dry-run" });
    for (const svc of await discoverServices(env.clients, d.config)) await d.engine.evaluate(svc.id, { dryRun: true });
    dryRun = record();
    // then enforce the default (auto) rules only: what the role gives without any opt-in rule
    env.emu.log.clear();
    const a = engineFor(env.emu, { ...settings, REMEDIATOR_RULE_MODES: "" });
    for (const svc of await discoverServices(env.clients, a.config)) await a.engine.evaluate(svc.id);
    autoOnly = record();
    enforced.push(...autoOnly);
    // then enforce every fixable rule (the opt-in fixes are left)
    env.emu.log.clear();
    const e = engineFor(env.emu, settings);
    for (const svc of await discoverServices(env.clients, e.config)) await e.engine.evaluate(svc.id);
    enforced.push(...record());
  });
  afterAll(async () => env?.emu.stop());

  it("made ARM calls and wrote (the run fixed things)", () => {
    expect(enforced.length).toBeGreaterThan(20);
    expect(enforced.some((r) => r.method !== "GET")).toBe(true);
    expect(enforced.some((r) => r.host !== armHost)).toBe(true); // the Key Vault migration ran
    const actions = new Set(enforced.map((r) => r.action));
    for (const a of ["Microsoft.Authorization/roleAssignments/write", "Microsoft.ApiManagement/service/namedValues/refreshSecret/action", "Microsoft.Authorization/locks/write", "Microsoft.ApiManagement/service/write"]) expect(actions, a).toContain(a);
    // issue 17's fixes ran: the gateway endpoint (after listing gateways), the portal sign-in (opt-in), the resource logs
    for (const a of ["Microsoft.ApiManagement/service/gateways/read", "Microsoft.ApiManagement/service/tenant/write", "Microsoft.ApiManagement/service/portalConfigs/write", "Microsoft.Insights/diagnosticSettings/write"]) expect([...actions].map((x) => x.toLowerCase()), a).toContain(a.toLowerCase());
    // and the diagnostic setting names the configured workspace: the link the destination role on that workspace allows
    const put = enforced.find((r) => r.method === "PUT" && /\/providers\/Microsoft\.Insights\/diagnosticSettings\//i.test(r.path));
    expect(put?.path).toMatch(/^\/subscriptions\/[^/]+\/resourceGroups\/rg-apim-(dev|prod)\//);
  });

  it("the default rules' fixes need none of the opt-in rules' writes (read + write is enough without REMEDIATOR_RULE_MODES)", () => {
    expect(autoOnly.some((r) => r.method !== "GET")).toBe(true);
    for (const r of autoOnly.filter((x) => x.host === armHost)) {
      const ok = has([...ROLE.read, ...ROLE.write], r.action) || grantedOnVault(r.action, r.path);
      expect(ok, `${r.method} ${r.path} needs ${r.action}`).toBe(true);
    }
    // and the opt-in fix did need its own: backends/write came with backend-certificate-validation=enforce
    expect(enforced.filter((r) => !autoOnly.includes(r)).map((r) => r.action)).toContain("Microsoft.ApiManagement/service/backends/write");
    // as portalConfigs/write did with developer-portal-basic-auth-disabled=enforce (the request path spells it portalconfigs)
    expect(autoOnly.some((r) => /\/portalconfigs\//i.test(r.path) && r.method !== "GET")).toBe(false);
    expect(has(ROLE.optIn["developer-portal-basic-auth-disabled"] ?? [], "Microsoft.ApiManagement/service/portalConfigs/write")).toBe(true);
  });

  it("every ARM call is granted: by the custom role, or on the vault by the generated grants role", () => {
    for (const r of enforced.filter((x) => x.host === armHost)) {
      const ok = has(ROLE_ACTIONS, r.action) || grantedOnVault(r.action, r.path);
      expect(ok, `${r.method} ${r.path} needs ${r.action}`).toBe(true);
    }
  });

  it("Key Vault calls are secret gets and sets the generated secrets role grants, and it grants nothing the run does not use but recover", () => {
    const kv = enforced.filter((x) => x.host !== armHost);
    for (const r of kv) expect(has(ROLE.keyVault.dataActions, dataActionOf(r.method, r.path)), `${r.method} ${r.path}`).toBe(true);
    const used = new Set(kv.map((r) => dataActionOf(r.method, r.path)));
    // recover is called only for a soft-deleted secret of the migration's name, which this estate has none of
    // (test/remediation/key-vault-migration.test.ts, "Key Vault soft delete", makes that call)
    expect(ROLE.keyVault.dataActions.filter((a) => !used.has(a))).toEqual([KEY_VAULT_RECOVER.recoverDeletedSecret]);
  });

  it("nothing is deleted, anywhere", () => {
    expect(enforced.filter((r) => r.method === "DELETE")).toEqual([]);
  });

  it("dry-run only reads ARM (the read-only role is enough), never reads a secret value and never touches Key Vault", () => {
    expect(dryRun.length).toBeGreaterThan(10);
    for (const r of dryRun) {
      expect(r.host, `${r.method} ${r.path}`).toBe(armHost);
      expect(has(ROLE.read, r.action), `${r.method} ${r.path} needs ${r.action}`).toBe(true);
    }
  });

  it("exercises every action the role grants, except those this estate cannot reach (listed with the reason)", () => {
    const NOT_EXERCISED: Record<string, string> = {
      // the emulator answers long-running named value operations with service-level operation URLs; Azure polls tenant/operationResults
      "Microsoft.ApiManagement/service/tenant/operationResults/read": "Azure's polling URL for named value operations",
      // the demo estate's subscription has no Defender for APIs plan, so no API is looked up
      "Microsoft.Security/apiCollections/read": "per-API onboarding is read only when the plan is on",
      // this run is scoped by subscription; a query over REMEDIATOR_MANAGEMENT_GROUPS (test/azure/resource-graph.test.ts) reads the groups
      "Microsoft.Management/managementGroups/read": "read by Resource Graph queries over management groups",
      // discovery asks Resource Graph; subscriptions are listed by the ARM fallback (test/azure/resource-graph.test.ts) and read by health
      "Microsoft.Resources/subscriptions/read": "listed when Resource Graph is unavailable",
    };
    const used = new Set(enforced.concat(dryRun).map((r) => r.action.toLowerCase()));
    for (const a of ROLE.keyVault.grantActions) expect(used, a).toContain(a.toLowerCase());
    const missing = ROLE_ACTIONS.filter((a) => !used.has(a.toLowerCase()) && !(a in NOT_EXERCISED));
    expect(missing).toEqual([]);
    // and the exceptions are real exceptions (not stale)
    for (const a of Object.keys(NOT_EXERCISED)) expect(has(ROLE_ACTIONS, a), a).toBe(true);
  });
});

describe("apim-remediator permissions", () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    const cli: CliIO = { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), env: {} };
    return { cli, out, err };
  };

  it("prints the manifest as JSON by default", async () => {
    const { cli, out } = io();
    expect(await run(["permissions"], cli)).toBe(0);
    const m = JSON.parse(out.join("")) as ReturnType<typeof permissionManifest>;
    expect(m.customRole).toEqual({ read: ROLE.read, write: ROLE.write, optIn: ROLE.optIn });
    expect(m.keyVault).toMatchObject(ROLE.keyVault);
    expect(m.rules.map((r) => r.id)).toEqual(RULES.map((r) => r.meta.id));
    expect(m.keyVault.assignableRoleDefinitionId).toBe("4633458b-17de-408a-b874-0445c86b69e6");
  });

  it("prints the role's actions as Bicep, and the role-actions.json content", async () => {
    const b = io();
    expect(await run(["permissions", "--format", "bicep"], b.cli)).toBe(0);
    expect(b.out.join("")).toBe(renderRoleActionsBicep(permissionManifest(RULES)));
    for (const a of ROLE_ACTIONS) expect(b.out.join("")).toContain(`  '${a}'`);
    const j = io();
    expect(await run(["permissions", "--format", "role-json"], j.cli)).toBe(0);
    expect(j.out.join("")).toBe(readFileSync(join(ROOT, "infra/role-actions.json"), "utf8"));
  });

  it("narrows to selected rules, and rejects unknown ones and formats", async () => {
    const { cli, out } = io();
    expect(await run(["permissions", "--rules", "resource-lock", "--format", "role-json"], cli)).toBe(0);
    const doc = JSON.parse(out.join("")) as { read: string[]; write: string[] };
    expect(doc.write).toEqual(["Microsoft.Authorization/locks/write"]);
    expect(doc.read).toContain("Microsoft.Authorization/locks/read");
    const bad = io();
    expect(await run(["permissions", "--rules", "no-such-rule"], bad.cli)).toBe(2);
    expect(bad.err.join("")).toMatch(/unknown rule id/);
    expect(await run(["permissions", "--format", "yaml"], io().cli)).toBe(2);
  });

  it("npm run gen:role writes infra/role-actions.json with this command", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts["gen:role"]).toMatch(/permissions --format role-json --output infra\/role-actions\.json$/);
  });
});
