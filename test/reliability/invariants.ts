/**
 * The invariants every fault schedule must keep, checked against the
 * emulator's state and request log, the app's storage and the tickets — never
 * against the app's own account of what it did:
 *
 * - every drift of an auto rule is fixed, or ticketed with its reason (or exempted by tag);
 * - every secret named value still resolves to its original value (inline, or through its Key Vault reference);
 * - no write on a resource that was compliant, none outside the configured scope, none at all in dry-run;
 * - at most one open ticket per fingerprint (and none for a drift that is gone), and one ticket per drift ever
 *   (two would mean overlapping syncs each opened one);
 * - every failed message ends processed, or in the poison queue with an audit record;
 * - no seeded secret value in any log line, audit record, compliance row, ticket, result or error;
 * - no lost update of a concurrent user's change; evaluations become quiet;
 * - every write the remediator made has a `started` audit record written before it;
 * - no request to a vault other than the configured one, and no reference the remediator must not
 *   act on (another vault, a secret its named value does not own) opened up;
 * - secret names never collide: every migrated value still resolves to its own value (secretsKept).
 */
import { createHash } from "node:crypto";
import { LocalTokenCredential } from "../../src/azure/clients.js";
import { parseExemptions, ruleMode } from "../../src/engine/engine.js";
import { openStorage } from "../../src/app/storage.js";
import { RULES } from "../../src/remediations/index.js";
import type { Finding } from "../../src/remediations/types.js";
import { ownedBy, SECRET_NAME_CANDIDATES, secretNameFor } from "../../src/remediations/fixes/key-vault.js";
import { fingerprintOf } from "../../src/tickets/content.js";
import type { MemoryTicketProvider } from "../../src/tickets/memory.js";
import { AUDITOR, inScope, isRead, REMEDIATOR, type EstateSpec } from "./estates.js";
import { auditorFindings, outOfScopeState, type RunObservations, type World } from "./harness.js";

/** A value's fingerprint, so a failing check never prints a secret. */
export const fp = (v: string | undefined) => (v === undefined ? "<undefined>" : createHash("sha256").update(v).digest("hex").slice(0, 12));
const norm = (s: string) => s.toLowerCase().replace(/\/{2,}/g, "/").replace(/\/+$/, "");
const sameGuid = (a: string | null | undefined, b: string) => (a ?? "").replace(/-/g, "").toLowerCase() === b.replace(/-/g, "").toLowerCase();

/** Each secret named value, inline or through its Key Vault reference: does it still hold the original value? */
export function secretState(world: World, id: string, resolve: boolean): { ok: boolean; how: string } {
  const r = world.emu.store.get(id);
  if (!r) return { ok: false, how: "the named value is gone" };
  const kv = r.properties["keyVault"] as { secretIdentifier?: string } | undefined;
  if (kv?.secretIdentifier) {
    if (resolve) {
      const res = world.emu.arm.resolveNamedValue(r);
      return res.ok ? { ok: true, how: `reference resolves to ${fp(res.value)}` } : { ok: false, how: `reference does not resolve (${res.code})` };
    }
    const ref = world.emu.vaults.parseIdentifier(kv.secretIdentifier);
    const found = ref ? world.emu.vaults.find(ref.vault.name, ref.secret, ref.version) : undefined;
    return found ? { ok: true, how: `reference holds ${fp(found.v.value)}` } : { ok: false, how: "reference to a secret that does not exist" };
  }
  return { ok: r.properties["secret"] === true, how: `inline ${fp(r.hiddenValue)}${r.properties["secret"] === true ? "" : " (no longer secret)"}` };
}

function secretValueOf(world: World, id: string, resolve: boolean): string | undefined {
  const r = world.emu.store.get(id);
  if (!r) return undefined;
  const kv = r.properties["keyVault"] as { secretIdentifier?: string } | undefined;
  if (kv?.secretIdentifier) {
    if (resolve) {
      const res = world.emu.arm.resolveNamedValue(r);
      return res.ok ? res.value : undefined;
    }
    const ref = world.emu.vaults.parseIdentifier(kv.secretIdentifier);
    return ref ? world.emu.vaults.find(ref.vault.name, ref.secret, ref.version)?.v.value : undefined;
  }
  return r.properties["secret"] === true ? r.hiddenValue : undefined;
}

function secretsKept(world: World, spec: EstateSpec, resolve: boolean, label: string): string[] {
  const out: string[] = [];
  for (const s of spec.secrets) {
    // a reference that did not resolve at the start must still hold the value (it resolves once repaired; under a ReadOnly lock it cannot be)
    const v = secretValueOf(world, s.id, resolve && (!s.unresolvedAtStart || secretState(world, s.id, true).ok));
    if (v !== s.value) out.push(`secret lost ${label}: ${s.id} expected ${fp(s.value)}, ${secretState(world, s.id, resolve).how}`);
  }
  return out;
}

function oneOpenTicketPerFingerprint(tickets: MemoryTicketProvider, label: string): string[] {
  const open = new Map<string, number>();
  for (const t of tickets.tickets) if (t.state === "open") open.set(t.fingerprint, (open.get(t.fingerprint) ?? 0) + 1);
  return [...open.entries()].filter(([, n]) => n > 1).map(([f, n]) => `${n} open tickets for fingerprint ${f} ${label}`);
}

/** One ticket per drift, ever: a second ticket for a fingerprint (open or closed since) means two syncs opened one each (overlapping workers). */
function oneTicketPerDrift(tickets: MemoryTicketProvider, label: string): string[] {
  const made = new Map<string, number>();
  for (const t of tickets.tickets) made.set(t.fingerprint, (made.get(t.fingerprint) ?? 0) + 1);
  return [...made.entries()].filter(([, n]) => n > 1).map(([f, n]) => `${n} tickets opened for one drift (fingerprint ${f}) ${label}`);
}

/** Mid-run: the secrets are recoverable (the value is inline, or in the vault the reference names) and tickets are not duplicated. */
export function checkRecoverable(world: World, spec: EstateSpec, tickets: MemoryTicketProvider, label: string): string[] {
  return [...secretsKept(world, spec, false, label), ...oneOpenTicketPerFingerprint(tickets, label), ...oneTicketPerDrift(tickets, label)];
}

const isExempt = (spec: EstateSpec, world: World, f: Finding, tag: string): boolean => {
  const svc = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.apimanagement\/service\/[^/]+)/i.exec(f.resourceId)?.[1];
  const r = svc ? world.emu.store.get(svc) : undefined;
  const ex = parseExemptions(r?.tags?.[tag], new Date());
  void spec;
  return ex.rules.has("*") || ex.rules.has(f.ruleId);
};

/** The writes the remediator may make, from the drifts it had to fix (in scope, not exempted, auto in enforce mode). */
function allowedWrites(obs: RunObservations, world: World): { arm: Set<string>; lockServices: Set<string>; nvActions: Set<string>; vaultSecrets: Set<string> } {
  const arm = new Set<string>();
  const lockServices = new Set<string>();
  const nvActions = new Set<string>();
  const vaultSecrets = new Set<string>();
  if (obs.config.mode !== "enforce") return { arm, lockServices, nvActions, vaultSecrets };
  for (const f of obs.before) {
    if (f.status !== "fail" || !inScope(f.resourceId, obs.spec.scope)) continue;
    const rule = RULES.find((r) => r.meta.id === f.ruleId);
    if (!rule?.remediation || ruleMode(obs.config, rule) !== "enforce" || isExempt(obs.spec, world, f, obs.config.exemptTag)) continue;
    arm.add(norm(f.resourceId));
    if (f.ruleId === "resource-lock") lockServices.add(norm(f.resourceId));
    if (f.ruleId === "named-value-secrets-in-key-vault") {
      nvActions.add(norm(f.resourceId));
      const m = /\/service\/([^/]+)\/namedValues\/([^/]+)$/i.exec(f.resourceId);
      // the migration's names: the first, and the next ones it takes when a soft-deleted name belongs to someone else
      if (m) for (let n = 0; n < SECRET_NAME_CANDIDATES; n++) vaultSecrets.add(secretNameFor(m[1] as string, m[2] as string, n).toLowerCase());
      const ref = (world.emu.store.get(f.resourceId)?.properties["keyVault"] as { secretIdentifier?: string } | undefined)?.secretIdentifier;
      const parsed = ref ? world.emu.vaults.parseIdentifier(ref) : undefined;
      // a repair may grant only on a secret of the configured vault that this named value owns
      const owner = parsed ? world.emu.vaults.find(parsed.vault.name, parsed.secret)?.v.tags : undefined;
      if (parsed && m && parsed.vault.name.toLowerCase() === obs.spec.vaultName.toLowerCase() && ownedBy(owner, /^(.*)\/namedValues\//i.exec(f.resourceId)?.[1] ?? "", m[2] as string)) vaultSecrets.add(parsed.secret.toLowerCase());
    }
  }
  return { arm, lockServices, nvActions, vaultSecrets };
}

function checkWrites(obs: RunObservations, world: World): string[] {
  const out: string[] = [];
  const allowed = allowedWrites(obs, world);
  const kvId = norm(obs.spec.vaultResourceId);
  for (const l of world.emu.log.list()) {
    if (isRead(l) || !sameGuid(l.principal, REMEDIATOR)) continue;
    const path = norm(l.path.split("?")[0] as string);
    const what = `${l.method} ${l.host === "arm" ? "" : `${l.host} `}${l.path.split("?")[0]}`;
    if (obs.config.mode !== "enforce") {
      out.push(`a write in dry-run mode: ${what}`);
      continue;
    }
    if (l.method === "DELETE") {
      out.push(`a delete: ${what}`);
      continue;
    }
    if (l.host.startsWith("vault:")) {
      const name = /^\/secrets\/([^/]+)$/.exec(path)?.[1];
      if (l.host !== `vault:${obs.spec.vaultName.toLowerCase()}` || !name || !allowed.vaultSecrets.has(name)) out.push(`a vault write that no drift called for: ${what}`);
      continue;
    }
    if (!inScope(path, obs.spec.scope)) {
      out.push(`a write outside the configured scope: ${what}`);
      continue;
    }
    const lock = /^(.*\/providers\/microsoft\.apimanagement\/service\/[^/]+)\/providers\/microsoft\.authorization\/locks\/[^/]+$/.exec(path);
    if (lock) {
      if (!allowed.lockServices.has(lock[1] as string)) out.push(`a lock written on a service whose lock was compliant: ${what}`);
      continue;
    }
    const grant = /^(.*)\/secrets\/([^/]+)\/providers\/microsoft\.authorization\/roleassignments\/[^/]+$/.exec(path);
    if (grant) {
      if (grant[1] !== kvId || !allowed.vaultSecrets.has(grant[2] as string)) out.push(`a role assignment no migration called for: ${what}`);
      continue;
    }
    const action = /^(.*)\/(listvalue|refreshsecret)$/.exec(path);
    if (action) {
      if (!allowed.nvActions.has(action[1] as string)) out.push(`a named value action on a compliant named value: ${what}`);
      continue;
    }
    if (!allowed.arm.has(path)) out.push(`a write on a resource that was compliant: ${what}`);
  }
  return out;
}

async function checkDriftsTicketed(obs: RunObservations, world: World, final: Finding[]): Promise<string[]> {
  const out: string[] = [];
  const open = new Map(obs.tickets.tickets.filter((t) => t.state === "open").map((t) => [t.fingerprint, t]));
  const failing = new Set<string>();
  for (const f of final) {
    if (f.status !== "fail") continue;
    const key = fingerprintOf(f.ruleId, f.resourceId);
    failing.add(key);
    if (isExempt(obs.spec, world, f, obs.config.exemptTag)) continue;
    const t = open.get(key);
    const rule = RULES.find((r) => r.meta.id === f.ruleId);
    if (!t) {
      out.push(`${rule?.meta.defaultAction === "auto" ? "an auto drift" : "a drift"} neither fixed nor ticketed: ${f.ruleId} ${f.resourceId}`);
      continue;
    }
    if (rule?.meta.defaultAction === "auto") {
      const text = [t.body, ...t.comments].join("\n");
      if (!/Not applied/.test(text)) out.push(`the ticket of ${f.ruleId} ${f.resourceId} does not say why it was not fixed`);
    }
  }
  // a lost ticket table forgets the tickets it mapped: those of drifts fixed afterwards are not closed (a known limitation; see docs/reliability.md)
  if (obs.envs.length === 1) for (const t of open.values()) if (!failing.has(t.fingerprint)) out.push(`an open ticket for a drift that is gone: ${t.ruleId} ${t.resourceId}`);
  return out;
}

async function checkMessages(obs: RunObservations): Promise<string[]> {
  const out: string[] = [];
  const storage = await openStorage(obs.recoveryEnv, new LocalTokenCredential(AUDITOR));
  const audit = await storage.audit.list();
  const poisonTexts = new Set<string>();
  const peek = await storage.poisonQueue.peekMessages({ numberOfMessages: 32 });
  for (const m of peek.peekedMessageItems) poisonTexts.add(m.messageText);
  for (const m of obs.tracker.messages.values()) {
    if (m.wiped) continue;
    if (!m.processed && !m.poisoned) {
      out.push(`a message neither processed nor poisoned: ${m.serviceId} (${m.failures} failures, received ${m.received} times${m.crashed ? ", in flight at the crash" : ""})`);
      continue;
    }
    if (m.poisoned) {
      if (!poisonTexts.has(m.text)) out.push(`a poisoned message is not in the poison queue: ${m.serviceId}`);
      if (!audit.some((a) => a.ruleId === "*" && a.outcome === "failed" && a.correlationId === m.correlationId)) out.push(`a poisoned message has no audit record: ${m.serviceId} ${m.correlationId}`);
    }
  }
  const left = (await storage.evaluateQueue.getProperties()).approximateMessagesCount ?? 0;
  if (left > 0) out.push(`${left} message(s) left in the evaluation queue`);
  return out;
}

async function checkHygiene(obs: RunObservations): Promise<string[]> {
  const texts: Array<[string, string]> = [
    ["a log line", obs.logLines.join("\n")],
    ["an error", obs.errors.join("\n")],
    ["a ticket", JSON.stringify(obs.tickets.tickets)],
    ["an evaluation result", JSON.stringify(obs.outcomes)],
  ];
  for (const env of obs.envs) {
    const storage = await openStorage(env, new LocalTokenCredential(AUDITOR));
    texts.push(["an audit record", JSON.stringify(await storage.audit.list())], ["a compliance row", JSON.stringify(await storage.compliance.list())]);
  }
  const out: string[] = [];
  for (const v of obs.spec.seeded) for (const [what, text] of texts) if (text.includes(v)) out.push(`secret ${fp(v)} appears in ${what}`);
  return out;
}

function checkUserWrites(obs: RunObservations, world: World): string[] {
  const out: string[] = [];
  for (const [id, w] of obs.userWrites) {
    const r = world.emu.store.get(id);
    if (JSON.stringify(r?.properties[w.field]) !== JSON.stringify(w.value)) out.push(`lost update: the user's ${w.field} of ${id} was overwritten`);
  }
  return out;
}

/** No request of the remediator's reached a vault it is not configured for, and no foreign reference resolves. */
function checkVaultGuards(obs: RunObservations, world: World): string[] {
  const out: string[] = [];
  const configured = `vault:${obs.spec.vaultName.toLowerCase()}`;
  for (const l of world.emu.log.list()) {
    if (l.host.startsWith("vault:") && l.host.toLowerCase() !== configured && sameGuid(l.principal, REMEDIATOR)) out.push(`a request to a vault that is not the configured one: ${l.method} ${l.host} ${l.path.split("?")[0]}`);
  }
  for (const s of obs.spec.secrets) if (s.foreign && secretState(world, s.id, true).ok) out.push(`a reference the remediator must not act on was opened up: ${s.id}`);
  return out;
}

/** The service a write belongs to (ARM path under a service), or undefined for vault and role-assignment writes. */
const serviceOfPath = (path: string) => /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.apimanagement\/service\/[^/]+)/.exec(norm(path))?.[1];

/** Every write by the remediator has a `started` audit record, written before it, of a fix on that service (or of a Key Vault migration). */
async function checkAuditComplete(obs: RunObservations, world: World): Promise<string[]> {
  const started: Array<{ time: number; service?: string; ruleId: string }> = [];
  for (const env of obs.envs) {
    const storage = await openStorage(env, new LocalTokenCredential(AUDITOR));
    for (const a of await storage.audit.list()) if (a.outcome === "started") started.push({ time: Date.parse(a.time), service: serviceOfPath(a.targetId ?? a.resourceId), ruleId: a.ruleId });
  }
  const out: string[] = [];
  for (const l of world.emu.log.list()) {
    if (isRead(l) || !sameGuid(l.principal, REMEDIATOR)) continue;
    const path = l.path.split("?")[0] as string;
    if (/\/listvalue$/i.test(path)) continue; // a read that ARM spells as POST
    const at = Date.parse(l.time);
    const svc = l.host === "arm" ? serviceOfPath(path) : undefined;
    const kvWrite = l.host.startsWith("vault:") || /\/providers\/microsoft\.authorization\/roleassignments\//i.test(path);
    const covered = started.some((s) => s.time <= at && (svc !== undefined ? s.service === svc : kvWrite && s.ruleId === "named-value-secrets-in-key-vault"));
    if (!covered) out.push(`a write without an audit record before it: ${l.method} ${l.host === "arm" ? "" : `${l.host} `}${path}`);
  }
  return out;
}

/** Every invariant after the schedule; returns the violations (empty when all hold). */
export async function checkInvariants(obs: RunObservations, world: World): Promise<string[]> {
  const out: string[] = [...obs.midViolations];
  const after = outOfScopeState(world, obs.spec);
  if (after !== obs.outOfScopeBefore) {
    const b = new Map((JSON.parse(obs.outOfScopeBefore) as Array<{ id: string }>).map((r) => [r.id, JSON.stringify(r)]));
    const changed = (JSON.parse(after) as Array<{ id: string }>).filter((r) => b.get(r.id) !== JSON.stringify(r)).map((r) => r.id);
    out.push(`a resource outside the configured scope changed: ${changed.slice(0, 3).join(", ")}`);
    if (process.env["FAULT_DEBUG"]) for (const id of changed.slice(0, 2)) console.error(`before: ${b.get(id)}\nafter:  ${JSON.stringify((JSON.parse(after) as Array<{ id: string }>).find((r) => r.id === id))}`);
  }
  out.push(...secretsKept(world, obs.spec, true, "at the end"));
  out.push(...checkWrites(obs, world));
  out.push(...oneOpenTicketPerFingerprint(obs.tickets, "at the end"));
  out.push(...oneTicketPerDrift(obs.tickets, "at the end"));
  if (!obs.quiet) out.push(`evaluations did not become quiet within ${obs.recoveryRounds} recovery rounds: ${obs.rounds.join("; ")}`);
  const { createClients } = await import("../../src/azure/clients.js");
  const { loadConfig } = await import("../../src/common/config.js");
  const auditor = createClients(loadConfig({ ARM_ENDPOINT: world.emu.armEndpoint, ARM_CA_FILE: world.emu.caFile, REMEDIATOR_PRINCIPAL_ID: AUDITOR, ARM_MAX_RETRIES: "0" }));
  const final = await auditorFindings(auditor, obs.spec, obs.config);
  if (obs.config.mode === "enforce") {
    for (const f of final) {
      const rule = RULES.find((r) => r.meta.id === f.ruleId);
      if (f.status === "fail" && rule?.remediation && ruleMode(obs.config, rule) === "enforce" && !isExempt(obs.spec, world, f, obs.config.exemptTag) && !obs.before.some((b) => b.ruleId === f.ruleId && norm(b.resourceId) === norm(f.resourceId) && b.status === "fail")) {
        out.push(`a new drift appeared: ${f.ruleId} ${f.resourceId}`);
      }
    }
  }
  out.push(...(await checkDriftsTicketed(obs, world, final)));
  out.push(...(await checkMessages(obs)));
  out.push(...(await checkHygiene(obs)));
  out.push(...checkUserWrites(obs, world));
  out.push(...checkVaultGuards(obs, world));
  out.push(...(await checkAuditComplete(obs, world)));
  return out;
}
