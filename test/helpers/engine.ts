/** Builds an Engine over an emulator the way the app and CLI do, with fast timings and captured logs. */
import { Writable } from "node:stream";
import { MemoryAudit, type AuditSink } from "../../src/engine/audit.js";
import { createClients } from "../../src/azure/clients.js";
import { loadConfig, type Config } from "../../src/common/config.js";
import { Engine } from "../../src/engine/engine.js";
import { MemoryLockInventory } from "../../src/engine/inventory.js";
import { createLogger, SecretRegistry } from "../../src/common/logger.js";
import type { EmulatorHandle } from "../../emulator/server.js";
import { REMEDIATOR } from "./emulator.js";

export interface EngineEnv {
  engine: Engine;
  config: Config;
  audit: MemoryAudit;
  inventory: MemoryLockInventory;
  registry: SecretRegistry;
  logLines: string[];
}

/**
 * `wrapAudit` puts a sink in front of the memory audit (e.g. one that fails), whose records stay in `audit`;
 * `timings` replaces the instant sleep and short polls (e.g. a real sleep, to wait for something that takes time).
 */
export function engineFor(
  emu: EmulatorHandle,
  settings: Record<string, string> = {},
  inventory = new MemoryLockInventory(),
  opts: { wrapAudit?: (memory: MemoryAudit) => AuditSink; timings?: { sleep?: (ms: number) => Promise<void>; pollIntervalMs?: number; pollAttempts?: number } } = {},
): EngineEnv {
  const config = loadConfig({
    ARM_ENDPOINT: emu.armEndpoint,
    ARM_CA_FILE: emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    REMEDIATOR_MODE: "enforce",
    ARM_MAX_RETRIES: "2",
    ...settings,
  });
  const registry = new SecretRegistry();
  const audit = new MemoryAudit(registry);
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      logLines.push(...chunk.toString().split("\n").filter((l) => l.length > 0));
      cb();
    },
  });
  const log = createLogger({ destination, registry, level: "debug" });
  const engine = new Engine({ clients: createClients(config), config, audit: opts.wrapAudit ? opts.wrapAudit(audit) : audit, inventory, log, registry, sleep: () => Promise.resolve(), backoffMs: 1, pollIntervalMs: 5, pollAttempts: 3, ...opts.timings });
  return { engine, config, audit, inventory, registry, logLines };
}
