/**
 * Chunked evaluation (src/engine/chunks.ts, src/app/chunks.ts): a service whose counted ARM calls exceed
 * REMEDIATOR_MESSAGE_BUDGET_SECONDS at ARM's read refill is evaluated in parts, one queue message each
 * (the service part, then pages of APIs); the verdicts are those of one unchunked evaluation; a crash loses
 * one part only; a small service is one evaluation, as before.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventGridEvent } from "../../emulator/events.js";
import { evaluateQueued, handleEvents, type AppDeps } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import { encodeMessage, type EvaluateMessage } from "../../src/app/storage.js";
import { budgetCalls, planChunks, readApiList } from "../../src/engine/chunks.js";
import { RULES } from "../../src/remediations/index.js";
import { appFor, clearAppStorage, STORAGE_PREFIX } from "../helpers/app.js";
import { child, PORTAL_USER, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const BIG = "apim-chunked";
const SMALL = "apim-unchunked";
const APIS = 300;
const BUDGET_SECONDS = 40;
const name = (i: number) => `api-${String(i).padStart(3, "0")}`;

function estate(): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [service(BIG, { apiVersionConstraint: {} }), service(SMALL, { apiVersionConstraint: {} })];
  out.push(child(BIG, "loggers/ai", "Microsoft.ApiManagement/service/loggers", { loggerType: "applicationInsights", credentials: { instrumentationKey: "{{Logger-Credentials--ai}}" } }));
  out.push(child(BIG, "namedValues/plain", "Microsoft.ApiManagement/service/namedValues", { displayName: "plain", secret: false, value: "v" }));
  out.push(child(BIG, "products/starter", "Microsoft.ApiManagement/service/products", { displayName: "Starter", subscriptionRequired: false, state: "published" }));
  out.push(child(BIG, "policies/policy", "Microsoft.ApiManagement/service/policies", { format: "xml", value: "<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>" }));
  for (let i = 0; i < APIS; i++) {
    const api = name(i);
    // every 7th API is callable over plain HTTP; API 250 alone has no Application Insights diagnostic (the service-wide verdict fails on its page only)
    out.push(child(BIG, `apis/${api}`, "Microsoft.ApiManagement/service/apis", { displayName: api, path: api, protocols: i % 7 === 0 ? ["http", "https"] : ["https"], serviceUrl: `https://${api}.internal.example`, subscriptionRequired: true, isCurrent: true, apiRevision: "1" }));
    out.push(child(BIG, `apis/${api}/operations/get`, "Microsoft.ApiManagement/service/apis/operations", { displayName: "get", method: "GET", urlTemplate: "/items" }));
    if (i % 10 === 0) out.push(child(BIG, `apis/${api}/policies/policy`, "Microsoft.ApiManagement/service/apis/policies", { format: "xml", value: `<policies><inbound>${i % 20 === 0 ? "<base />" : ""}<rate-limit calls="10" renewal-period="60" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>` }));
    if (i !== 250) out.push(child(BIG, `apis/${api}/diagnostics/applicationinsights`, "Microsoft.ApiManagement/service/apis/diagnostics", { loggerId: "/loggers/ai", sampling: { samplingType: "fixed", percentage: 100 } }));
  }
  for (let i = 0; i < 3; i++) out.push(child(SMALL, `apis/${name(i)}`, "Microsoft.ApiManagement/service/apis", { displayName: name(i), path: name(i), protocols: ["https"], serviceUrl: "https://x.internal.example", subscriptionRequired: true, isCurrent: true, apiRevision: "1" }));
  return out;
}

const key = (r: { ruleId: string; resourceId: string; status: string }) => `${r.ruleId}|${r.resourceId.toLowerCase()}|${r.status}`;
const sweepMessage = (svc: string, id: string): string => encodeMessage({ serviceId: svc, reason: "sweep", correlationId: id, enqueuedAt: new Date().toISOString() });
const decode = (text: string) => JSON.parse(Buffer.from(text, "base64").toString("utf8")) as EvaluateMessage;

/**
 * Evaluates the queue's messages one at a time (at most 20), each expected to evaluate, the emulator's log cleared
 * before each: what `measure` makes of each message (and of the log it left).
 */
async function eachMessage<T>(deps: AppDeps, env: TestEnv, measure: (m: EvaluateMessage) => T): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < 20; i++) {
    const got = (await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 120 })).receivedMessageItems[0];
    if (!got) break;
    env.emu.log.clear();
    expect((await evaluateQueued(got.messageText, deps)).kind).toBe("evaluated");
    await deps.storage.evaluateQueue.deleteMessage(got.messageId, got.popReceipt);
    out.push(measure(decode(got.messageText)));
  }
  return out;
}

describe("a service too big for one message is evaluated in parts", () => {
  let env: TestEnv;
  let whole: AppDeps;
  const BIG_ID = serviceId(BIG);
  const reads = () => env.emu.log.list().filter((l) => l.host === "arm" && (l.principal ?? "").replace(/-/g, "") === REMEDIATOR.replace(/-/g, ""));
  /** Current API names each ARM read named (per-API reads only). */
  const apisRead = () => new Set(reads().flatMap((l) => /\/apis\/(api-\d{3})(?:[;/]|$)/i.exec(l.path.split("?")[0] ?? "")?.[1] ?? []));
  let unchunked: string[] = [];

  beforeAll(async () => {
    env = await startTestEmulator(estate(), { throttle: { enabled: false } });
    whole = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_PACING: "false" });
    await clearAppStorage(whole);
    await whole.storage.evaluateQueue.sendMessage(sweepMessage(BIG_ID, "whole"));
    const drained = await drainQueue(whole);
    expect(drained.processed).toBe(1);
    unchunked = (await whole.storage.compliance.list()).filter((r) => r.serviceId === BIG_ID).map(key).sort();
  }, 120_000);
  afterAll(async () => env.emu.stop());

  it("the plan: a service part and pages whose counted calls are each within the budget", async () => {
    const plan = planChunks(RULES, await readApiList(env.clients, BIG_ID), { budget: budgetCalls(BUDGET_SECONDS) });
    expect(plan.budget).toBe(BUDGET_SECONDS * 25);
    expect(plan.unchunkedCalls).toBeGreaterThan(plan.budget);
    expect(plan.parts.length).toBeGreaterThan(2);
    for (const p of plan.parts) expect(p.calls).toBeLessThanOrEqual(plan.budget);
    // every API in exactly one page
    const paged = plan.parts.slice(1).flatMap((p) => p.scope?.apis ?? []);
    expect(paged.sort()).toEqual(Array.from({ length: APIS }, (_, i) => name(i)));
    expect(plan.parts[0]?.scope).toMatchObject({ exclude: true });
    console.info(`chunk plan (${APIS} APIs, budget ${plan.budget} calls): unchunked ${plan.unchunkedCalls} calls; parts ${plan.parts.map((p) => `${p.index}:${p.scope?.apis.length ?? 0} APIs/${p.calls} calls`).join(", ")}`);
  });

  it("one message per part, each within the budget, and the merged verdicts are one unchunked evaluation's", async () => {
    const deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_PACING: "false", REMEDIATOR_STORAGE_PREFIX: `${STORAGE_PREFIX}b`, REMEDIATOR_MESSAGE_BUDGET_SECONDS: String(BUDGET_SECONDS) });
    await clearAppStorage(deps);
    await deps.storage.evaluateQueue.sendMessage(sweepMessage(BIG_ID, "chunked"));
    const measured = await eachMessage(deps, env, (m) => ({ part: m.chunk ? `${m.chunk.index}/${m.chunk.of}` : "service", calls: reads().length, apis: apisRead().size }));
    console.info(`measured ARM calls per message (budget ${budgetCalls(BUDGET_SECONDS)}): ${measured.map((x) => `${x.part}: ${x.calls} calls, ${x.apis} APIs read one by one`).join("; ")}`);
    expect(measured.length).toBeGreaterThan(2);
    expect(measured[0]).toMatchObject({ part: "service", apis: 0 });
    for (const x of measured) expect(x.calls).toBeLessThanOrEqual(budgetCalls(BUDGET_SECONDS));
    expect(measured.slice(1).reduce((n, x) => n + x.apis, 0)).toBe(APIS);
    const rows = (await deps.storage.compliance.list()).filter((r) => r.serviceId === BIG_ID);
    const got = rows.map(key).sort();
    expect(new Set(rows.map((r) => `${r.ruleId}|${r.resourceId.toLowerCase()}`)).size).toBe(rows.length);
    expect(got).toEqual(unchunked);
    // the verdict that spans every API: failing on one page only, failing for the service
    expect(got).toContain(`application-insights-logger|${BIG_ID.toLowerCase()}|fail`);
  }, 180_000);

  it("a crash inside a part, and a part delivered twice: every verdict once, only the lost part read again", async () => {
    const deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_PACING: "false", REMEDIATOR_STORAGE_PREFIX: `${STORAGE_PREFIX}c`, REMEDIATOR_MESSAGE_BUDGET_SECONDS: String(BUDGET_SECONDS) });
    await clearAppStorage(deps);
    await deps.storage.evaluateQueue.sendMessage(sweepMessage(BIG_ID, "crash"));
    const receive = async () => (await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 120 })).receivedMessageItems[0];
    // the service part and the first page: done
    for (let i = 0; i < 2; i++) {
      const m = await receive();
      if (!m) throw new Error("no message");
      expect((await evaluateQueued(m.messageText, deps)).kind).toBe("evaluated");
      await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt);
    }
    // the second page: the worker dies after reading, before recording (the host retries the message)
    const lost = await receive();
    if (!lost) throw new Error("no message");
    const lostApis = decode(lost.messageText).chunk?.apis ?? [];
    const record = deps.storage.compliance.record.bind(deps.storage.compliance);
    deps.storage.compliance.record = () => Promise.reject(new Error("the worker died"));
    await expect(evaluateQueued(lost.messageText, deps)).rejects.toThrow("the worker died");
    deps.storage.compliance.record = record;
    await deps.storage.evaluateQueue.updateMessage(lost.messageId, lost.popReceipt, undefined, 0);
    // the third page: recorded, then the worker dies before deleting the message (delivered again)
    const twice = await receive();
    if (!twice) throw new Error("no message");
    const twiceChunk = decode(twice.messageText).chunk;
    expect(twiceChunk?.index).not.toBe(decode(lost.messageText).chunk?.index);
    expect((await evaluateQueued(twice.messageText, deps)).kind).toBe("evaluated");
    await deps.storage.evaluateQueue.updateMessage(twice.messageId, twice.popReceipt, undefined, 0);
    // re-running: every message left, as the host would
    env.emu.log.clear();
    const drained = await drainQueue(deps);
    expect(drained.failed).toBe(0);
    const reread = apisRead();
    // the lost page is read again; the page delivered twice is not (its second delivery reads nothing)
    for (const a of lostApis) expect(reread.has(a)).toBe(true);
    for (const a of twiceChunk?.apis ?? []) expect(reread.has(a)).toBe(false);
    expect(drained.outcomes.filter((o) => o.kind === "nothing")).toHaveLength(1);
    // nothing but the lost page and the pages never run is read API by API
    expect(reread.size).toBeLessThan(APIS);
    const rows = (await deps.storage.compliance.list()).filter((r) => r.serviceId === BIG_ID);
    expect(new Set(rows.map((r) => `${r.ruleId}|${r.resourceId.toLowerCase()}`)).size).toBe(rows.length);
    expect(rows.map(key).sort()).toEqual(unchunked);
  }, 180_000);

  it("a small service is one evaluation, one message, as before", async () => {
    const deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_PACING: "false", REMEDIATOR_STORAGE_PREFIX: `${STORAGE_PREFIX}d`, REMEDIATOR_MESSAGE_BUDGET_SECONDS: String(BUDGET_SECONDS) });
    await clearAppStorage(deps);
    await deps.storage.evaluateQueue.sendMessage(sweepMessage(serviceId(SMALL), "small"));
    env.emu.log.clear();
    const drained = await drainQueue(deps);
    expect(drained.processed).toBe(1);
    expect(drained.outcomes[0]?.kind).toBe("evaluated");
    const result = drained.outcomes[0]?.kind === "evaluated" ? drained.outcomes[0].result : undefined;
    expect(result?.scope).toBeUndefined();
    // the API list is read once (the plan's read is the evaluation's)
    expect(reads().filter((l) => /\/apis$/i.test(l.path.split("?")[0] ?? ""))).toHaveLength(1);
    // and in the order it always was: the service first, its list alongside the other collections (no plan read before them)
    const paths = reads().map((l) => `${l.method} ${(l.path.split("?")[0] ?? "").toLowerCase()}`);
    const svcPath = `GET ${serviceId(SMALL).toLowerCase()}`;
    expect(paths[0]).toBe(svcPath);
    expect(paths.indexOf(`${svcPath}/apis`)).toBeGreaterThan(paths.indexOf(svcPath));
  }, 60_000);
});

describe("a service whose APIs have many operations each", () => {
  const WIDE = "apim-wide";
  const WIDE_APIS = 30;
  const OPS = 40;
  // 750 calls: the plan's assumed 5 operations per API fit (~360 calls), the APIs' 40 do not (~1,400)
  const WIDE_BUDGET = 30;
  let env: TestEnv;
  const WIDE_ID = serviceId(WIDE);
  const reads = () => env.emu.log.list().filter((l) => l.host === "arm" && (l.principal ?? "").replace(/-/g, "") === REMEDIATOR.replace(/-/g, ""));
  beforeAll(async () => {
    const out: Array<Record<string, unknown>> = [service(WIDE, { apiVersionConstraint: {} })];
    for (let i = 0; i < WIDE_APIS; i++) {
      const api = name(i);
      out.push(child(WIDE, `apis/${api}`, "Microsoft.ApiManagement/service/apis", { displayName: api, path: api, protocols: i % 5 === 0 ? ["http", "https"] : ["https"], serviceUrl: `https://${api}.internal.example`, subscriptionRequired: true, isCurrent: true, apiRevision: "1" }));
      for (let o = 0; o < OPS; o++) out.push(child(WIDE, `apis/${api}/operations/op-${o}`, "Microsoft.ApiManagement/service/apis/operations", { displayName: `op ${o}`, method: "GET", urlTemplate: `/items/${o}` }));
    }
    env = await startTestEmulator(out, { throttle: { enabled: false } });
  }, 60_000);
  afterAll(async () => env.emu.stop());

  /** Each message of the queue, evaluated one at a time: its part and the ARM calls it made. */
  async function run(deps: AppDeps, id: string): Promise<Array<{ part: string; calls: number }>> {
    await deps.storage.evaluateQueue.sendMessage(sweepMessage(WIDE_ID, id));
    return eachMessage(deps, env, (m) => ({ part: m.chunk ? `${m.chunk.index}/${m.chunk.of}` : "service", calls: reads().length }));
  }

  it("is split by the operations its last evaluation read, not by the 5 per API the plan assumes of an API it never read", async () => {
    const deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", ARM_PACING: "false", REMEDIATOR_STORAGE_PREFIX: `${STORAGE_PREFIX}w`, REMEDIATOR_MESSAGE_BUDGET_SECONDS: String(WIDE_BUDGET) });
    await clearAppStorage(deps);
    const budget = budgetCalls(WIDE_BUDGET);
    // the first evaluation knows nothing of the operations: one message, past the budget (what the plan cannot know before reading)
    const first = await run(deps, "first");
    expect(first).toHaveLength(1);
    expect(first[0]?.calls).toBeGreaterThan(budget);
    const learned = await deps.chunks?.operations.get(WIDE_ID);
    expect(learned?.counts.size).toBe(WIDE_APIS);
    expect([...(learned?.counts.values() ?? [])].every((n) => n === OPS)).toBe(true);
    const verdicts = (await deps.storage.compliance.list()).filter((r) => r.serviceId === WIDE_ID).map(key).sort();
    // the next one is planned on those counts: a service part and pages, every message within the budget
    const second = await run(deps, "second");
    console.info(`${WIDE_APIS} APIs x ${OPS} operations, budget ${budget} calls: first ${first[0]?.calls} calls in one message; then ${second.map((x) => `${x.part}: ${x.calls}`).join(", ")}`);
    expect(second.length).toBeGreaterThan(2);
    expect(second[0]?.part).toBe("service");
    for (const x of second) expect(x.calls).toBeLessThanOrEqual(budget);
    expect((await deps.storage.compliance.list()).filter((r) => r.serviceId === WIDE_ID).map(key).sort()).toEqual(verdicts);
  }, 120_000);

  it("keeps the largest counts within a table property, and counts every API it dropped as the largest it dropped", async () => {
    const deps = await appFor(env.emu, { REMEDIATOR_STORAGE_PREFIX: `${STORAGE_PREFIX}x` });
    const store = deps.chunks?.operations;
    if (!store) throw new Error("no chunk store");
    const svc = serviceId("apim-counted");
    // 3,000 APIs with long names: more than one table property holds
    const read = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`an-api-with-a-rather-long-name-${String(i).padStart(4, "0")}`, 6 + (i % 50)]));
    await store.learn(svc, read);
    const got = await store.get(svc);
    expect(got?.counts.size).toBeGreaterThan(100);
    expect(got?.counts.size).toBeLessThan(3000);
    const kept = Math.min(...(got?.counts.values() ?? []));
    expect(got?.otherwise).toBeGreaterThanOrEqual(kept);
    expect(got?.otherwise).toBeGreaterThan(5);
    // an API that now has no more operations than assumed leaves the row (it counts as assumed)
    const [oneName] = [...(got?.counts.keys() ?? [])];
    await store.learn(svc, { [oneName as string]: 2 });
    expect((await store.get(svc))?.counts.has(oneName as string)).toBe(false);
  }, 60_000);
});

describe("an event naming a service too big for one message", () => {
  let env: TestEnv;
  const BIG_ID = serviceId(BIG);
  const reads = () => env.emu.log.list().filter((l) => l.host === "arm" && (l.principal ?? "").replace(/-/g, "") === REMEDIATOR.replace(/-/g, ""));
  beforeAll(async () => {
    env = await startTestEmulator(estate(), { throttle: { enabled: false } });
  }, 60_000);
  afterAll(async () => env.emu.stop());

  it("fixes the service first, then evaluates the rest in parts, each message within the budget", async () => {
    // enforce, with room for every fix (43 APIs over HTTP and the service's minimum API version)
    const deps = await appFor(env.emu, { ARM_PACING: "false", REMEDIATOR_STORAGE_PREFIX: `${STORAGE_PREFIX}e`, REMEDIATOR_MESSAGE_BUDGET_SECONDS: String(BUDGET_SECONDS), REMEDIATOR_MAX_WRITES_PER_SERVICE: "100" });
    await clearAppStorage(deps);
    // a portal user tags the service: its Event Grid event names the service itself
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const since = env.emu.events.list().length;
    await user.apiManagementService.beginUpdateAndWait(RG, BIG, { tags: { owner: "team-a" } }, { updateIntervalInMs: 5 });
    for (const e of env.emu.events.list(since) as EventGridEvent[]) await handleEvents(e, deps);
    const measured = await eachMessage(deps, env, (m): { part: string; calls: number; patchFirst?: boolean } => {
      const own = reads();
      const patch = own.findIndex((l) => l.method === "PATCH" && (l.path.split("?")[0] ?? "").toLowerCase() === BIG_ID.toLowerCase());
      const firstList = own.findIndex((l) => l.method === "GET" && (l.path.split("?")[0] ?? "").toLowerCase().startsWith(`${BIG_ID.toLowerCase()}/`));
      return { part: m.chunk ? `${m.chunk.index}/${m.chunk.of}` : m.reason, calls: own.length, ...(patch >= 0 ? { patchFirst: patch < firstList } : {}) };
    });
    console.info(`service event on ${APIS} APIs (budget ${budgetCalls(BUDGET_SECONDS)}): ${measured.map((x) => `${x.part}: ${x.calls}`).join(", ")}`);
    expect(measured.length).toBeGreaterThan(2);
    // the event's message: the minimum API version set before any collection was read (the plan's API list included)
    expect(measured[0]?.patchFirst).toBe(true);
    for (const x of measured) expect(x.calls).toBeLessThanOrEqual(budgetCalls(BUDGET_SECONDS));
    // and the pages fixed their APIs: every 7th was callable over HTTP
    expect((await user.apiManagementService.get(RG, BIG)).apiVersionConstraint?.minApiVersion).toBeDefined();
    for (let i = 0; i < APIS; i += 7) expect((await user.api.get(RG, BIG, name(i))).protocols).toEqual(["https"]);
  }, 180_000);
});
