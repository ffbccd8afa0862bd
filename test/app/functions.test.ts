/**
 * The Functions themselves: registration (trigger kind, queue names,
 * connection, schedule, routes, auth levels) recorded from the modules'
 * `app.*` calls, host.json, and the HTTP handlers invoked as the host invokes
 * them, with settings from process.env (Azurite + the emulator behind them).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HttpRequest, InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { AppDeps, ServiceReport } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import { resetAppDeps } from "../../src/app/runtime.js";
import type { EvaluateMessage } from "../../src/app/storage.js";
import { evaluateNow, evaluateNowOptions, report, reportOptions } from "../../src/functions/api.js";
import { evaluate, evaluateOptions } from "../../src/functions/evaluate.js";
import { health, healthDetails, healthDetailsOptions, healthOptions } from "../../src/functions/health.js";
import { onPoison, onPoisonOptions } from "../../src/functions/onPoison.js";
import { onResourceEvent, onResourceEventOptions } from "../../src/functions/onResourceEvent.js";
import { sweep, sweepOptions } from "../../src/functions/sweep.js";
import { appEnv, appFor, clearAppStorage } from "../helpers/app.js";
import { child, service, serviceId, startTestEmulator, SUB, SUB2, type TestEnv } from "../helpers/emulator.js";

/** What the modules register with the Functions host (the package skips registration outside the host, so record it). */
const registered = vi.hoisted(() => [] as Array<{ kind: string; name: string; options: { handler: unknown } }>);
vi.mock("@azure/functions", async (importOriginal) => {
  const mod = await importOriginal<typeof import("@azure/functions")>();
  const record = (kind: string) => (name: string, options: { handler: unknown }) => void registered.push({ kind, name, options });
  return { ...mod, app: { ...mod.app, http: record("http"), storageQueue: record("storageQueue"), timer: record("timer"), eventGrid: record("eventGrid") } };
});

describe("registration", () => {
  it("registers each function with its trigger and options", () => {
    const byName = Object.fromEntries(registered.map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual(["evaluate", "evaluateNow", "health", "healthDetails", "onPoison", "onResourceEvent", "report", "sweep"]);

    expect(byName["onResourceEvent"]).toEqual({ kind: "eventGrid", name: "onResourceEvent", options: onResourceEventOptions });
    expect(onResourceEventOptions.handler).toBe(onResourceEvent);

    expect(byName["sweep"]).toEqual({ kind: "timer", name: "sweep", options: sweepOptions });
    expect(sweepOptions).toMatchObject({ schedule: "%SWEEP_SCHEDULE%", runOnStartup: false, handler: sweep });

    expect(byName["evaluate"]).toEqual({ kind: "storageQueue", name: "evaluate", options: evaluateOptions });
    expect(evaluateOptions).toEqual({ queueName: "apim-evaluate", connection: "AzureWebJobsStorage", handler: evaluate });
    expect(byName["onPoison"]).toEqual({ kind: "storageQueue", name: "onPoison", options: onPoisonOptions });
    // the host's poison queue for "apim-evaluate" is "apim-evaluate-poison"
    expect(onPoisonOptions).toEqual({ queueName: `${evaluateOptions.queueName}-poison`, connection: "AzureWebJobsStorage", handler: onPoison });

    expect(byName["evaluateNow"]).toEqual({ kind: "http", name: "evaluateNow", options: evaluateNowOptions });
    expect(evaluateNowOptions).toEqual({ methods: ["POST"], authLevel: "function", route: "evaluate", handler: evaluateNow });
    expect(byName["report"]).toEqual({ kind: "http", name: "report", options: reportOptions });
    expect(reportOptions).toEqual({ methods: ["GET"], authLevel: "function", route: "report", handler: report });
    expect(byName["health"]).toEqual({ kind: "http", name: "health", options: healthOptions });
    expect(healthOptions).toEqual({ methods: ["GET"], authLevel: "anonymous", route: "health", handler: health });
    expect(byName["healthDetails"]).toEqual({ kind: "http", name: "healthDetails", options: healthDetailsOptions });
    expect(healthDetailsOptions).toEqual({ methods: ["GET"], authLevel: "function", route: "health/details", handler: healthDetails });
  });

  it("host.json: extension bundle v4 and the queue retry policy", () => {
    const host = JSON.parse(readFileSync(join(process.cwd(), "host.json"), "utf8")) as Record<string, unknown>;
    expect(host["version"]).toBe("2.0");
    expect(host["extensionBundle"]).toEqual({ id: "Microsoft.Azure.Functions.ExtensionBundle", version: "[4.*, 5.0.0)" });
    const queues = (host["extensions"] as { queues: Record<string, unknown> }).queues;
    expect(queues["maxDequeueCount"]).toBe(5);
    expect(Number.isInteger(queues["batchSize"])).toBe(true);
  });
});

describe("HTTP functions and the queue handlers (settings from process.env)", () => {
  const SVC = serviceId("apim-http");
  const OTHER = serviceId("apim-other");
  const ESTATE = [
    service("apim-http", { apiVersionConstraint: { minApiVersion: "2021-08-01" } }),
    child("apim-http", "apis/legacy", "Microsoft.ApiManagement/service/apis", { displayName: "Legacy", path: "legacy", protocols: ["http", "https"], serviceUrl: "https://legacy.example", isCurrent: true, apiRevision: "1" }),
    service("apim-other"),
  ];
  let env: TestEnv;
  let deps: AppDeps;
  const logs: string[] = [];
  const savedEnv = { ...process.env };
  const context = (functionName: string, triggerMetadata: Record<string, unknown> = {}) =>
    new InvocationContext({ invocationId: `${functionName}-1`, functionName, logHandler: (_level, ...args) => void logs.push(args.join(" ")), triggerMetadata });
  const post = (body?: string) => new HttpRequest({ method: "POST", url: "http://localhost:7071/api/evaluate", ...(body === undefined ? {} : { body: { string: body } }), headers: { "content-type": "application/json" } });
  const get = (route: string) => new HttpRequest({ method: "GET", url: `http://localhost:7071/api/${route}` });

  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB });
    Object.assign(process.env, appEnv(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, LOG_LEVEL: "info" }));
    resetAppDeps();
  });
  beforeEach(async () => {
    logs.length = 0;
    await clearAppStorage(deps);
  });
  afterAll(async () => {
    process.env = savedEnv;
    resetAppDeps();
    await env.emu.stop();
  });

  async function takeAll(): Promise<EvaluateMessage[]> {
    const r = await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 32 });
    for (const m of r.receivedMessageItems) await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt);
    return r.receivedMessageItems.map((m) => JSON.parse(Buffer.from(m.messageText, "base64").toString("utf8")) as EvaluateMessage);
  }

  it("POST /api/evaluate: 202 and one message on the queue", async () => {
    const res = await evaluateNow(post(JSON.stringify({ serviceId: SVC.toLowerCase() })), context("evaluateNow"));
    expect(res.status).toBe(202);
    const body = res.jsonBody as { serviceId: string; correlationId: string };
    expect(body.serviceId).toBe(SVC.replace(/\/subscriptions\/[^/]+/, `/subscriptions/${SUB}`));
    expect(body.correlationId).toMatch(/^manual-/);
    expect(await takeAll()).toEqual([expect.objectContaining({ serviceId: body.serviceId, reason: "manual", correlationId: body.correlationId })]);
  });

  it("POST /api/evaluate: 400 for a bad body, 403 outside the subscriptions in scope; nothing enqueued", async () => {
    for (const body of [undefined, "", "not json", "{", "null", "[]", "42", JSON.stringify({}), JSON.stringify({ serviceId: 7 }), JSON.stringify({ serviceId: `/subscriptions/${SUB}/resourceGroups/rg-apim` }), JSON.stringify({ serviceId: `${SVC}/apis/legacy` })]) {
      const res = await evaluateNow(post(body), context("evaluateNow"));
      expect(res.status, String(body)).toBe(400);
      expect(typeof (res.jsonBody as { error: string }).error).toBe("string");
    }
    const forbidden = await evaluateNow(post(JSON.stringify({ serviceId: serviceId("apim-x", "rg-apim", SUB2) })), context("evaluateNow"));
    expect(forbidden.status).toBe(403);
    expect((await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it("GET /api/report: the latest compliance per service and rule", async () => {
    const startedAt = Date.now();
    /** The report's data age: per rule the oldest verdict's evaluation, per service the oldest of those and its age; all ISO times between the test's start and the report. */
    const expectDataAge = (s: ServiceReport, reportedAt: number) => {
      const iso = (t: string | undefined, what: string) => {
        expect(t, what).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        expect(new Date(t as string).toISOString(), what).toBe(t);
        expect(Date.parse(t as string), `${what} is not before the test started`).toBeGreaterThanOrEqual(startedAt);
        expect(Date.parse(t as string), `${what} is not in the future`).toBeLessThanOrEqual(reportedAt);
      };
      iso(s.evaluatedAt, "evaluatedAt");
      const ruleTimes = Object.entries(s.rules).map(([id, r]) => {
        iso(r.evaluatedAt, `rules.${id}.evaluatedAt`);
        expect(r.evaluatedAt <= s.evaluatedAt, id).toBe(true);
        return r.evaluatedAt;
      });
      expect(ruleTimes.length).toBeGreaterThan(0);
      iso(s.dataAge.oldestAt, "dataAge.oldestAt");
      expect(s.dataAge.oldestAt).toBe(ruleTimes.reduce((a, b) => (a < b ? a : b)));
      expect(Number.isInteger(s.dataAge.ageSeconds) && s.dataAge.ageSeconds >= 0).toBe(true);
      expect(s.dataAge.ageSeconds).toBeLessThanOrEqual(Math.ceil((reportedAt - Date.parse(s.dataAge.oldestAt)) / 1000));
      // fullAt records a sweep's full read (with the discovery fingerprint it was made from); an on-demand evaluation is none
      expect(s.dataAge).not.toHaveProperty("fullAt");
    };
    // a dry-run evaluation first: the HTTP API fails
    const dryRun = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, REMEDIATOR_MODE: "dry-run" });
    expect((await evaluateNow(post(JSON.stringify({ serviceId: SVC })), context("evaluateNow"))).status).toBe(202);
    expect((await evaluateNow(post(JSON.stringify({ serviceId: OTHER })), context("evaluateNow"))).status).toBe(202);
    expect(await drainQueue(dryRun)).toMatchObject({ processed: 2, failed: 0 });
    const first = await report(get("report"), context("report"));
    const firstAt = Date.now();
    expect(first.status).toBe(200);
    const firstBody = first.jsonBody as { services: ServiceReport[] };
    expect(firstBody.services.map((s) => s.serviceId)).toEqual([SVC, OTHER].sort((a, b) => a.localeCompare(b)));
    const before = firstBody.services.find((s) => s.serviceId === SVC) as ServiceReport;
    expect(before.rules["api-https-only"]).toMatchObject({ status: "fail", findings: [expect.objectContaining({ resourceId: `${SVC}/apis/legacy`, status: "fail" })] });
    for (const s of firstBody.services) expectDataAge(s, firstAt);
    expect(before.rules["min-api-version"]?.status).toBe("pass");
    expect(before.summary.fail).toBeGreaterThan(0);
    expect(before.summary.fail + before.summary.pass + before.summary.unknown).toBe(Object.values(before.rules).reduce((n, r) => n + r.findings.length, 0));

    // then an enforcing evaluation fixes it, and the report shows the new verdict (not both)
    await new Promise((r) => setTimeout(r, 5));
    expect((await evaluateNow(post(JSON.stringify({ serviceId: SVC })), context("evaluateNow"))).status).toBe(202);
    expect(await drainQueue(deps)).toMatchObject({ processed: 1, failed: 0 });
    const after = ((await report(get("report"), context("report"))).jsonBody as { services: ServiceReport[] }).services.find((s) => s.serviceId === SVC) as ServiceReport;
    const afterAt = Date.now();
    expect(after.rules["api-https-only"]).toEqual({ status: "pass", evaluatedAt: expect.any(String), findings: [expect.objectContaining({ resourceId: `${SVC}/apis/legacy`, status: "pass" })] });
    expect(after.evaluatedAt > before.evaluatedAt).toBe(true);
    expectDataAge(after, afterAt);
    // the rule's verdict is the new evaluation's, and the service's data is no older than that evaluation
    expect(after.rules["api-https-only"]?.evaluatedAt).toBe(after.evaluatedAt);
    expect((after.rules["api-https-only"]?.evaluatedAt ?? "") > (before.rules["api-https-only"]?.evaluatedAt ?? "")).toBe(true);
    expect(after.dataAge.oldestAt > before.dataAge.oldestAt).toBe(true);
    expect((await env.clients.apim(SUB).api.get("rg-apim", "apim-http", "legacy")).protocols).toEqual(["https"]);
  });

  it("GET /api/health: 200 and only the status; GET /api/health/details (function key): the checks", async () => {
    const res = await health(get("health"), context("health"));
    expect(res.status).toBe(200);
    expect(res.jsonBody).toEqual({ status: "ok" });
    const details = await healthDetails(get("health/details"), context("healthDetails"));
    expect(details.status).toBe(200);
    expect(details.jsonBody).toMatchObject({ ok: true, mode: "enforce" });
  });

  it("the evaluate handler acknowledges a malformed message instead of retrying it into the poison queue", async () => {
    for (const message of [{ foo: 1 }, "not base64 json", { serviceId: "/subscriptions/x" }]) {
      expect(await evaluate(message, context("evaluate", { dequeueCount: 1 }))).toBeUndefined();
    }
    expect(logs.filter((l) => l.includes("malformed evaluation message dropped"))).toHaveLength(3);
  });

  it("the onResourceEvent handler acknowledges a malformed event with a reason", async () => {
    const decisions = await onResourceEvent({ hello: "world" }, context("onResourceEvent"));
    expect(decisions).toEqual([expect.objectContaining({ accepted: false, reason: expect.stringMatching(/^malformed event: /) })]);
    expect((await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
  });
});
