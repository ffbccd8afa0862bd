/**
 * Focused regression tests for the bugs the fault schedules and the fuzzers
 * found (each also stays covered by them):
 *
 * - the collector left failed collections unhandled (an unhandled rejection
 *   can end the worker process) and kept reading after it had failed;
 * - a deleted service's events were retried into the poison queue (an alert);
 * - a self-referencing template parameter overflowed the stack (exit 3, not 2);
 * - a bad credential setting was shown in the error (logs, anonymous /api/health).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateQueued, type AppDeps } from "../../src/app/app.js";
import { collectSnapshot } from "../../src/azure/collector.js";
import { ConfigError } from "../../src/common/config.js";
import { encodeMessage } from "../../src/app/storage.js";
import { needsOf } from "../../src/engine/scan.js";
import { RULES } from "../../src/remediations/index.js";
import { MemoryTicketProvider } from "../../src/tickets/memory.js";
import { TicketManager } from "../../src/tickets/manager.js";
import { TableTicketStore } from "../../src/app/ticket-store.js";
import { ticketProviderFromEnv } from "../../src/tickets/config.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { DEMO_SUB, demoResources } from "./estates.js";

const DEV = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let env: TestEnv;
beforeAll(async () => {
  env = await startTestEmulator(demoResources(), { throttle: { enabled: false } });
});
afterAll(async () => env.emu.stop());

describe("collector", () => {
  it("when several collections fail at once: one rejection, none unhandled, nothing still reading afterwards", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      const clients = (await import("../../src/azure/clients.js")).createClients({ ...env.config, armMaxRetries: 0 });
      // the API list answers late (and fine); meanwhile other collections fail
      env.emu.faults.add({ method: "GET", pathRegex: "/service/apim-contoso-dev/apis(\\?|$)", delayMs: 200 });
      for (const path of ["/namedValues", "/backends", "/tenant"]) env.emu.faults.add({ method: "GET", pathRegex: `/service/apim-contoso-dev${path}(\\?|$)`, status: 500, code: "InternalServerError" });
      await expect(collectSnapshot(clients, DEV, needsOf([...RULES]))).rejects.toMatchObject({ statusCode: 500 });
      const after = env.emu.log.list().length;
      await sleep(300);
      expect(env.emu.log.list().length).toBe(after);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      env.emu.faults.clear();
    }
  });
});

describe("a deleted service", () => {
  let deps: AppDeps;
  beforeAll(async () => {
    // dry-run: the first evaluation tickets the drifts instead of fixing them (and adds no lock that would block the delete)
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: DEMO_SUB, REMEDIATOR_MODE: "dry-run" });
    await clearAppStorage(deps);
    deps.tickets = new TicketManager(new MemoryTicketProvider(), new TableTicketStore(deps.storage.ticketsTable), { createsPerMinute: 1000 });
  });

  it("ends as gone (not poisoned); its compliance rows go and its open tickets close", async () => {
    const GONE = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-to-delete`;
    env.emu.reset([...demoResources(), { id: GONE, type: "Microsoft.ApiManagement/service", name: "apim-to-delete", location: "westeurope", sku: { name: "Developer", capacity: 1 }, properties: { publisherEmail: "a@b.example", publisherName: "x" } }]);
    const msg = (id: string) => encodeMessage({ serviceId: GONE, reason: "sweep", correlationId: id, enqueuedAt: new Date().toISOString() });
    const first = await evaluateQueued(msg("before"), deps);
    expect(first.kind).toBe("evaluated");
    const provider = (deps.tickets as TicketManager).provider as MemoryTicketProvider;
    expect(provider.tickets.filter((t) => t.serviceId === GONE && t.state === "open").length).toBeGreaterThan(0);
    expect((await deps.storage.compliance.list()).some((r) => r.serviceId === GONE)).toBe(true);
    // the service is deleted (as its ResourceDeleteSuccess event would then say)
    await env.clientsAs("0e5a0000-0000-4000-8000-0000000051e5").apim(DEMO_SUB).apiManagementService.beginDeleteAndWait("rg-apim-dev", "apim-to-delete", { updateIntervalInMs: 5 });
    const second = await evaluateQueued(msg("after"), deps);
    expect(second).toEqual({ kind: "gone", reason: "the service no longer exists" });
    expect((await deps.storage.compliance.list()).some((r) => r.serviceId === GONE)).toBe(false);
    expect(provider.tickets.filter((t) => t.serviceId === GONE && t.state === "open")).toEqual([]);
    // a transient error is still retried (thrown), and a 404 of a child of a service that exists too
    env.emu.faults.add({ method: "GET", pathRegex: "/service/apim-contoso-dev/namedValues(\\?|$)", status: 404, code: "ResourceNotFound", count: 1 });
    await expect(evaluateQueued(encodeMessage({ serviceId: DEV, reason: "sweep", correlationId: "child-404", enqueuedAt: new Date().toISOString() }), deps)).rejects.toMatchObject({ statusCode: 404 });
    env.emu.faults.clear();
  });
});

describe("offline templates", () => {
  it("parameters and variables that refer to themselves scan (exit 1), not a stack overflow (exit 3)", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { run } = await import("../../src/cli/main.js");
    const dir = mkdtempSync(join(tmpdir(), "cyclic-"));
    const schema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
    const templates = [
      { $schema: schema, contentVersion: "1.0.0.0", parameters: { a: { type: "string", defaultValue: "[parameters('a')]" } }, resources: [{ type: "Microsoft.ApiManagement/service", name: "[parameters('a')]", properties: {} }] },
      { $schema: schema, contentVersion: "1.0.0.0", variables: { a: "[variables('b')]", b: "[concat(variables('a'), 'x')]" }, resources: [{ type: "Microsoft.ApiManagement/service", name: "apim", properties: { x: "[variables('a')]" } }] },
    ];
    for (const [i, t] of templates.entries()) {
      const file = join(dir, `t${i}.json`);
      writeFileSync(file, JSON.stringify(t));
      let err = "";
      const code = await run(["scan", "--input", file, "--format", "json"], { stdout: () => undefined, stderr: (s) => (err += s), env: {} });
      expect(err).toBe("");
      expect(code).toBe(1);
    }
  });
});

describe("settings holding credentials", () => {
  it("a bad value is described, never shown, in the message or on the error", () => {
    const secret = "short-secret";
    let err: unknown;
    try {
      ticketProviderFromEnv({ TICKET_PROVIDER: "webhook", TICKET_WEBHOOK_URL: "https://hooks.contoso.example", TICKET_WEBHOOK_SECRET: secret });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe("Invalid setting TICKET_WEBHOOK_SECRET: expected a shared secret for the HMAC-SHA256 signature (at least 16 characters) (got 12 characters, not shown)");
    expect(JSON.stringify(err)).not.toContain(secret);
    expect((err as ConfigError).got).toBeUndefined();
    // other settings still show what they got
    expect(new ConfigError("REMEDIATOR_MODE", "x", "yolo").message).toContain('(got "yolo")');
  });
});
