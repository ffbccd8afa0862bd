import { describe, expect, it } from "vitest";
import { runDemo } from "../../src/cli/demo.js";

const SECRETS = ["demo-db-pass-Q8w3", "demo-partner-key-Zk41", "demo-orders-key-7Yq2"];

describe("npm run demo", () => {
  it("sweeps, fixes what a user breaks within seconds, prints before/after and exits 0", async () => {
    let out = "";
    const code = await runDemo({ dryRun: false }, { out: (s) => (out += s) });
    expect(code).toBe(0);
    expect(out).toMatch(/1\. Before: 3 services/);
    expect(out).toMatch(/user re-enables HTTP on API 'orders' -> fixed in [\d.]+ s \(api-https-only\)/);
    expect(out).toMatch(/user deletes the lock 'do-not-delete' -> fixed in [\d.]+ s \(resource-lock\)/);
    expect(out).toMatch(/user adds a plain-text secret named value 'payments-api-key' -> fixed in [\d.]+ s \(named-value-secrets-in-key-vault\)/);
    expect(out).toMatch(/apim-contoso-prod +0 +0/);
    expect(out).toMatch(/Summary: \d+ drifts found; \d+ fixed, \d+ ticketed, 0 failed/);
    for (const s of SECRETS) expect(out).not.toContain(s);
  }, 120_000);

  it("--dry-run changes nothing and shows tickets instead", async () => {
    let out = "";
    const code = await runDemo({ dryRun: true }, { out: (s) => (out += s) });
    expect(code).toBe(0);
    expect(out).toMatch(/user re-enables HTTP on API 'orders' -> ticket #\d+: api-https-only/);
    expect(out).toMatch(/Tickets: \d+ open/);
    expect(out).toMatch(/Summary: \d+ drifts found; 0 fixed, \d+ ticketed, 0 failed/);
  }, 120_000);
});
