/**
 * Every SARIF file the CLI writes is one GitHub code scanning accepts: valid against the OASIS SARIF
 * 2.1.0 schema, and within GitHub's upload rules as documented
 * (docs.github.com/en/code-security/reference/code-scanning/sarif-files/sarif-support: a location per
 * result with `physicalLocation.artifactLocation.uri` relative to the repository and `region.startLine`
 * of 1 or more, a `ruleId` the run's `tool.driver.rules` defines, `partialFingerprints`,
 * `runAutomationDetails.id` for the category; .../troubleshooting-sarif-uploads/results-exceed-limit:
 * 20 runs per file, 25,000 results (5,000 kept) and rules per run, 1,000 locations per result, 20 tags
 * per rule; .../troubleshooting-sarif-uploads/file-too-large: 10 MB gzip-compressed). A result with
 * only a logical location is rejected outright: "locationFromSarifResult: expected at least one
 * location" (github/codeql-action issues 1738 and 2459; sarif-sdk rule GH1001).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { startDemoCliEmulator, type TestEnv } from "../helpers/emulator.js";

const DEMO = join(process.cwd(), "emulator/estates/demo.json");
const DEMO_SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const DEV = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
const PKG_VERSION = (JSON.parse(readFileSync(join(process.cwd(), "package.json"), "utf8")) as { version: string }).version;

function schemaValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  const schema = JSON.parse(readFileSync(require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8")) as object;
  return ajv.compile(schema);
}
const validate = schemaValidator();

/** GitHub's documented upload rules, as problems (empty: accepted). */
function githubProblems(text: string): string[] {
  const p: string[] = [];
  if (gzipSync(text).length > 10 * 1024 * 1024) p.push("larger than 10 MB gzip-compressed");
  const log = JSON.parse(text) as any;
  if (log.version !== "2.1.0") p.push(`version ${log.version}`);
  if (!Array.isArray(log.runs)) return [...p, "no runs"];
  if (log.runs.length > 20) p.push("more than 20 runs");
  for (const [ri, r] of log.runs.entries()) {
    const driver = r.tool?.driver;
    if (typeof driver?.name !== "string" || driver.name === "") p.push(`run ${ri}: no tool.driver.name`);
    const rules: any[] = driver?.rules ?? [];
    if (rules.length > 25_000) p.push(`run ${ri}: more than 25,000 rules`);
    for (const rule of rules) {
      if ((rule.properties?.tags ?? []).length > 20) p.push(`rule ${rule.id}: more than 20 tags`);
      const sev = rule.properties?.["security-severity"];
      if (sev !== undefined && !(Number(sev) >= 0 && Number(sev) <= 10)) p.push(`rule ${rule.id}: security-severity ${sev}`);
    }
    const ids = new Set(rules.map((x) => x.id));
    if (typeof r.automationDetails?.id !== "string" || r.automationDetails.id === "") p.push(`run ${ri}: no automationDetails.id`);
    const results: any[] = r.results ?? [];
    if (results.length > 5000) p.push(`run ${ri}: more than 5,000 results (GitHub keeps 5,000, rejects over 25,000)`);
    const seen = new Set<string>();
    for (const [k, res] of results.entries()) {
      const at = `run ${ri} result ${k} (${res.ruleId})`;
      if (!ids.has(res.ruleId)) p.push(`${at}: ruleId not in tool.driver.rules`);
      if (res.ruleIndex !== undefined && rules[res.ruleIndex]?.id !== res.ruleId) p.push(`${at}: ruleIndex names another rule`);
      if (typeof res.message?.text !== "string" || res.message.text === "") p.push(`${at}: no message.text`);
      const locs: any[] = res.locations ?? [];
      if (locs.length === 0) p.push(`${at}: no location`);
      if (locs.length > 1000) p.push(`${at}: more than 1,000 locations`);
      for (const loc of locs) {
        const uri = loc.physicalLocation?.artifactLocation?.uri;
        if (typeof uri !== "string" || uri === "") p.push(`${at}: no physicalLocation.artifactLocation.uri`);
        else if (/^[a-z][a-z0-9+.-]*:/i.test(uri) || uri.startsWith("/") || uri.includes("\\") || uri.startsWith("../")) p.push(`${at}: uri ${uri} is not relative to the repository`);
        const line = loc.physicalLocation?.region?.startLine;
        if (!Number.isInteger(line) || line < 1) p.push(`${at}: region.startLine ${line}`);
      }
      const fp = res.partialFingerprints;
      if (!fp || Object.keys(fp).length === 0) p.push(`${at}: no partialFingerprints`);
      const key = `${res.ruleId}|${JSON.stringify(fp)}`;
      if (seen.has(key)) p.push(`${at}: the same fingerprint as another result of its rule`);
      seen.add(key);
    }
  }
  return p;
}

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env, isTTY: false });
  return { code, out, err };
}

/** The SARIF of a scan, after checking it against both the schema and GitHub's rules. */
async function sarifOf(args: string[]): Promise<any> {
  const r = await cli([...args, "--format", "sarif"]);
  expect(r.err).toBe("");
  expect([0, 1]).toContain(r.code);
  const log = JSON.parse(r.out);
  expect(validate(log), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
  expect(githubProblems(r.out)).toEqual([]);
  return log;
}

const dir = mkdtempSync(join(process.cwd(), ".tmp-sarif-"));
afterAll(async () => {
  const { rmSync } = await import("node:fs");
  rmSync(dir, { recursive: true, force: true });
});

describe("SARIF for GitHub code scanning", () => {
  let env: TestEnv;
  let flags: string[];
  beforeAll(async () => {
    ({ env, flags } = await startDemoCliEmulator());
  });
  afterAll(async () => env.emu.stop());

  it("the checker rejects what GitHub rejects (a result with only a logical location, a rule it does not define, an absolute URI)", () => {
    const base = (result: Record<string, unknown>) =>
      JSON.stringify({ version: "2.1.0", runs: [{ tool: { driver: { name: "t", rules: [{ id: "r1" }] } }, automationDetails: { id: "c/" }, results: [{ ruleId: "r1", message: { text: "m" }, partialFingerprints: { a: "1" }, ...result }] }] });
    expect(githubProblems(base({ locations: [{ logicalLocations: [{ fullyQualifiedName: "/subscriptions/x" }] }] })).join()).toMatch(/no physicalLocation/);
    expect(githubProblems(base({ ruleId: "r2", locations: [{ physicalLocation: { artifactLocation: { uri: "a.json" }, region: { startLine: 1 } } }] })).join()).toMatch(/not in tool.driver.rules/);
    expect(githubProblems(base({ locations: [{ physicalLocation: { artifactLocation: { uri: "file:///repo/a.json" }, region: { startLine: 1 } } }] })).join()).toMatch(/not relative/);
    expect(githubProblems(base({ locations: [{ physicalLocation: { artifactLocation: { uri: "a.json" }, region: { startLine: 0 } } }] })).join()).toMatch(/startLine 0/);
    expect(githubProblems(base({ locations: [{ physicalLocation: { artifactLocation: { uri: "a.json" }, region: { startLine: 3 } } }] }))).toEqual([]);
  });

  it("live: every result points at the default apim-estate.json, carries a fingerprint per rule and resource, the real version and a category; passes are left out", async () => {
    const log = await sarifOf([...flags, "scan"]);
    const run0 = log.runs[0];
    expect(run0.tool.driver.version).toBe(PKG_VERSION);
    expect(run0.automationDetails.id).toBe("apim-remediator/live/");
    const results: any[] = run0.results;
    expect(results.length).toBeGreaterThan(10);
    expect(results.every((x) => x.kind !== "pass")).toBe(true);
    for (const x of results) {
      expect(x.locations[0].physicalLocation).toEqual({ artifactLocation: { uri: "apim-estate.json" }, region: { startLine: 1 } });
      expect(x.partialFingerprints.primaryLocationLineHash).toMatch(/^[0-9a-f]{16}:1$/);
    }
    // stable: the same scan gives the same fingerprints
    const again = await sarifOf([...flags, "scan"]);
    expect(again.runs[0].results.map((x: any) => x.partialFingerprints)).toEqual(results.map((x) => x.partialFingerprints));
  });

  it("live: --sarif-location points at the deploying file and the line naming the service; --sarif-category and --sarif-include-pass", async () => {
    const bicep = join(dir, "main.bicep");
    writeFileSync(bicep, ["param location string = resourceGroup().location", "", "resource dev 'Microsoft.ApiManagement/service@2022-08-01' = {", "  name: 'apim-contoso-dev'", "  location: location", "}", "resource prod 'Microsoft.ApiManagement/service@2022-08-01' = {", "  name: 'apim-contoso-prod'", "}", ""].join("\n"));
    const log = await sarifOf([...flags, "scan", "--sarif-location", bicep, "--sarif-category", "apim/prod", "--sarif-include-pass"]);
    const run0 = log.runs[0];
    expect(run0.automationDetails.id).toBe("apim/prod/");
    const uri = relative(process.cwd(), bicep);
    const dev = run0.results.find((x: any) => x.ruleId === "api-https-only" && x.level === "error");
    expect(dev.locations[0].physicalLocation).toEqual({ artifactLocation: { uri }, region: { startLine: 4 } });
    const prod = run0.results.find((x: any) => x.properties.resourceId.includes("apim-contoso-prod"));
    expect(prod.locations[0].physicalLocation.region.startLine).toBe(8);
    expect(run0.results.some((x: any) => x.kind === "pass" && x.level === "none")).toBe(true);
  });

  it("offline: results point at the input file, at the line of the resource (resource list, ARM template, PowerShell export)", async () => {
    // the estate file as given: each resource's id is on its own line
    const demoCopy = join(dir, "estate.json");
    writeFileSync(demoCopy, JSON.stringify(JSON.parse(readFileSync(DEMO, "utf8")), null, 2));
    const text = readFileSync(demoCopy, "utf8").split("\n");
    const log = await sarifOf(["scan", "--input", demoCopy]);
    expect(log.runs[0].automationDetails.id).toBe("apim-remediator/offline/");
    const echo = log.runs[0].results.find((x: any) => x.ruleId === "api-https-only" && x.properties.resourceId === `${DEV}/apis/echo;rev=2`);
    const loc = echo.locations[0].physicalLocation;
    expect(loc.artifactLocation.uri).toBe(relative(process.cwd(), demoCopy));
    expect(text[loc.region.startLine - 1]).toContain(`"${DEV}/apis/echo;rev=2"`);

    const template = join(dir, "azuredeploy.json");
    const lines = JSON.stringify(
      {
        $schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        contentVersion: "1.0.0.0",
        parameters: { serviceName: { type: "string", defaultValue: "apim-tpl" } },
        resources: [
          { type: "Microsoft.ApiManagement/service", apiVersion: "2022-08-01", name: "[parameters('serviceName')]", location: "westeurope", sku: { name: "Developer", capacity: 1 }, properties: {} },
          { type: "Microsoft.ApiManagement/service/apis", apiVersion: "2022-08-01", name: "[concat(parameters('serviceName'), '/plain')]", properties: { path: "plain", protocols: ["http"], isCurrent: true } },
        ],
      },
      null,
      2,
    );
    writeFileSync(template, lines);
    const tlog = await sarifOf(["scan", "--input", template]);
    const plain = tlog.runs[0].results.find((x: any) => x.ruleId === "api-https-only");
    expect(plain.locations[0].physicalLocation.artifactLocation.uri).toBe(relative(process.cwd(), template));
    expect(lines.split("\n")[plain.locations[0].physicalLocation.region.startLine - 1]).toContain("'/plain')]");

    const ps = join(dir, "export.json");
    const psId = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-ps/providers/Microsoft.ApiManagement/service/apim-ps`;
    const psText = JSON.stringify([{ ResourceId: psId, ResourceType: "Microsoft.ApiManagement/service", Name: "apim-ps", Properties: {}, resources: [{ ResourceId: `${psId}/apis/legacy`, ResourceType: "Microsoft.ApiManagement/service/apis", Name: "legacy", Properties: { path: "legacy", protocols: ["http"], isCurrent: true } }] }], null, 2);
    writeFileSync(ps, psText);
    const plog = await sarifOf(["scan", "--input", ps, "--input", demoCopy]);
    const legacy = plog.runs[0].results.find((x: any) => x.ruleId === "api-https-only" && x.properties.resourceId.endsWith("/apis/legacy"));
    expect(legacy.locations[0].physicalLocation.artifactLocation.uri).toBe(relative(process.cwd(), ps));
    expect(psText.split("\n")[legacy.locations[0].physicalLocation.region.startLine - 1]).toContain(`${psId}/apis/legacy`);
    // a finding on something the file does not write out (the service's tenant access) points at its service
    const tenant = plog.runs[0].results.find((x: any) => x.properties.resourceId === `${DEV}/tenant/access`);
    expect(text[tenant.locations[0].physicalLocation.region.startLine - 1]).toContain(DEV);
  });

  it("sarif flags outside --format sarif, and --sarif-location offline, are refused with one line", async () => {
    for (const [args, expected] of [
      [["scan", "--input", DEMO, "--sarif-category", "x"], /--sarif-category applies to --format sarif only/],
      [["scan", "--input", DEMO, "--format", "sarif", "--sarif-location", "main.bicep"], /--sarif-location applies to live scans/],
      [["scan", "--input", DEMO, "--format", "sarif", "--only-failed"], /--only-failed does not apply to --format sarif/],
    ] as const) {
      const r = await cli([...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(expected);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
  });
});
