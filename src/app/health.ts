import { createClients, type AzureClients } from "../azure/clients.js";
import { ConfigError, loadConfig, type Env } from "../common/config.js";
import { listSubscriptionsInScope } from "../azure/discovery.js";
import { queueServiceFromEnv } from "./storage.js";
import { ticketProviderFromEnv } from "../tickets/config.js";

export interface HealthCheck {
  name: "config" | "storage" | "arm";
  ok: boolean;
  detail: string;
}

export interface HealthReport {
  ok: boolean;
  mode?: string;
  checks: HealthCheck[];
}

function reason(e: unknown): string {
  const err = e as { statusCode?: number; code?: string; message?: string };
  return `${err.statusCode ? `HTTP ${err.statusCode} ` : ""}${err.code ? `${err.code}: ` : ""}${(err.message ?? String(e)).split("\n")[0]}`.slice(0, 300);
}

/** What anonymous `GET /api/health` answers: ok or not, nothing about which check failed or what the app reaches. */
export interface PublicHealth {
  status: "ok" | "unhealthy";
}

export function publicHealth(report: HealthReport): PublicHealth {
  return { status: report.ok ? "ok" : "unhealthy" };
}

/** Checks what the app needs to work; never throws. */
export async function checkHealth(env: Env, deps: { clients?: AzureClients } = {}): Promise<HealthReport> {
  const checks: HealthCheck[] = [];
  let config;
  try {
    config = loadConfig(env);
    // validates the ticket settings (an Entra identity stands in for a missing Azure DevOps PAT, as at run time)
    const tickets = ticketProviderFromEnv(env, { getToken: () => Promise.resolve(null) });
    checks.push({ name: "config", ok: true, detail: `mode ${config.mode}, ARM ${config.armEndpoint}, tickets ${tickets?.name ?? "none"}` });
  } catch (e) {
    checks.push({ name: "config", ok: false, detail: e instanceof ConfigError ? e.message : reason(e) });
    return { ok: false, checks };
  }
  const clients = deps.clients ?? createClients(config);
  const queues = queueServiceFromEnv(env, clients.credential, { retryOptions: { maxTries: 2, retryDelayInMs: 200, tryTimeoutInMs: 5000 } });
  if (!queues) {
    checks.push({ name: "storage", ok: false, detail: "AzureWebJobsStorage (or AzureWebJobsStorage__queueServiceUri) is not set" });
  } else {
    try {
      await queues.getProperties();
      checks.push({ name: "storage", ok: true, detail: queues.url });
    } catch (e) {
      checks.push({ name: "storage", ok: false, detail: reason(e) });
    }
  }
  try {
    const subs = await listSubscriptionsInScope(clients, config);
    if (config.subscriptions.length > 0) {
      for (const s of subs) await clients.subscriptions().subscriptions.get(s);
    }
    checks.push({ name: "arm", ok: true, detail: `${subs.length} subscription(s) in scope` });
  } catch (e) {
    checks.push({ name: "arm", ok: false, detail: reason(e) });
  }
  return { ok: checks.every((c) => c.ok), mode: config.mode, checks };
}
