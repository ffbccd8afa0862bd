/**
 * Scope everywhere: `POST /api/evaluate`, queue messages (whatever their
 * reason: sweep, manual, event, retry) and the sweep check the same scope as
 * the event path (REMEDIATOR_SUBSCRIPTIONS, REMEDIATOR_RESOURCE_GROUPS, one
 * shared function). An out-of-scope request is refused with 403 and the
 * reason; an out-of-scope message is dropped with a log line before anything
 * is read from ARM, and nothing is written.
 */
import { Writable } from "node:stream";
import { HttpRequest, InvocationContext } from "@azure/functions";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { decide, evaluateQueued, sweep, type AppDeps } from "../../src/app/app.js";
import { resetAppDeps } from "../../src/app/runtime.js";
import { encodeMessage, type EvaluateMessage } from "../../src/app/storage.js";
import { createLogger, SecretRegistry } from "../../src/common/logger.js";
import { evaluateNow } from "../../src/functions/api.js";
import { drainQueue } from "../../src/local/driver.js";
import { appEnv, appFor, clearAppStorage } from "../helpers/app.js";
import { child, REMEDIATOR, service, serviceId, startTestEmulator, SUB, SUB2, type TestEnv } from "../helpers/emulator.js";

const T = "Microsoft.ApiManagement/service/apis";
const drifted = (name: string, rg: string, sub = SUB) => [
  service(name, {}, {}, rg, sub),
  child(name, "apis/legacy", T, { displayName: "Legacy", path: "legacy", protocols: ["http", "https"], serviceUrl: "https://legacy.example", isCurrent: true, apiRevision: "1" }, rg, sub),
];
const IN = serviceId("apim-in", "rg-apim");
const OTHER_RG = serviceId("apim-out", "rg-other");
const OTHER_SUB = serviceId("apim-far", "rg-apim", SUB2);
const ESTATE = [...drifted("apim-in", "rg-apim"), ...drifted("apim-out", "rg-other"), ...drifted("apim-far", "rg-apim", SUB2)];
const SETTINGS = { REMEDIATOR_SUBSCRIPTIONS: SUB, REMEDIATOR_RESOURCE_GROUPS: "rg-apim", LOG_LEVEL: "info" };

const message = (serviceId: string, reason: EvaluateMessage["reason"], extra: Partial<EvaluateMessage> = {}) => encodeMessage({ serviceId, reason, correlationId: `scope-${reason}`, enqueuedAt: new Date().toISOString(), ...extra });

describe("every entry point checks the event path's scope", () => {
  let env: TestEnv;
  let deps: AppDeps;
  const lines: Array<Record<string, unknown>> = [];
  const savedEnv = { ...process.env };
  const post = (body: unknown) => new HttpRequest({ method: "POST", url: "http://localhost:7071/api/evaluate", body: { string: JSON.stringify(body) }, headers: { "content-type": "application/json" } });
  const context = () => new InvocationContext({ invocationId: "scope-1", functionName: "evaluateNow", logHandler: () => undefined });
  const remediatorWrites = () => env.emu.log.list().filter((l) => l.method !== "GET" && (l.principal ?? "").replace(/-/g, "") === REMEDIATOR.replace(/-/g, ""));
  const protocols = async (id: string) => {
    const [, sub, rg, name] = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ApiManagement\/service\/([^/]+)$/.exec(id) as RegExpExecArray;
    return (await env.clients.apim(sub as string).api.get(rg as string, name as string, "legacy")).protocols;
  };

  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
    deps = await appFor(env.emu, SETTINGS);
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split("\n").filter((x) => x.length > 0)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    deps.log = createLogger({ level: "info", registry: new SecretRegistry(), destination });
    Object.assign(process.env, appEnv(env.emu, SETTINGS));
    resetAppDeps();
  });
  afterAll(async () => {
    process.env = savedEnv;
    resetAppDeps();
    await env.emu.stop();
  });
  beforeEach(async () => {
    env.emu.reset(ESTATE);
    lines.length = 0;
    await clearAppStorage(deps);
    env.emu.log.clear();
  });

  it("POST /api/evaluate: 403 with the reason for another resource group or subscription; nothing enqueued", async () => {
    const rg = await evaluateNow(post({ serviceId: OTHER_RG }), context());
    expect(rg).toMatchObject({ status: 403, jsonBody: { error: "resource group rg-other is out of scope: not evaluated" } });
    const sub = await evaluateNow(post({ serviceId: OTHER_SUB }), context());
    expect(sub).toMatchObject({ status: 403, jsonBody: { error: `subscription ${SUB2} is out of scope: not evaluated` } });
    expect((await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
    // the resource group is compared as ARM does, case-insensitively
    const ok = await evaluateNow(post({ serviceId: IN.replace("rg-apim", "RG-APIM") }), context());
    expect(ok.status).toBe(202);
    expect(env.emu.log.list()).toEqual([]);
  });

  it("queue messages for a service out of scope are dropped unread, whatever their reason; nothing is written", async () => {
    for (const reason of ["sweep", "manual", "retry", "pending", "event"] as const) {
      for (const id of [OTHER_RG, OTHER_SUB, `${IN.slice(0, -"apim-in".length)}apim%2din`]) {
        const o = await evaluateQueued(message(id, reason, reason === "event" ? { changedResourceId: `${id}/apis/legacy` } : {}), deps);
        expect(o.kind, `${reason} ${id}`).toBe("refused");
      }
    }
    // no ARM request at all (not even the service read), no write, the drift is still there
    expect(env.emu.log.list()).toEqual([]);
    expect(await protocols(OTHER_RG)).toEqual(["http", "https"]);
    expect(await protocols(OTHER_SUB)).toEqual(["http", "https"]);
    const dropped = lines.filter((l) => l["msg"] === "evaluation message out of scope: dropped");
    expect(dropped).toHaveLength(15);
    expect(dropped[0]).toMatchObject({ level: "warn", serviceId: OTHER_RG, reason: "resource group rg-other is out of scope" });

    // through the queue: the message is done with (not retried into the poison queue), and nothing else is enqueued
    await deps.storage.evaluateQueue.sendMessage(message(OTHER_RG, "manual"));
    expect(await drainQueue(deps)).toMatchObject({ processed: 1, failed: 0, poisoned: 0, outcomes: [{ kind: "refused" }] });
    expect((await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
    expect(remediatorWrites()).toEqual([]);
  });

  it("the sweep enqueues only services in scope, and their messages are evaluated", async () => {
    expect(await sweep(deps, "sweep-scope")).toEqual([IN]);
    const drained = await drainQueue(deps);
    expect(drained.outcomes.map((o) => o.kind)).toEqual(["evaluated"]);
    expect(await protocols(IN)).toEqual(["https"]);
    expect(await protocols(OTHER_RG)).toEqual(["http", "https"]);
    // a forged sweep message for another group is refused like any other
    expect((await evaluateQueued(message(OTHER_RG, "sweep"), deps)).kind).toBe("refused");
    expect(await protocols(OTHER_RG)).toEqual(["http", "https"]);
  });

  it("the event path, the HTTP API and the queue give the same verdict for the same ids", async () => {
    const ids = [IN, IN.toLowerCase(), IN.replace("rg-apim", "RG-APIM"), OTHER_RG, OTHER_SUB, serviceId("apim-x", "rg-apim-2"), serviceId("apim-x", "rg-apim ")];
    for (const id of ids) {
      const event = decide({ id: "e", type: "Microsoft.Resources.ResourceWriteSuccess", data: { resourceUri: `${id}/apis/legacy`, operationName: "Microsoft.ApiManagement/service/apis/write" } }, deps.config);
      const http = await evaluateNow(post({ serviceId: id }), context());
      await clearAppStorage(deps);
      expect(http.status === 202, `HTTP for ${id}`).toBe(event.accepted);
      if (!event.accepted) expect((await evaluateQueued(message(id, "manual"), deps)).kind, `queue for ${id}`).toBe("refused");
    }
  });
});
