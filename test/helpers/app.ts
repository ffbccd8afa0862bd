/** Builds the Functions app's dependencies over a test emulator and the suite's Azurite, as the host would from settings. */
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import type { AppDeps } from "../../src/app/app.js";
import { buildAppDeps } from "../../src/app/runtime.js";
import type { EmulatorHandle } from "../../emulator/server.js";
import { REMEDIATOR } from "./emulator.js";

/**
 * One Azurite serves every test file, and vitest runs files in parallel
 * processes: each file (process) gets its own queue/table/container names.
 */
export const STORAGE_PREFIX = `t${randomBytes(6).toString("hex")}`;

/** The app settings the tests run the app with (also what they put in process.env for the Functions handlers). */
export function appEnv(emu: EmulatorHandle, settings: Record<string, string> = {}): Record<string, string> {
  return {
    AzureWebJobsStorage: inject("azuriteConnectionString"),
    REMEDIATOR_STORAGE_PREFIX: STORAGE_PREFIX,
    ARM_ENDPOINT: emu.armEndpoint,
    ARM_CA_FILE: emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    REMEDIATOR_MODE: "enforce",
    REMEDIATOR_DEBOUNCE_SECONDS: "0",
    ARM_MAX_RETRIES: "2",
    LOG_LEVEL: "silent",
    // the tests written before sweeps skipped unchanged services expect every sweep to read in full (test/app/freshness.test.ts sets it)
    REMEDIATOR_FULL_SWEEP_HOURS: "0",
    ...settings,
  };
}

/**
 * `handOffAfterMs`: how long (in the sleeps' time, which pass at once here) a long-running operation is polled
 * before it is handed off to a later message. 0 hands off whatever is not done at its first answer, and whether
 * the emulator's instant operations (completed on a timer) are done by then is a race: tests of the hand-off
 * itself (test/app/operations.test.ts) ask for 0 with operations that run for an hour.
 */
export async function appFor(emu: EmulatorHandle, settings: Record<string, string> = {}, options: { handOffAfterMs?: number } = {}): Promise<AppDeps> {
  return buildAppDeps(appEnv(emu, settings), { leaseRetrySeconds: 0, handOffAfterMs: options.handOffAfterMs ?? 50, engineTimings: { sleep: () => Promise.resolve(), backoffMs: 1, pollIntervalMs: 5, pollAttempts: 3 } });
}

/** Clears the app's queues so each test starts empty (the names are this file's own; see STORAGE_PREFIX). */
export async function clearAppStorage(deps: AppDeps): Promise<void> {
  await deps.storage.evaluateQueue.clearMessages();
  await deps.storage.poisonQueue.clearMessages();
}
