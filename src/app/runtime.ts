/**
 * The app's dependencies, built once per process from the environment (the
 * Function App settings), shared by every function. Tests build their own.
 */
import type { AppDeps } from "./app.js";
import { createClients, createCredential } from "../azure/clients.js";
import { loadConfig, type Env } from "../common/config.js";
import { Engine } from "../engine/engine.js";
import { createLogger, errorLine, secrets } from "../common/logger.js";
import { openStorage } from "./storage.js";
import { TicketManager } from "../tickets/manager.js";
import { ticketProviderFromEnv } from "../tickets/config.js";
import { TableTicketStore } from "./ticket-store.js";
import { openBudgetStore } from "./pacing-store.js";
import { openFreshnessStore } from "./freshness.js";
import { openChunkStore } from "./chunks.js";
import { ApiBudget } from "./api-budget.js";

let cached: Promise<AppDeps> | undefined;

/** A service operation still running after this long (of a function's 10 minutes) is handed off to a delayed check. */
export const HAND_OFF_AFTER_MS = 20_000;

export async function buildAppDeps(env: Env, overrides: Partial<Pick<AppDeps, "leaseRetrySeconds" | "operationRecheckSeconds">> & { handOffAfterMs?: number; engineTimings?: { sleep?: (ms: number) => Promise<void>; backoffMs?: number; pollIntervalMs?: number; pollAttempts?: number } } = {}): Promise<AppDeps> {
  const config = loadConfig(env);
  const credential = createCredential(config);
  const storage = await openStorage(env, credential);
  const log = createLogger({ level: config.logLevel, registry: secrets });
  // every instance of the app paces ARM from the same budgets, in the app's storage (src/azure/shared-pacing.ts)
  const budgetStore = config.armPacing?.enabled === false ? undefined : await openBudgetStore(env, credential);
  const clients = createClients(config, {
    credential,
    ...(budgetStore ? { budgetStore, onPacingFallback: (e: unknown) => log.warn({ reason: errorLine(e) }, "ARM pacing: the shared budget store failed; this instance paces alone for 30 s") } : {}),
  });
  // a service update outlasts a function (host.json functionTimeout 10 minutes): operations are handed off to storage and resumed by a delayed message
  const engine = new Engine({ clients, config, audit: storage.audit, inventory: storage.inventory, log, registry: secrets, operationMode: "hand-off", handOffAfterMs: overrides.handOffAfterMs ?? HAND_OFF_AFTER_MS, operations: storage.operations, ...(overrides.engineTimings ?? {}) });
  const provider = ticketProviderFromEnv(env, clients.credential);
  const tickets = provider ? new TicketManager(provider, new TableTicketStore(storage.ticketsTable), { scrub: (t) => secrets.scrub(t), log }) : undefined;
  // REMEDIATOR_FULL_SWEEP_HOURS 0: every sweep reads every service in full (no freshness state kept)
  const freshness = config.fullSweepHours > 0 ? await openFreshnessStore(env, credential) : undefined;
  // a service too big for one message is evaluated in parts (REMEDIATOR_MESSAGE_BUDGET_SECONDS; src/app/chunks.ts)
  const chunks = await openChunkStore(env, credential);
  return { config, clients, storage, engine, log, debounceSeconds: config.debounceSeconds, leaseRetrySeconds: overrides.leaseRetrySeconds, operationRecheckSeconds: overrides.operationRecheckSeconds, tickets, ...(freshness ? { freshness } : {}), ...(chunks ? { chunks } : {}), apiBudget: new ApiBudget(config.maxApisInFlight) };
}

/** The process-wide dependencies (built on first use; a failed build is retried on the next call). */
export function appDeps(env: Env = process.env): Promise<AppDeps> {
  if (!cached) {
    cached = buildAppDeps(env);
    cached.catch(() => (cached = undefined));
  }
  return cached;
}

/** Forgets the cached dependencies (tests that change settings between cases). */
export function resetAppDeps(): void {
  cached = undefined;
}
