/**
 * Structural checks of the Bicep in infra/ (no Bicep CLI here; `npm run lint:infra` builds and lints
 * where one is installed): every file parses, modules resolve locally, resource types and API versions
 * are the expected ones, and the security facts hold: no keys, shared keys off, Entra-only telemetry,
 * no broad roles, the Key Vault roles generated from the permission manifest (secret get/set only; role
 * assignment read/write, never delete, the write constrained to Key Vault Secrets User), opt-in writes only
 * for the opt-in rules the deployment enables, the ARM role assignable only where the remediator works, the
 * Log Analytics destination role (generated) on the configured workspace only.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
// the catalog first: imported the other way round, vitest hands this file the permissions module before its exports are set
import { RULES } from "../../src/remediations/index.js";
import { BUILT_IN_ROLES, FORBIDDEN_ROLES, permissionManifest } from "../../src/azure/permissions.js";
import { arrayItems, INFRA, objectEntries, only, parseBicep, prop, str, type BicepFile } from "./bicep.js";

function bicepFiles(dir = INFRA): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? bicepFiles(join(dir, e.name)) : e.name.endsWith(".bicep") ? [join(dir, e.name)] : []));
}

const FILES = bicepFiles();
const parsed = new Map<string, BicepFile>(FILES.map((f) => [relative(INFRA, f), parseBicep(f)]));
const file = (rel: string): BicepFile => {
  const f = parsed.get(rel);
  if (!f) throw new Error(`no ${rel}`);
  return f;
};
const allText = FILES.map((f) => readFileSync(f, "utf8")).join("\n") + readFileSync(join(INFRA, "main.parameters.json"), "utf8");

/** Resource types the templates may use, with the API version each must use (stable, and what the checks were written against). */
const API_VERSIONS: Record<string, string> = {
  "Microsoft.Resources/resourceGroups": "2024-03-01",
  "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
  "Microsoft.Storage/storageAccounts": "2023-05-01",
  "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
  "Microsoft.Storage/storageAccounts/blobServices/containers": "2023-05-01",
  "Microsoft.Authorization/roleAssignments": "2022-04-01",
  "Microsoft.Authorization/roleDefinitions": "2022-04-01",
  "Microsoft.OperationalInsights/workspaces": "2023-09-01",
  "Microsoft.Insights/components": "2020-02-02",
  "Microsoft.Insights/workbooks": "2023-06-01",
  "Microsoft.Insights/scheduledQueryRules": "2023-12-01",
  "Microsoft.KeyVault/vaults": "2023-07-01",
  "Microsoft.Web/serverfarms": "2024-04-01",
  "Microsoft.Web/sites": "2024-04-01",
  "Microsoft.Web/sites/basicPublishingCredentialsPolicies": "2023-12-01",
  "Microsoft.EventGrid/systemTopics": "2022-06-15",
  "Microsoft.EventGrid/systemTopics/eventSubscriptions": "2022-06-15",
};

describe("infra: every Bicep file", () => {
  it("parses, and declares a known target scope", () => {
    expect(FILES.length).toBeGreaterThanOrEqual(10);
    for (const [rel, f] of parsed) {
      expect(["subscription", "resourceGroup", "managementGroup"], rel).toContain(f.targetScope);
      expect(f.declarations.length, rel).toBeGreaterThan(0);
    }
    expect(file("main.bicep").targetScope).toBe("subscription");
    expect(file("management-group.bicep").targetScope).toBe("managementGroup");
  });

  it("uses only local modules (no registry modules), and each module's target scope fits how it is called", () => {
    for (const [rel, f] of parsed) {
      for (const m of f.modules) {
        expect(m.type, `${rel}: ${m.symbol}`).not.toMatch(/^(br[:/]|ts[:/])/);
        const target = join(dirname(f.path), m.type);
        expect(existsSync(target), `${rel}: module ${m.type}`).toBe(true);
        const callee = parseBicep(target);
        const scope = prop(m.body, "scope");
        if (callee.targetScope === "subscription") expect(scope === undefined ? f.targetScope : scope, `${rel}: ${m.symbol}`).toMatch(/^subscription/);
        if (callee.targetScope === "resourceGroup") expect(scope ?? "", `${rel}: ${m.symbol}`).toMatch(/^(rg|resourceGroup\()/);
        // every param the module requires is passed, and nothing it does not declare
        const passed = objectEntries(prop(m.body, "params") ?? "{}").map(([k]) => k);
        for (const p of passed) expect([...callee.params.keys()], `${rel}: ${m.symbol} passes ${p}`).toContain(p);
        for (const [name, p] of callee.params) if (p.default === undefined) expect(passed, `${rel}: ${m.symbol} misses ${name}`).toContain(name);
      }
    }
  });

  it("uses known resource types with the expected, non-preview API versions", () => {
    for (const [rel, f] of parsed) {
      for (const r of f.resources) {
        expect(Object.keys(API_VERSIONS), `${rel}: ${r.symbol}`).toContain(r.type);
        expect(r.apiVersion, `${rel}: ${r.symbol} ${r.type}`).toBe(API_VERSIONS[r.type]);
        expect(r.apiVersion).not.toMatch(/preview/);
      }
    }
  });

  it("references only outputs the modules declare", () => {
    for (const [rel, f] of parsed) {
      const modules = new Map(f.modules.map((m) => [m.symbol, parseBicep(join(dirname(f.path), m.type))]));
      for (const m of f.text.matchAll(/\b(\w+)(?:\[\w+\])?\.outputs\.(\w+)/g)) {
        const callee = modules.get(m[1] as string);
        expect(callee, `${rel}: ${m[0]}`).toBeDefined();
        expect([...(callee as BicepFile).outputs.keys()], `${rel}: ${m[0]}`).toContain(m[2]);
      }
    }
  });

  it("carries no keys: no listKeys, account keys, SAS or key-bearing connection strings", () => {
    expect(allText).not.toMatch(/listKeys|listkeys|listAccountSas|listServiceSas|listSecrets/i);
    expect(allText).not.toMatch(/AccountKey=|SharedAccessSignature|DefaultEndpointsProtocol|InstrumentationKey=/i);
    expect(allText).not.toMatch(/\.keys\[|primaryKey|secondaryKey|primaryMasterKey/);
    // the bare AzureWebJobsStorage setting is a connection string; only the identity-based __ settings are allowed
    expect(allText).not.toMatch(/\bAzureWebJobsStorage\s*:/);
    expect(allText).not.toMatch(/WEBSITE_CONTENTAZUREFILECONNECTIONSTRING|DEPLOYMENT_STORAGE_CONNECTION_STRING/);
  });

  it("assigns no broad role: no Owner, Contributor, User Access Administrator, Key Vault Secrets Officer or RBAC Administrator, no wildcard actions", () => {
    for (const id of Object.values(FORBIDDEN_ROLES)) expect(allText.toLowerCase()).not.toContain(id);
    // every custom role takes its actions from the generated infra/role-actions.json, never a literal list
    const sources: string[] = [];
    for (const [rel, f] of parsed) {
      for (const r of f.resources.filter((x) => x.type === "Microsoft.Authorization/roleDefinitions")) {
        const perms = arrayItems(prop(r.body, "properties.permissions") as string);
        for (const p of perms) {
          const actions = prop(p, "actions") as string;
          const dataActions = prop(p, "dataActions") as string;
          expect(actions === "[]" || /^(grantWriteActions \?|grantActions$|roleActions\.logAnalytics\.workspaceActions$)/.test(actions), `${rel}: ${r.symbol} actions ${actions}`).toBe(true);
          expect(dataActions === "[]" || dataActions === "roleActions.keyVault.dataActions", `${rel}: ${r.symbol} dataActions ${dataActions}`).toBe(true);
          expect(prop(p, "notActions")).toBe("[]");
          sources.push(`${rel}:${r.symbol}`);
        }
        expect(f.vars.get("roleActions"), rel).toMatch(/^loadJsonContent\('(\.\.\/)?role-actions\.json'\)$/);
      }
    }
    expect(sources.sort()).toEqual(["management-group.bicep:role", "modules/key-vault-access.bicep:grantsRole", "modules/key-vault-access.bicep:secretsRole", "modules/log-analytics-access.bicep:destinationRole", "modules/remediator-role.bicep:role"]);
    expect(allText).not.toMatch(/'[^']*\/\*'/); // no '.../*' action strings anywhere
  });
});

describe("infra: storage", () => {
  const storage = file("modules/storage.bicep");
  const account = only(storage, "Microsoft.Storage/storageAccounts");

  it("disables shared keys and public blobs, requires TLS 1.2 and HTTPS", () => {
    expect(prop(account.body, "properties.allowSharedKeyAccess")).toBe("false");
    expect(prop(account.body, "properties.defaultToOAuthAuthentication")).toBe("true");
    expect(prop(account.body, "properties.allowBlobPublicAccess")).toBe("false");
    expect(str(prop(account.body, "properties.minimumTlsVersion"))).toBe("TLS1_2");
    expect(prop(account.body, "properties.supportsHttpsTrafficOnly")).toBe("true");
  });

  it("gives the app identity the storage data roles the Functions host and the app use, on this account only", () => {
    const assignments = storage.resources.filter((r) => r.type === "Microsoft.Authorization/roleAssignments");
    const forApp = assignments.filter((r) => prop(r.body, "properties.principalId") === "appPrincipalId");
    const roles = forApp.map((r) => (prop(r.body, "properties.roleDefinitionId") ?? "").match(/roles\.(\w+)/)?.[1]);
    expect(roles.sort()).toEqual(["storageBlobDataOwner", "storageQueueDataContributor", "storageTableDataContributor"]);
    for (const r of forApp) expect(prop(r.body, "scope")).toBe("account");
    const ids = Object.fromEntries(objectEntries(storage.vars.get("roles") as string).map(([k, v]) => [k, str(v)]));
    expect(ids).toMatchObject({
      storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
      storageQueueDataContributor: "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
      storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
      storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    });
    // Event Grid's dead-letter identity can write to its container and nothing else
    const events = assignments.filter((r) => prop(r.body, "properties.principalId") === "eventsPrincipalId");
    expect(events.map((r) => prop(r.body, "scope"))).toEqual(["deadLetterContainer"]);
    // deployer access is read-only
    for (const r of assignments.filter((x) => prop(x.body, "properties.principalId") === "deployerPrincipalId")) expect(prop(r.body, "properties.roleDefinitionId")).toMatch(/Reader\)$/);
  });

  it("holds the deployment package and dead-letter containers, private", () => {
    const containers = storage.resources.filter((r) => r.type === "Microsoft.Storage/storageAccounts/blobServices/containers");
    expect(containers.map((c) => prop(c.body, "name")).sort()).toEqual(["deadLetterContainerName", "deploymentContainerName"]);
    for (const c of containers) expect(str(prop(c.body, "properties.publicAccess"))).toBe("None");
  });
});

describe("infra: monitoring", () => {
  const mon = file("modules/monitoring.bicep");

  it("Application Insights accepts only Entra-authenticated telemetry, and the app may publish to it", () => {
    const ai = only(mon, "Microsoft.Insights/components");
    expect(prop(ai.body, "properties.DisableLocalAuth")).toBe("true");
    expect(prop(ai.body, "properties.WorkspaceResourceId")).toBe("workspace.id");
    const pub = only(mon, "Microsoft.Authorization/roleAssignments");
    expect(prop(pub.body, "scope")).toBe("appInsights");
    expect(str(mon.vars.get("monitoringMetricsPublisher"))).toBe("3913510d-42f4-4e42-8a64-420c390055eb");
    expect(prop(only(mon, "Microsoft.OperationalInsights/workspaces").body, "properties.features.disableLocalAuth")).toBe("true");
  });

  it("deploys infra/workbook.json, a valid workbook whose queries read the app's log records", () => {
    const wb = only(mon, "Microsoft.Insights/workbooks");
    expect(prop(wb.body, "properties.serializedData")).toBe("loadTextContent('../workbook.json')");
    expect(prop(wb.body, "properties.sourceId")).toBe("appInsights.id");
    const doc = JSON.parse(readFileSync(join(INFRA, "workbook.json"), "utf8")) as { version: string; items: Array<{ type: number; name: string; content: { query?: string; title?: string } }> };
    expect(doc.version).toBe("Notebook/1.0");
    const queries = doc.items.filter((i) => i.type === 3);
    const titles = queries.map((q) => q.content.title ?? "").join("\n");
    for (const topic of [/Remediations/, /tickets/i, /Failures/]) expect(titles).toMatch(topic);
    for (const q of queries) expect(q.content.query).toMatch(/^(traces|exceptions)\b/);
    // the fields the queries read are the ones the engine logs (src/engine/engine.ts: { audit: {...} } with the outcome)
    const engine = readFileSync(join(process.cwd(), "src/engine/engine.ts"), "utf8");
    expect(engine).toMatch(/log\.info\(\{ audit: \{ \.\.\.rec/);
    const audit = readFileSync(join(process.cwd(), "src/engine/audit.ts"), "utf8");
    for (const field of ["ruleId", "resourceId", "outcome", "reason", "correlationId", "mode"]) expect(audit).toMatch(new RegExp(`\\b${field}\\??:`));
    expect(readFileSync(join(process.cwd(), "src/app/app.ts"), "utf8")).toContain('alert: "apim-remediator-poison"');
  });
});

describe("infra: Key Vault access", () => {
  const kv = file("modules/key-vault-access.bicep");
  const generated = JSON.parse(readFileSync(join(INFRA, "role-actions.json"), "utf8")) as { keyVault: { dataActions: string[]; grantActions: string[] } };
  const assignments = kv.resources.filter((r) => r.type === "Microsoft.Authorization/roleAssignments");
  const definitions = new Map(kv.resources.filter((r) => r.type === "Microsoft.Authorization/roleDefinitions").map((r) => [r.symbol, r]));
  const assignmentOf = (role: string) => assignments.find((r) => prop(r.body, "properties.roleDefinitionId") === `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ${role}.name)`);
  const permissions = (role: string) => arrayItems(prop(definitions.get(role)?.body ?? "{}", "properties.permissions") ?? "[]");

  it("assigns exactly two roles on the vault, both custom roles generated from the manifest, assignable only in the vault's resource group", () => {
    expect([...definitions.keys()].sort()).toEqual(["grantsRole", "secretsRole"]);
    expect(assignments.map((a) => prop(a.body, "scope"))).toEqual(["vault", "vault"]);
    for (const role of ["secretsRole", "grantsRole"]) {
      const d = definitions.get(role)?.body ?? "{}";
      expect(str(prop(d, "properties.type"))).toBe("CustomRole");
      expect(arrayItems(prop(d, "properties.assignableScopes") as string)).toEqual(["resourceGroup().id"]);
      expect(assignmentOf(role)?.condition, role).toBeUndefined(); // always deployed (the grants role shrinks to its read when grants are off)
      expect(str(prop(assignmentOf(role)?.body ?? "{}", "properties.principalType"))).toBe("ServicePrincipal");
    }
    expect(kv.vars.get("roleActions")).toBe("loadJsonContent('../role-actions.json')");
    // no built-in role is assigned here any more: the only role id is the one the remediator hands out
    expect(objectEntries(kv.vars.get("roles") as string).map(([k, v]) => [k, str(v)])).toEqual([["keyVaultSecretsUser", BUILT_IN_ROLES.keyVaultSecretsUser]]);
  });

  it("the secrets role holds the manifest's Key Vault data actions, which are exactly what the code calls: get, set and recover, no list, delete or purge", () => {
    expect(permissions("secretsRole").map((p) => [prop(p, "actions"), prop(p, "dataActions")])).toEqual([["[]", "roleActions.keyVault.dataActions"]]);
    expect(generated.keyVault.dataActions).toEqual(permissionManifest(RULES).keyVault.dataActions);
    expect(generated.keyVault.dataActions).toEqual(["Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/recover/action", "Microsoft.KeyVault/vaults/secrets/setSecret/action"]);
  });

  it("the grants role reads and writes role assignments, never deletes them; with grants off it keeps only the read", () => {
    expect(permissions("grantsRole").map((p) => [prop(p, "actions"), prop(p, "dataActions")])).toEqual([["grantActions", "[]"]]);
    expect(kv.vars.get("grantActions")).toBe("grantKeyVaultAccess ? roleActions.keyVault.grantActions : filter(roleActions.keyVault.grantActions, a => endsWith(a, '/read'))");
    expect(generated.keyVault.grantActions).toEqual(["Microsoft.Authorization/roleAssignments/read", "Microsoft.Authorization/roleAssignments/write"]);
    expect(generated.keyVault.grantActions.some((a) => /delete|\*/.test(a))).toBe(false);
  });

  it("constrains the grant (ABAC 2.0, when grants are on) to Key Vault Secrets User, for service principals, never the remediator itself", () => {
    const grants = assignmentOf("grantsRole")?.body ?? "{}";
    expect(prop(grants, "properties.conditionVersion")).toBe("grantKeyVaultAccess ? '2.0' : null");
    expect(prop(grants, "properties.condition")).toBe("grantKeyVaultAccess ? grantCondition : null");
    const user = BUILT_IN_ROLES.keyVaultSecretsUser;
    const condition = (kv.vars.get("grantCondition") as string).replaceAll("${roles.keyVaultSecretsUser}", user).replace(/\\'/g, "'");
    expect(condition).toBe(
      `'((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (` +
        `@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${user}} AND ` +
        `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'} AND ` +
        `@Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidNotEquals {\${principalId}}))'`,
    );
    // nothing in it can allow a delete: the role has no delete action, and the condition names none
    expect(condition).not.toMatch(/delete/i);
    // exactly one role id appears in it: Key Vault Secrets User
    expect(new Set(condition.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi))).toEqual(new Set([user]));
    // the remediation assigns exactly that role with principalType ServicePrincipal (what the condition also requires)
    const fix = readFileSync(join(process.cwd(), "src/remediations/fixes/key-vault.ts"), "utf8");
    expect(fix).toContain(`"${user}"`);
    expect(fix).toMatch(/principalType: "ServicePrincipal"/);
  });

  it("main.bicep passes the environment name for the role names", () => {
    const main = file("main.bicep");
    expect(prop(main.modules.find((m) => m.symbol === "keyVaultAccess")?.body ?? "{}", "params.roleNameSuffix")).toBe("environmentName");
    expect(kv.vars.get("secretsRoleName")).toBe("'APIM Remediator Key Vault secrets (${roleNameSuffix})'");
    expect(kv.vars.get("grantsRoleName")).toBe("'APIM Remediator Key Vault grants (${roleNameSuffix})'");
  });

  it("a vault it creates uses RBAC, soft delete and purge protection", () => {
    const vault = only(file("modules/key-vault.bicep"), "Microsoft.KeyVault/vaults");
    expect(prop(vault.body, "properties.enableRbacAuthorization")).toBe("true");
    expect(prop(vault.body, "properties.enableSoftDelete")).toBe("true");
    expect(prop(vault.body, "properties.enablePurgeProtection")).toBe("true");
  });
});

describe("infra: Log Analytics workspace access (resource-logs-enabled)", () => {
  const la = file("modules/log-analytics-access.bicep");
  const main = file("main.bicep");
  const generated = JSON.parse(readFileSync(join(INFRA, "role-actions.json"), "utf8")) as { read: string[]; logAnalytics: { workspaceActions: string[] } };
  const definition = only(la, "Microsoft.Authorization/roleDefinitions");
  const assignment = only(la, "Microsoft.Authorization/roleAssignments");
  const laModule = main.modules.find((m) => m.symbol === "logAnalyticsAccess");

  it("one custom role generated from the manifest (read and sharedKeys on the workspace, nothing else), assigned on the workspace only", () => {
    expect(la.vars.get("roleActions")).toBe("loadJsonContent('../role-actions.json')");
    const perms = arrayItems(prop(definition.body, "properties.permissions") as string);
    expect(perms.map((p) => [prop(p, "actions"), prop(p, "dataActions")])).toEqual([["roleActions.logAnalytics.workspaceActions", "[]"]]);
    expect(generated.logAnalytics.workspaceActions).toEqual(permissionManifest(RULES).logAnalytics.workspaceActions);
    expect(generated.logAnalytics.workspaceActions).toEqual(["Microsoft.OperationalInsights/workspaces/read", "Microsoft.OperationalInsights/workspaces/sharedKeys/action"]);
    // none of it is in the ARM role granted at the subscriptions in scope
    for (const a of generated.logAnalytics.workspaceActions) expect(generated.read).not.toContain(a);
    expect(str(prop(definition.body, "properties.type"))).toBe("CustomRole");
    expect(arrayItems(prop(definition.body, "properties.assignableScopes") as string)).toEqual(["resourceGroup().id"]);
    // the workspace is an existing resource of this resource group, and the assignment is on it
    expect(la.text).toMatch(/resource workspace 'Microsoft\.OperationalInsights\/workspaces@2023-09-01' existing = \{\s*name: workspaceName\s*\}/);
    expect(prop(assignment.body, "scope")).toBe("workspace");
    expect(prop(assignment.body, "properties.roleDefinitionId")).toBe("subscriptionResourceId('Microsoft.Authorization/roleDefinitions', destinationRole.name)");
    expect(prop(assignment.body, "properties.principalId")).toBe("principalId");
    expect(la.vars.get("destinationRoleName")).toBe("'APIM Remediator Log Analytics destination (${roleNameSuffix})'");
  });

  it("main.bicep deploys it only when logAnalyticsWorkspaceId is set (and writes are granted), in the workspace's resource group, for the app identity", () => {
    expect(main.params.get("logAnalyticsWorkspaceId")?.default).toBe("''");
    expect(laModule?.type).toBe("modules/log-analytics-access.bicep");
    expect(laModule?.condition).toBe("!empty(logAnalyticsWorkspaceId) && grantWriteActions");
    expect(main.vars.get("logAnalyticsWorkspaceParts")).toBe("split(logAnalyticsWorkspaceId, '/')");
    expect(prop(laModule?.body ?? "{}", "scope")).toBe("resourceGroup(empty(logAnalyticsWorkspaceId) ? subscription().subscriptionId : logAnalyticsWorkspaceParts[2], empty(logAnalyticsWorkspaceId) ? rgName : logAnalyticsWorkspaceParts[4])");
    expect(prop(laModule?.body ?? "{}", "params.workspaceName")).toBe("empty(logAnalyticsWorkspaceId) ? '' : last(logAnalyticsWorkspaceParts)");
    expect(prop(laModule?.body ?? "{}", "params.principalId")).toBe("identity.outputs.appPrincipalId");
    expect(prop(laModule?.body ?? "{}", "params.roleNameSuffix")).toBe("environmentName");
    // and the app reads the same id as REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID
    expect(prop(main.modules.find((m) => m.symbol === "functionApp")?.body ?? "{}", "params.logAnalyticsWorkspaceId")).toBe("logAnalyticsWorkspaceId");
    const fa = file("modules/function-app.bicep");
    expect(prop(fa.vars.get("baseAppSettings") ?? "{}", "REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID")).toBe("logAnalyticsWorkspaceId");
  });
});

describe("infra: the custom role", () => {
  it("loads its actions from infra/role-actions.json, is a CustomRole with assignable scopes, and is assigned to the app identity at the scopes in scope", () => {
    for (const rel of ["modules/remediator-role.bicep", "management-group.bicep"]) {
      const f = file(rel);
      const role = only(f, "Microsoft.Authorization/roleDefinitions");
      expect(f.vars.get("roleActions"), rel).toMatch(/^loadJsonContent\('(\.\.\/)?role-actions\.json'\)$/);
      expect(str(prop(role.body, "properties.type"))).toBe("CustomRole");
      expect(prop(role.body, "properties.assignableScopes")).toBeDefined();
      expect(prop(role.body, "properties.permissions")).toContain("grantWriteActions ? union(roleActions.read, roleActions.write, optInWrites) : roleActions.read");
    }
    const main = file("main.bicep");
    const subs = main.modules.find((m) => m.symbol === "subscriptionAssignments");
    const rgs = main.modules.find((m) => m.symbol === "resourceGroupAssignments");
    expect(prop(subs?.body ?? "{}", "scope")).toBe("subscription(s)");
    expect(prop(rgs?.body ?? "{}", "scope")).toBe("resourceGroup(x.subscriptionId, x.resourceGroup)");
    for (const m of [subs, rgs]) expect(prop(m?.body ?? "{}", "params.principalId")).toBe("identity.outputs.appPrincipalId");
    for (const rel of ["modules/role-assignment.bicep", "modules/role-assignment-rg.bicep"]) {
      const a = only(file(rel), "Microsoft.Authorization/roleAssignments");
      expect(prop(a.body, "properties.roleDefinitionId")).toBe("subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionGuid)");
      expect(str(prop(a.body, "properties.principalType"))).toBe("ServicePrincipal");
    }
  });

  it("grants an opt-in rule's own writes (backends/write for backend-certificate-validation) only when ruleModes sets that rule to enforce", () => {
    const generated = JSON.parse(readFileSync(join(INFRA, "role-actions.json"), "utf8")) as { write: string[]; optIn: Record<string, string[]> };
    // backends/write is needed by the opt-in fix alone: it is not among the writes every enforce deployment gets
    expect(generated.write).not.toContain("Microsoft.ApiManagement/service/backends/write");
    expect(generated.optIn["backend-certificate-validation"]).toEqual(["Microsoft.ApiManagement/service/backends/write"]);
    // the gateway fixes write service/write, which the auto fixes need anyway
    expect(generated.optIn["gateway-tls-protocols"]).toEqual([]);
    expect(generated.optIn["gateway-weak-ciphers"]).toEqual([]);
    expect(generated.write).toContain("Microsoft.ApiManagement/service/write");
    for (const rel of ["modules/remediator-role.bicep", "management-group.bicep"]) {
      const f = file(rel);
      expect(f.params.get("ruleModes")?.default, rel).toBe("''");
      // REMEDIATOR_RULE_MODES separates pairs by commas, semicolons or spaces (src/common/config.ts): so does the template
      expect(f.vars.get("ruleModePairs"), rel).toBe("split(replace(replace(ruleModes, ';', ','), ' ', ','), ',')");
      expect(f.vars.get("optInWrites"), rel).toBe("flatten(map(filter(items(roleActions.optIn), r => contains(ruleModePairs, '${r.key}=enforce')), r => r.value))");
    }
    const config = readFileSync(join(process.cwd(), "src/common/config.ts"), "utf8");
    expect(config).toContain(".split(/[\\s,;]+/)");
    // main.bicep hands the deployment's rule modes to the role, the same string the app gets as REMEDIATOR_RULE_MODES
    const main = file("main.bicep");
    expect(prop(main.modules.find((m) => m.symbol === "role")?.body ?? "{}", "params.ruleModes")).toBe("ruleModes");
    expect(prop(main.modules.find((m) => m.symbol === "functionApp")?.body ?? "{}", "params.ruleModes")).toBe("ruleModes");
  });

  it("is assignable only where the remediator works: the target resource groups when listed, else the target subscriptions (locks/write goes no wider)", () => {
    const main = file("main.bicep");
    const role = main.modules.find((m) => m.symbol === "role")?.body ?? "{}";
    expect(prop(role, "params.assignableScopes")).toBe("empty(resourceGroupNames) ? map(subscriptionIds, s => '/subscriptions/${s}') : map(resourceGroupScopes, x => '/subscriptions/${x.subscriptionId}/resourceGroups/${x.resourceGroup}')");
    // and assigned at exactly those scopes: the subscriptions only when no resource group is listed
    expect(main.modules.find((m) => m.symbol === "subscriptionAssignments")?.condition).toBe("assignRoleAtTargets && empty(resourceGroupNames)");
    expect(main.modules.find((m) => m.symbol === "resourceGroupAssignments")?.condition).toBe("assignRoleAtTargets");
    const generated = JSON.parse(readFileSync(join(INFRA, "role-actions.json"), "utf8")) as { write: string[] };
    expect(generated.write).toContain("Microsoft.Authorization/locks/write");
  });

  it("every role assignment in infra/ names its principal type or is the deployer's", () => {
    for (const [rel, f] of parsed) {
      for (const r of f.resources.filter((x) => x.type === "Microsoft.Authorization/roleAssignments")) {
        if (prop(r.body, "properties.principalId") === "deployerPrincipalId") continue;
        expect(str(prop(r.body, "properties.principalType")), `${rel}: ${r.symbol}`).toBe("ServicePrincipal");
        expect(prop(r.body, "name"), `${rel}: ${r.symbol}`).toMatch(/^guid\(/);
      }
    }
  });
});
