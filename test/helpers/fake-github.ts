/**
 * A local stand-in for the parts of the GitHub REST API (2022-11-28) that the
 * GitHub Issues provider calls, on 127.0.0.1 with a random port:
 *
 *   GET   /repos/{owner}/{repo}/issues            labels (all of, case-insensitive), state, sort, direction, per_page, page
 *   POST  /repos/{owner}/{repo}/issues            title, body, labels (missing labels are created; dropped without push access)
 *   GET   /repos/{owner}/{repo}/issues/{n}
 *   PATCH /repos/{owner}/{repo}/issues/{n}        title, body, state, state_reason, labels
 *   GET   /repos/{owner}/{repo}/issues/{n}/comments
 *   POST  /repos/{owner}/{repo}/issues/{n}/comments   body
 *   POST  /repos/{owner}/{repo}/issues/{n}/labels     labels (needs push access)
 *   GET   /rate_limit
 *
 * It answers as GitHub does: 401 "Bad credentials" for a wrong token, 404 for
 * a private repository without a token, 400 "Problems parsing JSON", 422 for
 * bodies that break the schema or GitHub's limits (title 256, body 65536,
 * label name 50 characters), 410 when issues are disabled, 400 for an
 * unsupported X-GitHub-Api-Version, 403 without a User-Agent; issues and pull
 * requests share one number sequence and both come back from the issue list.
 * Every request is recorded; faults (status, headers, body) can be queued, and
 * a primary rate limit (403, x-ratelimit-remaining 0) can be switched on.
 * An optional path prefix (`/api/v3`) makes it look like GitHub Enterprise Server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeLabel {
  id: number;
  node_id: string;
  url: string;
  name: string;
  description: string | null;
  color: string;
  default: boolean;
}

export interface FakeIssue {
  number: number;
  title: string;
  body: string | null;
  state: "open" | "closed";
  state_reason: string | null;
  labels: FakeLabel[];
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  comments: Array<{ id: number; body: string; created_at: string }>;
  pull_request?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Path without the prefix, e.g. `/repos/contoso/ops/issues`. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}

export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Only requests with this method (default: any). */
  method?: string;
  /** Only paths matching (default: any except /rate_limit). */
  path?: RegExp;
  /** How many requests it answers (default 1). */
  times?: number;
}

export interface FakeGitHubOptions {
  owner?: string;
  repo?: string;
  token?: string;
  /** `/api/v3` for a GitHub Enterprise Server look-alike. */
  prefix?: string;
  /** Whether the token's user can set labels (push access). Default true. */
  pushAccess?: boolean;
  /** Whether the repository has issues enabled. Default true. */
  hasIssues?: boolean;
}

const DOCS = "https://docs.github.com/rest";
const SUPPORTED_VERSIONS = ["2022-11-28"];
const STATE_REASONS = ["completed", "not_planned", "reopened", "duplicate"];

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly payload: unknown,
  ) {
    super(String(status));
  }
}

const validationFailed = (resource: string, field: string, code: string, message?: string) =>
  new HttpProblem(422, { message: "Validation Failed", errors: [{ resource, code, field, ...(message ? { message } : {}) }], documentation_url: DOCS, status: "422" });
const invalidRequest = (detail: string) => new HttpProblem(422, { message: `Invalid request.\n\n${detail}`, documentation_url: DOCS, status: "422" });
const notFound = () => new HttpProblem(404, { message: "Not Found", documentation_url: DOCS, status: "404" });

export class FakeGitHub {
  readonly owner: string;
  readonly repo: string;
  readonly token: string;
  readonly prefix: string;
  pushAccess: boolean;
  hasIssues: boolean;
  readonly issues: FakeIssue[] = [];
  readonly labels = new Map<string, FakeLabel>();
  readonly requests: RecordedRequest[] = [];
  readonly faults: Fault[] = [];
  /** Requests still answered with a primary rate limit (403, x-ratelimit-remaining 0). */
  rateLimited = 0;
  rateLimitResetSeconds = 0;
  /** The core quota is at 0 (until the reset passes: here, until a request is let through). */
  rateLimitExhausted = false;
  /** Every request is answered this many milliseconds late (a slow GitHub); the request is recorded when it arrives. */
  delayMs = 0;
  private server?: Server;
  private port = 0;
  private nextNumber = 1;
  private nextId = 1000;
  private clock = Date.parse("2025-01-01T00:00:00Z");

  constructor(options: FakeGitHubOptions = {}) {
    this.owner = options.owner ?? "contoso";
    this.repo = options.repo ?? "apim-ops";
    this.token = options.token ?? "ghp_fakeTokenForTests0123456789abcdef";
    this.prefix = options.prefix ?? "";
    this.pushAccess = options.pushAccess ?? true;
    this.hasIssues = options.hasIssues ?? true;
  }

  /** What the provider's `apiUrl` is set to. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}${this.prefix}`;
  }

  get repoFullName(): string {
    return `${this.owner}/${this.repo}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((ok) => this.server!.listen(0, "127.0.0.1", ok));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  reset(): void {
    this.issues.length = 0;
    this.labels.clear();
    this.requests.length = 0;
    this.faults.length = 0;
    this.rateLimited = 0;
    this.rateLimitExhausted = false;
    this.nextNumber = 1;
    this.pushAccess = true;
    this.hasIssues = true;
    this.delayMs = 0;
  }

  fail(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }

  /** The next `times` API requests answer 403 with x-ratelimit-remaining 0, resetting `resetInSeconds` from now. */
  exhaustRateLimit(times: number, resetInSeconds: number): void {
    this.rateLimited = times;
    this.rateLimitExhausted = true;
    this.rateLimitResetSeconds = Math.floor(Date.now() / 1000) + resetInSeconds;
  }

  /** Seeds a pull request (shares the issue numbers; listed by the issue list). */
  addPullRequest(title: string, labels: string[]): FakeIssue {
    const issue = this.createIssue(title, "", labels);
    issue.pull_request = true;
    return issue;
  }

  issue(number: number | string): FakeIssue | undefined {
    return this.issues.find((i) => i.number === Number(number));
  }

  /** Requests to API endpoints (not /rate_limit) as `METHOD path`. */
  calls(): string[] {
    return this.requests.filter((r) => r.path !== "/rate_limit").map((r) => `${r.method} ${r.path}`);
  }

  // ---- model ---------------------------------------------------------------

  private now(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  private label(name: string): FakeLabel {
    const key = name.toLowerCase();
    let l = this.labels.get(key);
    if (!l) {
      const id = this.nextId++;
      l = { id, node_id: `LA_${id}`, url: `${this.apiUrl}/repos/${this.repoFullName}/labels/${encodeURIComponent(name)}`, name, description: null, color: "ededed", default: false };
      this.labels.set(key, l);
    }
    return l;
  }

  private createIssue(title: string, body: string | null, labels: string[]): FakeIssue {
    const t = this.now();
    const issue: FakeIssue = { number: this.nextNumber++, title, body, state: "open", state_reason: null, labels: [], created_at: t, updated_at: t, closed_at: null, comments: [] };
    for (const l of labels) if (!issue.labels.some((x) => x.name.toLowerCase() === l.toLowerCase())) issue.labels.push(this.label(l));
    this.issues.push(issue);
    return issue;
  }

  private user() {
    return { login: "apim-remediator-bot", id: 42, node_id: "U_42", type: "User", site_admin: false, url: `${this.apiUrl}/users/apim-remediator-bot`, html_url: "https://github.com/apim-remediator-bot" };
  }

  private issueJson(i: FakeIssue) {
    const api = `${this.apiUrl}/repos/${this.repoFullName}`;
    const html = `https://github.com/${this.repoFullName}/${i.pull_request ? "pull" : "issues"}/${i.number}`;
    return {
      id: 5_000_000 + i.number,
      node_id: `I_${i.number}`,
      url: `${api}/issues/${i.number}`,
      repository_url: api,
      labels_url: `${api}/issues/${i.number}/labels{/name}`,
      comments_url: `${api}/issues/${i.number}/comments`,
      events_url: `${api}/issues/${i.number}/events`,
      html_url: html,
      number: i.number,
      state: i.state,
      state_reason: i.state_reason,
      title: i.title,
      body: i.body,
      user: this.user(),
      labels: i.labels,
      assignee: null,
      assignees: [],
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: i.comments.length,
      created_at: i.created_at,
      updated_at: i.updated_at,
      closed_at: i.closed_at,
      author_association: "MEMBER",
      ...(i.pull_request ? { pull_request: { url: `${api}/pulls/${i.number}`, html_url: html, diff_url: `${html}.diff`, patch_url: `${html}.patch`, merged_at: null } } : {}),
    };
  }

  private commentJson(i: FakeIssue, c: { id: number; body: string; created_at: string }) {
    const api = `${this.apiUrl}/repos/${this.repoFullName}`;
    return {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${api}/issues/comments/${c.id}`,
      html_url: `https://github.com/${this.repoFullName}/issues/${i.number}#issuecomment-${c.id}`,
      issue_url: `${api}/issues/${i.number}`,
      body: c.body,
      user: this.user(),
      created_at: c.created_at,
      updated_at: c.created_at,
      author_association: "MEMBER",
    };
  }

  // ---- HTTP ----------------------------------------------------------------

  private rateHeaders(): Record<string, string> {
    const limited = this.rateLimitExhausted;
    return {
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": limited ? "0" : "4999",
      "x-ratelimit-used": limited ? "5000" : "1",
      "x-ratelimit-reset": String(limited ? this.rateLimitResetSeconds : Math.floor(Date.now() / 1000) + 3600),
      "x-ratelimit-resource": "core",
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const u = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    let path = u.pathname;
    const rec: RecordedRequest = { method, path, query: Object.fromEntries(u.searchParams), headers: { ...req.headers }, body: undefined, status: 0 };
    this.requests.push(rec);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      const text = payload === undefined ? "" : typeof payload === "string" ? payload : JSON.stringify(payload);
      res.writeHead(status, { "content-type": typeof payload === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8", "x-github-api-version-selected": "2022-11-28", ...this.rateHeaders(), ...headers });
      res.end(text);
    };
    try {
      if (this.prefix) {
        if (!path.startsWith(this.prefix + "/")) throw notFound();
        path = path.slice(this.prefix.length);
        rec.path = path;
      }
      // the request must be acceptable before anything else is looked at
      if (!req.headers["user-agent"]) return send(403, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n");
      const version = req.headers["x-github-api-version"] as string | undefined;
      if (version !== undefined && !SUPPORTED_VERSIONS.includes(version)) throw new HttpProblem(400, { message: `API version '${version}' is not supported.`, documentation_url: DOCS, status: "400" });
      const accept = String(req.headers["accept"] ?? "*/*");
      if (!/json|\*\/\*/.test(accept)) throw new HttpProblem(415, { message: `Unsupported 'Accept' header: '${accept}'. Must accept 'application/json'.`, documentation_url: DOCS, status: "415" });

      // authentication: a wrong token is 401; no token on this private repository is 404
      const auth = req.headers["authorization"];
      let authed = false;
      if (auth !== undefined) {
        const m = /^(?:Bearer|token) (.+)$/i.exec(auth);
        if (!m || m[1] !== this.token) throw new HttpProblem(401, { message: "Bad credentials", documentation_url: DOCS, status: "401" });
        authed = true;
      }

      if (method === "GET" && path === "/rate_limit") {
        const x = this.rateLimitExhausted;
        const core = { limit: 5000, used: x ? 5000 : 1, remaining: x ? 0 : 4999, reset: x ? this.rateLimitResetSeconds : Math.floor(Date.now() / 1000) + 3600 };
        return send(200, { resources: { core, search: { limit: 30, used: 0, remaining: 30, reset: core.reset } }, rate: core });
      }

      const fi = this.faults.findIndex((f) => (!f.method || f.method === method) && (f.path ? f.path.test(path) : true));
      if (fi >= 0) {
        const f = this.faults[fi] as Fault;
        f.times = (f.times ?? 1) - 1;
        if (f.times <= 0) this.faults.splice(fi, 1);
        return send(f.status, f.body ?? { message: f.status >= 500 ? "Server Error" : "fault", documentation_url: DOCS, status: String(f.status) }, f.headers);
      }
      if (this.rateLimited > 0) {
        this.rateLimited--;
        return send(403, { message: "API rate limit exceeded for user ID 42. If you reach out to GitHub Support for help, please include the request ID.", documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", status: "403" });
      }
      this.rateLimitExhausted = false;

      const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
      if (!m || decodeURIComponent(m[1] as string).toLowerCase() !== this.owner.toLowerCase() || decodeURIComponent(m[2] as string).toLowerCase() !== this.repo.toLowerCase()) throw notFound();
      if (!authed) throw notFound();
      const rest = m[3] ?? "";
      const body = method === "POST" || method === "PATCH" ? this.parseBody(raw, rec) : undefined;
      if (rest.startsWith("/issues") && !this.hasIssues) throw new HttpProblem(410, { message: "Issues are disabled for this repo", documentation_url: DOCS, status: "410" });

      if (rest === "/issues" && method === "GET") return this.list(u.searchParams, send);
      if (rest === "/issues" && method === "POST") {
        const created = this.create(body as Record<string, unknown>);
        return send(201, created, { location: created.url });
      }
      const im = /^\/issues\/(\d+)(\/comments|\/labels)?$/.exec(rest);
      if (im) {
        const issue = this.issue(im[1] as string);
        if (!issue) throw notFound();
        const sub = im[2];
        if (!sub && method === "GET") return send(200, this.issueJson(issue));
        if (!sub && method === "PATCH") return send(200, this.update(issue, body as Record<string, unknown>));
        if (sub === "/comments" && method === "GET") return send(200, issue.comments.map((c) => this.commentJson(issue, c)));
        if (sub === "/comments" && method === "POST") return send(201, this.comment(issue, body as Record<string, unknown>));
        if (sub === "/labels" && method === "POST") return send(200, this.addLabels(issue, body));
      }
      throw notFound();
    } catch (e) {
      if (e instanceof HttpProblem) return send(e.status, e.payload);
      return send(500, { message: `fake-github: ${(e as Error).message}` });
    }
  }

  private parseBody(raw: string, rec: RecordedRequest): unknown {
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      throw new HttpProblem(400, { message: "Problems parsing JSON", documentation_url: DOCS, status: "400" });
    }
    rec.body = body;
    return body;
  }

  private object(body: unknown): Record<string, unknown> {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpProblem(400, { message: "Body should be a JSON object", documentation_url: DOCS, status: "400" });
    return body as Record<string, unknown>;
  }

  private labelNames(value: unknown, field = "labels"): string[] {
    if (!Array.isArray(value)) throw invalidRequest(`For 'properties/${field}', ${JSON.stringify(value)} is not an array.`);
    return value.map((l) => {
      const name = typeof l === "string" ? l : typeof l === "object" && l !== null && typeof (l as { name?: unknown }).name === "string" ? (l as { name: string }).name : undefined;
      if (name === undefined) throw invalidRequest(`For 'items', ${JSON.stringify(l)} is not a string or an object.`);
      if (name.length > 50 || name.trim() === "") throw validationFailed("Label", "name", "invalid");
      return name;
    });
  }

  private checkText(b: Record<string, unknown>, resource: string) {
    if ("title" in b) {
      if (typeof b["title"] !== "string" && typeof b["title"] !== "number") throw invalidRequest(`For 'properties/title', ${JSON.stringify(b["title"])} is not a string or integer.`);
      if (String(b["title"]).trim() === "") throw validationFailed(resource, "title", "missing_field");
      if (String(b["title"]).length > 256) throw validationFailed(resource, "title", "custom", "title is too long (maximum is 256 characters)");
    }
    if ("body" in b && b["body"] !== null) {
      if (typeof b["body"] !== "string") throw invalidRequest(`For 'properties/body', ${JSON.stringify(b["body"])} is not a string or null.`);
      if (b["body"].length > 65536) throw validationFailed(resource, "body", "custom", "body is too long (maximum is 65536 characters)");
    }
  }

  private list(q: URLSearchParams, send: (s: number, p: unknown, h?: Record<string, string>) => void) {
    const state = q.get("state") ?? "open";
    const sort = q.get("sort") ?? "created";
    const direction = q.get("direction") ?? "desc";
    const perPage = Number(q.get("per_page") ?? "30");
    const page = Number(q.get("page") ?? "1");
    if (!["open", "closed", "all"].includes(state)) throw validationFailed("Issue", "state", "invalid");
    if (!["created", "updated", "comments"].includes(sort)) throw validationFailed("Issue", "sort", "invalid");
    if (!["asc", "desc"].includes(direction)) throw validationFailed("Issue", "direction", "invalid");
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100 || !Number.isInteger(page) || page < 1) throw validationFailed("Issue", "per_page", "invalid");
    const want = (q.get("labels") ?? "")
      .split(",")
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean);
    const key = (i: FakeIssue) => (sort === "created" ? i.created_at : sort === "updated" ? i.updated_at : String(i.comments.length).padStart(8, "0"));
    const hits = this.issues
      .filter((i) => state === "all" || i.state === state)
      .filter((i) => want.every((w) => i.labels.some((l) => l.name.toLowerCase() === w)))
      .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.number - b.number) * (direction === "asc" ? 1 : -1));
    const pageItems = hits.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = {};
    if (hits.length > page * perPage) {
      const next = new URLSearchParams(q);
      next.set("page", String(page + 1));
      headers["link"] = `<${this.apiUrl}/repos/${this.repoFullName}/issues?${next.toString()}>; rel="next"`;
    }
    send(
      200,
      pageItems.map((i) => this.issueJson(i)),
      headers,
    );
  }

  private create(raw: Record<string, unknown>) {
    const b = this.object(raw);
    if (!("title" in b) || b["title"] === null) throw invalidRequest(`"title" wasn't supplied.`);
    this.checkText(b, "Issue");
    const labels = "labels" in b && b["labels"] !== null ? this.labelNames(b["labels"]) : [];
    const issue = this.createIssue(String(b["title"]), (b["body"] as string | null | undefined) ?? null, this.pushAccess ? labels : []);
    return this.issueJson(issue);
  }

  private update(issue: FakeIssue, raw: Record<string, unknown>) {
    const b = this.object(raw);
    this.checkText(b, "Issue");
    if ("state" in b && b["state"] !== "open" && b["state"] !== "closed") throw invalidRequest(`For 'properties/state', ${JSON.stringify(b["state"])} is not one of ["open","closed"].`);
    if ("state_reason" in b && b["state_reason"] !== null && !STATE_REASONS.includes(b["state_reason"] as string)) throw invalidRequest(`For 'properties/state_reason', ${JSON.stringify(b["state_reason"])} is not one of ${JSON.stringify([...STATE_REASONS, null])}.`);
    const reason = b["state_reason"] as string | null | undefined;
    if (b["state"] === "closed" && reason === "reopened") throw validationFailed("Issue", "state_reason", "invalid");
    if (b["state"] === "open" && reason && reason !== "reopened") throw validationFailed("Issue", "state_reason", "invalid");
    if (b["title"] !== undefined) issue.title = String(b["title"]);
    if (b["body"] !== undefined) issue.body = b["body"] as string | null;
    if (b["labels"] !== undefined && b["labels"] !== null) {
      const names = this.labelNames(b["labels"]);
      if (this.pushAccess) issue.labels = names.map((n) => this.label(n));
    }
    const t = this.now();
    if (b["state"] === "closed" && issue.state !== "closed") {
      issue.state = "closed";
      issue.closed_at = t;
      issue.state_reason = reason ?? "completed";
    } else if (b["state"] === "open" && issue.state !== "open") {
      issue.state = "open";
      issue.closed_at = null;
      issue.state_reason = "reopened";
    }
    issue.updated_at = t;
    return this.issueJson(issue);
  }

  private comment(issue: FakeIssue, raw: Record<string, unknown>) {
    const b = this.object(raw);
    if (typeof b["body"] !== "string") throw invalidRequest(`For 'properties/body', ${JSON.stringify(b["body"] ?? null)} is not a string.`);
    if (b["body"].trim() === "") throw validationFailed("IssueComment", "body", "missing_field");
    if (b["body"].length > 65536) throw validationFailed("IssueComment", "body", "custom", "body is too long (maximum is 65536 characters)");
    const c = { id: this.nextId++, body: b["body"], created_at: this.now() };
    issue.comments.push(c);
    issue.updated_at = c.created_at;
    return this.commentJson(issue, c);
  }

  private addLabels(issue: FakeIssue, raw: unknown) {
    const names = Array.isArray(raw) ? this.labelNames(raw) : this.labelNames(this.object(raw)["labels"]);
    if (!this.pushAccess) throw new HttpProblem(403, { message: "Must have push access to add labels", documentation_url: DOCS, status: "403" });
    for (const n of names) if (!issue.labels.some((l) => l.name.toLowerCase() === n.toLowerCase())) issue.labels.push(this.label(n));
    issue.updated_at = this.now();
    return issue.labels;
  }
}

export async function startFakeGitHub(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  return new FakeGitHub(options).start();
}
