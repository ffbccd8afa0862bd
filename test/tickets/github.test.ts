import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RULES } from "../../src/remediations/index.js";
import type { Finding } from "../../src/remediations/types.js";
import { ticketProviderFromEnv } from "../../src/tickets/config.js";
import { buildTicket, fingerprintOf } from "../../src/tickets/content.js";
import { escapeMarkdownHtml, GitHubProvider, GitHubRateLimitError } from "../../src/tickets/github.js";
import { MemoryTicketStore, TicketManager } from "../../src/tickets/manager.js";
import { TicketHttpError, type TicketContent } from "../../src/tickets/types.js";
import { FakeGitHub, startFakeGitHub } from "../helpers/fake-github.js";

const SVC = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim1";
const rule = RULES.find((r) => r.meta.id === "api-https-only")!;
const findingFor = (api: string): Finding => ({ ruleId: rule.meta.id, resourceId: `${SVC}/apis/${api}`, status: "fail", severity: rule.meta.severity, message: `API '${api}' accepts http.`, action: rule.meta.defaultAction });
const contentFor = (api: string): TicketContent => buildTicket({ rule, finding: findingFor(api), serviceId: SVC, outcome: "planned", reason: "dry-run" });

/** Decodes what escapeMarkdownHtml encodes (outside code). */
const unescape = (s: string) => s.replace(/&(lt|amp);/g, (_m, e: string) => (e === "lt" ? "<" : "&"));

describe("GitHub Issues ticket provider", () => {
  let gh: FakeGitHub;
  let waits: number[];
  const http = () => ({ sleep: (ms: number) => (waits.push(ms), Promise.resolve()), baseDelayMs: 1 });
  const provider = (over: Partial<ConstructorParameters<typeof GitHubProvider>[0]> = {}) => new GitHubProvider({ apiUrl: gh.apiUrl, repo: gh.repoFullName, token: gh.token, ...over }, http());

  beforeAll(async () => {
    gh = await startFakeGitHub();
  });
  afterAll(() => gh.stop());
  beforeEach(() => {
    gh.reset();
    waits = [];
  });

  it("opens, finds, comments, closes, finds closed, reopens and finds the newest, with GitHub's headers and shapes", async () => {
    const p = provider();
    const c = contentFor("echo");
    const ref = await p.open(c);
    expect(ref).toEqual({ id: "1", url: `https://github.com/${gh.repoFullName}/issues/1`, state: "open" });

    const created = gh.requests.find((r) => r.method === "POST" && r.path === `/repos/${gh.repoFullName}/issues`)!;
    expect(created.headers["authorization"]).toBe(`Bearer ${gh.token}`);
    expect(created.headers["accept"]).toBe("application/vnd.github+json");
    expect(created.headers["x-github-api-version"]).toBe("2022-11-28");
    expect(created.headers["user-agent"]).toBe("apim-remediator");
    expect(created.headers["content-type"]).toBe("application/json");
    const sent = created.body as { title: string; body: string; labels: string[] };
    expect(sent.title).toBe(c.title);
    expect(sent.labels).toEqual(expect.arrayContaining(["apim-remediator", `apim-fp:${c.fingerprint}`, `apim-rule:${rule.meta.id}`, `severity:${rule.meta.severity}`]));
    expect(sent.body).toContain(c.fingerprint);
    expect(gh.issue(1)!.labels.map((l) => l.name)).toContain(`apim-fp:${c.fingerprint}`);

    expect(await p.find(c.fingerprint)).toEqual({ id: "1", url: ref.url, state: "open" });
    const list = gh.requests.find((r) => r.method === "GET" && r.path.endsWith("/issues"))!;
    expect(list.query).toMatchObject({ labels: `apim-fp:${c.fingerprint}`, state: "all", sort: "created", direction: "desc" });

    await p.comment(ref, "Still present.");
    expect(gh.issue(1)!.comments.map((x) => x.body)).toEqual(["Still present."]);

    await p.close(ref, "Resolved: compliant again.");
    expect(gh.issue(1)).toMatchObject({ state: "closed", state_reason: "completed" });
    expect(gh.issue(1)!.comments.at(-1)!.body).toBe("Resolved: compliant again.");
    expect(await p.find(c.fingerprint)).toEqual({ id: "1", url: ref.url, state: "closed" });

    const again = await p.reopen({ ...ref, state: "closed" }, c, "The drift is back.");
    expect(again).toEqual({ id: "1", url: ref.url, state: "open" });
    expect(gh.issue(1)).toMatchObject({ state: "open", state_reason: "reopened", closed_at: null });
    expect(gh.issue(1)!.comments.at(-1)!.body).toBe("The drift is back.");
    expect(await p.find(c.fingerprint)).toEqual({ id: "1", url: ref.url, state: "open" });

    expect(gh.calls()).toEqual([
      `POST /repos/${gh.repoFullName}/issues`,
      `GET /repos/${gh.repoFullName}/issues`,
      `POST /repos/${gh.repoFullName}/issues/1/comments`,
      `POST /repos/${gh.repoFullName}/issues/1/comments`,
      `PATCH /repos/${gh.repoFullName}/issues/1`,
      `GET /repos/${gh.repoFullName}/issues`,
      `PATCH /repos/${gh.repoFullName}/issues/1`,
      `POST /repos/${gh.repoFullName}/issues/1/comments`,
      `GET /repos/${gh.repoFullName}/issues`,
    ]);
    expect(gh.requests.filter((r) => r.method === "PATCH").map((r) => r.body)).toEqual([
      { state: "closed", state_reason: "completed" },
      { state: "open", state_reason: "reopened", title: c.title, body: expect.stringContaining(c.fingerprint) },
    ]);
  });

  it("finds the newest issue with the exact fingerprint, skipping pull requests and other fingerprints", async () => {
    const p = provider();
    const a = contentFor("a");
    const b = contentFor("b");
    expect(await p.find(a.fingerprint)).toBeUndefined();
    const first = await p.open(a);
    await p.close(first, "done");
    await p.open(b);
    const second = await p.open(a);
    gh.addPullRequest("a PR that carries the label", [`apim-fp:${a.fingerprint}`]);
    expect(await p.find(a.fingerprint)).toEqual({ id: second.id, url: second.url, state: "open" });
    expect(await p.find(fingerprintOf("other", "/x"))).toBeUndefined();
  });

  it("talks to GitHub Enterprise Server under /api/v3", async () => {
    const ghes = await startFakeGitHub({ prefix: "/api/v3", owner: "platform", repo: "apim.ops" });
    try {
      expect(ghes.apiUrl).toMatch(/\/api\/v3$/);
      const p = new GitHubProvider({ apiUrl: ghes.apiUrl + "/", repo: ghes.repoFullName, token: ghes.token }, http());
      const c = contentFor("echo");
      const ref = await p.open(c);
      expect(await p.find(c.fingerprint)).toMatchObject({ id: ref.id, state: "open" });
      expect(ghes.calls()).toEqual(["POST /repos/platform/apim.ops/issues", "GET /repos/platform/apim.ops/issues"]);
    } finally {
      await ghes.stop();
    }
  });

  it("is built from app settings", () => {
    const p = ticketProviderFromEnv({ TICKET_PROVIDER: "github", TICKET_GITHUB_REPO: "contoso/apim-ops", TICKET_GITHUB_TOKEN: "t0ken-value" });
    expect(p).toBeInstanceOf(GitHubProvider);
    expect((p as GitHubProvider).options.apiUrl).toBe("https://api.github.com");
  });

  it("fails with a clear 401 on wrong credentials, without retrying or echoing the token", async () => {
    const secret = "ghp_wrongTokenDoNotLeak9876543210";
    const p = provider({ token: secret });
    const err = await p.open(contentFor("echo")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TicketHttpError);
    const e = err as TicketHttpError;
    expect(e.status).toBe(401);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/token was rejected/);
    expect(e.message).toMatch(/Bad credentials/);
    expect(e.message).not.toContain(secret);
    expect(String(e.stack)).not.toContain(secret);
    expect(gh.requests).toHaveLength(1);
    expect(gh.issues).toHaveLength(0);
  });

  it("names a missing repository and a refused write clearly; neither is retried", async () => {
    const missing = (await provider({ repo: "contoso/nope" })
      .find("f".repeat(32))
      .catch((e: unknown) => e)) as TicketHttpError;
    expect(missing).toMatchObject({ status: 404, retryable: false });
    expect(missing.message).toMatch(/contoso\/nope .*not found/);

    gh.fail({ status: 403, method: "POST", body: { message: "Resource not accessible by personal access token", documentation_url: "https://docs.github.com/rest", status: "403" } });
    const refused = (await provider()
      .open(contentFor("echo"))
      .catch((e: unknown) => e)) as TicketHttpError;
    expect(refused).toBeInstanceOf(TicketHttpError);
    expect(refused).not.toBeInstanceOf(GitHubRateLimitError);
    expect(refused).toMatchObject({ status: 403, retryable: false });
    expect(refused.message).toMatch(/may not read\/write issues/);
    expect(gh.calls()).toEqual([`GET /repos/contoso/nope/issues`, `POST /repos/${gh.repoFullName}/issues`]);
  });

  it("retries a 429 after its Retry-After, then succeeds", async () => {
    gh.fail({ status: 429, headers: { "retry-after": "2" }, body: { message: "You have exceeded a secondary rate limit." } });
    const ref = await provider().open(contentFor("echo"));
    expect(ref.id).toBe("1");
    expect(waits).toEqual([2000]);
    expect(gh.requests.map((r) => r.status)).toEqual([429, 201]);
    expect(gh.issues).toHaveLength(1);
  });

  it("retries 500 twice with backoff, then succeeds", async () => {
    const p = provider();
    const ref = await p.open(contentFor("echo"));
    gh.fail({ status: 500, method: "POST", times: 2 });
    await p.comment(ref, "hello");
    expect(gh.requests.slice(1).map((r) => r.status)).toEqual([500, 500, 201]);
    expect(waits).toEqual([1, 2]);
    expect(gh.issue(1)!.comments.map((c) => c.body)).toEqual(["hello"]);
  });

  it("waits out a primary rate limit (403, x-ratelimit-remaining 0) until the reset, then succeeds", async () => {
    gh.exhaustRateLimit(1, 5);
    const ref = await provider().open(contentFor("echo"));
    expect(ref.id).toBe("1");
    expect(gh.requests.map((r) => `${r.status} ${r.path}`)).toEqual([`403 /repos/${gh.repoFullName}/issues`, "200 /rate_limit", `201 /repos/${gh.repoFullName}/issues`]);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(3000);
    expect(waits[0]).toBeLessThanOrEqual(7000);
  });

  it("waits out a secondary rate limit (403 with Retry-After)", async () => {
    gh.fail({ status: 403, headers: { "retry-after": "30" }, body: { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", documentation_url: "https://docs.github.com/rest", status: "403" } });
    await provider().open(contentFor("echo"));
    expect(waits).toEqual([30_000]);
    expect(gh.requests.map((r) => r.status)).toEqual([403, 201]);
  });

  it("hands a long rate limit back as a retryable error instead of sleeping for it", async () => {
    gh.exhaustRateLimit(10, 1800);
    const err = await provider().open(contentFor("echo")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitHubRateLimitError);
    const e = err as GitHubRateLimitError;
    expect(e.status).toBe(403);
    expect(e.retryable).toBe(true);
    expect(e.retryAfterMs).toBeGreaterThan(1_700_000);
    expect(e.message).toMatch(/rate limit/);
    expect(waits).toEqual([]);
    expect(gh.issues).toHaveLength(0);
  });

  it("sends Markdown as is but escapes raw HTML outside code, so special characters round-trip safely", async () => {
    const body = [
      "**Bold** _it_ | a | table | # not a heading",
      "Payload: <script>alert('x')</script> <img src=x onerror=alert(1)> & &lt;already&gt; \"quotes\" 'single' \\ back\\slash",
      "Inline `<base/>` and ``a ` tick <b>`` code; link [x](https://example.com/?a=1&b=2) and <https://learn.microsoft.com/azure>",
      "```xml",
      "<policies><inbound><base /></inbound></policies> & more",
      "```",
      "Ünïcödé ✓ 🚀 — done",
      "apim-remediator fingerprint: `abc`",
    ].join("\n");
    const c: TicketContent = { ...contentFor("echo"), body };
    const p = provider();
    const ref = await p.open(c);
    const stored = gh.issue(ref.id)!.body!;
    expect(stored).not.toMatch(/<script|<img/);
    expect(stored).toContain("&lt;script>alert('x')&lt;/script>");
    expect(stored).toContain("&amp; &amp;lt;already&amp;gt;");
    expect(stored).toContain("Inline `<base/>` and ``a ` tick <b>`` code");
    expect(stored).toContain("<policies><inbound><base /></inbound></policies> & more");
    expect(stored).toContain("<https://learn.microsoft.com/azure>");
    expect(stored).toContain("**Bold** _it_ | a | table");
    expect(stored).toContain("Ünïcödé ✓ 🚀 — done");
    // what GitHub renders is the original text: decoding the escapes outside code gives it back
    const lines = stored.split("\n");
    expect([...lines.slice(0, 3).map(unescape), ...lines.slice(3)].join("\n")).toBe(body);
    expect(stored).toContain("[x](https://example.com/?a=1&amp;b=2)"); // entities in link destinations are decoded by Markdown
    expect(escapeMarkdownHtml(body)).toBe(stored);

    await p.comment(ref, "Back: <i>x</i> & `<y/>`");
    expect(gh.issue(ref.id)!.comments[0]!.body).toBe("Back: &lt;i>x&lt;/i> &amp; `<y/>`");
  });

  it("keeps to GitHub's limits: long labels are cut to 50 characters, long bodies keep the fingerprint", async () => {
    const base = contentFor("echo");
    const c: TicketContent = { ...base, labels: [...base.labels, "team:" + "x".repeat(80)], body: "y".repeat(70_000) };
    const ref = await provider().open(c);
    const issue = gh.issue(ref.id)!;
    expect(issue.labels.every((l) => l.name.length <= 50)).toBe(true);
    expect(issue.labels.map((l) => l.name)).toContain("team:" + "x".repeat(45));
    expect(issue.body!.length).toBeLessThanOrEqual(65_536);
    expect(issue.body).toContain(`fingerprint: \`${c.fingerprint}\``);
  });

  it("still returns the issue when GitHub drops labels (no push access); the body carries the fingerprint", async () => {
    gh.pushAccess = false;
    const c = contentFor("echo");
    const ref = await provider().open(c);
    expect(ref).toMatchObject({ id: "1", state: "open" });
    expect(gh.issue(1)!.labels).toEqual([]);
    expect(gh.issue(1)!.body).toContain(c.fingerprint);
    expect(gh.calls()).toEqual([`POST /repos/${gh.repoFullName}/issues`, `POST /repos/${gh.repoFullName}/issues/1/labels`]);
  });

  it("opens a new issue pointing to the old one when the old one cannot be reopened (deleted: 410)", async () => {
    const p = provider();
    const c = contentFor("echo");
    const old = await p.open(c);
    await p.close(old, "done");
    gh.fail({ status: 410, method: "PATCH", body: { message: "This issue was deleted", documentation_url: "https://docs.github.com/rest", status: "410" } });
    const fresh = await p.reopen({ ...old, state: "closed" }, c, "The drift is back.");
    expect(fresh).toMatchObject({ id: "2", state: "open" });
    expect(gh.issue(2)!.body).toMatch(/^Follows #1,/);
    expect(gh.issue(2)!.comments.map((x) => x.body)).toEqual(["The drift is back."]);
    expect(await p.find(c.fingerprint)).toMatchObject({ id: "2", state: "open" });
  });

  it("the fake rejects what GitHub rejects", async () => {
    const url = `${gh.apiUrl}/repos/${gh.repoFullName}/issues`;
    const headers = { authorization: `Bearer ${gh.token}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "user-agent": "t", "content-type": "application/json" };
    const post = (body: string, h: Record<string, string> = headers, u = url, method = "POST") => fetch(u, { method, headers: h, body }).then(async (r) => ({ status: r.status, json: (await r.json()) as { message: string } }));
    expect(await post("{not json")).toMatchObject({ status: 400, json: { message: "Problems parsing JSON" } });
    expect((await post(JSON.stringify({ body: "no title" }))).status).toBe(422);
    expect((await post(JSON.stringify({ title: "t", labels: "apim" }))).status).toBe(422);
    expect((await post(JSON.stringify({ title: "t", labels: ["x".repeat(51)] }))).status).toBe(422);
    expect((await post(JSON.stringify({ title: "t", body: "b".repeat(65_537) }))).status).toBe(422);
    expect((await post(JSON.stringify({ title: "t" }), { ...headers, "x-github-api-version": "2020-01-01" })).status).toBe(400);
    expect((await post(JSON.stringify({ title: "t" }), { ...headers, authorization: "Bearer nope" })).status).toBe(401);
    const { authorization: _a, ...anonymous } = headers;
    expect((await post(JSON.stringify({ title: "t" }), anonymous)).status).toBe(404);
    expect((await post(JSON.stringify({ title: "t" }))).status).toBe(201);
    expect((await post(JSON.stringify({ state: "shut" }), headers, `${url}/1`, "PATCH")).status).toBe(422);
    expect((await post(JSON.stringify({ state: "closed", state_reason: "reopened" }), headers, `${url}/1`, "PATCH")).status).toBe(422);
    expect((await post(JSON.stringify({}), headers, `${url}/1/comments`)).status).toBe(422);
    expect((await post(JSON.stringify({ body: "x" }), headers, `${url}/99/comments`)).status).toBe(404);
    const badList = await fetch(`${url}?state=everything`, { headers });
    expect(badList.status).toBe(422);
    gh.hasIssues = false;
    expect((await post(JSON.stringify({ title: "t" }))).status).toBe(410);
  });

  describe("with TicketManager", () => {
    const drift = (api: string) => ({ rule, finding: findingFor(api), outcome: "planned", reason: "dry-run" });
    const sync = (m: TicketManager, id: string, present: boolean) =>
      m.sync({ serviceId: SVC, correlationId: id, rulesEvaluated: [rule.meta.id], findings: [present ? findingFor("echo") : { ...findingFor("echo"), status: "pass" }], drifts: present ? [drift("echo")] : [] });

    it("opens one issue per drift, never duplicates (even with the store lost), closes and reopens it", async () => {
      const p = provider();
      const fp = fingerprintOf(rule.meta.id, findingFor("echo").resourceId);
      const store = new MemoryTicketStore();
      const m = new TicketManager(p, store, { commentIntervalMs: 3600_000 });

      const r1 = await sync(m, "c1", true);
      expect(r1).toMatchObject({ opened: [fp], errors: [] });
      expect(gh.issues).toHaveLength(1);
      expect(store.items.get(fp)).toMatchObject({ ticketId: "1", state: "open", provider: "github", url: `https://github.com/${gh.repoFullName}/issues/1` });

      const r2 = await sync(m, "c2", true);
      expect(r2).toMatchObject({ opened: [], commented: [], errors: [] });
      expect(gh.issues).toHaveLength(1);

      // the mapping table is lost: find() links the existing issue by its fingerprint label
      const m2 = new TicketManager(p, new MemoryTicketStore(), { commentIntervalMs: 3600_000 });
      const r3 = await sync(m2, "c3", true);
      expect(r3).toMatchObject({ opened: [], commented: [fp], errors: [] });
      expect(gh.issues).toHaveLength(1);
      expect(gh.issue(1)!.comments.at(-1)!.body).toMatch(/^Still present at .* \(evaluation c3\)\.$/);
      expect(m2.store instanceof MemoryTicketStore && m2.store.items.get(fp)).toMatchObject({ ticketId: "1", state: "open" });

      const r4 = await sync(m2, "c4", false);
      expect(r4).toMatchObject({ closed: [fp], errors: [] });
      expect(gh.issue(1)).toMatchObject({ state: "closed", state_reason: "completed" });
      expect(gh.issue(1)!.comments.at(-1)!.body).toMatch(/^Resolved: the resource is compliant again \(evaluation c4/);

      const r5 = await sync(m2, "c5", true);
      expect(r5).toMatchObject({ reopened: [fp], opened: [], errors: [] });
      expect(gh.issues).toHaveLength(1);
      expect(gh.issue(1)).toMatchObject({ state: "open", state_reason: "reopened" });
      expect(gh.issue(1)!.comments.at(-1)!.body).toMatch(/^The drift is back \(evaluation c5\): API 'echo' accepts http\.$/);
      expect(await p.find(fp)).toMatchObject({ id: "1", state: "open" });
    });

    it("leaves the drift pending when GitHub is rate limited, and delivers it next time", async () => {
      const fp = fingerprintOf(rule.meta.id, findingFor("echo").resourceId);
      const store = new MemoryTicketStore();
      const m = new TicketManager(provider(), store);
      gh.exhaustRateLimit(100, 3600);
      const r1 = await sync(m, "c1", true);
      expect(r1.pending).toEqual([fp]);
      expect(r1.errors[0]).toMatch(/rate limit/);
      expect(store.items.get(fp)).toMatchObject({ state: "pending", pending: "open" });
      gh.rateLimited = 0;
      gh.rateLimitExhausted = false;
      const r2 = await sync(m, "c2", true);
      expect(r2).toMatchObject({ opened: [fp], errors: [] });
      expect(gh.issues).toHaveLength(1);
    });
  });
});
