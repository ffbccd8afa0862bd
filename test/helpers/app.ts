/** Builds the Functions app's dependencies over a test emulator and the suite's Azurite, as the host would from settings. */
import { inject } from "vitest";
import type { AppDeps } from "../../src/core/app.js";
import { buildAppDeps } from "../../src/core/runtime.js";
import type { EmulatorHandle } from "../../emulator/server.js";
import { REMEDIATOR } from "./emulator.js";

export async function appFor(emu: EmulatorHandle, settings: Record<string, string> = {}): Promise<AppDeps> {
  const env = {
    AzureWebJobsStorage: inject("azuriteConnectionString"),
    ARM_ENDPOINT: emu.armEndpoint,
    ARM_CA_FILE: emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    REMEDIATOR_MODE: "enforce",
    REMEDIATOR_DEBOUNCE_SECONDS: "0",
    ARM_MAX_RETRIES: "2",
    LOG_LEVEL: "silent",
    ...settings,
  };
  return buildAppDeps(env, { leaseRetrySeconds: 0, engineTimings: { sleep: () => Promise.resolve(), backoffMs: 1, pollIntervalMs: 5, pollAttempts: 3 } });
}

/** Clears the app's queues and tables so each test starts empty (one Azurite serves the whole run). */
export async function clearAppStorage(deps: AppDeps): Promise<void> {
  await deps.storage.evaluateQueue.clearMessages();
  await deps.storage.poisonQueue.clearMessages();
}
