/**
 * The function app in Bicep against the code: Flex Consumption facts, the app settings against the
 * configuration schema (src/common/config.ts SETTINGS, src/tickets/config.ts), how identity values flow
 * from the identity module into the settings, and host.json / function registrations against both.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { loadConfig, SETTINGS } from "../../src/common/config.js";
import { EVALUATE_QUEUE, POISON_QUEUE } from "../../src/app/storage.js";
import { TICKET_PROVIDERS, ticketProviderFromEnv } from "../../src/tickets/config.js";
import { INFRA, objectEntries, only, parseBicep, prop, str } from "./bicep.js";
// the function modules register themselves with the (mocked) host on import
import "../../src/functions/api.js";
import "../../src/functions/evaluate.js";
import "../../src/functions/health.js";
import "../../src/functions/onPoison.js";
import "../../src/functions/onResourceEvent.js";
import "../../src/functions/sweep.js";

const registered = vi.hoisted(() => [] as Array<{ kind: string; name: string; options: Record<string, unknown> }>);
vi.mock("@azure/functions", async (importOriginal) => {
  const mod = await importOriginal<typeof import("@azure/functions")>();
  const record = (kind: string) => (name: string, options: Record<string, unknown>) => void registered.push({ kind, name, options });
  return { ...mod, app: { ...mod.app, http: record("http"), storageQueue: record("storageQueue"), timer: record("timer"), eventGrid: record("eventGrid") } };
});

const main = parseBicep("main.bicep");
const fa = parseBicep("modules/function-app.bicep");
const identity = parseBicep("modules/identity.bicep");
const storage = parseBicep("modules/storage.bicep");
const site = only(fa, "Microsoft.Web/sites");
const settings = new Map(objectEntries(fa.vars.get("baseAppSettings") as string));
const functionAppModule = main.modules.find((m) => m.symbol === "functionApp");
/** What main.bicep passes to a function-app.bicep parameter. */
const passed = (param: string) => prop(functionAppModule?.body ?? "{}", `params.${param}`);
const ticketSource = readFileSync(join(process.cwd(), "src/tickets/config.ts"), "utf8");
const TICKET_SETTINGS = [...new Set([...ticketSource.matchAll(/"(TICKET_[A-Z_]+)"/g)].map((m) => m[1] as string))];

/** Settings the Functions host and its Application Insights integration read. */
const HOST_SETTINGS = [
  "AzureWebJobsStorage__blobServiceUri",
  "AzureWebJobsStorage__queueServiceUri",
  "AzureWebJobsStorage__tableServiceUri",
  "AzureWebJobsStorage__credential",
  "AzureWebJobsStorage__clientId",
  "APPLICATIONINSIGHTS_CONNECTION_STRING",
  "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
];

/** Set in every deployment (the list): what makes the app run as itself, where, and how. */
const REQUIRED = [
  "REMEDIATOR_MODE",
  "SWEEP_SCHEDULE",
  "REMEDIATOR_SUBSCRIPTIONS",
  "KEY_VAULT_URL",
  "KEY_VAULT_RESOURCE_ID",
  "REMEDIATOR_PRINCIPAL_ID",
  "AZURE_CLIENT_ID",
  "REMEDIATOR_GRANT_KEY_VAULT_ACCESS",
  "REMEDIATOR_RULE_MODES",
  "TICKET_PROVIDER",
  ...HOST_SETTINGS,
];

/** Rejected or meaningless on Flex Consumption, or unsafe in Azure. */
const FORBIDDEN = [
  "FUNCTIONS_WORKER_RUNTIME",
  "FUNCTIONS_EXTENSION_VERSION",
  "WEBSITE_NODE_DEFAULT_VERSION",
  "WEBSITE_RUN_FROM_PACKAGE",
  "WEBSITE_CONTENTSHARE",
  "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
  "AzureWebJobsStorage",
  "APPINSIGHTS_INSTRUMENTATIONKEY",
  // the loopback-emulator switches: in Azure the app always talks to the real ARM with the system trust store
  "ARM_ENDPOINT",
  "ARM_CA_FILE",
];

/** A 13-character token as uniqueString() returns. */
const TOKEN = "k3j5w7y9a1c3e";

/** Evaluates the few template expressions main.bicep builds names from, for sample values. */
function evaluate(expr: string, values: Record<string, string>): string {
  const inner = expr.trim().replace(/^'|'$/g, "");
  return inner
    .replace(/\$\{take\((\w+), (\d+)\)\}/g, (_, v: string, n: string) => (values[v] ?? `<${v}>`).slice(0, Number(n)))
    .replace(/\$\{([^}]+)\}/g, (_, v: string) => values[v.trim()] ?? `<${v}>`);
}

describe("infra: the function app", () => {
  it("is a Linux Flex Consumption app on Node 22 by default (20 is past end of life), HTTPS only, with no publishing credentials", () => {
    const plan = only(fa, "Microsoft.Web/serverfarms");
    expect(str(prop(plan.body, "sku.tier"))).toBe("FlexConsumption");
    expect(str(prop(plan.body, "sku.name"))).toBe("FC1");
    expect(prop(plan.body, "properties.reserved")).toBe("true");
    expect(str(prop(site.body, "kind"))).toBe("functionapp,linux");
    expect(prop(site.body, "properties.httpsOnly")).toBe("true");
    expect(str(prop(site.body, "properties.siteConfig.minTlsVersion"))).toBe("1.2");
    expect(str(prop(site.body, "properties.functionAppConfig.runtime.name"))).toBe("node");
    expect(prop(site.body, "properties.functionAppConfig.runtime.version")).toBe("nodeVersion");
    for (const f of [fa, main]) expect(f.params.get("nodeVersion")?.decorators).toContain("@allowed(['20', '22', '24'])");
    // what `azd up` deploys unless told otherwise: Node 22 (Node 20 reached end of life on 2026-04-30)
    expect(str(main.params.get("nodeVersion")?.default)).toBe("22");
    expect(fa.params.get("nodeVersion")?.default).toBeUndefined();
    expect(passed("nodeVersion")).toBe("nodeVersion");
    const azdParameters = JSON.parse(readFileSync(join(INFRA, "main.parameters.json"), "utf8")) as { parameters: Record<string, { value: string }> };
    expect(azdParameters.parameters["nodeVersion"]?.value).toBe("${REMEDIATOR_NODE_VERSION=22}");
    // the package itself still runs on 20, 22 and 24
    const engines = (JSON.parse(readFileSync(join(process.cwd(), "package.json"), "utf8")) as { engines: { node: string } }).engines.node;
    expect(engines).toBe(">=20");
    const policies = fa.resources.filter((r) => r.type === "Microsoft.Web/sites/basicPublishingCredentialsPolicies");
    expect(policies.map((p) => str(prop(p.body, "name"))).sort()).toEqual(["ftp", "scm"]);
    for (const p of policies) expect(prop(p.body, "properties.allow")).toBe("false");
  });

  it("runs as the user-assigned identity, which also reads its deployment package (no keys)", () => {
    expect(str(prop(site.body, "identity.type"))).toBe("UserAssigned");
    expect(prop(site.body, "identity.userAssignedIdentities")).toContain("'${identityId}': {}");
    const storageCfg = prop(site.body, "properties.functionAppConfig.deployment.storage") as string;
    expect(str(prop(storageCfg, "type"))).toBe("blobContainer");
    expect(str(prop(storageCfg, "authentication.type"))).toBe("UserAssignedIdentity");
    expect(prop(storageCfg, "authentication.userAssignedIdentityResourceId")).toBe("identityId");
    expect(prop(site.body, "properties.keyVaultReferenceIdentity")).toBe("identityId");
    expect(passed("identityId")).toBe("identity.outputs.appIdentityId");
  });

  it("is tagged with the azd service name from azure.yaml", () => {
    const yaml = readFileSync(join(process.cwd(), "azure.yaml"), "utf8");
    const service = /^services:\n\s+([\w-]+):/m.exec(yaml)?.[1];
    expect(service).toBe("remediator");
    expect(prop(site.body, "tags")).toContain(`'azd-service-name': '${service}'`);
    expect(main.outputs.has(`SERVICE_${(service as string).toUpperCase()}_NAME`)).toBe(true);
  });

  it("sets its app settings from the settings object, plus the operator's additional ones", () => {
    expect(fa.vars.get("appSettings")).toBe("union(baseAppSettings, additionalAppSettings)");
    expect(prop(site.body, "properties.siteConfig.appSettings")).toMatch(/^\[for s in items\(appSettings\): \{\s*name: s\.key\s*value: s\.value\s*\}\]$/);
  });
});

describe("infra: app settings against the configuration schema", () => {
  it("sets every required setting", () => {
    for (const name of REQUIRED) expect([...settings.keys()], name).toContain(name);
  });

  it("sets only settings the app or the host reads (no typos), and none that Flex Consumption rejects or that are unsafe in Azure", () => {
    const known = new Set([...Object.keys(SETTINGS), ...TICKET_SETTINGS, ...HOST_SETTINGS]);
    for (const name of settings.keys()) expect(known.has(name), `unknown app setting ${name}`).toBe(true);
    for (const name of FORBIDDEN) expect(settings.has(name), name).toBe(false);
    expect(TICKET_SETTINGS).toContain("TICKET_PROVIDER");
  });

  it("uses identity-based host storage with the user-assigned identity, and the storage account's own endpoints", () => {
    expect(str(settings.get("AzureWebJobsStorage__credential"))).toBe("managedidentity");
    expect(settings.get("AzureWebJobsStorage__clientId")).toBe("identityClientId");
    for (const svc of ["blob", "queue", "table"]) {
      expect(settings.get(`AzureWebJobsStorage__${svc}ServiceUri`)).toBe(`${svc}Endpoint`);
      expect(passed(`${svc}Endpoint`)).toBe(`storage.outputs.${svc}Endpoint`);
      expect(storage.outputs.get(`${svc}Endpoint`)?.value).toBe(`account.properties.primaryEndpoints.${svc}`);
    }
  });

  it("authenticates to Application Insights with Entra ID as that identity", () => {
    expect(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")).toBe("'ClientId=${identityClientId};Authorization=AAD'");
    expect(passed("appInsightsConnectionString")).toBe("monitoring.outputs.connectionString");
  });

  it("wires AZURE_CLIENT_ID to the identity's client id and REMEDIATOR_PRINCIPAL_ID to its principal id", () => {
    expect(settings.get("AZURE_CLIENT_ID")).toBe("identityClientId");
    expect(passed("identityClientId")).toBe("identity.outputs.appClientId");
    expect(identity.outputs.get("appClientId")?.value).toBe("app.properties.clientId");
    expect(settings.get("REMEDIATOR_PRINCIPAL_ID")).toBe("identityPrincipalId");
    expect(passed("identityPrincipalId")).toBe("identity.outputs.appPrincipalId");
    expect(identity.outputs.get("appPrincipalId")?.value).toBe("app.properties.principalId");
    // the same principal is excluded from the events and holds the roles
    const events = main.modules.find((m) => m.symbol === "events");
    expect(prop(events?.body ?? "{}", "params.remediatorPrincipalId")).toBe("identity.outputs.appPrincipalId");
  });

  it("passes the lock policy and the settings exemptions from main.bicep (azd env REMEDIATOR_RECREATE_FOREIGN_LOCKS, REMEDIATOR_EXEMPTIONS)", () => {
    expect(passed("exemptions")).toBe("exemptions");
    expect(passed("recreateForeignLocks")).toBe("recreateForeignLocks");
    expect(settings.get("REMEDIATOR_EXEMPTIONS")).toBe("exemptions");
    expect(settings.get("REMEDIATOR_RECREATE_FOREIGN_LOCKS")).toBe("recreateForeignLocks ? 'true' : 'false'");
    expect(str(main.params.get("exemptions")?.default)).toBe("");
    expect(main.params.get("recreateForeignLocks")?.default).toBe("false");
  });

  it("passes the vault and scope settings from main.bicep", () => {
    expect(passed("keyVaultUrl")).toBe("keyVaultUrl");
    expect(passed("keyVaultResourceId")).toBe("keyVaultId");
    // with management groups (REMEDIATOR_MANAGEMENT_GROUPS) the subscription list stays empty: it would narrow their scope
    expect(passed("subscriptionIds")).toBe("scanAllVisibleSubscriptions || !empty(managementGroupList) ? [] : subscriptionIds");
    expect(settings.get("REMEDIATOR_SUBSCRIPTIONS")).toBe("join(subscriptionIds, ',')");
    expect(settings.get("REMEDIATOR_RESOURCE_GROUPS")).toBe("join(resourceGroups, ',')");
  });

  it("offers exactly the modes and ticket providers the app accepts", () => {
    const allowed = (f: typeof main, p: string) => [...(f.params.get(p)?.decorators.find((d) => d.startsWith("@allowed"))?.matchAll(/'([^']+)'/g) ?? [])].map((m) => m[1]);
    expect(allowed(main, "remediatorMode").sort()).toEqual(["dry-run", "enforce"]);
    expect(allowed(main, "ticketProvider").sort()).toEqual([...TICKET_PROVIDERS].sort());
    expect(str(main.params.get("remediatorMode")?.default)).toBe("dry-run");
  });

  it("with the template's defaults and generated names, the app's configuration loads (every value passes the schema)", () => {
    const sub = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
    const names = { resourceToken: TOKEN, environmentName: "prod", "subscription().subscriptionId": sub };
    const rgName = evaluate("'rg-${environmentName}'", names);
    const keyVaultName = evaluate(main.vars.get("keyVaultName")?.match(/\? ('[^']+') :/)?.[1] as string, names);
    const storageName = evaluate(prop(main.modules.find((m) => m.symbol === "storage")?.body ?? "{}", "params.name") as string, names);
    const functionAppName = evaluate(main.vars.get("functionAppName") as string, names);
    expect(keyVaultName).toMatch(/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/); // 3-24 characters
    expect(storageName).toMatch(/^[a-z0-9]{3,24}$/);
    expect(functionAppName.length).toBeLessThanOrEqual(60);
    const keyVaultId = evaluate(main.vars.get("keyVaultId")?.match(/\? ('[^']+') :/)?.[1] as string, { ...names, rgName, keyVaultName });
    const keyVaultUrl = evaluate(main.vars.get("keyVaultUrl") as string, { keyVaultName, "environment().suffixes.keyvaultDns": ".vault.azure.net" });
    for (const mode of ["dry-run", "enforce"]) {
      for (const grant of ["true", "false"]) {
        const env: Record<string, string> = {
          REMEDIATOR_MODE: mode,
          REMEDIATOR_RULE_MODES: str(main.params.get("ruleModes")?.default),
          REMEDIATOR_EXEMPTIONS: str(main.params.get("exemptions")?.default),
          REMEDIATOR_RECREATE_FOREIGN_LOCKS: "false",
          REMEDIATOR_KILL_SWITCH: str(settings.get("REMEDIATOR_KILL_SWITCH")),
          REMEDIATOR_SUBSCRIPTIONS: `${sub},22222222-2222-4222-8222-222222222222`,
          REMEDIATOR_RESOURCE_GROUPS: "",
          SWEEP_SCHEDULE: str(main.params.get("sweepSchedule")?.default),
          MIN_API_VERSION: str(main.params.get("minApiVersion")?.default),
          LOG_LEVEL: str(settings.get("LOG_LEVEL")),
          KEY_VAULT_URL: keyVaultUrl,
          KEY_VAULT_RESOURCE_ID: keyVaultId,
          REMEDIATOR_PRINCIPAL_ID: "0e5a0000-0000-4000-8000-00000000beef",
          AZURE_CLIENT_ID: "5c2d0b3e-8a41-4f7e-9d6c-1b2a3c4d5e6f",
          AZURE_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
          REMEDIATOR_GRANT_KEY_VAULT_ACCESS: grant,
          TICKET_PROVIDER: str(main.params.get("ticketProvider")?.default),
        };
        const c = loadConfig(env);
        expect(c.mode).toBe(mode);
        expect(c.armEndpoint).toBe("https://management.azure.com");
        expect(c.armIsLoopback).toBe(false);
        expect(c.keyVaultUrl).toBe(`https://${keyVaultName}.vault.azure.net`);
        expect(c.keyVaultResourceId).toBe(`/subscriptions/${sub}/resourceGroups/rg-prod/providers/Microsoft.KeyVault/vaults/${keyVaultName}`);
        expect(c.grantKeyVaultAccess).toBe(grant === "true");
        expect(c.sweepSchedule).toBe("0 0 */6 * * *");
        expect(ticketProviderFromEnv(env)).toBeUndefined();
      }
    }
  });
});

describe("infra: host.json and the function registrations", () => {
  const host = JSON.parse(readFileSync(join(process.cwd(), "host.json"), "utf8")) as {
    version: string;
    extensionBundle: { id: string; version: string };
    functionTimeout: string;
    extensions: { queues: { maxDequeueCount: number; visibilityTimeout: string } };
    logging: { applicationInsights: { samplingSettings: { isEnabled: boolean; excludedTypes: string } } };
  };

  it("uses the v2 host with extension bundle 4 (Event Grid, queue and timer triggers) and keeps exceptions unsampled", () => {
    expect(host.version).toBe("2.0");
    expect(host.extensionBundle.id).toBe("Microsoft.Azure.Functions.ExtensionBundle");
    expect(host.extensionBundle.version).toMatch(/^\[4\./);
    expect(host.logging.applicationInsights.samplingSettings.excludedTypes.split(";")).toContain("Exception");
    // a bounded timeout (Flex Consumption has none by default), long enough for a long-running APIM update
    const [h, m] = host.functionTimeout.split(":").map(Number);
    expect((h as number) * 60 + (m as number)).toBeGreaterThanOrEqual(5);
    expect((h as number) * 60 + (m as number)).toBeLessThanOrEqual(30);
    expect(host.extensions.queues.maxDequeueCount).toBeGreaterThanOrEqual(1);
  });

  it("registers the functions the infrastructure points at, with the settings the Bicep provides", () => {
    const byName = new Map(registered.map((r) => [r.name, r]));
    // Event Grid delivers to the function named in the event subscription
    const events = parseBicep("modules/resource-events.bicep");
    const subscription = only(events, "Microsoft.EventGrid/systemTopics/eventSubscriptions");
    const fn = /\/functions\/(\w+)'$/.exec(prop(subscription.body, "properties.destination.properties.resourceId") ?? "")?.[1];
    expect(byName.get(fn as string)?.kind).toBe("eventGrid");
    // the timer reads its schedule from SWEEP_SCHEDULE, which the Bicep sets
    expect(byName.get("sweep")?.options["schedule"]).toBe("%SWEEP_SCHEDULE%");
    expect(settings.get("SWEEP_SCHEDULE")).toBe("sweepSchedule");
    // queue triggers use the AzureWebJobsStorage connection (the identity-based __ settings), and the host's poison queue name
    for (const q of registered.filter((r) => r.kind === "storageQueue")) expect(q.options["connection"]).toBe("AzureWebJobsStorage");
    expect(registered.filter((r) => r.kind === "storageQueue").map((r) => r.options["queueName"]).sort()).toEqual([EVALUATE_QUEUE, POISON_QUEUE].sort());
    expect(POISON_QUEUE).toBe(`${EVALUATE_QUEUE}-poison`);
    // the HTTP endpoints the docs point at
    expect(byName.get("report")?.options["route"]).toBe("report");
    expect(byName.get("health")?.options["authLevel"]).toBe("anonymous");
    expect(byName.get("healthDetails")?.options["authLevel"]).toBe("function");
  });

  it("azd deploys the bundle: dist/deploy, nothing installed or built on Azure", () => {
    const yaml = readFileSync(join(process.cwd(), "azure.yaml"), "utf8");
    expect(yaml).toMatch(/^\s+dist: dist\/deploy$/m);
    expect(yaml).toMatch(/^\s+remoteBuild: false$/m);
    const pkg = JSON.parse(readFileSync(join(process.cwd(), "package.json"), "utf8")) as { main: string; scripts: Record<string, string> };
    // azd runs `npm run build`: it must write the bundle
    expect(pkg.scripts["build"]).toMatch(/scripts\/bundle\.mjs|npm run bundle/);
    // `func start` in the repository still loads the tsc output
    expect(pkg.main).toBe("dist/src/functions/*.js");
    // `func azure functionapp publish` from the root (a remote build of the sources) keeps what that build needs
    const ignore = readFileSync(join(process.cwd(), ".funcignore"), "utf8").split("\n").map((l) => l.trim());
    expect(ignore).toContain("node_modules");
    for (const kept of ["src", "host.json", "package.json", "tsconfig.json", "emulator", "docs"]) expect(ignore, kept).not.toContain(kept);
    expect(ignore).toContain("!/docs/rules/");
    expect(INFRA).toBe(join(process.cwd(), "infra"));
  });

  it("the bundle is a complete package: main, host.json, rule pages, every function, no dependencies", () => {
    const deploy = join(process.cwd(), "dist", "deploy");
    if (!existsSync(join(deploy, "app.js"))) execFileSync(process.execPath, [join(process.cwd(), "scripts", "bundle.mjs")], { stdio: "ignore" });
    const pkg = JSON.parse(readFileSync(join(deploy, "package.json"), "utf8")) as { main: string; dependencies?: unknown; type: string };
    expect(pkg.main).toBe("functions.js");
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.type).toBe("commonjs");
    expect(readFileSync(join(deploy, "host.json"), "utf8")).toBe(readFileSync(join(process.cwd(), "host.json"), "utf8"));
    expect(readdirSync(join(deploy, "docs", "rules")).sort()).toEqual(readdirSync(join(process.cwd(), "docs", "rules")).sort());
    const bundle = readFileSync(join(deploy, "app.js"), "utf8");
    // every function the sources register is in the bundle under the same name
    let registered = 0;
    for (const f of readdirSync(join(process.cwd(), "src", "functions")).filter((x) => x.endsWith(".ts"))) {
      const src = readFileSync(join(process.cwd(), "src", "functions", f), "utf8");
      for (const m of src.matchAll(/app\.(?:http|timer|storageQueue|eventGrid|generic)\(\s*"([^"]+)"/g)) {
        expect(bundle, `${f}: ${m[1]}`).toContain(`"${m[1]}"`);
        registered++;
      }
    }
    expect(registered).toBe(8);
    // the host provides @azure/functions-core; nothing else is left to resolve at run time
    const requires = new Set([...bundle.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1] as string));
    for (const r of requires) expect(r === "@azure/functions-core" || builtinModules.includes(r.replace(/^node:/, "")), r).toBe(true);
  });
});
