import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { RULES } from "../../src/remediations/index.js";
import { startDemoCliEmulator, type TestEnv } from "../helpers/emulator.js";

const DEMO = join(process.cwd(), "emulator/estates/demo.json");
const DEMO_SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const PROD = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso-prod`;
const DEV = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;

interface JsonFinding {
  ruleId: string;
  resourceId: string;
  status: string;
  severity: string;
  message: string;
  action: string;
}

function sarifValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  const schema = JSON.parse(readFileSync(require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8")) as object;
  return ajv.compile(schema);
}

describe("apim-remediator scan", () => {
  let env: TestEnv;
  let flags: string[];
  beforeAll(async () => {
    ({ env, flags } = await startDemoCliEmulator());
  });
  afterAll(async () => env.emu.stop());

  async function cli(args: string[]) {
    let out = "";
    let err = "";
    const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {}, isTTY: false });
    return { code, out, err };
  }

  it("scans every service the identity can see and exits 1 on failures (JSON)", async () => {
    const r = await cli([...flags, "scan", "--format", "json"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(1);
    const findings = (JSON.parse(r.out) as { findings: JsonFinding[] }).findings;
    for (const f of findings) {
      expect(Object.keys(f).sort()).toEqual(["action", "message", "resourceId", "ruleId", "severity", "status"]);
      expect(["fail", "pass", "unknown"]).toContain(f.status);
    }
    // one finding per rule per resource
    const keys = findings.map((f) => `${f.ruleId}|${f.resourceId.toLowerCase()}`);
    expect(new Set(keys).size).toBe(keys.length);
    const get = (rule: string, id: string) => findings.find((f) => f.ruleId === rule && f.resourceId.toLowerCase() === id.toLowerCase());
    expect(get("api-https-only", `${DEV}/apis/echo;rev=2`)?.status).toBe("fail");
    expect(get("direct-management-endpoint-disabled", `${DEV}/tenant/access`)?.status).toBe("fail");
    expect(get("named-value-secrets-in-key-vault", `${DEV}/namedValues/legacy-db-password`)?.status).toBe("fail");
    expect(get("resource-lock", PROD)?.status).toBe("pass");
    expect(get("unused-api", `${DEV}/apis/chat`)?.status).toBe("fail");
    expect(get("defender-for-apis", `${PROD}/apis/orders`)?.status).toBe("pass");
    // the compliant service is compliant
    expect(findings.filter((f) => f.resourceId.startsWith(PROD) && f.status !== "pass")).toEqual([]);
    // Consumption: rules that do not apply report nothing
    expect(findings.some((f) => f.ruleId === "min-api-version" && f.resourceId.includes("apim-fabrikam-consumption"))).toBe(false);
  });

  it("exits 0 when the selected rules find nothing wrong", async () => {
    const r = await cli([...flags, "--subscription", DEMO_SUB, "scan", "--service", "apim-contoso-prod", "--rules", "managed-identity,resource-lock,api-https-only"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/0 failed, 4 passed, 0 unknown/);
  });

  it("narrows by resource group and honours --min-api-version", async () => {
    const r = await cli([...flags, "--resource-group", "rg-apim-prod", "scan", "--rules", "min-api-version", "--min-api-version", "2022-08-01", "--format", "json"]);
    expect(r.code).toBe(1);
    const findings = (JSON.parse(r.out) as { findings: JsonFinding[] }).findings;
    expect(findings).toHaveLength(1);
    expect(findings[0]?.message).toMatch(/2021-08-01 is older than 2022-08-01/);
  });

  it("writes SARIF 2.1.0 that validates against the schema, with rule help and logical locations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sarif-"));
    const file = join(dir, "out.sarif");
    const r = await cli([...flags, "scan", "--format", "sarif", "--output", file]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    const log = JSON.parse(readFileSync(file, "utf8")) as any;
    const validate = sarifValidator();
    expect(validate(log), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    expect(validate({ version: "2.1.0", runs: [{ tool: { driver: {} } }] })).toBe(false);
    const driver = log.runs[0].tool.driver;
    expect(driver.rules.map((x: any) => x.id)).toEqual(RULES.map((x) => x.meta.id));
    for (const rule of driver.rules) {
      expect(rule.help.text.length).toBeGreaterThan(20);
      expect(rule.help.markdown).toContain(`docs/rules/${rule.id}.md`);
    }
    expect(driver.rules.find((x: any) => x.id === "api-https-only").helpUri).toMatch(/^https:\/\/learn\.microsoft\.com\//);
    const fail = log.runs[0].results.find((x: any) => x.ruleId === "api-https-only" && x.level === "error");
    expect(fail.locations[0].logicalLocations[0].fullyQualifiedName).toMatch(/\/providers\/Microsoft\.ApiManagement\/service\/.+\/apis\//);
    expect(driver.rules[fail.ruleIndex].id).toBe("api-https-only");
  });

  it("renders Markdown grouped by rule", async () => {
    const r = await cli([...flags, "scan", "--format", "markdown", "--rules", "api-https-only,resource-lock"]);
    expect(r.out).toMatch(/^# APIM compliance report/);
    expect(r.out).toContain("## ❌ `api-https-only`");
    expect(r.out).toContain("| fail | `apim-contoso-dev/apis/echo;rev=2` |");
  });

  it("never prints a secret value in any format", async () => {
    const secrets = ["demo-db-pass-Q8w3", "demo-partner-key-Zk41", "demo-orders-key-7Yq2"];
    for (const format of ["table", "json", "markdown", "sarif"]) {
      const live = await cli([...flags, "scan", "--format", format]);
      const offline = await cli(["scan", "--input", DEMO, "--format", format]);
      for (const s of secrets) {
        expect(live.out + live.err).not.toContain(s);
        expect(offline.out + offline.err).not.toContain(s);
      }
    }
  });

  it("offline and live scans of the same estate agree on every rule the file can decide", async () => {
    const live = (JSON.parse((await cli([...flags, "scan", "--format", "json"])).out) as { findings: JsonFinding[] }).findings;
    const offline = (JSON.parse((await cli(["scan", "--input", DEMO, "--format", "json"])).out) as { findings: JsonFinding[] }).findings;
    // a rule whose data the file does not hold is 'unknown' offline (one finding on the service), never a guess: the demo
    // file lists no certificates, no metrics and no reports by operation as the collector reads them, and for some
    // services no loggers, API diagnostics, identity providers or diagnostic settings (live, the emulator answers those lists)
    const undecided = offline.filter((f) => f.status === "unknown" && /^Not evaluated: the input has no /.test(f.message));
    const short = (f: JsonFinding) => `${f.ruleId}|${f.resourceId.split("/").pop() as string}|${f.message.replace(/^Not evaluated: the input has no (.+) data\.$/, "$1")}`;
    expect(undecided.map(short).sort()).toEqual([
      "application-insights-logger|apim-contoso-dev|loggers, diagnostics, apiDiagnostics",
      "application-insights-logger|apim-fabrikam-consumption|apiDiagnostics",
      "custom-domain-certificate-expiry|apim-contoso-dev|certificates",
      "custom-domain-certificate-expiry|apim-contoso-prod|certificates",
      "custom-domain-certificate-expiry|apim-fabrikam-consumption|certificates",
      "developer-portal-basic-auth-disabled|apim-contoso-dev|identityProviders",
      "resource-logs-enabled|apim-contoso-dev|diagnosticSettings",
      "resource-logs-enabled|apim-fabrikam-consumption|diagnosticSettings",
      "unused-api|apim-contoso-dev|metrics, operationReports",
      "unused-api|apim-contoso-prod|metrics, operationReports",
      "unused-api|apim-fabrikam-consumption|metrics, operationReports",
    ]);
    // every other finding is the same offline and live, by rule, resource and status
    const isUndecided = (f: JsonFinding) => undecided.some((u) => u.ruleId === f.ruleId && (f.resourceId.toLowerCase() === u.resourceId.toLowerCase() || f.resourceId.toLowerCase().startsWith(`${u.resourceId.toLowerCase()}/`)));
    const key = (f: JsonFinding) => `${f.ruleId}|${f.resourceId.toLowerCase()}|${f.status}`;
    expect(offline.filter((f) => !isUndecided(f)).map(key).sort()).toEqual(live.filter((f) => !isUndecided(f)).map(key).sort());
    // what the file does hold decides: operations, tenant gatewayAccess, portal configs, loggers and diagnostic settings of the compliant service
    expect(offline.filter((f) => f.resourceId.startsWith(PROD) && !isUndecided(f) && f.status !== "pass")).toEqual([]);
  });

  it.each([
    [["scan", "--rules", "api-https-only,no-such-rule"], /unknown rule id\(s\): no-such-rule/],
    [["scan", "--min-api-version", "yesterday"], /--min-api-version must be an API version date/],
    [["scan", "--format", "xml"], /argument 'xml' is invalid/],
    [["scan", "--input", "/nonexistent.json"], /\/nonexistent\.json: cannot read \(ENOENT\)/],
  ])("%j exits 2 with one line", async (args, expected) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(expected as RegExp);
    expect(r.err.trim().split("\n")).toHaveLength(1);
  });

  it("lists the catalog as JSON with every reference", async () => {
    const r = await cli(["rules", "--format", "json"]);
    const rules = (JSON.parse(r.out) as { rules: Array<{ id: string; references: Record<string, unknown>; needs: string[] }> }).rules;
    expect(rules).toHaveLength(36);
    expect(rules.map((x) => x.id)).toEqual(RULES.map((x) => x.meta.id));
    expect(rules.find((x) => x.id === "api-https-only")?.references["azurePolicy"]).toBe("ee7495e7-3ba7-40b6-bfee-c29e22cc75d4");
  });
});
