/**
 * No change without a record (issue 15): the engine writes a `started` audit
 * record before a fix's first write and refuses to change anything when it
 * cannot; outcome records are logged first and retried; the CLI checks its
 * audit file and state directory before it changes anything.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import type { AuditRecord, AuditSink, MemoryAudit } from "../../src/engine/audit.js";
import { AuditUnavailableError } from "../../src/engine/engine.js";
import { ruleById, type Rule } from "../../src/remediations/index.js";
import { child, REMEDIATOR, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";
import { engineFor } from "../helpers/engine.js";

const NAME = "apim-audit";
const SID = serviceId(NAME);
const RULES = [ruleById("api-https-only") as Rule];
const estate = () => [
  { id: `/subscriptions/${SUB}`, type: "Microsoft.Resources/subscriptions", displayName: "audit tests" },
  service(NAME),
  child(NAME, "apis/echo", "Microsoft.ApiManagement/service/apis", { displayName: "Echo", path: "echo", protocols: ["http", "https"], isCurrent: true }),
];

/** A sink in front of the memory audit that refuses the records `fails` picks (a full disk, a storage outage). */
function failing(fails: (r: AuditRecord, attempt: number) => boolean): (memory: MemoryAudit) => AuditSink {
  const attempts = new Map<string, number>();
  return (memory) => ({
    write(r) {
      const key = `${r.outcome}|${r.resourceId}`;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (fails(r, n)) throw new Error("audit storage unavailable (injected)");
      memory.write(r);
    },
  });
}

let env: TestEnv;
const writes = () => env.emu.log.list().filter((l) => l.method !== "GET");
const protocols = async () => (await env.clients.apim(SUB).api.get("rg-apim", NAME, "echo")).protocols;

beforeAll(async () => {
  env = await startTestEmulator(estate(), { throttle: { enabled: false } });
});
afterAll(async () => env.emu.stop());

describe("the engine's audit trail", () => {
  it("cannot record the intent: nothing is changed, and the evaluation fails so it is retried", async () => {
    env.emu.reset(estate());
    const e = engineFor(env.emu, {}, undefined, { wrapAudit: failing((r) => r.outcome === "started") });
    env.emu.log.clear();
    await expect(e.engine.evaluate(SID, { rules: RULES })).rejects.toBeInstanceOf(AuditUnavailableError);
    expect(writes()).toEqual([]);
    expect(await protocols()).toEqual(["http", "https"]);
    expect(e.logLines.some((l) => l.includes("audit unavailable"))).toBe(true);
  });

  it("an outcome record that fails once is retried: both records are kept", async () => {
    env.emu.reset(estate());
    const e = engineFor(env.emu, {}, undefined, { wrapAudit: failing((r, n) => r.outcome === "applied" && n === 1) });
    const r = await e.engine.evaluate(SID, { rules: RULES });
    expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
    expect(e.audit.records.map((a) => a.outcome)).toEqual(["started", "applied"]);
    expect(await protocols()).toEqual(["https"]);
  });

  it("an outcome record that cannot be written: the change is on record as started, and the whole outcome is in the log", async () => {
    env.emu.reset(estate());
    const e = engineFor(env.emu, {}, undefined, { wrapAudit: failing((r) => r.outcome === "applied") });
    const r = await e.engine.evaluate(SID, { rules: RULES });
    expect(r.actions.map((a) => a.outcome)).toEqual(["applied"]);
    expect(e.audit.records).toEqual([expect.objectContaining({ outcome: "started", ruleId: "api-https-only", targetId: `${SID}/apis/echo`, changes: [{ path: "properties.protocols", before: ["http", "https"], after: ["https"] }] })]);
    const lines = e.logLines.map((l) => JSON.parse(l) as { msg: string; level: string; audit?: AuditRecord });
    // the log line with the outcome comes before the attempt to store it, and the failure is an error with the record
    expect(lines.find((l) => l.audit?.outcome === "applied" && l.level === "info")?.msg).toBe("api-https-only applied");
    expect(lines.find((l) => l.level === "error" && l.audit?.outcome === "applied")?.msg).toMatch(/audit record not written after 3 attempts/);
  });
});

describe("the CLI checks where it records before it changes anything", () => {
  const cli = async (args: string[]) => {
    let err = "";
    const code = await run(["--arm-endpoint", env.emu.armEndpoint, "--ca-file", env.emu.caFile, "--principal-id", REMEDIATOR, ...args], { stdout: () => undefined, stderr: (s) => (err += s), env: {}, isTTY: false });
    return { code, err };
  };

  it("an --audit-file that cannot be written: exit 2 with one line, no ARM read or write", async () => {
    env.emu.reset(estate());
    env.emu.log.clear();
    const r = await cli(["remediate", "--yes", "--rules", "api-https-only", "--audit-file", "/nonexistent-dir/audit.jsonl", "--state-dir", mkdtempSync(join(tmpdir(), "audit-state-"))]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^apim-remediator: --audit-file \/nonexistent-dir\/audit\.jsonl: cannot append to it \(ENOENT\); nothing was changed\n$/);
    expect(env.emu.log.list()).toEqual([]);
    expect(await protocols()).toEqual(["http", "https"]);
  });

  it("a --state-dir that is a file: exit 2 with one line, nothing changed", async () => {
    env.emu.reset(estate());
    const file = join(mkdtempSync(join(tmpdir(), "audit-state-")), "not-a-dir");
    writeFileSync(file, "");
    env.emu.log.clear();
    const r = await cli(["remediate", "--yes", "--rules", "api-https-only", "--state-dir", file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^apim-remediator: --state-dir .*not-a-dir: cannot write there \((EEXIST|ENOTDIR)\); nothing was changed\n$/);
    expect(writes()).toEqual([]);
    expect(await protocols()).toEqual(["http", "https"]);
  });
});
