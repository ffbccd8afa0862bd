import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { REMEDIATOR, startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { isRead } from "../reliability/estates.js";

const DEMO = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const KV_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`;
const SECRETS = ["demo-db-pass-Q8w3", "demo-partner-key-Zk41", "demo-orders-key-7Yq2"];

describe("apim-remediator plan / remediate", () => {
  let env: TestEnv;
  let flags: string[];
  let state: string;
  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
    flags = ["--arm-endpoint", env.emu.armEndpoint, "--ca-file", env.emu.caFile, "--principal-id", REMEDIATOR, "--key-vault-url", env.emu.keyVaults["kv-contoso-apim"] as string];
    state = mkdtempSync(join(tmpdir(), "remediate-"));
  });
  afterAll(async () => env.emu.stop());

  async function cli(args: string[]) {
    let out = "";
    let err = "";
    const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: { KEY_VAULT_RESOURCE_ID: KV_ID }, isTTY: false });
    return { code, out, err };
  }
  // a Resource Graph query (discovery) is a POST that reads
  const writes = () => env.emu.log.list().filter((l) => !isRead(l));

  it("plan prints the diff and changes nothing", async () => {
    env.emu.log.clear();
    const r = await cli([...flags, "plan", "--service", "apim-contoso-dev", "--state-dir", state]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("PLANNED        api-https-only  apim-contoso-dev/apis/echo;rev=2");
    expect(r.out).toContain('    - properties.protocols: ["http"]\n    + properties.protocols: ["https"]');
    expect(r.out).toMatch(/Move secret named value 'legacy-db-password' into Key Vault secret/);
    expect(r.out).toMatch(/nothing was changed/);
    expect(writes()).toEqual([]);
  });

  it("plan --format json lists every action with its plan", async () => {
    const r = await cli([...flags, "plan", "--service", "apim-contoso-dev", "--format", "json", "--rules", "api-https-only"]);
    const actions = (JSON.parse(r.out) as { actions: Array<{ ruleId: string; outcome: string; plan: { changes: unknown[] } }> }).actions;
    expect(actions).toHaveLength(3);
    expect(actions.every((a) => a.outcome === "planned" && a.plan.changes.length === 1)).toBe(true);
  });

  it("remediate refuses to change live resources without --yes", async () => {
    env.emu.log.clear();
    const r = await cli([...flags, "remediate", "--service", "apim-contoso-dev"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe("apim-remediator: refusing to change live resources without --yes (or use --dry-run)\n");
    expect(writes()).toEqual([]);
  });

  it("remediate --dry-run changes nothing", async () => {
    env.emu.log.clear();
    const r = await cli([...flags, "remediate", "--dry-run", "--service", "apim-contoso-dev"]);
    expect(r.out).toMatch(/planned/);
    expect(writes()).toEqual([]);
  });

  it("remediate --yes fixes the auto drifts, audits them without secrets, and a rerun writes nothing", async () => {
    const audit = join(state, "audit.jsonl");
    const r = await cli([...flags, "remediate", "--yes", "--service", "apim-contoso-dev", "--audit-file", audit, "--state-dir", state]);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/APPLIED +named-value-secrets-in-key-vault +apim-contoso-dev\/namedValues\/legacy-db-password/);
    // the demo's dev service also has the self-hosted gateway configuration endpoint enabled (no self-hosted gateway): fixed too
    expect(r.out).toMatch(/APPLIED +gateway-configuration-endpoint-disabled +apim-contoso-dev\/tenant\/gatewayAccess\n/);
    expect(r.out).toMatch(/\n11 applied, 0 rolled back, 0 failed, \d+ not remediable, 0 skipped, 3 reported only\n$/);
    const records = readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { outcome: string; correlationId: string; actor: string });
    expect(records.filter((x) => x.outcome === "applied").length).toBeGreaterThanOrEqual(9);
    expect(records.every((x) => x.actor === REMEDIATOR)).toBe(true);
    for (const s of SECRETS) {
      expect(r.out + r.err).not.toContain(s);
      expect(readFileSync(audit, "utf8")).not.toContain(s);
    }
    expect(JSON.parse(readFileSync(join(state, "locks.json"), "utf8"))).toBeTypeOf("object");

    env.emu.log.clear();
    const again = await cli([...flags, "remediate", "--yes", "--service", "apim-contoso-dev", "--state-dir", state]);
    expect(again.out).toMatch(/\n0 applied/);
    expect(writes()).toEqual([]);
  });

  it("a malformed lock inventory in --state-dir exits 2 with one line naming it, and nothing is changed", async () => {
    const cases: Array<[string, RegExp]> = [
      ["{ not json", /: not valid JSON \(/],
      ["[]", /: not a lock inventory \(/],
      ['{"/subscriptions/x": 5}', /: not a lock inventory \(.* at "\/subscriptions\/x"/],
      ['{"/subscriptions/x": [{"id": "/l", "name": 7, "level": "CanNotDelete"}]}', /: not a lock inventory \(.* at "\/subscriptions\/x" > "0" > "name"/],
    ];
    for (const [text, expected] of cases) {
      const dir = mkdtempSync(join(tmpdir(), "remediate-bad-state-"));
      const file = join(dir, "locks.json");
      writeFileSync(file, text);
      env.emu.log.clear();
      const r = await cli([...flags, "remediate", "--yes", "--service", "apim-contoso-prod", "--state-dir", dir]);
      expect(r.code, `${text}: ${r.err}`).toBe(2);
      expect(r.err.startsWith(`apim-remediator: lock inventory ${file}: `), r.err).toBe(true);
      expect(r.err).toMatch(expected);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.out).toBe("");
      expect(writes()).toEqual([]);
      expect(readFileSync(file, "utf8")).toBe(text);
    }
  });
});
