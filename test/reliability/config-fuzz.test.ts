/**
 * Every configuration setting (SETTINGS, the ticket settings, the storage
 * settings): missing, empty and malformed values give one clear startup
 * error naming the setting — from loadConfig, from the Functions app's
 * startup (buildAppDeps), from the CLI (exit 2) and in the health check —
 * and never show a credential. Arbitrary strings (fast-check) for every
 * setting either load or fail that way.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, inject, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { ConfigError, loadConfig, SETTINGS, type Env } from "../../src/common/config.js";
import { checkHealth } from "../../src/app/health.js";
import { buildAppDeps } from "../../src/app/runtime.js";
import { TICKET_PROVIDERS, ticketProviderFromEnv } from "../../src/tickets/config.js";
import { STORAGE_PREFIX } from "../helpers/app.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? "1");
export const configCases = { count: 0 };
const dir = mkdtempSync(join(tmpdir(), "config-fuzz-"));
const notPem = join(dir, "not.pem");
writeFileSync(notPem, "hello");
const brokenPem = join(dir, "broken.pem");
writeFileSync(brokenPem, "-----BEGIN CERTIFICATE-----\nMIIBbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");

/** Malformed values by what a setting expects (its `expected` text), so a new setting gets cases too. */
function derivedMalformed(expected: string): string[] {
  const out: string[] = [];
  if (/whole number/.test(expected)) out.push("-1", "lots", "1.5");
  else if (/number/.test(expected)) out.push("lots", "-1", "0");
  // Number() reads these as numbers: a numeric setting takes plain decimal digits only
  if (/number/.test(expected)) out.push("0x5", "1e3", " 5", "+5", "0b1", ...(/whole number/.test(expected) ? ["5.0"] : []));
  if (/"true" or "false"/.test(expected)) out.push("yes", "maybe");
  if (/one of/.test(expected)) out.push("not-one-of-them");
  if (/GUID/.test(expected)) out.push("me", "1234");
  if (/https:\/\//.test(expected)) out.push("http://example.com", "not a url");
  return out;
}

/** Malformed values for the settings that need their own (the others' come from derivedMalformed). */
const MALFORMED: Partial<Record<keyof typeof SETTINGS, string[]>> = {
  REMEDIATOR_MODE: ["yolo", "ENFORCE", "enforce,dry-run", "1", " "],
  REMEDIATOR_SUBSCRIPTIONS: ["my-subscription", "8f3c2a51-6d4e-4b7a-9c1f", "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34,nope", ",,,", "{8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34}"],
  REMEDIATOR_RESOURCE_GROUPS: ["rg a/b", "rg/..", "x".repeat(91), "rg%2F", ";;"],
  REMEDIATOR_MANAGEMENT_GROUPS: ["mg/root", "x".repeat(91), "mg%2F", ";;", "mg a&b"],
  REMEDIATOR_DISCOVERY: ["graph", "ARM", "resource-graph,arm", "1"],
  ARM_ENDPOINT: ["http://management.azure.com", "not a url", "ftp://management.azure.com", "https://", "management.azure.com"],
  ARM_CA_FILE: [join(dir, "missing.pem"), notPem, dir, "\u0000", brokenPem, ...(process.platform === "win32" ? [] : ["/dev/zero"])],
  KEY_VAULT_URL: ["kv-contoso", "http://kv-contoso.vault.azure.net", "https://", "kv-contoso.vault.azure.net"],
  REMEDIATOR_PRINCIPAL_ID: ["me", "1234", "{0e5a0000-0000-4000-8000-00000000beef}", "0e5a0000-0000-4000-8000-00000000beeg"],
  AZURE_CLIENT_ID: ["client", "1234-5678"],
  AZURE_TENANT_ID: ["contoso.onmicrosoft.com", "common"],
  SWEEP_SCHEDULE: ["0 */6 * * *", "every hour", "0 0 */6 * * * *", "0 0 */6 * * ; rm -rf", "99 99 99 * * *", "60 * * * * *", "0 0 0 0 * *", "0 0 0 * 0 *", "0 0 0 * * 8", "0 5-1 * * * *", "0 */0 * * * *", "a b c d e f"],
  MIN_API_VERSION: ["2019/12/01", "latest", "2019-12", "19-12-01"],
  LOG_LEVEL: ["verbose", "INFO", "5"],
  ARM_MAX_RETRIES: ["-1", "many", "21", "1.5"],
  REMEDIATOR_RULE_MODES: ["resource-lock", "resource-lock=yes", "no-such-rule=off", "=off", "Resource-Lock=off"],
  REMEDIATOR_KILL_SWITCH: ["yes", "on", "TRUE", "2"],
  REMEDIATOR_MAX_WRITES_PER_SERVICE: ["-1", "1001", "lots", "2.5"],
  REMEDIATOR_MAX_WRITES_PER_SWEEP: ["-1", "100001", "lots"],
  REMEDIATOR_DEBOUNCE_SECONDS: ["-1", "601", "soon", "1e3"],
  REMEDIATOR_EXEMPT_TAG: ["x".repeat(513)],
  KEY_VAULT_RESOURCE_ID: ["kv-contoso", "/subscriptions/x/providers/Microsoft.KeyVault/vaults/kv", "https://kv-contoso.vault.azure.net"],
  REMEDIATOR_GRANT_KEY_VAULT_ACCESS: ["yes", "maybe"],
  REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: ["law-apim", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law", "/subscriptions/8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34/resourceGroups/rg/providers/Microsoft.Insights/components/appi"],
  REMEDIATOR_LOCK_NAME: ["a/b", "x".repeat(91), "50%", "a?b"],
  REMEDIATOR_LOCK_LEVEL: ["readonly", "None", "CanNotDelete,ReadOnly"],
  REMEDIATOR_LOCK_NOTES: ["x".repeat(513)],
  REMEDIATOR_EXEMPTIONS: ["apim-contoso-prod", "apim-contoso-prod=", "=resource-lock", "apim-contoso-prod=no-such-rule", "rg/apim=*", "apim-contoso-prod=resource-lock@tomorrow", "apim-contoso-prod=resource-lock@2026-13-45"],
};

const malformed = (name: string): string[] => [...(MALFORMED[name as keyof typeof SETTINGS] ?? []), ...derivedMalformed((SETTINGS as Record<string, { expected: string }>)[name]?.expected ?? "")];

interface TicketSetting {
  valid: string;
  malformed: string[];
  /** A credential: never shown in an error. */
  secret?: boolean;
}

/** The settings each ticket provider needs (checked against src/tickets/config.ts below). */
const TICKETS: Record<Exclude<(typeof TICKET_PROVIDERS)[number], "none">, Record<string, TicketSetting>> = {
  webhook: {
    TICKET_WEBHOOK_URL: { valid: "https://hooks.contoso.example/apim", malformed: ["not a url", "ftp://hooks.contoso.example", "hooks.contoso.example"] },
    TICKET_WEBHOOK_SECRET: { valid: "whsec-0123456789abcdef", malformed: ["short-secret!", "123456789012345"], secret: true },
  },
  github: {
    TICKET_GITHUB_REPO: { valid: "contoso/apim-drift", malformed: ["contoso", "contoso/apim/drift", "con toso/apim"] },
    TICKET_GITHUB_TOKEN: { valid: "ghp_0123456789", malformed: [], secret: true },
  },
  "azure-devops": {
    TICKET_ADO_ORG_URL: { valid: "https://dev.azure.com/contoso", malformed: ["contoso", "dev.azure.com/contoso"] },
    TICKET_ADO_PROJECT: { valid: "Security", malformed: [] },
    TICKET_ADO_PAT: { valid: "pat-0123456789", malformed: [], secret: true },
  },
  jira: {
    TICKET_JIRA_URL: { valid: "https://contoso.atlassian.net", malformed: ["contoso", "contoso.atlassian.net"] },
    TICKET_JIRA_EMAIL: { valid: "bot@contoso.example", malformed: [] },
    TICKET_JIRA_TOKEN: { valid: "jira-token-0123", malformed: [], secret: true },
    TICKET_JIRA_PROJECT: { valid: "SEC", malformed: ["sec", "S", "SEC-1"] },
  },
  servicenow: {
    TICKET_SNOW_URL: { valid: "https://contoso.service-now.com", malformed: ["contoso", "contoso.service-now.com"] },
    TICKET_SNOW_USER: { valid: "apim-bot", malformed: [] },
    TICKET_SNOW_PASSWORD: { valid: "snow-password-0123", malformed: [], secret: true },
  },
};

const validTickets = (provider: keyof typeof TICKETS): Env => ({ TICKET_PROVIDER: provider, ...Object.fromEntries(Object.entries(TICKETS[provider]).map(([k, v]) => [k, v.valid])) });

function configError(f: () => unknown): ConfigError | undefined {
  configCases.count++;
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw new Error(`not a ConfigError: ${(e as Error).stack ?? String(e)}`);
  }
  return undefined;
}

/** One clear line naming the setting (and never showing a credential). */
function expectClear(e: ConfigError | undefined, name: string, value?: string, secret = false): void {
  expect(e, `${name}=${JSON.stringify(value)} gave no error`).toBeInstanceOf(ConfigError);
  const err = e as ConfigError;
  expect(err.setting).toBe(name);
  expect(err.message.startsWith(`Invalid setting ${name}: expected `), err.message).toBe(true);
  expect(err.message.includes("\n"), err.message).toBe(false);
  expect(err.message.length).toBeLessThan(400);
  // (a value of a few characters may appear in any text by chance)
  if (secret && value && value.trim().length >= 6) {
    expect(err.message.includes(value.trim()), `${name}: the error shows the credential`).toBe(false);
    expect(JSON.stringify(err)).not.toContain(value.trim());
  }
}

describe("configuration: every setting", () => {
  it("every setting in SETTINGS has malformed cases (its own, or derived from what it expects)", () => {
    expect(Object.keys(SETTINGS).filter((n) => malformed(n).length === 0)).toEqual([]);
    expect(Object.keys(MALFORMED).filter((n) => !(n in SETTINGS))).toEqual([]);
  });

  it("the ticket cases cover every setting src/tickets/config.ts requires", () => {
    const source = readFileSync(join(process.cwd(), "src/tickets/config.ts"), "utf8");
    const needed = new Set([...source.matchAll(/need\(env, "([A-Z_]+)"/g)].map((m) => m[1] as string));
    needed.add("TICKET_ADO_PAT"); // required unless the app's Entra identity stands in
    const covered = new Set(Object.values(TICKETS).flatMap((p) => Object.keys(p)));
    expect([...needed].sort()).toEqual([...covered].sort());
    expect(Object.keys(TICKETS).sort()).toEqual(TICKET_PROVIDERS.filter((p) => p !== "none").sort());
  });

  it.each(Object.keys(SETTINGS))("%s: missing or empty loads (a default, or unset), malformed fails with one line naming it", (name) => {
    // missing: every setting has a default or is optional
    expect(configError(() => loadConfig({}))).toBeUndefined();
    // empty and blank: unset (the default) — or a clear error where empty is not a value
    for (const empty of ["", "   "]) {
      const e = configError(() => loadConfig({ [name]: empty }));
      if (e) expectClear(e, name, empty);
    }
    for (const bad of malformed(name)) expectClear(configError(() => loadConfig({ [name]: bad })), name, bad);
  });

  it.each(Object.entries(TICKETS).flatMap(([provider, settings]) => Object.keys(settings).map((name) => [provider, name] as const)))("%s %s: missing, empty, blank and malformed fail with one line naming it", (provider, name) => {
    const p = provider as keyof typeof TICKETS;
    const spec = TICKETS[p][name] as TicketSetting;
    const base = validTickets(p);
    expect(configError(() => ticketProviderFromEnv(base))).toBeUndefined();
    const { [name]: _omit, ...missing } = base;
    // Azure DevOps without a PAT uses the app's Entra identity when there is one
    if (name !== "TICKET_ADO_PAT") expectClear(configError(() => ticketProviderFromEnv(missing, { getToken: () => Promise.resolve(null) })), name);
    expectClear(configError(() => ticketProviderFromEnv(missing)), name);
    for (const bad of ["", "   ", ...spec.malformed]) {
      if (name === "TICKET_ADO_PAT" && bad.trim() === "") continue; // blank = no PAT: covered by "missing"
      expectClear(configError(() => ticketProviderFromEnv({ ...base, [name]: bad })), name, bad, spec.secret);
    }
  });

  it("TICKET_PROVIDER: an unknown provider fails with one line naming it", () => {
    for (const bad of ["jira2", "GitHub", "slack", "none,github"]) expectClear(configError(() => ticketProviderFromEnv({ TICKET_PROVIDER: bad })), "TICKET_PROVIDER", bad);
    for (const ok of ["", "  ", "none"]) expect(configError(() => ticketProviderFromEnv({ TICKET_PROVIDER: ok }))).toBeUndefined();
  });

  it("arbitrary strings for every setting either load or fail with one line naming that setting (and never show a credential)", () => {
    const names = Object.keys(SETTINGS);
    const ticketNames = Object.entries(TICKETS).flatMap(([p, s]) => Object.keys(s).map((n) => [p as keyof typeof TICKETS, n] as const));
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 20 }), fc.constantFrom("", " ", "\n", "\u0000", "true", "0", "-1", "https://", "a".repeat(600)));
    fc.assert(
      fc.property(fc.constantFrom(...names), value, (name, v) => {
        const e = configError(() => loadConfig({ [name]: v }));
        if (e) expectClear(e, name, v);
      }),
      { numRuns: 3_000 * RUNS },
    );
    fc.assert(
      fc.property(fc.constantFrom(...ticketNames), value, ([provider, name], v) => {
        const spec = TICKETS[provider][name] as TicketSetting;
        const e = configError(() => ticketProviderFromEnv({ ...validTickets(provider), [name]: v }));
        if (e) expectClear(e, name, v, spec.secret);
      }),
      { numRuns: 2_000 * RUNS },
    );
  });
});

describe("configuration errors where they surface", () => {
  const storage = () => ({ AzureWebJobsStorage: inject("azuriteConnectionString"), REMEDIATOR_STORAGE_PREFIX: STORAGE_PREFIX });

  it("the Functions app's startup fails with the one line, for every setting and ticket setting", async () => {
    for (const [name, bad] of Object.keys(SETTINGS).map((n) => [n, malformed(n)[0] as string] as const)) {
      configCases.count++;
      await expect(buildAppDeps({ ...storage(), [name]: bad }), name).rejects.toThrow(new RegExp(`^Invalid setting ${name}: expected [^\\n]*$`));
    }
    for (const [provider, settings] of Object.entries(TICKETS)) {
      for (const name of Object.keys(settings)) {
        configCases.count++;
        const { [name]: _omit, ...env } = validTickets(provider as keyof typeof TICKETS);
        if (name === "TICKET_ADO_PAT") continue; // the app's identity stands in for a missing PAT
        await expect(buildAppDeps({ ...storage(), ...env }), `${provider} ${name}`).rejects.toThrow(new RegExp(`^Invalid setting ${name}: expected [^\\n]*\\(not set\\)$`));
      }
    }
  }, 60_000);

  it("storage settings: AzureWebJobsStorage missing and REMEDIATOR_STORAGE_PREFIX malformed fail with one line", async () => {
    configCases.count += 3;
    await expect(buildAppDeps({})).rejects.toThrow(/^Invalid setting AzureWebJobsStorage: [^\n]*$/);
    await expect(buildAppDeps({ AzureWebJobsStorage: "  " })).rejects.toThrow(/^Invalid setting AzureWebJobsStorage: [^\n]*$/);
    await expect(buildAppDeps({ ...storage(), REMEDIATOR_STORAGE_PREFIX: "Bad_Prefix" })).rejects.toThrow(/^Invalid setting REMEDIATOR_STORAGE_PREFIX: [^\n]*$/);
  });

  it("the CLI exits 2 with one line naming the setting", async () => {
    for (const name of Object.keys(SETTINGS)) {
      configCases.count++;
      let err = "";
      const code = await run(["services"], { stdout: () => undefined, stderr: (s) => (err += s), env: { [name]: malformed(name)[0] as string } });
      expect(code, `${name}: ${err}`).toBe(2);
      expect(err).toMatch(new RegExp(`^apim-remediator: Invalid setting ${name}: expected [^\\n]*\\n$`));
    }
  });

  it("the health check reports the one line (and no credential) without throwing", async () => {
    configCases.count += 2;
    const r = await checkHealth({ REMEDIATOR_MODE: "yolo" });
    expect(r.checks).toEqual([{ name: "config", ok: false, detail: 'Invalid setting REMEDIATOR_MODE: expected one of "enforce", "dry-run" (got "yolo")' }]);
    const secret = "short-secret!";
    const h = await checkHealth({ TICKET_PROVIDER: "webhook", TICKET_WEBHOOK_URL: "https://hooks.contoso.example", TICKET_WEBHOOK_SECRET: secret });
    expect(h.ok).toBe(false);
    expect(h.checks[0]?.detail).toMatch(/^Invalid setting TICKET_WEBHOOK_SECRET: /);
    expect(JSON.stringify(h)).not.toContain(secret);
  });
});
