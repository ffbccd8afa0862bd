/**
 * Offline inputs hold the data issue 17's rules read: operations, revision policies, tenant gatewayAccess, workspaces and
 * their children, portal configs, identity providers, loggers, diagnostics (service and API), certificates, diagnostic
 * settings (extension resources, flat or Bicep `scope`) and the Defender for APIs plan. Each lands in the snapshot
 * field the live collector fills, and its need counts as collected only when the input holds it.
 */
import { describe, expect, it } from "vitest";
import { resourcesFromInput, snapshotsFromResources } from "../../src/engine/offline.js";
import type { ArmResource } from "../../src/model/arm.js";
import { DEFAULT_RULE_OPTIONS } from "../../src/remediations/index.js";
import { rule as defender } from "../../src/remediations/defender-for-apis.js";

const SUB = "11111111-1111-4111-8111-111111111111";
const SVC = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim1`;
const T = "Microsoft.ApiManagement/service";
const res = (path: string, type: string, properties: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): ArmResource => ({ id: path.startsWith("/") ? path : `${SVC}/${path}`, name: path.split("/").pop() as string, type, properties, ...extra });
const XML = (inner: string) => `<policies><inbound>${inner}</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`;

describe("offline: the issue 17 data", () => {
  const list: ArmResource[] = [
    res(SVC, T, {}, { sku: { name: "Developer", capacity: 1 } }),
    res("apis/echo", `${T}/apis`, { path: "echo", isCurrent: true }),
    res("apis/echo;rev=2", `${T}/apis`, { path: "echo", apiRevision: "2" }),
    res("apis/echo/policies/policy", `${T}/apis/policies`, { value: XML("<base /><validate-jwt />") }),
    res("apis/echo;rev=2/policies/policy", `${T}/apis/policies`, { value: XML("") }),
    res("apis/echo/operations/get-a", `${T}/apis/operations`, { method: "GET", urlTemplate: "/a" }),
    res("apis/echo/operations/Get-B", `${T}/apis/operations`, { method: "GET", urlTemplate: "/b" }),
    res("apis/echo;rev=2/operations/get-a", `${T}/apis/operations`, { method: "GET", urlTemplate: "/a" }),
    res("apis/echo;rev=2/operations/get-a/policies/policy", `${T}/apis/operations/policies`, { value: XML("") }),
    res("apis/echo/diagnostics/applicationinsights", `${T}/apis/diagnostics`, { loggerId: `${SVC}/loggers/ai` }),
    res("tenant/gatewayAccess", `${T}/tenant`, { enabled: true }),
    res("portalconfigs/default", `${T}/portalconfigs`, { enableBasicAuth: true }),
    res("identityProviders/aad", `${T}/identityProviders`, { type: "aad", clientId: "app" }),
    res("loggers/ai", `${T}/loggers`, { loggerType: "applicationInsights" }),
    res("diagnostics/applicationinsights", `${T}/diagnostics`, { loggerId: `${SVC}/loggers/ai` }),
    res("certificates/c1", `${T}/certificates`, { expirationDate: "2027-01-01T00:00:00Z" }),
    res(`${SVC}/providers/Microsoft.Insights/diagnosticSettings/to-law`, "Microsoft.Insights/diagnosticSettings", { workspaceId: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law", logs: [{ categoryGroup: "allLogs", enabled: true }] }),
    res(`/subscriptions/${SUB}/providers/Microsoft.Security/pricings/Api`, "Microsoft.Security/pricings", { pricingTier: "Standard", subPlan: "P1" }),
    res(`${SVC}/providers/Microsoft.Security/apiCollections/echo`, "Microsoft.Security/apiCollections", { provisioningState: "Succeeded" }),
  ];

  it("groups each kind into the field the collector fills, with the same keys", () => {
    const [s] = snapshotsFromResources(list);
    expect(Object.keys(s?.operations ?? {}).sort()).toEqual(["echo", "echo;rev=2"]);
    expect(s?.operations["echo"]?.map((o) => o.name)).toEqual(["get-a", "Get-B"]);
    // the current API keeps its own policy; the revision's is its own
    expect(String(s?.apiPolicies["echo"]?.properties["value"])).toContain("validate-jwt");
    expect(String(s?.apiPolicies["echo;rev=2"]?.properties["value"])).not.toContain("validate-jwt");
    expect(Object.keys(s?.operationPolicies ?? {})).toEqual(["echo;rev=2/get-a"]);
    expect(s?.apiDiagnostics["echo"]?.map((d) => d.name)).toEqual(["applicationinsights"]);
    expect(s?.tenantAccess.map((t) => t.name)).toEqual(["gatewayAccess"]);
    expect(s?.portalConfigs.map((p) => p.properties["enableBasicAuth"])).toEqual([true]);
    expect(s?.identityProviders.map((i) => i.name)).toEqual(["aad"]);
    expect(s?.loggers.map((l) => l.name)).toEqual(["ai"]);
    expect(s?.diagnostics.map((d) => d.name)).toEqual(["applicationinsights"]);
    expect(s?.certificates.map((c) => c.name)).toEqual(["c1"]);
    expect(s?.diagnosticSettings.map((d) => d.name)).toEqual(["to-law"]);
    expect(s?.defender).toEqual({ planEnabled: true, onboardedApis: ["echo"] });
    for (const n of ["operations", "revisionPolicies", "gatewayAccess", "portalConfigs", "identityProviders", "loggers", "diagnostics", "apiDiagnostics", "certificates", "diagnosticSettings", "defender"] as const) expect(s?.collected.has(n), n).toBe(true);
  });

  it("a need whose data the input lacks is not collected (the rules answer unknown)", () => {
    const [s] = snapshotsFromResources([list[0] as ArmResource, list[1] as ArmResource, res("tenant/access", `${T}/tenant`, { enabled: false })]);
    for (const n of ["operations", "gatewayAccess", "portalConfigs", "identityProviders", "loggers", "diagnostics", "apiDiagnostics", "certificates", "diagnosticSettings", "defender"] as const) expect(s?.collected.has(n), n).toBe(false);
    // the revisions' policies are taken as complete, like the APIs' own
    expect(s?.collected.has("revisionPolicies")).toBe(true);
  });

  it("the Defender plan applies to every service of its subscription; Free is off; apiCollections are the onboarded APIs", () => {
    const other = `/subscriptions/${SUB}/resourceGroups/rg2/providers/Microsoft.ApiManagement/service/apim2`;
    const snaps = snapshotsFromResources([
      list[0] as ArmResource,
      list[1] as ArmResource,
      res(other, T, {}, { sku: { name: "Standard", capacity: 1 } }),
      res(`${other}/apis/orders`, `${T}/apis`, { path: "orders" }),
      res(`/subscriptions/${SUB}/providers/Microsoft.Security/pricings/Api`, "Microsoft.Security/pricings", { pricingTier: "Free" }),
      res(`${SVC}/providers/Microsoft.Security/apiCollections/echo`, "Microsoft.Security/apiCollections"),
    ]);
    expect(snaps.map((s) => [s.service.name, s.defender])).toEqual([
      ["apim1", { planEnabled: false, onboardedApis: ["echo"] }],
      ["apim2", { planEnabled: false, onboardedApis: [] }],
    ]);
    expect(snaps.every((s) => s.collected.has("defender"))).toBe(true);
  });

  it("defender-for-apis judges offline from the pricing and apiCollections (no longer unknown)", () => {
    const [s] = snapshotsFromResources(list);
    const findings = defender.detect(s as NonNullable<typeof s>, DEFAULT_RULE_OPTIONS);
    expect(findings.map((f) => [f.resourceId, f.status])).toEqual([[`${SVC}/apis/echo`, "pass"]]);
  });
});

describe("offline: workspaces", () => {
  const premium = (sku: string): ArmResource => res(SVC, T, {}, { sku: { name: sku, capacity: 1 } });
  const ws: ArmResource[] = [
    res("workspaces/Team-A", `${T}/workspaces`, { displayName: "Team A" }),
    res("workspaces/Team-A/policies/policy", `${T}/workspaces/policies`, { value: XML("<base />") }),
    res("workspaces/Team-A/apis/wa", `${T}/workspaces/apis`, { path: "wa" }),
    res("workspaces/Team-A/apis/wa/policies/policy", `${T}/workspaces/apis/policies`, { value: XML("") }),
    res("workspaces/Team-A/apis/wa/operations/op", `${T}/workspaces/apis/operations`, { method: "GET" }),
    res("workspaces/Team-A/apis/wa/operations/op/policies/policy", `${T}/workspaces/apis/operations/policies`, { value: XML("") }),
    res("workspaces/Team-A/products/wp", `${T}/workspaces/products`, { subscriptionRequired: false }),
    res("workspaces/Team-A/products/wp/apiLinks/link1", `${T}/workspaces/products/apiLinks`, { apiId: `${SVC}/workspaces/Team-A/apis/WA` }),
    res("workspaces/Team-A/products/wp/policies/policy", `${T}/workspaces/products/policies`, { value: XML("<rate-limit calls=\"1\" renewal-period=\"1\" />") }),
    res("workspaces/Team-A/subscriptions/s1", `${T}/workspaces/subscriptions`, { scope: `${SVC}/workspaces/Team-A/products/wp`, state: "active" }),
  ];

  it("a workspace and its children land in workspaces and workspaceContents (names lowercase)", () => {
    const [s] = snapshotsFromResources([premium("Premium"), ...ws]);
    expect(s?.workspaces.map((w) => w.name)).toEqual(["Team-A"]);
    const c = s?.workspaceContents["team-a"];
    expect(c?.policy?.name).toBe("policy");
    expect(c?.apis.map((a) => a.name)).toEqual(["wa"]);
    expect(Object.keys(c?.apiPolicies ?? {})).toEqual(["wa"]);
    expect(Object.keys(c?.operationPolicies ?? {})).toEqual(["wa/op"]);
    expect(c?.operations?.["wa"]?.map((o) => o.name)).toEqual(["op"]);
    expect(c?.productApis).toEqual({ wp: ["wa"] });
    expect(Object.keys(c?.productPolicies ?? {})).toEqual(["wp"]);
    expect(c?.subscriptions).toHaveLength(1);
    // the service's own collections are untouched
    expect(s?.apis).toEqual([]);
    expect(s?.subscriptions).toEqual([]);
    expect(s?.collected.has("workspaces")).toBe(true);
  });

  it("a service whose input holds no workspace has none (collected, as products and subscriptions are)", () => {
    const [s] = snapshotsFromResources([premium("Premium")]);
    expect(s?.collected.has("workspaces")).toBe(true);
    expect(s?.workspaces).toEqual([]);
    expect(s?.workspaceContents).toEqual({});
  });

  it("an ARM template's nested workspace children and diagnostic settings (nested and Bicep `scope`) are read", () => {
    const template = {
      $schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
      contentVersion: "1.0.0.0",
      parameters: { name: { type: "string", defaultValue: "apim1" } },
      resources: [
        {
          type: "Microsoft.ApiManagement/service",
          name: "[parameters('name')]",
          sku: { name: "Premium", capacity: 1 },
          properties: {},
          resources: [
            { type: "workspaces", name: "w1", properties: { displayName: "W1" }, resources: [{ type: "apis", name: "a1", properties: { path: "a1" } }] },
            { type: "Microsoft.ApiManagement/service/providers/diagnosticSettings", name: "[concat(parameters('name'), '/Microsoft.Insights/nested')]", properties: { logs: [{ categoryGroup: "audit", enabled: true }] } },
          ],
        },
        { type: "Microsoft.Insights/diagnosticSettings", apiVersion: "2021-05-01-preview", scope: "[format('Microsoft.ApiManagement/service/{0}', parameters('name'))]", name: "scoped", properties: { workspaceId: "/x/law" } },
        { type: "Microsoft.ApiManagement/service/portalconfigs", name: "[concat(parameters('name'), '/default')]", properties: { enableBasicAuth: false } },
      ],
    };
    const { resources } = resourcesFromInput(template, "apim.json");
    const [s] = snapshotsFromResources(resources);
    expect(s?.workspaces.map((w) => w.name)).toEqual(["w1"]);
    expect(s?.workspaceContents["w1"]?.apis.map((a) => a.name)).toEqual(["a1"]);
    expect(s?.diagnosticSettings.map((d) => d.name).sort()).toEqual(["nested", "scoped"]);
    expect(s?.portalConfigs.map((p) => p.properties["enableBasicAuth"])).toEqual([false]);
    expect(s?.collected.has("diagnosticSettings")).toBe(true);
  });
});
