/**
 * Jira Cloud provider (REST API v3, Basic auth with an account email and an
 * API token). One issue per drift:
 *
 * - open: `POST /rest/api/3/issue` with the body as Atlassian Document Format
 *   (ADF) and the labels `apim-remediator` and `apim-fp-<fingerprint>`;
 * - find: `POST /rest/api/3/search/jql` (the current search endpoint) with
 *   `labels = "apim-fp-<fingerprint>" ORDER BY created DESC`; deliberately not
 *   limited to the configured project, so an issue moved to a team's project
 *   is still found; a status in the `done` category counts as closed;
 * - comment: `POST /rest/api/3/issue/{key}/comment` with an ADF body;
 * - close / reopen: `GET /rest/api/3/issue/{key}/transitions`, then `POST` the
 *   transition whose name, or target status name, matches the configured one
 *   (case-insensitive); the comment follows the transition, so a retry after a
 *   failed transition does not repeat the comment. When no transition matches
 *   but the issue already is where it should be (closed or reopened by hand),
 *   only the comment is added; otherwise the error names the transitions on
 *   offer.
 *
 * The API token never appears in a message: errors name the method and path
 * only, a 401 says which settings to check, and every message is scrubbed.
 */
import { requestJson, type HttpOptions } from "./http.js";
import { TicketHttpError, type TicketContent, type TicketProvider, type TicketRef } from "./types.js";

export type JiraOptions = {
  baseUrl: string;
  email: string;
  apiToken: string;
  project: string;
  issueType: string;
  doneTransition: string;
  reopenTransition: string;
  /** Optional Jira priority name per severity (e.g. `{ critical: "Highest" }`); unset severities send no priority. */
  priorities?: Partial<Record<TicketContent["severity"], string>>;
};

/** Jira's limit for a text field (description, comment body); the Markdown is cut well before it. */
const MAX_TEXT = 30_000;
const MAX_LABEL = 255;
const MAX_SUMMARY = 255;

// ---- labels --------------------------------------------------------------------

/** A Jira label: no whitespace (Jira rejects it), `:` as `-`, at most 255 characters. */
export function jiraLabel(label: string): string {
  const s = label
    .trim()
    .replace(/:/g, "-")
    .replace(/\s+/g, "_");
  return cut(s, MAX_LABEL);
}

export function fingerprintLabel(fingerprint: string): string {
  return jiraLabel(`apim-fp-${fingerprint}`);
}

// ---- Markdown -> Atlassian Document Format ------------------------------------------

export type AdfMark = { type: "strong" | "em" | "code" | "strike" } | { type: "link"; attrs: { href: string } };
export type AdfInline = { type: "text"; text: string; marks?: AdfMark[] } | { type: "hardBreak" };
export type AdfBlock =
  | { type: "paragraph"; content: AdfInline[] }
  | { type: "heading"; attrs: { level: number }; content: AdfInline[] }
  | { type: "codeBlock"; attrs?: { language: string }; content?: Array<{ type: "text"; text: string }> }
  | { type: "bulletList"; content: AdfListItem[] }
  | { type: "orderedList"; attrs: { order: number }; content: AdfListItem[] }
  | { type: "blockquote"; content: AdfBlock[] }
  | { type: "rule" };
export type AdfListItem = { type: "listItem"; content: AdfBlock[] };
export interface AdfDoc {
  type: "doc";
  version: 1;
  content: AdfBlock[];
}

const SAFE_HREF = /^(https?:\/\/|mailto:)[^\s]+$/i;

interface InlineRule {
  re: RegExp;
  emit(m: RegExpExecArray, marks: AdfMark[]): AdfInline[];
}

/** At most `n` UTF-16 units (what Jira counts), never splitting a surrogate pair. */
function cut(s: string, n: number): string {
  if (s.length <= n) return s;
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

function textNode(text: string, marks: AdfMark[]): AdfInline[] {
  if (!text) return [];
  return [marks.length ? { type: "text", text, marks: [...marks] } : { type: "text", text }];
}

function withMark(marks: AdfMark[], mark: AdfMark): AdfMark[] {
  return marks.some((m) => m.type === mark.type) ? marks : [...marks, mark];
}

const INLINE_RULES: InlineRule[] = [
  // backslash escape: the character, literally
  { re: /\\([!-/:-@[-`{-~])/y, emit: (m, marks) => textNode(m[1] as string, marks) },
  // code span: in ADF `code` combines with `link` only
  { re: /(`+)([\s\S]+?)\1/y, emit: (m, marks) => textNode(m[2] as string, [...marks.filter((k) => k.type === "link"), { type: "code" }]) },
  // [text](href): a link mark on the text when the href is http(s)/mailto, plain text otherwise
  {
    re: /\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)/y,
    emit: (m, marks) => {
      const href = m[2] as string;
      if (!SAFE_HREF.test(href) || marks.some((k) => k.type === "link")) return inline(m[1] as string, marks).concat(textNode(` (${href})`, marks));
      return inline(m[1] as string, withMark(marks, { type: "link", attrs: { href } }));
    },
  },
  // bare URL
  {
    re: /https?:\/\/[^\s<>()[\]`]+[^\s<>()[\]`.,;:!?'"*]/y,
    emit: (m, marks) => textNode(m[0], marks.some((k) => k.type === "link") ? marks : [...marks, { type: "link", attrs: { href: m[0] } }]),
  },
  { re: /\*\*(?=\S)([\s\S]+?)\*\*/y, emit: (m, marks) => inline(m[1] as string, withMark(marks, { type: "strong" })) },
  { re: /~~(?=\S)([\s\S]+?)~~/y, emit: (m, marks) => inline(m[1] as string, withMark(marks, { type: "strike" })) },
  // *em* (underscores are left alone: identifiers such as api_version are common)
  { re: /\*(?=[^\s*])([^*]+?)\*/y, emit: (m, marks) => inline(m[1] as string, withMark(marks, { type: "em" })) },
];

const INLINE_START = /[\\`[h*~]/g;

/** Inline Markdown to ADF text nodes; whatever is not markup stays literal text (ADF has no HTML to escape). */
function inline(src: string, marks: AdfMark[] = []): AdfInline[] {
  const out: AdfInline[] = [];
  let plain = "";
  let i = 0;
  const flush = () => {
    out.push(...textNode(plain, marks));
    plain = "";
  };
  while (i < src.length) {
    INLINE_START.lastIndex = i;
    const next = INLINE_START.exec(src);
    if (!next) break;
    plain += src.slice(i, next.index);
    i = next.index;
    let matched = false;
    for (const rule of INLINE_RULES) {
      rule.re.lastIndex = i;
      const m = rule.re.exec(src);
      if (m) {
        flush();
        out.push(...rule.emit(m, marks));
        i += m[0].length;
        matched = true;
        break;
      }
    }
    if (!matched) {
      plain += src[i];
      i++;
    }
  }
  plain += src.slice(i);
  flush();
  // neighbouring text with the same marks becomes one node
  const merged: AdfInline[] = [];
  for (const n of out) {
    const prev = merged[merged.length - 1];
    if (prev?.type === "text" && n.type === "text" && JSON.stringify(prev.marks ?? []) === JSON.stringify(n.marks ?? [])) merged[merged.length - 1] = { ...prev, text: prev.text + n.text };
    else merged.push(n);
  }
  return merged;
}

/** Lines of a paragraph, joined by hard breaks (the tickets put one fact per line). */
function paragraphInline(lines: string[]): AdfInline[] {
  const out: AdfInline[] = [];
  lines.forEach((l, n) => {
    if (n > 0) out.push({ type: "hardBreak" });
    out.push(...inline(l.trim()));
  });
  return out;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^(\s*)[-*+]\s+(.*)$/;
const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;

function startsBlock(line: string): boolean {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || BULLET.test(line) || ORDERED.test(line) || QUOTE.test(line);
}

function blocks(lines: string[]): AdfBlock[] {
  const out: AdfBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (!line.trim()) {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1] as string;
      const code: string[] = [];
      i++;
      while (i < lines.length && !(lines[i] as string).trim().startsWith(marker)) code.push(lines[i++] as string);
      i++; // closing fence (or the end of the text)
      const text = code.join("\n");
      out.push({ type: "codeBlock", ...(fence[2] ? { attrs: { language: fence[2] } } : {}), ...(text ? { content: [{ type: "text", text }] } : {}) });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push({ type: "heading", attrs: { level: (heading[1] as string).length }, content: inline(heading[2] as string) });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      out.push({ type: "rule" });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i] as string)) quoted.push((QUOTE.exec(lines[i++] as string) as RegExpExecArray)[1] as string);
      // a quote holds paragraphs, lists and code only: headings become bold paragraphs, rules are dropped
      const inner = blocks(quoted).flatMap((b): AdfBlock[] => (b.type === "heading" ? [{ type: "paragraph", content: b.content.map((n) => (n.type === "text" && !n.marks?.some((k) => k.type === "code") ? { ...n, marks: withMark(n.marks ?? [], { type: "strong" }) } : n)) }] : b.type === "rule" || b.type === "blockquote" ? [] : [b]));
      out.push({ type: "blockquote", content: inner.length ? inner : [{ type: "paragraph", content: [] }] });
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = bullet ? undefined : ORDERED.exec(line);
    if (bullet || ordered) {
      // a flat list: items are consecutive list lines of the same kind; indented lines continue the item
      const re = bullet ? BULLET : ORDERED;
      const items: AdfListItem[] = [];
      while (i < lines.length && re.test(lines[i] as string)) {
        const m = re.exec(lines[i++] as string) as RegExpExecArray;
        const itemLines = [(bullet ? m[2] : m[3]) as string];
        while (i < lines.length && /^\s{2,}\S/.test(lines[i] as string) && !startsBlock(lines[i] as string)) itemLines.push(lines[i++] as string);
        items.push({ type: "listItem", content: [{ type: "paragraph", content: paragraphInline(itemLines) }] });
      }
      out.push(bullet ? { type: "bulletList", content: items } : { type: "orderedList", attrs: { order: Number((ordered as RegExpExecArray)[2]) || 1 }, content: items });
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && (lines[i] as string).trim() && (para.length === 0 || !startsBlock(lines[i] as string))) para.push(lines[i++] as string);
    out.push({ type: "paragraph", content: paragraphInline(para) });
  }
  return out;
}

/** Simple Markdown (paragraphs, headings, fenced code, lists, quotes, rules, emphasis, code spans, links) to an ADF document. */
export function markdownToAdf(markdown: string): AdfDoc {
  let text = markdown.replace(/\r\n?/g, "\n");
  if (text.length > MAX_TEXT) text = `${cut(text, MAX_TEXT)}\n\n(truncated)`;
  const content = blocks(text.split("\n"));
  return { type: "doc", version: 1, content: content.length ? content : [{ type: "paragraph", content: [] }] };
}

// ---- the provider ------------------------------------------------------------------

interface JiraStatus {
  name?: string;
  statusCategory?: { key?: string };
}
interface JiraTransition {
  id: string;
  name?: string;
  isAvailable?: boolean;
  to?: JiraStatus;
}

export class JiraProvider implements TicketProvider {
  readonly name = "jira";
  private readonly base: string;

  constructor(
    readonly options: JiraOptions,
    readonly http: HttpOptions = {},
  ) {
    this.base = options.baseUrl.replace(/\/+$/, "");
  }

  private headers(): Record<string, string> {
    return { authorization: `Basic ${Buffer.from(`${this.options.email}:${this.options.apiToken}`, "utf8").toString("base64")}`, "content-type": "application/json" };
  }

  /** Removes anything credential-like from a message (the token, the Basic header value). */
  private scrub(message: string): string {
    let out = message;
    const secrets = [this.options.apiToken, Buffer.from(`${this.options.email}:${this.options.apiToken}`, "utf8").toString("base64")].filter((s) => s && s.length >= 4);
    for (const s of secrets) out = out.split(s).join("***");
    return out;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await requestJson<T>(method, `${this.base}${path}`, this.headers(), body, this.http);
    } catch (e) {
      if (!(e instanceof TicketHttpError)) throw new Error(this.scrub(`jira: ${(e as Error).message}`));
      const where = `${method} ${path.split("?")[0]}`;
      if (e.status === 401) throw new TicketHttpError(401, `jira: ${where} answered 401: Jira did not accept the credentials; check TICKET_JIRA_EMAIL and TICKET_JIRA_TOKEN (an API token of that account)`);
      throw new TicketHttpError(e.status, this.scrub(`jira: ${e.message}`), e.retryAfterMs);
    }
  }

  private ref(key: string, state: TicketRef["state"]): TicketRef {
    return { id: key, url: `${this.base}/browse/${encodeURIComponent(key)}`, state };
  }

  private issuePath(ref: TicketRef | string): string {
    return `/rest/api/3/issue/${encodeURIComponent(typeof ref === "string" ? ref : ref.id)}`;
  }

  async find(fingerprint: string): Promise<TicketRef | undefined> {
    const label = fingerprintLabel(fingerprint).replace(/["\\]/g, "\\$&");
    const res = await this.call<{ issues?: Array<{ key: string; fields?: { status?: JiraStatus } }> }>("POST", "/rest/api/3/search/jql", {
      jql: `labels = "${label}" ORDER BY created DESC`,
      fields: ["status"],
      maxResults: 1,
    });
    const issue = res?.issues?.[0];
    if (!issue) return undefined;
    return this.ref(issue.key, issue.fields?.status?.statusCategory?.key === "done" ? "closed" : "open");
  }

  async open(content: TicketContent): Promise<TicketRef> {
    const labels = [...new Set(["apim-remediator", ...content.labels, `apim-fp-${content.fingerprint}`].map(jiraLabel).filter(Boolean))];
    const priority = this.options.priorities?.[content.severity];
    const fields: Record<string, unknown> = {
      project: { key: this.options.project },
      issuetype: { name: this.options.issueType },
      summary: cut(content.title.replace(/\s+/g, " ").trim(), MAX_SUMMARY),
      description: markdownToAdf(content.body),
      labels,
      ...(priority ? { priority: { name: priority } } : {}),
    };
    const created = await this.call<{ id: string; key: string }>("POST", "/rest/api/3/issue", { fields });
    if (!created?.key) throw new Error("jira: POST /rest/api/3/issue answered without an issue key");
    return this.ref(created.key, "open");
  }

  async comment(ref: TicketRef, text: string): Promise<void> {
    await this.call("POST", `${this.issuePath(ref)}/comment`, { body: markdownToAdf(text) });
  }

  async close(ref: TicketRef, text: string): Promise<void> {
    await this.transition(ref, this.options.doneTransition, "done");
    await this.comment(ref, text);
  }

  async reopen(ref: TicketRef, _content: TicketContent, text: string): Promise<TicketRef> {
    await this.transition(ref, this.options.reopenTransition, "open");
    await this.comment(ref, text);
    return this.ref(ref.id, "open");
  }

  /** Performs the transition named `wanted` (or leading to a status of that name); a no-op when the issue already is `goal`. */
  private async transition(ref: TicketRef, wanted: string, goal: "done" | "open"): Promise<void> {
    const res = await this.call<{ transitions?: JiraTransition[] }>("GET", `${this.issuePath(ref)}/transitions`);
    const offered = (res?.transitions ?? []).filter((t) => t.isAvailable !== false);
    const w = wanted.trim().toLowerCase();
    const match = offered.find((t) => t.name?.trim().toLowerCase() === w) ?? offered.find((t) => t.to?.name?.trim().toLowerCase() === w);
    if (match) {
      await this.call("POST", `${this.issuePath(ref)}/transitions`, { transition: { id: match.id } });
      return;
    }
    const issue = await this.call<{ fields?: { status?: JiraStatus } }>("GET", `${this.issuePath(ref)}?fields=status`);
    const done = issue?.fields?.status?.statusCategory?.key === "done";
    if (done === (goal === "done")) return; // already closed / reopened (by hand, or a retry after the comment failed)
    const setting = goal === "done" ? "TICKET_JIRA_DONE_TRANSITION" : "TICKET_JIRA_REOPEN_TRANSITION";
    const list = offered.map((t) => `"${t.name ?? t.id}"${t.to?.name ? ` (to ${t.to.name})` : ""}`).join(", ") || "none";
    throw new Error(`jira: issue ${ref.id} (status "${issue?.fields?.status?.name ?? "unknown"}") has no transition named "${wanted}" or leading to a status of that name; available: ${list}. Set ${setting} to one of them.`);
  }
}
