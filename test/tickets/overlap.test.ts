/**
 * One ticket per drift when ticket syncs overlap (two workers evaluating the
 * same service, e.g. after one lost its lease): each worker has its own
 * TicketManager and its own Table client on the same Azurite table, the
 * provider is slow, and both sync the same drift at once. The mapping row is
 * claimed (conditional insert / If-Match update) before a ticket is searched
 * for or opened, so the second sync leaves the drift to the first. And the
 * crash window: a claim whose worker died is left alone while it is fresh,
 * and taken over after the timeout — the provider search then finds a ticket
 * the dead worker had opened, so there is still only one.
 */
import { TableClient } from "@azure/data-tables";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { TableTicketStore } from "../../src/app/ticket-store.js";
import { RULES } from "../../src/remediations/index.js";
import type { Finding } from "../../src/remediations/types.js";
import { buildTicket, fingerprintOf } from "../../src/tickets/content.js";
import { GitHubProvider } from "../../src/tickets/github.js";
import { MemoryTicketStore, TicketManager, type SyncInput } from "../../src/tickets/manager.js";
import { MemoryTicketProvider } from "../../src/tickets/memory.js";
import type { TicketContent, TicketProvider, TicketRef } from "../../src/tickets/types.js";
import { STORAGE_PREFIX } from "../helpers/app.js";
import { FakeGitHub, startFakeGitHub } from "../helpers/fake-github.js";

const SVC = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim1";
const rule = RULES.find((r) => r.meta.id === "api-https-only")!;
const finding: Finding = { ruleId: rule.meta.id, resourceId: `${SVC}/apis/echo`, status: "fail", severity: rule.meta.severity, message: "API 'echo' accepts http.", action: rule.meta.defaultAction };
const FP = fingerprintOf(rule.meta.id, finding.resourceId);
const input = (id: string, present = true): SyncInput => ({
  serviceId: SVC,
  correlationId: id,
  rulesEvaluated: [rule.meta.id],
  findings: [present ? finding : { ...finding, status: "pass" }],
  drifts: present ? [{ rule, finding, outcome: "planned", reason: "dry-run" }] : [],
});
const content = (): TicketContent => buildTicket({ rule, finding, serviceId: SVC, outcome: "planned", reason: "dry-run" });

/** The in-memory provider, answering each call after `delayMs` (a slow ticket system). */
class SlowProvider implements TicketProvider {
  readonly name = "memory";
  constructor(
    readonly inner: MemoryTicketProvider,
    private readonly delayMs: number,
  ) {}
  private async slow<T>(f: () => Promise<T>): Promise<T> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    return f();
  }
  find(fp: string) {
    return this.slow(() => this.inner.find(fp));
  }
  open(c: TicketContent) {
    return this.slow(() => this.inner.open(c));
  }
  comment(r: TicketRef, t: string) {
    return this.slow(() => this.inner.comment(r, t));
  }
  close(r: TicketRef, t: string) {
    return this.slow(() => this.inner.close(r, t));
  }
  reopen(r: TicketRef, c: TicketContent, t: string) {
    return this.slow(() => this.inner.reopen(r, c, t));
  }
}

let tables = 0;
/** A fresh mapping table, and a second client on it (another worker's). */
async function sharedTable(): Promise<[TableClient, TableClient]> {
  const conn = inject("azuriteConnectionString");
  const name = `${STORAGE_PREFIX}ovl${tables++}`;
  const a = TableClient.fromConnectionString(conn, name, { allowInsecureConnection: true });
  await a.createTable();
  return [a, TableClient.fromConnectionString(conn, name, { allowInsecureConnection: true })];
}

describe("overlapping ticket syncs open one ticket per drift", () => {
  let gh: FakeGitHub;
  const github = () => new GitHubProvider({ apiUrl: gh.apiUrl, repo: gh.repoFullName, token: gh.token }, { sleep: () => Promise.resolve(), baseDelayMs: 1 });
  beforeAll(async () => {
    gh = await startFakeGitHub();
  });
  afterAll(() => gh.stop());
  beforeEach(() => gh.reset());

  it("two workers (Table storage) against a slow GitHub: one issue, one mapping; the loser opens nothing", async () => {
    const [ta, tb] = await sharedTable();
    const a = new TicketManager(github(), new TableTicketStore(ta), { commentIntervalMs: 3600_000 });
    const b = new TicketManager(github(), new TableTicketStore(tb), { commentIntervalMs: 3600_000 });
    gh.delayMs = 150;
    const [ra, rb] = await Promise.all([a.sync(input("a")), b.sync(input("b"))]);
    expect(gh.issues).toHaveLength(1);
    expect([...ra.opened, ...rb.opened]).toEqual([FP]);
    expect([...ra.errors, ...rb.errors]).toEqual([]);
    // only the winner searched and created
    expect(gh.calls().filter((c) => c.startsWith("POST") && c.endsWith("/issues"))).toHaveLength(1);
    const row = await new TableTicketStore(ta).get(SVC, FP);
    expect(row).toMatchObject({ ticketId: "1", state: "open", claimedAt: undefined });

    // again, both at once: the mapping says open, so both comment at most; still one issue
    await Promise.all([a.sync(input("a2")), b.sync(input("b2"))]);
    expect(gh.issues).toHaveLength(1);
  });

  it("a drift that comes back is reopened once by two overlapping syncs", async () => {
    const [ta, tb] = await sharedTable();
    const a = new TicketManager(github(), new TableTicketStore(ta), { commentIntervalMs: 3600_000 });
    const b = new TicketManager(github(), new TableTicketStore(tb), { commentIntervalMs: 3600_000 });
    await a.sync(input("open"));
    expect((await a.sync(input("gone", false))).closed).toEqual([FP]);
    gh.delayMs = 150;
    const [ra, rb] = await Promise.all([a.sync(input("back-a")), b.sync(input("back-b"))]);
    expect([...ra.reopened, ...rb.reopened]).toEqual([FP]);
    expect(gh.issues).toHaveLength(1);
    expect(gh.issue(1)).toMatchObject({ state: "open" });
    expect(gh.issue(1)!.comments.filter((c) => c.body.startsWith("The drift is back"))).toHaveLength(1);
  });

  it("the in-memory store and provider (npm run demo) keep the same guarantee", async () => {
    const memory = new MemoryTicketProvider();
    const store = new MemoryTicketStore();
    const slow = new SlowProvider(memory, 50);
    const workers = [0, 1, 2].map(() => new TicketManager(slow, store));
    await Promise.all(workers.map((m, i) => m.sync(input(`w${i}`))));
    expect(memory.tickets.map((t) => t.fingerprint)).toEqual([FP]);
    expect(store.items.get(FP)).toMatchObject({ ticketId: "1", state: "open" });
  });
});

describe("a claim whose worker died (claimed, maybe opened, never recorded)", () => {
  const T0 = Date.parse("2025-06-01T10:00:00Z");
  /** The dead worker's row: claimed at T0, nothing recorded after. */
  const claimRow = { fingerprint: FP, serviceId: SVC, ruleId: rule.meta.id, resourceId: finding.resourceId, provider: "memory", state: "pending" as const, pending: "open" as const, claimedAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString() };

  it("is left alone while fresh, then taken over; the provider search finds the ticket it opened (no duplicate)", async () => {
    const [table] = await sharedTable();
    const store = new TableTicketStore(table);
    const memory = new MemoryTicketProvider();
    expect(await store.insert(claimRow)).toBe(true);
    await memory.open(content()); // it got as far as opening the ticket
    let now = T0 + 60_000;
    const m = new TicketManager(memory, store, { claimTimeoutMs: 5 * 60_000, now: () => now });

    const fresh = await m.sync(input("fresh"));
    expect(fresh).toMatchObject({ opened: [], commented: [], reopened: [], errors: [] });
    expect(memory.tickets).toHaveLength(1);
    expect(memory.tickets[0]!.comments).toEqual([]);
    expect(await store.get(SVC, FP)).toMatchObject({ state: "pending", claimedAt: claimRow.claimedAt });

    now = T0 + 6 * 60_000;
    const later = await m.sync(input("later"));
    expect(later).toMatchObject({ opened: [], commented: [FP], errors: [] });
    expect(memory.tickets).toHaveLength(1);
    expect(await store.get(SVC, FP)).toMatchObject({ ticketId: "1", state: "open", claimedAt: undefined });
  });

  it("taken over after the timeout when it had opened nothing: exactly one ticket is opened", async () => {
    const [table] = await sharedTable();
    const store = new TableTicketStore(table);
    const memory = new MemoryTicketProvider();
    expect(await store.insert(claimRow)).toBe(true);
    const m = new TicketManager(memory, store, { claimTimeoutMs: 5 * 60_000, now: () => T0 + 6 * 60_000 });
    expect((await m.sync(input("takeover"))).opened).toEqual([FP]);
    expect(memory.tickets).toHaveLength(1);
  });

  it("a drift gone meanwhile does not close over a fresh claim", async () => {
    const [table] = await sharedTable();
    const store = new TableTicketStore(table);
    const memory = new MemoryTicketProvider();
    expect(await store.insert(claimRow)).toBe(true);
    const m = new TicketManager(memory, store, { claimTimeoutMs: 5 * 60_000, now: () => T0 + 1_000 });
    await m.sync(input("gone", false));
    expect(await store.get(SVC, FP)).toMatchObject({ state: "pending", claimedAt: claimRow.claimedAt });
  });
});
