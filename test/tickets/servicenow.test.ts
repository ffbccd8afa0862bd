import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RULES } from "../../src/remediations/index.js";
import type { Finding } from "../../src/remediations/types.js";
import { buildTicket, fingerprintOf } from "../../src/tickets/content.js";
import { MemoryTicketStore, TicketManager, type SyncInput } from "../../src/tickets/manager.js";
import { markdownToPlainText, ServiceNowProvider, type ServiceNowOptions } from "../../src/tickets/servicenow.js";
import { TicketHttpError, type TicketContent } from "../../src/tickets/types.js";
import { startFakeServiceNow, type FakeServiceNow } from "../helpers/fake-servicenow.js";

const http = { sleep: () => Promise.resolve(), baseDelayMs: 1 };
const serviceId = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-apim/providers/Microsoft.ApiManagement/service/apim-contoso";
const rule = RULES.find((r) => r.meta.id === "api-https-only")!;

function finding(status: Finding["status"] = "fail", api = "echo"): Finding {
  return { ruleId: rule.meta.id, resourceId: `${serviceId}/apis/${api}`, status, severity: rule.meta.severity, message: `API ${api} accepts plain HTTP.`, action: rule.meta.defaultAction };
}

function content(api = "echo", extra = ""): TicketContent {
  const c = buildTicket({ rule, finding: finding("fail", api), serviceId, outcome: "dry-run", reason: "dry-run" });
  return extra ? { ...c, body: `${c.body}\n\n${extra}` } : c;
}

describe("ServiceNowProvider against a fake instance", () => {
  let fake: FakeServiceNow;
  let provider: ServiceNowProvider;
  const opts = (o: Partial<ServiceNowOptions> = {}): ServiceNowOptions => ({ instanceUrl: fake.url + "/", user: fake.user, password: fake.password, table: "incident", ...o });

  beforeEach(async () => {
    fake = await startFakeServiceNow();
    provider = new ServiceNowProvider(opts(), http);
  });
  afterEach(() => fake.close());

  it("opens, finds, comments, resolves, reopens the same incident, and finds the newest after a closed one", async () => {
    const c = content();
    expect(await provider.find(c.fingerprint)).toBeUndefined();

    const ref = await provider.open(c);
    expect(ref.state).toBe("open");
    expect(ref.id).toMatch(/^[0-9a-f]{32}$/);
    expect(ref.url).toBe(`${fake.url}/nav_to.do?uri=${encodeURIComponent(`incident.do?sys_id=${ref.id}`)}`);
    const post = fake.requests.find((r) => r.method === "POST")!;
    expect(post.path).toBe("/api/now/table/incident");
    expect(post.headers["content-type"]).toMatch(/^application\/json/);
    expect(post.headers.accept).toBe("application/json");
    const rec = fake.get(ref.id)!;
    expect(rec).toMatchObject({ short_description: c.title, correlation_id: `apim-remediator:${c.fingerprint}`, correlation_display: "apim-remediator", urgency: "1", impact: "2", priority: "2", state: "1" });
    expect(rec.description).toContain("What is wrong");
    expect(rec.description).not.toContain("**");
    expect(rec.description).toContain(`apim-remediator fingerprint: ${c.fingerprint}`);

    expect(await provider.find(c.fingerprint)).toEqual({ id: ref.id, url: ref.url, state: "open" });
    const get = fake.requests.filter((r) => r.method === "GET").at(-1)!;
    expect(get.query).toMatchObject({ sysparm_query: `correlation_id=apim-remediator:${c.fingerprint}^ORDERBYDESCsys_created_on^ORDERBYDESCnumber`, sysparm_limit: "1" });

    await provider.comment(ref, "Still present.\n\n**bold** and `code`");
    expect(fake.notes(ref.id)).toEqual(["Still present.\n\nbold and code"]);
    expect(fake.notes(ref.id, "comments")).toEqual([]);

    await provider.close(ref, "Resolved: compliant again.");
    expect(fake.get(ref.id)).toMatchObject({ state: "6", close_code: "Solution provided", close_notes: "Resolved: compliant again." });
    const closed = await provider.find(c.fingerprint);
    expect(closed).toMatchObject({ id: ref.id, state: "closed" });

    // Resolved -> reopened in place (ServiceNow convention)
    const again = await provider.reopen(closed!, c, "The drift is back.");
    expect(again).toEqual({ id: ref.id, url: ref.url, state: "open" });
    expect(fake.get(ref.id)).toMatchObject({ state: "2", reopen_count: "1" });
    expect(fake.notes(ref.id).at(-1)).toBe("The drift is back.");
    expect(fake.table()).toHaveLength(1);

    // resolved again, then closed by the instance's auto-close job: read-only, so a new incident follows it
    await provider.close(again, "Resolved again.");
    fake.autoClose(ref.id);
    const old = fake.get(ref.id)!;
    const stillClosed = await provider.find(c.fingerprint);
    expect(stillClosed).toMatchObject({ id: ref.id, state: "closed" });
    const next = await provider.reopen(stillClosed!, c, "The drift is back once more.");
    expect(next.id).not.toBe(ref.id);
    expect(next.state).toBe("open");
    const nrec = fake.get(next.id)!;
    expect(nrec.correlation_id).toBe(`apim-remediator:${c.fingerprint}`);
    expect(nrec.description).toContain(`This follows ${old.number}`);
    expect(nrec.description).toContain("The drift is back once more.");
    expect(await provider.find(c.fingerprint)).toEqual({ id: next.id, url: next.url, state: "open" });
    expect(fake.table()).toHaveLength(2);
  });

  it("finds the newest even when two incidents share a creation second (number breaks the tie)", async () => {
    await fake.close();
    fake = await startFakeServiceNow({ clockStepMs: 0 });
    provider = new ServiceNowProvider(opts(), http);
    const c = content();
    const first = await provider.open(c);
    await provider.close(first, "gone");
    const second = await provider.open(c);
    expect(fake.get(first.id)!.sys_created_on).toBe(fake.get(second.id)!.sys_created_on);
    expect((await provider.find(c.fingerprint))?.id).toBe(second.id);
  });

  it("ignores a record that does not carry the fingerprint when the table drops the correlation query", async () => {
    await fake.close();
    fake = await startFakeServiceNow({ tables: { u_apim_drift: { prefix: "DRF", fields: { sys_id: { type: "string", readOnly: true }, number: { type: "string", readOnly: true }, sys_created_on: { type: "string", readOnly: true }, state: { type: "string" } } } } });
    fake.seed("u_apim_drift", { state: "1" });
    provider = new ServiceNowProvider(opts({ table: "u_apim_drift" }), http);
    expect(await provider.find(content().fingerprint)).toBeUndefined();
  });

  it("uses customer-visible comments, a custom close code, category and reopen state when configured", async () => {
    provider = new ServiceNowProvider(opts({ commentField: "comments", closeCode: "Resolved by caller", category: "software", reopenState: "1", assignmentGroup: "287ebd7da9fe198100f92cc8d1d2154e" }), http);
    const c = { ...content(), severity: "low" as const };
    const ref = await provider.open(c);
    expect(fake.get(ref.id)).toMatchObject({ category: "software", assignment_group: "287ebd7da9fe198100f92cc8d1d2154e", urgency: "3", impact: "3", priority: "5" });
    await provider.comment(ref, "note");
    expect(fake.notes(ref.id, "comments")).toEqual(["note"]);
    await provider.close(ref, "done");
    expect(fake.get(ref.id)!.close_code).toBe("Resolved by caller");
    const r = await provider.reopen({ ...ref, state: "closed" }, c, "back");
    expect(r.id).toBe(ref.id);
    expect(fake.get(ref.id)!.state).toBe("1");
  });

  it("treats an incident someone already closed as closed, and fails loudly on other refusals", async () => {
    const ref = await provider.open(content());
    await provider.close(ref, "first");
    fake.autoClose(ref.id);
    await expect(provider.close(ref, "again")).resolves.toBeUndefined(); // 403 on the read-only record, already closed
    const other = await provider.open(content("other"));
    fake.failNext(403);
    await expect(provider.close(other, "x")).rejects.toMatchObject({ status: 403 });
  });

  it("rejects wrong credentials with a clear 401 that names no credential", async () => {
    const bad = new ServiceNowProvider(opts({ password: "wrong-Pa55word-xyz" }), http);
    const err = await bad.open(content()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TicketHttpError);
    expect((err as TicketHttpError).status).toBe(401);
    expect((err as TicketHttpError).retryable).toBe(false);
    const msg = (err as Error).message;
    expect(msg).toMatch(/rejected the integration user's credentials/);
    for (const secret of ["wrong-Pa55word-xyz", fake.password, fake.user, Buffer.from(`${fake.user}:wrong-Pa55word-xyz`).toString("base64")]) expect(msg).not.toContain(secret);
    expect(JSON.stringify(bad)).not.toContain("wrong-Pa55word-xyz");
    expect(fake.requests).toHaveLength(1); // not retried
    expect(fake.requests[0]!.auth).toBe("wrong");
  });

  it("retries a 429 with Retry-After, then succeeds", async () => {
    const waits: number[] = [];
    provider = new ServiceNowProvider(opts(), { baseDelayMs: 1, sleep: (ms) => (waits.push(ms), Promise.resolve()) });
    fake.failNext(429, 1, { "retry-after": "7" });
    const ref = await provider.open(content());
    expect(waits).toEqual([7000]);
    expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(2);
    expect(fake.table()).toHaveLength(1);
    expect(ref.state).toBe("open");
  });

  it("retries 500 twice, then succeeds", async () => {
    const ref = await provider.open(content());
    fake.failNext(500, 2);
    await provider.comment(ref, "after two failures");
    expect(fake.requests.filter((r) => r.method === "PATCH")).toHaveLength(3);
    expect(fake.notes(ref.id)).toEqual(["after two failures"]);
  });

  it("gives up with a retryable error after the retries are spent", async () => {
    fake.failNext(503, 10);
    const err = await provider.find(content().fingerprint).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TicketHttpError);
    expect((err as TicketHttpError).retryable).toBe(true);
    expect(fake.requests).toHaveLength(4);
  });

  it("keeps Markdown/HTML special characters as literal plain text, and neutralises journal [code] tags", async () => {
    const nasty = `<script>alert("x")</script> & <img src=x onerror=alert(1)> "quotes" 'single' \\ back\\slash [code]<b>bold</b>[/code] ^ORDERBYsys_id ${"\u0007"}`;
    const c = { ...content("echo", nasty), title: `[apim-remediator] <b>Title</b> & "co" ${"x".repeat(300)}` };
    const ref = await provider.open(c);
    const rec = fake.get(ref.id)!;
    expect(rec.short_description.length).toBeLessThanOrEqual(160);
    expect(rec.short_description.startsWith(`[apim-remediator] <b>Title</b> & "co" `)).toBe(true);
    expect(rec.description).toContain(`<script>alert("x")</script> & <img src=x onerror=alert(1)> "quotes" 'single'`);
    expect(rec.description).not.toContain("&lt;");
    expect(rec.description).not.toMatch(/\[code\]/i);
    expect(rec.description).toContain("[ code ]<b>bold</b>[ /code ]");
    expect(rec.description).not.toContain("\u0007");
    await provider.comment(ref, nasty);
    expect(fake.notes(ref.id)[0]).toContain(`<script>alert("x")</script>`);
    expect(fake.notes(ref.id)[0]).not.toMatch(/\[\/?code\]/i);
    // the fingerprint is the only thing the query carries
    await expect(provider.find("abc^ORDERBYsys_id")).rejects.toThrow(/fingerprint/);
  });

  it("clips long bodies to the field length", async () => {
    const ref = await provider.open(content("echo", "y".repeat(10_000)));
    expect(fake.get(ref.id)!.description.length).toBe(4000);
  });

  it("converts Markdown to plain text", () => {
    expect(markdownToPlainText("### Why\n\n**Rule:** `api-https-only` · [portal](https://p/x) · [https://a](https://a)\n\n```diff\n- a: 1\n+ a: 2\n```\n\n---\nend")).toBe(
      "Why\n---\n\nRule: api-https-only · portal (https://p/x) · https://a\n\n    - a: 1\n    + a: 2\n\n----------------------------------------\nend",
    );
  });

  it("drives TicketManager: one ticket per drift, no duplicates, rebuilt from the instance, closed, reopened", async () => {
    const fp = fingerprintOf(rule.meta.id, finding().resourceId);
    const drift = { rule, finding: finding(), outcome: "dry-run", reason: "dry-run" };
    const input = (present: boolean, correlationId: string): SyncInput => ({ serviceId, correlationId, rulesEvaluated: [rule.meta.id], findings: [present ? finding() : finding("pass")], drifts: present ? [drift] : [] });

    const m1 = new TicketManager(provider, new MemoryTicketStore());
    const r1 = await m1.sync(input(true, "eval-1"));
    expect(r1).toMatchObject({ opened: [fp], errors: [] });
    expect(fake.table()).toHaveLength(1);
    const id = fake.table()[0]!.sys_id;

    const r2 = await m1.sync(input(true, "eval-2"));
    expect(r2).toMatchObject({ opened: [], reopened: [], errors: [] });
    expect(fake.table()).toHaveLength(1);

    // the store is lost: the ticket is found by its correlation_id, not duplicated
    const store = new MemoryTicketStore();
    const m2 = new TicketManager(provider, store);
    const r3 = await m2.sync(input(true, "eval-3"));
    expect(r3).toMatchObject({ opened: [], commented: [fp], errors: [] });
    expect(fake.table()).toHaveLength(1);
    expect(store.items.get(fp)).toMatchObject({ ticketId: id, state: "open" });

    const r4 = await m2.sync(input(false, "eval-4"));
    expect(r4).toMatchObject({ closed: [fp], errors: [] });
    expect(fake.get(id)).toMatchObject({ state: "6", close_code: "Solution provided" });
    expect(fake.get(id)!.close_notes).toContain("eval-4");

    const r5 = await m2.sync(input(true, "eval-5"));
    expect(r5).toMatchObject({ reopened: [fp], opened: [], errors: [] });
    expect(fake.table()).toHaveLength(1);
    expect(fake.get(id)).toMatchObject({ state: "2", reopen_count: "1" });
    expect(store.items.get(fp)).toMatchObject({ ticketId: id, state: "open" });

    // closed by the instance later: the drift coming back opens a follow-up incident
    await m2.sync(input(false, "eval-6"));
    fake.autoClose(id);
    const r7 = await m2.sync(input(true, "eval-7"));
    expect(r7).toMatchObject({ reopened: [fp], errors: [] });
    expect(fake.table()).toHaveLength(2);
    const newest = fake.table()[1]!;
    expect(store.items.get(fp)).toMatchObject({ ticketId: newest.sys_id, state: "open" });
    expect(newest.description).toContain(`This follows ${fake.get(id)!.number}`);
    expect(fake.requests.every((r) => r.auth === "ok")).toBe(true);
  });
});

describe("fake ServiceNow validation", () => {
  let fake: FakeServiceNow;
  beforeEach(async () => {
    fake = await startFakeServiceNow();
  });
  afterEach(() => fake.close());

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${fake.url}${path}`, {
      method,
      headers: { accept: "application/json", authorization: `Basic ${Buffer.from(`${fake.user}:${fake.password}`).toString("base64")}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });

  it("answers like the Table API on malformed requests", async () => {
    expect((await call("POST", "/api/now/table/incident", "{not json")).status).toBe(400);
    expect((await call("POST", "/api/now/table/incident", [{ short_description: "x" }])).status).toBe(400);
    expect((await call("POST", "/api/now/table/incident", { short_description: "x", urgency: "9" })).status).toBe(400);
    expect((await call("POST", "/api/now/table/incident", { short_description: "x", shortdescription: "typo" })).status).toBe(400);
    expect((await call("POST", "/api/now/table/incident", { short_description: "x".repeat(161) })).status).toBe(400);
    expect((await call("POST", "/api/now/table/incident", { short_description: "x" }, { "content-type": "text/plain" })).status).toBe(415);
    expect((await call("GET", "/api/now/table/incident", undefined, { accept: "text/html" })).status).toBe(406);
    const invalid = await call("GET", "/api/now/table/incidentx");
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toEqual({ error: { message: "Invalid table incidentx", detail: null }, status: "failure" });
    expect((await call("GET", "/api/now/table/incident/0123456789abcdef0123456789abcdef")).status).toBe(404);
    const unauth = await fetch(`${fake.url}/api/now/table/incident`, { headers: { accept: "application/json" } });
    expect(unauth.status).toBe(401);
    expect(await unauth.json()).toMatchObject({ error: { message: "User Not Authenticated" }, status: "failure" });
  });

  it("enforces the incident close rules and read-only closed records", async () => {
    const created = await call("POST", "/api/now/table/incident", { short_description: "x", urgency: "2", impact: "2" });
    expect(created.status).toBe(201);
    const { result } = (await created.json()) as { result: Record<string, unknown> };
    expect(result).toMatchObject({ state: "1", priority: "3", work_notes: "", opened_by: { value: expect.any(String) } });
    const id = result.sys_id as string;
    expect((await call("PATCH", `/api/now/table/incident/${id}`, { state: "6" })).status).toBe(403);
    expect((await call("PATCH", `/api/now/table/incident/${id}`, { state: "6", close_code: "Fixed it", close_notes: "n" })).status).toBe(400);
    expect((await call("PATCH", `/api/now/table/incident/${id}`, { state: "7", close_code: "Solution provided", close_notes: "n" })).status).toBe(200);
    const ro = await call("PATCH", `/api/now/table/incident/${id}`, { work_notes: "late" });
    expect(ro.status).toBe(403);
    expect(await ro.json()).toMatchObject({ error: { message: "Operation Failed" } });
    const list = await call("GET", `/api/now/table/incident?sysparm_query=${encodeURIComponent("state=7^ORDERBYDESCsys_created_on")}&sysparm_fields=number,nope`);
    expect(list.headers.get("x-total-count")).toBe("1");
    expect(((await list.json()) as { result: unknown[] }).result).toEqual([{ number: result.number }]);
  });
});
