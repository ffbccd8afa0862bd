/**
 * The estate-scale deployment (issue 19, REMEDIATOR_MANAGEMENT_GROUPS in Bicep): infra/management-group.bicep is a
 * management-group entry point that defines the custom role once (Azure allows one management group in a custom
 * role's assignableScopes), assigns it at each management group in scope, and gives each listed subscription the
 * Event Grid system topic and subscription main.bicep gives its target subscriptions, with the same names and wiring.
 * main.bicep hands the same groups and the discovery mode to the app. Checked structurally (no Bicep CLI here).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/common/config.js";
import { arrayItems, INFRA, objectEntries, only, parseBicep, prop, str } from "./bicep.js";

const mg = parseBicep("management-group.bicep");
const main = parseBicep("main.bicep");
const fa = parseBicep("modules/function-app.bicep");
const assignmentModule = parseBicep("modules/role-assignment-mg.bicep");
const subEvents = parseBicep("modules/subscription-events.bicep");
const generated = JSON.parse(readFileSync(join(INFRA, "role-actions.json"), "utf8")) as { read: string[]; write: string[] };
const moduleOf = (f: typeof mg, symbol: string) => {
  const m = f.modules.find((x) => x.symbol === symbol);
  if (!m) throw new Error(`${f.path}: no module ${symbol}`);
  return m;
};
const params = (body: string) => new Map(objectEntries(prop(body, "params") ?? "{}"));
const readme = readFileSync(join(process.cwd(), "README.md"), "utf8");
const deploySection = readme.slice(readme.indexOf("## Deploy"), readme.indexOf("## Performance"));
const operations = readFileSync(join(process.cwd(), "docs/operations.md"), "utf8");

describe("infra: management-group.bicep, the estate-scale entry point", () => {
  it("is deployed at a management group and takes the management groups and the subscriptions below them as parameters", () => {
    expect(mg.targetScope).toBe("managementGroup");
    expect(mg.params.get("managementGroupIds")).toMatchObject({ type: "array", default: "[]" });
    expect(mg.params.get("subscriptionIds")).toMatchObject({ type: "array", default: "[]" });
    // empty list: the deploying group itself (what the template did before it took a list)
    expect(mg.vars.get("groups")).toBe("empty(managementGroupIds) ? [managementGroup().name] : managementGroupIds");
    for (const p of ["environmentName", "principalId"]) expect(mg.params.get(p)?.default, p).toBeUndefined();
  });

  it("defines the role once, assignable at the deploying management group only (Azure's one-group limit), with the reads Resource Graph discovery needs", () => {
    const role = only(mg, "Microsoft.Authorization/roleDefinitions");
    expect(arrayItems(prop(role.body, "properties.assignableScopes") as string)).toEqual(["managementGroup().id"]);
    expect(mg.declarations.filter((d) => d.type === "Microsoft.Authorization/roleDefinitions")).toHaveLength(1);
    expect(role.loop).toBe(false);
    const perms = arrayItems(prop(role.body, "properties.permissions") as string);
    expect(perms.map((p) => prop(p, "actions"))).toEqual(["grantWriteActions ? union(roleActions.read, roleActions.write, optInWrites) : roleActions.read"]);
    expect(mg.vars.get("roleActions")).toBe("loadJsonContent('role-actions.json')");
    // the reads (granted with and without writes) carry Resource Graph and management group read
    expect(generated.read).toContain("Microsoft.ResourceGraph/resources/read");
    expect(generated.read).toContain("Microsoft.Management/managementGroups/read");
  });

  it("assigns the role to the app's identity at every management group in the list, at that group's scope", () => {
    const m = moduleOf(mg, "assignments");
    expect(m.type).toBe("modules/role-assignment-mg.bicep");
    expect(m.loop).toBe(true);
    expect(m.condition).toBeUndefined();
    expect(mg.text).toMatch(/module assignments 'modules\/role-assignment-mg\.bicep' = \[for g in groups: \{/);
    expect(prop(m.body, "scope")).toBe("managementGroup(g)");
    expect(prop(m.body, "name")).toBe("'remediator-role-${take(uniqueString(g, environmentName), 8)}'");
    expect(Object.fromEntries(params(m.body))).toEqual({ roleDefinitionId: "role.id", principalId: "principalId" });
    // the module: a management-group-scope assignment of exactly that role to a service principal
    expect(assignmentModule.targetScope).toBe("managementGroup");
    const a = only(assignmentModule, "Microsoft.Authorization/roleAssignments");
    expect(prop(a.body, "scope")).toBeUndefined();
    expect(prop(a.body, "properties.roleDefinitionId")).toBe("roleDefinitionId");
    expect(prop(a.body, "properties.principalId")).toBe("principalId");
    expect(str(prop(a.body, "properties.principalType"))).toBe("ServicePrincipal");
    // the name a role-only deployment of the earlier template gave the same assignment: re-deploying keeps it
    expect(prop(a.body, "name")).toBe("guid(managementGroup().id, principalId, last(split(roleDefinitionId, '/')))");
    expect(mg.vars.get("roleGuid")).toBe("guid(managementGroup().id, 'apim-remediator-role', roleName)");
  });

  it("creates the Event Grid system topic and subscription in every listed subscription, as main.bicep does for its targets", () => {
    const m = moduleOf(mg, "events");
    expect(m.type).toBe("modules/subscription-events.bicep");
    expect(mg.text).toMatch(/module events 'modules\/subscription-events\.bicep' = \[for s in subscriptionIds: if \(deployEvents\) \{/);
    expect(prop(m.body, "scope")).toBe("subscription(s)");
    expect(mg.vars.get("deployEvents")).toBe("!empty(functionAppId)");
    const p = params(m.body);
    // the same names as main.bicep: a subscription both templates reach keeps one topic (one is allowed per subscription)
    const mainEvents = moduleOf(main, "events");
    expect(p.get("systemTopicName")).toBe("'evgt-apimrem-${take(uniqueString(s, environmentName), 8)}'");
    expect(prop(mainEvents.body, "params.systemTopicName")).toContain("'evgt-apimrem-${take(uniqueString(s, environmentName), 8)}'");
    expect(str(mg.vars.get("deadLetterContainerName"))).toBe(str(main.vars.get("deadLetterContainerName")));
    expect(mg.params.get("eventsResourceGroupName")?.default).toBe("'rg-${environmentName}-events'");
    expect(main.vars.get("rgName")).toContain("'rg-${environmentName}'");
    expect(main.vars.get("eventsRgName")).toContain("'${rgName}-events'");
    expect(objectEntries(mg.vars.get("tags") as string)).toEqual(objectEntries(main.vars.get("tags") as string));
    expect(p.get("existingSystemTopic")).toBe("contains(existingSystemTopics, s) ? existingSystemTopics[s] : ''");
    // the events drop the remediator's own changes and dead-letter with the events identity into the app's storage
    expect(Object.fromEntries([...p].filter(([k]) => ["remediatorPrincipalId", "functionAppId", "eventsIdentityId", "deadLetterStorageAccountId"].includes(k)))).toEqual({
      remediatorPrincipalId: "principalId",
      functionAppId: "functionAppId",
      eventsIdentityId: "eventsIdentityId",
      deadLetterStorageAccountId: "deadLetterStorageAccountId",
    });
    // which main.bicep outputs: the operator copies them across
    expect(main.outputs.get("AZURE_FUNCTION_APP_ID")?.value).toBe("functionApp.outputs.id");
    expect(main.outputs.get("REMEDIATOR_PRINCIPAL_ID")?.value).toBe("identity.outputs.appPrincipalId");
    expect(main.outputs.get("REMEDIATOR_EVENTS_IDENTITY_ID")?.value).toBe("identity.outputs.eventsIdentityId");
    expect(main.outputs.get("STORAGE_ACCOUNT_ID")?.value).toBe("storage.outputs.id");
    expect(prop(mainEvents.body, "params.eventsIdentityId")).toBe("identity.outputs.eventsIdentityId");
    expect(prop(mainEvents.body, "params.deadLetterStorageAccountId")).toBe("storage.outputs.id");
  });

  it("per subscription: the events resource group (unless a topic exists), then the shared resource-events module in it with every parameter main.bicep passes", () => {
    expect(subEvents.targetScope).toBe("subscription");
    const rg = only(subEvents, "Microsoft.Resources/resourceGroups");
    expect(rg.condition).toBe("!reuse");
    expect(prop(rg.body, "name")).toBe("resourceGroupName");
    const inner = moduleOf(subEvents, "events");
    expect(inner.type).toBe("resource-events.bicep");
    expect(prop(inner.body, "scope")).toBe("resourceGroup(reuse ? split(existingSystemTopic, '/')[0] : resourceGroupName)");
    expect(prop(inner.body, "dependsOn")).toBe("[rg]");
    const passed = params(inner.body);
    expect(passed.get("createSystemTopic")).toBe("!reuse");
    expect(passed.get("subscriptionId")).toBe("subscription().subscriptionId");
    // the same parameters main.bicep's events module sets, no fewer
    const fromMain = [...params(moduleOf(main, "events").body).keys()].sort();
    expect([...passed.keys()].sort()).toEqual(fromMain);
  });

  it("documents every parameter", () => {
    for (const f of [mg, assignmentModule]) {
      for (const [name, p] of f.params) {
        if (f === assignmentModule && name === "principalId") continue;
        expect(p.decorators.some((d) => d.startsWith("@description(")), `${f.path}: ${name}`).toBe(true);
      }
    }
    // and the operator's guide names the ones an operator sets
    for (const name of ["managementGroupIds", "subscriptionIds", "functionAppId", "eventsIdentityId", "deadLetterStorageAccountId", "principalId"]) expect(operations, name).toContain(`\`${name}\``);
  });
});

describe("infra: REMEDIATOR_MANAGEMENT_GROUPS and REMEDIATOR_DISCOVERY in the app settings", () => {
  const settings = new Map(objectEntries(fa.vars.get("baseAppSettings") as string));
  const functionApp = moduleOf(main, "functionApp");

  it("main.bicep takes the management groups (default empty) and the discovery mode, and the app gets them", () => {
    expect(main.params.get("managementGroupIds")).toMatchObject({ type: "string", default: "''" });
    expect(main.params.get("discovery")).toMatchObject({ type: "string", default: "'resource-graph'" });
    expect(main.params.get("discovery")?.decorators).toContain("@allowed(['resource-graph', 'arm'])");
    expect(main.vars.get("managementGroupList")).toBe("empty(managementGroupIds) ? [] : split(replace(managementGroupIds, ' ', ''), ',')");
    expect(prop(functionApp.body, "params.managementGroups")).toBe("managementGroupList");
    expect(prop(functionApp.body, "params.discovery")).toBe("discovery");
    expect(settings.get("REMEDIATOR_MANAGEMENT_GROUPS")).toBe("join(managementGroups, ',')");
    expect(settings.get("REMEDIATOR_DISCOVERY")).toBe("discovery");
    // with management groups, no subscription list narrows their scope
    expect(prop(functionApp.body, "params.subscriptionIds")).toBe("scanAllVisibleSubscriptions || !empty(managementGroupList) ? [] : subscriptionIds");
    const azd = JSON.parse(readFileSync(join(INFRA, "main.parameters.json"), "utf8")) as { parameters: Record<string, { value: string }> };
    expect(azd.parameters["managementGroupIds"]?.value).toBe("${REMEDIATOR_MANAGEMENT_GROUPS}");
    expect(azd.parameters["discovery"]?.value).toBe("${REMEDIATOR_DISCOVERY=resource-graph}");
  });

  it("every value the templates can set is one the app accepts", () => {
    for (const v of ["resource-graph", "arm"]) expect(loadConfig({ REMEDIATOR_DISCOVERY: v }).discovery).toBe(v);
    // join(split('contoso-prod, contoso-dev')) as main.bicep builds it, and the empty default
    expect(loadConfig({ REMEDIATOR_MANAGEMENT_GROUPS: "contoso-prod,contoso-dev" }).managementGroups).toEqual(["contoso-prod", "contoso-dev"]);
    expect(loadConfig({ REMEDIATOR_MANAGEMENT_GROUPS: "" }).managementGroups).toEqual([]);
    expect(loadConfig({ REMEDIATOR_DISCOVERY: "" }).discovery).toBe("resource-graph");
  });
});

describe("docs: deploying at management-group scope", () => {
  it("README's Deploy section says how, what the deployer needs and what the app needs", () => {
    for (const topic of ["az deployment mg create", "infra/management-group.bicep", "managementGroupIds", "subscriptionIds", "az graph query", "Owner", "User Access Administrator", "Microsoft.ResourceGraph/resources/read", "Microsoft.Management/managementGroups/read", "REMEDIATOR_MANAGEMENT_GROUPS"])
      expect(deploySection, topic).toContain(topic);
  });

  it("the operator's guide lists the settings with the defaults the app applies", () => {
    const defaults = loadConfig({});
    const row = (name: string) => operations.split("\n").find((l) => l.startsWith(`| \`${name}\``)) ?? "";
    expect(row("REMEDIATOR_MANAGEMENT_GROUPS")).toMatch(/`managementGroupIds`/);
    expect(row("REMEDIATOR_DISCOVERY")).toMatch(/`discovery`/);
    expect(row("REMEDIATOR_DISCOVERY")).toMatch(new RegExp(`\\| \`${defaults.discovery}\` \\|$`));
    expect(row("REMEDIATOR_FULL_SWEEP_HOURS")).toMatch(new RegExp(`\\| \`${defaults.fullSweepHours}\` \\|$`));
    expect(row("REMEDIATOR_CERTIFICATE_EXPIRY_DAYS")).toMatch(new RegExp(`\\| \`${defaults.certificateExpiryDays}\` \\|$`));
    expect(defaults).toMatchObject({ discovery: "resource-graph", fullSweepHours: 24, certificateExpiryDays: 30, managementGroups: [] });
  });
});
