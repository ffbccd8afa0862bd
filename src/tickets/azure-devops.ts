/**
 * Azure DevOps Boards provider: one work item per drift, through the REST API
 * (api-version 7.1; comments 7.1-preview.4).
 *
 * - open: `POST {org}/{project}/_apis/wit/workitems/${type}` with a JSON Patch
 *   document (application/json-patch+json) setting Title, Description (HTML),
 *   Tags (`apim-remediator; apim-fp:<fingerprint>; ...`) and, where the work
 *   item type has them, Severity and Priority;
 * - find: WIQL `[System.Tags] CONTAINS 'apim-fp:<fingerprint>'`, newest change
 *   first, then the work item itself for its state;
 * - comment: the work item comments API (HTML);
 * - close / reopen: PATCH System.State with the comment in System.History, in
 *   one revision.
 *
 * Closed and open state names are options; by default they come from the work
 * item type's states and their categories (`GET .../workitemtypes/{type}`):
 * closed = the first "Completed" state (Basic/Scrum "Done", Agile/CMMI
 * "Closed"), open = the first "Proposed" state, else the first "InProgress"
 * one (Basic "To Do", Agile "New", Agile Issue "Active").
 *
 * Auth: a PAT as Basic (empty user name) or an Entra token for Azure DevOps
 * (`499b84ac-1321-427f-aa17-267ca6975798/.default`) as Bearer. Credentials are
 * never put in an error message.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { requestJson, type HttpOptions } from "./http.js";
import { TicketHttpError, type TicketContent, type TicketProvider, type TicketRef } from "./types.js";

export type AzureDevOpsOptions = {
  orgUrl: string;
  project: string;
  workItemType: string;
  pat?: string;
  credential?: import("@azure/core-auth").TokenCredential;
  /** State a closed ticket is put in (default: the type's first state of category Completed, e.g. "Done" or "Closed"). */
  closedState?: string;
  /** State a reopened ticket is put in (default: the type's first Proposed state, else InProgress, e.g. "To Do", "New" or "Active"). */
  openState?: string;
  /** Area path for new work items (default: the project's default area). */
  areaPath?: string;
};

/** The Entra resource of Azure DevOps. */
export const AZURE_DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default";
export const API_VERSION = "7.1";
export const COMMENTS_API_VERSION = "7.1-preview.4";

export const FIELD = {
  title: "System.Title",
  description: "System.Description",
  reproSteps: "Microsoft.VSTS.TCM.ReproSteps",
  tags: "System.Tags",
  state: "System.State",
  history: "System.History",
  type: "System.WorkItemType",
  areaPath: "System.AreaPath",
  severity: "Microsoft.VSTS.Common.Severity",
  priority: "Microsoft.VSTS.Common.Priority",
} as const;

const SEVERITY: Record<TicketContent["severity"], string> = { critical: "1 - Critical", high: "2 - High", medium: "3 - Medium", low: "4 - Low" };
const PRIORITY: Record<TicketContent["severity"], number> = { critical: 1, high: 2, medium: 3, low: 4 };
/** Used only when the type's states cannot be told apart by category. */
const FALLBACK_CLOSED = ["Done", "Closed"];
const FALLBACK_OPEN = ["To Do", "New", "Active", "Proposed"];

type PatchOp = { op: "add" | "replace" | "remove" | "test"; path: string; value?: unknown };

interface WorkItem {
  id: number;
  rev?: number;
  fields?: Record<string, unknown>;
  url?: string;
  _links?: { html?: { href?: string } };
}

interface WorkItemTypeInfo {
  fields: Set<string>;
  states: Array<{ name: string; category?: string }>;
}

export class AzureDevOpsProvider implements TicketProvider {
  readonly name = "azure-devops";
  private readonly base: string;
  private readonly types = new Map<string, Promise<WorkItemTypeInfo>>();
  private token?: AccessToken;

  constructor(
    readonly options: AzureDevOpsOptions,
    readonly http: HttpOptions = {},
  ) {
    if (!options.pat && !options.credential) throw new Error("azure-devops: a PAT or an Entra credential is needed");
    this.base = `${options.orgUrl.replace(/\/+$/, "")}/${encodeURIComponent(options.project)}`;
  }

  async find(fingerprint: string): Promise<TicketRef | undefined> {
    const query =
      `SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.Tags] CONTAINS ${wiqlString(`apim-fp:${fingerprint}`)} ` +
      `ORDER BY [System.ChangedDate] DESC`;
    const result = await this.call<{ workItems?: Array<{ id: number }> }>("POST", "/_apis/wit/wiql", { $top: "1", "api-version": API_VERSION }, { query });
    const id = result?.workItems?.[0]?.id;
    if (id === undefined) return undefined;
    const wi = await this.call<WorkItem>("GET", `/_apis/wit/workitems/${id}`, { "api-version": API_VERSION });
    const state = String(wi.fields?.[FIELD.state] ?? "");
    const type = String(wi.fields?.[FIELD.type] ?? this.options.workItemType);
    return { id: String(wi.id ?? id), url: this.htmlUrl(wi), state: (await this.isClosedState(type, state)) ? "closed" : "open" };
  }

  async open(content: TicketContent): Promise<TicketRef> {
    const type = this.options.workItemType;
    const info = await this.typeInfo(type);
    const html = markdownToHtml(content.body);
    const ops: PatchOp[] = [
      { op: "add", path: `/fields/${FIELD.title}`, value: plainTitle(content.title) },
      { op: "add", path: `/fields/${FIELD.tags}`, value: tagsOf(content) },
    ];
    // Bugs show Repro Steps rather than Description: fill whichever the type has
    const bodyFields = [FIELD.description, FIELD.reproSteps].filter((f) => info.fields.has(f));
    for (const f of bodyFields.length ? bodyFields : [FIELD.description]) ops.push({ op: "add", path: `/fields/${f}`, value: html });
    if (info.fields.has(FIELD.severity)) ops.push({ op: "add", path: `/fields/${FIELD.severity}`, value: SEVERITY[content.severity] });
    if (info.fields.has(FIELD.priority)) ops.push({ op: "add", path: `/fields/${FIELD.priority}`, value: PRIORITY[content.severity] });
    if (this.options.areaPath) ops.push({ op: "add", path: `/fields/${FIELD.areaPath}`, value: this.options.areaPath });
    const wi = await this.call<WorkItem>("POST", `/_apis/wit/workitems/$${encodeURIComponent(type)}`, { "api-version": API_VERSION }, ops, "application/json-patch+json");
    return { id: String(wi.id), url: this.htmlUrl(wi), state: "open" };
  }

  async comment(ref: TicketRef, text: string): Promise<void> {
    await this.call("POST", `/_apis/wit/workItems/${workItemId(ref)}/comments`, { "api-version": COMMENTS_API_VERSION }, { text: markdownToHtml(text) });
  }

  async close(ref: TicketRef, text: string): Promise<void> {
    const state = this.options.closedState ?? (await this.defaultState(this.options.workItemType, "closed"));
    try {
      await this.patch(ref, [
        { op: "add", path: `/fields/${FIELD.state}`, value: state },
        { op: "add", path: `/fields/${FIELD.history}`, value: markdownToHtml(text) },
      ]);
    } catch (e) {
      // deleted (or moved out of reach): there is nothing left to close
      if (e instanceof TicketHttpError && e.status === 404) return;
      throw e;
    }
  }

  async reopen(ref: TicketRef, content: TicketContent, text: string): Promise<TicketRef> {
    const state = this.options.openState ?? (await this.defaultState(this.options.workItemType, "open"));
    const info = await this.typeInfo(this.options.workItemType);
    const html = markdownToHtml(content.body);
    const bodyFields = [FIELD.description, FIELD.reproSteps].filter((f) => info.fields.has(f));
    let wi: WorkItem;
    try {
      wi = await this.patch(ref, [
        { op: "add", path: `/fields/${FIELD.state}`, value: state },
        { op: "add", path: `/fields/${FIELD.title}`, value: plainTitle(content.title) },
        ...(bodyFields.length ? bodyFields : [FIELD.description]).map((f): PatchOp => ({ op: "add", path: `/fields/${f}`, value: html })),
        { op: "add", path: `/fields/${FIELD.history}`, value: markdownToHtml(text) },
      ]);
    } catch (e) {
      // the old work item was deleted: a new one carries the drift from here on
      if (e instanceof TicketHttpError && e.status === 404) return this.open(content);
      throw e;
    }
    return { id: String(wi.id ?? ref.id), url: this.htmlUrl(wi) ?? ref.url, state: "open" };
  }

  // ---------------------------------------------------------------------------

  private patch(ref: TicketRef, ops: PatchOp[]): Promise<WorkItem> {
    return this.call<WorkItem>("PATCH", `/_apis/wit/workitems/${workItemId(ref)}`, { "api-version": API_VERSION }, ops, "application/json-patch+json");
  }

  private htmlUrl(wi: WorkItem | undefined): string | undefined {
    if (!wi) return undefined;
    return wi._links?.html?.href ?? `${this.base}/_workitems/edit/${wi.id}`;
  }

  /** The type's fields and states, read once per provider. */
  private typeInfo(type: string): Promise<WorkItemTypeInfo> {
    const key = type.toLowerCase();
    let hit = this.types.get(key);
    if (!hit) {
      hit = this.call<{ fields?: Array<{ referenceName?: string }>; states?: Array<{ name?: string; category?: string }> }>("GET", `/_apis/wit/workitemtypes/${encodeURIComponent(type)}`, { "api-version": API_VERSION }).then((t) => ({
        fields: new Set((t?.fields ?? []).map((f) => f.referenceName ?? "").filter(Boolean)),
        states: (t?.states ?? []).filter((s) => s.name).map((s) => ({ name: s.name as string, category: s.category })),
      }));
      this.types.set(key, hit);
      hit.catch(() => this.types.delete(key));
    }
    return hit;
  }

  private async defaultState(type: string, want: "open" | "closed"): Promise<string> {
    const { states } = await this.typeInfo(type);
    const byCategory = (c: string) => states.find((s) => s.category?.toLowerCase() === c.toLowerCase())?.name;
    const byName = (names: string[]) => names.map((n) => states.find((s) => s.name.toLowerCase() === n.toLowerCase())?.name).find(Boolean);
    if (want === "closed") return byCategory("Completed") ?? byName(FALLBACK_CLOSED) ?? (FALLBACK_CLOSED[0] as string);
    return byCategory("Proposed") ?? byCategory("InProgress") ?? byName(FALLBACK_OPEN) ?? (FALLBACK_OPEN[0] as string);
  }

  private async isClosedState(type: string, state: string): Promise<boolean> {
    const s = state.toLowerCase();
    if (this.options.closedState && this.options.closedState.toLowerCase() === s) return true;
    if (this.options.openState && this.options.openState.toLowerCase() === s) return false;
    let info: WorkItemTypeInfo | undefined;
    try {
      info = await this.typeInfo(type);
    } catch {
      info = undefined; // the item's type cannot be read: judge by the usual names
    }
    const category = info?.states.find((x) => x.name.toLowerCase() === s)?.category;
    if (category) return ["completed", "removed"].includes(category.toLowerCase());
    return [...FALLBACK_CLOSED, "Removed"].some((n) => n.toLowerCase() === s);
  }

  private async authorization(): Promise<string> {
    if (this.options.pat) return `Basic ${Buffer.from(`:${this.options.pat}`, "utf8").toString("base64")}`;
    const credential = this.options.credential as TokenCredential;
    if (!this.token || this.token.expiresOnTimestamp - 120_000 <= Date.now()) {
      let t: AccessToken | null;
      try {
        t = await credential.getToken(AZURE_DEVOPS_SCOPE);
      } catch (e) {
        throw new TicketHttpError(401, `azure-devops: no Entra token for Azure DevOps: ${this.redact((e as Error).message)}`);
      }
      if (!t) throw new TicketHttpError(401, "azure-devops: the Entra identity returned no token for Azure DevOps");
      this.token = t;
    }
    return `Bearer ${this.token.token}`;
  }

  /** Removes anything credential-like from a message. */
  private redact(s: string): string {
    const secrets = [this.options.pat, this.options.pat && Buffer.from(`:${this.options.pat}`).toString("base64"), this.token?.token].filter((x): x is string => !!x && x.length >= 4);
    return secrets.reduce((acc, x) => acc.split(x).join("***"), s);
  }

  private async call<T>(method: string, path: string, query: Record<string, string>, body?: unknown, contentType = "application/json"): Promise<T> {
    const url = `${this.base}${path}?${new URLSearchParams(query).toString()}`;
    const headers: Record<string, string> = { authorization: await this.authorization() };
    if (body !== undefined) headers["content-type"] = contentType;
    try {
      return await requestJson<T>(method, url, headers, body, this.http);
    } catch (e) {
      if (e instanceof TicketHttpError) {
        if (e.status === 401 || e.status === 403) {
          this.token = undefined; // an expired or revoked token is fetched again next time
          const how = this.options.pat ? "the personal access token" : "the Entra identity";
          const why = e.status === 401 ? `was not accepted (expired, revoked or for another organization)` : `lacks permission (needs Work Items read & write in project "${this.options.project}")`;
          throw new TicketHttpError(e.status, `azure-devops: ${how} ${why}: ${this.redact(e.message)}`, e.retryAfterMs);
        }
        throw new TicketHttpError(e.status, `azure-devops: ${this.redact(e.message)}`, e.retryAfterMs);
      }
      if (e instanceof SyntaxError) {
        // Azure DevOps answers a sign-in page (203, HTML) when it does not take the credentials
        throw new TicketHttpError(401, `azure-devops: ${method} ${new URL(url).pathname} answered a non-JSON page (a sign-in page: the credentials were not accepted)`);
      }
      throw e;
    }
  }
}

function workItemId(ref: TicketRef): string {
  if (!/^\d+$/.test(ref.id)) throw new Error(`azure-devops: "${ref.id}" is not a work item id`);
  return ref.id;
}

/** A WIQL string literal ('' escapes a quote). */
export function wiqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Title is plain text of at most 255 characters, on one line. */
function plainTitle(t: string): string {
  return t.replace(/[\r\n\t]+/g, " ").trim().slice(0, 255);
}

/** Tags of a ticket: `;` separates tags in Azure DevOps, so it cannot be inside one. */
export function tagsOf(content: TicketContent): string {
  const tags: string[] = [];
  for (const raw of ["apim-remediator", ...content.labels, `apim-fp:${content.fingerprint}`]) {
    const t = raw.replace(/[;,]/g, "-").trim().slice(0, 400);
    if (t && !tags.some((x) => x.toLowerCase() === t.toLowerCase())) tags.push(t);
  }
  return tags.join("; ");
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

/** Inline Markdown: `code`, **bold**, [text](http(s) link); everything else escaped. */
function inline(s: string): string {
  const re = /`([^`]+)`|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)|\*\*([^*]+)\*\*/g;
  let out = "";
  let last = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out += escapeHtml(s.slice(last, m.index));
    if (m[1] !== undefined) out += `<code>${escapeHtml(m[1])}</code>`;
    else if (m[2] !== undefined) out += `<a href="${escapeHtml(m[3] as string)}">${inline(m[2])}</a>`;
    else out += `<strong>${inline(m[4] as string)}</strong>`;
    last = m.index + m[0].length;
  }
  return out + escapeHtml(s.slice(last));
}

/**
 * The small Markdown the tickets use, as HTML for Azure DevOps' HTML fields:
 * headings, paragraphs, lists, fenced code, rules, code spans, bold, http(s)
 * links. Any other text, HTML included, is escaped.
 */
export function markdownToHtml(md: string): string {
  const out: string[] = [];
  let para: string[] = [];
  let list: { tag: "ul" | "ol"; items: string[] } | undefined;
  let code: string[] | undefined;
  const flush = () => {
    if (para.length) out.push(`<p>${para.map(inline).join("<br/>")}</p>`);
    para = [];
    if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join("")}</${list.tag}>`);
    list = undefined;
  };
  for (const line of md.replace(/\r\n?/g, "\n").split("\n")) {
    if (code) {
      if (/^\s*```/.test(line)) {
        out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
        code = undefined;
      } else code.push(line);
      continue;
    }
    if (/^\s*```/.test(line)) {
      flush();
      code = [];
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (!line.trim()) flush();
    else if (/^\s*(-{3,}|\*{3,}|_{3,})\s*$/.test(line)) {
      flush();
      out.push("<hr/>");
    } else if (heading) {
      flush();
      const n = (heading[1] as string).length;
      out.push(`<h${n}>${inline(heading[2] as string)}</h${n}>`);
    } else if (bullet || numbered) {
      const tag = bullet ? "ul" : "ol";
      if (para.length || (list && list.tag !== tag)) flush();
      list ??= { tag, items: [] };
      list.items.push(((bullet ?? numbered) as RegExpExecArray)[1] as string);
    } else {
      if (list) flush();
      para.push(line);
    }
  }
  if (code) out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
  flush();
  return out.join("\n");
}
