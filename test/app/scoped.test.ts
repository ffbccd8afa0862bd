/**
 * Event-driven evaluations read no more than the change can affect:
 * - an event on an API (or anything under it) reads and judges only that API
 *   (every revision, its policies and operations); verdicts and tickets of the
 *   other APIs stay as they are, and a deleted API's verdicts and tickets go;
 * - an event on the service itself runs the rules that read only the service
 *   first (their fix lands before any collection is read), then every other rule.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventGridEvent } from "../../emulator/events.js";
import { handleEvents, namesService, scopeForChanges, type AppDeps } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import { encodeMessage } from "../../src/app/storage.js";
import { MemoryTicketStore, TicketManager } from "../../src/tickets/manager.js";
import { MemoryTicketProvider } from "../../src/tickets/memory.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { child, PORTAL_USER, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const NAME = "apim-scoped";
const SVC = serviceId(NAME);
const API = (name: string, protocols: string[]) =>
  child(NAME, `apis/${name}`, "Microsoft.ApiManagement/service/apis", { displayName: name, path: name, protocols, serviceUrl: `https://${name}.internal.example`, subscriptionRequired: true, isCurrent: true, apiRevision: "1" });
const ESTATE = [
  service(NAME, { apiVersionConstraint: {} }),
  API("a1", ["http", "https"]),
  API("a2", ["http", "https"]),
  API("a3", ["http", "https"]),
  API("a4", ["https"]),
  child(NAME, "namedValues/plain", "Microsoft.ApiManagement/service/namedValues", { displayName: "plain", secret: false, value: "v" }),
];

const path = (p: string) => (p.split("?")[0] ?? "").toLowerCase();

describe("scopeForChanges / namesService", () => {
  it("scopes API changes to their API names, revisions and children included", () => {
    expect(scopeForChanges(SVC, [`${SVC}/apis/Orders`, `${SVC}/apis/orders;rev=2`, `${SVC}/apis/users/operations/get/policies/policy`])).toEqual({ apis: ["orders", "users"] });
  });
  it("does not scope anything else", () => {
    expect(scopeForChanges(SVC, "all")).toBeUndefined();
    expect(scopeForChanges(SVC, [])).toBeUndefined();
    expect(scopeForChanges(SVC, [SVC])).toBeUndefined();
    expect(scopeForChanges(SVC, [`${SVC}/apis`])).toBeUndefined();
    expect(scopeForChanges(SVC, [`${SVC}/apis/a1`, `${SVC}/namedValues/x`])).toBeUndefined();
    expect(scopeForChanges(SVC, [`${SVC}-other/apis/a1`])).toBeUndefined();
    expect(scopeForChanges(SVC, Array.from({ length: 11 }, (_, i) => `${SVC}/apis/api-${i}`))).toBeUndefined();
  });
  it("tells when a change names the service itself", () => {
    expect(namesService(SVC, [SVC.toUpperCase()])).toBe(true);
    expect(namesService(SVC, [`${SVC}/apis/a1`])).toBe(false);
    expect(namesService(SVC, "all")).toBe(false);
  });
});

describe("an API event evaluates that API only", () => {
  let env: TestEnv;
  let deps: AppDeps;
  let provider: MemoryTicketProvider;
  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
    deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run" });
    await clearAppStorage(deps);
    provider = new MemoryTicketProvider();
    deps.tickets = new TicketManager(provider, new MemoryTicketStore());
  });
  afterAll(async () => env.emu.stop());

  const rowsFor = async (ruleId: string) => (await deps.storage.compliance.list()).filter((r) => r.serviceId === SVC && r.ruleId === ruleId);
  const ticketFor = (api: string) => provider.tickets.find((t) => t.body.includes(`${SVC}/apis/${api}`) && t.title.includes("HTTPS"));

  async function userEvent(change: () => Promise<unknown>): Promise<void> {
    const since = env.emu.events.list().length;
    await change();
    const events = env.emu.events.list(since) as EventGridEvent[];
    expect(events.length).toBeGreaterThan(0);
    env.emu.log.clear();
    for (const e of events) await handleEvents(e, deps);
    expect((await drainQueue(deps)).processed).toBe(1);
  }

  it("a full evaluation first: every API judged, a ticket per drifted API", async () => {
    await deps.storage.evaluateQueue.sendMessage(encodeMessage({ serviceId: SVC, reason: "sweep", correlationId: "sweep-1", enqueuedAt: new Date().toISOString() }));
    expect((await drainQueue(deps)).processed).toBe(1);
    const rows = await rowsFor("api-https-only");
    expect(rows.map((r) => `${r.resourceId.split("/").pop()}:${r.status}`).sort()).toEqual(["a1:fail", "a2:fail", "a3:fail", "a4:pass"]);
    for (const a of ["a1", "a2", "a3"]) expect(ticketFor(a)?.state).toBe("open");
  });

  it("fixing one API by hand: only that API is read, its ticket closes, the others' verdicts and tickets stay", async () => {
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const a1 = await user.api.get(RG, NAME, "a1");
    await userEvent(() => user.api.update(RG, NAME, "a1", a1.eTag as string, { protocols: ["https"] }));
    const reads = env.emu.log.list().filter((l) => l.host === "arm" && l.principal !== null && !l.principal.replace(/-/g, "").endsWith("51e5"));
    const paths = reads.map((l) => path(l.path));
    expect(paths).toContain(`${SVC}/apis/a1`.toLowerCase());
    expect(paths).not.toContain(`${SVC}/apis`.toLowerCase()); // no API list
    expect(paths.filter((p) => /\/apis\/a[234]/.test(p))).toEqual([]); // no other API
    const rows = await rowsFor("api-https-only");
    expect(rows.map((r) => `${r.resourceId.split("/").pop()}:${r.status}:${r.correlationId === "sweep-1" ? "old" : "new"}`).sort()).toEqual(["a1:pass:new", "a2:fail:old", "a3:fail:old", "a4:pass:old"]);
    expect(ticketFor("a1")?.state).toBe("closed");
    expect(ticketFor("a2")?.state).toBe("open");
    expect(ticketFor("a3")?.state).toBe("open");
  });

  it("deleting an API: its verdicts and ticket go, the others stay", async () => {
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const a2 = await user.api.get(RG, NAME, "a2");
    await userEvent(() => user.api.beginDeleteAndWait(RG, NAME, "a2", a2.eTag as string, { updateIntervalInMs: 5 }));
    const rows = await rowsFor("api-https-only");
    expect(rows.map((r) => `${r.resourceId.split("/").pop()}:${r.status}`).sort()).toEqual(["a1:pass", "a3:fail", "a4:pass"]);
    expect(ticketFor("a2")?.state).toBe("closed");
    expect(ticketFor("a3")?.state).toBe("open");
    // the service-level verdicts of the full evaluation are untouched
    expect((await rowsFor("min-api-version")).map((r) => r.status)).toEqual(["fail"]);
  });
});

describe("an event on the service itself fixes service settings first", () => {
  let env: TestEnv;
  let deps: AppDeps;
  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
    deps = await appFor(env.emu);
    await clearAppStorage(deps);
  });
  afterAll(async () => env.emu.stop());

  /** A portal user tags the service; its event goes through the app; returns the remediator's ARM requests. */
  async function tagService(owner: string) {
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const since = env.emu.events.list().length;
    await user.apiManagementService.beginUpdateAndWait(RG, NAME, { tags: { owner } }, { updateIntervalInMs: 5 });
    const events = env.emu.events.list(since) as EventGridEvent[];
    env.emu.log.clear();
    for (const e of events) await handleEvents(e, deps);
    expect((await drainQueue(deps)).processed).toBe(1);
    return env.emu.log.list().filter((l) => l.host === "arm" && l.principal !== null && !l.principal.replace(/-/g, "").endsWith("51e5"));
  }

  it("the minimum API version is set before any collection is read, and every other rule still runs", async () => {
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const own = await tagService("team-a");
    const patch = own.findIndex((l) => l.method === "PATCH" && path(l.path) === SVC.toLowerCase());
    const firstList = own.findIndex((l) => l.method === "GET" && path(l.path).startsWith(`${SVC}/`.toLowerCase()));
    expect(patch).toBeGreaterThanOrEqual(0);
    expect(firstList).toBeGreaterThan(patch);
    // the rest of the service was evaluated in the same run: the APIs' HTTP is fixed too
    const svc = await user.apiManagementService.get(RG, NAME);
    expect(svc.apiVersionConstraint?.minApiVersion).toBeDefined();
    for (const a of ["a1", "a2", "a3"]) expect((await user.api.get(RG, NAME, a)).protocols).toEqual(["https"]);
    // each fixed API is verified by re-reading that API, not the whole list: the list is read once, for the snapshot
    expect(own.filter((l) => l.method === "GET" && path(l.path) === `${SVC}/apis`.toLowerCase())).toHaveLength(1);
    for (const a of ["a1", "a2", "a3"]) expect(own.filter((l) => l.method === "GET" && path(l.path) === `${SVC}/apis/${a}`.toLowerCase()).length).toBeGreaterThanOrEqual(2);
  });

  it("an unchanged service is read once for both passes", async () => {
    const own = await tagService("team-b");
    expect(own.filter((l) => l.method === "GET" && path(l.path) === SVC.toLowerCase())).toHaveLength(1);
  });
});
