/**
 * The offline scanner's inputs (DESIGN.md, "Formats shared by every part"):
 * ARM resource lists, ARM templates (nested and flat children, parameters,
 * variables, format(), symbolic names, nested deployments, locks) and
 * PowerShell-style exports, checked through the same engine the CLI uses.
 * Every fixture is written to a temp dir by the test itself.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { InputError, resourcesFromInput, snapshotsFromFiles, snapshotsFromResources } from "../../src/engine/offline.js";
import { detect } from "../../src/engine/scan.js";
import { DEFAULT_RULE_OPTIONS, selectRules, type Finding } from "../../src/remediations/index.js";

const dir = mkdtempSync(join(tmpdir(), "apim-offline-inputs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a fixture; objects are serialised as JSON, strings written as they are. */
function fixture(name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 1));
  return file;
}

function scan(files: string[], ruleIds: string[], options: Partial<typeof DEFAULT_RULE_OPTIONS> = {}): Finding[] {
  return detect(snapshotsFromFiles(files), selectRules(ruleIds), { ...DEFAULT_RULE_OPTIONS, ...options });
}

/** Compact `status resource-suffix` lines (resource id after the resource group, lowercase) for readable equality. */
function verdicts(findings: Finding[], ruleId: string): string[] {
  return findings
    .filter((f) => f.ruleId === ruleId)
    .map((f) => `${f.status} ${f.resourceId.replace(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ApiManagement\/service\//i, "").toLowerCase()}`)
    .sort();
}

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {}, isTTY: false });
  return { code, out, err };
}

const SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
const TEMPLATE_SUB = "00000000-0000-0000-0000-000000000000";
/** Template resources land in a resource group named after the file. */
const templateService = (file: string, name = "apim") => `/subscriptions/${TEMPLATE_SUB}/resourceGroups/${file}/providers/Microsoft.ApiManagement/service/${name}`;

const SUB = "11111111-2222-4333-8444-555555555555";
const SVC = `/subscriptions/${SUB}/resourceGroups/rg-apim/providers/Microsoft.ApiManagement/service/apim1`;

/** The service as a template declares it (a Developer SKU, a system identity, a current minimum API version). */
function templateServiceResource(name: string, extra: Record<string, unknown> = {}) {
  return {
    type: "Microsoft.ApiManagement/service",
    apiVersion: "2022-08-01",
    name,
    location: "[resourceGroup().location]",
    sku: { name: "Developer", capacity: 1 },
    identity: { type: "SystemAssigned" },
    properties: { publisherEmail: "api@contoso.com", publisherName: "Contoso", apiVersionConstraint: { minApiVersion: "2021-08-01" } },
    ...extra,
  };
}

const LOCK = { level: "CanNotDelete", notes: "Protects the gateway" };

describe("ARM resource list (the estate format)", () => {
  const list = [
    { id: SVC, name: "apim1", type: "Microsoft.ApiManagement/service", location: "westeurope", sku: { name: "Premium", capacity: 1 }, identity: { type: "SystemAssigned" }, properties: { apiVersionConstraint: { minApiVersion: "2021-08-01" } } },
    { id: `${SVC}/apis/echo`, name: "echo", type: "Microsoft.ApiManagement/service/apis", properties: { path: "echo", protocols: ["https", "http"], isCurrent: true } },
    { id: `${SVC}/apis/orders`, name: "orders", type: "Microsoft.ApiManagement/service/apis", properties: { path: "orders", protocols: ["https"], isCurrent: true } },
    { id: `${SVC}/namedValues/db-password`, name: "db-password", type: "Microsoft.ApiManagement/service/namedValues", properties: { displayName: "db-password", secret: true } },
    { id: `${SVC}/namedValues/region`, name: "region", type: "Microsoft.ApiManagement/service/namedValues", properties: { displayName: "region", secret: false, value: "westeurope" } },
    { id: `${SVC}/providers/Microsoft.Authorization/locks/no-delete`, name: "no-delete", type: "Microsoft.Authorization/locks", properties: LOCK },
  ];

  it("reads an array of ARM GET shapes with full child ids", () => {
    const file = fixture("estate.json", list);
    const { kind, resources } = resourcesFromInput(list, file);
    expect(kind).toBe("resource-list");
    expect(resources.map((r) => r.id)).toEqual(list.map((r) => r.id));
    const [snap] = snapshotsFromFiles([file]);
    expect(snap?.service.id).toBe(SVC);
    expect(snap?.serviceKnown).toBe(true);
    expect(snap?.apis.map((a) => a.name)).toEqual(["echo", "orders"]);
    expect(snap?.namedValues).toHaveLength(2);
    expect(snap?.locks.map((l) => l.name)).toEqual(["no-delete"]);

    const f = scan([file], ["api-https-only", "named-value-secrets-in-key-vault", "resource-lock", "managed-identity", "min-api-version"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim1/apis/echo", "pass apim1/apis/orders"]);
    expect(verdicts(f, "named-value-secrets-in-key-vault")).toEqual(["fail apim1/namedvalues/db-password"]);
    expect(verdicts(f, "resource-lock")).toEqual(["pass apim1"]);
    expect(verdicts(f, "managed-identity")).toEqual(["pass apim1"]);
    expect(verdicts(f, "min-api-version")).toEqual(["pass apim1"]);
  });

  it("accepts ARM's list envelope `{ value: [...] }`", () => {
    const file = fixture("envelope.json", { value: list });
    expect(verdicts(scan([file], ["api-https-only"]), "api-https-only")).toEqual(["fail apim1/apis/echo", "pass apim1/apis/orders"]);
  });

  it("groups children whose service is absent from the input under a stub, and judges only child-level rules", () => {
    const file = fixture("children-only.json", list.slice(1, 3));
    const [snap] = snapshotsFromFiles([file]);
    expect(snap?.serviceKnown).toBe(false);
    const f = scan([file], ["api-https-only", "managed-identity"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim1/apis/echo", "pass apim1/apis/orders"]);
    expect(verdicts(f, "managed-identity")).toEqual([]);
  });

  it("counts the same resource once when it is listed twice, in one file or across files (ids compare case-insensitively)", () => {
    const twice = [...list, { ...list[1], id: (list[1]?.id as string).toUpperCase() }];
    const a = fixture("twice.json", twice);
    const b = fixture("again.json", list.slice(0, 3));
    expect(verdicts(scan([a], ["api-https-only"]), "api-https-only")).toEqual(["fail apim1/apis/echo", "pass apim1/apis/orders"]);
    expect(verdicts(scan([a, b], ["api-https-only"]), "api-https-only")).toEqual(["fail apim1/apis/echo", "pass apim1/apis/orders"]);
  });

  it("judges the current API's policy even when a non-current revision's policy is listed after it", () => {
    const policy = (id: string, xml: string) => ({ id, type: "Microsoft.ApiManagement/service/apis/policies", name: "policy", properties: { format: "xml", value: xml } });
    const withBase = "<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>";
    const noBase = "<policies><inbound /><backend><forward-request /></backend><outbound /><on-error /></policies>";
    const entries = [list[0], list[1], policy(`${SVC}/apis/echo/policies/policy`, noBase), policy(`${SVC}/apis/echo;rev=2/policies/policy`, withBase)];
    const f = scan([fixture("revision-policy.json", entries)], ["policy-base-inheritance"]);
    // the revision's policy is its own (apiPolicies `echo;rev=2`, need revisionPolicies), judged on its own
    expect(verdicts(f, "policy-base-inheritance")).toEqual(["fail apim1/apis/echo/policies/policy", "pass apim1/apis/echo;rev=2/policies/policy"]);
  });

  it("reads property names case-insensitively, as ARM does", () => {
    const mixed = [
      { ID: SVC, Name: "apim1", TYPE: "Microsoft.ApiManagement/service", SKU: { NAME: "Developer" }, IDENTITY: { TYPE: "UserAssigned" }, PROPERTIES: { APIVERSIONCONSTRAINT: { MINAPIVERSION: "2019-01-01" } } },
      { id: `${SVC}/apis/echo`, type: "Microsoft.ApiManagement/service/apis", Properties: { PROTOCOLS: ["HTTP"] } },
      { id: `${SVC}/namedValues/k`, type: "Microsoft.ApiManagement/service/namedValues", properties: { Secret: "True", KeyVault: { SecretIdentifier: "https://kv.vault.azure.net/secrets/k" } } },
    ];
    const f = scan([fixture("mixed-case.json", mixed)], ["api-https-only", "managed-identity", "min-api-version", "named-value-secrets-in-key-vault"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim1/apis/echo"]);
    expect(verdicts(f, "managed-identity")).toEqual(["pass apim1"]);
    expect(verdicts(f, "min-api-version")).toEqual(["fail apim1"]);
    expect(verdicts(f, "named-value-secrets-in-key-vault")).toEqual(["pass apim1/namedvalues/k"]);
  });
});

describe("ARM templates", () => {
  const parameters = {
    apimName: { type: "string", defaultValue: "apim" },
    apiProtocols: { type: "string", defaultValue: "http" },
    lockLevel: { type: "string", defaultValue: "CanNotDelete", allowedValues: ["CanNotDelete", "ReadOnly"] },
  };

  it("reads nested child resources (relative type 'apis', name 'echo') with parameters and variables", () => {
    const template = {
      $schema: SCHEMA,
      contentVersion: "1.0.0.0",
      parameters,
      variables: { echoName: "echo", secretName: "[concat('db-', 'password')]" },
      resources: [
        templateServiceResource("[parameters('apimName')]", {
          resources: [
            { type: "apis", apiVersion: "2022-08-01", name: "[variables('echoName')]", dependsOn: ["[parameters('apimName')]"], properties: { path: "echo", protocols: ["[parameters('apiProtocols')]", "https"] } },
            { type: "apis", apiVersion: "2022-08-01", name: "orders", properties: { path: "orders", protocols: ["https"] } },
            { type: "namedValues", apiVersion: "2022-08-01", name: "[variables('secretName')]", properties: { displayName: "db-password", secret: true, value: "[parameters('apimName')]" } },
          ],
        }),
      ],
    };
    const file = fixture("nested.json", template);
    const { kind, resources } = resourcesFromInput(template, file);
    expect(kind).toBe("template");
    expect(resources.map((r) => `${r.type} ${r.id}`)).toEqual([
      `Microsoft.ApiManagement/service ${templateService("nested")}`,
      `Microsoft.ApiManagement/service/apis ${templateService("nested")}/apis/echo`,
      `Microsoft.ApiManagement/service/apis ${templateService("nested")}/apis/orders`,
      `Microsoft.ApiManagement/service/namedValues ${templateService("nested")}/namedValues/db-password`,
    ]);
    expect(resources[1]?.properties["protocols"]).toEqual(["http", "https"]);
    const f = scan([file], ["api-https-only", "named-value-secrets-in-key-vault", "managed-identity"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim/apis/echo", "pass apim/apis/orders"]);
    expect(f.find((x) => x.ruleId === "api-https-only" && x.status === "fail")?.resourceId).toBe(`${templateService("nested")}/apis/echo`);
    expect(verdicts(f, "named-value-secrets-in-key-vault")).toEqual(["fail apim/namedvalues/db-password"]);
    expect(verdicts(f, "managed-identity")).toEqual(["pass apim"]);
  });

  it("reads flat child resources named with concat(), format() and literal 'apim/echo'", () => {
    const template = {
      $schema: SCHEMA,
      contentVersion: "1.0.0.0",
      parameters,
      variables: { serviceName: "[parameters('apimName')]" },
      resources: [
        templateServiceResource("[variables('serviceName')]"),
        { type: "Microsoft.ApiManagement/service/apis", apiVersion: "2022-08-01", name: "[concat(parameters('apimName'), '/echo')]", properties: { path: "echo", protocols: ["http"] } },
        { type: "Microsoft.ApiManagement/service/apis", apiVersion: "2022-08-01", name: "[format('{0}/{1}', parameters('apimName'), 'orders')]", properties: { path: "orders", protocols: ["https"] } },
        { type: "Microsoft.ApiManagement/service/apis", apiVersion: "2022-08-01", name: "apim/legacy", properties: { path: "legacy", protocols: ["https", "ws"] } },
        { type: "Microsoft.ApiManagement/service/namedValues", apiVersion: "2022-08-01", name: "[concat(variables('serviceName'), '/kv-secret')]", properties: { displayName: "kv-secret", secret: true, keyVault: { secretIdentifier: "https://kv.vault.azure.net/secrets/x" } } },
      ],
    };
    const file = fixture("flat.json", template);
    expect(resourcesFromInput(template, file).resources.map((r) => r.id)).toEqual([
      templateService("flat"),
      `${templateService("flat")}/apis/echo`,
      `${templateService("flat")}/apis/orders`,
      `${templateService("flat")}/apis/legacy`,
      `${templateService("flat")}/namedValues/kv-secret`,
    ]);
    const f = scan([file], ["api-https-only", "named-value-secrets-in-key-vault"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim/apis/echo", "fail apim/apis/legacy", "pass apim/apis/orders"]);
    expect(verdicts(f, "named-value-secrets-in-key-vault")).toEqual(["pass apim/namedvalues/kv-secret"]);
  });

  it("counts a child declared both nested and flat once", () => {
    const template = {
      contentVersion: "1.0.0.0",
      parameters,
      resources: [
        templateServiceResource("[parameters('apimName')]", { resources: [{ type: "apis", name: "echo", properties: { protocols: ["http"] } }] }),
        { type: "Microsoft.ApiManagement/service/apis", name: "[concat(parameters('apimName'), '/echo')]", properties: { protocols: ["http"] } },
        { type: "Microsoft.ApiManagement/service/apis", name: "apim/ECHO", properties: { protocols: ["http"] } },
      ],
    };
    const f = scan([fixture("both.json", template)], ["api-https-only"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim/apis/echo"]);
  });

  it("keeps flat children with their service when the name parameter has no default value", () => {
    const template = {
      contentVersion: "1.0.0.0",
      parameters: { apimName: { type: "string" } },
      resources: [
        templateServiceResource("[parameters('apimName')]", { resources: [{ type: "apis", name: "nested", properties: { protocols: ["https"] } }] }),
        { type: "Microsoft.ApiManagement/service/apis", name: "[concat(parameters('apimName'), '/echo')]", properties: { protocols: ["http"] } },
        { type: "Microsoft.ApiManagement/service/apis", name: "[format('{0}/{1}', parameters('apimName'), 'orders')]", properties: { protocols: ["https"] } },
      ],
    };
    const snaps = snapshotsFromFiles([fixture("no-default.json", template)]);
    expect(snaps).toHaveLength(1);
    expect(snaps[0]?.serviceKnown).toBe(true);
    expect(snaps[0]?.service.name).toBe("[parameters('apimName')]");
    expect(snaps[0]?.apis.map((a) => a.name).sort()).toEqual(["echo", "nested", "orders"]);
  });

  it("reads symbolic-name templates (languageVersion 2.0, resources as an object) and skips `existing` resources", () => {
    const template = {
      $schema: SCHEMA,
      languageVersion: "2.0",
      contentVersion: "1.0.0.0",
      parameters,
      resources: {
        vault: { existing: true, type: "Microsoft.KeyVault/vaults", apiVersion: "2023-07-01", name: "kv-contoso" },
        apim: templateServiceResource("[parameters('apimName')]", { identity: { type: "None" } }),
        echo: { type: "Microsoft.ApiManagement/service/apis", apiVersion: "2022-08-01", name: "[format('{0}/{1}', parameters('apimName'), 'echo')]", dependsOn: ["apim"], properties: { path: "echo", protocols: ["https"] } },
        lock: { type: "Microsoft.Authorization/locks", apiVersion: "2020-05-01", scope: "[format('Microsoft.ApiManagement/service/{0}', parameters('apimName'))]", name: "apim-lock", dependsOn: ["apim"], properties: LOCK },
      },
    };
    const file = fixture("symbolic.json", template);
    expect(resourcesFromInput(template, file).resources.map((r) => r.type)).toEqual(["Microsoft.ApiManagement/service", "Microsoft.ApiManagement/service/apis", "Microsoft.Authorization/locks"]);
    const f = scan([file], ["api-https-only", "managed-identity", "resource-lock"]);
    expect(verdicts(f, "api-https-only")).toEqual(["pass apim/apis/echo"]);
    expect(verdicts(f, "managed-identity")).toEqual(["fail apim"]);
    expect(verdicts(f, "resource-lock")).toEqual(["pass apim"]);
  });

  it("reads nested Microsoft.Resources/deployments: inner templates, outer-scope parameters and parameters passed to a module", () => {
    const inner = {
      $schema: SCHEMA,
      contentVersion: "1.0.0.0",
      parameters: { serviceName: { type: "string" }, protocol: { type: "string", defaultValue: "https" } },
      resources: [
        templateServiceResource("[parameters('serviceName')]"),
        { type: "Microsoft.ApiManagement/service/apis", name: "[format('{0}/{1}', parameters('serviceName'), 'echo')]", properties: { protocols: ["[parameters('protocol')]"] } },
      ],
    };
    const template = {
      $schema: SCHEMA,
      contentVersion: "1.0.0.0",
      parameters,
      resources: [
        {
          // a Bicep module: inner scope, values passed in
          type: "Microsoft.Resources/deployments",
          apiVersion: "2022-09-01",
          name: "apim-module",
          properties: {
            mode: "Incremental",
            expressionEvaluationOptions: { scope: "inner" },
            parameters: { serviceName: { value: "[concat(parameters('apimName'), '-mod')]" }, protocol: { value: "[parameters('apiProtocols')]" } },
            template: inner,
          },
        },
        {
          // a classic nested template in the outer scope, itself nesting another deployment
          type: "Microsoft.Resources/deployments",
          apiVersion: "2022-09-01",
          name: "outer-scope",
          properties: {
            mode: "Incremental",
            template: {
              $schema: SCHEMA,
              contentVersion: "1.0.0.0",
              resources: [
                templateServiceResource("[parameters('apimName')]"),
                {
                  type: "Microsoft.Resources/deployments",
                  name: "apis",
                  properties: { mode: "Incremental", template: { contentVersion: "1.0.0.0", resources: [{ type: "Microsoft.ApiManagement/service/apis", name: "[concat(parameters('apimName'), '/orders')]", properties: { protocols: ["https"] } }] } },
                },
              ],
            },
          },
        },
      ],
    };
    const f = scan([fixture("deployments.json", template)], ["api-https-only", "managed-identity"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim-mod/apis/echo", "pass apim/apis/orders"]);
    expect(verdicts(f, "managed-identity")).toEqual(["pass apim", "pass apim-mod"]);
  });

  it("credits locks declared as extension resources (scope), as nested providers/locks and as flat service/providers/locks", () => {
    const service = (name: string, extra: Record<string, unknown> = {}) => templateServiceResource(name, extra);
    const template = {
      contentVersion: "1.0.0.0",
      parameters,
      resources: [
        service("apim-scope"),
        { type: "Microsoft.Authorization/locks", apiVersion: "2020-05-01", name: "lock1", scope: "[format('Microsoft.ApiManagement/service/{0}', 'apim-scope')]", properties: { level: "[parameters('lockLevel')]" } },
        service("apim-nested", { resources: [{ type: "providers/locks", apiVersion: "2016-09-01", name: "Microsoft.Authorization/lock2", properties: { level: "ReadOnly" } }] }),
        service("apim-flat"),
        { type: "Microsoft.ApiManagement/service/providers/locks", apiVersion: "2016-09-01", name: "[concat('apim-flat', '/Microsoft.Authorization/lock3')]", properties: LOCK },
        service("apim-resourceid"),
        { type: "Microsoft.Authorization/locks", apiVersion: "2020-05-01", name: "lock4", scope: "[resourceId('Microsoft.ApiManagement/service', 'apim-resourceid')]", properties: LOCK },
        service("apim-unlocked"),
        { type: "Microsoft.Authorization/locks", apiVersion: "2020-05-01", name: "notes-only", scope: "Microsoft.ApiManagement/service/apim-unlocked", properties: { level: "NotSpecified" } },
      ],
    };
    const f = scan([fixture("locks.json", template)], ["resource-lock"]);
    expect(verdicts(f, "resource-lock")).toEqual(["fail apim-unlocked", "pass apim-flat", "pass apim-nested", "pass apim-resourceid", "pass apim-scope"]);
    expect(f.find((x) => x.resourceId.endsWith("/apim-nested"))?.message).toMatch(/ReadOnly lock 'lock2'/);
  });

  it("credits a resource-group lock in the same template to every service in it", () => {
    const template = { contentVersion: "1.0.0.0", resources: [templateServiceResource("a"), templateServiceResource("b"), { type: "Microsoft.Authorization/locks", name: "rg-lock", properties: LOCK }] };
    expect(verdicts(scan([fixture("rg-lock.json", template)], ["resource-lock"]), "resource-lock")).toEqual(["pass a", "pass b"]);
  });

  it("answers resource-lock `unknown` when the input holds no locks at all (they may exist outside the template)", () => {
    const f = scan([fixture("no-locks.json", { contentVersion: "1.0.0.0", resources: [templateServiceResource("apim")] })], ["resource-lock"]);
    expect(f.map((x) => [x.status, x.message])).toEqual([["unknown", expect.stringMatching(/no locks data/)]]);
  });

  it("answers `unknown` for values it cannot evaluate (reference(), parameters without a default)", () => {
    const template = {
      contentVersion: "1.0.0.0",
      parameters: { ...parameters, isSecret: { type: "bool" }, minVersion: { type: "string" } },
      resources: [
        templateServiceResource("apim", { identity: { type: "[reference('identity-module').outputs.type.value]" }, properties: { apiVersionConstraint: { minApiVersion: "[parameters('minVersion')]" } } }),
        { type: "Microsoft.ApiManagement/service/apis", name: "apim/echo", properties: { protocols: "[reference('settings').protocols]" } },
        { type: "Microsoft.ApiManagement/service/apis", name: "apim/orders", properties: { protocols: ["[reference('settings').protocol]"] } },
        { type: "Microsoft.ApiManagement/service/namedValues", name: "apim/maybe-secret", properties: { secret: "[parameters('isSecret')]", value: "x" } },
        { type: "Microsoft.Authorization/locks", name: "lock", scope: "Microsoft.ApiManagement/service/apim", properties: { level: "[reference('lock-settings').level]" } },
      ],
    };
    const f = scan([fixture("unresolvable.json", template)], ["api-https-only", "named-value-secrets-in-key-vault", "managed-identity", "min-api-version", "resource-lock"]);
    expect(verdicts(f, "api-https-only")).toEqual(["unknown apim/apis/echo", "unknown apim/apis/orders"]);
    expect(verdicts(f, "named-value-secrets-in-key-vault")).toEqual(["unknown apim/namedvalues/maybe-secret"]);
    expect(verdicts(f, "managed-identity")).toEqual(["unknown apim"]);
    expect(verdicts(f, "min-api-version")).toEqual(["unknown apim"]);
    expect(verdicts(f, "resource-lock")).toEqual(["unknown apim"]);
  });

  it("reads template keys case-insensitively", () => {
    const template = {
      ContentVersion: "1.0.0.0",
      Parameters: { ApimName: { Type: "string", DefaultValue: "apim" } },
      Resources: [{ Type: "Microsoft.ApiManagement/service", Name: "[Parameters('apimname')]", Sku: { Name: "Developer" }, Properties: {}, Resources: [{ Type: "apis", Name: "echo", Properties: { Protocols: ["HTTP"] } }] }],
    };
    expect(verdicts(scan([fixture("case.json", template)], ["api-https-only"]), "api-https-only")).toEqual(["fail apim/apis/echo"]);
  });
});

describe("availability zones", () => {
  // ARM returns a service's zones top-level, beside sku (2024-05-01 ApiManagementServiceResource.zones); templates declare them there too
  it("keeps a service's top-level zones in templates, resource lists and exports, so zone-redundancy judges them offline", () => {
    const template = { $schema: SCHEMA, contentVersion: "1.0.0.0", resources: [templateServiceResource("apim", { sku: { name: "Premium", capacity: 2 }, zones: ["1", "2"] })] };
    expect(verdicts(scan([fixture("zones-template.json", template)], ["zone-redundancy"]), "zone-redundancy")).toEqual(["pass apim"]);
    const pinned = [{ id: SVC, name: "apim1", type: "Microsoft.ApiManagement/service", location: "westeurope", sku: { name: "Premium", capacity: 1 }, zones: ["1"], properties: {} }];
    expect(verdicts(scan([fixture("zones-list.json", pinned)], ["zone-redundancy"]), "zone-redundancy")).toEqual(["fail apim1"]);
    const exported = { ResourceId: SVC, Name: "apim1", ResourceType: "Microsoft.ApiManagement/service", Location: "westeurope", Sku: { Name: "Premium", Capacity: 3 }, Zones: ["1", "2", "3"], Properties: {} };
    expect(verdicts(scan([fixture("zones-export.json", exported)], ["zone-redundancy"]), "zone-redundancy")).toEqual(["pass apim1"]);
  });
});

describe("PowerShell-style exports", () => {
  const psService = (name: string, extra: Record<string, unknown>, children: unknown[]) => ({
    ResourceId: `/subscriptions/${SUB}/resourceGroups/rg-ps/providers/Microsoft.ApiManagement/service/${name}`,
    Id: `/subscriptions/${SUB}/resourceGroups/rg-ps/providers/Microsoft.ApiManagement/service/${name}`,
    Name: name,
    ResourceName: name,
    ResourceType: "Microsoft.ApiManagement/service",
    Type: "Microsoft.ApiManagement/service",
    Location: "westeurope",
    Kind: null,
    Tags: null,
    ...extra,
    resources: children,
  });
  const psChild = (service: string, path: string, type: string, properties: Record<string, unknown>) => ({
    ResourceId: `/subscriptions/${SUB}/resourceGroups/rg-ps/providers/Microsoft.ApiManagement/service/${service}/${path}`,
    Name: path.split("/").pop(),
    ResourceType: type,
    Identity: null,
    Sku: null,
    Properties: properties,
  });

  const exported = [
    psService("apim-ps", { Sku: { Name: "Premium", Capacity: 1 }, Identity: { Type: "SystemAssigned", PrincipalId: "p" }, Properties: { ApiVersionConstraint: { MinApiVersion: "2021-08-01" } } }, [
      psChild("apim-ps", "apis/echo", "Microsoft.ApiManagement/service/apis", { Path: "echo", ServiceUrl: "https://echo.contoso.com", Protocols: ["Https", "Http"], IsCurrent: true }),
      psChild("apim-ps", "namedValues/plain", "Microsoft.ApiManagement/service/namedValues", { DisplayName: "plain", Secret: false }),
      psChild("apim-ps", "namedValues/token", "Microsoft.ApiManagement/service/namedValues", { DisplayName: "token", Secret: true }),
      psChild("apim-ps", "backends/legacy", "Microsoft.ApiManagement/service/backends", { Url: "http://legacy.contoso.com", Protocol: "http" }),
    ]),
    psService("apim-consumption", { Sku: { Name: "Consumption", Capacity: 0 }, Identity: null, Properties: {} }, []),
  ];

  it("reads PascalCase keys (ResourceId, ResourceType, Properties, Sku, Identity) and children in resources[]", () => {
    const file = fixture("export.json", exported);
    const { kind, resources } = resourcesFromInput(exported, file);
    expect(kind).toBe("powershell-export");
    expect(resources).toHaveLength(6);
    const snaps = snapshotsFromResources(resources);
    expect(snaps.map((s) => s.service.name)).toEqual(["apim-ps", "apim-consumption"]);
    expect(snaps[0]?.apis).toHaveLength(1);
    expect(snaps[0]?.namedValues).toHaveLength(2);
    expect(snaps[0]?.backends).toHaveLength(1);

    const f = scan([file], ["api-https-only", "named-value-secrets-in-key-vault", "managed-identity", "min-api-version", "backend-https"]);
    expect(verdicts(f, "api-https-only")).toEqual(["fail apim-ps/apis/echo"]);
    expect(verdicts(f, "named-value-secrets-in-key-vault")).toEqual(["fail apim-ps/namedvalues/token"]);
    expect(verdicts(f, "managed-identity")).toEqual(["fail apim-consumption", "pass apim-ps"]);
    // min-api-version does not apply to the Consumption SKU, read from `Sku.Name`
    expect(verdicts(f, "min-api-version")).toEqual(["pass apim-ps"]);
    expect(verdicts(f, "backend-https")).toEqual(["fail apim-ps/backends/legacy", "pass apim-ps/apis/echo"]);
  });

  it("accepts an export object whose resources[] holds the entries, and a single exported resource", () => {
    expect(resourcesFromInput({ resources: exported }, "wrapped.json").resources).toHaveLength(6);
    expect(resourcesFromInput(exported[1], "single.json").resources.map((r) => r.name)).toEqual(["apim-consumption"]);
  });
});

describe("bad input", () => {
  function deepTemplate(levels: number): Record<string, unknown> {
    let t: Record<string, unknown> = { contentVersion: "1.0.0.0", resources: [templateServiceResource("apim")] };
    for (let i = 0; i < levels; i++) t = { contentVersion: "1.0.0.0", resources: [{ type: "Microsoft.Resources/deployments", name: `d${i}`, properties: { template: t } }] };
    return t;
  }
  function deepExport(levels: number): unknown[] {
    let kids: unknown[] = [];
    for (let i = 0; i < levels; i++) kids = [{ ResourceId: `${SVC}/apis/a${i}`, ResourceType: "Microsoft.ApiManagement/service/apis", resources: kids }];
    return kids;
  }

  const cases: Array<[string, string, unknown, RegExp]> = [
    ["not JSON", "not-json.json", "apim: yes\nlocks: []\n", /not valid JSON/],
    ["truncated JSON", "truncated.json", JSON.stringify([{ id: SVC, type: "Microsoft.ApiManagement/service" }]).slice(0, 40), /not valid JSON/],
    ["an empty file", "empty.json", "", /not valid JSON/],
    ["a JSON string", "string.json", JSON.stringify("Microsoft.ApiManagement/service"), /expected an ARM resource list \(JSON array\), an ARM template or a PowerShell-style export/],
    ["a JSON number", "number.json", "42", /expected an ARM resource list/],
    ["JSON null", "null.json", "null", /expected an ARM resource list/],
    ["an object that is neither a template nor a list", "object.json", { apis: [{ name: "echo" }], services: {} }, /expected an ARM resource list/],
    ["an array without ARM resources", "numbers.json", [1, 2, { name: "echo" }], /no entry has an 'id' and a 'type'/],
    ["templates nested beyond the depth limit", "deep-template.json", deepTemplate(60), /nested too deeply/],
    ["export children nested beyond the depth limit", "deep-export.json", deepExport(60), /nested too deeply/],
  ];

  it.each(cases)("%s -> InputError: one line naming the file", (_what, name, content, message) => {
    const file = fixture(name, content);
    let error: unknown;
    try {
      snapshotsFromFiles([file]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    const text = (error as Error).message;
    expect(text.startsWith(`${file}: `)).toBe(true);
    expect(text).toMatch(message);
    expect(text).not.toContain("\n");
  });

  it.each(cases)("%s -> the CLI exits 2 with one line on stderr and nothing on stdout", async (_what, name, content) => {
    const file = fixture(`cli-${name}`, content);
    const r = await cli(["scan", "--input", file, "--format", "json"]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err.endsWith("\n")).toBe(true);
    expect(r.err.trimEnd().split("\n")).toHaveLength(1);
    expect(r.err).toContain(file);
  });

  it("names the bad file when it is one of several inputs", async () => {
    const good = fixture("good.json", [{ id: SVC, type: "Microsoft.ApiManagement/service", properties: {} }]);
    const bad = fixture("bad-second.json", "{");
    const r = await cli(["scan", "--input", good, "--input", bad]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`apim-remediator: ${bad}: not valid JSON (${errorOf("{")})\n`);
  });

  it("reports a missing file and a directory as unreadable (exit 2)", async () => {
    const missing = join(dir, "does-not-exist.json");
    const folder = join(dir, "a-directory.json");
    mkdirSync(folder);
    for (const f of [missing, folder]) {
      const r = await cli(["scan", "--input", f]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(new RegExp(`^apim-remediator: ${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: cannot read \\((ENOENT|EISDIR)\\)\\n$`));
    }
  });

  it("accepts templates nested up to the limit", () => {
    expect(snapshotsFromFiles([fixture("deep-ok.json", deepTemplate(30))]).map((s) => s.service.name)).toEqual(["apim"]);
  });
});

describe("the CLI on offline inputs", () => {
  it("exits 1 when a template has failures and 0 when it has none", async () => {
    const bad = fixture("cli-http.json", { contentVersion: "1.0.0.0", resources: [templateServiceResource("apim", { resources: [{ type: "apis", name: "echo", properties: { protocols: ["http"] } }] })] });
    const good = fixture("cli-https.json", { contentVersion: "1.0.0.0", resources: [templateServiceResource("apim", { resources: [{ type: "apis", name: "echo", properties: { protocols: ["https"] } }] })] });
    const failing = await cli(["scan", "--input", bad, "--rules", "api-https-only", "--format", "json"]);
    expect(failing.code).toBe(1);
    expect(failing.err).toBe("");
    const { findings } = JSON.parse(failing.out) as { findings: Finding[] };
    expect(findings).toEqual([{ ruleId: "api-https-only", resourceId: `${templateService("cli-http")}/apis/echo`, status: "fail", severity: "high", message: expect.any(String), action: "auto" }]);
    const passing = await cli(["scan", "--input", good, "--rules", "api-https-only"]);
    expect(passing.code).toBe(0);
    expect(passing.err).toBe("");
  });
});

function errorOf(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message.split("\n")[0] as string;
  }
  return "";
}
