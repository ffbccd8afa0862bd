import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runDemo } from "../../src/cli/demo.js";
import { run } from "../../src/cli/main.js";

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
