/**
 * The terminal: colour only on a terminal (NO_COLOR off, FORCE_COLOR on), --only-failed, a table that
 * wraps to the terminal's width, counts in plan's progress, opt-in rules' PLANNED rows saying how to
 * enable them, audit records naming the token's principal, JSON carrying tool version, time and summary.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LOCAL_PRINCIPAL } from "../../src/azure/clients.js";
import { run, type CliIO } from "../../src/cli/main.js";
import { startDemoCliEmulator, type TestEnv } from "../helpers/emulator.js";

const DEMO = join(process.cwd(), "emulator/estates/demo.json");
const PKG_VERSION = (JSON.parse(readFileSync(join(process.cwd(), "package.json"), "utf8")) as { version: string }).version;
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[\d+m/;

async function cli(args: string[], io: Partial<CliIO> = {}) {
  let out = "";
  let err = "";
  const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {}, isTTY: false, ...io });
  return { code, out, err };
}

describe("scan output on a terminal", () => {
  const scan = ["scan", "--input", DEMO];

  it("is coloured only when stdout is a terminal; NO_COLOR turns it off, FORCE_COLOR on; files and JSON never", async () => {
    const tty = await cli(scan, { stdoutIsTTY: true });
    expect(tty.out).toMatch(ANSI);
    expect(tty.out).toContain("\u001b[31m\u001b[1mFAIL");
    expect((await cli(scan, { stdoutIsTTY: false })).out).not.toMatch(ANSI);
    expect((await cli(scan, { stdoutIsTTY: true, env: { NO_COLOR: "1" } })).out).not.toMatch(ANSI);
    expect((await cli(scan, { stdoutIsTTY: false, env: { FORCE_COLOR: "1" } })).out).toMatch(ANSI);
    expect((await cli(scan, { stdoutIsTTY: true, env: { FORCE_COLOR: "0" } })).out).not.toMatch(ANSI);
    expect((await cli([...scan, "--format", "json"], { stdoutIsTTY: true })).out).not.toMatch(ANSI);
    const file = join(mkdtempSync(join(tmpdir(), "term-")), "report.txt");
    await cli([...scan, "--output", file], { stdoutIsTTY: true });
    expect(readFileSync(file, "utf8")).not.toMatch(ANSI);
  });

  it("--only-failed lists failures only, and the summary still counts every finding", async () => {
    const all = await cli(scan);
    const failed = await cli([...scan, "--only-failed"]);
    const rows = (t: string) => t.split("\n").slice(1).filter((l) => /^(FAIL|PASS|UNKNOWN) /.test(l));
    expect(rows(all.out).some((l) => l.startsWith("PASS"))).toBe(true);
    expect(rows(failed.out).length).toBeGreaterThan(0);
    expect(rows(failed.out).every((l) => l.startsWith("FAIL"))).toBe(true);
    const counts = /(\d+) failed, (\d+) passed, (\d+) unknown/;
    expect(counts.exec(failed.out)?.slice(1)).toEqual(counts.exec(all.out)?.slice(1));
    expect(failed.out).toMatch(/\(only failed shown\)\n$/);
    expect(failed.code).toBe(1);
    const json = JSON.parse((await cli([...scan, "--only-failed", "--format", "json"])).out) as { summary: { pass: number }; findings: Array<{ status: string }> };
    expect(json.findings.every((f) => f.status === "fail")).toBe(true);
    expect(json.summary.pass).toBeGreaterThan(0);
  });

  it("wraps the resource and message columns to the terminal's width", async () => {
    const wide = await cli(scan, { stdoutIsTTY: true, env: { NO_COLOR: "1" } });
    expect(Math.max(...wide.out.split("\n").map((l) => l.length))).toBeGreaterThan(100);
    const narrow = await cli(scan, { stdoutIsTTY: true, columns: 100, env: { NO_COLOR: "1" } });
    const lines = narrow.out.split("\n");
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(100);
    // nothing is lost, only moved to the next line: the same characters apart from spaces and line breaks
    const chars = (t: string) => [...t.replace(/\s/g, "")].sort().join("");
    expect(chars(narrow.out)).toBe(chars(wide.out));
    // continuation lines start under their column, not at the left edge
    expect(lines.some((l) => /^ {20,}\S/.test(l))).toBe(true);
  });

  it("JSON carries the tool version, the time and a summary", async () => {
    const before = Date.now();
    const r = JSON.parse((await cli([...scan, "--format", "json"])).out) as { tool: { name: string; version: string }; time: string; summary: { fail: number; pass: number; unknown: number }; findings: Array<{ status: string }> };
    expect(r.tool).toEqual({ name: "apim-remediator", version: PKG_VERSION });
    expect(Date.parse(r.time)).toBeGreaterThanOrEqual(before - 1000);
    expect(r.summary.fail).toBe(r.findings.filter((f) => f.status === "fail").length);
    expect(r.summary.pass + r.summary.fail + r.summary.unknown).toBe(r.findings.length);
  });
});

describe("plan / remediate on a terminal", () => {
  let env: TestEnv;
  let flags: string[];
  let state: string;
  beforeAll(async () => {
    ({ env, flags } = await startDemoCliEmulator());
    state = mkdtempSync(join(tmpdir(), "term-plan-"));
  });
  afterAll(async () => env.emu.stop());

  it("progress counts the services: evaluated 1/3 … 3/3", async () => {
    const r = await cli([...flags, "plan", "--state-dir", state], { isTTY: true });
    expect(r.err).toMatch(/evaluated 1\/3: apim-contoso-dev/);
    expect(r.err).toMatch(/evaluated 3\/3: \S+/);
  });

  it("an opt-in rule's PLANNED row says how to enable it; once enabled, it does not", async () => {
    const r = await cli([...flags, "plan", "--service", "apim-contoso-dev", "--rules", "gateway-tls-protocols,api-https-only", "--state-dir", state]);
    expect(r.out).toMatch(/PLANNED +gateway-tls-protocols +apim-contoso-dev\n(?: {4}.*\n)*? {4}opt-in rule: to apply it, set REMEDIATOR_RULE_MODES=gateway-tls-protocols=enforce/);
    // an auto rule needs no setting
    expect(r.out).not.toMatch(/REMEDIATOR_RULE_MODES=api-https-only/);
    const enabled = await cli([...flags, "plan", "--service", "apim-contoso-dev", "--rules", "gateway-tls-protocols", "--state-dir", state], { env: { REMEDIATOR_RULE_MODES: "gateway-tls-protocols=enforce" } });
    expect(enabled.out).toMatch(/PLANNED +gateway-tls-protocols/);
    expect(enabled.out).not.toMatch(/opt-in rule/);
  });

  it("audit records name the principal of the credential's ARM token, not 'unknown'", async () => {
    const audit = join(state, "audit.jsonl");
    await cli([...flags, "plan", "--service", "apim-contoso-dev", "--rules", "api-https-only", "--state-dir", state, "--audit-file", audit]);
    const records = readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { actor: string });
    expect(records.length).toBeGreaterThan(0);
    // the loopback credential's token has oid = the default local principal (no --principal-id given)
    expect(records.every((x) => x.actor === DEFAULT_LOCAL_PRINCIPAL)).toBe(true);
    expect(readFileSync(audit, "utf8")).not.toMatch(/eyJ[\w-]+\.eyJ/); // no token in the record
  });

  it("plan JSON carries the tool version, the time and a summary of outcomes", async () => {
    const r = JSON.parse((await cli([...flags, "plan", "--service", "apim-contoso-dev", "--rules", "api-https-only", "--format", "json", "--state-dir", state])).out) as { tool: { version: string }; time: string; dryRun: boolean; summary: Record<string, number>; actions: unknown[] };
    expect(r.tool.version).toBe(PKG_VERSION);
    expect(Number.isNaN(Date.parse(r.time))).toBe(false);
    expect(r.dryRun).toBe(true);
    expect(r.summary).toEqual({ actions: 3, planned: 3 });
    expect(r.actions).toHaveLength(3);
  });
});
