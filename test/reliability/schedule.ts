/**
 * Seeded fault schedules: which estate, which mode, and which faults at which
 * ARM and Key Vault call sites (429 with and without Retry-After, 500, 503,
 * timeouts, connection resets, 412 from a concurrent writer, 409 while the
 * service updates, a write acknowledged but lost), plus a crash of the worker
 * after N requests, a write budget that stops a remediation between two
 * steps, a storage (Azurite) wipe, a concurrent portal user, a ticket
 * system outage and overlapping workers with a slow ticket system. The same
 * seed always gives the same schedule.
 */
import type { FaultRule } from "../../emulator/control.js";
import { Rng } from "./rng.js";

export interface CallSite {
  name: string;
  method: string;
  /** Tested against the decoded path and query (case-insensitive); vault paths start with /secrets/. */
  pathRegex: string;
  /** A write (or POST action): the sites where 412, 409 and lost writes happen. */
  write: boolean;
  vault?: boolean;
}

const Q = "(\\?|$)";

/** Every ARM and Key Vault call the app makes (discovery, the collector, each remediation, LRO polling, the vault). */
export const CALL_SITES: CallSite[] = [
  // discovery
  { name: "subscriptions.list", method: "GET", pathRegex: `^/subscriptions${Q}`, write: false },
  { name: "service.list", method: "GET", pathRegex: `/providers/Microsoft\\.ApiManagement/service${Q}`, write: false },
  // the collector
  { name: "service.get", method: "GET", pathRegex: `/service/[^/?]+${Q}`, write: false },
  { name: "apis.list", method: "GET", pathRegex: `/service/[^/]+/apis${Q}`, write: false },
  { name: "api.revisions", method: "GET", pathRegex: `/apis/[^/]+/revisions${Q}`, write: false },
  { name: "api.get", method: "GET", pathRegex: `/apis/[^/?]+${Q}`, write: false },
  { name: "namedValues.list", method: "GET", pathRegex: `/namedValues${Q}`, write: false },
  { name: "namedValue.get", method: "GET", pathRegex: `/namedValues/[^/?]+${Q}`, write: false },
  { name: "tenant.list", method: "GET", pathRegex: `/tenant${Q}`, write: false },
  { name: "tenant.get", method: "GET", pathRegex: `/tenant/(access|gitAccess)${Q}`, write: false },
  { name: "locks.list", method: "GET", pathRegex: `/Microsoft\\.Authorization/locks${Q}`, write: false },
  { name: "lock.get", method: "GET", pathRegex: `/Microsoft\\.Authorization/locks/[^/?]+${Q}`, write: false },
  { name: "backends.list", method: "GET", pathRegex: `/backends${Q}`, write: false },
  { name: "apimSubscriptions.list", method: "GET", pathRegex: `/service/[^/]+/subscriptions${Q}`, write: false },
  { name: "products.list", method: "GET", pathRegex: `/products${Q}`, write: false },
  { name: "policies.list", method: "GET", pathRegex: `/service/[^/]+/policies${Q}`, write: false },
  { name: "apiPolicies.list", method: "GET", pathRegex: `/apis/[^/]+/policies${Q}`, write: false },
  { name: "operations.list", method: "GET", pathRegex: `/operations${Q}`, write: false },
  { name: "defender.pricing", method: "GET", pathRegex: `/pricings/`, write: false },
  { name: "defender.apiCollection", method: "GET", pathRegex: `/apiCollections/`, write: false },
  { name: "metrics", method: "GET", pathRegex: `/metrics${Q}`, write: false },
  { name: "lro.poll", method: "GET", pathRegex: `/operationResults/`, write: false },
  { name: "roleAssignment.get", method: "GET", pathRegex: `/roleAssignments/[^/?]+${Q}`, write: false },
  // remediations
  { name: "service.patch", method: "PATCH", pathRegex: `/service/[^/?]+${Q}`, write: true },
  { name: "api.patch", method: "PATCH", pathRegex: `/apis/[^/?]+${Q}`, write: true },
  { name: "tenant.patch", method: "PATCH", pathRegex: `/tenant/(access|gitAccess)${Q}`, write: true },
  { name: "lock.put", method: "PUT", pathRegex: `/locks/[^/?]+${Q}`, write: true },
  { name: "namedValue.listValue", method: "POST", pathRegex: `/listValue${Q}`, write: true },
  { name: "namedValue.patch", method: "PATCH", pathRegex: `/namedValues/[^/?]+${Q}`, write: true },
  { name: "namedValue.put", method: "PUT", pathRegex: `/namedValues/[^/?]+${Q}`, write: true },
  { name: "namedValue.refreshSecret", method: "POST", pathRegex: `/refreshSecret${Q}`, write: true },
  { name: "roleAssignment.put", method: "PUT", pathRegex: `/roleAssignments/[^/?]+${Q}`, write: true },
  // Key Vault data plane
  { name: "vault.getSecret", method: "GET", pathRegex: `^/secrets/[^/]+/?${Q}`, write: false, vault: true },
  { name: "vault.getSecretVersion", method: "GET", pathRegex: `^/secrets/[^/]+/[0-9a-f]{32}`, write: false, vault: true },
  { name: "vault.setSecret", method: "PUT", pathRegex: `^/secrets/[^/?]+${Q}`, write: true, vault: true },
];

export type FaultKind = "429-retry-after" | "429" | "500" | "503" | "503-retry-after" | "timeout" | "gateway-timeout" | "reset" | "412" | "409-updating" | "lost-write";

const READ_KINDS: FaultKind[] = ["429-retry-after", "429", "500", "503", "503-retry-after", "timeout", "gateway-timeout", "reset"];
const ARM_WRITE_KINDS: FaultKind[] = [...READ_KINDS, "412", "412", "409-updating", "409-updating", "lost-write"];
const VAULT_WRITE_KINDS: FaultKind[] = [...READ_KINDS, "lost-write"];

export interface PlannedFault {
  site: string;
  kind: FaultKind;
  rule: FaultRule;
}

function faultRule(kind: FaultKind, site: CallSite, rng: Rng, id: string): FaultRule {
  const base: FaultRule = { id, method: site.method, pathRegex: site.pathRegex };
  // how often: a few times in a row, or a seeded fraction of matching requests
  if (rng.chance(0.6)) base.count = rng.int(1, 3);
  else {
    base.probability = rng.pick([0.2, 0.35, 0.5]);
    base.count = rng.int(2, 6);
  }
  if (rng.chance(0.4)) base.after = rng.int(1, 4);
  switch (kind) {
    case "429-retry-after":
      return { ...base, status: 429, code: "SubscriptionRequestsThrottled", retryAfter: rng.pick([0, 0, 1]) };
    case "429":
      return { ...base, status: 429, code: "TooManyRequests" };
    case "500":
      return { ...base, status: 500, code: "InternalServerError" };
    case "503":
      return { ...base, status: 503, code: "ServiceUnavailable" };
    case "503-retry-after":
      return { ...base, status: 503, code: "ServiceUnavailable", retryAfter: 0 };
    case "timeout":
      // the request hangs, then the connection drops without an answer
      return { ...base, delayMs: rng.int(30, 250), reset: true };
    case "gateway-timeout":
      return { ...base, delayMs: rng.int(20, 150), status: 504, code: "GatewayTimeout" };
    case "reset":
      return { ...base, reset: true };
    case "412":
      return { ...base, status: 412, code: "PreconditionFailed", message: "The entity's ETag does not match the If-Match header: it was changed since it was read." };
    case "409-updating":
      return { ...base, status: 409, code: "PessimisticConcurrencyConflict", retryAfter: 0, message: "Operation on the API Management service is in progress; retry after it completes." };
    case "lost-write":
      return { ...base, swallow: true, count: 1 };
  }
}

export interface Schedule {
  seed: number;
  estate: "demo" | "generated";
  /** Services in scope of a generated estate (besides the compliant one). */
  generatedServices: number;
  mode: "enforce" | "dry-run";
  armMaxRetries: number;
  faults: PlannedFault[];
  /** The worker dies after this many Azure requests (everything after fails; storage too). */
  crashAfter?: number;
  /** REMEDIATOR_MAX_WRITES_PER_SERVICE while faults are on: a remediation stops between two steps. */
  writeBudget?: number;
  /** Storage lost its data (an in-memory Azurite restarted): between two drains, or when the worker restarts. */
  wipe?: "mid-run" | "at-restart";
  /** A portal user edits in-scope resources while the worker runs (real ETag changes, real 412s). */
  concurrentWriter: boolean;
  /** Feed the emulator's Event Grid events to onResourceEvent (handleEvents) as well as sweeping. */
  events: boolean;
  /** The ticket system fails this fraction of calls while faults are on. */
  ticketOutage: number;
  /** Demo estate only: discover subscriptions instead of configuring them. */
  discoverSubscriptions: boolean;
  /** Demo estate only: the production service's identity loses read access to its Key Vault reference (a repair: grant, refresh). */
  breakReference?: boolean;
  /** Overlapping workers (see `overlapOf`). */
  overlap?: Overlap;
}

/**
 * Overlapping workers: a second worker drains the queue alongside the first
 * (after its own sweep, as a second Function instance's timer would), the
 * ticket system answers every call `ticketDelayMs` late, and once more than
 * `after` ticket calls (or remediator writes) were made, every service lease
 * is broken — what a lease that expired during a long operation (its renewals
 * failing) looks like: the other worker then takes a service while the first
 * is still evaluating it, and their ticket syncs overlap.
 */
export interface Overlap {
  ticketDelayMs: number;
  breakOn: "ticket" | "write";
  after: number;
}

/** Drawn from its own stream of the seed (so the other draws of a schedule are as before); not with a crash or a mid-run wipe. */
export function overlapOf(seed: number, crashAfter: number | undefined, wipe: Schedule["wipe"]): Overlap | undefined {
  const rng = new Rng(seed).fork("overlap");
  if (!rng.chance(0.25) || crashAfter !== undefined || wipe === "mid-run") return undefined;
  return { ticketDelayMs: rng.int(20, 120), breakOn: rng.pick(["ticket", "write"] as const), after: rng.int(0, 3) };
}

export function makeSchedule(seed: number): Schedule {
  const rng = new Rng(seed);
  const estate = rng.chance(0.5) ? "demo" : "generated";
  const faults: PlannedFault[] = [];
  const nFaults = rng.int(1, 4);
  // the first fault goes to each call site in turn (every site is covered in every run of 35 seeds); the others are drawn
  const forced = CALL_SITES[seed % CALL_SITES.length] as CallSite;
  // two sites are only reached on a repair path: `refreshSecret` repairs a Key Vault reference that does not resolve,
  // the named value PUT restores an inline value when a migration fails after its PATCH (here: the confirming listValue fails)
  const repairPath = forced.name === "namedValue.refreshSecret" || forced.name === "namedValue.put";
  const mode = rng.chance(0.12) && !repairPath ? "dry-run" : "enforce";
  for (let i = 0; i < nFaults; i++) {
    // writes are where most of the interesting failures are: favour them
    const pool = rng.chance(0.55) ? CALL_SITES.filter((s) => s.write) : CALL_SITES.filter((s) => !s.write);
    const site = i === 0 ? forced : rng.pick(pool);
    const kind = rng.pick(site.write ? (site.vault ? VAULT_WRITE_KINDS : site.method === "POST" && /listValue/.test(site.pathRegex) ? READ_KINDS.concat(["409-updating"]) : ARM_WRITE_KINDS) : READ_KINDS);
    const rule = faultRule(kind, site, rng, `f${i}-${site.name}-${kind}`);
    // a repair path is reached once or twice per schedule: its fault fires on the first call
    if (i === 0 && repairPath) {
      delete rule.after;
      delete rule.probability;
    }
    faults.push({ site: site.name, kind, rule });
  }
  if (forced.name === "namedValue.put") faults.push({ site: "namedValue.listValue", kind: "500", rule: { id: "confirm-listValue-500", method: "POST", pathRegex: `/listValue${Q}`, status: 500, code: "InternalServerError", after: 1, count: 1 } });
  const crashAfter = rng.chance(0.25) ? rng.int(3, 120) : undefined;
  const writeBudget = !crashAfter && mode === "enforce" && !repairPath && rng.chance(0.2) ? rng.int(0, 4) : undefined;
  const wipeRoll = rng.next();
  const wipe = wipeRoll < 0.08 ? "mid-run" : wipeRoll < 0.16 ? "at-restart" : undefined;
  const repair = forced.name === "namedValue.refreshSecret" || (estate === "demo" && rng.chance(0.1));
  // retries cost real time (SDK backoff): most schedules let the queue do the retrying (none on a repair path: the fault must reach it)
  const retries = crashAfter ? rng.pick([0, 0, 1]) : rng.pick([0, 0, 1, 1, 2]);
  return {
    seed,
    estate: repairPath ? "demo" : estate,
    breakReference: repair,
    generatedServices: rng.int(3, 5),
    mode,
    armMaxRetries: repairPath ? 0 : retries,
    faults,
    crashAfter,
    writeBudget,
    wipe,
    concurrentWriter: rng.chance(0.3),
    events: rng.chance(0.5),
    ticketOutage: rng.chance(0.15) ? rng.pick([0.3, 0.6, 1]) : 0,
    discoverSubscriptions: estate === "demo" && rng.chance(0.3),
    overlap: overlapOf(seed, crashAfter, wipe),
  };
}

export function describeSchedule(s: Schedule): string {
  const parts = [
    `seed ${s.seed}`,
    `${s.estate}${s.estate === "generated" ? `(${s.generatedServices})` : ""}`,
    s.mode,
    `retries ${s.armMaxRetries}`,
    ...s.faults.map((f) => `${f.kind}@${f.site}${f.rule.count !== undefined ? `x${f.rule.count}` : ""}${f.rule.after ? `+${f.rule.after}` : ""}${f.rule.probability ? `p${f.rule.probability}` : ""}`),
  ];
  if (s.crashAfter !== undefined) parts.push(`crash after ${s.crashAfter} requests`);
  if (s.writeBudget !== undefined) parts.push(`write budget ${s.writeBudget}`);
  if (s.wipe) parts.push(`storage wipe ${s.wipe}`);
  if (s.concurrentWriter) parts.push("concurrent writer");
  if (s.events) parts.push("events");
  if (s.ticketOutage) parts.push(`ticket outage ${s.ticketOutage}`);
  if (s.discoverSubscriptions) parts.push("discover subscriptions");
  if (s.breakReference && s.estate === "demo") parts.push("unreadable Key Vault reference");
  if (s.overlap) parts.push(`overlapping workers (leases broken after ${s.overlap.after} ${s.overlap.breakOn === "ticket" ? "ticket calls" : "writes"}, tickets ${s.overlap.ticketDelayMs} ms late)`);
  return parts.join(", ");
}
