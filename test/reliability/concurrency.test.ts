/**
 * Concurrency: two and four workers (each with its own clients, engine and
 * storage clients, as separate Function instances) drain one queue, on the
 * same service and on different services, with random delays on ARM and Key
 * Vault and a portal user editing meanwhile: one evaluation per service at a
 * time, no lost update, no double migration, every drift fixed. And a worker
 * that dies holding a service's lease: the lease expires and another worker
 * takes the service over.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { evaluateQueued, sweep, type EvaluateOutcome } from "../../src/app/app.js";
import { createClients, type AzureClients } from "../../src/azure/clients.js";
import { loadConfig } from "../../src/common/config.js";
import { drainQueue } from "../../src/local/driver.js";
import { parseExemptions } from "../../src/engine/engine.js";
import { SecretRegistry } from "../../src/common/logger.js";
import { encodeMessage } from "../../src/app/storage.js";
import { MemoryTicketProvider } from "../../src/tickets/memory.js";
import { STORAGE_PREFIX } from "../helpers/app.js";
import { DEMO_SUB, demoEstate, generatedEstate, PORTAL_USER, REMEDIATOR, AUDITOR, type EstateSpec } from "./estates.js";
import { auditorFindings, buildWorker, MessageTracker, startWorld, type Worker, type World } from "./harness.js";
import { secretState } from "./invariants.js";
import { Rng } from "./rng.js";
import { secretNameFor } from "../../src/remediations/fixes/key-vault.js";
import { isBusy } from "../../src/remediations/fixes/write.js";

const DEV = `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isRemediator = (p: string | null) => (p ?? "").replace(/-/g, "").toLowerCase() === REMEDIATOR.replace(/-/g, "");

let world: World;
/** The lease takeover has its own emulator: it mostly waits for a lease to expire, so it runs alongside the other tests. */
let lonely: World;
let run = 0;
let takeover: Promise<TakeoverResult | Error>;
beforeAll(async () => {
  world = await startWorld(inject("azuriteConnectionString"), `${STORAGE_PREFIX.slice(0, 11)}c`);
  lonely = await startWorld(inject("azuriteConnectionString"), `${STORAGE_PREFIX.slice(0, 11)}l`);
  takeover = runTakeover(lonely).catch((e: Error) => e);
});
afterAll(async () => {
  await takeover;
  await Promise.all([world?.emu.stop(), lonely?.emu.stop()]);
});

interface Team {
  world: World;
  spec: EstateSpec;
  workers: Worker[];
  tracker: MessageTracker;
  tickets: MemoryTicketProvider;
  /** Evaluations in flight per service, and the most seen at once (per service, and overall). */
  maxPerService: Map<string, number>;
  maxOverall: number;
  outcomes: EvaluateOutcome[];
  user: AzureClients;
  auditor: AzureClients;
}

async function team(spec: EstateSpec, n: number, seed: number, leaseSeconds = 15, w: World = world): Promise<Team> {
  const world = w;
  world.emu.reset(spec.resources);
  world.emu.reseed(seed);
  for (let i = 0; i < 200 && !world.emu.keyVaults[spec.vaultName]; i++) await sleep(10);
  // random delays on a share of ARM and Key Vault requests, so the workers interleave differently each time
  for (const [i, p] of [0.3, 0.2, 0.1].entries()) world.emu.faults.add({ id: `delay-${i}`, delayMs: 5 + 15 * i, probability: p });
  world.emu.setLatency({ read: 2, write: 5, keyvault: 3 });
  const env: Record<string, string> = {
    AzureWebJobsStorage: world.connectionString,
    REMEDIATOR_STORAGE_PREFIX: `${world.prefix}${(run++).toString(36)}`.slice(0, 20),
    ARM_ENDPOINT: world.emu.armEndpoint,
    ARM_CA_FILE: world.emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    REMEDIATOR_MODE: "enforce",
    REMEDIATOR_SUBSCRIPTIONS: spec.scope.subscriptions.join(","),
    ...(spec.scope.resourceGroups.length ? { REMEDIATOR_RESOURCE_GROUPS: spec.scope.resourceGroups.join(",") } : {}),
    REMEDIATOR_DEBOUNCE_SECONDS: "0",
    ARM_MAX_RETRIES: "1",
    ARM_PACING: "false",
    KEY_VAULT_URL: world.emu.keyVaults[spec.vaultName] as string,
    KEY_VAULT_RESOURCE_ID: spec.vaultResourceId,
    // the demo's workspace (emulator/estates/demo.json), so resource-logs-enabled is fixed like every other auto drift
    REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: `/subscriptions/${DEMO_SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.OperationalInsights/workspaces/law-contoso-apim`,
    LOG_LEVEL: "warn",
  };
  const tracker = new MessageTracker();
  const tickets = new MemoryTicketProvider();
  const t: Team = { world, spec, workers: [], tracker, tickets, maxPerService: new Map(), maxOverall: 0, outcomes: [], user: createClients(loadConfig({ ARM_ENDPOINT: world.emu.armEndpoint, ARM_CA_FILE: world.emu.caFile, REMEDIATOR_PRINCIPAL_ID: PORTAL_USER })), auditor: createClients(loadConfig({ ARM_ENDPOINT: world.emu.armEndpoint, ARM_CA_FILE: world.emu.caFile, REMEDIATOR_PRINCIPAL_ID: AUDITOR })) };
  const inflight = new Map<string, number>();
  let overall = 0;
  for (let i = 0; i < n; i++) {
    const w = await buildWorker(env, tracker, tickets, [], new SecretRegistry(), leaseSeconds);
    const evaluate = w.deps.engine.evaluate.bind(w.deps.engine);
    w.deps.engine.evaluate = async (serviceId, options) => {
      const k = serviceId.toLowerCase();
      inflight.set(k, (inflight.get(k) ?? 0) + 1);
      overall++;
      t.maxPerService.set(k, Math.max(t.maxPerService.get(k) ?? 0, inflight.get(k) as number));
      t.maxOverall = Math.max(t.maxOverall, overall);
      try {
        return await evaluate(serviceId, options);
      } finally {
        inflight.set(k, (inflight.get(k) as number) - 1);
        overall--;
      }
    };
    t.workers.push(w);
  }
  world.emu.log.clear();
  return t;
}

/** Every worker drains the shared queue until it is empty (as parallel Function instances would). */
async function drainTogether(t: Team): Promise<void> {
  await Promise.all(
    t.workers.map(async (w, i) => {
      await sleep(i * 3);
      for (let round = 0; round < 40; round++) {
        const r = await drainQueue(w.deps, { maxDequeueCount: 5, visibilityTimeout: 30, maxRounds: 5 });
        t.outcomes.push(...r.outcomes);
        if ((await w.deps.storage.evaluateQueue.getProperties()).approximateMessagesCount === 0) break;
        await sleep(5);
      }
    }),
  );
}

/** A user's write: while a fix's long-running operation on the service is in progress ARM refuses it (409), and the user tries again. */
async function asUser<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (e) {
      if (!isBusy(e) || attempt >= 200) throw e;
      await sleep(20);
    }
  }
}

/** A portal user edits API descriptions and named value tags while the workers run: none of it may be lost. */
async function userEdits(t: Team, rng: Rng, until: () => boolean): Promise<Map<string, { field: string; value: unknown }>> {
  const writes = new Map<string, { field: string; value: unknown }>();
  const targets = t.spec.resources.filter((r) => /\/service\/[^/]+\/(apis|namedValues)\/[^/;]+$/i.test(String(r["id"])) && t.spec.scope.subscriptions.some((s) => String(r["id"]).includes(s)));
  for (let i = 0; i < 12 && !until() && targets.length > 0; i++) {
    await sleep(rng.int(0, 25));
    const id = String(rng.pick(targets)["id"]);
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ApiManagement\/service\/([^/]+)\/(apis|namedValues)\/([^/]+)$/i.exec(id);
    if (!m) continue;
    const [sub, rg, svc, kind, name] = m.slice(1) as [string, string, string, string, string];
    const mark = `user-${i}-${rng.hex(4)}`;
    if (kind === "apis") {
      await asUser(() => t.user.apim(sub).api.update(rg, svc, name, "*", { description: mark }));
      writes.set(id.toLowerCase(), { field: "description", value: mark });
    } else {
      await asUser(() => t.user.apim(sub).namedValue.beginUpdateAndWait(rg, svc, name, "*", { tags: ["rel", mark] }, { updateIntervalInMs: 5 }));
      writes.set(id.toLowerCase(), { field: "tags", value: ["rel", mark] });
    }
  }
  return writes;
}

/** After the users stop: one more sweep, drained, then the invariants. */
async function settleAndCheck(t: Team, userWrites: Map<string, { field: string; value: unknown }>, correlationId: string): Promise<void> {
  await sweep(t.workers[0]!.deps, correlationId);
  await drainTogether(t);
  await check(t, userWrites);
}

async function check(t: Team, userWrites: Map<string, { field: string; value: unknown }>): Promise<void> {
  const world = t.world;
  // one evaluation per service at a time
  for (const [svc, n] of t.maxPerService) expect(n, `concurrent evaluations of ${svc}`).toBe(1);
  // nothing left, nothing failed for good
  expect((await t.workers[0]!.deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
  expect([...t.tracker.messages.values()].filter((m) => !m.processed)).toEqual([]);
  // no lost update
  for (const [id, w] of userWrites) expect(JSON.stringify(world.emu.store.get(id)?.properties[w.field]), `lost update on ${id}`).toBe(JSON.stringify(w.value));
  // no double migration: each secret written to Key Vault at most once, each named value pointed at it at most once, and every value intact
  const log = world.emu.log.list();
  for (const s of t.spec.secrets) {
    // a reference the remediator must not act on (another vault, a secret it does not own) stays unresolved, by design
    expect(secretState(world, s.id, true).ok, `${s.id}: ${secretState(world, s.id, true).how}`).toBe(!s.foreign);
    const m = /\/service\/([^/]+)\/namedValues\/([^/]+)$/.exec(s.id) as RegExpExecArray;
    const name = secretNameFor(m[1] as string, m[2] as string);
    const landed = (method: string, path: (p: string) => boolean) => log.filter((l) => l.method === method && path(l.path.split("?")[0] as string) && l.status >= 200 && l.status < 300 && isRemediator(l.principal)).length;
    expect(landed("PUT", (p) => p === `/secrets/${name}`), `Key Vault writes of ${name}`).toBeLessThanOrEqual(1);
    expect(landed("PATCH", (p) => p.toLowerCase() === s.id.toLowerCase()), `PATCHes of ${s.id}`).toBeLessThanOrEqual(1);
    expect(world.emu.vaults.find(t.spec.vaultName, name) === undefined || (world.emu.vaults.find(t.spec.vaultName, name)?.v.value === s.value), `the secret ${name} holds the value`).toBe(true);
  }
  // every auto drift fixed (or, under a ReadOnly lock, ticketed)
  const config = t.workers[0]!.deps.config;
  const final = await auditorFindings(t.auditor, t.spec, config);
  // an exemption tag (the generated estates draw some) leaves a drift skipped on purpose: neither fixed nor ticketed
  const exempt = (f: { ruleId: string; resourceId: string }) => {
    const svc = /^(.*\/providers\/Microsoft\.ApiManagement\/service\/[^/]+)/i.exec(f.resourceId)?.[1];
    const ex = parseExemptions(svc ? world.emu.store.get(svc)?.tags?.[config.exemptTag] : undefined, new Date());
    return ex.rules.has("*") || ex.rules.has(f.ruleId);
  };
  const autoLeft = final.filter((f) => f.status === "fail" && f.action === "auto" && !exempt(f));
  for (const f of autoLeft) expect(t.tickets.tickets.some((x) => x.state === "open" && x.ruleId === f.ruleId && x.resourceId.toLowerCase() === f.resourceId.toLowerCase()), `${f.ruleId} ${f.resourceId}`).toBe(true);
  // each service's own writes: none repeated after it became compliant (a second evaluation wrote nothing)
  const evaluated = t.outcomes.filter((o) => o.kind === "evaluated");
  expect(evaluated.length).toBeGreaterThan(0);
}

describe.each([2, 4])("%i workers", (n) => {
  it("on the same service (a burst of messages for it): serialized by the lease, no lost update, no double migration", async () => {
    const rng = new Rng(1000 + n);
    const t = await team(demoEstate(rng.fork("estate")), n, 1000 + n);
    const svcMsg = (i: number) => encodeMessage({ serviceId: DEV, reason: i % 2 ? "event" : "sweep", changedResourceId: i % 2 ? `${DEV}/namedValues/legacy-db-password` : undefined, correlationId: `burst-${n}-${i}`, enqueuedAt: new Date().toISOString() });
    for (let i = 0; i < 3 * n; i++) await t.workers[0]!.deps.storage.evaluateQueue.sendMessage(svcMsg(i));
    let done = false;
    const edits = userEdits(t, rng.fork("user"), () => done);
    await drainTogether(t);
    done = true;
    await settleAndCheck(t, await edits, `settle-${n}`);
    expect(t.outcomes.filter((o) => o.kind === "deferred").length + t.outcomes.filter((o) => o.kind === "evaluated").length).toBeGreaterThanOrEqual(3 * n);
  }, 120_000);

  it("on different services: in parallel, each serialized, every drift fixed", async () => {
    const rng = new Rng(2000 + n);
    const t = await team(generatedEstate(rng.fork("estate"), { services: 4 }), n, 2000 + n);
    let done = false;
    const edits = userEdits(t, rng.fork("user"), () => done);
    for (let i = 0; i < 2; i++) await sweep(t.workers[i % n]!.deps, `sweep-${n}-${i}`);
    await drainTogether(t);
    done = true;
    await settleAndCheck(t, await edits, `settle-${n}`);
    expect(t.maxOverall, "evaluations of different services overlapped").toBeGreaterThanOrEqual(2);
  }, 120_000);
});

interface TakeoverResult {
  outcomes: string[];
  takenAfter: number;
  failedActions: number;
  /** Auto drifts left on the service: `rule resource` each. */
  autoLeft: string[];
  secretsOk: boolean[];
}

/**
 * Worker A takes the lease of a service and dies while its first write hangs
 * (the write never lands; its storage and Azure calls fail from then on: no
 * renewal, no release). Worker B is deferred while the abandoned lease lasts,
 * then takes the service over.
 */
async function runTakeover(w: World): Promise<TakeoverResult> {
  const t = await team(demoEstate(new Rng(31)), 2, 31, 15, w);
  w.emu.faults.clear();
  const [a, b] = t.workers as [Worker, Worker];
  const msg = encodeMessage({ serviceId: DEV, reason: "sweep", correlationId: "takeover", enqueuedAt: new Date().toISOString() });
  w.emu.faults.add({ id: "hang", method: "PATCH", delayMs: 1_000, reset: true, count: 1 });
  const started = Date.now();
  const dying = evaluateQueued(msg, a.deps).catch((e: Error) => e);
  while (!w.emu.faults.list().some((f) => f.id === "hang" && f.fired > 0)) await sleep(5);
  a.dead = true;
  w.emu.faults.add({ id: "dead", reset: true });
  await dying;
  w.emu.faults.remove("dead");
  const outcomes: string[] = [];
  let takenAfter = 0;
  let failedActions = 0;
  for (let i = 0; i < 40; i++) {
    const o = await evaluateQueued(msg, b.deps);
    outcomes.push(o.kind);
    if (o.kind === "evaluated") {
      takenAfter = Date.now() - started;
      failedActions = o.result.actions.filter((x) => x.outcome === "failed").length;
      break;
    }
    await sleep(1_000);
  }
  const final = await auditorFindings(t.auditor, t.spec, b.deps.config);
  return {
    outcomes,
    takenAfter,
    failedActions,
    autoLeft: final.filter((f) => f.status === "fail" && f.action === "auto" && f.resourceId.startsWith(DEV)).map((f) => `${f.ruleId} ${f.resourceId}: ${f.message}`),
    secretsOk: t.spec.secrets.map((s) => secretState(w, s.id, true).ok),
  };
}

describe("a worker that dies holding a lease", () => {
  it("its lease expires (15 s, the shortest Azure allows) and another worker takes the service over", async () => {
    const r = await takeover;
    if (r instanceof Error) throw r;
    expect(r.outcomes[0]).toBe("deferred");
    expect(r.outcomes.at(-1)).toBe("evaluated");
    expect(r.takenAfter).toBeGreaterThanOrEqual(13_000);
    expect(r.takenAfter).toBeLessThan(30_000);
    expect(r.failedActions).toBe(0);
    // the service is fixed, and every secret is intact
    expect(r.autoLeft).toEqual([]);
    expect(r.secretsOk.every((x) => x)).toBe(true);
  }, 60_000);
});
