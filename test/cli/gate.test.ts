/**
 * A CI gate that cannot go green by mistake: a selector that matches nothing is bad input (exit 2,
 * one line naming it), not an empty report with exit 0; offline scans honour the scope flags by
 * filtering the files' services and refuse the flags that cannot apply; --version and --help tell
 * the truth (the package version, examples, exit codes). Bicep input is refused with what to run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { REMEDIATOR, startDemoCliEmulator, type TestEnv } from "../helpers/emulator.js";
import { isRead } from "../reliability/estates.js";

const DEMO = join(process.cwd(), "emulator/estates/demo.json");
const DEMO_SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const OTHER_SUB = "0b6e2c3a-1d4f-4a5b-8c6d-7e8f9a0b1c2d";
const PKG_VERSION = (JSON.parse(readFileSync(join(process.cwd(), "package.json"), "utf8")) as { version: string }).version;

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env, isTTY: false });
  return { code, out, err };
}

const oneLine = (r: { code: number; err: string; out: string }, expected: RegExp) => {
  expect(r.code, r.err).toBe(2);
  expect(r.err).toMatch(expected);
  expect(r.err.trim().split("\n")).toHaveLength(1);
  expect(r.out).toBe("");
};

describe("selectors that match nothing (live)", () => {
  let env: TestEnv;
  let flags: string[];
  let state: string;
  beforeAll(async () => {
    ({ env, flags } = await startDemoCliEmulator());
    state = mkdtempSync(join(tmpdir(), "gate-"));
  });
  afterAll(async () => env.emu.stop());

  it.each([
    [["scan", "--service", "nope"], /^apim-remediator: --service nope matches no API Management service in scope/],
    [["scan", "--service", "apim-contoso-prod", "--service", "apim-contoso-prdo"], /--service apim-contoso-prdo matches no API Management service in scope/],
    [["--resource-group", "rg-nope", "scan"], /--resource-group rg-nope matches no API Management service in scope \(none seen\)/],
    // Resource Graph (the default discovery) answers no rows for a subscription it does not know or this identity
    // cannot see (ARM listing answered 404 SubscriptionNotFound): still exit 2, one line naming it and what to check
    [["--subscription", OTHER_SUB, "scan"], new RegExp(`^apim-remediator: --subscription ${OTHER_SUB} matches no API Management service in scope \\(none seen; a subscription that does not exist or that this identity cannot read shows none either: check --subscription / REMEDIATOR_SUBSCRIPTIONS, and that this identity can read it\\)$`, "m")],
    [["scan", "--rules", ""], /--rules names no rule \(got ""\)/],
    [["scan", "--rules", " , "], /--rules names no rule/],
    [["plan", "--service", "nope"], /--service nope matches no API Management service in scope/],
    [["remediate", "--yes", "--service", "nope"], /--service nope matches no API Management service in scope/],
    [["--resource-group", "rg-nope", "services"], /--resource-group rg-nope matches no API Management service/],
  ])("%j exits 2 with one line naming the selector", async (args, expected) => {
    env.emu.log.clear();
    const a = args as string[];
    const withState = a[0] === "plan" || a[0] === "remediate" ? [...a, "--state-dir", state] : a;
    oneLine(await cli([...flags, ...withState], { REMEDIATOR_PRINCIPAL_ID: REMEDIATOR }), expected as RegExp);
    // nothing written: reads only (a Resource Graph query is a POST whose permission is Microsoft.ResourceGraph/resources/read)
    expect(env.emu.log.list().filter((l) => !isRead(l))).toEqual([]);
  });

  it("a selector that matches still scans (exit by findings)", async () => {
    const r = await cli([...flags, "--resource-group", "rg-apim-prod", "scan", "--service", "apim-contoso-prod", "--rules", "resource-lock"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/0 failed, 1 passed, 0 unknown/);
  });
});

describe("offline scans and scope flags", () => {
  it("honour --service, --resource-group and --subscription by filtering the file's services", async () => {
    const json = async (args: string[]) => (JSON.parse((await cli(["scan", "--input", DEMO, "--format", "json", ...args])).out) as { findings: Array<{ resourceId: string }> }).findings;
    const services = (fs: Array<{ resourceId: string }>) => [...new Set(fs.map((f) => /\/service\/([^/]+)/.exec(f.resourceId)?.[1]))].sort();
    expect(services(await json([]))).toEqual(["apim-contoso-dev", "apim-contoso-prod", "apim-fabrikam-consumption"]);
    expect(services(await json(["--service", "apim-contoso-dev"]))).toEqual(["apim-contoso-dev"]);
    const byRg = await cli(["--resource-group", "rg-apim-prod", "scan", "--input", DEMO, "--format", "json"]);
    expect(services((JSON.parse(byRg.out) as { findings: Array<{ resourceId: string }> }).findings)).toEqual(["apim-contoso-prod"]);
    const bySub = await cli(["--subscription", DEMO_SUB, "scan", "--input", DEMO, "--format", "json"]);
    expect(services((JSON.parse(bySub.out) as { findings: Array<{ resourceId: string }> }).findings).length).toBeGreaterThan(0);
  });

  it.each([
    [["scan", "--input", DEMO, "--service", "nope"], /--service nope matches no API Management service in the input files \(3 seen: /],
    [["--resource-group", "rg-nope", "scan", "--input", DEMO], /--resource-group rg-nope matches no API Management service in the input files/],
    [["--subscription", OTHER_SUB, "scan", "--input", DEMO], /--subscription .* matches no API Management service in the input files/],
    [["--arm-endpoint", "https://127.0.0.1:9", "scan", "--input", DEMO], /--arm-endpoint does not apply to an offline scan \(--input\): nothing is read from Azure/],
    [["--mode", "enforce", "scan", "--input", DEMO], /--mode does not apply to an offline scan/],
    [["scan", "--input", DEMO, "--unused-days", "30"], /--unused-days does not apply to an offline scan \(--input\): unused-api needs live request metrics/],
    [["scan", "--input", "infra/main.bicep"], /^apim-remediator: infra\/main\.bicep: a Bicep file; run `bicep build infra\/main\.bicep` \(or `az bicep build --file infra\/main\.bicep`\) first and pass the \.json it writes\n$/],
  ])("%j exits 2 with one line", async (args, expected) => {
    oneLine(await cli(args as string[]), expected as RegExp);
  });

  it("a .bicep file's text is never parsed as JSON (the message is the Bicep one, whatever the content)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gate-bicep-"));
    const f = join(dir, "apim.BICEP");
    writeFileSync(f, "resource apim 'Microsoft.ApiManagement/service@2022-08-01' = {}\n");
    oneLine(await cli(["scan", "--input", f]), /a Bicep file; run `bicep build /);
  });
});

describe("--version and --help", () => {
  it("--version prints the package version", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toBe(`${PKG_VERSION}\n`);
    }
  });

  it("--help shows examples and the exit codes", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Examples:\n  $ apim-remediator scan --input azuredeploy.json --format sarif --output apim.sarif");
    expect(r.out).toMatch(/Exit codes:\n {2}0 {2}done[^\n]*\n {2}1 {2}drift[^\n]*\n {2}2 {2}bad input[^]*selector[^]*\n {2}3 {2}Azure could not be reached/);
  });
});
