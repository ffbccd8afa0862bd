import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiManagementClient } from "@azure/arm-apimanagement";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { LocalTokenCredential } from "../../src/azure/clients.js";

const DEMO = join(process.cwd(), "emulator/estates/demo.json");
const DEMO_SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
/** CA files a user may point --ca-file / ARM_CA_FILE at by mistake. */
const BAD = mkdtempSync(join(tmpdir(), "cli-bad-"));
const GARBAGE_CA = join(BAD, "garbage.pem");
writeFileSync(GARBAGE_CA, "this is not a certificate\n");
const BROKEN_CA = join(BAD, "broken.pem");
writeFileSync(BROKEN_CA, "-----BEGIN CERTIFICATE-----\nMIIBbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env });
  return { code, out, err };
}

describe("apim-remediator emulator (as a newcomer runs it)", () => {
  let proc: ChildProcess;
  let ready: { armEndpoint: string; caFile: string; keyVaults: Record<string, string>; adminUrl: string };

  beforeAll(async () => {
    proc = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "emulator", "--estate", DEMO], { stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    proc.stdout!.setEncoding("utf8");
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on("data", (d: string) => {
        buf += d;
        if (buf.includes("\n")) resolve();
      });
      proc.once("exit", (c) => reject(new Error(`emulator exited with ${c}`)));
    });
    ready = JSON.parse(buf.split("\n")[0] as string);
  });
  afterAll(async () => {
    if (proc.exitCode === null) {
      proc.kill("SIGTERM");
      await once(proc, "exit");
    }
  });

  it("prints one JSON line with the endpoints when ready", () => {
    expect(ready.armEndpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.adminUrl).toBe(`${ready.armEndpoint}/_admin`);
    expect(ready.caFile).toMatch(/\.pem$/);
    expect(Object.keys(ready.keyVaults)).toEqual(["kv-contoso-apim"]);
  });

  it("serves the demo estate to an unmodified SDK client trusting the CA file via NODE_EXTRA_CA_CERTS-style tlsOptions", async () => {
    const { readFileSync } = await import("node:fs");
    const client = new ApiManagementClient(new LocalTokenCredential("0e5a0000-0000-4000-8000-00000000beef"), DEMO_SUB, {
      endpoint: ready.armEndpoint,
      tlsOptions: { ca: readFileSync(ready.caFile, "utf8") },
    });
    const names: string[] = [];
    for await (const s of client.apiManagementService.list()) names.push(s.name as string);
    expect(names.sort()).toEqual(["apim-contoso-dev", "apim-contoso-prod", "apim-fabrikam-consumption"]);
  });

  it("lists the services in scope through the product's own config and clients", async () => {
    const r = await cli(["--arm-endpoint", ready.armEndpoint, "--ca-file", ready.caFile, "services", "--format", "json"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const ids = (JSON.parse(r.out) as { services: Array<{ id: string }> }).services.map((s) => s.id);
    expect(ids).toContain(`/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`);
    expect(ids).toHaveLength(3);
  });

  it("narrows to a resource group", async () => {
    const r = await cli(["--arm-endpoint", ready.armEndpoint, "--ca-file", ready.caFile, "--resource-group", "rg-apim-prod", "services"]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(2);
    expect(r.out).toContain("apim-contoso-prod");
  });

  it("takes the same settings from the environment as the Functions app", async () => {
    const r = await cli(["services", "--format", "json"], { ARM_ENDPOINT: ready.armEndpoint, ARM_CA_FILE: ready.caFile, REMEDIATOR_SUBSCRIPTIONS: DEMO_SUB });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).services).toHaveLength(3);
  });
});

describe("apim-remediator bad input", () => {
  it.each([
    [["bogus"], /unknown command 'bogus'/],
    [["--subscription", "not-a-guid", "services"], /^apim-remediator: Invalid setting REMEDIATOR_SUBSCRIPTIONS: expected a comma-separated list of subscription GUIDs \(got "not-a-guid"\)\n$/],
    [["--arm-endpoint", "http://insecure.example", "services"], /Invalid setting ARM_ENDPOINT: expected an https:\/\/ URL/],
    [["--ca-file", "/nonexistent/ca.pem", "services"], /Invalid setting ARM_CA_FILE: .*ENOENT/],
    [["--mode", "yolo", "services"], /argument 'yolo' is invalid/],
    [["emulator"], /required option '--estate <file>' not specified/],
    [["emulator", "--estate", "/nonexistent/estate.json"], /cannot read estate file \/nonexistent\/estate.json: ENOENT/],
    [["emulator", "--estate", DEMO, "--port", "70000"], /--port must be a whole number from 0 to 65535/],
    [["--ca-file", GARBAGE_CA, "services"], /^apim-remediator: Invalid setting ARM_CA_FILE: expected .*: no PEM certificate in it \(got ".*garbage\.pem"\)\n$/],
    [["--ca-file", BROKEN_CA, "services"], /^apim-remediator: Invalid setting ARM_CA_FILE: expected .*: certificate 1 of 1 in it is not a valid X\.509 certificate \(got ".*broken\.pem"\)\n$/],
    [["emulator", "--estate", DEMO, "--event-webhook", "not a url"], /^apim-remediator: option '--event-webhook <url>' argument 'not a url' is invalid\. --event-webhook must be an http:\/\/ or https:\/\/ URL\n$/],
    [["emulator", "--estate", DEMO, "--event-webhook", "ftp://hooks.contoso.example/events"], /--event-webhook must be an http:\/\/ or https:\/\/ URL/],
    [["emulator", "--estate", DEMO, "--event-webhook", "file:///etc/passwd"], /--event-webhook must be an http:\/\/ or https:\/\/ URL/],
    [["emulator", "--estate", DEMO, "--event-webhook", "/api/events"], /--event-webhook must be an http:\/\/ or https:\/\/ URL/],
  ])("%j exits 2 with one clear line", async (args, expected) => {
    const r = await cli(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(expected as RegExp);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.out).toBe("");
  });

  it("a broken certificate in ARM_CA_FILE exits 2 with one line, for every command that loads the configuration", async () => {
    for (const args of [["services"], ["scan"], ["plan", "--state-dir", BAD], ["remediate", "--yes", "--state-dir", BAD]]) {
      const r = await cli(args, { ARM_CA_FILE: BROKEN_CA, ARM_ENDPOINT: "https://127.0.0.1:9" });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(/^apim-remediator: Invalid setting ARM_CA_FILE: [^\n]*not a valid X\.509 certificate[^\n]*\n$/);
    }
  });
});
