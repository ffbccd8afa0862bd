/**
 * The one typed configuration of apim-remediator, read from environment
 * variables / Function App settings (and, in the CLI, from flags mapped onto
 * the same names). Invalid input fails fast with one line naming the setting.
 */
import { X509Certificate } from "node:crypto";
import { FileReadError, readBoundedFile } from "./files.js";
import { z } from "zod";
import { Cron } from "croner";
import { RULE_IDS } from "../model/rule.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Settings that hold credentials (ticket tokens, passwords, the webhook secret): a bad value is described, never shown. */
const SECRET_SETTING = /(_TOKEN|_SECRET|_PASSWORD|_PAT)$/;

/**
 * REMEDIATOR_MAX_APIS_IN_FLIGHT's default: four of the largest services the estate bench generates side by side
 * (300 APIs and 30 revisions: 330 in their API lists), with room for small ones beside them. Measured with four such
 * services in four subscriptions at ARM's real rates (bench/RESULTS.md, "refill-bound"): 272 s with a budget of 400
 * (one service at a time: the budget, not ARM, bound them), 137 s with 1,200 (three at a time), 88 s with 1,600 and
 * 82 s with 2,000 (wall ÷ ARM's floor 1.15 and 1.07), for ~25 MB more peak RSS than 400 (~28 KB per API held).
 */
export const DEFAULT_MAX_APIS_IN_FLIGHT = 1_600;

export class ConfigError extends Error {
  /** The value as the message shows it (a credential's is not shown). */
  readonly got: string | undefined;
  constructor(
    readonly setting: string,
    readonly expected: string,
    got: string | undefined,
  ) {
    const shown = got === undefined ? undefined : SECRET_SETTING.test(setting) ? `${got.length} characters, not shown` : JSON.stringify(got.length > 80 ? got.slice(0, 77) + "..." : got);
    super(`Invalid setting ${setting}: expected ${expected}${shown === undefined ? " (not set)" : ` (got ${shown})`}`);
    this.name = "ConfigError";
    this.got = got === undefined || SECRET_SETTING.test(setting) ? undefined : got;
  }
}

/** A setting's description, used for validation errors and the README table. */
interface SettingSpec {
  expected: string;
  schema: z.ZodType;
}

const optionalString = (s: z.ZodType) => z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : typeof v === "string" ? v.trim() : v), s.optional());

const guidList = z
  .string()
  .transform((s) => s.split(/[\s,;]+/).filter((x) => x.length > 0))
  .pipe(z.array(z.string().regex(GUID)).min(1));

const httpsUrl = z
  .string()
  .url()
  .refine((u) => u.startsWith("https://"), "must use https")
  .transform((u) => u.replace(/\/+$/, ""));

/**
 * NCRONTAB as the Functions timer trigger takes it: six fields, seconds first
 * ({second} {minute} {hour} {day} {month} {day-of-week}; learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions).
 * The field count and characters are checked here, each field's values by croner's parser in its six-field mode
 * (so `99 99 99 * * *` is refused, not accepted and never fired).
 */
const ncrontab = z.string().refine((s) => {
  if (s.trim().split(/\s+/).length !== 6 || !/^[\d*/,\-A-Za-z\s]+$/.test(s)) return false;
  try {
    new Cron(s.trim(), { paused: true, mode: "6-part" }).stop();
    return true;
  } catch {
    return false;
  }
}, "six NCRONTAB fields");

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}(-preview)?$/);

/**
 * Numbers in plain decimal notation only. `Number()` (z.coerce) also reads "0x5", "0b1", "1e3", "+5", " 5" and
 * "5.0" as numbers, so a typo or a hex value would pass unnoticed: whole numbers are digits only, rates digits
 * with an optional fraction. Blank is unset, as for every setting; anything else is taken as given (not trimmed).
 */
const plainNumber = (pattern: RegExp, n: z.ZodNumber) => z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), z.string().regex(pattern).transform(Number).pipe(n).optional());
const wholeNumber = (min: number, max: number) => plainNumber(/^\d+$/, z.number().int().min(min).max(max));
const decimalNumber = (min: number, max: number) => plainNumber(/^\d+(\.\d+)?$/, z.number().min(min).max(max));

const SERVICE_ID = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ApiManagement\/service\/[^/]+$/i;
const SERVICE_NAME = /^[a-zA-Z][a-zA-Z0-9-]{0,49}$/;
const EXEMPT_RULE = /^(\*|[a-z0-9-]+)(@\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?)?$/;

/**
 * REMEDIATOR_EXEMPTIONS: `service=rule,rule@date; service=*`. The service is an API Management resource id
 * (lower-cased) or a service name; the rules use the exemption tag's syntax. Rule ids are checked against
 * the catalog in loadConfig; a malformed entry fails the whole setting (z.NEVER after an issue).
 */
function parseExemptionEntries(text: string, ctx: z.RefinementCtx): Array<{ service: string; rules: string }> {
  const out: Array<{ service: string; rules: string }> = [];
  for (const entry of text.split(/[;\n]+/).map((x) => x.trim()).filter((x) => x.length > 0)) {
    const eq = entry.indexOf("=");
    const service = eq < 0 ? "" : entry.slice(0, eq).trim();
    const rules = eq < 0 ? "" : entry.slice(eq + 1).trim();
    const items = rules.split(/[,\s]+/).filter((x) => x.length > 0);
    const dated = (r: string) => !r.includes("@") || Number.isFinite(Date.parse(/@\d{4}-\d{2}-\d{2}$/.test(r) ? `${r.split("@")[1]}T00:00:00Z` : (r.split("@")[1] as string)));
    if ((!SERVICE_ID.test(service) && !SERVICE_NAME.test(service)) || items.length === 0 || !items.every((r) => EXEMPT_RULE.test(r) && dated(r))) {
      ctx.addIssue({ code: "custom", message: `bad entry ${entry}` });
      return z.NEVER;
    }
    out.push({ service: service.toLowerCase(), rules: items.join(",") });
  }
  return out;
}

export const SETTINGS = {
  REMEDIATOR_MODE: { expected: 'one of "enforce", "dry-run"', schema: z.enum(["enforce", "dry-run"]).default("dry-run") },
  REMEDIATOR_SUBSCRIPTIONS: { expected: "a comma-separated list of subscription GUIDs", schema: optionalString(guidList) },
  REMEDIATOR_RESOURCE_GROUPS: {
    expected: "a comma-separated list of resource group names",
    schema: optionalString(z.string().transform((s) => s.split(/[\s,;]+/).filter((x) => x.length > 0)).pipe(z.array(z.string().regex(/^[-\w._()]{1,90}$/)).min(1))),
  },
  REMEDIATOR_MANAGEMENT_GROUPS: {
    expected: "a comma-separated list of management group ids (1-90 letters, digits, -, _, ., ( or ))",
    schema: optionalString(z.string().transform((s) => s.split(/[\s,;]+/).filter((x) => x.length > 0)).pipe(z.array(z.string().regex(/^[-\w.()]{1,90}$/)).min(1))),
  },
  REMEDIATOR_DISCOVERY: { expected: 'one of "resource-graph", "arm"', schema: optionalString(z.enum(["resource-graph", "arm"])).transform((v) => v ?? "resource-graph") },
  ARM_ENDPOINT: { expected: "an https:// URL of Azure Resource Manager", schema: optionalString(httpsUrl).transform((v) => v ?? "https://management.azure.com") },
  ARM_CA_FILE: { expected: "the path of a readable PEM certificate file", schema: optionalString(z.string()) },
  KEY_VAULT_URL: { expected: "an https:// Key Vault URL such as https://myvault.vault.azure.net", schema: optionalString(httpsUrl) },
  REMEDIATOR_PRINCIPAL_ID: { expected: "the object id (GUID) of the remediator's own identity", schema: optionalString(z.string().regex(GUID)) },
  AZURE_CLIENT_ID: { expected: "the client id (GUID) of a user-assigned managed identity", schema: optionalString(z.string().regex(GUID)) },
  AZURE_TENANT_ID: { expected: "a tenant id (GUID)", schema: optionalString(z.string().regex(GUID)) },
  SWEEP_SCHEDULE: { expected: 'an NCRONTAB expression with six fields (second minute hour day month day-of-week), each in range, e.g. "0 0 */6 * * *"', schema: optionalString(ncrontab).transform((v) => v ?? "0 0 */6 * * *") },
  MIN_API_VERSION: { expected: "an API version date such as 2021-08-01", schema: optionalString(isoDate).transform((v) => v ?? "2021-08-01") },
  LOG_LEVEL: {
    expected: 'one of "fatal", "error", "warn", "info", "debug", "trace", "silent"',
    schema: optionalString(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])).transform((v) => v ?? "info"),
  },
  ARM_MAX_RETRIES: { expected: "a whole number from 0 to 20", schema: wholeNumber(0, 20).transform((v) => v ?? 6) },
  ARM_PACING: { expected: '"true" or "false"', schema: optionalString(z.enum(["true", "false", "1", "0"])).transform((v) => v === undefined || v === "true" || v === "1") },
  ARM_READS_PER_SECOND: { expected: "a number of requests per second from 0.1 to 100000", schema: decimalNumber(0.1, 100000).transform((v) => v ?? 25) },
  ARM_WRITES_PER_SECOND: { expected: "a number of requests per second from 0.1 to 100000", schema: decimalNumber(0.1, 100000).transform((v) => v ?? 10) },
  ARM_DELETES_PER_SECOND: { expected: "a number of requests per second from 0.1 to 100000", schema: decimalNumber(0.1, 100000).transform((v) => v ?? 10) },
  REMEDIATOR_RULE_MODES: {
    expected: 'comma-separated rule=mode pairs with mode "enforce", "dry-run" or "off", e.g. "resource-lock=off,gateway-tls-protocols=enforce"',
    schema: optionalString(
      z
        .string()
        .transform((s) => s.split(/[\s,;]+/).filter((x) => x.length > 0).map((p) => p.split("=")))
        .pipe(z.array(z.tuple([z.string().regex(/^[a-z0-9-]+$/), z.enum(["enforce", "dry-run", "off"])]))),
    ),
  },
  REMEDIATOR_KILL_SWITCH: { expected: '"true" or "false"', schema: optionalString(z.enum(["true", "false", "1", "0"])).transform((v) => v === "true" || v === "1") },
  REMEDIATOR_MAX_WRITES_PER_SERVICE: { expected: "a whole number from 0 to 1000", schema: wholeNumber(0, 1000).transform((v) => v ?? 25) },
  REMEDIATOR_MAX_WRITES_PER_SWEEP: { expected: "a whole number from 0 to 100000", schema: wholeNumber(0, 100000).transform((v) => v ?? 250) },
  REMEDIATOR_MAX_APIS_IN_FLIGHT: { expected: "a whole number from 1 to 100000 (APIs one instance's evaluations may hold at once)", schema: wholeNumber(1, 100_000).transform((v) => v ?? DEFAULT_MAX_APIS_IN_FLIGHT) },
  REMEDIATOR_MESSAGE_BUDGET_SECONDS: { expected: "a whole number of seconds from 1 to 600 (ARM calls a queue message may make, at ARM's read refill)", schema: wholeNumber(1, 600).transform((v) => v ?? 300) },
  REMEDIATOR_DEBOUNCE_SECONDS: { expected: "a whole number of seconds from 0 to 600", schema: wholeNumber(0, 600).transform((v) => v ?? 30) },
  REMEDIATOR_CERTIFICATE_EXPIRY_DAYS: { expected: "a whole number of days from 0 to 365", schema: wholeNumber(0, 365).transform((v) => v ?? 30) },
  REMEDIATOR_FULL_SWEEP_HOURS: { expected: "a whole number of hours from 0 to 8760 (0: every sweep reads every service in full)", schema: wholeNumber(0, 8760).transform((v) => v ?? 24) },
  REMEDIATOR_EXEMPT_TAG: { expected: "a tag name", schema: optionalString(z.string().min(1).max(512)).transform((v) => v ?? "apim-remediator:exempt") },
  KEY_VAULT_RESOURCE_ID: {
    expected: "the ARM id of the Key Vault (/subscriptions/.../providers/Microsoft.KeyVault/vaults/NAME)",
    schema: optionalString(z.string().regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+$/i)),
  },
  REMEDIATOR_GRANT_KEY_VAULT_ACCESS: { expected: '"true" or "false"', schema: optionalString(z.enum(["true", "false", "1", "0"])).transform((v) => v === undefined || v === "true" || v === "1") },
  REMEDIATOR_LOCK_NAME: { expected: "a lock name (1-90 characters, no / or %)", schema: optionalString(z.string().regex(/^[^/%&?\\]{1,90}$/)).transform((v) => v ?? "apim-remediator-baseline") },
  REMEDIATOR_LOCK_LEVEL: { expected: 'one of "CanNotDelete", "ReadOnly"', schema: optionalString(z.enum(["CanNotDelete", "ReadOnly"])).transform((v) => v ?? "CanNotDelete") },
  REMEDIATOR_LOCK_NOTES: { expected: "lock notes (at most 512 characters)", schema: optionalString(z.string().max(512)).transform((v) => v ?? "Baseline lock kept by apim-remediator: remove only with a change ticket.") },
  REMEDIATOR_RECREATE_FOREIGN_LOCKS: { expected: '"true" or "false"', schema: optionalString(z.enum(["true", "false", "1", "0"])).transform((v) => v === "true" || v === "1") },
  REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: {
    expected: "the ARM id of a Log Analytics workspace (/subscriptions/.../resourceGroups/.../providers/Microsoft.OperationalInsights/workspaces/NAME)",
    schema: optionalString(z.string().regex(/^\/subscriptions\/[0-9a-f-]{36}\/resourceGroups\/[-\w._()]{1,90}\/providers\/Microsoft\.OperationalInsights\/workspaces\/[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$/i)),
  },
  REMEDIATOR_EXEMPTIONS: {
    expected: 'entries "service=rule-id,rule-id@YYYY-MM-DD" separated by ";" (service: an API Management resource id or name; "*" = every rule)',
    schema: optionalString(z.string().max(8192).transform(parseExemptionEntries).pipe(z.array(z.object({ service: z.string(), rules: z.string() })).min(1))),
  },
} satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

export interface Config {
  mode: "enforce" | "dry-run";
  /** Subscriptions in scope; empty = every subscription the identity can list. */
  subscriptions: string[];
  /** Resource groups in scope (within those subscriptions); empty = all. */
  resourceGroups: string[];
  /** Management groups in scope (REMEDIATOR_MANAGEMENT_GROUPS): discovery covers every subscription below them; empty = not used. */
  managementGroups: string[];
  /** How the sweep finds services: one paged Azure Resource Graph query (default), or ARM listing per subscription. */
  discovery: "resource-graph" | "arm";
  armEndpoint: string;
  /** PEM text trusted in addition to the system store (e.g. the emulator's CA). */
  armCa?: string;
  armCaFile?: string;
  keyVaultUrl?: string;
  principalId?: string;
  managedIdentityClientId?: string;
  tenantId?: string;
  sweepSchedule: string;
  minApiVersion: string;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  armMaxRetries: number;
  /** Client-side pacing under ARM's throttling (token buckets per subscription); absent = on with ARM's figures. */
  armPacing?: { enabled: boolean; readsPerSecond: number; writesPerSecond: number; deletesPerSecond: number };
  /** True when ARM is a loopback address (the bundled emulator). The client factory is the only reader. */
  armIsLoopback: boolean;
  /** Per-rule mode overrides. */
  ruleModes: Record<string, "enforce" | "dry-run" | "off">;
  /** Global kill switch: no writes of any kind. */
  killSwitch: boolean;
  maxWritesPerService: number;
  maxWritesPerSweep: number;
  /** A service whose evaluation needs more ARM reads than this many seconds at ARM's read refill is evaluated in chunks (src/engine/chunks.ts). */
  messageBudgetSeconds: number;
  /** APIs one instance's evaluations may hold at once (src/app/api-budget.ts). */
  maxApisInFlight: number;
  exemptTag: string;
  /** Events for one service within this window coalesce into one evaluation. */
  debounceSeconds: number;
  /** custom-domain-certificate-expiry: certificates must expire more than this many days from now. */
  certificateExpiryDays: number;
  /** A sweep re-reads in full a service whose discovery row is unchanged and which had no events once its last full evaluation is this many hours old (REMEDIATOR_FULL_SWEEP_HOURS; 0: always; src/app/freshness.ts). */
  fullSweepHours: number;
  keyVaultResourceId?: string;
  grantKeyVaultAccess: boolean;
  lockName: string;
  lockLevel: "CanNotDelete" | "ReadOnly";
  lockNotes: string;
  /** Re-create deleted ReadOnly locks the remediator did not create (default false: reported instead). */
  recreateForeignLocks: boolean;
  /** `resource-logs-enabled`: the Log Analytics workspace its fix sends resource logs to (REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID); absent = no fix, a ticket. */
  logAnalyticsWorkspaceId?: string;
  /** Exemptions from the settings (REMEDIATOR_EXEMPTIONS): by service id or name (lower case), the rules in the tag's syntax. */
  exemptions: Array<{ service: string; rules: string }>;
}

export type Env = Record<string, string | undefined>;

function parseSetting<K extends SettingName>(name: K, env: Env): z.output<(typeof SETTINGS)[K]["schema"]> {
  const spec: SettingSpec = SETTINGS[name];
  const raw = env[name];
  const res = spec.schema.safeParse(raw);
  if (!res.success) throw new ConfigError(name, spec.expected, raw);
  return res.data as z.output<(typeof SETTINGS)[K]["schema"]>;
}

export function isLoopbackUrl(url: string): boolean {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, "");
    return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
  } catch {
    return false;
  }
}

/** A CA bundle is a few hundred kilobytes at most (the whole Mozilla root store is about 200 KB). */
export const MAX_CA_FILE_BYTES = 1024 * 1024;

/**
 * ARM_CA_FILE: a regular file, read with a bound, holding one or more PEM certificates, each of which
 * parses as X.509 (node:crypto): a broken certificate fails here, with one line, not at the first TLS handshake.
 * Text outside the BEGIN/END blocks is ignored, as OpenSSL ignores it.
 */
function readCaFile(caFile: string): string {
  // what is wrong goes after what is expected, so a long path (shortened in the message) cannot hide it
  const bad = (why: string) => new ConfigError("ARM_CA_FILE", `${SETTINGS.ARM_CA_FILE.expected}: ${why}`, caFile);
  let text: string;
  try {
    text = readBoundedFile(caFile, MAX_CA_FILE_BYTES).toString("utf8");
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    if (e.code) throw new ConfigError("ARM_CA_FILE", SETTINGS.ARM_CA_FILE.expected, `${caFile}: ${e.code}`);
    throw bad(`it is ${e.problem}`);
  }
  const begins = text.split("-----BEGIN CERTIFICATE-----").length - 1;
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (begins === 0) throw bad("no PEM certificate in it");
  if (blocks.length !== begins) throw bad("a BEGIN CERTIFICATE block in it has no END CERTIFICATE line");
  blocks.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch {
      throw bad(`certificate ${i + 1} of ${begins} in it is not a valid X.509 certificate`);
    }
  });
  return text;
}

/** Loads and validates the configuration; throws ConfigError with a one-line message. */
export function loadConfig(env: Env = process.env): Config {
  const armEndpoint = parseSetting("ARM_ENDPOINT", env) as string;
  const caFile = parseSetting("ARM_CA_FILE", env) as string | undefined;
  let armCa: string | undefined;
  if (caFile) armCa = readCaFile(caFile);
  return {
    mode: parseSetting("REMEDIATOR_MODE", env) as Config["mode"],
    subscriptions: ((parseSetting("REMEDIATOR_SUBSCRIPTIONS", env) as string[] | undefined) ?? []).map((s) => s.toLowerCase()),
    resourceGroups: (parseSetting("REMEDIATOR_RESOURCE_GROUPS", env) as string[] | undefined) ?? [],
    managementGroups: (parseSetting("REMEDIATOR_MANAGEMENT_GROUPS", env) as string[] | undefined) ?? [],
    discovery: parseSetting("REMEDIATOR_DISCOVERY", env) as Config["discovery"],
    armEndpoint,
    armCa,
    armCaFile: caFile,
    keyVaultUrl: configuredVault(env),
    principalId: (parseSetting("REMEDIATOR_PRINCIPAL_ID", env) as string | undefined)?.toLowerCase(),
    managedIdentityClientId: parseSetting("AZURE_CLIENT_ID", env) as string | undefined,
    tenantId: parseSetting("AZURE_TENANT_ID", env) as string | undefined,
    sweepSchedule: parseSetting("SWEEP_SCHEDULE", env) as string,
    minApiVersion: parseSetting("MIN_API_VERSION", env) as string,
    logLevel: parseSetting("LOG_LEVEL", env) as Config["logLevel"],
    armMaxRetries: parseSetting("ARM_MAX_RETRIES", env) as number,
    armPacing: {
      enabled: parseSetting("ARM_PACING", env) as boolean,
      readsPerSecond: parseSetting("ARM_READS_PER_SECOND", env) as number,
      writesPerSecond: parseSetting("ARM_WRITES_PER_SECOND", env) as number,
      deletesPerSecond: parseSetting("ARM_DELETES_PER_SECOND", env) as number,
    },
    armIsLoopback: isLoopbackUrl(armEndpoint),
    ruleModes: ruleModes(env),
    killSwitch: parseSetting("REMEDIATOR_KILL_SWITCH", env) as boolean,
    maxWritesPerService: parseSetting("REMEDIATOR_MAX_WRITES_PER_SERVICE", env) as number,
    maxWritesPerSweep: parseSetting("REMEDIATOR_MAX_WRITES_PER_SWEEP", env) as number,
    messageBudgetSeconds: parseSetting("REMEDIATOR_MESSAGE_BUDGET_SECONDS", env) as number,
    maxApisInFlight: parseSetting("REMEDIATOR_MAX_APIS_IN_FLIGHT", env) as number,
    exemptTag: parseSetting("REMEDIATOR_EXEMPT_TAG", env) as string,
    debounceSeconds: parseSetting("REMEDIATOR_DEBOUNCE_SECONDS", env) as number,
    certificateExpiryDays: parseSetting("REMEDIATOR_CERTIFICATE_EXPIRY_DAYS", env) as number,
    fullSweepHours: parseSetting("REMEDIATOR_FULL_SWEEP_HOURS", env) as number,
    keyVaultResourceId: parseSetting("KEY_VAULT_RESOURCE_ID", env) as string | undefined,
    grantKeyVaultAccess: parseSetting("REMEDIATOR_GRANT_KEY_VAULT_ACCESS", env) as boolean,
    lockName: parseSetting("REMEDIATOR_LOCK_NAME", env) as string,
    lockLevel: parseSetting("REMEDIATOR_LOCK_LEVEL", env) as Config["lockLevel"],
    lockNotes: parseSetting("REMEDIATOR_LOCK_NOTES", env) as string,
    recreateForeignLocks: parseSetting("REMEDIATOR_RECREATE_FOREIGN_LOCKS", env) as boolean,
    logAnalyticsWorkspaceId: parseSetting("REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID", env) as string | undefined,
    exemptions: exemptionSettings(env),
  };
}

/** Key Vault DNS suffixes of the public and sovereign clouds (Microsoft Learn: "About Azure Key Vault" / cloud endpoints). */
const KEY_VAULT_SUFFIXES = [".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de"];

/**
 * KEY_VAULT_URL, checked against KEY_VAULT_RESOURCE_ID when both are set: the
 * configured vault is the only one the remediator reads, writes or grants on,
 * so its URL and its ARM id must name the same vault (in Azure the URL is
 * https://NAME.vault.azure.net for the vault NAME; loopback emulator URLs are
 * not checked).
 */
function configuredVault(env: Env): string | undefined {
  const url = parseSetting("KEY_VAULT_URL", env) as string | undefined;
  const id = parseSetting("KEY_VAULT_RESOURCE_ID", env) as string | undefined;
  if (url === undefined || id === undefined || isLoopbackUrl(url)) return url;
  const host = new URL(url).hostname.toLowerCase();
  const name = (id.split("/").pop() ?? "").toLowerCase();
  const suffix = KEY_VAULT_SUFFIXES.find((x) => host.endsWith(x));
  if (!suffix || host.slice(0, -suffix.length) !== name) {
    throw new ConfigError("KEY_VAULT_URL", `the URL of the vault KEY_VAULT_RESOURCE_ID names (https://${name}${suffix ?? ".vault.azure.net"})`, env["KEY_VAULT_URL"]);
  }
  return url;
}

function ruleModes(env: Env): Config["ruleModes"] {
  const pairs = (parseSetting("REMEDIATOR_RULE_MODES", env) as Array<[string, "enforce" | "dry-run" | "off"]> | undefined) ?? [];
  const known = new Set<string>(RULE_IDS);
  const unknown = pairs.map(([id]) => id).filter((id) => !known.has(id));
  if (unknown.length > 0) throw new ConfigError("REMEDIATOR_RULE_MODES", `known rule ids (unknown: ${unknown.join(", ")})`, env["REMEDIATOR_RULE_MODES"]);
  return Object.fromEntries(pairs);
}

function exemptionSettings(env: Env): Config["exemptions"] {
  const entries = (parseSetting("REMEDIATOR_EXEMPTIONS", env) as Config["exemptions"] | undefined) ?? [];
  const known = new Set<string>(RULE_IDS);
  const unknown = entries.flatMap((e) => e.rules.split(",").map((r) => r.split("@")[0] as string)).filter((id) => id !== "*" && !known.has(id));
  if (unknown.length > 0) throw new ConfigError("REMEDIATOR_EXEMPTIONS", `known rule ids (unknown: ${[...new Set(unknown)].join(", ")})`, env["REMEDIATOR_EXEMPTIONS"]);
  return entries;
}

/** Every setting with what it expects, for docs and `--help`. */
export function describeSettings(): Array<{ name: string; expected: string }> {
  return Object.entries(SETTINGS).map(([name, s]) => ({ name, expected: s.expected }));
}
