/**
 * Errors that say what to do: an untrusted certificate suggests --ca-file, a closed port shows the
 * SDK's retries as they happen and ends with one line, no sign-in names the credentials tried and
 * says `az login` (the @azure/identity errors themselves, as DefaultAzureCredential throws them).
 */
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AggregateAuthenticationError, CredentialUnavailableError } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { explainAzureError } from "../../src/cli/errors.js";
import { startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const DEMO = join(process.cwd(), "emulator/estates/demo.json");

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const code = await run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), env, isTTY: false });
  return { code, out, err };
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("errors that say what to do", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(JSON.parse(readFileSync(DEMO, "utf8")), { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());

  it("an endpoint whose certificate is not trusted: one line naming the code and --ca-file", async () => {
    for (const cmd of [["scan"], ["services"]]) {
      const r = await cli(["--arm-endpoint", env.emu.armEndpoint, ...cmd]);
      expect(r.code).toBe(3);
      const host = new URL(env.emu.armEndpoint).host;
      expect(r.err).toMatch(new RegExp(`^apim-remediator: the TLS certificate of ${host.replace(/\./g, "\\.")} is not trusted \\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\): pass the CA that issued it with --ca-file <pem>`));
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
  });

  it("a closed port: each retry is shown on stderr as it happens, then one line", async () => {
    const port = await closedPort();
    const r = await cli(["--arm-endpoint", `https://127.0.0.1:${port}`, "--ca-file", env.emu.caFile, "scan"], { ARM_MAX_RETRIES: "2" });
    expect(r.code).toBe(3);
    const lines = r.err.trim().split("\n");
    expect(lines).toEqual([
      `apim-remediator: 127.0.0.1:${port}: ECONNREFUSED (attempt 1 of 3); retrying`,
      `apim-remediator: 127.0.0.1:${port}: ECONNREFUSED (attempt 2 of 3); retrying`,
      `apim-remediator: cannot reach 127.0.0.1:${port}: connection refused (ECONNREFUSED on all 3 attempts); check --arm-endpoint (env ARM_ENDPOINT) and that the service is listening`,
    ]);
    expect(r.out).toBe("");
  });

  it("no sign-in (DefaultAzureCredential's AggregateAuthenticationError): names the credentials tried and says az login", () => {
    const e = new AggregateAuthenticationError(
      [
        new CredentialUnavailableError("EnvironmentCredential is unavailable. No underlying credential could be used."),
        new CredentialUnavailableError("ManagedIdentityCredential: Authentication failed. Message Attempted to use the IMDS endpoint, but it is not available."),
        new CredentialUnavailableError("Azure CLI could not be found. Please visit https://aka.ms/azure-cli for installation instructions and then, once installed, authenticate to your Azure account using 'az login'."),
      ],
      "DefaultAzureCredential failed to retrieve a token from the included credentials.",
    );
    const line = explainAzureError(e) as string;
    expect(line).toMatch(/^not signed in to Azure: no credential gave a token \(3 tried: environment variables \(AZURE_TENANT_ID, AZURE_CLIENT_ID[^)]*\), workload identity, managed identity, Azure CLI, Azure PowerShell, Azure Developer CLI\); run `az login`/);
    expect(line).toMatch(/AZURE_CLIENT_ID to the managed identity's client id$/);
    expect(line).not.toContain("\n");
    const mi = explainAzureError(new CredentialUnavailableError("ManagedIdentityCredential: no managed identity endpoint found.\nmore text")) as string;
    expect(mi).toBe("not signed in to Azure: ManagedIdentityCredential: no managed identity endpoint found.; run `az login`, or on Azure check the managed identity (AZURE_CLIENT_ID, IDENTITY_ENDPOINT)");
    expect(explainAzureError(new Error("something else"))).toBeUndefined();
  });
});
