/**
 * One worker per service: a worker that loses the service's blob lease in the
 * middle of an evaluation starts no ARM write after the loss. The lease is
 * lost while the worker's first write hangs in ARM — broken with the blob SDK
 * (what Blob storage does to a lease that expired and was taken), and then
 * also acquired by a second worker that evaluates the service meanwhile. The
 * renewal error is logged; the evaluation ends as `lease-lost`; its message
 * goes back to the queue for after the lease holder.
 */
import { Writable } from "node:stream";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { evaluateQueued, type AppDeps, type EvaluateOutcome } from "../../src/app/app.js";
import { keyOf, ServiceLeases, storageNames, encodeMessage, type EvaluateMessage } from "../../src/app/storage.js";
import { createLogger, SecretRegistry } from "../../src/common/logger.js";
import { drainQueue } from "../../src/local/driver.js";
import { appEnv, appFor, clearAppStorage } from "../helpers/app.js";
import { child, REMEDIATOR, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const NAME = "apim-lease";
const SVC = serviceId(NAME);
const OTHER_WORKER = "0e5a0000-0000-4000-8000-00000000b0b0";
const T = "Microsoft.ApiManagement/service/apis";
const api = (name: string) => child(NAME, `apis/${name}`, T, { displayName: name, path: name, protocols: ["http", "https"], serviceUrl: `https://${name}.example`, isCurrent: true, apiRevision: "1" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const same = (a: string | null, b: string) => (a ?? "").replace(/-/g, "").toLowerCase() === b.replace(/-/g, "").toLowerCase();

describe("a worker that loses the service's lease mid-evaluation", () => {
  let env: TestEnv;
  let run = 0;
  beforeAll(async () => {
    env = await startTestEmulator([service(NAME), api("a"), api("b")], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => {
    env.emu.reset([service(NAME), api("a"), api("b")]);
    env.emu.faults.clear();
  });

  /** A worker on this run's storage, renewing its lease every 50 ms, its log lines captured. */
  async function worker(prefix: string, principal = REMEDIATOR): Promise<{ deps: AppDeps; lines: Array<Record<string, unknown>> }> {
    const settings = { REMEDIATOR_STORAGE_PREFIX: prefix, REMEDIATOR_PRINCIPAL_ID: principal, REMEDIATOR_SUBSCRIPTIONS: SUB, LOG_LEVEL: "info" };
    const deps = await appFor(env.emu, settings);
    const conn = appEnv(env.emu, settings)["AzureWebJobsStorage"] as string;
    deps.storage.leases = new ServiceLeases(BlobServiceClient.fromConnectionString(conn).getContainerClient(storageNames(appEnv(env.emu, settings)).leaseContainer), 15, { renewEveryMs: 50 });
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split("\n").filter((x) => x.length > 0)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    deps.log = createLogger({ level: "info", registry: new SecretRegistry(), destination });
    return { deps, lines };
  }

  /** Worker A starts a sweep evaluation; its first API write hangs in ARM until `hangMs` passed. Resolves once the write is hanging. */
  async function startHanging(deps: AppDeps, hangMs: number): Promise<{ outcome: Promise<EvaluateOutcome> }> {
    await clearAppStorage(deps);
    env.emu.faults.add({ id: "hang", method: "PATCH", pathRegex: "/apis/[ab](\\?|$)", delayMs: hangMs, count: 1 });
    env.emu.log.clear();
    const msg = encodeMessage({ serviceId: SVC, reason: "sweep", correlationId: `lease-${run}`, enqueuedAt: new Date().toISOString() });
    const outcome = evaluateQueued(msg, deps);
    outcome.catch(() => undefined);
    for (let i = 0; i < 400 && !env.emu.faults.list().some((f) => f.id === "hang" && f.fired > 0); i++) await sleep(5);
    expect(env.emu.faults.list().find((f) => f.id === "hang")?.fired).toBe(1);
    return { outcome };
  }

  async function breakLease(prefix: string): Promise<number> {
    const conn = appEnv(env.emu)["AzureWebJobsStorage"] as string;
    const blob = BlobServiceClient.fromConnectionString(conn).getContainerClient(storageNames({ REMEDIATOR_STORAGE_PREFIX: prefix }).leaseContainer).getBlockBlobClient(`${keyOf(SVC)}.lease`);
    await blob.getBlobLeaseClient().breakLease(0);
    return Date.now();
  }

  /** Writes (anything but GET) the principal made, with the time each request started. */
  const writesBy = (principal: string) =>
    env.emu.log
      .list()
      .filter((l) => l.method !== "GET" && same(l.principal, principal))
      .map((l) => ({ what: `${l.method} ${l.path.split("?")[0]?.slice(SVC.length)}`, startedAt: Date.parse(l.time) - l.durationMs, status: l.status }));

  const protocols = async (name: string) => (await env.clients.apim(SUB).api.get("rg-apim", NAME, name)).protocols;

  it("broken with the blob SDK: the renewal error is logged, no write starts after the loss, the message goes back", async () => {
    const prefix = `lease${process.pid}x${run++}`;
    const a = await worker(prefix);
    const { outcome } = await startHanging(a.deps, 1_500);
    const brokeAt = await breakLease(prefix);
    // the next renewal is refused: logged (not swallowed) while the write still hangs
    for (let i = 0; i < 200 && !a.lines.some((l) => l["lease"] === "lost"); i++) await sleep(5);
    const lost = a.lines.find((l) => l["lease"] === "lost");
    expect(lost).toMatchObject({ level: "error", serviceId: SVC, err: expect.stringContaining("LeaseIsBrokenAndCannotBeRenewed") });

    const o = await outcome;
    expect(o).toMatchObject({ kind: "lease-lost", reason: expect.stringContaining("LeaseIsBrokenAndCannotBeRenewed") });
    // no write started after the break (the one hanging then is the last): the second API is left as it was
    const writes = writesBy(REMEDIATOR);
    expect(writes.filter((w) => w.startedAt > brokeAt)).toEqual([]);
    expect(writes.filter((w) => w.what.startsWith("PATCH /apis/"))).toHaveLength(1);
    const fixed = [await protocols("a"), await protocols("b")].filter((p) => JSON.stringify(p) === JSON.stringify(["https"]));
    expect(fixed).toHaveLength(1);
    // the stop is on record
    const audit = await a.deps.storage.audit.list(SVC);
    expect(audit.some((r) => r.outcome === "skipped" && /stopped before the next write: .*lease/.test(r.reason ?? ""))).toBe(true);

    // the message went back: evaluated again (here by the same worker, the lease now free), it fixes the rest
    const back = await a.deps.storage.evaluateQueue.peekMessages({ numberOfMessages: 8 });
    expect(back.peekedMessageItems.map((m) => (JSON.parse(Buffer.from(m.messageText, "base64").toString("utf8")) as EvaluateMessage).serviceId)).toEqual([SVC]);
    const drained = await drainQueue(a.deps);
    expect(drained).toMatchObject({ processed: 1, failed: 0 });
    expect([await protocols("a"), await protocols("b")]).toEqual([["https"], ["https"]]);
  });

  it("taken by another worker meanwhile: that worker fixes the service, the first writes nothing more", async () => {
    const prefix = `lease${process.pid}x${run++}`;
    const a = await worker(prefix);
    const b = await worker(prefix, OTHER_WORKER);
    const { outcome } = await startHanging(a.deps, 1_500);
    const brokeAt = await breakLease(prefix);
    // worker B gets the (broken, so free) lease and evaluates while A's write still hangs
    const ob = await evaluateQueued(encodeMessage({ serviceId: SVC, reason: "sweep", correlationId: "other", enqueuedAt: new Date().toISOString() }), b.deps);
    expect(ob.kind).toBe("evaluated");
    const oa = await outcome;
    expect(oa.kind).toBe("lease-lost");
    expect(a.lines.find((l) => l["lease"] === "lost")).toMatchObject({ level: "error", err: expect.stringMatching(/LeaseIdMismatchWithLeaseOperation|LeaseIsBrokenAndCannotBeRenewed/) });

    // A: nothing after the write that was hanging when the lease was lost; B: the rest
    const aWrites = writesBy(REMEDIATOR);
    expect(aWrites.filter((w) => w.startedAt > brokeAt)).toEqual([]);
    expect(aWrites.filter((w) => w.what.startsWith("PATCH /apis/"))).toHaveLength(1);
    expect(writesBy(OTHER_WORKER).filter((w) => w.what.startsWith("PATCH /apis/")).map((w) => w.what).sort()).toEqual(["PATCH /apis/a", "PATCH /apis/b"]);
    expect([await protocols("a"), await protocols("b")]).toEqual([["https"], ["https"]]);
  });
});

describe("a lease renewal that hangs", () => {
  /**
   * A loopback HTTP proxy in front of Azurite's blob endpoint that never answers the first lease renewal it sees
   * (what a stalled connection does: the request is sent, no answer comes), and forwards everything else.
   */
  async function stallingProxy(target: URL): Promise<{ url: string; renewals: () => number; close: () => Promise<void> }> {
    const { createServer, request } = await import("node:http");
    let renewals = 0;
    const held: Array<import("node:http").ServerResponse> = [];
    const server = createServer((req, res) => {
      if (String(req.headers["x-ms-lease-action"]).toLowerCase() === "renew" && renewals++ === 0) {
        held.push(res);
        req.resume();
        return;
      }
      const out = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on("error", () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as import("node:net").AddressInfo).port;
    return {
      url: `http://127.0.0.1:${port}`,
      renewals: () => renewals,
      close: async () => {
        for (const r of held) r.destroy();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      },
    };
  }

  it("is abandoned after its timeout and the next renewal keeps the lease", async () => {
    const conn = inject("azuriteConnectionString");
    const blobEndpoint = /BlobEndpoint=([^;]+)/.exec(conn)?.[1] as string;
    const target = new URL(blobEndpoint);
    const proxy = await stallingProxy(target);
    try {
      const viaProxy = conn.replace(blobEndpoint, `${proxy.url}${target.pathname}`);
      const container = BlobServiceClient.fromConnectionString(viaProxy).getContainerClient(`stall${Date.now().toString(36)}`);
      await container.createIfNotExists();
      const leases = new ServiceLeases(container, 15, { renewEveryMs: 200, renewTimeoutMs: 300 });
      const kept = await leases.withLease(SVC, async (lease) => {
        // the first renewal (after 200 ms) hangs; with the timeout, later renewals are sent and answered
        for (let i = 0; i < 100 && proxy.renewals() < 3; i++) await sleep(50);
        return !lease.signal.aborted;
      });
      expect(proxy.renewals()).toBeGreaterThanOrEqual(3);
      expect(kept).toBe(true);
      await container.deleteIfExists();
    } finally {
      await proxy.close();
    }
  });
});
