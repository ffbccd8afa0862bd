/**
 * Generated estates for the benchmark: N API Management services in one
 * subscription, each with 30 APIs (one operation each, every tenth with a
 * second revision), 20 named values (8 secret, Key Vault-backed), 5 backends,
 * 10 subscriptions, 2 products, 2 locks, policies at every scope, Defender for
 * APIs on, request metrics. Everything is compliant except ~10% of the items,
 * drifted with a seeded random (same seed, same estate). Also returns each
 * service's call shape for the collector's exact call count.
 */
import type { CallShape } from "../src/azure/collector.js";
import { seededRandom } from "../emulator/control.js";

export const BENCH_SUB = "5e1f0000-0000-4000-8000-00000000b0b0";
export const BENCH_RG = "rg-bench";
export const KV_RG = "rg-bench-kv";
export const KV_NAME = "kv-bench";
export const KV_ID = `/subscriptions/${BENCH_SUB}/resourceGroups/${KV_RG}/providers/Microsoft.KeyVault/vaults/${KV_NAME}`;
export const REMEDIATOR = "0e5a0000-0000-4000-8000-00000000beef";
export const PORTAL_USER = "0e5a0000-0000-4000-8000-0000000051e5";

const T = "Microsoft.ApiManagement/service";
const SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
const SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6";

export const SHAPE = { apis: 30, operationsPerApi: 1, revisionEvery: 10, namedValues: 20, secretNamedValues: 8, backends: 5, subscriptions: 10, products: 2, apisPerProduct: 5, locks: 2 } as const;

export type Resource = Record<string, unknown> & { id: string; type: string };

export interface ServiceShape {
  id: string;
  name: string;
  shape: Omit<CallShape, "pageSize">;
  drifted: number;
  items: number;
}

/** The emulator's seeded generator: the same seed gives the same estate the emulator's faults use. */
const rng = seededRandom;

export const serviceName = (i: number) => `apim-bench-${String(i).padStart(4, "0")}`;
export const serviceIdOf = (name: string) => `/subscriptions/${BENCH_SUB}/resourceGroups/${BENCH_RG}/providers/Microsoft.ApiManagement/service/${name}`;

export const FULL_POLICY = '<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>';
const NO_BASE_POLICY = '<policies><inbound><set-header name="x-bench" exists-action="override"><value>1</value></set-header></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>';
export const GLOBAL_POLICY =
  '<policies><inbound><rate-limit calls="100" renewal-period="60" /><validate-jwt header-name="Authorization"><openid-config url="https://login.microsoftonline.com/contoso.example/v2.0/.well-known/openid-configuration" /></validate-jwt><validate-headers specified-header-action="prevent" unspecified-header-action="ignore" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>';
export const CUSTOM_PROPERTIES = Object.fromEntries(
  [
    "Protocols.Tls10",
    "Protocols.Tls11",
    "Protocols.Ssl30",
    "Backend.Protocols.Tls10",
    "Backend.Protocols.Tls11",
    "Backend.Protocols.Ssl30",
    "Ciphers.TripleDes168",
    "Ciphers.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "Ciphers.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "Ciphers.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "Ciphers.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "Ciphers.TLS_RSA_WITH_AES_128_GCM_SHA256",
    "Ciphers.TLS_RSA_WITH_AES_256_CBC_SHA256",
    "Ciphers.TLS_RSA_WITH_AES_128_CBC_SHA256",
    "Ciphers.TLS_RSA_WITH_AES_256_CBC_SHA",
    "Ciphers.TLS_RSA_WITH_AES_128_CBC_SHA",
  ].map((k) => [`Microsoft.WindowsAzure.ApiManagement.Gateway.Security.${k}`, "False"]),
);

/** The subscription-level resources every estate has: subscription, groups, Defender plan, the vault and the remediator's role on it. */
export function baseResources(): Resource[] {
  return [
    { id: `/subscriptions/${BENCH_SUB}`, type: "Microsoft.Resources/subscriptions", displayName: "Bench" },
    { id: `/subscriptions/${BENCH_SUB}/resourceGroups/${BENCH_RG}`, type: "Microsoft.Resources/resourceGroups", location: "westeurope" },
    { id: `/subscriptions/${BENCH_SUB}/resourceGroups/${KV_RG}`, type: "Microsoft.Resources/resourceGroups", location: "westeurope" },
    { id: `/subscriptions/${BENCH_SUB}/providers/Microsoft.Security/pricings/Api`, type: "Microsoft.Security/pricings", properties: { pricingTier: "Standard", subPlan: "P1" } },
    { id: KV_ID, type: "Microsoft.KeyVault/vaults", location: "westeurope", properties: { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", sku: { family: "A", name: "standard" }, enableRbacAuthorization: true, vaultUri: `https://${KV_NAME}.vault.azure.net/` } },
    {
      id: `${KV_ID}/providers/Microsoft.Authorization/roleAssignments/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d`,
      type: "Microsoft.Authorization/roleAssignments",
      properties: { roleDefinitionId: `/subscriptions/${BENCH_SUB}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_OFFICER}`, principalId: REMEDIATOR, principalType: "ServicePrincipal", scope: KV_ID },
    },
  ];
}

const identityOf = (i: number) => `6a1f7c2e-0000-4e5f-8a9b-${String(i).padStart(12, "0")}`;

/**
 * One service's resources; `drift` is the probability that an item drifts
 * (0 = fully compliant). Returns the resources and the service's call shape.
 */
export function serviceResources(i: number, drift: number, seed = 1): { resources: Resource[]; info: ServiceShape } {
  const r = rng(seed * 1_000_003 + i);
  const hit = () => r() < drift;
  const name = serviceName(i);
  const sid = serviceIdOf(name);
  const out: Resource[] = [];
  let drifted = 0;
  let items = 0;
  const item = (d: boolean) => {
    items++;
    if (d) drifted++;
    return d;
  };
  const noMinVersion = item(hit());
  const accessOn = item(hit());
  const noLocks = item(hit());
  out.push({
    id: sid,
    type: T,
    name,
    location: "West Europe",
    tags: { env: "bench" },
    sku: { name: "Premium", capacity: 1 },
    identity: { type: "SystemAssigned", principalId: identityOf(i), tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47" },
    properties: {
      publisherEmail: "api-team@contoso.example",
      publisherName: "Contoso",
      createdAtUtc: "2023-01-01T00:00:00Z",
      gatewayUrl: `https://${name}.azure-api.net`,
      customProperties: CUSTOM_PROPERTIES,
      virtualNetworkType: "Internal",
      publicNetworkAccess: "Enabled",
      platformVersion: "stv2",
      ...(noMinVersion ? {} : { apiVersionConstraint: { minApiVersion: "2021-08-01" } }),
    },
  });
  out.push({ id: `${sid}/tenant/access`, type: `${T}/tenant`, properties: { principalId: "integration", enabled: accessOn } });
  out.push({ id: `${sid}/tenant/gitAccess`, type: `${T}/tenant`, properties: { principalId: "git", enabled: false } });
  out.push({ id: `${sid}/policies/policy`, type: `${T}/policies`, properties: { format: "xml", value: GLOBAL_POLICY } });

  const apis: CallShape["apis"] = [];
  const totals: Record<string, number> = {};
  for (let a = 0; a < SHAPE.apis; a++) {
    const apiName = `api-${String(a).padStart(2, "0")}`;
    const http = item(hit());
    const base = { displayName: `API ${a}`, path: `p${a}`, serviceUrl: `https://backend-${a}.internal.contoso.example`, subscriptionRequired: true, apiRevision: "1", isCurrent: true };
    out.push({ id: `${sid}/apis/${apiName}`, type: `${T}/apis`, properties: { ...base, protocols: http ? ["http", "https"] : ["https"] } });
    const revisions = a % SHAPE.revisionEvery === 0 ? 2 : 1;
    if (revisions === 2) out.push({ id: `${sid}/apis/${apiName};rev=2`, type: `${T}/apis`, properties: { ...base, protocols: ["https"], isCurrent: false, apiRevision: "2" } });
    const noBase = item(hit());
    out.push({ id: `${sid}/apis/${apiName}/policies/policy`, type: `${T}/apis/policies`, properties: { format: "xml", value: noBase ? NO_BASE_POLICY : FULL_POLICY } });
    for (let o = 0; o < SHAPE.operationsPerApi; o++) {
      out.push({ id: `${sid}/apis/${apiName}/operations/get-${o}`, type: `${T}/apis/operations`, properties: { displayName: `get ${o}`, method: "GET", urlTemplate: `/items/${o}` } });
    }
    out.push({ id: `${sid}/providers/Microsoft.Security/apiCollections/${apiName}`, type: "Microsoft.Security/apiCollections", properties: { provisioningState: "Succeeded", displayName: `API ${a}` } });
    totals[apiName] = 1000 + a;
    apis.push({ revisions, operations: SHAPE.operationsPerApi, http: true });
  }
  out.push({ id: `${sid}/providers/Microsoft.Insights/metrics/Requests`, type: "Microsoft.Insights/metrics", properties: { totalsByApiId: totals } });

  for (let n = 0; n < SHAPE.namedValues; n++) {
    const nvName = `nv-${String(n).padStart(2, "0")}`;
    if (n < SHAPE.secretNamedValues) {
      const inline = item(hit());
      out.push({
        id: `${sid}/namedValues/${nvName}`,
        type: `${T}/namedValues`,
        properties: inline
          ? { displayName: nvName, secret: true, value: `bench-secret-${i}-${n}` }
          : { displayName: nvName, secret: true, keyVault: { secretIdentifier: `https://${KV_NAME}.vault.azure.net/secrets/${name}-${nvName}`, lastStatus: { code: "Success", timeStampUtc: "2024-01-01T00:00:00Z" } } },
      });
    } else {
      item(false);
      out.push({ id: `${sid}/namedValues/${nvName}`, type: `${T}/namedValues`, properties: { displayName: nvName, secret: false, value: `value-${n}` } });
    }
  }
  for (let b = 0; b < SHAPE.backends; b++) {
    const weak = item(hit());
    out.push({
      id: `${sid}/backends/be-${b}`,
      type: `${T}/backends`,
      properties: { url: `https://be-${b}.internal.contoso.example`, protocol: "http", credentials: { header: { "x-functions-key": ["{{nv-00}}"] } }, tls: { validateCertificateChain: !weak, validateCertificateName: true } },
    });
  }
  const products: number[] = [];
  for (let p = 0; p < SHAPE.products; p++) {
    out.push({ id: `${sid}/products/prod-${p}`, type: `${T}/products`, properties: { displayName: `Product ${p}`, state: "published", subscriptionRequired: true } });
    for (let a = 0; a < SHAPE.apisPerProduct; a++) out.push({ id: `${sid}/products/prod-${p}/apis/api-${String(p * SHAPE.apisPerProduct + a).padStart(2, "0")}`, type: `${T}/products/apis`, properties: {} });
    out.push({ id: `${sid}/products/prod-${p}/policies/policy`, type: `${T}/products/policies`, properties: { format: "xml", value: FULL_POLICY } });
    products.push(SHAPE.apisPerProduct);
  }
  for (let s = 0; s < SHAPE.subscriptions; s++) {
    const allApis = item(hit());
    out.push({ id: `${sid}/subscriptions/sub-${s}`, type: `${T}/subscriptions`, properties: { displayName: `Subscription ${s}`, scope: allApis ? `${sid}/apis` : `${sid}/products/prod-${s % SHAPE.products}`, state: "active" } });
  }
  if (!noLocks) {
    for (let l = 0; l < SHAPE.locks; l++) {
      out.push({ id: `${sid}/providers/Microsoft.Authorization/locks/lock-${l}`, type: "Microsoft.Authorization/locks", properties: { level: "CanNotDelete", notes: `bench lock ${l}` } });
    }
  }
  // the service identity may read the vault's secrets (Key Vault references resolve)
  out.push({
    id: `${KV_ID}/providers/Microsoft.Authorization/roleAssignments/${identityOf(i).slice(0, 24)}${String(i).padStart(12, "0")}`,
    type: "Microsoft.Authorization/roleAssignments",
    properties: { roleDefinitionId: `/subscriptions/${BENCH_SUB}/providers/Microsoft.Authorization/roleDefinitions/${SECRETS_USER}`, principalId: identityOf(i), principalType: "ServicePrincipal", scope: KV_ID },
  });
  for (let n = 0; n < SHAPE.secretNamedValues; n++) {
    out.push({ id: `${KV_ID}/secrets/${name}-nv-${String(n).padStart(2, "0")}`, type: "Microsoft.KeyVault/vaults/secrets", properties: { value: `bench-secret-${i}-${n}` } });
  }
  return {
    resources: out,
    info: { id: sid, name, drifted, items, shape: { apis, namedValues: SHAPE.namedValues, backends: SHAPE.backends, subscriptions: SHAPE.subscriptions, products, defenderPlanEnabled: true } },
  };
}

/** A whole estate: the base resources and `services` services. */
export function generateEstate(services: number, drift: number, seed = 1): { resources: Resource[]; services: ServiceShape[] } {
  const resources = baseResources();
  const shapes: ServiceShape[] = [];
  for (let i = 0; i < services; i++) {
    const s = serviceResources(i, drift, seed);
    for (const x of s.resources) resources.push(x);
    shapes.push(s.info);
  }
  return { resources, services: shapes };
}
