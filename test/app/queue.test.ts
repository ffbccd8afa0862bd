/**
 * The queue side of the app against Azurite and the emulator: the sweep
 * enqueues each service once; a burst of events coalesces into one
 * evaluation; two workers on one service are serialized by the blob lease;
 * a message that always fails ends in the poison queue with an audit record.
 */
import { InvocationContext, type Timer } from "@azure/functions";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EventGridEvent } from "../../emulator/events.js";
import { evaluateQueued, handleEvents, recordPoison, sweep, type AppDeps, type EvaluateOutcome } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import { resetAppDeps } from "../../src/app/runtime.js";
import { encodeMessage, type EvaluateMessage } from "../../src/app/storage.js";
import { onPoison } from "../../src/functions/onPoison.js";
import { sweep as sweepHandler } from "../../src/functions/sweep.js";
import { appEnv, appFor, clearAppStorage } from "../helpers/app.js";
import { child, PORTAL_USER, serviceId, service, startTestEmulator, SUB, SUB2, type TestEnv } from "../helpers/emulator.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const context = (functionName: string, triggerMetadata: Record<string, unknown> = {}) => new InvocationContext({ invocationId: `${functionName}-1`, functionName, logHandler: () => undefined, triggerMetadata });

async function takeAll(deps: AppDeps): Promise<EvaluateMessage[]> {
  const out: EvaluateMessage[] = [];
  for (;;) {
    const r = await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (r.receivedMessageItems.length === 0) return out;
    for (const m of r.receivedMessageItems) {
      out.push(JSON.parse(Buffer.from(m.messageText, "base64").toString("utf8")) as EvaluateMessage);
      await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

describe("sweep over several subscriptions and resource groups", () => {
  // 2 subscriptions x 2 resource groups, one group with two services; small pages so listing follows nextLink
  const ESTATE = [
    service("apim-a1", {}, {}, "rg-a", SUB),
    service("apim-a2", {}, {}, "rg-a", SUB),
    service("apim-b1", {}, {}, "rg-b", SUB),
    service("apim-c1", {}, {}, "rg-a", SUB2),
    service("apim-d1", {}, {}, "rg-c", SUB2),
  ];
  const ALL = ESTATE.map((s) => s["id"] as string).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  let env: TestEnv;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false }, pageSize: 2 });
  });
  afterAll(async () => {
    process.env = savedEnv;
    resetAppDeps();
    await env.emu.stop();
  });

  async function sweepWith(settings: Record<string, string>): Promise<{ returned: string[]; messages: EvaluateMessage[] }> {
    const deps = await appFor(env.emu, settings);
    await clearAppStorage(deps);
    const returned = await sweep(deps, "sweep-test");
    return { returned, messages: await takeAll(deps) };
  }

  it("without REMEDIATOR_SUBSCRIPTIONS: every visible subscription, each service exactly once", async () => {
    const { returned, messages } = await sweepWith({});
    expect(returned).toEqual(ALL);
    expect(messages.map((m) => m.serviceId).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))).toEqual(ALL);
    expect(new Set(messages.map((m) => m.serviceId.toLowerCase())).size).toBe(ALL.length);
    for (const m of messages) expect(m).toMatchObject({ reason: "sweep", correlationId: "sweep-test" });
  });

  it("with REMEDIATOR_SUBSCRIPTIONS / REMEDIATOR_RESOURCE_GROUPS: only those", async () => {
    const only2 = await sweepWith({ REMEDIATOR_SUBSCRIPTIONS: SUB2 });
    expect(only2.messages.map((m) => m.serviceId).sort()).toEqual([serviceId("apim-c1", "rg-a", SUB2), serviceId("apim-d1", "rg-c", SUB2)].sort());
    const both = await sweepWith({ REMEDIATOR_SUBSCRIPTIONS: `${SUB},${SUB2}` });
    expect(both.messages).toHaveLength(ALL.length);
    // rg-a exists in both subscriptions; rg-b only in the first (a 404 in the second is not an error)
    const rgA = await sweepWith({ REMEDIATOR_RESOURCE_GROUPS: "rg-a" });
    expect(rgA.messages.map((m) => m.serviceId).sort()).toEqual([serviceId("apim-a1", "rg-a", SUB), serviceId("apim-a2", "rg-a", SUB), serviceId("apim-c1", "rg-a", SUB2)].sort());
    const rgB = await sweepWith({ REMEDIATOR_SUBSCRIPTIONS: `${SUB},${SUB2}`, REMEDIATOR_RESOURCE_GROUPS: "rg-b" });
    expect(rgB.messages.map((m) => m.serviceId)).toEqual([serviceId("apim-b1", "rg-b", SUB)]);
  });

  it("through the timer handler (settings from process.env)", async () => {
    const deps = await appFor(env.emu);
    await clearAppStorage(deps);
    Object.assign(process.env, appEnv(env.emu, { SWEEP_SCHEDULE: "0 0 */6 * * *" }));
    delete process.env["REMEDIATOR_SUBSCRIPTIONS"];
    delete process.env["REMEDIATOR_RESOURCE_GROUPS"];
    resetAppDeps();
    const timer: Timer = { isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: "", next: "", lastUpdated: "" } };
    const returned = await sweepHandler(timer, context("sweep"));
    expect(returned).toEqual(ALL);
    const messages = await takeAll(deps);
    expect(messages).toHaveLength(ALL.length);
    for (const m of messages) expect(m.correlationId).toBe("sweep-sweep-1");
  });
});

describe("coalescing, leases and poison", () => {
  const SVC = serviceId("apim-work");
  const POISON = serviceId("apim-poison");
  const ESTATE = [
    service("apim-work", { apiVersionConstraint: { minApiVersion: "2021-08-01" } }),
    child("apim-work", "apis/echo", "Microsoft.ApiManagement/service/apis", { displayName: "Echo", path: "echo", protocols: ["https"], serviceUrl: "https://echo.example", isCurrent: true, apiRevision: "1" }),
    child("apim-work", "apis/orders", "Microsoft.ApiManagement/service/apis", { displayName: "Orders", path: "orders", protocols: ["https"], serviceUrl: "https://orders.example", isCurrent: true, apiRevision: "1" }),
    service("apim-poison"),
  ];
  let env: TestEnv;
  let deps: AppDeps;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB });
  });
  beforeEach(async () => {
    await clearAppStorage(deps);
    env.emu.setLatency({});
    env.emu.faults.clear();
  });
  afterAll(async () => {
    process.env = savedEnv;
    resetAppDeps();
    await env.emu.stop();
  });

  const isServiceGet = (l: { method: string; path: string }) => l.method === "GET" && l.path.split("?")[0]?.toLowerCase() === SVC.toLowerCase();
  const writesTo = (suffix: string) => env.emu.log.list().filter((l) => l.method !== "GET" && l.principal?.toLowerCase().replace(/-/g, "") !== PORTAL_USER.replace(/-/g, "") && l.path.split("?")[0]?.toLowerCase() === `${SVC}${suffix}`.toLowerCase());

  it("a burst of 50 events for one service within the debounce window: one message, one evaluation covering every change", async () => {
    const debounced = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, REMEDIATOR_DEBOUNCE_SECONDS: "2" });
    const apim = env.clientsAs(PORTAL_USER).apim(SUB);
    const since = env.emu.events.list().length;
    // 40 edits of one API, then 10 named values (one a plain-text secret: a drift, reported since no vault is configured)
    for (let i = 0; i < 40; i++) await apim.api.update("rg-apim", "apim-work", "echo", "*", { description: `edit ${i}` });
    for (let i = 0; i < 10; i++) {
      const nv = i === 0 ? { displayName: "partner-key", secret: true, value: "burst-secret-9Qz" } : { displayName: `setting-${i}`, secret: false, value: `v${i}` };
      await apim.namedValue.beginCreateOrUpdateAndWait("rg-apim", "apim-work", nv.displayName, nv, { updateIntervalInMs: 5 });
    }
    const events = env.emu.events.list(since) as EventGridEvent[];
    expect(events).toHaveLength(50);

    // Event Grid delivers them to parallel invocations
    const decisions = (await Promise.all(events.map((e) => handleEvents(e, debounced)))).flat();
    expect(decisions.every((d) => d.accepted && d.serviceId === SVC)).toBe(true);
    expect(decisions.filter((d) => d.enqueued)).toHaveLength(1);
    expect((await debounced.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(1);
    // delayed by the debounce window: nothing visible yet
    expect((await debounced.storage.evaluateQueue.peekMessages()).peekedMessageItems).toHaveLength(0);
    await sleep(1900);
    env.emu.log.clear();
    let drained = await drainQueue(debounced);
    for (let i = 0; i < 40 && drained.processed === 0; i++) {
      await sleep(100);
      drained = await drainQueue(debounced);
    }
    expect(drained).toMatchObject({ processed: 1, failed: 0 });
    // one evaluation: the service and each collection read once
    const reads = (suffix: string) => env.emu.log.list().filter((l) => l.method === "GET" && l.path.split("?")[0]?.toLowerCase() === `${SVC}${suffix}`.toLowerCase()).length;
    expect([reads(""), reads("/apis"), reads("/namedValues")]).toEqual([1, 1, 1]);
    expect(env.emu.log.list().filter(isServiceGet)).toHaveLength(1);
    const outcome = drained.outcomes[0] as EvaluateOutcome;
    if (outcome.kind !== "evaluated") throw new Error(`expected an evaluation, got ${outcome.kind}`);
    // it covers the changes of every event: the API's rules and the named values' rule ran
    const rulesRun = new Set(outcome.result.findings.map((f) => f.ruleId));
    expect(rulesRun.has("api-https-only")).toBe(true);
    expect(rulesRun.has("named-value-secrets-in-key-vault")).toBe(true);
    expect(outcome.result.findings.find((f) => f.ruleId === "api-https-only" && f.resourceId.endsWith("/apis/echo"))?.status).toBe("pass");
    expect(outcome.result.findings.find((f) => f.ruleId === "named-value-secrets-in-key-vault" && f.resourceId.endsWith("/partner-key"))?.status).toBe("fail");
    expect(outcome.result.writes).toBe(0);
    expect(await debounced.storage.pending.take(SVC)).toBeUndefined();
    expect((await debounced.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
    // the compliance table holds both rules' verdicts
    const rows = (await debounced.storage.compliance.list()).filter((r) => r.serviceId === SVC);
    expect(rows.some((r) => r.ruleId === "api-https-only" && r.status === "pass")).toBe(true);
    expect(rows.some((r) => r.ruleId === "named-value-secrets-in-key-vault" && r.status === "fail")).toBe(true);
  });

  it("two workers on one service are serialized by the lease: one evaluates, the other defers; one write, nothing lost", async () => {
    const apim = env.clientsAs(PORTAL_USER).apim(SUB);
    await apim.api.update("rg-apim", "apim-work", "orders", "*", { protocols: ["http", "https"] });
    env.emu.log.clear();
    env.emu.setLatency({ read: 60, write: 60 });
    const msg = (n: number): string => encodeMessage({ serviceId: SVC, reason: "event", changedResourceId: `${SVC}/apis/orders`, correlationId: `worker-${n}`, enqueuedAt: new Date().toISOString() });
    const outcomes = await Promise.all([evaluateQueued(msg(1), deps), evaluateQueued(msg(2), deps)]);
    expect(outcomes.map((o) => o.kind).sort()).toEqual(["deferred", "evaluated"]);
    const done = outcomes.find((o) => o.kind === "evaluated");
    expect(done?.kind === "evaluated" && done.result.actions.filter((a) => a.writes > 0).map((a) => `${a.ruleId}:${a.outcome} ${a.resourceId.slice(SVC.length)}`)).toEqual(["api-https-only:applied /apis/orders"]);
    expect(writesTo("/apis/orders")).toHaveLength(1);

    // the deferred message was put back (not lost); the next evaluation finds nothing to do
    const back = await takeAll(deps);
    expect(back).toEqual([expect.objectContaining({ serviceId: SVC, reason: "event", changedResourceId: `${SVC}/apis/orders` })]);
    const again = await evaluateQueued(encodeMessage(back[0] as EvaluateMessage), deps);
    expect(again.kind === "evaluated" && again.result.writes).toBe(0);
    expect((await apim.api.get("rg-apim", "apim-work", "orders")).protocols).toEqual(["https"]);
    expect(writesTo("/apis/orders")).toHaveLength(1);

    // the same through the driver: two messages for one service in one batch
    await apim.api.update("rg-apim", "apim-work", "orders", "*", { protocols: ["http", "https"] });
    env.emu.log.clear();
    await deps.storage.evaluateQueue.sendMessage(msg(3));
    await deps.storage.evaluateQueue.sendMessage(msg(4));
    const drained = await drainQueue(deps);
    expect(drained.failed).toBe(0);
    expect(drained.outcomes.map((o) => o.kind).sort()).toEqual(["deferred", "evaluated", "evaluated"]);
    expect(writesTo("/apis/orders")).toHaveLength(1);
    expect((await apim.api.get("rg-apim", "apim-work", "orders")).protocols).toEqual(["https"]);
  });

  it("an event that adds to the marker just as an evaluation takes it gets its own (follow-up) evaluation", async () => {
    const racing = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB });
    const apim = env.clientsAs(PORTAL_USER).apim(SUB);
    const since = env.emu.events.list().length;
    await apim.api.update("rg-apim", "apim-work", "orders", "*", { protocols: ["http", "https"] });
    await apim.api.update("rg-apim", "apim-work", "echo", "*", { protocols: ["http", "https"] });
    const [first, second] = env.emu.events.list(since) as EventGridEvent[];
    expect((await handleEvents(first, racing)).map((d) => d.enqueued)).toEqual([true]);
    const [msg] = await takeAll(racing);
    // the second event lands after the worker read the marker and before it removed it: it finds the marker and enqueues nothing
    const peek = racing.storage.pending.peek.bind(racing.storage.pending);
    racing.storage.pending.peek = async (id: string) => {
      const read = await peek(id);
      expect((await handleEvents(second, racing)).map((d) => d.enqueued)).toEqual([false]);
      return read;
    };
    const fixedApis = (o: EvaluateOutcome) => (o.kind === "evaluated" ? o.result.actions.filter((a) => a.writes > 0).map((a) => `${a.ruleId} ${a.resourceId.slice(SVC.length)}`) : o.kind);
    try {
      try {
        // the evaluation covers what the marker held when read: the orders API
        expect(fixedApis(await evaluateQueued(encodeMessage(msg as EvaluateMessage), racing))).toEqual(["api-https-only /apis/orders"]);
      } finally {
        racing.storage.pending.peek = peek;
      }
      // the marker it could not remove (it changed) is left for a follow-up message, enqueued after the lease was released
      const follow = await takeAll(racing);
      expect(follow).toEqual([expect.objectContaining({ serviceId: SVC, reason: "pending" })]);
      expect(fixedApis(await evaluateQueued(encodeMessage(follow[0] as EvaluateMessage), racing))).toEqual(["api-https-only /apis/echo"]);
      expect(await racing.storage.pending.peek(SVC)).toBeUndefined();
      expect(await takeAll(racing)).toEqual([]);
      // a follow-up whose changes another evaluation already took does nothing (no ARM request)
      env.emu.log.clear();
      expect(await evaluateQueued(encodeMessage({ ...(follow[0] as EvaluateMessage), correlationId: "late" }), racing)).toMatchObject({ kind: "nothing" });
      expect(env.emu.log.list()).toHaveLength(0);
      for (const api of ["orders", "echo"]) expect((await apim.api.get("rg-apim", "apim-work", api)).protocols).toEqual(["https"]);
    } finally {
      // a marker left behind would coalesce the next tests' events
      await racing.storage.pending.take(SVC);
    }
  });

  it("a failed attempt keeps the coalesced changes: the retry evaluates every rule", async () => {
    const failing = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, ARM_MAX_RETRIES: "0" });
    const apim = env.clientsAs(PORTAL_USER).apim(SUB);
    const since = env.emu.events.list().length;
    await apim.api.update("rg-apim", "apim-work", "orders", "*", { protocols: ["http", "https"] });
    await apim.namedValue.beginCreateOrUpdateAndWait("rg-apim", "apim-work", "retry-key", { displayName: "retry-key", secret: true, value: "retry-secret-4Kd" }, { updateIntervalInMs: 5 });
    const decisions = await handleEvents(env.emu.events.list(since), failing);
    expect(decisions.map((d) => d.enqueued)).toEqual([true, false]);
    // the first attempt fails after the worker took the marker (the service GET answers 500 once)
    env.emu.faults.add({ method: "GET", pathRegex: "/service/apim-work(\\?|$)", status: 500, code: "InternalServerError", count: 1 });
    const drained = await drainQueue(failing, { maxDequeueCount: 3 });
    expect(drained).toMatchObject({ failed: 1, processed: 1, poisoned: 0 });
    const outcome = drained.outcomes[0] as EvaluateOutcome;
    if (outcome.kind !== "evaluated") throw new Error(`expected an evaluation, got ${outcome.kind}`);
    // the retried message names only the API; the named value change came from the marker
    expect(outcome.result.findings.some((f) => f.ruleId === "named-value-secrets-in-key-vault" && f.resourceId.endsWith("/retry-key"))).toBe(true);
    // every rule ran (the service has no identity and no lock either: those are fixed too)
    expect(outcome.result.findings.some((f) => f.ruleId === "resource-lock")).toBe(true);
    expect(outcome.result.actions.filter((a) => a.writes > 0).map((a) => `${a.ruleId} ${a.resourceId.slice(SVC.length)}`)).toContain("api-https-only /apis/orders");
    expect(await failing.storage.pending.take(SVC)).toBeUndefined();
  });

  it("a message that always fails ends in the poison queue after maxDequeueCount, with an audit record (driver and onPoison handler)", async () => {
    const failing = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, ARM_MAX_RETRIES: "0" });
    env.emu.faults.add({ method: "GET", pathRegex: "/service/apim-poison(\\?|$)", status: 500, code: "InternalServerError", count: 1000 });
    await failing.storage.evaluateQueue.sendMessage(encodeMessage({ serviceId: POISON, reason: "manual", correlationId: "poison-1", enqueuedAt: new Date().toISOString() }));
    const drained = await drainQueue(failing, { maxDequeueCount: 3 });
    expect(drained).toMatchObject({ processed: 0, failed: 3, poisoned: 1 });
    expect((await failing.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
    const poisoned = await failing.storage.poisonQueue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    expect(poisoned.receivedMessageItems).toHaveLength(1);
    const item = poisoned.receivedMessageItems[0] as (typeof poisoned.receivedMessageItems)[number];
    const message = JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as EvaluateMessage;
    expect(message).toMatchObject({ serviceId: POISON, correlationId: "poison-1" });

    const audit = await failing.storage.audit.list(POISON);
    expect(audit).toEqual([expect.objectContaining({ resourceId: POISON, ruleId: "*", outcome: "failed", correlationId: "poison-1", writes: 0 })]);
    expect(audit[0]?.reason).toContain("3 time(s)");

    // the host would run onPoison on the poison-queue message (base64-decoded, JSON-parsed)
    Object.assign(process.env, appEnv(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB }));
    resetAppDeps();
    await onPoison(message, context("onPoison", { id: item.messageId, dequeueCount: 1 }));
    await failing.storage.poisonQueue.deleteMessage(item.messageId, item.popReceipt);
    const after = await failing.storage.audit.list(POISON);
    expect(after).toHaveLength(2);
    expect(after.every((r) => r.outcome === "failed" && r.correlationId === "poison-1")).toBe(true);

    // an unreadable message is still recorded
    await recordPoison("%%% not a message", undefined, failing);
    expect((await failing.storage.audit.list("unknown")).some((r) => r.reason?.includes("max time(s)"))).toBe(true);
  });
});
