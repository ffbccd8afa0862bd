/**
 * The Jira Cloud provider against a local fake of the REST API v3
 * (test/helpers/fake-jira.ts): issue lifecycle, search by the fingerprint
 * label, transitions by name or target status, credentials, retries, safe
 * Markdown -> ADF, and the TicketManager end to end.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RULES } from "../../src/remediations/index.js";
import type { Finding, Plan, Rule } from "../../src/remediations/types.js";
import { buildTicket } from "../../src/tickets/content.js";
import type { HttpOptions } from "../../src/tickets/http.js";
import { JiraProvider, markdownToAdf, type JiraOptions } from "../../src/tickets/jira.js";
import { MemoryTicketStore, TicketManager, type SyncInput } from "../../src/tickets/manager.js";
import { TicketHttpError, type TicketContent } from "../../src/tickets/types.js";
import { adfLinks, adfProblem, adfToText, startFakeJira, type FakeJira } from "../helpers/fake-jira.js";

const SERVICE = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg-apim/providers/Microsoft.ApiManagement/service/apim-prod";
const rule = RULES.find((r) => r.meta.id === "api-https-only") as Rule;

function finding(api = "echo-api", status: Finding["status"] = "fail"): Finding {
  return { ruleId: rule.meta.id, resourceId: `${SERVICE}/apis/${api}`, status, severity: rule.meta.severity, message: `API ${api} accepts http.`, action: rule.meta.defaultAction };
}

function plan(api = "echo-api"): Plan {
  const id = `${SERVICE}/apis/${api}`;
  return { ruleId: rule.meta.id, resourceId: id, targetId: id, operation: "PATCH Microsoft.ApiManagement/service/apis", summary: "Allow HTTPS only", changes: [{ path: "properties.protocols", before: ["http", "https"], after: ["https"] }], payload: {} };
}

function content(api = "echo-api"): TicketContent {
  return buildTicket({ rule, finding: finding(api), serviceId: SERVICE, plan: plan(api), reason: "dry-run", outcome: "planned" });
}

let fake: FakeJira;
let slept: number[];

beforeEach(async () => {
  fake = await startFakeJira();
  slept = [];
});
afterEach(async () => {
  await fake.close();
});

const http = (): HttpOptions => ({
  sleep: (ms) => {
    slept.push(ms);
    return Promise.resolve();
  },
  baseDelayMs: 1,
});

function jira(over: Partial<JiraOptions> = {}): JiraProvider {
  return new JiraProvider({ baseUrl: fake.url, email: fake.email, apiToken: fake.apiToken, project: "SEC", issueType: "Task", doneTransition: "Done", reopenTransition: "To Do", ...over }, http());
}

const calls = () => fake.requests.map((r) => `${r.method} ${r.path}`);

describe("JiraProvider", () => {
  it("opens, finds, comments, closes and reopens an issue", async () => {
    const p = jira();
    const c = content();

    const ref = await p.open(c);
    expect(ref).toEqual({ id: "SEC-1", url: `${fake.url}/browse/SEC-1`, state: "open" });
    const issue = fake.issue("SEC-1");
    expect(issue?.summary).toBe(c.title);
    expect(issue?.issueType).toBe("Task");
    expect(issue?.labels).toEqual(["apim-remediator", "apim-rule-api-https-only", `apim-fp-${c.fingerprint}`, "severity-high"]);
    expect(adfProblem(issue?.description)).toBeUndefined();
    expect(adfToText(issue?.description)).toContain(`apim-remediator fingerprint: ${c.fingerprint}`);
    const create = fake.requests[0];
    expect(create?.headers["authorization"]).toBe(`Basic ${Buffer.from(`${fake.email}:${fake.apiToken}`).toString("base64")}`);
    expect((create?.body as { fields: Record<string, unknown> }).fields["project"]).toEqual({ key: "SEC" });

    expect(await p.find(c.fingerprint)).toEqual({ id: "SEC-1", url: `${fake.url}/browse/SEC-1`, state: "open" });
    const search = fake.requests.at(-1);
    expect(`${search?.method} ${search?.path}`).toBe("POST /rest/api/3/search/jql");
    expect(search?.body).toEqual({ jql: `labels = "apim-fp-${c.fingerprint}" ORDER BY created DESC`, fields: ["status"], maxResults: 1 });

    await p.comment(ref, "Still present.\n\n- one\n- two");
    expect(fake.issue("SEC-1")?.comments.map((x) => adfToText(x.body))).toEqual(["Still present.\none\ntwo"]);

    fake.requests.length = 0;
    await p.close(ref, "Resolved: the resource is compliant again.");
    expect(calls()).toEqual(["GET /rest/api/3/issue/SEC-1/transitions", "POST /rest/api/3/issue/SEC-1/transitions", "POST /rest/api/3/issue/SEC-1/comment"]);
    expect(fake.requests[1]?.body).toEqual({ transition: { id: "31" } });
    expect(fake.issue("SEC-1")?.status.name).toBe("Done");
    expect(await p.find(c.fingerprint)).toMatchObject({ id: "SEC-1", state: "closed" });

    // "To Do" is the target status of the transition named "Backlog"
    const reopened = await p.reopen({ ...ref, state: "closed" }, c, "The drift is back.");
    expect(reopened).toEqual({ id: "SEC-1", url: `${fake.url}/browse/SEC-1`, state: "open" });
    expect(fake.issue("SEC-1")?.status.name).toBe("To Do");
    expect(fake.issue("SEC-1")?.comments.map((x) => adfToText(x.body)).at(-1)).toBe("The drift is back.");
    expect(await p.find(c.fingerprint)).toMatchObject({ id: "SEC-1", state: "open" });
    expect(fake.issues).toHaveLength(1);
  });

  it("find returns the newest issue carrying the fingerprint, open or closed, and nothing for an unknown one", async () => {
    const p = jira();
    const c = content();
    const first = await p.open(c);
    const second = await p.open(c);
    expect(second.id).toBe("SEC-2");
    await p.close(second, "closed");
    expect(await p.find(c.fingerprint)).toMatchObject({ id: "SEC-2", state: "closed" });
    await p.close(first, "closed");
    await p.reopen({ ...first, state: "closed" }, c, "back");
    expect(await p.find(c.fingerprint)).toMatchObject({ id: "SEC-2", state: "closed" });
    await p.open(content("other-api"));
    expect(await p.find(c.fingerprint)).toMatchObject({ id: "SEC-2" });
    expect(await p.find("0".repeat(32))).toBeUndefined();
  });

  it("matches transitions case-insensitively, skips one that is already done, and names the choices when none matches", async () => {
    const c = content();
    const ref = await jira().open(c);

    // already closed by hand: only the comment is added
    fake.setStatus("SEC-1", "Done");
    fake.requests.length = 0;
    await jira().close(ref, "Resolved.");
    expect(calls()).toEqual(["GET /rest/api/3/issue/SEC-1/transitions", "GET /rest/api/3/issue/SEC-1", "POST /rest/api/3/issue/SEC-1/comment"]);
    expect(fake.issue("SEC-1")?.comments).toHaveLength(1);

    // case-insensitive, by transition name
    await jira({ reopenTransition: "backlog" }).reopen({ ...ref, state: "closed" }, c, "back");
    expect(fake.issue("SEC-1")?.status.name).toBe("To Do");
    await jira({ doneTransition: "DONE" }).close(ref, "Resolved.");
    expect(fake.issue("SEC-1")?.status.name).toBe("Done");
    await jira().reopen({ ...ref, state: "closed" }, c, "back");

    const err = await jira({ doneTransition: "Resolve Issue" })
      .close(ref, "Resolved.")
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.message).toContain('no transition named "Resolve Issue"');
    expect(err?.message).toContain('"Start work" (to In Progress)');
    expect(err?.message).toContain('"Done" (to Done)');
    expect(err?.message).toContain("TICKET_JIRA_DONE_TRANSITION");
    expect(fake.issue("SEC-1")?.status.name).toBe("To Do");
    expect(fake.issue("SEC-1")?.comments).toHaveLength(4); // no comment for the failed close
  });

  it("reports wrong credentials as a 401 TicketHttpError without the credentials, and does not retry", async () => {
    const token = "ATATT-wrong-token-value-987654";
    const p = jira({ apiToken: token });
    const err = await p.find(content().fingerprint).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TicketHttpError);
    const e = err as TicketHttpError;
    expect(e.status).toBe(401);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/did not accept the credentials.*TICKET_JIRA_EMAIL and TICKET_JIRA_TOKEN/);
    for (const secret of [token, fake.email, Buffer.from(`${fake.email}:${token}`).toString("base64")]) expect(e.message).not.toContain(secret);
    expect(fake.requests).toHaveLength(1);
    await expect(p.open(content())).rejects.toMatchObject({ status: 401 });
    expect(fake.issues).toHaveLength(0);
  });

  it("retries a 429 after the Retry-After delay", async () => {
    fake.fail(1, { status: 429, headers: { "retry-after": "7" }, match: (m, path) => m === "POST" && path === "/rest/api/3/issue" });
    const ref = await jira().open(content());
    expect(ref.id).toBe("SEC-1");
    expect(slept).toEqual([7000]);
    expect(calls()).toEqual(["POST /rest/api/3/issue", "POST /rest/api/3/issue"]);
    expect(fake.issues).toHaveLength(1);
  });

  it("retries 500 twice, then succeeds", async () => {
    const ref = await jira().open(content());
    fake.requests.length = 0;
    fake.fail(2, { status: 500 });
    await jira().comment(ref, "Still present.");
    expect(calls()).toEqual(Array(3).fill("POST /rest/api/3/issue/SEC-1/comment"));
    expect(slept).toHaveLength(2);
    expect(fake.issue("SEC-1")?.comments).toHaveLength(1);
  });

  it("carries Markdown and HTML special characters safely, as text", async () => {
    const hostile = [
      "# Title with <b>tags</b> & entities &amp; &lt;",
      "",
      'A <script>alert("x")</script> paragraph with "quotes", \'single\', back\\slash, C:\\temp\\ and ünïcödé 🚀.',
      "Stars: 2 * 3 * 4, a lone ` backtick, [not a link], [bad](javascript:alert(1)) and [ok](https://example.com/?a=1&b=<2>).",
      "",
      "```xml",
      '<set-header name="x">@(context.Request.Headers["a"])</set-header>',
      "```",
      "",
      "- **bold `code`** and *em* with_underscores_",
      "> quoted <i>html</i>",
    ].join("\n");
    const c: TicketContent = { ...content(), title: "[apim-remediator] <img src=x onerror=alert(1)> &\nnew line", body: hostile };
    const p = jira();
    const ref = await p.open(c);
    const issue = fake.issue(ref.id);
    expect(issue?.summary).toBe("[apim-remediator] <img src=x onerror=alert(1)> & new line");
    expect(adfProblem(issue?.description)).toBeUndefined();
    const text = adfToText(issue?.description);
    expect(text).toContain("Title with <b>tags</b> & entities &amp; &lt;");
    expect(text).toContain('A <script>alert("x")</script> paragraph with "quotes", \'single\', back\\slash, C:\\temp\\ and ünïcödé 🚀.');
    expect(text).toContain("Stars: 2 * 3 * 4, a lone ` backtick, [not a link], bad (javascript:alert(1)) and ok.");
    expect(text).toContain('<set-header name="x">@(context.Request.Headers["a"])</set-header>');
    expect(text).toContain("bold code and em with_underscores_");
    expect(text).toContain("quoted <i>html</i>");
    expect(adfLinks(issue?.description)).toEqual(["https://example.com/?a=1&b=<2>"]);

    await p.comment(ref, hostile);
    const body = issue?.comments[0]?.body;
    expect(adfProblem(body)).toBeUndefined();
    expect(adfToText(body)).toBe(text);
  });

  it("sends the priority mapped from the severity when configured", async () => {
    await jira({ priorities: { high: "High" } }).open(content());
    expect(fake.issue("SEC-1")?.priority).toBe("High");
    await jira().open(content());
    expect(fake.issue("SEC-2")?.priority).toBeUndefined();
  });

  it("converts the Markdown of every shipped rule's ticket to valid ADF", () => {
    for (const r of RULES) {
      const f: Finding = { ruleId: r.meta.id, resourceId: SERVICE, status: "fail", severity: r.meta.severity, message: "drift", action: r.meta.defaultAction };
      const doc = markdownToAdf(buildTicket({ rule: r, finding: f, serviceId: SERVICE, outcome: "reported" }).body);
      expect(adfProblem(doc), r.meta.id).toBeUndefined();
    }
  });
});

describe("the fake Jira", () => {
  const post = (path: string, body: unknown) =>
    fetch(`${fake.url}${path}`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${fake.email}:${fake.apiToken}`).toString("base64")}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("rejects what Jira rejects", async () => {
    const fields = { project: { key: "SEC" }, issuetype: { name: "Task" }, summary: "s" };
    expect((await post("/rest/api/3/issue", { fields: { ...fields, description: "plain text" } })).status).toBe(400);
    expect((await post("/rest/api/3/issue", { fields: { ...fields, labels: ["has space"] } })).status).toBe(400);
    expect((await post("/rest/api/3/issue", { fields: { ...fields, project: { key: "NOPE" } } })).status).toBe(400);
    expect((await post("/rest/api/3/issue", { fields: { ...fields, description: { type: "doc", version: 1, content: [{ type: "paragraph", content: [{ type: "text", text: "" }] }] } } })).status).toBe(400);
    expect((await post("/rest/api/3/search/jql", { jql: "ORDER BY created DESC" })).status).toBe(400);
    expect((await post("/rest/api/3/search/jql", { jql: 'labels = "x"', startAt: 0 })).status).toBe(400);
    expect((await post("/rest/api/3/search", { jql: 'labels = "x"' })).status).toBe(410);
    expect((await post("/rest/api/3/issue", { fields })).status).toBe(201);
    expect((await post("/rest/api/3/issue/SEC-1/transitions", { transition: { id: "999" } })).status).toBe(400);
    expect((await post("/rest/api/3/issue/SEC-9/comment", { body: markdownToAdf("x") })).status).toBe(404);
    const unauth = await fetch(`${fake.url}/rest/api/3/issue/SEC-1`);
    expect(unauth.status).toBe(401);
  });
});

describe("TicketManager with the Jira provider", () => {
  it("opens one issue per drift, links it after the store is lost, closes and reopens it", async () => {
    const provider = jira();
    let now = Date.parse("2025-03-01T08:00:00Z");
    const options = { now: () => now };
    const f = finding();
    const drift: SyncInput = { serviceId: SERVICE, correlationId: "c1", rulesEvaluated: [rule.meta.id], findings: [f], drifts: [{ rule, finding: f, outcome: "planned", reason: "dry-run", plan: plan() }] };
    const fp = content().fingerprint;

    let store = new MemoryTicketStore();
    let manager = new TicketManager(provider, store, options);
    const first = await manager.sync(drift);
    expect(first).toMatchObject({ opened: [fp], errors: [], pending: [] });
    expect(fake.issues).toHaveLength(1);
    expect(fake.issues[0]?.labels).toContain(`apim-fp-${fp}`);
    expect(store.items.get(fp)).toMatchObject({ ticketId: "SEC-1", state: "open", provider: "jira" });

    now += 60_000;
    const again = await manager.sync({ ...drift, correlationId: "c2" });
    expect(again).toMatchObject({ opened: [], commented: [], reopened: [], errors: [] });
    expect(fake.issues).toHaveLength(1);

    // the store is lost: the fingerprint label finds the issue
    store = new MemoryTicketStore();
    manager = new TicketManager(provider, store, options);
    now += 60_000;
    const relinked = await manager.sync({ ...drift, correlationId: "c3" });
    expect(relinked).toMatchObject({ opened: [], commented: [fp], errors: [] });
    expect(fake.issues).toHaveLength(1);
    expect(store.items.get(fp)).toMatchObject({ ticketId: "SEC-1", state: "open" });

    now += 60_000;
    const gone = await manager.sync({ ...drift, correlationId: "c4", findings: [finding("echo-api", "pass")], drifts: [] });
    expect(gone).toMatchObject({ closed: [fp], errors: [] });
    expect(fake.issue("SEC-1")?.status.name).toBe("Done");
    expect(store.items.get(fp)?.state).toBe("closed");

    now += 60_000;
    const back = await manager.sync({ ...drift, correlationId: "c5" });
    expect(back).toMatchObject({ reopened: [fp], opened: [], errors: [] });
    expect(fake.issue("SEC-1")?.status.name).toBe("To Do");
    expect(fake.issues).toHaveLength(1);
    expect(store.items.get(fp)).toMatchObject({ ticketId: "SEC-1", state: "open" });
    const comments = fake.issue("SEC-1")?.comments.map((c) => adfToText(c.body)) ?? [];
    expect(comments.some((c) => c.startsWith("Resolved: the resource is compliant again (evaluation c4"))).toBe(true);
    expect(comments.at(-1)).toContain("The drift is back (evaluation c5)");
  });
});
