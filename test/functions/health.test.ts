import { HttpRequest, InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { health } from "../../src/functions/health.js";
import { REMEDIATOR, service, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

describe("GET /api/health (Functions handler invoked directly)", () => {
  let env: TestEnv;
  const saved = { ...process.env };
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-fn")]);
  });
  afterAll(async () => {
    process.env = saved;
    await env.emu.stop();
  });

  function invoke() {
    const logs: string[] = [];
    const context = new InvocationContext({ invocationId: "health-1", functionName: "health", logHandler: (_l, ...a) => logs.push(a.join(" ")) });
    const request = new HttpRequest({ method: "GET", url: "http://localhost:7071/api/health" });
    return { logs, result: health(request, context) };
  }

  it("answers 200 with every check passing", async () => {
    Object.assign(process.env, {
      ARM_ENDPOINT: env.emu.armEndpoint,
      ARM_CA_FILE: env.emu.caFile,
      REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
      AzureWebJobsStorage: inject("azuriteConnectionString"),
      REMEDIATOR_MODE: "dry-run",
    });
    const { result } = invoke();
    const res = await result;
    expect(res.status).toBe(200);
    const body = res.jsonBody as { ok: boolean; mode: string; checks: Array<{ name: string; ok: boolean }> };
    expect(body.ok).toBe(true);
    expect(body.mode).toBe("dry-run");
  });

  it("answers 503 and logs a warning through the InvocationContext when a setting is bad", async () => {
    process.env["REMEDIATOR_MODE"] = "maybe";
    const { result, logs } = invoke();
    const res = await result;
    expect(res.status).toBe(503);
    expect(JSON.stringify(res.jsonBody)).toContain("Invalid setting REMEDIATOR_MODE");
    expect(logs.some((l) => l.includes("health check failed"))).toBe(true);
  });
});
