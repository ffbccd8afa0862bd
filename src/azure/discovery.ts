/**
 * Finds the API Management services in scope: the configured subscriptions
 * (or every subscription the identity can list) and, if set, only the
 * configured resource groups.
 */
import type { AzureClients } from "./clients.js";
import type { Config } from "../common/config.js";
import { parseServiceId, type ArmResource, type ServiceRef } from "../model/arm.js";
import { queryServices, ResourceGraphUnavailable } from "./resource-graph.js";

export { parseServiceId, type ServiceRef };

/** Characters and segments ARM ids never hold (encoded characters, dot segments, empty segments, whitespace): such ids are crafted. */
export const NOT_CANONICAL = /%|\/\.\.?(\/|$)|\/\/|\s|[^\x21-\x7e]/;

/**
 * Why a service is outside the configured scope, or undefined when it is in
 * it: the one check every entry point makes (events, `POST /api/evaluate`,
 * queue messages, the sweep's discovery). In scope: a canonical API
 * Management service id in a configured subscription (REMEDIATOR_SUBSCRIPTIONS;
 * any when unset) and resource group (REMEDIATOR_RESOURCE_GROUPS; any when unset).
 */
export function scopeRefusal(serviceId: string, config: Pick<Config, "subscriptions" | "resourceGroups">): string | undefined {
  if (NOT_CANONICAL.test(serviceId)) return "the service id is not a canonical ARM id";
  const service = parseServiceId(serviceId);
  if (!service) return "not an API Management service id";
  if (config.subscriptions.length > 0 && !config.subscriptions.includes(service.subscriptionId.toLowerCase())) return `subscription ${service.subscriptionId} is out of scope`;
  if (config.resourceGroups.length > 0 && !config.resourceGroups.some((g) => g.toLowerCase() === service.resourceGroup.toLowerCase())) return `resource group ${service.resourceGroup} is out of scope`;
  return undefined;
}

export async function listSubscriptionsInScope(clients: AzureClients, config: Pick<Config, "subscriptions">): Promise<string[]> {
  if (config.subscriptions.length > 0) return [...config.subscriptions];
  const out: string[] = [];
  for await (const s of clients.subscriptions().subscriptions.list()) {
    if (s.subscriptionId && (s.state === undefined || s.state === "Enabled")) out.push(s.subscriptionId.toLowerCase());
  }
  return out;
}

/** A service found by discovery; `row` is its Resource Graph row (ARM-shaped, possibly seconds to minutes old) when Resource Graph found it. */
export interface DiscoveredService extends ServiceRef {
  row?: ArmResource;
  /** The service's ETag as ARM's list answered it (ARM listing; Resource Graph rows carry none): its discovery fingerprint (src/app/freshness.ts). */
  etag?: string;
}

export interface Discovery {
  services: DiscoveredService[];
  /** Where the list came from: Resource Graph, or ARM listing (configured, or the fallback). */
  source: "resource-graph" | "arm";
  /** Resource Graph queries sent (0 with ARM listing). */
  queries: number;
  /** Why Resource Graph was not used although configured (the fallback's reason). */
  fallback?: string;
}

export type DiscoveryConfig = Pick<Config, "subscriptions" | "resourceGroups"> & Partial<Pick<Config, "managementGroups" | "discovery">>;

/**
 * Discovery as configured: REMEDIATOR_DISCOVERY=resource-graph (the default of loadConfig) asks Resource Graph once
 * (paged; src/azure/resource-graph.ts) and keeps each service's row; where Resource Graph is unavailable (the
 * permission missing, a cloud without it) it lists through ARM as `arm` does, with one warning per call.
 * A configuration without `discovery` (callers that pick only the scope) lists through ARM.
 */
export async function discover(clients: AzureClients, config: DiscoveryConfig, options: { log?: { warn(obj: object, msg?: string): void } } = {}): Promise<Discovery> {
  if (config.discovery === "resource-graph") {
    try {
      const r = await queryServices(clients, { subscriptions: config.subscriptions, resourceGroups: config.resourceGroups, managementGroups: config.managementGroups ?? [] }, { log: options.log });
      const services: DiscoveredService[] = [];
      for (const row of r.services) {
        const ref = parseServiceId(row.id);
        if (!ref || scopeRefusal(ref.id, config) !== undefined) continue;
        services.push({ ...ref, location: typeof row.location === "string" ? row.location : undefined, sku: typeof row.sku?.["name"] === "string" ? row.sku["name"] : undefined, row });
      }
      return { services, source: "resource-graph", queries: r.queries };
    } catch (e) {
      if (!(e instanceof ResourceGraphUnavailable)) throw e;
      options.log?.warn({ reason: e.reason }, `Resource Graph unavailable (${e.reason}): this discovery lists services through ARM per subscription`);
      return { services: await discoverServices(clients, { ...config, discovery: "arm" }), source: "arm", queries: 0, fallback: e.reason };
    }
  }
  return { services: await listServicesThroughArm(clients, config), source: "arm", queries: 0 };
}

/** The services in scope, as configured (Resource Graph or ARM listing; see `discover`). */
export async function discoverServices(clients: AzureClients, config: DiscoveryConfig, options: { log?: { warn(obj: object, msg?: string): void } } = {}): Promise<DiscoveredService[]> {
  if (config.discovery === "resource-graph") return (await discover(clients, config, options)).services;
  return listServicesThroughArm(clients, config);
}

/** ARM listing: the subscriptions in scope, then the services of each (or of each configured resource group). */
async function listServicesThroughArm(clients: AzureClients, config: Pick<Config, "subscriptions" | "resourceGroups">): Promise<DiscoveredService[]> {
  const subs = await listSubscriptionsInScope(clients, config);
  const groups = new Set(config.resourceGroups.map((g) => g.toLowerCase()));
  const out: DiscoveredService[] = [];
  for (const sub of subs) {
    const client = clients.apim(sub);
    const iter = groups.size > 0 ? [...groups].map((g) => client.apiManagementService.listByResourceGroup(g)) : [client.apiManagementService.list()];
    for (const it of iter) {
      try {
        for await (const svc of it) {
          const ref = svc.id ? parseServiceId(svc.id) : undefined;
          if (!ref) continue;
          if (scopeRefusal(ref.id, config) !== undefined) continue;
          out.push({ ...ref, location: svc.location, sku: svc.sku?.name, ...(svc.etag ? { etag: svc.etag } : {}) });
        }
      } catch (e) {
        // a resource group in scope that does not exist in this subscription is not an error
        if ((e as { statusCode?: number }).statusCode === 404 && groups.size > 0) continue;
        throw e;
      }
    }
  }
  return out.sort((a, b) => a.id.toLowerCase().localeCompare(b.id.toLowerCase()));
}
