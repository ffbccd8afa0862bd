#!/usr/bin/env node
/**
 * The `apim-remediator` command. Every flag maps onto the same setting the
 * Functions app reads from its environment, so one configuration serves all.
 */
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ConfigError, loadConfig, type Env } from "../common/config.js";
import { discoverServices } from "../azure/discovery.js";
import { accessSync, appendFileSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { InputError, snapshotsFromFiles } from "../engine/offline.js";
import { DEFAULT_SARIF_LOCATION, FORMATS, render, renderRules, summary, TOOL_VERSION, type Format, type RenderOptions } from "../report/report.js";
import { SourceLocator } from "../report/locations.js";
import { colorEnabled } from "../report/terminal.js";
import { parseServiceId, type ServiceRef } from "../model/arm.js";
import { createClients as createAzureClients, type SendFailure } from "../azure/clients.js";
import type { Config } from "../common/config.js";
import { explainAzureError } from "./errors.js";
import { actingPrincipal } from "./actor.js";
import { detect, scanLive } from "../engine/scan.js";
import { evaluateInChunks } from "../engine/chunked.js";
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
  /** True when stdout is a terminal: the table and plan text are coloured (unless NO_COLOR; FORCE_COLOR forces it) and wrapped to `columns`. */
  stdoutIsTTY?: boolean;
  /** The terminal's width (process.stdout.columns), used only when stdout is a terminal. */
  columns?: number;
}

const defaultIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  isTTY: process.stderr.isTTY === true,
  stdoutIsTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns,
};

/** Exit codes, as `--help` and the README list them. */
const EXIT_CODES = `Exit codes:
  0  done: no failed finding (scan), nothing left to fix (plan, remediate)
  1  drift: a failed finding (scan), a change planned, not remediable or failed (plan, remediate)
  2  bad input: an unknown flag or setting, a file that cannot be read, a selector (--service,
     --subscription, --resource-group, --rules) that matches nothing; one line on stderr, nothing changed
  3  Azure could not be reached or refused (not signed in, untrusted certificate, connection refused,
     an HTTP error); one line on stderr saying what to do`;

const EXAMPLES = `Examples:
  $ apim-remediator scan --input azuredeploy.json --format sarif --output apim.sarif
  $ apim-remediator --subscription <guid> scan --service apim-contoso-prod --only-failed
  $ apim-remediator --resource-group rg-apim-prod scan --format sarif --sarif-location infra/main.bicep --output apim.sarif
  $ apim-remediator plan --service apim-contoso-dev
  $ apim-remediator remediate --yes --service apim-contoso-dev --audit-file audit.jsonl
  $ apim-remediator emulator --estate emulator/estates/demo.json`;

/** --rules as a list; a flag that names no rule (`--rules ""`, `--rules ,`) is bad input, not "every rule". */
function ruleList(flag: string | undefined): string[] | undefined {
  if (flag === undefined) return undefined;
  const ids = flag.split(",").map((r) => r.trim()).filter((r) => r.length > 0);
  if (ids.length === 0) throw new UsageError(`--rules names no rule (got ${JSON.stringify(flag)}); see 'apim-remediator rules'`);
  return ids;
}

/** Each --service / --subscription / --resource-group value must match a service, or a CI gate would pass on an empty report. */
function checkSelectors(services: ServiceRef[], selectors: { service?: string[]; subscription?: string[]; resourceGroup?: string[] }, where: string): void {
  const seen = services.length === 0 ? "none seen" : `${services.length} seen: ${services.slice(0, 5).map((s) => s.name).join(", ")}${services.length > 5 ? ", …" : ""}`;
  const lower = (x: string) => x.toLowerCase();
  // live: Resource Graph answers no rows (not SubscriptionNotFound, as ARM listing does) for a subscription that does
  // not exist or that this identity cannot read, so "none here" is all the CLI can know; say what to check
  const notFound = where === "in scope" ? "; a subscription that does not exist or that this identity cannot read shows none either: check --subscription / REMEDIATOR_SUBSCRIPTIONS, and that this identity can read it" : "";
  for (const v of selectors.subscription ?? []) if (!services.some((s) => lower(s.subscriptionId) === lower(v))) throw new UsageError(`--subscription ${v} matches no API Management service ${where} (${seen}${notFound})`);
  for (const v of selectors.resourceGroup ?? []) if (!services.some((s) => lower(s.resourceGroup) === lower(v))) throw new UsageError(`--resource-group ${v} matches no API Management service ${where} (${seen})`);
  for (const v of selectors.service ?? []) if (!services.some((s) => lower(s.name) === lower(v) || lower(s.id) === lower(v))) throw new UsageError(`--service ${v} matches no API Management service ${where} (${seen})`);
}

/** Keeps the services every given selector admits (values of one flag are alternatives). */
function selectServices<T>(items: T[], refOf: (t: T) => ServiceRef | undefined, selectors: { service?: string[]; subscription?: string[]; resourceGroup?: string[] }): T[] {
  const has = (list: string[] | undefined, ...vals: string[]) => !list || list.length === 0 || list.some((x) => vals.some((v) => v.toLowerCase() === x.toLowerCase()));
  return items.filter((t) => {
    const r = refOf(t);
    return r !== undefined && has(selectors.subscription, r.subscriptionId) && has(selectors.resourceGroup, r.resourceGroup) && has(selectors.service, r.name, r.id);
  });
}

/** Thrown for bad input; the CLI prints its message as one line and exits 2. */
export class UsageError extends Error {}

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A time scale: a plain decimal number greater than 0 and at most 1. */
function scaleArg(name: string) {
  return (v: string): number => {
    const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
    if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a number greater than 0 and at most 1`);
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
  if (Array.isArray(opts["managementGroup"]) && opts["managementGroup"].length > 0) out["REMEDIATOR_MANAGEMENT_GROUPS"] = (opts["managementGroup"] as string[]).join(",");
  if (typeof opts["principalId"] === "string") out["REMEDIATOR_PRINCIPAL_ID"] = opts["principalId"];
  if (typeof opts["mode"] === "string") out["REMEDIATOR_MODE"] = opts["mode"];
  return out;
}

/** What one run learnt that its error line may need. */
interface RunState {
  /** The most attempts a request that could not be sent had. */
  sendAttempts: number;
  armEndpoint?: string;
}

export function buildProgram(io: CliIO, onExit: (code: number) => void, state: RunState = { sendAttempts: 0 }): Command {
  const program = new Command();
  // requests that cannot be sent are shown as the SDK retries them, not after a long silence
  const onSendFailure = (f: SendFailure) => {
    state.sendAttempts = Math.max(state.sendAttempts, f.attempt);
    if (f.attempt <= f.maxRetries) io.stderr(`apim-remediator: ${f.host}: ${f.code} (attempt ${f.attempt} of ${f.maxRetries + 1}); retrying\n`);
  };
  const createClients = (config: Config) => {
    state.armEndpoint = config.armEndpoint;
    return createAzureClients(config, { onSendFailure });
  };
  const color = () => colorEnabled(io.env, io.stdoutIsTTY === true);
  program
    .name("apim-remediator")
    .description("Keeps Azure API Management services compliant with the APIM security baseline.")
    .version(TOOL_VERSION, "-V, --version", "print the version (package.json) and exit")
    .addHelpText("after", `\n${EXAMPLES}\n\n${EXIT_CODES}\n`)
    .option("--arm-endpoint <url>", "Azure Resource Manager endpoint (env ARM_ENDPOINT; default https://management.azure.com)")
    .option("--ca-file <pem>", "PEM certificate trusted in addition to the system store (env ARM_CA_FILE)")
    .option("--key-vault-url <url>", "Key Vault for migrated secrets (env KEY_VAULT_URL)")
    .option("--subscription <id>", "subscription in scope; repeatable (env REMEDIATOR_SUBSCRIPTIONS)", collect)
    .option("--resource-group <name>", "resource group in scope; repeatable (env REMEDIATOR_RESOURCE_GROUPS)", collect)
    .option("--management-group <id>", "management group in scope (every subscription below it, through Resource Graph); repeatable (env REMEDIATOR_MANAGEMENT_GROUPS)", collect)
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
      checkSelectors(services, { subscription: program.opts()["subscription"] as string[] | undefined, resourceGroup: program.opts()["resourceGroup"] as string[] | undefined }, "in scope");
      if (opts.format === "json") {
        // a Resource Graph row is the service's whole body: the listing keeps to the reference
        io.stdout(JSON.stringify({ services: services.map(({ row: _row, etag: _etag, ...ref }) => ref) }, null, 2) + "\n");
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
      const ids = ruleList(opts.rules);
      try {
        rules = selectRules(ids);
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
    .option("--input <file>", "ARM resource list, ARM template (JSON; run `bicep build` on a .bicep first) or PowerShell export; repeatable (offline scan)", collect)
    .option("--service <name>", "only these services (name or id); repeatable; one that matches nothing is an error", collect)
    .option("--rules <ids>", "comma-separated rule ids (default: all)")
    .option("--min-api-version <date>", "minimum API version for min-api-version", DEFAULT_RULE_OPTIONS.minApiVersion)
    .option("--unused-days <n>", "look-back window of unused-api (live scans)", intArg("--unused-days", 1, 93), DEFAULT_RULE_OPTIONS.unusedDays)
    .addOption(new Option("--format <format>", "output format").choices(FORMATS).default("table"))
    .option("--output <file>", "write the report to a file instead of stdout")
    .option("--only-failed", "list only failed findings (table, json, markdown; the summary still counts all)")
    .option("--sarif-location <path>", `SARIF, live scans: the repository file results point at, e.g. the Bicep that deploys the services (default ${DEFAULT_SARIF_LOCATION}); offline results point at their --input file`)
    .option("--sarif-category <id>", "SARIF: runs[].automationDetails.id, the category code scanning keeps this analysis under (default apim-remediator/live or apim-remediator/offline)")
    .option("--sarif-include-pass", "SARIF: include passing results (kind pass); off by default")
    .action(async (opts: { input?: string[]; service?: string[]; rules?: string; minApiVersion: string; unusedDays: number; format: Format; output?: string; onlyFailed?: boolean; sarifLocation?: string; sarifCategory?: string; sarifIncludePass?: boolean }, cmd: Command) => {
      let rules;
      const ids = ruleList(opts.rules);
      try {
        rules = selectRules(ids);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(opts.minApiVersion)) throw new UsageError(`--min-api-version must be an API version date such as 2021-08-01 (got "${opts.minApiVersion}")`);
      for (const [flag, given] of [["--sarif-location", opts.sarifLocation], ["--sarif-category", opts.sarifCategory], ["--sarif-include-pass", opts.sarifIncludePass]] as const) {
        if (given !== undefined && opts.format !== "sarif") throw new UsageError(`${flag} applies to --format sarif only (got --format ${opts.format})`);
      }
      if (opts.onlyFailed && opts.format === "sarif") throw new UsageError("--only-failed does not apply to --format sarif (it lists problems only; --sarif-include-pass adds passes)");
      const ruleOptions = { ...DEFAULT_RULE_OPTIONS, minApiVersion: opts.minApiVersion, unusedDays: opts.unusedDays };
      const global = program.opts();
      const selectors = { service: opts.service, subscription: global["subscription"] as string[] | undefined, resourceGroup: global["resourceGroup"] as string[] | undefined };
      let findings;
      let locator: SourceLocator;
      const offline = opts.input !== undefined && opts.input.length > 0;
      if (offline) {
        const inputs = opts.input ?? [];
        // flags that cannot apply to files: refused, not silently ignored
        for (const [key, flag, why] of [
          ["armEndpoint", "--arm-endpoint", "nothing is read from Azure"],
          ["caFile", "--ca-file", "nothing is read from Azure"],
          ["keyVaultUrl", "--key-vault-url", "nothing is read from Azure"],
          ["principalId", "--principal-id", "nothing is read from Azure"],
          ["mode", "--mode", "a scan changes nothing"],
        ] as const) {
          if (program.getOptionValueSource(key) === "cli") throw new UsageError(`${flag} does not apply to an offline scan (--input): ${why}`);
        }
        if (cmd.getOptionValueSource("unusedDays") === "cli") throw new UsageError("--unused-days does not apply to an offline scan (--input): unused-api needs live request metrics");
        if (opts.sarifLocation !== undefined) throw new UsageError("--sarif-location applies to live scans: offline results point at their --input file");
        for (const f of inputs) {
          if (/\.bicep(param)?$/i.test(f)) throw new UsageError(`${f}: a Bicep file; run \`bicep build ${f}\` (or \`az bicep build --file ${f}\`) first and pass the .json it writes`);
        }
        const fileOfId = new Map<string, string>();
        const all = snapshotsFromFiles(inputs, (file, resources) => {
          for (const r of resources) if (!fileOfId.has(r.id.toLowerCase())) fileOfId.set(r.id.toLowerCase(), file);
        });
        const refOf = (id: string) => parseServiceId(id);
        const refs = all.map((sn) => refOf(sn.service.id)).filter((r): r is ServiceRef => r !== undefined);
        checkSelectors(refs, selectors, "in the input files");
        const snapshots = selectServices(all, (sn) => refOf(sn.service.id), selectors);
        findings = detect(snapshots, rules, ruleOptions);
        locator = new SourceLocator(
          inputs.map((path) => ({ path })),
          (id) => {
            const key = id.toLowerCase();
            const svc = /^(.*\/providers\/microsoft\.apimanagement\/service\/[^/]+)/i.exec(key)?.[1];
            return fileOfId.get(key) ?? (svc !== undefined ? fileOfId.get(svc) : undefined) ?? [...fileOfId.entries()].find(([k]) => svc !== undefined && k.startsWith(svc + "/"))?.[1];
          },
        );
      } else {
        const settings = settingsFrom(global, io.env);
        const config = loadConfig(settings);
        const clients = createClients(config);
        const progress = io.isTTY ? (done: number, total: number, svc: { name: string }) => io.stderr(`\rscanned ${done}/${total}: ${svc.name}`.padEnd(60) + (done === total ? "\n" : "")) : undefined;
        const res = await scanLive(clients, rules, ruleOptions, { subscriptions: config.subscriptions, resourceGroups: config.resourceGroups, managementGroups: config.managementGroups, discovery: config.discovery, services: opts.service, onProgress: progress, budgetSeconds: config.messageBudgetSeconds });
        checkSelectors(res.services, selectors, "in scope");
        findings = res.findings;
        locator = new SourceLocator([{ path: opts.sarifLocation ?? DEFAULT_SARIF_LOCATION }]);
      }
      const toFile = opts.output !== undefined;
      const options: RenderOptions = {
        onlyFailed: opts.onlyFailed === true,
        color: !toFile && color(),
        ...(!toFile && io.stdoutIsTTY && io.columns ? { columns: io.columns } : {}),
        sarif: { locate: (f) => locator.locate(f.resourceId), category: opts.sarifCategory ?? `apim-remediator/${offline ? "offline" : "live"}`, includePass: opts.sarifIncludePass === true },
      };
      const text = render(opts.format, findings, rules, options);
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
    const ids = ruleList(opts.rules);
    try {
      rules = selectRules(ids);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const settings = settingsFrom(program.opts(), io.env);
    if (!dryRun && program.opts()["mode"] === undefined) settings["REMEDIATOR_MODE"] = "enforce";
    let config = loadConfig(settings);
    // the audit file and the state directory must take writes before anything is changed: a fix without its record is not made
    ensureWritable(opts.auditFile, resolve(opts.stateDir));
    const clients = createClients(config);
    // audit records name who acted: the principal of the token the credential gives (asked now, so no sign-in fails before anything is read)
    if (config.principalId === undefined) {
      const actor = await actingPrincipal(clients.credential, config.armEndpoint);
      if (actor !== undefined) config = { ...config, principalId: actor };
    }
    const log = createLogger({ level: io.env["LOG_LEVEL"] ?? "silent", destination: { write: (l: string) => io.stderr(l) } });
    const memory = new MemoryAudit(secrets);
    const audit = opts.auditFile ? new MultiAudit([memory, new JsonLinesAudit(opts.auditFile, secrets)]) : memory;
    // a terminal can wait for a service update (15 to 45 minutes or longer in Azure): in-process, with a progress line on stderr
    const engine = new Engine({ clients, config, audit, inventory: new FileLockInventory(resolve(opts.stateDir, "locks.json")), log, registry: secrets, operationMode: "wait", progress: (line) => io.stderr(`apim-remediator: ${line}\n`) });
    const discovered = await discoverServices(clients, config);
    const selectors = { service: opts.service, subscription: program.opts()["subscription"] as string[] | undefined, resourceGroup: program.opts()["resourceGroup"] as string[] | undefined };
    checkSelectors(discovered, selectors, "in scope");
    const services = selectServices(discovered, (x) => x, selectors);
    const sweep = new WriteBudget(config.maxWritesPerSweep);
    const actions: ActionResult[] = [];
    for (const svc of services) {
      // a service too big for one evaluation is evaluated in parts, as the Functions app does (src/engine/chunked.ts)
      const r = await evaluateInChunks(engine, clients, config, svc.id, { dryRun, rules, sweepBudget: sweep });
      actions.push(...r.actions);
      if (io.isTTY) io.stderr(`\revaluated ${services.indexOf(svc) + 1}/${services.length}: ${svc.name}`.padEnd(60) + "\n");
    }
    io.stdout(secrets.scrub(renderActions(actions, opts.format, dryRun, { ruleModes: config.ruleModes, color: opts.format === "text" && color() })));
    // exit 1 while any drift remains (planned, not remediable, failed, or stopped by a limit)
    const open = actions.filter((a) => (a.outcome !== "applied" && a.outcome !== "skipped") || a.reason?.includes("limit"));
    if (open.length > 0) onExit(1);
  };

  program
    .command("demo")
    .description("Run the whole app locally on Azurite and the emulator: sweep, then fix changes a user makes (no Azure, no Core Tools)")
    .option("--dry-run", "tickets instead of changes")
    .option("--estate <file>", "estate to serve (default emulator/estates/demo.json)")
    .option("--realistic", "the emulator takes Azure's documented durations (service updates, role propagation), scaled by --time-scale")
    .option("--time-scale <x>", "real ms per Azure ms with --realistic (default 0.0001: a 30-minute update takes 180 ms)", scaleArg("--time-scale"))
    .action(async (opts: { dryRun?: boolean; estate?: string; realistic?: boolean; timeScale?: number }) => {
      if (opts.timeScale !== undefined && !opts.realistic) throw new UsageError("--time-scale needs --realistic");
      const { runDemo } = await import("./demo.js");
      const code = await runDemo({ dryRun: opts.dryRun === true, estate: opts.estate, realistic: opts.realistic === true, timeScale: opts.timeScale }, { out: io.stdout });
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
  const state: RunState = { sendAttempts: 0 };
  const program = buildProgram(
    io,
    (c) => {
      exitCode = c;
    },
    state,
  );
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
    const explained = explainAzureError(e, { armEndpoint: state.armEndpoint, attempts: state.sendAttempts });
    if (explained !== undefined) {
      io.stderr(`apim-remediator: ${explained}\n`);
      return 3;
    }
    const err = e as { statusCode?: number; code?: string; message?: string };
    // a subscription in scope that ARM does not know (or this identity cannot see) is a selector that matches nothing
    if (err.code === "SubscriptionNotFound") {
      io.stderr(`apim-remediator: ${(err.message ?? "").split("\n")[0]?.trim()} (check --subscription / REMEDIATOR_SUBSCRIPTIONS, and that this identity can read it)\n`);
      return 2;
    }
    io.stderr(`apim-remediator: ${err.statusCode ? `HTTP ${err.statusCode} ${err.code ?? ""}: ` : ""}${(err.message ?? String(e)).split("\n")[0]}\n`);
    return 3;
  }
}

if (require.main === module) {
  void run(process.argv.slice(2)).then((code) => {
    if (code !== 0) process.exitCode = code;
  });
}
