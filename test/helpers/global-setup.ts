/**
 * Starts Azurite (from node_modules, in memory, on free ports) once for the
 * whole run and hands its connection string to the tests; stops it after.
 *
 * Before anything is spawned, the network guard (test/helpers/net-guard.cjs)
 * goes into NODE_OPTIONS, so every vitest worker and every Node process the
 * tests start (Azurite, the CLI, the demo, the bench workers) refuses DNS and
 * connections off loopback; each refusal is appended to NET_GUARD_LOG, and the
 * teardown fails the run if that log is not empty (a refusal some library
 * swallowed still fails).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { TestProject } from "vitest/node";
import { startAzurite } from "../../src/local/azurite.js";
import { describeRefusals, GUARD_FILE, readGuardLog } from "./net-guard.js";

/** Installs the guard for every process started from now on; returns the log and whether this call created it. */
function guardChildren(): { log: string; created: boolean } {
  // NODE_OPTIONS takes a double-quoted path (a space in the checkout path)
  const require = `--require ${JSON.stringify(GUARD_FILE)}`;
  const current = process.env["NODE_OPTIONS"] ?? "";
  if (!current.includes(require)) process.env["NODE_OPTIONS"] = `${current} ${require}`.trim();
  // for children that set their own NODE_OPTIONS (bench/run.ts): the guard and nothing else
  process.env["NET_GUARD_REQUIRE"] = require;
  const existing = process.env["NET_GUARD_LOG"];
  if (existing) return { log: existing, created: false };
  const log = join(mkdtempSync(join(tmpdir(), "apim-net-guard-")), "refusals.jsonl");
  writeFileSync(log, "");
  process.env["NET_GUARD_LOG"] = log;
  return { log, created: true };
}

declare module "vitest" {
  export interface ProvidedContext {
    azuriteConnectionString: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const guard = guardChildren();
  const azurite = await startAzurite();
  project.provide("azuriteConnectionString", azurite.connectionString);
  return async () => {
    await azurite.stop();
    const { refusals } = readGuardLog(guard.log);
    if (guard.created) rmSync(dirname(guard.log), { recursive: true, force: true });
    if (refusals.length > 0) {
      // vitest reports an error thrown here but still exits 0: the exit code says it too
      process.exitCode = 1;
      throw new Error(describeRefusals(refusals));
    }
  };
}
