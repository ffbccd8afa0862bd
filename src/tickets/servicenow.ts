/**
 * ServiceNow provider: incidents (or another task table) through the Table API
 * (`/api/now/table/{table}`), Basic auth with an integration user.
 *
 * - open:    POST /api/now/table/{table} with short_description (the title),
 *            description (the Markdown body as plain text), correlation_id =
 *            `apim-remediator:<fingerprint>`, correlation_display =
 *            `apim-remediator`, urgency/impact from the severity (1 high .. 3 low),
 *            and optionally category and assignment_group;
 * - comment: PATCH /api/now/table/{table}/{sys_id} with `work_notes` (internal,
 *            for fulfillers: the remediator's updates are operational detail,
 *            not messages to the caller); `commentField: "comments"` makes them
 *            customer-visible instead;
 * - close:   PATCH with state 6 (Resolved), close_code (option `closeCode`,
 *            default "Solution provided") and close_notes; the base incident
 *            data policy makes both mandatory to resolve. A record someone else
 *            already closed (403 on a read-only record) or deleted (404) counts
 *            as closed;
 * - reopen:  ServiceNow's convention is to reopen the same incident: a Resolved
 *            (6) record goes back to In Progress (2, option `reopenState`) with
 *            a work note. Closed (7) and Canceled (8) records are read-only, so
 *            a new incident is opened that names the old number and carries the
 *            same correlation_id; `find` then returns it (newest first);
 * - find:    GET /api/now/table/{table}?sysparm_query=correlation_id=
 *            apim-remediator:<fp>^ORDERBYDESCsys_created_on (+ number as a
 *            tie-break)&sysparm_limit=1; states 6/7/8 are "closed". The answer's
 *            correlation_id is checked, because ServiceNow silently drops query
 *            parts naming unknown fields and would otherwise return any record.
 *
 * The ticket id is the record's sys_id; its URL is
 * `{instance}/nav_to.do?uri={table}.do?sys_id=...`. Text is sent as plain text
 * (ServiceNow escapes it when rendering); journal `[code]` tags, which would
 * render HTML in work notes, are neutralised.
 */
import { requestJson, type HttpOptions } from "./http.js";
import { TicketHttpError, type TicketContent, type TicketProvider, type TicketRef } from "./types.js";

export type ServiceNowOptions = {
  instanceUrl: string;
  user: string;
  password: string;
  table: string;
  /** Journal field for the remediator's updates: `work_notes` (internal, default) or `comments` (customer-visible). */
  commentField?: "work_notes" | "comments";
  /** close_code set when resolving (default "Solution provided"). */
  closeCode?: string;
  /** State a Resolved record goes back to on reopen: "2" In Progress (default) or "1" New. */
  reopenState?: "1" | "2";
  /** Optional category of new records (e.g. "software"). */
  category?: string;
  /** Optional assignment group of new records (sys_id of a sys_user_group). */
  assignmentGroup?: string;
};

export const CORRELATION_DISPLAY = "apim-remediator";
export const correlationIdOf = (fingerprint: string) => `${CORRELATION_DISPLAY}:${fingerprint}`;

/** Resolved, Closed, Canceled. */
const CLOSED_STATES = new Set(["6", "7", "8"]);
const RESOLVED = "6";

const SEVERITY_TO_URGENCY_IMPACT: Record<TicketContent["severity"], { urgency: string; impact: string }> = {
  critical: { urgency: "1", impact: "1" },
  high: { urgency: "1", impact: "2" },
  medium: { urgency: "2", impact: "2" },
  low: { urgency: "3", impact: "3" },
};

/** Base-system lengths of the incident fields written. */
const MAX_SHORT_DESCRIPTION = 160;
const MAX_TEXT = 4000;

interface SnRecord {
  sys_id: string;
  number?: string;
  state?: string;
  correlation_id?: string;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + "…";
}

/** Keeps text plain: journal fields render `[code]...[/code]` as HTML, so the tags are broken up. */
function neutralise(s: string): string {
  return (
    s
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "")
      .replace(/\[(\/?)(code)\]/gi, "[ $1$2 ]")
  );
}

function inlinePlain(s: string): string {
  // code spans are kept verbatim (without their backticks); the rest loses emphasis and shows link targets
  return s
    .split(/(`+[^`]*`+)/)
    .map((part, i) => {
      if (i % 2 === 1) return part.replace(/^`+|`+$/g, "");
      return part
        .replace(/!?\[([^\]]*)\]\(([^)\s]+)\)/g, (_m, text: string, url: string) => (text && text !== url ? `${text} (${url})` : url))
        .replace(/\*\*([^*]+)\*\*/g, "$1")
        .replace(/__([^_]+)__/g, "$1")
        .replace(/\\([\\`*_{}[\]()#+\-.!|>])/g, "$1");
    })
    .join("");
}

/** A simple Markdown to plain-text conversion for ServiceNow's plain string and journal fields. */
export function markdownToPlainText(md: string): string {
  const out: string[] = [];
  let fence = false;
  for (const line of md.replace(/\r\n?/g, "\n").split("\n")) {
    if (/^\s{0,3}(```|~~~)/.test(line)) {
      fence = !fence;
      continue;
    }
    if (fence) {
      out.push(`    ${line}`);
      continue;
    }
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const t = inlinePlain(heading[1] as string);
      out.push(t, "-".repeat(Math.min(t.length, 60)));
      continue;
    }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      out.push("-".repeat(40));
      continue;
    }
    out.push(inlinePlain(line));
  }
  return neutralise(
    out
      .join("\n")
      .replace(/\n{3,}/g, "\n\n")
      .trim(),
  );
}

export class ServiceNowProvider implements TicketProvider {
  readonly name = "servicenow";
  private readonly base: string;
  private readonly authorization: string;

  constructor(
    readonly options: ServiceNowOptions,
    readonly http: HttpOptions = {},
  ) {
    if (!/^[a-z0-9_]+$/i.test(options.table)) throw new Error(`servicenow: "${options.table}" is not a table name`);
    this.base = options.instanceUrl.replace(/\/+$/, "");
    this.authorization = `Basic ${Buffer.from(`${options.user}:${options.password}`, "utf8").toString("base64")}`;
  }

  /** Keeps the password out of inspection and JSON dumps of the provider. */
  toJSON() {
    return { name: this.name, instanceUrl: this.base, table: this.options.table };
  }

  private get table(): string {
    return this.options.table;
  }

  private urlOf(sysId: string): string {
    return `${this.base}/nav_to.do?uri=${encodeURIComponent(`${this.table}.do?sys_id=${sysId}`)}`;
  }

  private refOf(r: SnRecord): TicketRef {
    return { id: r.sys_id, url: this.urlOf(r.sys_id), state: CLOSED_STATES.has(String(r.state ?? "")) ? "closed" : "open" };
  }

  private async call<T>(method: string, sysId: string | undefined, query: Record<string, string>, body?: Record<string, string>): Promise<T> {
    const path = `/api/now/table/${encodeURIComponent(this.table)}${sysId !== undefined ? `/${encodeURIComponent(sysId)}` : ""}`;
    const url = `${this.base}${path}?${new URLSearchParams(query).toString()}`;
    const headers: Record<string, string> = { accept: "application/json", authorization: this.authorization };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: { result?: unknown } | undefined;
    try {
      res = await requestJson<{ result?: unknown }>(method, url, headers, body, this.http);
    } catch (e) {
      if (e instanceof TicketHttpError && e.status === 401)
        throw new TicketHttpError(401, `servicenow: ${method} ${path} answered 401: the instance rejected the integration user's credentials (check TICKET_SNOW_USER and TICKET_SNOW_PASSWORD)`);
      if (e instanceof TicketHttpError) throw new TicketHttpError(e.status, `servicenow: ${e.message}`, e.retryAfterMs);
      if (e instanceof SyntaxError) throw new TicketHttpError(0, `servicenow: ${method} ${path} did not answer JSON (is the instance hibernating or behind a login page?)`);
      throw e;
    }
    if (!res || typeof res !== "object" || !("result" in res)) throw new TicketHttpError(0, `servicenow: ${method} ${path} answered without a result`);
    return res.result as T;
  }

  private static fields(...names: string[]): Record<string, string> {
    return { sysparm_fields: names.join(","), sysparm_exclude_reference_link: "true" };
  }

  private text(s: string): string {
    return clip(markdownToPlainText(s), MAX_TEXT);
  }

  async find(fingerprint: string): Promise<TicketRef | undefined> {
    // `^` separates encoded-query conditions: a fingerprint must never carry one
    if (!/^[\w.-]+$/.test(fingerprint)) throw new Error("servicenow: a fingerprint is letters, digits, '.', '_' or '-'");
    const correlation = correlationIdOf(fingerprint);
    const rows = await this.call<SnRecord[]>("GET", undefined, {
      sysparm_query: `correlation_id=${correlation}^ORDERBYDESCsys_created_on^ORDERBYDESCnumber`,
      sysparm_limit: "1",
      ...ServiceNowProvider.fields("sys_id", "number", "state", "correlation_id"),
    });
    const hit = Array.isArray(rows) ? rows[0] : undefined;
    if (!hit?.sys_id || hit.correlation_id !== correlation) return undefined;
    return this.refOf(hit);
  }

  async open(content: TicketContent): Promise<TicketRef> {
    return this.create(content);
  }

  private async create(content: TicketContent, preface?: string): Promise<TicketRef> {
    const o = this.options;
    const body: Record<string, string> = {
      short_description: clip(neutralise(content.title.replace(/\s+/g, " ").trim()), MAX_SHORT_DESCRIPTION),
      description: this.text(preface ? `${preface}\n\n${content.body}` : content.body),
      correlation_id: correlationIdOf(content.fingerprint),
      correlation_display: CORRELATION_DISPLAY,
      ...SEVERITY_TO_URGENCY_IMPACT[content.severity],
      ...(o.category ? { category: o.category } : {}),
      ...(o.assignmentGroup ? { assignment_group: o.assignmentGroup } : {}),
    };
    const r = await this.call<SnRecord>("POST", undefined, ServiceNowProvider.fields("sys_id", "number", "state"), body);
    if (!r?.sys_id) throw new TicketHttpError(0, `servicenow: POST /api/now/table/${this.table} answered without a sys_id`);
    return { ...this.refOf(r), state: "open" };
  }

  private async patch(sysId: string, body: Record<string, string>): Promise<SnRecord> {
    return this.call<SnRecord>("PATCH", sysId, ServiceNowProvider.fields("sys_id", "number", "state"), body);
  }

  private async get(sysId: string): Promise<SnRecord | undefined> {
    try {
      return await this.call<SnRecord>("GET", sysId, ServiceNowProvider.fields("sys_id", "number", "state"));
    } catch (e) {
      if (e instanceof TicketHttpError && e.status === 404) return undefined;
      throw e;
    }
  }

  async comment(ref: TicketRef, text: string): Promise<void> {
    await this.patch(ref.id, { [this.options.commentField ?? "work_notes"]: this.text(text) });
  }

  async close(ref: TicketRef, text: string): Promise<void> {
    let r: SnRecord;
    try {
      r = await this.patch(ref.id, { state: RESOLVED, close_code: this.options.closeCode ?? "Solution provided", close_notes: this.text(text) });
    } catch (e) {
      if (!(e instanceof TicketHttpError) || (e.status !== 403 && e.status !== 404)) throw e;
      // 404: the record is gone; 403: maybe someone closed it already (Closed/Canceled records are read-only)
      const now = e.status === 404 ? undefined : await this.get(ref.id);
      if (e.status === 404 || !now || CLOSED_STATES.has(String(now.state))) return;
      throw e;
    }
    if (!CLOSED_STATES.has(String(r.state))) throw new TicketHttpError(0, `servicenow: ${r.number ?? ref.id} was not resolved (state stays ${r.state}); check business rules on ${this.table}`);
  }

  async reopen(ref: TicketRef, content: TicketContent, text: string): Promise<TicketRef> {
    const current = await this.get(ref.id);
    const state = String(current?.state ?? "");
    if (current && !CLOSED_STATES.has(state)) {
      // already open again (reopened by hand): just note the drift
      await this.comment(ref, text);
      return this.refOf(current);
    }
    if (current && state === RESOLVED) {
      try {
        const r = await this.patch(ref.id, { state: this.options.reopenState ?? "2", [this.options.commentField ?? "work_notes"]: this.text(text) });
        if (!CLOSED_STATES.has(String(r.state))) return this.refOf(r);
      } catch (e) {
        // a resolved record the integration user may not reopen: fall back to a new one
        if (!(e instanceof TicketHttpError) || e.status !== 403) throw e;
      }
    }
    const previous = current?.number ?? ref.id;
    const why = current ? `${previous} is ${state === "6" ? "resolved and could not be reopened" : "closed"}` : `${previous} no longer exists`;
    return this.create(content, `${text}\n\nThis follows ${previous}: ${why}, so apim-remediator opened this one for the same drift.`);
  }
}
