/**
 * `npm run demo`: the whole product on one machine with no Azure, no Core
 * Tools and no network. Azurite (in memory) and the ARM + Key Vault emulator
 * start on free ports; the same handlers the Functions host runs are driven
 * locally: emulator events go to onResourceEvent, one sweep runs, and the
 * queue is drained through evaluate. Then a "user" changes things through the
 * emulator and each change is fixed (or, with --dry-run, ticketed) within seconds.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startAzurite } from "../local/azurite.js";
import { handleEvents, sweep, type AppDeps } from "../app/app.js";
import { createClients, LocalTokenCredential } from "../azure/clients.js";
import { loadConfig } from "../common/config.js";
import { drainQueue } from "../local/driver.js";
import type { ActionResult } from "../engine/engine.js";
import { buildAppDeps } from "../app/runtime.js";
import { detect, needsOf } from "../engine/scan.js";
import { collectSnapshot } from "../azure/collector.js";
import { DEFAULT_RULE_OPTIONS, RULES } from "../remediations/index.js";
import type { Finding } from "../remediations/types.js";
import { MemoryTicketProvider } from "../tickets/memory.js";
import { TicketManager } from "../tickets/manager.js";
import { TableTicketStore } from "../app/ticket-store.js";
import { InputError, readInputFile } from "../engine/offline.js";

export interface DemoIO {
  out: (s: string) => void;
}

const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const USER = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
const REMEDIATOR = "0e5a0000-0000-4000-8000-00000000beef";
const KV_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-apim`;
const PROD = { rg: "rg-apim-prod", name: "apim-contoso-prod" };
/** The demo estate's Log Analytics workspace: where resource-logs-enabled sends the resource logs of a service without them. */
const LAW_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.OperationalInsights/workspaces/law-contoso-apim`;

type Tally = { fail: number; pass: number; unknown: number; failing: string[] };

async function compliance(deps: AppDeps, services: string[]): Promise<Map<string, Tally>> {
  const rules = [...RULES];
  const out = new Map<string, Tally>();
  for (const id of services) {
    const snap = await collectSnapshot(deps.clients, id, needsOf(rules));
    const findings: Finding[] = detect([snap], rules, DEFAULT_RULE_OPTIONS);
    const t: Tally = { fail: 0, pass: 0, unknown: 0, failing: [] };
    for (const f of findings) {
      t[f.status]++;
      if (f.status === "fail" && !t.failing.includes(f.ruleId)) t.failing.push(f.ruleId);
    }
    out.set(id, t);
  }
  return out;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => "  " + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] ?? 0))).join("  ")).join("\n") + "\n";
}

const short = (id: string) => id.split("/").pop() ?? id;
const some = (ids: string[]) => (ids.length <= 4 ? ids.join(", ") : `${ids.slice(0, 4).join(", ")} +${ids.length - 4} more`);
/** A resource relative to its service (`apim-contoso-dev/apis/echo`). */
const underService = (id: string) => id.split("/service/")[1] ?? id;

/** What became of one drift (a rule failing on a resource), by the evaluation's last word on it. */
export type DriftFate = "fixed" | "ticketed" | "failed" | "other";
export function fateOf(outcome: ActionResult["outcome"]): DriftFate {
  if (outcome === "applied") return "fixed";
  if (outcome === "planned" || outcome === "not-remediable") return "ticketed";
  if (outcome === "failed" || outcome === "rolled-back") return "failed";
  return "other";
}

interface Drift {
  action: ActionResult;
  /** The sweep found it, or a portal change made it. */
  source: "sweep" | "portal";
}

/** Drifts by rule and resource: an evaluation that sees the same drift again (a follow-up event) counts it once, with its last outcome. */
function addDrifts(into: Map<string, Drift>, actions: ActionResult[], source: Drift["source"]): void {
  for (const a of actions) {
    const key = `${a.ruleId} ${a.resourceId.toLowerCase()}`;
    into.set(key, { action: a, source: into.get(key)?.source ?? source });
  }
}

/** At most `max` lines, then "+N more". */
function capped(lines: string[], max: number): string[] {
  return lines.length <= max ? lines : [...lines.slice(0, max), `+${lines.length - max} more`];
}
const MAX_LISTED = 60;

/**
 * The demo's estate file, read as `scan --input` reads (bounded, regular files only) and checked as the
 * emulator loads it (an ARM resource list, or `{ resources: [...] }`, every entry with an "id" path);
 * throws InputError naming the file.
 */
export function readEstate(file: string): unknown[] {
  let value: unknown;
  try {
    value = readInputFile(file);
  } catch (e) {
    throw e instanceof InputError ? new InputError(`--estate ${e.message}`) : e;
  }
  const list = Array.isArray(value) ? value : value !== null && typeof value === "object" && Array.isArray((value as { resources?: unknown }).resources) ? ((value as { resources: unknown[] }).resources) : undefined;
  if (!list) throw new InputError(`--estate ${file}: expected a JSON array of ARM resources or an object with a 'resources' array`);
  const bad = list.findIndex((r) => r === null || typeof r !== "object" || typeof (r as { id?: unknown }).id !== "string" || !(r as { id: string }).id.startsWith("/"));
  if (bad >= 0) throw new InputError(`--estate ${file}: entry ${bad + 1} has no ARM "id" (a path such as /subscriptions/...)`);
  return list;
}

/**
 * `realistic`: the emulator takes Azure's documented durations (service updates: minutes; a role
 * assignment: minutes to take effect) times `timeScale` (real ms per Azure ms), so the demo shows the
 * same sequence as Azure (in progress, then done), quickly.
 */
/** Real ms per Azure ms in the demo's realistic profile: a 30-minute service update takes 180 ms. */
export const DEMO_TIME_SCALE = 0.0001;

export async function runDemo(options: { dryRun: boolean; estate?: string; realistic?: boolean; timeScale?: number }, io: DemoIO): Promise<number> {
  const started = Date.now();
  const say = (s = "") => io.out(s + "\n");
  // the estate is checked before anything starts: a bad --estate is one line (exit 2) and no process left behind
  const estate = readEstate(options.estate ?? resolve("emulator/estates/demo.json"));
  say(`apim-remediator demo (${options.dryRun ? "dry-run: tickets instead of changes" : "enforce"}) — Azurite + the bundled ARM/Key Vault emulator, no Azure needed`);
  const azurite = await startAzurite();
  let emu: import("../../emulator/server.js").EmulatorHandle;
  try {
    // The CLI may start the emulator; src/ never imports it statically.
    const emulatorPath = "../../emulator/server.js";
    const { start } = (await import(emulatorPath)) as typeof import("../../emulator/server.js");
    emu = await start({
      estate: estate as Parameters<typeof start>[0]["estate"],
      stateDir: mkdtempSync(join(tmpdir(), "apim-demo-")),
      ...(options.realistic ? { timing: { profile: "realistic" as const, timeScale: options.timeScale ?? DEMO_TIME_SCALE } } : {}),
    });
    if (options.realistic) say(`Emulator profile: realistic — Azure's durations (service updates ~30 min, role assignments ~5 min to take effect) × ${options.timeScale ?? DEMO_TIME_SCALE}`);
  } catch (e) {
    await azurite.stop();
    throw e;
  }
  const pendingEvents: Promise<unknown>[] = [];
  try {
    const env = {
      AzureWebJobsStorage: azurite.connectionString,
      ARM_ENDPOINT: emu.armEndpoint,
      ARM_CA_FILE: emu.caFile,
      REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
      REMEDIATOR_SUBSCRIPTIONS: SUB,
      REMEDIATOR_MODE: options.dryRun ? "dry-run" : "enforce",
      REMEDIATOR_DEBOUNCE_SECONDS: "1",
      KEY_VAULT_URL: emu.keyVaults["kv-contoso-apim"],
      KEY_VAULT_RESOURCE_ID: KV_ID,
      REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: LAW_ID,
      LOG_LEVEL: "silent",
    };
    const deps = await buildAppDeps(env, { leaseRetrySeconds: 1, engineTimings: { pollIntervalMs: 200, backoffMs: 500 } });
    // tickets go to an in-memory tracker here; TICKET_PROVIDER selects GitHub, Azure Boards, Jira, ServiceNow or a webhook
    const tracker = new MemoryTicketProvider();
    deps.tickets = new TicketManager(tracker, new TableTicketStore(deps.storage.ticketsTable), { createsPerMinute: 1000 });
    // Event Grid: every ARM event the emulator emits goes to onResourceEvent, as the subscription system topic would deliver it
    const accepted: Array<{ at: number; serviceId: string; resourceId: string }> = [];
    emu.events.on((e) => {
      pendingEvents.push(
        handleEvents(e, deps).then((ds) => {
          for (const d of ds) if (d.accepted && d.serviceId) accepted.push({ at: Date.now(), serviceId: d.serviceId, resourceId: d.changedResourceId ?? d.serviceId });
        }),
      );
    });
    const settle = async () => {
      // wait for events in flight, then drain the queue until it is empty (debounced messages become visible after 1 s)
      for (let round = 0; round < 20; round++) {
        await Promise.all(pendingEvents.splice(0));
        const r = await drainQueue(deps, { visibilityTimeout: 60 });
        const peek = await deps.storage.evaluateQueue.getProperties();
        if (r.processed === 0 && (peek.approximateMessagesCount ?? 0) === 0 && pendingEvents.length === 0) return r;
        if (r.processed === 0) await new Promise((res) => setTimeout(res, 250));
        actions.push(...r.outcomes.flatMap((o) => (o.kind === "evaluated" ? o.result.actions : [])));
      }
      return undefined;
    };
    const actions: ActionResult[] = [];

    const services = (await sweep({ ...deps, log: deps.log }, "demo-discovery")).sort();
    await deps.storage.evaluateQueue.clearMessages();
    const before = await compliance(deps, services);
    say(`\n1. Before: ${services.length} services in subscription ${SUB}`);
    say(table([["SERVICE", "FAIL", "PASS", "UNKNOWN", "FAILING RULES"], ...services.map((s) => { const t = before.get(s)!; return [short(s), String(t.fail), String(t.pass), String(t.unknown), some(t.failing)]; })]));

    say("2. Sweep: one message per service, drained through the evaluate handler");
    const t0 = Date.now();
    await sweep(deps, "demo-sweep");
    await settle();
    const drifts = new Map<string, Drift>();
    addDrifts(drifts, actions, "sweep");
    const swept = [...drifts.values()].map((d) => d.action);
    const count = (list: ActionResult[], fate: DriftFate) => list.filter((a) => fateOf(a.outcome) === fate).length;
    const other = count(swept, "other");
    say(`   ${swept.length} drifts: ${count(swept, "fixed")} fixed, ${count(swept, "ticketed")} ticketed, ${count(swept, "failed")} failed${other ? `, ${other} other` : ""} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    // fixed first, then what is ticketed (every one), then anything else
    const order: DriftFate[] = ["fixed", "ticketed", "failed", "other"];
    const label: Record<DriftFate, string> = { fixed: "fixed ", ticketed: "ticket", failed: "FAILED", other: "other " };
    const ruleWidth = Math.max(...RULES.map((r) => r.meta.id.length));
    const listed = order.flatMap((fate) => swept.filter((a) => fateOf(a.outcome) === fate).map((a) => `${label[fate]}  ${a.ruleId.padEnd(ruleWidth)} ${underService(a.resourceId)}${fate === "other" || fate === "failed" ? ` (${a.outcome}${a.reason ? `: ${a.reason}` : ""})` : ""}`));
    for (const line of capped(listed, MAX_LISTED)) say(`   ${line}`);

    say("\n3. A user changes things in the portal (as another principal); each change reaches the app as an event");
    const config = loadConfig({ ARM_ENDPOINT: emu.armEndpoint, ARM_CA_FILE: emu.caFile });
    const user = createClients(config, { credential: new LocalTokenCredential(USER, undefined, { upn: "alex@contoso.example", name: "Alex (portal)" }) });
    const apim = user.apim(SUB);
    const changes: Array<{ service: string; what: string; do: () => Promise<void>; check: () => Promise<boolean> }> = [
      {
        service: PROD.name,
        what: "re-enables HTTP on API 'orders'",
        do: async () => {
          const api = await apim.api.get(PROD.rg, PROD.name, "orders");
          await apim.api.update(PROD.rg, PROD.name, "orders", api.eTag as string, { protocols: ["http", "https"] });
        },
        check: async () => !(await apim.api.get(PROD.rg, PROD.name, "orders")).protocols?.includes("http"),
      },
      {
        service: PROD.name,
        what: "deletes the lock 'do-not-delete'",
        do: async () => void (await user.locks(SUB).managementLocks.deleteAtResourceLevel(PROD.rg, "Microsoft.ApiManagement", "", "service", PROD.name, "do-not-delete")),
        check: async () => {
          try {
            await user.locks(SUB).managementLocks.getAtResourceLevel(PROD.rg, "Microsoft.ApiManagement", "", "service", PROD.name, "do-not-delete");
            return true;
          } catch {
            return false;
          }
        },
      },
      {
        service: PROD.name,
        what: "adds a plain-text secret named value 'payments-api-key'",
        do: async () => void (await apim.namedValue.beginCreateOrUpdateAndWait(PROD.rg, PROD.name, "payments-api-key", { displayName: "payments-api-key", secret: true, value: `demo-${Math.random().toString(36).slice(2, 10)}` }, { updateIntervalInMs: 100 })),
        check: async () => Boolean((await apim.namedValue.get(PROD.rg, PROD.name, "payments-api-key")).keyVault?.secretIdentifier),
      },
    ];
    const timings: Array<{ what: string; seconds: number; fixed: boolean }> = [];
    let ticketCount = tracker.tickets.length;
    for (const c of changes) {
      const t = Date.now();
      await c.do();
      actions.length = 0;
      await settle();
      const fixed = await c.check();
      timings.push({ what: c.what, seconds: (Date.now() - t) / 1000, fixed });
      addDrifts(drifts, actions, "portal");
      const did = actions.filter((a) => a.outcome === "applied" || a.outcome === "planned");
      const ticketsBefore = ticketCount;
      ticketCount = tracker.tickets.length;
      const opened = tracker.tickets.slice(ticketsBefore).map((x) => `#${x.id}`);
      say(`   ${c.service}: user ${c.what} -> ${options.dryRun ? `ticket ${opened.join(", ") || "(updated)"}: ${did.map((a) => a.ruleId).join(", ") || "none"}` : fixed ? `fixed in ${((Date.now() - t) / 1000).toFixed(1)} s (${did.map((a) => a.ruleId).join(", ")})` : "NOT fixed"}`);
    }

    const after = await compliance(deps, services);
    say("\n4. After");
    say(table([["SERVICE", "FAIL before", "FAIL after", "STILL FAILING (ticketed)"], ...services.map((s) => [short(s), String(before.get(s)!.fail), String(after.get(s)!.fail), some(after.get(s)!.failing)])]));
    // every drift counted once: what the sweep found plus what the portal changes made, each fixed, ticketed or failed
    const all = [...drifts.values()];
    const found = [...before.values()].reduce((a, t) => a + t.fail, 0);
    const fromPortal = all.filter((d) => d.source === "portal").length;
    const fates = all.map((d) => d.action);
    const others = fates.filter((a) => fateOf(a.outcome) === "other");
    const notActedOn = found - (all.length - fromPortal);
    say(
      `Summary: ${found} drifts found + ${fromPortal} made by the portal changes = ${found + fromPortal}; ` +
        `${count(fates, "fixed")} fixed, ${count(fates, "ticketed")} ticketed, ${count(fates, "failed")} failed` +
        (others.length ? `, ${others.length} other (${[...new Set(others.map((a) => a.outcome))].join(", ")})` : "") +
        (notActedOn !== 0 ? `; the sweep acted on ${all.length - fromPortal} of the ${found} (the rest: rule off or exempt)` : "") +
        `; ${accepted.length} events accepted (the remediator's own ${emu.events.list().length - accepted.length} ignored or out of scope).`,
    );
    const openTickets = tracker.tickets.filter((x) => x.state === "open");
    // the demo always uses the in-memory provider; TICKET_PROVIDER is what the Functions app and the CLI read
    say(`Tickets: ${openTickets.length} open in the in-memory ticket system (configure a provider: see README, "Dry-run and tickets"), one per drift not fixed automatically:`);
    for (const line of capped(openTickets.map((x) => `#${x.id} [${x.severity}] ${x.title}`), 5)) say(`   ${line}`);
    if (!options.dryRun) say(`Event to fix: ${timings.map((x) => `${x.seconds.toFixed(1)} s`).join(", ")} (debounce 1 s). Total ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    else say("Dry-run: nothing was changed by the remediator. Run `npm run demo` to see the fixes.");
    const ok = options.dryRun || timings.every((x) => x.fixed);
    return ok ? 0 : 1;
  } finally {
    await Promise.allSettled(pendingEvents);
    await emu.stop().finally(() => azurite.stop());
  }
}
