import { HttpRequest, InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { health, healthDetails, healthDetailsOptions, healthOptions } from "../../src/functions/health.js";
import { REMEDIATOR, service, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

describe("GET /api/health and /api/health/details (Functions handlers invoked directly)", () => {
  let env: TestEnv;
  const saved = { ...process.env };
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-fn")]);
  });
  afterAll(async () => {
    process.env = saved;
    await env.emu.stop();
  });

  function invoke(handler: typeof health = health) {
    const logs: string[] = [];
    const name = handler === health ? "health" : "healthDetails";
    const context = new InvocationContext({ invocationId: "health-1", functionName: name, logHandler: (_l, ...a) => logs.push(a.join(" ")) });
    const request = new HttpRequest({ method: "GET", url: `http://localhost:7071/api/${handler === health ? "health" : "health/details"}` });
    return { logs, result: handler(request, context) };
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
    // anonymous: ok, and nothing else (no mode, no checks, no storage URL, no subscription count)
    expect(res.jsonBody).toEqual({ status: "ok" });
    // with the function key: every check
    const details = await invoke(healthDetails).result;
    expect(details.status).toBe(200);
    const body = details.jsonBody as { ok: boolean; mode: string; checks: Array<{ name: string; ok: boolean; detail: string }> };
    expect(body.ok).toBe(true);
    expect(body.mode).toBe("dry-run");
    expect(body.checks.map((c) => [c.name, c.ok])).toEqual([
      ["config", true],
      ["storage", true],
      ["arm", true],
    ]);
  });

  it("the details need the function key; the ok/not ok answer is anonymous", () => {
    expect(healthOptions).toMatchObject({ methods: ["GET"], authLevel: "anonymous", route: "health" });
    expect(healthDetailsOptions).toMatchObject({ methods: ["GET"], authLevel: "function", route: "health/details" });
  });

  it("answers 503 and logs a warning through the InvocationContext when a setting is bad", async () => {
    process.env["REMEDIATOR_MODE"] = "maybe";
    const { result, logs } = invoke();
    const res = await result;
    expect(res.status).toBe(503);
    // anonymous: not ok, without saying which setting (or anything else) is wrong
    expect(res.jsonBody).toEqual({ status: "unhealthy" });
    expect(logs.some((l) => l.includes("health check failed") && l.includes("Invalid setting REMEDIATOR_MODE"))).toBe(true);
    // with the function key: the one line naming the setting
    const details = await invoke(healthDetails).result;
    expect(details.status).toBe(503);
    expect(JSON.stringify(details.jsonBody)).toContain("Invalid setting REMEDIATOR_MODE");
  });
});
