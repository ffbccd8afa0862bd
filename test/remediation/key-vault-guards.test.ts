/**
 * The Key Vault guards as pure functions (issue 15): secret names are
 * injective over (service, named value), the fix's clients reach only the
 * configured vault, and the configured URL and ARM id must name one vault.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/common/config.js";
import { withVaultAllowList } from "../../src/engine/engine.js";
import { inAllowedVault, ownedBy, referencedSecret, secretNameFor, secretNameOf, TAG_NAMED_VALUE, TAG_SERVICE } from "../../src/remediations/fixes/key-vault.js";
import { rule as kvRule } from "../../src/remediations/named-value-secrets-in-key-vault.js";
import { BlockedError } from "../../src/remediations/types.js";

// APIM service names: letters, digits, hyphens (1-50); named value names: most printable characters but */#&+:<>?
const serviceName = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,49}$/);
const namedValueName = fc.stringMatching(/^[a-zA-Z0-9._~!$'()\-,;=@ %]{1,256}$/);

describe("secret names", () => {
  it("the pairs the old scheme merged keep distinct names", () => {
    expect(secretNameFor("contoso", "prod-key")).not.toBe(secretNameFor("contoso-prod", "key"));
    expect(secretNameFor("a", "b.c")).not.toBe(secretNameFor("a", "b-c"));
  });

  it("are valid Key Vault names, stable, case-insensitive like ARM, and distinct for distinct pairs", () => {
    fc.assert(
      fc.property(serviceName, namedValueName, serviceName, namedValueName, (s1, n1, s2, n2) => {
        const a = secretNameFor(s1, n1);
        expect(a).toMatch(/^[0-9a-zA-Z-]{1,127}$/);
        expect(secretNameFor(s1.toUpperCase(), n1.toUpperCase())).toBe(a);
        const same = s1.toLowerCase() === s2.toLowerCase() && n1.toLowerCase() === n2.toLowerCase();
        expect(secretNameFor(s2, n2) === a).toBe(same);
      }),
      { numRuns: 2000 },
    );
  });

  it("ownership is by both tags, compared as ARM compares names", () => {
    const sid = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ApiManagement/service/s1";
    expect(ownedBy({ [TAG_SERVICE]: sid.toUpperCase(), [TAG_NAMED_VALUE]: "Key" }, sid, "key")).toBe(true);
    expect(ownedBy({ [TAG_SERVICE]: sid, [TAG_NAMED_VALUE]: "other" }, sid, "key")).toBe(false);
    expect(ownedBy({ [TAG_NAMED_VALUE]: "key" }, sid, "key")).toBe(false);
    expect(ownedBy(undefined, sid, "key")).toBe(false);
  });
});

describe("only the configured vault", () => {
  const VAULT = "https://kv-apim.vault.azure.net";
  it("a reference is in the allowed vault only when its https origin is the configured vault's", () => {
    const cfg = { keyVaultUrl: VAULT, keyVaultResourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-apim" };
    expect(inAllowedVault(`${VAULT}/secrets/a/0123`, cfg)).toBe(true);
    expect(inAllowedVault("https://KV-APIM.vault.azure.net/secrets/a", { ...cfg, keyVaultUrl: `${VAULT}/` })).toBe(true);
    for (const other of ["https://kv-other.vault.azure.net/secrets/a", "http://kv-apim.vault.azure.net/secrets/a", "https://kv-apim.vault.azure.net.evil.example/secrets/a", "https://kv-apim.vault.azure.net:8443/secrets/a", "https://127.0.0.1:9443/secrets/a", "not a url"]) {
      expect(inAllowedVault(other, cfg), other).toBe(false);
    }
    expect(inAllowedVault(`${VAULT}/secrets/a`, {})).toBe(false);
    // against the emulator, the vault's Azure name is the configured vault (mapped to it, never resolved); no other name is
    const emu = { ...cfg, keyVaultUrl: "https://127.0.0.1:8444" };
    expect(inAllowedVault("https://127.0.0.1:8444/secrets/a", emu)).toBe(true);
    expect(inAllowedVault("https://kv-apim.vault.azure.net/secrets/a", emu)).toBe(true);
    expect(inAllowedVault("https://kv-other.vault.azure.net/secrets/a", emu)).toBe(false);
    expect(inAllowedVault("https://127.0.0.1:8445/secrets/a", emu)).toBe(false);
  });

  it("a reference read at apply time names a secret only in the configured vault (issue 17: never granted elsewhere)", () => {
    const cfg = { keyVaultUrl: VAULT, keyVaultResourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-apim" };
    expect(referencedSecret(`${VAULT}/secrets/apim-db/0123abcd`, cfg)).toBe("apim-db");
    expect(secretNameOf(`${VAULT}/secrets/apim-db/`)).toBe("apim-db");
    expect(secretNameOf(`${VAULT}/keys/apim-db`)).toBeUndefined();
    expect(secretNameOf("not a url")).toBeUndefined();
    for (const other of ["https://kv-other.vault.azure.net/secrets/apim-db", "http://kv-apim.vault.azure.net/secrets/apim-db", "not a url"]) {
      expect(() => referencedSecret(other, cfg), other).toThrow(BlockedError);
      expect(() => referencedSecret(other, cfg), other).toThrow(/not the configured Key Vault.*nothing granted/);
    }
    expect(() => referencedSecret(`${VAULT}/certificates/c1`, cfg)).toThrow(/not a Key Vault secret identifier/);
  });

  it("the migration has no rollback: a failed fix never writes a secret back into API Management inline", () => {
    expect(kvRule.remediation).toBeDefined();
    expect(kvRule.remediation?.rollback).toBeUndefined();
  });

  it("the clients a fix gets refuse any other vault before a request is made", () => {
    const asked: string[] = [];
    const clients = withVaultAllowList({ secrets: (url?: string) => (asked.push(url ?? ""), {} as never) }, VAULT);
    clients.secrets(`${VAULT}/`);
    expect(() => clients.secrets("https://kv-other.vault.azure.net")).toThrow(BlockedError);
    expect(() => withVaultAllowList({ secrets: (_url?: string) => ({}) as never }, undefined).secrets(VAULT)).toThrow(/not the configured vault/);
    expect(asked).toEqual([`${VAULT}/`]);
  });

  it("KEY_VAULT_URL and KEY_VAULT_RESOURCE_ID must name the same vault", () => {
    const id = (name: string) => `/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/${name}`;
    expect(loadConfig({ KEY_VAULT_URL: VAULT, KEY_VAULT_RESOURCE_ID: id("kv-apim") }).keyVaultUrl).toBe(VAULT);
    expect(loadConfig({ KEY_VAULT_URL: "https://kv-apim.vault.azure.cn", KEY_VAULT_RESOURCE_ID: id("KV-APIM") }).keyVaultUrl).toBe("https://kv-apim.vault.azure.cn");
    const e = (() => {
      try {
        loadConfig({ KEY_VAULT_URL: "https://kv-other.vault.azure.net", KEY_VAULT_RESOURCE_ID: id("kv-apim") });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toBe('Invalid setting KEY_VAULT_URL: expected the URL of the vault KEY_VAULT_RESOURCE_ID names (https://kv-apim.vault.azure.net) (got "https://kv-other.vault.azure.net")');
    expect(() => loadConfig({ KEY_VAULT_URL: "https://example.com", KEY_VAULT_RESOURCE_ID: id("kv-apim") })).toThrow(ConfigError);
  });
});
