/**
 * Secret hygiene over the whole flow: every secret value in the estate is
 * unique and seeded; the demo (runDemo, enforce and dry-run), the app under
 * faults (failed Key Vault writes, failed listValue, a crash), dry-run
 * tickets, the CLI in every format and command (live and offline, SARIF
 * files, audit files, debug logs) and the errors of failed calls are all
 * collected, and none of them may contain any of the values.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runDemo } from "../../src/cli/demo.js";
import { run } from "../../src/cli/main.js";
import { createClients } from "../../src/azure/clients.js";
import { loadConfig } from "../../src/common/config.js";
import { Engine } from "../../src/engine/engine.js";
import { MemoryAudit } from "../../src/engine/audit.js";
import { MemoryLockInventory } from "../../src/engine/inventory.js";
import { createLogger, SecretRegistry } from "../../src/common/logger.js";
import { STORAGE_PREFIX } from "../helpers/app.js";
import { DEMO_SUB, demoEstate, REMEDIATOR, type EstateSpec } from "./estates.js";
import { runSchedule, startWorld, type World } from "./harness.js";
import { checkInvariants, fp } from "./invariants.js";
import { Rng } from "./rng.js";
import type { Schedule } from "./schedule.js";

const dir = mkdtempSync(join(tmpdir(), "hygiene-"));
const SEEDED = new Set<string>();
/** Everything the product produced: [what, text]. */
const OUTPUTS: Array<[string, string]> = [];
const produced = (what: string, text: string) => OUTPUTS.push([what, text]);

function leaks(): string[] {
  const out: string[] = [];
  for (const [what, text] of OUTPUTS) for (const v of SEEDED) if (text.includes(v)) out.push(`${what} carries secret ${fp(v)}`);
  return out;
}

let world: World;
let spec: EstateSpec;
let estateFile: string;
beforeAll(async () => {
  spec = demoEstate(new Rng(4242));
  spec.seeded.forEach((v) => SEEDED.add(v));
  estateFile = join(dir, "estate.json");
  writeFileSync(estateFile, JSON.stringify(spec.resources, null, 2));
  world = await startWorld(inject("azuriteConnectionString"), `${STORAGE_PREFIX.slice(0, 11)}h`);
});
afterAll(async () => world?.emu.stop());

describe("secret hygiene", () => {
  it("the seeded values are unique and really in the estate (the checks below are not vacuous)", () => {
    expect(SEEDED.size).toBe(spec.seeded.length);
    expect(SEEDED.size).toBeGreaterThanOrEqual(3);
    const text = readFileSync(estateFile, "utf8");
    for (const v of SEEDED) expect(text.includes(v)).toBe(true);
  });

  it("npm run demo (enforce and dry-run) prints none of them", async () => {
    for (const dryRun of [false, true]) {
      let out = "";
      const code = await runDemo({ dryRun, estate: estateFile }, { out: (s) => (out += s) });
      expect(code).toBe(0);
      produced(`the demo's output (${dryRun ? "dry-run" : "enforce"})`, out);
    }
    expect(leaks()).toEqual([]);
  }, 120_000);

  it("the app under faults (failed Key Vault writes and listValue, a crash, a ticket outage) and in dry-run with tickets", async () => {
    const base: Omit<Schedule, "seed" | "mode" | "faults"> = { estate: "demo", generatedServices: 0, armMaxRetries: 0, concurrentWriter: false, events: true, ticketOutage: 0, discoverSubscriptions: false };
    const q = "(\\?|$)";
    const schedules: Schedule[] = [
      { ...base, seed: 4242, mode: "enforce", faults: [{ site: "vault.setSecret", kind: "500", rule: { id: "kv-500", method: "PUT", pathRegex: `^/secrets/`, status: 500, code: "InternalServerError", count: 2 } }, { site: "namedValue.patch", kind: "412", rule: { id: "nv-412", method: "PATCH", pathRegex: `/namedValues/[^/?]+${q}`, status: 412, code: "PreconditionFailed", count: 1 } }], ticketOutage: 0.5 },
      { ...base, seed: 4242, mode: "enforce", faults: [{ site: "namedValue.listValue", kind: "reset", rule: { id: "lv-reset", method: "POST", pathRegex: `/listValue${q}`, reset: true, count: 1 } }, { site: "vault.getSecretVersion", kind: "503", rule: { id: "kv-503", method: "GET", pathRegex: "^/secrets/[^/]+/[0-9a-f]{32}", status: 503, code: "ServiceUnavailable", count: 2 } }], crashAfter: 60 },
      { ...base, seed: 4242, mode: "enforce", faults: [{ site: "namedValue.refreshSecret", kind: "500", rule: { id: "refresh-500", method: "POST", pathRegex: `/refreshSecret${q}`, status: 500, count: 3 } }, { site: "namedValue.patch", kind: "lost-write", rule: { id: "nv-lost", method: "PATCH", pathRegex: `/namedValues/[^/?]+${q}`, swallow: true, count: 1 } }], writeBudget: 2 },
      { ...base, seed: 4242, mode: "dry-run", faults: [{ site: "namedValues.list", kind: "429", rule: { id: "nv-429", method: "GET", pathRegex: `/namedValues${q}`, status: 429, count: 1 } }] },
    ];
    for (const s of schedules) {
      const obs = await runSchedule(world, s);
      // the invariant checker looks at logs, audit records, compliance rows, tickets, results and errors (and secrets kept)
      const violations = await checkInvariants(obs, world);
      expect(violations).toEqual([]);
      obs.spec.seeded.forEach((v) => SEEDED.add(v));
      produced(`the app's logs (${s.mode}, ${s.faults.map((f) => f.rule.id).join("+")})`, obs.logLines.join("\n"));
      produced("the app's errors", obs.errors.join("\n"));
      produced("the app's tickets", JSON.stringify(obs.tickets.tickets));
      produced("the app's results", JSON.stringify(obs.outcomes));
      if (s.mode === "dry-run") expect(obs.tickets.tickets.filter((t) => t.ruleId === "named-value-secrets-in-key-vault").length).toBeGreaterThan(0);
    }
    expect(leaks()).toEqual([]);
  }, 120_000);

  it("the CLI in every command and format, live and offline (SARIF and audit files, debug logs, failed calls)", async () => {
    world.emu.reset(spec.resources);
    world.emu.faults.clear();
    const kv = world.emu.keyVaults[spec.vaultName] as string;
    const env = { LOG_LEVEL: "debug", ARM_MAX_RETRIES: "0", KEY_VAULT_RESOURCE_ID: spec.vaultResourceId };
    const global = ["--arm-endpoint", world.emu.armEndpoint, "--ca-file", world.emu.caFile, "--principal-id", REMEDIATOR, "--subscription", DEMO_SUB, "--key-vault-url", kv];
    const cli = async (label: string, argv: string[], expectCodes: number[]) => {
      let out = "";
      let err = "";
      const code = await run(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s), env });
      expect(expectCodes, `${label}: exit ${code} ${err.slice(0, 300)}`).toContain(code);
      produced(`the CLI's output (${label})`, out);
      produced(`the CLI's stderr (${label})`, err);
    };
    for (const format of ["table", "json", "markdown", "sarif"]) {
      await cli(`scan --format ${format}`, [...global, "scan", "--format", format], [1]);
      await cli(`scan --input --format ${format}`, ["scan", "--input", estateFile, "--format", format], [1]);
      const sarif = join(dir, `scan-${format}.out`);
      await cli(`scan --input --output (${format})`, ["scan", "--input", estateFile, "--format", format, "--output", sarif], [1]);
      produced(`the report file (${format})`, readFileSync(sarif, "utf8"));
    }
    for (const format of ["table", "json"]) {
      await cli(`services --format ${format}`, [...global, "services", "--format", format], [0]);
      await cli(`rules --format ${format}`, ["rules", "--format", format], [0]);
    }
    for (const format of ["text", "json"]) {
      await cli(`plan --format ${format}`, [...global, "plan", "--format", format, "--state-dir", join(dir, "state")], [1]);
      await cli(`remediate --dry-run --format ${format}`, [...global, "remediate", "--dry-run", "--format", format, "--state-dir", join(dir, "state")], [1]);
    }
    // failed calls during a real remediation: the Key Vault write fails, then listValue, then the PATCH
    world.emu.faults.add({ id: "kv-fail", method: "PUT", pathRegex: "^/secrets/", status: 500, code: "InternalServerError", message: "Key Vault is having a bad day", count: 1 });
    world.emu.faults.add({ id: "lv-fail", method: "POST", pathRegex: "/listValue", status: 503, count: 1, after: 1 });
    world.emu.faults.add({ id: "nv-fail", method: "PATCH", pathRegex: "/namedValues/[^/?]+(\\?|$)", reset: true, count: 1 });
    const audit = join(dir, "audit.jsonl");
    await cli("remediate --yes (with failed calls)", [...global, "remediate", "--yes", "--format", "json", "--audit-file", audit, "--state-dir", join(dir, "state")], [0, 1]);
    world.emu.faults.clear();
    await cli("remediate --yes --format text", [...global, "remediate", "--yes", "--format", "text", "--audit-file", audit, "--state-dir", join(dir, "state")], [0, 1]);
    produced("the CLI's audit file", readFileSync(audit, "utf8"));
    // an Azure call that fails outright: exit 3 with one line
    world.emu.faults.add({ id: "down", status: 500, code: "InternalServerError" });
    await cli("scan while ARM is down", [...global, "scan"], [3]);
    world.emu.faults.clear();
    expect(leaks()).toEqual([]);
    // the remediation did read the values (so the hygiene was tested, not avoided)
    expect(world.emu.log.list().some((l) => l.method === "POST" && l.path.includes("/listValue") && l.status === 200)).toBe(true);
  }, 120_000);

  it("errors thrown from failed calls carry no value (engine errors, stacks)", async () => {
    world.emu.reset(spec.resources);
    const registry = new SecretRegistry();
    const lines: string[] = [];
    const config = loadConfig({ ARM_ENDPOINT: world.emu.armEndpoint, ARM_CA_FILE: world.emu.caFile, REMEDIATOR_PRINCIPAL_ID: REMEDIATOR, REMEDIATOR_MODE: "enforce", ARM_MAX_RETRIES: "0", KEY_VAULT_URL: world.emu.keyVaults[spec.vaultName] as string, KEY_VAULT_RESOURCE_ID: spec.vaultResourceId });
    const log = createLogger({ level: "trace", registry, destination: { write: (l: string) => void lines.push(l) } });
    const audit = new MemoryAudit(registry);
    const engine = new Engine({ clients: createClients(config), config, audit, inventory: new MemoryLockInventory(), log, registry, sleep: () => Promise.resolve(), backoffMs: 1, pollIntervalMs: 5, pollAttempts: 2 });
    const dev = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
    // a failure after the value was read: every later call fails, the thrown error and the results must stay clean
    world.emu.faults.add({ id: "after-read", reset: true, after: 45 });
    try {
      const r = await engine.evaluate(dev);
      produced("the engine's result", JSON.stringify(r));
    } catch (e) {
      produced("an engine exception", `${String(e)}\n${(e as Error).stack ?? ""}\n${JSON.stringify(e)}`);
    }
    world.emu.faults.clear();
    produced("the engine's logs", lines.join("\n"));
    produced("the engine's audit", JSON.stringify(audit.records));
    expect(leaks()).toEqual([]);
  }, 60_000);

  afterAll(() => console.log(`secret hygiene: ${SEEDED.size} seeded values checked against ${OUTPUTS.length} outputs (${OUTPUTS.reduce((a, [, t]) => a + t.length, 0)} characters)`));
});
