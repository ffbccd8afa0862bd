#!/usr/bin/env node
/**
 * The `apim-remediator` command. Every flag maps onto the same setting the
 * Functions app reads from its environment, so one configuration serves all.
 */
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ConfigError, loadConfig, type Env } from "../common/config.js";
import { createClients } from "../azure/clients.js";
import { discoverServices } from "../azure/discovery.js";
import { accessSync, appendFileSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { InputError, snapshotsFromFiles } from "../engine/offline.js";
import { FORMATS, render, renderRules, summary, type Format } from "../report/report.js";
import { detect, scanLive } from "../engine/scan.js";
import { DEFAULT_RULE_OPTIONS, RULES, selectRules } from "../remediations/index.js";
import { JsonLinesAudit, MemoryAudit, MultiAudit } from "../engine/audit.js";
import { Engine, WriteBudget, type ActionResult } from "../engine/engine.js";
import { FileLockInventory } from "../engine/inventory.js";
import { createLogger, secrets } from "../common/logger.js";
import { renderActions } from "../report/plan-report.js";
import { permissionManifest, renderManifestJson, renderRoleActionsBicep, renderRoleActionsJson } from "../azure/permissions.js";

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Env;
  /** True when stderr is a terminal (progress is shown only then). */
  isTTY?: boolean;
}

const defaultIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  isTTY: process.stderr.isTTY === true,
};

/** Thrown for bad input; the CLI prints its message as one line and exits 2. */
export class UsageError extends Error {}

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** An absolute http:// or https:// URL (the emulator POSTs events to it: no other scheme, no relative path). */
function httpUrlArg(name: string) {
  return (v: string): string => {
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new InvalidArgumentError(`${name} must be an http:// or https:// URL`);
    return v;
  };
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(",").filter((x) => x.length > 0)];
}

/** Global flags -> environment-style settings (flags win over the environment). */
function settingsFrom(opts: Record<string, unknown>, env: Env): Env {
  const out: Env = { ...env };
  if (typeof opts["armEndpoint"] === "string") out["ARM_ENDPOINT"] = opts["armEndpoint"];
  if (typeof opts["caFile"] === "string") out["ARM_CA_FILE"] = opts["caFile"];
  if (typeof opts["keyVaultUrl"] === "string") out["KEY_VAULT_URL"] = opts["keyVaultUrl"];
  if (Array.isArray(opts["subscription"]) && opts["subscription"].length > 0) out["REMEDIATOR_SUBSCRIPTIONS"] = (opts["subscription"] as string[]).join(",");
  if (Array.isArray(opts["resourceGroup"]) && opts["resourceGroup"].length > 0) out["REMEDIATOR_RESOURCE_GROUPS"] = (opts["resourceGroup"] as string[]).join(",");
  if (typeof opts["principalId"] === "string") out["REMEDIATOR_PRINCIPAL_ID"] = opts["principalId"];
  if (typeof opts["mode"] === "string") out["REMEDIATOR_MODE"] = opts["mode"];
  return out;
}

export function buildProgram(io: CliIO, onExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name("apim-remediator")
    .description("Keeps Azure API Management services compliant with the APIM security baseline.")
    .option("--arm-endpoint <url>", "Azure Resource Manager endpoint (env ARM_ENDPOINT; default https://management.azure.com)")
    .option("--ca-file <pem>", "PEM certificate trusted in addition to the system store (env ARM_CA_FILE)")
    .option("--key-vault-url <url>", "Key Vault for migrated secrets (env KEY_VAULT_URL)")
    .option("--subscription <id>", "subscription in scope; repeatable (env REMEDIATOR_SUBSCRIPTIONS)", collect)
    .option("--resource-group <name>", "resource group in scope; repeatable (env REMEDIATOR_RESOURCE_GROUPS)", collect)
    .option("--principal-id <guid>", "the remediator's own principal id (env REMEDIATOR_PRINCIPAL_ID)")
    .addOption(new Option("--mode <mode>", "enforce or dry-run (env REMEDIATOR_MODE)").choices(["enforce", "dry-run"]))
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => undefined })
    .showHelpAfterError(false);

  program
    .command("emulator")
    .description("Start the local ARM + Key Vault emulator and print one JSON line when it is ready")
    .requiredOption("--estate <file>", "ARM resource list (JSON) to serve")
    .option("--port <n>", "ARM port (default: a free port)", intArg("--port", 0, 65535), 0)
    .option("--lro-ms <n>", "how long long-running operations stay in progress", intArg("--lro-ms", 0, 600_000), 0)
    .option("--seed <n>", "seed for injected faults' randomness", intArg("--seed", 0, 2 ** 31 - 1), 1)
    .option("--state-dir <dir>", "where to write the CA certificate", ".emulator")
    .option("--event-webhook <url>", "POST every ARM event to this URL (e.g. the local Functions host's Event Grid endpoint)", httpUrlArg("--event-webhook"))
    .option("--no-throttle", "disable ARM's per-subscription throttling")
    .action(async (opts: { estate: string; port: number; lroMs: number; seed: number; stateDir: string; eventWebhook?: string; throttle: boolean }) => {
      // The CLI may start the emulator; src/ never imports it statically.
      const emulatorPath = "../../emulator/server.js";
      const { start } = (await import(emulatorPath)) as typeof import("../../emulator/server.js");
      let emu;
      try {
        emu = await start({
          estate: opts.estate,
          port: opts.port,
          stateDir: resolve(opts.stateDir),
          lroDurationMs: opts.lroMs,
          seed: opts.seed,
          eventWebhook: opts.eventWebhook,
          throttle: { enabled: opts.throttle },
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      io.stdout(JSON.stringify({ armEndpoint: emu.armEndpoint, caFile: emu.caFile, keyVaults: emu.keyVaults, adminUrl: emu.adminUrl, tenantId: emu.tenantId }) + "\n");
      const stop = () => {
        void emu.stop().then(() => process.exit(0));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await new Promise<never>(() => undefined);
    });

  program
    .command("services")
    .description("List the API Management services in scope")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .action(async (opts: { format: "table" | "json" }) => {
      const config = loadConfig(settingsFrom(program.opts(), io.env));
      const clients = createClients(config);
      const services = await discoverServices(clients, config);
      if (opts.format === "json") {
        io.stdout(JSON.stringify({ services }, null, 2) + "\n");
        return;
      }
      const rows = [["NAME", "RESOURCE GROUP", "SUBSCRIPTION", "SKU", "LOCATION"], ...services.map((s) => [s.name, s.resourceGroup, s.subscriptionId, s.sku ?? "", s.location ?? ""])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
      for (const r of rows) io.stdout(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd() + "\n");
    });

  program
    .command("rules")
    .description("List the rule catalog")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .action((opts: { format: "table" | "json" }) => {
      io.stdout(renderRules([...RULES], opts.format));
    });

  program
    .command("permissions")
    .description("Print the Azure permissions the enabled rules need (the least-privilege role of the deployment)")
    .addOption(new Option("--format <format>", "json: the whole manifest; bicep: the custom role's actions as Bicep; role-json: infra/role-actions.json").choices(["json", "bicep", "role-json"]).default("json"))
    .option("--rules <ids>", "comma-separated rule ids (default: all)")
    .option("--output <file>", "write to a file instead of stdout")
    .action((opts: { format: "json" | "bicep" | "role-json"; rules?: string; output?: string }) => {
      let rules;
      try {
        rules = selectRules(opts.rules?.split(",").map((r) => r.trim()).filter((r) => r.length > 0));
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const manifest = permissionManifest(rules);
      const text = opts.format === "bicep" ? renderRoleActionsBicep(manifest) : opts.format === "role-json" ? renderRoleActionsJson(manifest) : renderManifestJson(manifest);
      if (!opts.output) return void io.stdout(text);
      try {
        writeFileSync(opts.output, text);
      } catch (e) {
        throw new UsageError(`cannot write ${opts.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    });

  program
    .command("scan")
    .description("Detect drift: live (subscriptions in scope) or offline (--input files)")
    .option("--input <file>", "ARM resource list, ARM template or PowerShell export; repeatable (offline scan)", collect)
    .option("--service <name>", "only these services (name or id); repeatable", collect)
    .option("--rules <ids>", "comma-separated rule ids (default: all)")
    .option("--min-api-version <date>", "minimum API version for min-api-version", DEFAULT_RULE_OPTIONS.minApiVersion)
    .option("--unused-days <n>", "look-back window of unused-api", intArg("--unused-days", 1, 93), DEFAULT_RULE_OPTIONS.unusedDays)
    .addOption(new Option("--format <format>", "output format").choices(FORMATS).default("table"))
    .option("--output <file>", "write the report to a file instead of stdout")
    .action(async (opts: { input?: string[]; service?: string[]; rules?: string; minApiVersion: string; unusedDays: number; format: Format; output?: string }) => {
      let rules;
      try {
        rules = selectRules(opts.rules?.split(",").map((r) => r.trim()).filter((r) => r.length > 0));
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(opts.minApiVersion)) throw new UsageError(`--min-api-version must be an API version date such as 2019-12-01 (got "${opts.minApiVersion}")`);
      const ruleOptions = { ...DEFAULT_RULE_OPTIONS, minApiVersion: opts.minApiVersion, unusedDays: opts.unusedDays };
      let findings;
      if (opts.input && opts.input.length > 0) {
        let snapshots = snapshotsFromFiles(opts.input);
        const wanted = (opts.service ?? []).map((x) => x.toLowerCase());
        if (wanted.length > 0) snapshots = snapshots.filter((sn) => wanted.includes(sn.service.name.toLowerCase()) || wanted.includes(sn.service.id.toLowerCase()));
        findings = detect(snapshots, rules, ruleOptions);
      } else {
        const settings = settingsFrom(program.opts(), io.env);
        const config = loadConfig(settings);
        const clients = createClients(config);
        const progress = io.isTTY ? (done: number, total: number, svc: { name: string }) => io.stderr(`\rscanned ${done}/${total}: ${svc.name}`.padEnd(60) + (done === total ? "\n" : "")) : undefined;
        const res = await scanLive(clients, rules, ruleOptions, { subscriptions: config.subscriptions, resourceGroups: config.resourceGroups, services: opts.service, onProgress: progress });
        findings = res.findings;
      }
      const text = render(opts.format, findings, rules);
      if (opts.output) {
        try {
          writeFileSync(opts.output, text);
        } catch (e) {
          throw new UsageError(`cannot write ${opts.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      } else io.stdout(text);
      if (summary(findings).fail > 0) onExit(1);
    });

  const remediationCommand = (name: "plan" | "remediate", description: string) =>
    program
      .command(name)
      .description(description)
      .option("--service <name>", "only these services (name or id); repeatable", collect)
      .option("--rules <ids>", "comma-separated rule ids (default: all)")
      .option("--state-dir <dir>", "where the lock inventory is kept", ".apim-remediator")
      .option("--audit-file <file>", "append audit records (JSON lines) to this file")
      .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"));

  const runEngine = async (opts: { service?: string[]; rules?: string; stateDir: string; auditFile?: string; format: "text" | "json" }, dryRun: boolean) => {
    let rules;
    try {
      rules = selectRules(opts.rules?.split(",").map((r) => r.trim()).filter((r) => r.length > 0));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const settings = settingsFrom(program.opts(), io.env);
    if (!dryRun && program.opts()["mode"] === undefined) settings["REMEDIATOR_MODE"] = "enforce";
    const config = loadConfig(settings);
    // the audit file and the state directory must take writes before anything is changed: a fix without its record is not made
    ensureWritable(opts.auditFile, resolve(opts.stateDir));
    const clients = createClients(config);
    const log = createLogger({ level: io.env["LOG_LEVEL"] ?? "silent", destination: { write: (l: string) => io.stderr(l) } });
    const memory = new MemoryAudit(secrets);
    const audit = opts.auditFile ? new MultiAudit([memory, new JsonLinesAudit(opts.auditFile, secrets)]) : memory;
    // a terminal can wait for a service update (15 to 45 minutes or longer in Azure): in-process, with a progress line on stderr
    const engine = new Engine({ clients, config, audit, inventory: new FileLockInventory(resolve(opts.stateDir, "locks.json")), log, registry: secrets, operationMode: "wait", progress: (line) => io.stderr(`apim-remediator: ${line}\n`) });
    let services = await discoverServices(clients, config);
    const wanted = (opts.service ?? []).map((x) => x.toLowerCase());
    if (wanted.length > 0) services = services.filter((x) => wanted.includes(x.name.toLowerCase()) || wanted.includes(x.id.toLowerCase()));
    const sweep = new WriteBudget(config.maxWritesPerSweep);
    const actions: ActionResult[] = [];
    for (const svc of services) {
      const r = await engine.evaluate(svc.id, { dryRun, rules, sweepBudget: sweep });
      actions.push(...r.actions);
      if (io.isTTY) io.stderr(`\revaluated ${svc.name}`.padEnd(60) + "\n");
    }
    io.stdout(secrets.scrub(renderActions(actions, opts.format, dryRun)));
    // exit 1 while any drift remains (planned, not remediable, failed, or stopped by a limit)
    const open = actions.filter((a) => (a.outcome !== "applied" && a.outcome !== "skipped") || a.reason?.includes("limit"));
    if (open.length > 0) onExit(1);
  };

  program
    .command("demo")
    .description("Run the whole app locally on Azurite and the emulator: sweep, then fix changes a user makes (no Azure, no Core Tools)")
    .option("--dry-run", "tickets instead of changes")
    .option("--estate <file>", "estate to serve (default emulator/estates/demo.json)")
    .action(async (opts: { dryRun?: boolean; estate?: string }) => {
      const { runDemo } = await import("./demo.js");
      const code = await runDemo({ dryRun: opts.dryRun === true, estate: opts.estate }, { out: io.stdout });
      if (code !== 0) onExit(code);
    });

  remediationCommand("plan", "Show the changes remediation would make (nothing is changed)").action(async (opts) => runEngine(opts, true));

  remediationCommand("remediate", "Fix drift on live resources (auto rules; opt-in rules via REMEDIATOR_RULE_MODES)")
    .option("--dry-run", "plan only: change nothing")
    .option("--yes", "confirm changing live resources")
    .action(async (opts: { dryRun?: boolean; yes?: boolean; service?: string[]; rules?: string; stateDir: string; auditFile?: string; format: "text" | "json" }) => {
      if (!opts.dryRun && !opts.yes) throw new UsageError("refusing to change live resources without --yes (or use --dry-run)");
      await runEngine(opts, opts.dryRun === true);
    });

  return program;
}

/** Fails with one line (exit 2) unless the audit file can be appended to and the state directory written. */
function ensureWritable(auditFile: string | undefined, stateDir: string): void {
  const why = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  if (auditFile !== undefined) {
    try {
      appendFileSync(auditFile, "");
    } catch (e) {
      throw new UsageError(`--audit-file ${auditFile}: cannot append to it (${why(e)}); nothing was changed`);
    }
  }
  try {
    mkdirSync(stateDir, { recursive: true });
    accessSync(stateDir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`--state-dir ${stateDir}: cannot write there (${why(e)}); nothing was changed`);
  }
}

/** Runs the CLI; resolves with the exit code (0 ok, 1 findings, 2 bad input or usage). */
export async function run(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let exitCode: number | undefined;
  const program = buildProgram(io, (c) => {
    exitCode = c;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) return 0;
      io.stderr(`apim-remediator: ${e.message.replace(/^error: /, "")}\n`);
      return 2;
    }
    if (e instanceof ConfigError || e instanceof UsageError || e instanceof InputError) {
      io.stderr(`apim-remediator: ${e.message}\n`);
      return 2;
    }
    const err = e as { statusCode?: number; code?: string; message?: string };
    io.stderr(`apim-remediator: ${err.statusCode ? `HTTP ${err.statusCode} ${err.code ?? ""}: ` : ""}${(err.message ?? String(e)).split("\n")[0]}\n`);
    return 3;
  }
}

if (require.main === module) {
  void run(process.argv.slice(2)).then((code) => {
    if (code !== 0) process.exitCode = code;
  });
}
