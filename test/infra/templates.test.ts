/**
 * Structural checks of the Bicep in infra/ (no Bicep CLI here; `npm run lint:infra` builds and lints
 * where one is installed): every file parses, modules resolve locally, resource types and API versions
 * are the expected ones, and the security facts hold: no keys, shared keys off, Entra-only telemetry,
 * no broad roles, the Key Vault grant constrained to Key Vault Secrets User.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { BUILT_IN_ROLES, FORBIDDEN_ROLES } from "../../src/azure/permissions.js";
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

  it("assigns no broad role: no Owner, Contributor or User Access Administrator, no wildcard actions", () => {
    for (const id of Object.values(FORBIDDEN_ROLES)) expect(allText.toLowerCase()).not.toContain(id);
    for (const [rel, f] of parsed) {
      for (const r of f.resources.filter((x) => x.type === "Microsoft.Authorization/roleDefinitions")) {
        const perms = arrayItems(prop(r.body, "properties.permissions") as string);
        for (const p of perms) {
          expect(prop(p, "actions"), rel).toMatch(/roleActions\.read/);
          expect(prop(p, "dataActions"), rel).toBe("[]");
        }
      }
    }
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
  const ids = Object.fromEntries(objectEntries(kv.vars.get("roles") as string).map(([k, v]) => [k, str(v)]));
  const assignments = kv.resources.filter((r) => r.type === "Microsoft.Authorization/roleAssignments");
  const byRole = (name: string) => assignments.find((r) => (prop(r.body, "properties.roleDefinitionId") ?? "").includes(`roles.${name})`));

  it("uses the built-in role ids", () => {
    expect(ids).toEqual({
      keyVaultSecretsOfficer: BUILT_IN_ROLES.keyVaultSecretsOfficer,
      keyVaultSecretsUser: BUILT_IN_ROLES.keyVaultSecretsUser,
      roleBasedAccessControlAdministrator: BUILT_IN_ROLES.roleBasedAccessControlAdministrator,
      reader: BUILT_IN_ROLES.reader,
    });
  });

  it("gives the app Key Vault Secrets Officer on the target vault (not the subscription)", () => {
    const officer = byRole("keyVaultSecretsOfficer");
    expect(officer?.condition).toBeUndefined();
    expect(prop(officer?.body ?? "{}", "scope")).toBe("vault");
  });

  it("constrains its RBAC Administrator assignment to Key Vault Secrets User, for write and delete (ABAC 2.0)", () => {
    const admin = byRole("roleBasedAccessControlAdministrator");
    expect(admin?.condition).toBe("grantKeyVaultAccess");
    expect(prop(admin?.body ?? "{}", "scope")).toBe("vault");
    expect(str(prop(admin?.body ?? "{}", "properties.conditionVersion"))).toBe("2.0");
    expect(prop(admin?.body ?? "{}", "properties.condition")).toBe("grantCondition");
    const condition = (kv.vars.get("grantCondition") as string).replaceAll("${roles.keyVaultSecretsUser}", BUILT_IN_ROLES.keyVaultSecretsUser).replace(/\\'/g, "'");
    const user = BUILT_IN_ROLES.keyVaultSecretsUser;
    expect(condition).toContain("!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})");
    expect(condition).toContain(`@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${user}}`);
    expect(condition).toContain("!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})");
    expect(condition).toContain(`@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${user}}`);
    // exactly one role id appears in it: Key Vault Secrets User
    expect(new Set(condition.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi))).toEqual(new Set([user]));
    // the remediation assigns exactly that role with principalType ServicePrincipal (what the condition also requires)
    const fix = readFileSync(join(process.cwd(), "src/remediations/fixes/key-vault.ts"), "utf8");
    expect(fix).toContain(`"${user}"`);
    expect(fix).toMatch(/principalType: "ServicePrincipal"/);
  });

  it("with grants off, gives Reader instead so the manual grants can be checked", () => {
    const reader = byRole("reader");
    expect(reader?.condition).toBe("!grantKeyVaultAccess");
    expect(prop(reader?.body ?? "{}", "scope")).toBe("vault");
  });

  it("a vault it creates uses RBAC, soft delete and purge protection", () => {
    const vault = only(file("modules/key-vault.bicep"), "Microsoft.KeyVault/vaults");
    expect(prop(vault.body, "properties.enableRbacAuthorization")).toBe("true");
    expect(prop(vault.body, "properties.enableSoftDelete")).toBe("true");
    expect(prop(vault.body, "properties.enablePurgeProtection")).toBe("true");
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
      expect(prop(role.body, "properties.permissions")).toContain("grantWriteActions ? concat(roleActions.read, roleActions.write) : roleActions.read");
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
