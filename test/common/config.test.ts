import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, describeSettings, isLoopbackUrl, loadConfig } from "../../src/common/config.js";

const SUB_A = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const SUB_B = "22222222-2222-4222-8222-222222222222";

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
    expect(c.minApiVersion).toBe("2019-12-01");
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

  it("checks that ARM_CA_FILE exists and holds a PEM certificate", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    expect(errorOf({ ARM_CA_FILE: join(dir, "missing.pem") }).message).toMatch(/ARM_CA_FILE: expected the path of a readable PEM certificate file \(got ".*missing\.pem: ENOENT"\)/);
    const notPem = join(dir, "x.pem");
    writeFileSync(notPem, "hello");
    expect(errorOf({ ARM_CA_FILE: notPem }).message).toMatch(/no PEM certificate/);
    const pem = join(dir, "ca.pem");
    writeFileSync(pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    expect(loadConfig({ ARM_CA_FILE: pem }).armCa).toContain("BEGIN CERTIFICATE");
  });

  it("recognises loopback endpoints only", () => {
    expect(isLoopbackUrl("https://127.0.0.1:1234")).toBe(true);
    expect(isLoopbackUrl("https://localhost")).toBe(true);
    expect(isLoopbackUrl("https://[::1]:443")).toBe(true);
    expect(isLoopbackUrl("https://127.0.0.1.contoso.example")).toBe(false);
    expect(isLoopbackUrl("https://management.azure.com")).toBe(false);
  });

  it("describes every setting for the docs", () => {
    const names = describeSettings().map((s) => s.name);
    expect(names).toContain("REMEDIATOR_MODE");
    expect(names).toContain("ARM_ENDPOINT");
    expect(names).toContain("KEY_VAULT_URL");
  });
});
