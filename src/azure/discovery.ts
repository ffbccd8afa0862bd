/**
 * Finds the API Management services in scope: the configured subscriptions
 * (or every subscription the identity can list) and, if set, only the
 * configured resource groups.
 */
import type { AzureClients } from "./clients.js";
import type { Config } from "../common/config.js";
import { parseServiceId, type ServiceRef } from "../model/arm.js";

export { parseServiceId, type ServiceRef };

export async function listSubscriptionsInScope(clients: AzureClients, config: Pick<Config, "subscriptions">): Promise<string[]> {
  if (config.subscriptions.length > 0) return [...config.subscriptions];
  const out: string[] = [];
  for await (const s of clients.subscriptions().subscriptions.list()) {
    if (s.subscriptionId && (s.state === undefined || s.state === "Enabled")) out.push(s.subscriptionId.toLowerCase());
  }
  return out;
}

export async function discoverServices(clients: AzureClients, config: Pick<Config, "subscriptions" | "resourceGroups">): Promise<ServiceRef[]> {
  const subs = await listSubscriptionsInScope(clients, config);
  const groups = new Set(config.resourceGroups.map((g) => g.toLowerCase()));
  const out: ServiceRef[] = [];
  for (const sub of subs) {
    const client = clients.apim(sub);
    const iter = groups.size > 0 ? [...groups].map((g) => client.apiManagementService.listByResourceGroup(g)) : [client.apiManagementService.list()];
    for (const it of iter) {
      try {
        for await (const svc of it) {
          const ref = svc.id ? parseServiceId(svc.id) : undefined;
          if (!ref) continue;
          if (groups.size > 0 && !groups.has(ref.resourceGroup.toLowerCase())) continue;
          out.push({ ...ref, location: svc.location, sku: svc.sku?.name });
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
