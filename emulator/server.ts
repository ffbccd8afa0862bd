/**
 * Starts the emulator: one HTTPS origin for ARM (with the admin API under
 * `/_admin`) and one HTTPS origin per Key Vault, all with one self-signed
 * certificate whose SAN covers 127.0.0.1 and localhost.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";
import { Arm } from "./arm.js";
import { ARM_THROTTLE_DEFAULTS, Faults, LatencyKeeper, RequestLog, seededRandom, Throttle, type BucketKind, type FaultRule, type Latency, type OpKind, type ThrottleSpec } from "./control.js";
import { EventFeed, type Caller } from "./events.js";
import { ArmError, bearerToken, decodeJwt, errorReply, parseJsonBody, readBody, send, sleep, type Reply } from "./http.js";
import { parseId } from "./ids.js";
import { Vaults } from "./keyvault.js";
import { ResourceGraph } from "./resourcegraph.js";
import { effectiveTimings, type TimingOptions } from "./profile.js";
import { lroDurations, type LroTimingOptions } from "./lro.js";
import { Store, type Estate } from "./store.js";

export interface EmulatorOptions {
  /** The estate: an ARM resource list (array), `{ resources: [...] }`, or a path to such a JSON file. */
  estate: Estate | { resources: Estate } | string;
  /** ARM port (0 = any free port). */
  port?: number;
  host?: string;
  tenantId?: string;
  /** Directory for the generated CA/certificate files. */
  stateDir?: string;
  seed?: number;
  pageSize?: number;
  lroDurationMs?: number;
  latency?: Latency;
  throttle?: Partial<ThrottleSpec>;
  /** POST every event to this URL (e.g. the local Functions host's Event Grid endpoint). */
  eventWebhook?: string;
  /**
   * Azure's delays (emulator/profile.ts): `profile` "default" (all at once) or "realistic", `timeScale` (real ms per
   * modelled ms), and per-delay overrides in modelled ms (`propagationMs`: until a new role assignment is in effect;
   * `referenceRefreshMs`: API Management's own Key Vault reference refresh).
   */
  timing?: TimingOptions & LroTimingOptions;
}

export interface EmulatorHandle {
  armEndpoint: string;
  caFile: string;
  ca: string;
  adminUrl: string;
  keyVaults: Record<string, string>;
  tenantId: string;
  store: Store;
  vaults: Vaults;
  events: EventFeed;
  log: RequestLog;
  faults: Faults;
  throttle: Throttle;
  arm: Arm;
  /** Azure Resource Graph (emulator/resourcegraph.ts): its quota settings (`configure`) and query counts. */
  resourceGraph: ResourceGraph;
  /** Replaces the state with a new estate (or the original one). */
  reset(estate?: Estate | { resources: Estate } | string): void;
  setLatency(l: Latency): void;
  setLroDuration(ms: number): void;
  /** Sets the profile, time scale or a delay (emulator/profile.ts); omitted fields keep their value. */
  setTiming(t: TimingOptions & LroTimingOptions): void;
  reseed(seed: number): void;
  stop(): Promise<void>;
}

export const DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";

export function loadEstate(estate: EmulatorOptions["estate"]): Estate {
  let value: unknown = estate;
  if (typeof estate === "string") {
    let text: string;
    try {
      text = readFileSync(estate, "utf8");
    } catch (e) {
      throw new Error(`cannot read estate file ${estate}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new Error(`estate file ${estate} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (Array.isArray(value)) return value as Estate;
  if (value && typeof value === "object" && Array.isArray((value as { resources?: unknown }).resources)) return (value as { resources: Estate }).resources;
  throw new Error("estate must be a JSON array of ARM resources or an object with a 'resources' array");
}

async function makeCertificate(dir: string): Promise<{ key: string; cert: string; caFile: string }> {
  const notAfter = new Date(Date.now() + 365 * 86400_000);
  const pems = await generate([{ name: "commonName", value: "apim-remediator emulator" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }, { type: 2, value: "localhost" }] },
    ],
  });
  mkdirSync(dir, { recursive: true });
  const caFile = join(dir, "emulator-ca.pem");
  writeFileSync(caFile, pems.cert);
  return { key: pems.private, cert: pems.cert, caFile };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function opKind(method: string, path: string): OpKind {
  if (method === "GET" || method === "HEAD") return "read";
  if (method === "DELETE") return "delete";
  if (method === "POST") return "action";
  void path;
  return "write";
}

function bucketOf(kind: OpKind): BucketKind {
  return kind === "read" ? "reads" : kind === "delete" ? "deletes" : "writes";
}

export async function start(options: EmulatorOptions): Promise<EmulatorHandle> {
  const host = options.host ?? "127.0.0.1";
  const tenantId = options.tenantId ?? DEFAULT_TENANT;
  const stateDir = options.stateDir ?? join(tmpdir(), `apim-remediator-emulator-${process.pid}-${Date.now()}`);
  const { key, cert, caFile } = await makeCertificate(stateDir);

  let initialEstate = loadEstate(options.estate);
  let store = new Store(tenantId);
  store.load(initialEstate);
  const events = new EventFeed();
  events.webhookUrl = options.eventWebhook;
  const log = new RequestLog();
  let rand = seededRandom(options.seed ?? 1);
  const faults = new Faults(rand);
  const throttle = new Throttle({ ...ARM_THROTTLE_DEFAULTS, ...(options.throttle ?? {}) });
  let latency: Latency = { ...(options.latency ?? {}) };
  const keeper = new LatencyKeeper();
  let timing: TimingOptions & LroTimingOptions = { ...(options.timing ?? {}) };
  let vaults = new Vaults(store);
  vaults.timings = effectiveTimings(timing);
  // long-running operations per kind (emulator/lro.ts): the realistic profile's durations, scaled
  let arm = new Arm(store, vaults, events, { pageSize: options.pageSize ?? 100, lroDurationMs: options.lroDurationMs ?? 0, lroByKind: lroDurations(timing) });

  // rows are what ARM's GET of each resource answers
  const resourceGraph = new ResourceGraph(
    () => store,
    (r) => arm.view(r, { origin: handle.armEndpoint, method: "GET", url: new URL(`${r.id}?api-version=2024-05-01`, handle.armEndpoint || "https://127.0.0.1") }),
  );

  const servers: Server[] = [];
  const vaultPorts = new Map<string, number>();

  const handle: EmulatorHandle = {
    armEndpoint: "",
    caFile,
    ca: cert,
    adminUrl: "",
    keyVaults: {},
    tenantId,
    store,
    vaults,
    events,
    log,
    faults,
    throttle,
    arm,
    resourceGraph,
    reset(estate) {
      if (estate !== undefined) initialEstate = loadEstate(estate);
      store = new Store(tenantId);
      store.load(initialEstate);
      const origins = vaults.origins;
      const timings = vaults.timings;
      vaults = new Vaults(store);
      vaults.timings = timings;
      for (const [k, v] of origins) vaults.origins.set(k, v);
      arm = new Arm(store, vaults, events, arm.settings);
      vaults.loadFromStore();
      arm.normalizeEstate();
      Object.assign(handle, { store, vaults, arm });
      events.clear();
      log.clear();
      faults.clear();
      throttle.reset();
      resourceGraph.reset();
      void ensureVaultServers();
    },
    setLatency(l) {
      latency = { ...l };
      keeper.reset();
    },
    setLroDuration(ms) {
      arm.settings = { ...arm.settings, lroDurationMs: ms };
    },
    setTiming(t) {
      const next = { ...timing, ...t };
      vaults.timings = effectiveTimings(next);
      arm.settings = { ...arm.settings, lroByKind: lroDurations(next) };
      timing = next;
    },
    reseed(seed) {
      rand = seededRandom(seed);
      faults.reseed(rand);
    },
    async stop() {
      arm.settleAll();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.close(() => r());
              s.closeAllConnections?.();
            }),
        ),
      );
    },
  };

  const msSince = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e6;

  /** Applies latency and faults; returns true when the request was answered (or dropped) by a fault. */
  async function preamble(hostTag: string, req: IncomingMessage, res: ServerResponse, path: string, kind: OpKind, started: bigint): Promise<{ done: boolean; fault?: string }> {
    const delay = latency[kind] ?? 0;
    if (delay > 0) {
      const wait = keeper.waitMs(kind, delay, msSince(started));
      if (wait > 0) await sleep(wait);
    }
    const rule = faults.match(req.method ?? "GET", path, hostTag);
    if (!rule) return { done: false };
    if (rule.delayMs) await sleep(rule.delayMs);
    if (rule.reset) {
      req.socket.destroy();
      return { done: true, fault: rule.id };
    }
    if (rule.swallow) {
      send(res, { status: 200, body: {} });
      return { done: true, fault: rule.id };
    }
    if (rule.status) {
      const headers: Record<string, string> = {};
      if (rule.retryAfter !== undefined) headers["retry-after"] = String(rule.retryAfter);
      const code = rule.code ?? (rule.status === 429 ? "TooManyRequests" : rule.status >= 500 ? "InternalServerError" : "Conflict");
      send(res, errorReply(new ArmError(rule.status, code, rule.message ?? `Injected fault ${rule.id}.`, headers)));
      return { done: true, fault: rule.id };
    }
    return { done: false, fault: rule.id };
  }

  function callerOf(req: IncomingMessage): Caller | undefined {
    const token = bearerToken(req);
    if (!token) return undefined;
    const claims = decodeJwt(token);
    if (!claims || typeof claims["oid"] !== "string") return undefined;
    return {
      principalId: claims["oid"],
      claims,
      tenantId: typeof claims["tid"] === "string" ? claims["tid"] : tenantId,
      clientIp: req.socket.remoteAddress ?? "127.0.0.1",
    };
  }

  async function onArm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const method = (req.method ?? "GET").toUpperCase();
    const origin = handle.armEndpoint;
    // SDKs that prefix a scope (`/{scope}/providers/...`) send `//subscriptions/...`;
    // a leading `//` would make URL() read "subscriptions" as the host
    const url = new URL((req.url ?? "/").replace(/^\/{2,}/, "/"), origin);
    let path = url.pathname;
    try {
      path = decodeURIComponent(url.pathname) + url.search;
    } catch {
      path = url.pathname + url.search;
    }
    if (url.pathname.startsWith("/_admin")) return admin(req, res, url, method);
    const kind = opKind(method, url.pathname);
    let status = 500;
    let principal: string | null = null;
    let fault: string | undefined;
    try {
      const pre = await preamble("arm", req, res, path, kind, started);
      fault = pre.fault;
      if (pre.done) {
        status = res.headersSent ? res.statusCode : 0; // 0: connection dropped, no response
        return;
      }
      const caller = callerOf(req);
      let reply: Reply;
      if (!caller) {
        reply = errorReply(
          new ArmError(401, bearerToken(req) ? "InvalidAuthenticationToken" : "AuthenticationFailed", bearerToken(req) ? "The access token is invalid." : "Authentication failed. The 'Authorization' header is missing.", {
            "www-authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
          }),
        );
      } else {
        principal = caller.principalId;
        const body = parseJsonBody(method === "GET" || method === "HEAD" ? "" : await readBody(req));
        if (!url.searchParams.get("api-version")) {
          throw new ArmError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
        }
        if (ResourceGraph.handles(url.pathname)) {
          // Resource Graph has its own quota per principal (emulator/resourcegraph.ts), not ARM's buckets
          reply = resourceGraph.handle({ method, url, principalId: caller.principalId, body });
          reply.headers = { ...(reply.headers ?? {}), "x-ms-request-id": cryptoId(), "x-ms-correlation-request-id": String(req.headers["x-ms-client-request-id"] ?? cryptoId()) };
          status = reply.status;
          send(res, reply);
          return;
        }
        const scope = parseId(url.pathname).subscriptionId ?? "tenant";
        const bucket = bucketOf(kind);
        const t = throttle.take(bucket, scope, caller.principalId);
        const rlHeader = `x-ms-ratelimit-remaining-subscription-${bucket}`;
        const globalHeader = `x-ms-ratelimit-remaining-subscription-global-${bucket}`;
        const counts = { [rlHeader]: String(t.remaining), ...(t.globalRemaining !== undefined ? { [globalHeader]: String(t.globalRemaining) } : {}) };
        if (!t.ok) {
          throw new ArmError(429, "SubscriptionRequestsThrottled", `Number of '${bucket.slice(0, -1)}' requests for subscription '${scope}' actor '${caller.principalId}' exceeded. Please try again after '${t.retryAfterSeconds}' seconds after additional tokens are available.`, {
            "retry-after": String(t.retryAfterSeconds),
            ...counts,
          });
        }
        const ifMatch = req.headers["if-match"];
        reply = arm.handle({ method, url, origin, caller, body, ifMatch: typeof ifMatch === "string" ? ifMatch : undefined });
        reply.headers = { ...(reply.headers ?? {}), ...counts };
      }
      reply.headers = { ...(reply.headers ?? {}), "x-ms-request-id": cryptoId(), "x-ms-correlation-request-id": String(req.headers["x-ms-client-request-id"] ?? cryptoId()) };
      status = reply.status;
      send(res, reply);
    } catch (e) {
      const err = e instanceof ArmError ? e : new ArmError(500, "InternalServerError", `Emulator error: ${(e as Error).message}`);
      status = err.status;
      if (!res.headersSent) send(res, errorReply(err));
    } finally {
      const durationMs = msSince(started);
      if (!fault) keeper.observe(kind, latency[kind] ?? 0, durationMs);
      log.add({ time: new Date().toISOString(), host: "arm", method, path, status, principal, kind, durationMs, fault });
    }
  }

  function onVault(vaultName: string) {
    return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const started = process.hrtime.bigint();
      const method = (req.method ?? "GET").toUpperCase();
      const origin = handle.keyVaults[vaultName] ?? "";
      const url = new URL(req.url ?? "/", origin);
      const path = url.pathname + url.search;
      let status = 500;
      let principal: string | null = null;
      let fault: string | undefined;
      try {
        const pre = await preamble(`vault:${vaultName}`, req, res, path, "keyvault", started);
        fault = pre.fault;
        if (pre.done) {
          status = res.headersSent ? res.statusCode : 0; // 0: connection dropped, no response
          return;
        }
        const bodyText = method === "GET" || method === "HEAD" ? "" : await readBody(req);
        const caller = callerOf(req);
        if (!caller) {
          // Key Vault challenge: the SDK's first request carries no token
          status = 401;
          send(res, {
            status: 401,
            headers: { "www-authenticate": `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="https://vault.azure.net"` },
            body: { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } },
          });
          return;
        }
        principal = caller.principalId;
        const reply = vaults.handle(vaultName, origin, method, url, caller.principalId, parseJsonBody(bodyText));
        status = reply.status;
        send(res, reply);
      } catch (e) {
        const err = e instanceof ArmError ? e : new ArmError(500, "InternalServerError", `Emulator error: ${(e as Error).message}`);
        status = err.status;
        if (!res.headersSent) send(res, errorReply(err));
      } finally {
        const durationMs = msSince(started);
        if (!fault) keeper.observe("keyvault", latency.keyvault ?? 0, durationMs);
        log.add({ time: new Date().toISOString(), host: `vault:${vaultName}`, method, path, status, principal, kind: "keyvault", durationMs, fault });
      }
    };
  }

  async function admin(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
    try {
      const body = method === "GET" ? {} : parseJsonBody(await readBody(req));
      const route = `${method} ${url.pathname.replace(/\/+$/, "")}`;
      switch (route) {
        case "GET /_admin":
          return send(res, { status: 200, body: { armEndpoint: handle.armEndpoint, caFile, keyVaults: handle.keyVaults, adminUrl: handle.adminUrl } });
        case "GET /_admin/requests":
          return send(res, { status: 200, body: { requests: log.list(), counters: log.counters } });
        case "DELETE /_admin/requests":
          log.clear();
          return send(res, { status: 204 });
        case "GET /_admin/counters":
          return send(res, { status: 200, body: log.counters });
        case "GET /_admin/events":
          return send(res, { status: 200, body: { events: events.list(Number(url.searchParams.get("since") ?? "0")) } });
        case "DELETE /_admin/events":
          events.clear();
          return send(res, { status: 204 });
        case "GET /_admin/state":
          arm.settleAll();
          return send(res, { status: 200, body: { resources: store.dump(), secrets: vaults.snapshot() } });
        case "POST /_admin/reset":
          handle.reset(Array.isArray(body["resources"]) ? (body["resources"] as Estate) : undefined);
          return send(res, { status: 204 });
        case "GET /_admin/faults":
          return send(res, { status: 200, body: { faults: faults.list() } });
        case "POST /_admin/faults":
          return send(res, { status: 201, body: { id: faults.add(body as FaultRule) } });
        case "DELETE /_admin/faults":
          faults.clear();
          return send(res, { status: 204 });
        case "PUT /_admin/latency":
          handle.setLatency(body as Latency);
          return send(res, { status: 204 });
        case "PUT /_admin/throttle":
          throttle.configure(body as Partial<ThrottleSpec>);
          return send(res, { status: 204 });
        case "PUT /_admin/settings":
          if (typeof body["lroDurationMs"] === "number") handle.setLroDuration(body["lroDurationMs"]);
          if (typeof body["pageSize"] === "number") arm.settings = { ...arm.settings, pageSize: body["pageSize"] };
          if (typeof body["seed"] === "number") handle.reseed(body["seed"]);
          if (typeof body["eventWebhook"] === "string" || body["eventWebhook"] === null) events.webhookUrl = (body["eventWebhook"] as string | null) ?? undefined;
          if (body["timing"] && typeof body["timing"] === "object") handle.setTiming(body["timing"] as TimingOptions);
          return send(res, { status: 204 });
        default:
          if (method === "DELETE" && url.pathname.startsWith("/_admin/faults/")) {
            faults.remove(decodeURIComponent(url.pathname.slice("/_admin/faults/".length)));
            return send(res, { status: 204 });
          }
          return send(res, errorReply(new ArmError(404, "NotFound", `Unknown admin route ${route}.`)));
      }
    } catch (e) {
      const err = e instanceof ArmError ? e : new ArmError(400, "BadRequest", (e as Error).message);
      send(res, errorReply(err));
    }
  }

  async function ensureVaultServers(): Promise<void> {
    for (const v of vaults.vaultResources()) {
      const name = v.name.toLowerCase();
      if (vaultPorts.has(name)) continue;
      vaultPorts.set(name, -1);
      const server = createServer({ key, cert }, (req, res) => void onVault(name)(req, res));
      servers.push(server);
      // with a fixed ARM port, vaults take the ports after it (stable URLs for local.settings.json)
      const wanted = options.port ? options.port + vaultPorts.size : 0;
      let port: number;
      try {
        port = await listen(server, wanted, host);
      } catch {
        port = await listen(server, 0, host);
      }
      vaultPorts.set(name, port);
      const origin = `https://${host}:${port}`;
      handle.keyVaults[name] = origin;
      vaults.origins.set(name, origin);
    }
  }

  const armServer = createServer({ key, cert }, (req, res) => void onArm(req, res));
  servers.push(armServer);
  const port = await listen(armServer, options.port ?? 0, host);
  handle.armEndpoint = `https://${host}:${port}`;
  handle.adminUrl = `${handle.armEndpoint}/_admin`;
  await ensureVaultServers();
  vaults.loadFromStore();
  arm.normalizeEstate();
  return handle;
}

function cryptoId(): string {
  return globalThis.crypto.randomUUID();
}
