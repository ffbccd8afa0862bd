/**
 * Long-running service updates outlast a function (issue 16, item 2). In Azure a TLS, cipher,
 * identity or API-version PATCH of the service takes 15 to 45 minutes or longer; host.json caps a
 * function at 10 minutes. The app starts the update, records it (Table storage), ends the fix
 * `in-progress` and checks it again from a delayed queue message; once Azure is done it verifies
 * and records `applied` (or `failed`). Handlers run directly against the emulator and Azurite; the
 * emulator's service updates run for an hour unless a test completes (settleAll) or fails them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { evaluateQueued, report, type AppDeps, type EvaluateOutcome } from "../../src/app/app.js";
import { encodeMessage, type EvaluateMessage } from "../../src/app/storage.js";
import type { ActionResult } from "../../src/engine/engine.js";
import { drainQueue } from "../../src/local/driver.js";
import { RULES } from "../../src/remediations/index.js";
import { driftsToTicket } from "../../src/tickets/manager.js";
import { buildTicket } from "../../src/tickets/content.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { service, serviceId, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const NAME = "apim-lro";
const ID = serviceId(NAME);
const TLS = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10";
// two service fixes: the minimum API version first (catalog order), then TLS
const ONLY = ["min-api-version", "gateway-tls-protocols"];
const RULE_MODES = [...RULES.map((r) => `${r.meta.id}=${ONLY.includes(r.meta.id) ? "enforce" : "off"}`)].join(",");

function estate() {
  return [service(NAME, { customProperties: { [TLS]: "True" } })];
}

function msg(reason: EvaluateMessage["reason"]): string {
  return encodeMessage({ serviceId: ID, reason, correlationId: `c-${Math.random().toString(36).slice(2)}`, enqueuedAt: new Date().toISOString() });
}

function actionsOf(o: EvaluateOutcome): ActionResult[] {
  if (o.kind !== "evaluated") throw new Error(`expected an evaluation, got ${o.kind}: ${o.reason}`);
  return o.result.actions;
}

const action = (o: EvaluateOutcome, ruleId: string) => actionsOf(o).find((a) => a.ruleId === ruleId);

describe("long-running service updates: started, handed off, resumed, verified", () => {
  let env: TestEnv;
  let deps: AppDeps;
  const patches = () => env.emu.log.list().filter((e) => e.method === "PATCH" && e.path.toLowerCase().split("?")[0] === ID.toLowerCase()).length;
  const queued = async () => (await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount ?? -1;
  const visible = async () => (await deps.storage.evaluateQueue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length;

  beforeAll(async () => {
    // the emulator's service updates run for an hour (real time): only settleAll / failPending end them
    env = await startTestEmulator(estate(), { throttle: { enabled: false }, timing: { lro: { "service-update": 3_600_000 } } });
    deps = await appFor(env.emu, { REMEDIATOR_RULE_MODES: RULE_MODES }, { handOffAfterMs: 0 });
  });
  beforeEach(async () => {
    env.emu.reset(estate());
    await clearAppStorage(deps);
    for (const op of await deps.storage.operations.list(ID)) await deps.storage.operations.remove(op.serviceId, op.ruleId, op.resourceId);
  });
  afterAll(async () => {
    await env.emu.stop();
  });

  it("returns in-progress with a delayed check, makes no second PATCH meanwhile, then verifies and records applied", async () => {
    const first = await evaluateQueued(msg("sweep"), deps);
    expect(action(first, "min-api-version")).toMatchObject({ outcome: "in-progress", inProgress: { polls: 0, started: true } });
    // the TLS fix would be refused (409) while the service updates: it waits, it is not failed
    expect(action(first, "gateway-tls-protocols")).toMatchObject({ outcome: "skipped" });
    expect(action(first, "gateway-tls-protocols")?.reason).toMatch(/^waiting for the service update in progress/);
    expect(patches()).toBe(1);
    // one follow-up message, invisible until the check is due
    expect(await queued()).toBe(1);
    expect(await visible()).toBe(0);
    const [op] = await deps.storage.operations.list(ID);
    expect(op).toMatchObject({ ruleId: "min-api-version", polls: 0 });
    expect(JSON.parse(op?.state ?? "{}").state.config.operationLocation).toMatch(/operationResults/);
    const audit = await deps.storage.audit.list(ID);
    expect(audit.filter((r) => r.ruleId === "min-api-version").map((r) => r.outcome).sort()).toEqual(["in-progress", "started"]);
    expect(audit.some((r) => r.outcome === "failed")).toBe(false);

    // the report says in progress, not failed; no ticket is opened for a change being applied
    const rep = (await report(deps)).services[0];
    expect(rep?.rules["min-api-version"]?.status).toBe("in-progress");
    expect(rep?.summary.inProgress).toBe(1);
    expect(rep?.rules["min-api-version"]?.findings[0]?.message).toMatch(/^In progress: /);
    if (first.kind === "evaluated") expect(driftsToTicket([...RULES], first.result.findings, first.result.actions).map((d) => d.rule.meta.id)).toEqual([]);

    // a second evaluation before Azure is done (an event, a sweep): polls once, no PATCH, still in progress, no extra message
    const second = await evaluateQueued(msg("sweep"), deps);
    expect(action(second, "min-api-version")).toMatchObject({ outcome: "in-progress", inProgress: { polls: 1, started: false } });
    expect(patches()).toBe(1);
    expect(await queued()).toBe(1);

    // Azure finishes; the delayed check verifies (re-read, re-detect) and records applied; the TLS fix starts now
    env.emu.arm.settleAll();
    const third = await evaluateQueued(msg("operation"), deps);
    expect(action(third, "min-api-version")).toMatchObject({ outcome: "applied" });
    expect(action(third, "gateway-tls-protocols")).toMatchObject({ outcome: "in-progress", inProgress: { started: true } });
    expect(patches()).toBe(2);
    expect((await deps.storage.operations.list(ID)).map((o) => o.ruleId)).toEqual(["gateway-tls-protocols"]);
    const applied = (await deps.storage.audit.list(ID)).filter((r) => r.ruleId === "min-api-version" && r.outcome === "applied");
    expect(applied).toHaveLength(1);
    expect((await report(deps)).services[0]?.rules["min-api-version"]?.status).toBe("pass");

    env.emu.arm.settleAll();
    const fourth = await evaluateQueued(msg("operation"), deps);
    expect(action(fourth, "gateway-tls-protocols")).toMatchObject({ outcome: "applied" });
    expect(await deps.storage.operations.list(ID)).toEqual([]);
    const svc = await env.clients.apim(ID.split("/")[2] as string).apiManagementService.get("rg-apim", NAME);
    expect(svc.apiVersionConstraint?.minApiVersion).toBeDefined();
    expect(svc.customProperties?.[TLS]).toBe("False");
  });

  it("a failed operation records failed and is not checked again", async () => {
    const first = await evaluateQueued(msg("sweep"), deps);
    expect(action(first, "min-api-version")?.outcome).toBe("in-progress");
    expect(env.emu.arm.failPending("InternalServerError", "The service update failed.")).toBe(1);
    const next = await evaluateQueued(msg("operation"), deps);
    expect(action(next, "min-api-version")).toMatchObject({ outcome: "failed" });
    expect(action(next, "min-api-version")?.reason).toMatch(/failed.*The service update failed/);
    expect((await deps.storage.operations.list(ID)).map((o) => o.ruleId)).not.toContain("min-api-version");
    expect((await deps.storage.audit.list(ID)).filter((r) => r.ruleId === "min-api-version" && r.outcome === "failed")).toHaveLength(1);
  });

  it("a ticket for a drift in progress says in progress, not failed", () => {
    const rule = RULES.find((r) => r.meta.id === "gateway-tls-protocols");
    if (!rule) throw new Error("no rule");
    const t = buildTicket({ rule, finding: { ruleId: rule.meta.id, resourceId: ID, status: "fail", severity: rule.meta.severity, action: rule.meta.defaultAction, message: "TLS 1.0 is enabled" }, serviceId: ID, outcome: "in-progress", reason: "service update started 2026-01-01T00:00:00Z; Azure is still applying it" });
    expect(t.body).toContain("In progress: service update started");
    expect(t.body).not.toContain("Not applied automatically");
  });
});

describe("the realistic LRO profile with a time scale: the queue converges", () => {
  let env: TestEnv;
  let deps: AppDeps;
  beforeAll(async () => {
    // Azure's durations (30-minute service updates) at 1/10000: a few hundred milliseconds each
    env = await startTestEmulator(estate(), { throttle: { enabled: false }, timing: { profile: "realistic", timeScale: 0.0001 } });
    deps = await buildDeps();
    async function buildDeps() {
      const { buildAppDeps } = await import("../../src/app/runtime.js");
      const { appEnv } = await import("../helpers/app.js");
      // checks are due at once (0 s): the local driver keeps draining until every operation is verified
      return buildAppDeps(appEnv(env.emu, { REMEDIATOR_RULE_MODES: RULE_MODES }), { leaseRetrySeconds: 0, operationRecheckSeconds: 0, handOffAfterMs: 0, engineTimings: { sleep: () => new Promise((r) => setTimeout(r, 50)), backoffMs: 1, pollIntervalMs: 5, pollAttempts: 3 } });
    }
    await clearAppStorage(deps);
  });
  afterAll(async () => {
    await env.emu.stop();
  });

  it("every service fix ends applied after in-progress checks", async () => {
    await deps.storage.evaluateQueue.sendMessage(msg("sweep"));
    const drained = await drainQueue(deps, { maxRounds: 2000 });
    const outcomes = drained.outcomes.flatMap((o) => (o.kind === "evaluated" ? o.result.actions : []));
    expect(outcomes.filter((a) => a.outcome === "applied").map((a) => a.ruleId).sort()).toEqual([...ONLY].sort());
    expect(outcomes.some((a) => a.outcome === "failed")).toBe(false);
    expect(outcomes.some((a) => a.outcome === "in-progress")).toBe(true);
    expect(await deps.storage.operations.list(ID)).toEqual([]);
    const rep = (await report(deps)).services[0];
    expect(rep?.summary).toMatchObject({ fail: 0, inProgress: 0 });
  });
});

describe("the CLI's way: the engine waits in-process with a progress line", () => {
  let env: TestEnv;
  beforeAll(async () => {
    // a service update that outlasts the first poll (2 s real time); the engine polls every 100 ms
    env = await startTestEmulator(estate(), { throttle: { enabled: false }, timing: { lro: { "service-update": 2_000 } } });
  });
  afterAll(async () => {
    await env.emu.stop();
  });

  it("waits for the update, reports progress, and records applied without handing off", async () => {
    const { Engine } = await import("../../src/engine/engine.js");
    const { MemoryAudit } = await import("../../src/engine/audit.js");
    const { MemoryLockInventory } = await import("../../src/engine/inventory.js");
    const { MemoryOperationStore } = await import("../../src/engine/operations.js");
    const { loadConfig } = await import("../../src/common/config.js");
    const { createClients } = await import("../../src/azure/clients.js");
    const { createLogger } = await import("../../src/common/logger.js");
    const { REMEDIATOR } = await import("../helpers/emulator.js");
    const config = loadConfig({ ARM_ENDPOINT: env.emu.armEndpoint, ARM_CA_FILE: env.emu.caFile, REMEDIATOR_PRINCIPAL_ID: REMEDIATOR, REMEDIATOR_MODE: "enforce", REMEDIATOR_RULE_MODES: RULE_MODES.replace("gateway-tls-protocols=enforce", "gateway-tls-protocols=off") });
    const lines: string[] = [];
    const operations = new MemoryOperationStore();
    const engine = new Engine({ clients: createClients(config), config, audit: new MemoryAudit(), inventory: new MemoryLockInventory(), log: createLogger({ level: "silent" }), operationMode: "wait", operations, progress: (l) => lines.push(l), pollIntervalMs: 100 });
    const result = await engine.evaluate(ID);
    expect(result.actions.find((a) => a.ruleId === "min-api-version")).toMatchObject({ outcome: "applied" });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^min-api-version: service update \(apiVersionConstraint\) in progress in Azure/);
    expect(await operations.list(ID)).toEqual([]);
  });
});
