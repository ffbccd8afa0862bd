/**
 * Property-based fuzzing of Event Grid input (fast-check): malformed JSON,
 * wrong schemas, missing fields, huge payloads, resource ids crafted to escape
 * the scope, events for resources that no longer exist.
 *
 * The bulk goes through `handleEvents` (onResourceEvent's core) and `decide`
 * with an in-memory stand-in for the queue and the pending markers, whose
 * other dependencies (ARM clients, engine, tickets, audit) throw if touched:
 * an event can only enqueue an evaluation of a service in scope, which
 * re-reads everything before acting. A smaller number goes end to end
 * (Azurite, the emulator, the worker). FUZZ_RUNS scales the bulk.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decide, handleEvents, parseEvents, type AppDeps } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import type { EvaluateMessage } from "../../src/app/storage.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { PORTAL_USER, REMEDIATOR as REMEDIATOR_ID, startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { eventGridEvent, IN_SUB, payload, plausibleEvent, resourceUri, RESOURCE_EVENTS, scopeConfig } from "./arbitraries.js";
import { demoResources } from "./estates.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? "1");
const MESSAGE_KEYS = new Set(["serviceId", "reason", "changedResourceId", "operationName", "correlationId", "enqueuedAt"]);
export const fuzzed = { handleEvents: 0, decide: 0, endToEnd: 0 };

/** Any access to these throws (and is recorded): the event path must not act, only enqueue. */
function forbidden(name: string, touched: string[]): never {
  return new Proxy(
    {},
    {
      get(_t, p) {
        touched.push(`${name}.${String(p)}`);
        throw new Error(`the event handler touched ${name}.${String(p)}`);
      },
    },
  ) as never;
}

interface Stand {
  deps: AppDeps;
  sent: EvaluateMessage[];
  touched: string[];
}

function standIn(scope: { subscriptions: string[]; resourceGroups: string[]; principalId: string }): Stand {
  const sent: EvaluateMessage[] = [];
  const touched: string[] = [];
  const markers = new Map<string, Set<string>>();
  const storage = {
    evaluateQueue: {
      sendMessage: (text: string) => {
        sent.push(JSON.parse(Buffer.from(text, "base64").toString("utf8")) as EvaluateMessage);
        return Promise.resolve({});
      },
    },
    pending: {
      claim: (serviceId: string, changed: string) => {
        const k = serviceId.toLowerCase();
        const m = markers.get(k);
        if (m) {
          m.add(changed);
          return Promise.resolve(false);
        }
        markers.set(k, new Set([changed]));
        return Promise.resolve(true);
      },
    },
    poisonQueue: forbidden("storage.poisonQueue", touched),
    audit: forbidden("storage.audit", touched),
    compliance: forbidden("storage.compliance", touched),
    inventory: forbidden("storage.inventory", touched),
    leases: forbidden("storage.leases", touched),
  };
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const deps = {
    config: { ...scope, mode: "enforce" },
    clients: forbidden("clients", touched),
    engine: forbidden("engine", touched),
    tickets: forbidden("tickets", touched),
    storage,
    log: quiet,
    debounceSeconds: 0,
  } as unknown as AppDeps;
  return { deps, sent, touched };
}

const PRINTABLE = /^[\x21-\x7e]*$/;

/** The oracle: what an accepted decision or an enqueued message may name, checked independently of decide(). */
function scopeViolation(serviceId: unknown, changed: unknown, scope: { subscriptions: string[]; resourceGroups: string[] }): string | undefined {
  if (typeof serviceId !== "string" || typeof changed !== "string") return "no service id or changed resource id";
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ApiManagement\/service\/([^/]+)$/.exec(serviceId);
  if (!m) return `not a canonical service id: ${JSON.stringify(serviceId).slice(0, 200)}`;
  const [, sub, rg, name] = m as unknown as [string, string, string, string];
  if (!scope.subscriptions.some((s) => s.toLowerCase() === sub.toLowerCase())) return `subscription out of scope: ${sub}`;
  if (scope.resourceGroups.length > 0 && !scope.resourceGroups.some((g) => g.toLowerCase() === rg.toLowerCase())) return `resource group out of scope: ${rg}`;
  for (const part of [sub, rg, name]) if (!PRINTABLE.test(part) || part.includes("%") || part === "." || part === "..") return `a crafted id part: ${JSON.stringify(part)}`;
  if (!changed.toLowerCase().startsWith(serviceId.toLowerCase()) || (changed.length > serviceId.length && changed[serviceId.length] !== "/")) return `the changed resource is not under the service: ${JSON.stringify(changed).slice(0, 200)}`;
  if (!PRINTABLE.test(changed) || changed.includes("%") || /\/\.\.?(\/|$)|\/\//.test(changed)) return `a crafted changed resource id: ${JSON.stringify(changed).slice(0, 200)}`;
  return undefined;
}

describe("Event Grid input fuzzing (in-memory stand-in)", () => {
  it("handleEvents never throws, answers every payload with a reason, touches nothing but the queue, and enqueues only services in scope", async () => {
    await fc.assert(
      fc.asyncProperty(payload, scopeConfig, async (input, scope) => {
        fuzzed.handleEvents++;
        const s = standIn(scope);
        let decisions;
        try {
          decisions = await handleEvents(input, s.deps);
        } catch (e) {
          throw new Error(`handleEvents threw: ${(e as Error).message}`);
        }
        expect(decisions.length).toBeGreaterThan(0);
        expect(s.touched).toEqual([]);
        for (const d of decisions) {
          expect(typeof d.reason).toBe("string");
          expect(d.reason.length).toBeGreaterThan(0);
          if (d.accepted) expect(scopeViolation(d.serviceId, d.changedResourceId, scope)).toBeUndefined();
          else expect(d.enqueued).toBeUndefined();
        }
        expect(s.sent.length).toBeLessThanOrEqual(decisions.filter((d) => d.accepted).length);
        for (const m of s.sent) {
          expect([...Object.keys(m)].every((k) => MESSAGE_KEYS.has(k))).toBe(true);
          expect(m.reason).toBe("event");
          expect(scopeViolation(m.serviceId, m.changedResourceId, scope)).toBeUndefined();
        }
      }),
      { numRuns: 6_000 * RUNS },
    );
  }, 300_000);

  it("decide accepts only canonical ids in scope, never trusts the subject, and is a pure function", () => {
    const normalized = fc.record({
      id: fc.uuid(),
      type: fc.oneof(fc.constantFrom(...RESOURCE_EVENTS), fc.string({ maxLength: 12 })),
      subject: fc.oneof(resourceUri, fc.constant(`/subscriptions/${IN_SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso-prod`)),
      data: fc.record({ resourceUri: fc.oneof(resourceUri, fc.anything()), operationName: fc.oneof(fc.constantFrom("Microsoft.ApiManagement/service/apis/write", "Microsoft.Authorization/locks/delete"), fc.anything()) }, { requiredKeys: [] }),
    });
    fc.assert(
      fc.property(normalized, scopeConfig, (ev, scope) => {
        fuzzed.decide++;
        const d = decide(ev as never, scope);
        expect(decide(ev as never, scope)).toEqual(d);
        if (d.accepted) {
          expect(scopeViolation(d.serviceId, d.changedResourceId, scope)).toBeUndefined();
          // the decision comes from data.resourceUri alone
          expect(d.changedResourceId).toBe(ev.data["resourceUri"]);
        }
      }),
      { numRuns: 5_000 * RUNS },
    );
  });

  it("parses what it accepts the same way in both schemas (Event Grid and CloudEvents)", async () => {
    await fc.assert(
      fc.asyncProperty(plausibleEvent, async (e) => {
        fuzzed.handleEvents++;
        const cloud = { specversion: "1.0", id: e.id, source: e.topic, subject: e.subject, type: e.eventType, time: e.eventTime, datacontenttype: "application/json", data: e.data };
        const [a] = await parseEvents(e);
        const [b] = await parseEvents(cloud);
        expect(a).toMatchObject({ id: e.id, type: e.eventType });
        expect(b).toMatchObject({ id: e.id, type: e.eventType });
        const scope = { subscriptions: [IN_SUB], resourceGroups: [], principalId: REMEDIATOR_ID };
        expect(decide(a as never, scope)).toEqual(decide(b as never, scope));
      }),
      { numRuns: 500 * RUNS },
    );
  });
});

describe("Event Grid input end to end (Azurite, emulator, worker)", () => {
  const SUB = IN_SUB;
  const PROD = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso-prod`;
  const DEV = `/subscriptions/${SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
  let env: TestEnv;
  let deps: AppDeps;
  beforeAll(async () => {
    // the prod backend 'orders' no longer exists (events still name it)
    env = await startTestEmulator(demoResources().filter((r) => !String(r["id"]).endsWith("/apim-contoso-prod/backends/orders")), { throttle: { enabled: false } });
    const kv = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`;
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB, KEY_VAULT_URL: env.emu.keyVaults["kv-contoso-apim"] as string, KEY_VAULT_RESOURCE_ID: kv });
    await clearAppStorage(deps);
    // the estate starts compliant for every auto rule: one enforced evaluation of each drifted service
    for (const id of [DEV, `/subscriptions/${SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-fabrikam-consumption`]) await deps.engine.evaluate(id);
  }, 60_000);
  afterAll(async () => env.emu.stop());

  it("forged, crafted and stale events (for services and children that do not exist too) cause no write at all; each evaluation re-reads the service", async () => {
    const events = fc.sample(fc.oneof(plausibleEvent, eventGridEvent), { numRuns: 150, seed: 20_241_124 });
    // and events for things that are gone: a deleted backend, a deleted service, an API that never existed
    const gone = (uri: string, op: string) => ({ id: `gone-${uri.length}`, topic: `/subscriptions/${SUB}`, subject: uri, eventType: "Microsoft.Resources.ResourceDeleteSuccess", eventTime: new Date().toISOString(), data: { resourceUri: uri, operationName: op }, dataVersion: "2", metadataVersion: "1" });
    events.push(
      gone(`${PROD}/backends/orders`, "Microsoft.ApiManagement/service/backends/delete") as never,
      gone(`/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-deleted`, "Microsoft.ApiManagement/service/delete") as never,
      gone(`${DEV}/apis/never-existed`, "Microsoft.ApiManagement/service/apis/delete") as never,
    );
    env.emu.log.clear();
    const accepted: string[] = [];
    for (const e of events) {
      fuzzed.endToEnd++;
      for (const d of await handleEvents(e, deps)) if (d.accepted && d.serviceId) accepted.push(d.serviceId);
    }
    const drained = await drainQueue(deps, { maxDequeueCount: 2 });
    expect(accepted.length).toBeGreaterThan(0);
    // services that do not exist end as "gone", not in the poison queue (no alert for a deleted service)
    expect(drained.poisoned).toBe(0);
    expect(drained.outcomes.filter((o) => o.kind === "gone").length).toBeGreaterThan(0);
    expect((await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
    const writes = env.emu.log.list().filter((l) => l.method !== "GET" && (l.principal ?? "").replace(/-/g, "") === REMEDIATOR_ID.replace(/-/g, ""));
    expect(writes.map((l) => `${l.method} ${l.path}`)).toEqual([]);
    // every evaluation started by reading the service's current state
    for (const o of drained.outcomes) if (o.kind === "evaluated") expect(env.emu.log.list().some((l) => l.method === "GET" && l.path.split("?")[0]?.toLowerCase() === o.result.serviceId.toLowerCase())).toBe(true);
  }, 120_000);

  it("with one real drift among forged events: exactly that drift is fixed, after reading the service", async () => {
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    await user.api.update("rg-apim-prod", "apim-contoso-prod", "orders", "*", { protocols: ["http", "https"] });
    const real = env.emu.events.list().at(-1);
    const forged = fc.sample(plausibleEvent, { numRuns: 40, seed: 7 });
    env.emu.log.clear();
    for (const e of [...forged, real]) await handleEvents(e, deps);
    await drainQueue(deps, { maxDequeueCount: 2 });
    const log = env.emu.log.list();
    const writes = log.filter((l) => l.method !== "GET" && (l.principal ?? "").replace(/-/g, "") === REMEDIATOR_ID.replace(/-/g, ""));
    expect(writes.map((l) => `${l.method} ${l.path.split("?")[0]}`)).toEqual([`PATCH ${PROD}/apis/orders`]);
    const firstWrite = log.indexOf(writes[0] as (typeof log)[number]);
    expect(log.slice(0, firstWrite).some((l) => l.method === "GET" && l.path.split("?")[0] === `${PROD}/apis/orders`)).toBe(true);
    expect((await user.api.get("rg-apim-prod", "apim-contoso-prod", "orders")).protocols).toEqual(["https"]);
  }, 60_000);

  afterAll(() => {
    console.log(`events fuzzed: ${fuzzed.handleEvents} through handleEvents, ${fuzzed.decide} through decide, ${fuzzed.endToEnd} end to end (${fuzzed.handleEvents + fuzzed.decide + fuzzed.endToEnd} cases)`);
  });
});
