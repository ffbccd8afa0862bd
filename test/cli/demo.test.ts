import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runDemo } from "../../src/cli/demo.js";
import { run } from "../../src/cli/main.js";
import { startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const SECRETS = ["demo-db-pass-Q8w3", "demo-partner-key-Zk41", "demo-orders-key-7Yq2"];

/**
 * The demo's numbers add up: "N drifts found + P made by the portal changes = T; F fixed, K ticketed, X failed",
 * with F + K + X = T; every ticketed drift of the sweep is listed (or "+N more").
 */
function checkArithmetic(out: string): { found: number; portal: number; fixed: number; ticketed: number } {
  const m = /Summary: (\d+) drifts found \+ (\d+) made by the portal changes = (\d+); (\d+) fixed, (\d+) ticketed, (\d+) failed;/.exec(out);
  expect(m, out).not.toBeNull();
  const [found, portal, total, fixed, ticketed, failed] = (m as RegExpExecArray).slice(1).map(Number) as [number, number, number, number, number, number];
  expect(found + portal).toBe(total);
  expect(fixed + ticketed + failed).toBe(total);
  // the sweep's own line adds up too, and lists each of its drifts: one "fixed"/"ticket" line per drift
  const sweep = /(\d+) drifts: (\d+) fixed, (\d+) ticketed, (\d+) failed/.exec(out);
  expect(sweep, out).not.toBeNull();
  const [sweepTotal, sweepFixed, sweepTicketed, sweepFailed] = (sweep as RegExpExecArray).slice(1).map(Number) as [number, number, number, number];
  expect(sweepTotal).toBe(found);
  expect(sweepFixed + sweepTicketed + sweepFailed).toBe(sweepTotal);
  expect(out.match(/^ {3}ticket {2}\S+ +\S+$/gm) ?? []).toHaveLength(sweepTicketed);
  expect(out.match(/^ {3}fixed {3}\S+ +\S+$/gm) ?? []).toHaveLength(sweepFixed);
  // and where the tickets went
  expect(out).toMatch(new RegExp(`Tickets: ${ticketed} open in the in-memory ticket system \\(configure a provider: see README`));
  return { found, portal, fixed, ticketed };
}

describe("npm run demo", () => {
  it("sweeps, fixes what a user breaks within seconds, prints before/after and exits 0", async () => {
    let out = "";
    const code = await runDemo({ dryRun: false }, { out: (s) => (out += s) });
    expect(code).toBe(0);
    expect(out).toMatch(/1\. Before: 3 services/);
    // each portal change names the service it hits
    expect(out).toMatch(/apim-contoso-prod: user re-enables HTTP on API 'orders' -> fixed in [\d.]+ s \(api-https-only\)/);
    expect(out).toMatch(/apim-contoso-prod: user deletes the lock 'do-not-delete' -> fixed in [\d.]+ s \(resource-lock\)/);
    expect(out).toMatch(/apim-contoso-prod: user adds a plain-text secret named value 'payments-api-key' -> fixed in [\d.]+ s \(named-value-secrets-in-key-vault\)/);
    expect(out).toMatch(/apim-contoso-prod +0 +0/);
    const n = checkArithmetic(out);
    // the three portal changes are three more drifts, all fixed
    expect(n.portal).toBe(3);
    expect(out).toMatch(/; \d+ fixed, \d+ ticketed, 0 failed;/);
    // the ticket-only drifts of the sweep, every one listed (the demo estate's, by rule and resource)
    expect(out).toMatch(/^ {3}ticket {2}backend-https +apim-contoso-dev\/apis\/echo;rev=2$/m);
    expect(out).toMatch(/^ {3}ticket {2}unused-api +apim-contoso-dev\/apis\/chat$/m);
    // the compliant service is compliant before (nothing failing, nothing unknown: zones, resource logs, Application
    // Insights, portal sign-in through Entra ID); the new auto rules fix the drifted service (the demo configures a workspace)
    expect(out).toMatch(/^ {2}apim-contoso-prod +0 +\d+ +0 *$/m);
    expect(out).toMatch(/^ {3}fixed {3}gateway-configuration-endpoint-disabled +apim-contoso-dev\/tenant\/gatewayAccess$/m);
    expect(out).toMatch(/^ {3}fixed {3}resource-logs-enabled +apim-contoso-dev$/m);
    expect(out).toMatch(/^ {3}fixed {3}resource-logs-enabled +apim-fabrikam-consumption$/m);
    for (const s of SECRETS) expect(out).not.toContain(s);
  }, 120_000);

  it("--realistic: with Azure's durations (service updates, role propagation) scaled, every fix still converges", async () => {
    let out = "";
    const code = await runDemo({ dryRun: false, realistic: true }, { out: (s) => (out += s) });
    expect(code).toBe(0);
    expect(out).toMatch(/Emulator profile: realistic .* × 0\.0001/);
    expect(out).toMatch(/apim-contoso-prod: user adds a plain-text secret named value 'payments-api-key' -> fixed in [\d.]+ s \(named-value-secrets-in-key-vault\)/);
    expect(out).toMatch(/apim-contoso-prod +0 +0/);
    expect(checkArithmetic(out).portal).toBe(3);
    expect(out).toMatch(/; \d+ fixed, \d+ ticketed, 0 failed;/);
    for (const s of SECRETS) expect(out).not.toContain(s);
  }, 120_000);

  it("--dry-run changes nothing and shows tickets instead", async () => {
    let out = "";
    const code = await runDemo({ dryRun: true }, { out: (s) => (out += s) });
    expect(code).toBe(0);
    expect(out).toMatch(/apim-contoso-prod: user re-enables HTTP on API 'orders' -> ticket #\d+: api-https-only/);
    const n = checkArithmetic(out);
    expect(n.fixed).toBe(0);
    expect(n.portal).toBe(3);
    expect(n.ticketed).toBe(n.found + 3);
  }, 120_000);
});

/** Azurite processes this test process started that are still running (Linux: read from /proc; elsewhere none are seen). */
function azuriteChildren(): number[] {
  if (process.platform !== "linux") return [];
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) === process.pid && state !== "Z" && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("azurite")) out.push(Number(pid));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

describe("npm run demo with a bad --estate", () => {
  const dir = mkdtempSync(join(tmpdir(), "demo-bad-"));
  let leaked: number[] = [];
  afterEach(() => {
    // stop what a failing run left behind (only processes this test started)
    for (const pid of leaked) process.kill(pid, "SIGKILL");
    leaked = [];
  });

  async function demo(args: string[]) {
    let out = "";
    let err = "";
    const code = await run(["demo", ...args], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {}, isTTY: false });
    leaked = azuriteChildren();
    return { code, out, err };
  }

  const notList = join(dir, "object.json");
  writeFileSync(notList, JSON.stringify({ services: [] }));
  const noId = join(dir, "no-id.json");
  writeFileSync(noId, JSON.stringify([{ id: "/subscriptions/8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34", type: "Microsoft.Resources/subscriptions" }, { type: "Microsoft.ApiManagement/service", name: "x" }]));
  const notJson = join(dir, "broken.json");
  writeFileSync(notJson, "[{");
  it.each([
    ["a missing file", join(dir, "missing.json"), /: cannot read \(ENOENT\)$/],
    ["a directory", dir, /: cannot read \(EISDIR\)$/],
    ["a file that is not JSON", notJson, /: not valid JSON \(/],
    ["an object without 'resources'", notList, /: expected a JSON array of ARM resources or an object with a 'resources' array$/],
    ["an entry without an id", noId, /: entry 2 has no ARM "id"/],
  ])("%s: exit 2 with one line naming the file, and no Azurite or emulator left running", async (_what, file, expected) => {
    const r = await demo(["--estate", file]);
    expect(r.code, r.err).toBe(2);
    expect(r.err.startsWith(`apim-remediator: --estate ${file}: `), r.err).toBe(true);
    expect(r.err.trimEnd()).toMatch(expected);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.out).toBe("");
    expect(leaked).toEqual([]);
  });

  it("a named pipe: refused at once, not waited on (skipped without mkfifo)", async (ctx) => {
    const fifo = join(dir, "estate.fifo");
    if (spawnSync("mkfifo", [fifo]).status !== 0) return ctx.skip();
    const r = await demo(["--estate", fifo]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`apim-remediator: --estate ${fifo}: not a regular file (a named pipe)\n`);
    expect(leaked).toEqual([]);
  });

  it("a failure after Azurite started (the emulator cannot create its state directory) stops Azurite", async (ctx) => {
    if (process.platform !== "linux") return ctx.skip();
    const tmp = process.env["TMPDIR"];
    process.env["TMPDIR"] = join(dir, "no-such-tmp");
    let r;
    try {
      r = await demo(["--estate", join(process.cwd(), "emulator/estates/demo.json")]);
    } finally {
      if (tmp === undefined) delete process.env["TMPDIR"];
      else process.env["TMPDIR"] = tmp;
    }
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/no-such-tmp/);
    expect(leaked).toEqual([]);
  }, 60_000);
});

/**
 * The README's emulator example (the CLI section), run as written: the commands after `npm run emulator &`,
 * against a test emulator serving the same estate (its ports and CA file swapped in), each in a fresh
 * folder. The remediate line migrates the demo estate's secret named values into its vault.
 */
describe("the README's emulator example", () => {
  const root = process.cwd();
  const DEMO = JSON.parse(readFileSync(join(root, "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
  });
  afterAll(async () => env?.emu.stop());

  /** The shell commands of the README block that starts with `npm run emulator &` (continuations joined, comments dropped). */
  function readmeCommands(): string[] {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const block = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] as string).find((b) => b.startsWith("npm run emulator &\n"));
    expect(block, "a README block starting with `npm run emulator &`").toBeDefined();
    return (block as string)
      .replace(/\\\n/g, " ")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
  }

  function runCli(line: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const words = line.split(/\s+/);
    expect(line, "no quoting in the example").not.toMatch(/["'`$]/);
    const vars: Record<string, string> = {};
    while (/^[A-Z_]+=/.test(words[0] as string)) {
      const [k, ...v] = (words.shift() as string).split("=");
      vars[k as string] = v.join("=");
    }
    expect(words.slice(0, 2), line).toEqual(["node", "dist/src/cli/main.js"]);
    // the emulator `npm run emulator` starts: ARM on 8443, the estate's vault on 8444, its CA in .emulator/
    const swap: Record<string, string> = {
      "https://127.0.0.1:8443": env.emu.armEndpoint,
      "https://127.0.0.1:8444": env.emu.keyVaults["kv-contoso-apim"] as string,
      ".emulator/emulator-ca.pem": env.emu.caFile,
    };
    const args = words.slice(2).map((w) => swap[w] ?? w);
    const tsx = pathToFileURL(join(root, "node_modules", "tsx", "dist", "loader.mjs")).href;
    return new Promise((resolve) => {
      execFile(process.execPath, ["--import", tsx, join(root, "src", "cli", "main.ts"), ...args], { cwd, env: { ...process.env, ...vars }, encoding: "utf8" }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 99) : 0, stdout, stderr });
      });
    });
  }

  it("scans, then remediates with the Key Vault migration, as written", async () => {
    const lines = readmeCommands();
    expect(lines[0]).toBe("npm run emulator &");
    expect(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts.emulator).toMatch(/--port 8443\b/);
    const cwd = mkdtempSync(join(tmpdir(), "readme-example-"));
    const scan = lines.find((l) => / scan$/.test(l));
    const remediate = lines.find((l) => / remediate --yes$/.test(l));
    expect(scan, "a scan line").toBeDefined();
    expect(remediate, "a remediate line").toBeDefined();
    const s = await runCli(scan as string, cwd);
    expect(s.code, s.stderr).toBe(1); // failures found
    expect(s.stdout).toMatch(/named-value-secrets-in-key-vault/);
    const r = await runCli(remediate as string, cwd);
    expect(r.code, r.stderr).toBe(1); // drift remains: the ticket-only rules
    for (const nv of ["legacy-db-password", "partner-api-key"]) {
      expect(r.stdout).toMatch(new RegExp(`^APPLIED +named-value-secrets-in-key-vault +apim-contoso-dev/namedValues/${nv}$`, "m"));
    }
    expect(r.stdout).not.toMatch(/^FAILED/m);
    expect(r.stdout).not.toMatch(/^NOT-REMEDIABLE +named-value-secrets-in-key-vault/m);
    for (const secret of SECRETS) expect(r.stdout + r.stderr).not.toContain(secret);
  }, 120_000);
});
