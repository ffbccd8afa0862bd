import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generate } from "selfsigned";
import { ConfigError, describeSettings, isLoopbackUrl, loadConfig, SETTINGS } from "../../src/common/config.js";

const SUB_A = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const SUB_B = "22222222-2222-4222-8222-222222222222";

/** A named pipe in a temp dir, or undefined where mkfifo is not available (Windows). */
function makeFifo(): string | undefined {
  const fifo = join(mkdtempSync(join(tmpdir(), "cfg-fifo-")), "ca.pem");
  return spawnSync("mkfifo", [fifo]).status === 0 ? fifo : undefined;
}

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  it("has safe defaults: dry-run, public ARM, every visible subscription", () => {
    const c = loadConfig({});
    expect(c.mode).toBe("dry-run");
    expect(c.armEndpoint).toBe("https://management.azure.com");
    expect(c.armIsLoopback).toBe(false);
    expect(c.subscriptions).toEqual([]);
    expect(c.sweepSchedule).toBe("0 0 */6 * * *");
    expect(c.minApiVersion).toBe("2021-08-01");
  });

  it("parses lists, trims values and normalises ids", () => {
    const c = loadConfig({
      REMEDIATOR_MODE: "enforce",
      REMEDIATOR_SUBSCRIPTIONS: ` ${SUB_A.toUpperCase()}, ${SUB_B} `,
      REMEDIATOR_RESOURCE_GROUPS: "rg-a;rg-b",
      ARM_ENDPOINT: "https://127.0.0.1:8443/",
      KEY_VAULT_URL: "https://kv-contoso.vault.azure.net/",
    });
    expect(c.mode).toBe("enforce");
    expect(c.subscriptions).toEqual([SUB_A, SUB_B]);
    expect(c.resourceGroups).toEqual(["rg-a", "rg-b"]);
    expect(c.armEndpoint).toBe("https://127.0.0.1:8443");
    expect(c.armIsLoopback).toBe(true);
    expect(c.keyVaultUrl).toBe("https://kv-contoso.vault.azure.net");
  });

  it.each(["0 0 */6 * * *", "0 */5 * * * *", "0 30 9 * * 1-5", "0 0 0 * * MON", "0 0 0 1 Jan *", "*/30 * * * * *", "0 0 8,12,18 * * *"])("accepts the NCRONTAB schedule %j", (schedule) => {
    expect(loadConfig({ SWEEP_SCHEDULE: schedule }).sweepSchedule).toBe(schedule);
  });

  it("treats an empty setting as unset", () => {
    expect(loadConfig({ REMEDIATOR_SUBSCRIPTIONS: "  ", KEY_VAULT_URL: "" }).subscriptions).toEqual([]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ["REMEDIATOR_MODE", "fix-everything", /expected one of "enforce", "dry-run"/],
    ["REMEDIATOR_SUBSCRIPTIONS", "my-subscription", /subscription GUIDs/],
    ["REMEDIATOR_RESOURCE_GROUPS", "rg a/b", /resource group names/],
    ["ARM_ENDPOINT", "http://management.azure.com", /https:\/\/ URL/],
    ["ARM_ENDPOINT", "not a url", /https:\/\/ URL/],
    ["KEY_VAULT_URL", "kv-contoso", /Key Vault URL/],
    ["REMEDIATOR_PRINCIPAL_ID", "me", /object id \(GUID\)/],
    ["AZURE_CLIENT_ID", "1234", /client id \(GUID\)/],
    ["AZURE_TENANT_ID", "contoso.onmicrosoft.com", /tenant id \(GUID\)/],
    ["SWEEP_SCHEDULE", "0 */6 * * *", /six fields/],
    // six fields of the right characters, but out of range: the timer would never fire (or the host would refuse it)
    ["SWEEP_SCHEDULE", "99 99 99 * * *", /six fields .*each in range/],
    ["SWEEP_SCHEDULE", "0 0 24 * * *", /six fields/],
    ["SWEEP_SCHEDULE", "0 0 0 32 * *", /six fields/],
    ["SWEEP_SCHEDULE", "0 0 0 * 13 *", /six fields/],
    ["SWEEP_SCHEDULE", "0 0 0 * * FUNDAY", /six fields/],
    ["MIN_API_VERSION", "2019/12/01", /API version date/],
    ["LOG_LEVEL", "verbose", /"fatal", "error"/],
    ["ARM_MAX_RETRIES", "-1", /whole number from 0 to 20/],
    ["ARM_MAX_RETRIES", "many", /whole number from 0 to 20/],
  ];
  it.each(bad)("rejects %s=%j with one line naming the setting", (name, value, expected) => {
    const e = errorOf({ [name]: value });
    expect(e.setting).toBe(name);
    expect(e.message.startsWith(`Invalid setting ${name}: expected `)).toBe(true);
    expect(e.message).toMatch(expected);
    expect(e.message).toContain(JSON.stringify(value));
    expect(e.message).not.toContain("\n");
  });

  it("checks that ARM_CA_FILE exists and holds a PEM certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    expect(errorOf({ ARM_CA_FILE: join(dir, "missing.pem") }).message).toMatch(/ARM_CA_FILE: expected the path of a readable PEM certificate file \(got ".*missing\.pem: ENOENT"\)/);
    const notPem = join(dir, "x.pem");
    writeFileSync(notPem, "hello");
    expect(errorOf({ ARM_CA_FILE: notPem }).message).toMatch(/no PEM certificate/);
    const pem = join(dir, "ca.pem");
    const { cert } = await generate([{ name: "commonName", value: "config test CA" }], { keySize: 2048 });
    writeFileSync(pem, `# the test CA\n${cert}`);
    expect(loadConfig({ ARM_CA_FILE: pem }).armCa).toContain(cert.trim());
  });

  it("parses every certificate in ARM_CA_FILE: a broken one fails at start with one line, not at the first TLS handshake", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    const { cert } = await generate([{ name: "commonName", value: "config test CA" }], { keySize: 2048 });
    const body = cert.trim().split("\n").slice(1, -1);
    const cases: Array<[string, string, RegExp]> = [
      ["junk.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", /certificate 1 of 1 in it is not a valid X\.509 certificate/],
      ["truncated.pem", ["-----BEGIN CERTIFICATE-----", ...body.slice(0, 5), "-----END CERTIFICATE-----", ""].join("\n"), /certificate 1 of 1 in it is not a valid X\.509 certificate/],
      ["second-broken.pem", `${cert}\n-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n`, /certificate 2 of 2 in it is not a valid X\.509 certificate/],
      ["no-end.pem", `${cert}\n-----BEGIN CERTIFICATE-----\n${body.join("\n")}\n`, /has no END CERTIFICATE line/],
      ["garbage.pem", "\u0000\u0001\u00ff not a certificate at all", /no PEM certificate/],
    ];
    for (const [name, text, expected] of cases) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const e = errorOf({ ARM_CA_FILE: file });
      expect(e.setting).toBe("ARM_CA_FILE");
      expect(e.message).toMatch(expected);
      expect(e.message).toContain(name);
      expect(e.message).not.toContain("\n");
    }
  });

  it("refuses an ARM_CA_FILE that is not a regular file (a device, a named pipe) instead of reading it without end", () => {
    if (existsSync("/dev/zero")) expect(errorOf({ ARM_CA_FILE: "/dev/zero" }).message).toMatch(/ARM_CA_FILE: .*it is not a regular file \(a character device\) \(got "\/dev\/zero"\)$/);
    const fifo = makeFifo();
    if (fifo) expect(errorOf({ ARM_CA_FILE: fifo }).message).toMatch(/it is not a regular file \(a named pipe\)/);
  });

  const NUMERIC = Object.entries(SETTINGS).filter(([, s]) => /number/.test(s.expected));
  it("has numeric settings to check (the loop below is not vacuous)", () => {
    expect(NUMERIC.map(([n]) => n)).toEqual(expect.arrayContaining(["ARM_MAX_RETRIES", "ARM_READS_PER_SECOND", "REMEDIATOR_MAX_WRITES_PER_SERVICE", "REMEDIATOR_MAX_WRITES_PER_SWEEP", "REMEDIATOR_DEBOUNCE_SECONDS"]));
  });
  it.each(NUMERIC.map(([n, s]) => [n, s.expected] as const))("%s takes plain decimal digits only (no hex, exponent, sign, padding)", (name, expected) => {
    const whole = /whole number/.test(expected);
    const refused = ["0x5", "0X5", "0b1", "0o7", "1e3", "1E1", "+5", "-5", " 5", "5 ", "\t5", "5\n", "5_0", "Infinity", "NaN", ".5", "5.", "1,5", ...(whole ? ["5.0", "1.5"] : [])];
    for (const v of refused) {
      const e = errorOf({ [name]: v });
      expect(e.setting).toBe(name);
      expect(e.message).toContain(JSON.stringify(v));
      expect(e.message.split("\n")).toHaveLength(1);
    }
    expect(() => loadConfig({ [name]: "5" })).not.toThrow();
  });
  it("still reads plain numbers and treats blank as unset", () => {
    const c = loadConfig({ ARM_MAX_RETRIES: "5", REMEDIATOR_MAX_WRITES_PER_SERVICE: "0", REMEDIATOR_DEBOUNCE_SECONDS: "600", ARM_READS_PER_SECOND: "2.5", ARM_WRITES_PER_SECOND: "7" });
    expect([c.armMaxRetries, c.maxWritesPerService, c.debounceSeconds, c.armPacing?.readsPerSecond, c.armPacing?.writesPerSecond]).toEqual([5, 0, 600, 2.5, 7]);
    expect(loadConfig({ ARM_MAX_RETRIES: "  ", ARM_READS_PER_SECOND: "" })).toMatchObject({ armMaxRetries: 6, armPacing: { readsPerSecond: 25 } });
  });

  it("REMEDIATOR_CERTIFICATE_EXPIRY_DAYS: custom-domain-certificate-expiry's window, 30 days unless set (PSRule's default), 0 to 365", () => {
    expect(loadConfig({}).certificateExpiryDays).toBe(30);
    expect(loadConfig({ REMEDIATOR_CERTIFICATE_EXPIRY_DAYS: "45" }).certificateExpiryDays).toBe(45);
    expect(loadConfig({ REMEDIATOR_CERTIFICATE_EXPIRY_DAYS: "0" }).certificateExpiryDays).toBe(0);
    const e = errorOf({ REMEDIATOR_CERTIFICATE_EXPIRY_DAYS: "366" });
    expect(e.setting).toBe("REMEDIATOR_CERTIFICATE_EXPIRY_DAYS");
    expect(e.message).toMatch(/whole number of days from 0 to 365/);
    expect(e.message.split("\n")).toHaveLength(1);
  });

  it("recognises loopback endpoints only", () => {
    expect(isLoopbackUrl("https://127.0.0.1:1234")).toBe(true);
    expect(isLoopbackUrl("https://localhost")).toBe(true);
    expect(isLoopbackUrl("https://[::1]:443")).toBe(true);
    expect(isLoopbackUrl("https://127.0.0.1.contoso.example")).toBe(false);
    expect(isLoopbackUrl("https://management.azure.com")).toBe(false);
  });

  it("REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: a workspace's ARM id is taken as given; unset means none; anything else fails with one line naming it", () => {
    const ws = `/subscriptions/${SUB_A}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law-apim-prod`;
    expect(loadConfig({ REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: ` ${ws} ` }).logAnalyticsWorkspaceId).toBe(ws);
    expect(loadConfig({}).logAnalyticsWorkspaceId).toBeUndefined();
    expect(loadConfig({ REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: "" }).logAnalyticsWorkspaceId).toBeUndefined();
    for (const value of ["law-apim-prod", "5c1d0000-0000-4000-8000-000000000001", `/subscriptions/${SUB_A}/resourceGroups/rg/providers/Microsoft.Insights/components/appi-1`, `${ws}/tables/AzureDiagnostics`, `https://management.azure.com${ws}`]) {
      const e = errorOf({ REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: value });
      expect(e.setting).toBe("REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID");
      expect(e.message).toMatch(/^Invalid setting REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: expected the ARM id of a Log Analytics workspace \(/);
      expect(e.message).not.toContain("\n");
    }
  });

  it("describes every setting for the docs", () => {
    const names = describeSettings().map((s) => s.name);
    expect(names).toContain("REMEDIATOR_MODE");
    expect(names).toContain("ARM_ENDPOINT");
    expect(names).toContain("KEY_VAULT_URL");
  });
});
