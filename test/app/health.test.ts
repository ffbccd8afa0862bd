import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkHealth, publicHealth } from "../../src/app/health.js";
import { REMEDIATOR, service, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

describe("health check", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([service("apim-health")]);
  });
  afterAll(async () => env.emu.stop());

  const settings = () => ({
    ARM_ENDPOINT: env.emu.armEndpoint,
    ARM_CA_FILE: env.emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    AzureWebJobsStorage: inject("azuriteConnectionString"),
  });

  it("is healthy when config, storage (Azurite) and ARM (emulator) all answer", async () => {
    const report = await checkHealth(settings());
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ["config", true],
      ["storage", true],
      ["arm", true],
    ]);
    expect(report.ok).toBe(true);
  });

  it("reports the bad setting by name and stops there", async () => {
    const report = await checkHealth({ ...settings(), REMEDIATOR_MODE: "yolo" });
    expect(report.ok).toBe(false);
    expect(report.checks).toHaveLength(1);
    expect(report.checks[0]?.detail).toBe('Invalid setting REMEDIATOR_MODE: expected one of "enforce", "dry-run" (got "yolo")');
  });

  it("reports storage unreachable without failing the other checks", async () => {
    const report = await checkHealth({ ...settings(), AzureWebJobsStorage: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=AAAA;QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;" , ARM_MAX_RETRIES: "0"});
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === "storage")?.ok).toBe(false);
    expect(report.checks.find((c) => c.name === "arm")?.ok).toBe(true);
  });

  it("the anonymous answer is only ok / unhealthy: no check names, details, storage URL or subscriptions", async () => {
    const good = await checkHealth(settings());
    expect(publicHealth(good)).toEqual({ status: "ok" });
    const bad = await checkHealth({ ...settings(), REMEDIATOR_SUBSCRIPTIONS: `${SUB},99999999-9999-4999-8999-999999999999`, ARM_MAX_RETRIES: "0" });
    expect(bad.ok).toBe(false);
    expect(publicHealth(bad)).toEqual({ status: "unhealthy" });
    const text = JSON.stringify(publicHealth(bad));
    for (const leak of [SUB, "99999999", "arm", "storage", "127.0.0.1", "devstoreaccount1", "404"]) expect(text).not.toContain(leak);
  });

  it("reports a subscription in scope that ARM does not know", async () => {
    const report = await checkHealth({ ...settings(), REMEDIATOR_SUBSCRIPTIONS: `${SUB},99999999-9999-4999-8999-999999999999`, ARM_MAX_RETRIES: "0" });
    const arm = report.checks.find((c) => c.name === "arm");
    expect(arm?.ok).toBe(false);
    expect(arm?.detail).toMatch(/404/);
  });
});
