/**
 * GitHub Issues provider (github.com, or GitHub Enterprise Server with
 * `apiUrl` = https://<host>/api/v3), over the REST API (version 2022-11-28):
 *
 * - open:    POST  /repos/{owner}/{repo}/issues                      (title, body, labels)
 * - comment: POST  /repos/{owner}/{repo}/issues/{number}/comments    (body)
 * - close:   comment, then PATCH /repos/{owner}/{repo}/issues/{number} (state closed, state_reason completed)
 * - reopen:  PATCH /repos/{owner}/{repo}/issues/{number} (state open, state_reason reopened, title, body), then comment
 * - find:    GET   /repos/{owner}/{repo}/issues?labels=apim-fp:<fp>&state=all&sort=created&direction=desc
 *            (the label filter is exact and immediately consistent, unlike the search API;
 *            pull requests carrying the label are skipped)
 *
 * The fingerprint travels as the `apim-fp:<fingerprint>` label (GitHub creates
 * missing labels on issue creation) and in the body's footer. Bodies are
 * Markdown, which GitHub renders natively; raw HTML outside code is escaped so
 * text from resources renders as text. Rate limits: 429 (and 5xx) are retried
 * by requestJson; a 403 that is a rate limit (Retry-After, or the core quota
 * at 0 per GET /rate_limit, or GitHub's "rate limit" message) is waited out
 * here when the wait is short, and otherwise surfaces as a retryable error so
 * the manager retries at the next evaluation.
 */
import { requestJson, type HttpOptions } from "./http.js";
import { TicketHttpError, type TicketContent, type TicketProvider, type TicketRef } from "./types.js";

export type GitHubOptions = {
  apiUrl: string;
  repo: string;
  token: string;
  /** User-Agent header (GitHub rejects requests without one). */
  userAgent?: string;
  /** Longest rate-limit wait done in-process; longer waits surface as a retryable error. Default 60 s. */
  maxRateLimitWaitMs?: number;
};

/** GitHub's limits on what an issue holds. */
export const GITHUB_BODY_MAX = 65_536;
export const GITHUB_LABEL_MAX = 50;
export const GITHUB_TITLE_MAX = 256;
export const API_VERSION = "2022-11-28";

/** A GitHub rate limit answered with 403 (which TicketHttpError alone would treat as final). */
export class GitHubRateLimitError extends TicketHttpError {
  override get retryable(): boolean {
    return true;
  }
}

interface GitHubLabel {
  name: string;
}
interface GitHubIssue {
  number: number;
  html_url?: string;
  state: string;
  labels?: Array<GitHubLabel | string>;
  pull_request?: unknown;
}
interface GitHubRateLimit {
  resources?: { core?: { remaining?: number; reset?: number } };
  rate?: { remaining?: number; reset?: number };
}

const AUTOLINK = /(<(?:[a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*|[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)>)/;

/** Escapes raw HTML (`&`, `<`) outside code spans and fenced code blocks; Markdown itself is left as is. */
export function escapeMarkdownHtml(markdown: string): string {
  // autolinks (`<https://...>`, `<name@host>`) are Markdown, not HTML: kept
  const esc = (s: string) => s.split(AUTOLINK).map((part, i) => (i % 2 === 1 ? part : part.replace(/&/g, "&amp;").replace(/</g, "&lt;"))).join("");
  const out: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      out.push(line);
      if (m && (m[1] as string)[0] === fence[0] && (m[1] as string).length >= fence.length && line.trim() === m[1]) fence = undefined;
      continue;
    }
    if (m && !((m[1] as string)[0] === "`" && line.slice(line.indexOf(m[1] as string) + (m[1] as string).length).includes("`"))) {
      fence = m[1] as string;
      out.push(line);
      continue;
    }
    // inline code spans: a run of N backticks closed by a run of exactly N backticks
    let result = "";
    let i = 0;
    while (i < line.length) {
      const tick = line.indexOf("`", i);
      if (tick < 0) {
        result += esc(line.slice(i));
        break;
      }
      result += esc(line.slice(i, tick));
      let n = tick;
      while (line[n] === "`") n++;
      const run = line.slice(tick, n);
      const close = new RegExp(`(?<!\`)${run}(?!\`)`, "g");
      close.lastIndex = n;
      const c = close.exec(line);
      if (!c) {
        result += run;
        i = n;
        continue;
      }
      result += line.slice(tick, c.index + run.length);
      i = c.index + run.length;
    }
    out.push(result);
  }
  return out.join("\n");
}

/** Keeps a body within GitHub's limit, keeping the fingerprint footer when cut. */
function fitBody(text: string, fingerprint?: string): string {
  if (text.length <= GITHUB_BODY_MAX) return text;
  const tail = `\n\n… (truncated)${fingerprint ? `\n\n---\napim-remediator fingerprint: \`${fingerprint}\`` : ""}`;
  return text.slice(0, GITHUB_BODY_MAX - tail.length) + tail;
}

export function fingerprintLabel(fingerprint: string): string {
  return `apim-fp:${fingerprint}`.slice(0, GITHUB_LABEL_MAX);
}

/** The labels to set: the content's, plus the two find() relies on; at most 50 characters each, no duplicates. */
export function issueLabels(content: TicketContent): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of ["apim-remediator", fingerprintLabel(content.fingerprint), ...content.labels]) {
    const l = raw.trim().slice(0, GITHUB_LABEL_MAX).trim();
    if (!l || seen.has(l.toLowerCase())) continue;
    seen.add(l.toLowerCase());
    out.push(l);
  }
  return out;
}

const labelName = (l: GitHubLabel | string) => (typeof l === "string" ? l : l.name);

export class GitHubProvider implements TicketProvider {
  readonly name = "github";
  private readonly base: string;

  constructor(
    readonly options: GitHubOptions,
    readonly http: HttpOptions = {},
  ) {
    const [owner, repo, ...rest] = options.repo.split("/");
    if (!owner || !repo || rest.length > 0) throw new Error(`github: repo must be "owner/name", got "${options.repo}"`);
    this.base = `${options.apiUrl.replace(/\/+$/, "")}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
  }

  private headers(): Record<string, string> {
    // lowercase keys: requestJson sets `accept`/`content-type` and lets these override them
    return {
      accept: "application/vnd.github+json",
      authorization: `Bearer ${this.options.token}`,
      "x-github-api-version": API_VERSION,
      "user-agent": this.options.userAgent ?? "apim-remediator",
    };
  }

  private sleep(ms: number): Promise<void> {
    return (this.http.sleep ?? ((t: number) => new Promise<void>((r) => setTimeout(r, t))))(ms);
  }

  /** One REST call through requestJson, waiting out 403 rate limits and explaining failures. */
  private async call<T>(method: string, url: string, body?: unknown): Promise<T> {
    const retries = this.http.retries ?? 3;
    const maxWait = this.options.maxRateLimitWaitMs ?? 60_000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await requestJson<T>(method, url, this.headers(), body, this.http);
      } catch (e) {
        if (!(e instanceof TicketHttpError)) throw e;
        if (e.status === 403) {
          const waitMs = await this.rateLimitWait(e, attempt);
          if (waitMs !== undefined) {
            if (attempt < retries && waitMs <= maxWait) {
              await this.sleep(waitMs);
              continue;
            }
            throw new GitHubRateLimitError(403, `GitHub rate limit: ${e.message} (retry in ${Math.ceil(waitMs / 1000)} s)`, waitMs);
          }
        }
        throw this.explain(e);
      }
    }
  }

  /** How long to wait when a 403 is a rate limit; undefined when it is a real refusal. */
  private async rateLimitWait(e: TicketHttpError, attempt: number): Promise<number | undefined> {
    if (e.retryAfterMs !== undefined) return e.retryAfterMs;
    let limit: GitHubRateLimit | undefined;
    try {
      // does not count against the primary rate limit; tells whether x-ratelimit-remaining is 0 and when it resets
      limit = await requestJson<GitHubRateLimit>("GET", `${this.options.apiUrl.replace(/\/+$/, "")}/rate_limit`, this.headers(), undefined, { ...this.http, retries: 0 });
    } catch {
      limit = undefined;
    }
    const core = limit?.resources?.core ?? limit?.rate;
    if (core && core.remaining === 0 && typeof core.reset === "number") return Math.max(1000, core.reset * 1000 - Date.now() + 1000);
    // a secondary rate limit without Retry-After: wait at least a minute, longer each time
    if (/rate limit/i.test(e.message)) return 60_000 * 2 ** attempt;
    return undefined;
  }

  private explain(e: TicketHttpError): TicketHttpError {
    const repo = this.options.repo;
    const hint =
      e.status === 401
        ? "the token was rejected (check TICKET_GITHUB_TOKEN)"
        : e.status === 403
          ? `the token may not read/write issues in ${repo}`
          : e.status === 404
            ? `${repo} (or the issue) was not found, or is not visible to the token`
            : e.status === 410
              ? `issues are disabled in ${repo}, or the issue was deleted`
              : e.status === 422
                ? "GitHub rejected the request as invalid"
                : undefined;
    return hint ? new TicketHttpError(e.status, `GitHub: ${hint}: ${e.message}`, e.retryAfterMs) : e;
  }

  private ref(issue: GitHubIssue): TicketRef {
    return { id: String(issue.number), url: issue.html_url, state: issue.state === "closed" ? "closed" : "open" };
  }

  private issueUrl(ref: TicketRef): string {
    if (!/^\d+$/.test(ref.id)) throw new Error(`github: "${ref.id}" is not an issue number`);
    return `${this.base}/issues/${ref.id}`;
  }

  async find(fingerprint: string): Promise<TicketRef | undefined> {
    const q = new URLSearchParams({ labels: fingerprintLabel(fingerprint), state: "all", sort: "created", direction: "desc", per_page: "30" });
    const issues = await this.call<GitHubIssue[]>("GET", `${this.base}/issues?${q.toString()}`);
    const issue = (issues ?? []).find((i) => !i.pull_request);
    return issue ? this.ref(issue) : undefined;
  }

  async open(content: TicketContent): Promise<TicketRef> {
    const labels = issueLabels(content);
    const issue = await this.call<GitHubIssue>("POST", `${this.base}/issues`, {
      title: content.title.slice(0, GITHUB_TITLE_MAX),
      body: fitBody(escapeMarkdownHtml(content.body), content.fingerprint),
      labels,
    });
    // labels are silently dropped for tokens without push access: try once more, best effort
    // (the issue exists and the store maps it; failing here would only open a duplicate later)
    const fp = fingerprintLabel(content.fingerprint).toLowerCase();
    if (!(issue.labels ?? []).some((l) => labelName(l).toLowerCase() === fp)) {
      await this.call("POST", `${this.issueUrl(this.ref(issue))}/labels`, { labels }).catch(() => undefined);
    }
    return this.ref(issue);
  }

  async comment(ref: TicketRef, text: string): Promise<void> {
    await this.call("POST", `${this.issueUrl(ref)}/comments`, { body: fitBody(escapeMarkdownHtml(text)) });
  }

  async close(ref: TicketRef, text: string): Promise<void> {
    await this.comment(ref, text);
    await this.call("PATCH", this.issueUrl(ref), { state: "closed", state_reason: "completed" });
  }

  async reopen(ref: TicketRef, content: TicketContent, text: string): Promise<TicketRef> {
    let issue: GitHubIssue;
    try {
      issue = await this.call<GitHubIssue>("PATCH", this.issueUrl(ref), {
        state: "open",
        state_reason: "reopened",
        title: content.title.slice(0, GITHUB_TITLE_MAX),
        body: fitBody(escapeMarkdownHtml(content.body), content.fingerprint),
      });
    } catch (e) {
      // the old issue was deleted (410) or is gone (404): open a new one that points back to it
      if (!(e instanceof TicketHttpError) || (e.status !== 404 && e.status !== 410)) throw e;
      const fresh = await this.open({ ...content, body: `Follows #${ref.id}, which can no longer be reopened.\n\n${content.body}` });
      await this.comment(fresh, text);
      return fresh;
    }
    const reopened = this.ref(issue);
    await this.comment(reopened, text);
    return { ...reopened, state: "open" };
  }
}
