/**
 * A local stand-in for the parts of the Azure DevOps Boards REST API that the
 * azure-devops ticket provider calls, on 127.0.0.1 with a free port:
 *
 * - POST  /{org}/{project}/_apis/wit/workitems/${type}?api-version=7.1   (JSON Patch)
 * - PATCH /{org}/{project}/_apis/wit/workitems/{id}?api-version=7.1      (JSON Patch)
 * - GET   /{org}/{project}/_apis/wit/workitems/{id}?api-version=7.1[&fields=...]
 * - POST  /{org}/{project}/_apis/wit/workItems/{id}/comments?api-version=7.1-preview.4
 * - GET   /{org}/{project}/_apis/wit/workitemtypes/{type}?api-version=7.1
 * - POST  /{org}/{project}/_apis/wit/wiql?api-version=7.1[&$top=N]
 *
 * Like the service it checks the credentials (Basic with the PAT as password,
 * any user name, or Bearer with the Entra token; 401 otherwise, or a 203
 * sign-in page in `signInPage` mode), the api-version (missing: 400; the
 * comments API only as -preview: 400), the content type (JSON Patch: 415
 * otherwise), the patch document (an array of operations on /fields/...;
 * 400 otherwise), the fields of the work item type (unknown: 400 TF51535;
 * read-only: 400), Title (required, at most 255), State and Severity (allowed
 * values only), Priority (1-4). WIQL is parsed (a subset: SELECT ... FROM
 * WorkItems WHERE cond AND cond ... ORDER BY ...; `[System.Tags] CONTAINS`
 * matches whole tags, case-insensitively) and a syntax error or unknown field
 * is a 400. Errors have the service's JSON error shape. Every request is
 * recorded; `failNext` answers the next requests with an error (429 with
 * Retry-After, 500, ...).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Process = "basic" | "agile";

export interface FakeAzureDevOpsOptions {
  org?: string;
  project?: string;
  /** The PAT accepted as the Basic password. */
  pat?: string;
  /** The Entra access token accepted as Bearer. */
  bearerToken?: string;
  process?: Process;
  /** Answer refused credentials as the sign-in page (203, HTML) rather than 401. */
  signInPage?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Decoded path, without the query. */
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  body?: unknown;
  status: number;
}

export interface FakeWorkItem {
  id: number;
  rev: number;
  fields: Record<string, unknown>;
  comments: Array<{ commentId: number; text: string; createdDate: string; via: "comments" | "history" }>;
}

interface StateDef {
  name: string;
  category: "Proposed" | "InProgress" | "Resolved" | "Completed" | "Removed";
  color: string;
}
interface TypeDef {
  name: string;
  referenceName: string;
  states: StateDef[];
  fields: string[];
}

const COMMON_FIELDS = [
  "System.Id",
  "System.Rev",
  "System.AreaPath",
  "System.TeamProject",
  "System.IterationPath",
  "System.WorkItemType",
  "System.State",
  "System.Reason",
  "System.CreatedDate",
  "System.CreatedBy",
  "System.ChangedDate",
  "System.ChangedBy",
  "System.CommentCount",
  "System.Title",
  "System.Description",
  "System.Tags",
  "System.History",
];
const READ_ONLY = new Set(["System.Id", "System.Rev", "System.TeamProject", "System.WorkItemType", "System.CreatedDate", "System.CreatedBy", "System.ChangedDate", "System.ChangedBy", "System.CommentCount"]);
const FIELD_NAMES: Record<string, string> = {
  "System.Id": "ID",
  "System.Rev": "Rev",
  "System.AreaPath": "Area Path",
  "System.TeamProject": "Team Project",
  "System.IterationPath": "Iteration Path",
  "System.WorkItemType": "Work Item Type",
  "System.State": "State",
  "System.Reason": "Reason",
  "System.CreatedDate": "Created Date",
  "System.CreatedBy": "Created By",
  "System.ChangedDate": "Changed Date",
  "System.ChangedBy": "Changed By",
  "System.CommentCount": "Comment Count",
  "System.Title": "Title",
  "System.Description": "Description",
  "System.Tags": "Tags",
  "System.History": "History",
  "Microsoft.VSTS.Common.Priority": "Priority",
  "Microsoft.VSTS.Common.Severity": "Severity",
  "Microsoft.VSTS.TCM.ReproSteps": "Repro Steps",
};
export const SEVERITIES = ["1 - Critical", "2 - High", "3 - Medium", "4 - Low"];

const s = (name: string, category: StateDef["category"], color: string): StateDef => ({ name, category, color });
const PROCESSES: Record<Process, TypeDef[]> = {
  basic: [
    { name: "Issue", referenceName: "Microsoft.VSTS.WorkItemTypes.Issue", states: [s("To Do", "Proposed", "b2b2b2"), s("Doing", "InProgress", "007acc"), s("Done", "Completed", "339933")], fields: [...COMMON_FIELDS, "Microsoft.VSTS.Common.Priority"] },
    { name: "Task", referenceName: "Microsoft.VSTS.WorkItemTypes.Task", states: [s("To Do", "Proposed", "b2b2b2"), s("Doing", "InProgress", "007acc"), s("Done", "Completed", "339933")], fields: [...COMMON_FIELDS, "Microsoft.VSTS.Common.Priority"] },
  ],
  agile: [
    {
      name: "Bug",
      referenceName: "Microsoft.VSTS.WorkItemTypes.Bug",
      states: [s("New", "Proposed", "b2b2b2"), s("Active", "InProgress", "007acc"), s("Resolved", "Resolved", "ff9d00"), s("Closed", "Completed", "339933"), s("Removed", "Removed", "ffffff")],
      fields: [...COMMON_FIELDS, "Microsoft.VSTS.TCM.ReproSteps", "Microsoft.VSTS.Common.Priority", "Microsoft.VSTS.Common.Severity"],
    },
    { name: "Issue", referenceName: "Microsoft.VSTS.WorkItemTypes.Issue", states: [s("Active", "InProgress", "007acc"), s("Closed", "Completed", "339933")], fields: [...COMMON_FIELDS, "Microsoft.VSTS.Common.Priority"] },
    {
      name: "User Story",
      referenceName: "Microsoft.VSTS.WorkItemTypes.UserStory",
      states: [s("New", "Proposed", "b2b2b2"), s("Active", "InProgress", "007acc"), s("Resolved", "Resolved", "ff9d00"), s("Closed", "Completed", "339933"), s("Removed", "Removed", "ffffff")],
      fields: [...COMMON_FIELDS, "Microsoft.VSTS.Common.Priority"],
    },
  ],
};

class HttpFail extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly typeKey: string,
  ) {
    super(message);
  }
}
const bad = (message: string, typeKey = "RuleValidationException") => new HttpFail(400, message, typeKey);

export class FakeAzureDevOps {
  readonly org: string;
  readonly project: string;
  readonly pat: string;
  readonly bearerToken: string;
  readonly process: Process;
  signInPage: boolean;
  readonly requests: RecordedRequest[] = [];
  readonly items = new Map<number, FakeWorkItem>();
  private nextId = 1;
  private nextCommentId = 1;
  private clock = Date.parse("2025-01-01T00:00:00.000Z");
  private failures: Array<{ status: number; headers: Record<string, string>; body: string }> = [];
  private server?: Server;
  private port = 0;

  constructor(o: FakeAzureDevOpsOptions = {}) {
    this.org = o.org ?? "contoso";
    this.project = o.project ?? "Platform Security";
    this.pat = o.pat ?? "fake-pat-0123456789abcdefghijklmnopqrstuvwxyz";
    this.bearerToken = o.bearerToken ?? "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.fake-entra-token.";
    this.process = o.process ?? "basic";
    this.signInPage = o.signInPage ?? false;
  }

  /** The organization URL, as TICKET_ADO_ORG_URL would hold it. */
  get orgUrl(): string {
    return `http://127.0.0.1:${this.port}/${this.org}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    srv.closeAllConnections();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  /** The next `count` requests are answered with `status` (and Retry-After seconds when given). */
  failNext(count: number, status: number, retryAfterSeconds?: number): void {
    for (let i = 0; i < count; i++) {
      this.failures.push({
        status,
        headers: retryAfterSeconds !== undefined ? { "retry-after": String(retryAfterSeconds) } : {},
        body: JSON.stringify(errorBody(status === 429 ? "TF400733: The request has been throttled." : "TF246020: Internal server error.", status === 429 ? "RequestThrottledException" : "ServerException")),
      });
    }
  }

  typeDef(name: string): TypeDef | undefined {
    return PROCESSES[this.process].find((t) => t.name.toLowerCase() === name.toLowerCase());
  }

  tagsOf(id: number): string[] {
    return splitTags(String(this.items.get(id)?.fields["System.Tags"] ?? ""));
  }

  private now(): string {
    this.clock = Math.max(Date.now(), this.clock + 1);
    return new Date(this.clock).toISOString();
  }

  // ---------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const raw = await new Promise<string>((resolve) => {
      let data = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (data += c));
      req.on("end", () => resolve(data));
    });
    const rec: RecordedRequest = {
      method: req.method ?? "GET",
      path: decodeURIComponent(url.pathname),
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers["content-type"],
      authorization: req.headers.authorization,
      status: 0,
    };
    if (raw) {
      try {
        rec.body = JSON.parse(raw);
      } catch {
        rec.body = raw;
      }
    }
    this.requests.push(rec);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}, type = "application/json; charset=utf-8") => {
      rec.status = status;
      res.writeHead(status, { "content-type": type, "x-tfs-processid": "00000000-0000-0000-0000-000000000000", ...headers });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };

    const failure = this.failures.shift();
    if (failure) return send(failure.status, failure.body, failure.headers);

    if (!this.authorized(req.headers.authorization)) {
      if (this.signInPage) return send(203, "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>Sign in</body></html>", {}, "text/html; charset=utf-8");
      return send(401, errorBody("TF400813: The user '' is not authorized to access this resource.", "UnauthorizedRequestException"), { "www-authenticate": 'Bearer authorization_uri=https://login.microsoftonline.com/common, Basic realm="https://dev.azure.com/"' });
    }

    try {
      const out = this.route(rec.method, url, rec, raw);
      send(200, out);
    } catch (e) {
      if (e instanceof HttpFail) send(e.status, errorBody(e.message, e.typeKey));
      else send(500, errorBody(`fake: ${(e as Error).message}`, "ServerException"));
    }
  }

  private authorized(header: string | undefined): boolean {
    if (!header) return false;
    const [scheme, value] = header.split(" ", 2);
    if (scheme?.toLowerCase() === "basic" && value) {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const i = decoded.indexOf(":");
      return i >= 0 && decoded.slice(i + 1) === this.pat; // the user name is ignored
    }
    if (scheme?.toLowerCase() === "bearer" && value) return value === this.bearerToken;
    return false;
  }

  private route(method: string, url: URL, rec: RecordedRequest, raw: string): unknown {
    const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const [org, project, apis, area, ...rest] = parts;
    if (org !== this.org) throw new HttpFail(404, `TF400893: Unable to find the organization '${org}'.`, "OrganizationNotFoundException");
    if (project?.toLowerCase() !== this.project.toLowerCase()) throw new HttpFail(404, `TF200016: The following project does not exist: ${project}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server.`, "ProjectDoesNotExistWithNameException");
    if (apis !== "_apis" || area?.toLowerCase() !== "wit") throw new HttpFail(404, "The controller for path was not found.", "NotFoundException");
    const resource = rest[0]?.toLowerCase();
    const version = url.searchParams.get("api-version");
    const requireVersion = (preview: boolean) => {
      if (!version) throw bad(`No api-version was supplied for the ${method} request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. '?api-version=1.0').`, "VssVersionNotSpecifiedException");
      const m = /^(\d+)\.(\d+)(-preview(\.(\d+))?)?$/.exec(version);
      if (!m || Number(m[1]) > 7 || (Number(m[1]) === 7 && Number(m[2]) > 1)) throw bad(`The requested REST API version of ${version} is out of range for this server.`, "VssVersionOutOfRangeException");
      if (preview && !m[3]) throw bad(`The requested version "${version}" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: "${version}-preview"`, "VssInvalidPreviewVersionException");
      if (preview && m[5] && Number(m[5]) > 4) throw bad(`The requested version "${version}" of the resource is out of range.`, "VssVersionOutOfRangeException");
    };
    const json = (want: string): unknown => {
      const ct = (rec.contentType ?? "").split(";")[0]?.trim().toLowerCase();
      if (ct !== want) throw new HttpFail(415, `The request indicated a Content-Type of "${rec.contentType ?? ""}" for method type "${method}" which is not supported. Valid content types for this method are: ${want}.`, "VssRequestContentTypeNotSupportedException");
      try {
        return JSON.parse(raw);
      } catch {
        throw bad("The request body could not be parsed as JSON.", "VssPropertyValidationException");
      }
    };

    // POST workitems/${type}
    if (resource === "workitems" && rest.length === 2 && rest[1]?.startsWith("$") && method === "POST") {
      requireVersion(false);
      return this.create(rest[1].slice(1), json("application/json-patch+json"));
    }
    // POST workItems/{id}/comments
    if (resource === "workitems" && rest.length === 3 && rest[2]?.toLowerCase() === "comments" && method === "POST") {
      requireVersion(true);
      return this.addComment(this.item(rest[1]), json("application/json"));
    }
    // GET / PATCH workitems/{id}
    if (resource === "workitems" && rest.length === 2 && /^\d+$/.test(rest[1] ?? "")) {
      requireVersion(false);
      const wi = this.item(rest[1]);
      if (method === "GET") return this.view(wi, url.searchParams.get("fields"));
      if (method === "PATCH") return this.update(wi, json("application/json-patch+json"));
    }
    // GET workitemtypes/{type}
    if (resource === "workitemtypes" && rest.length === 2 && method === "GET") {
      requireVersion(false);
      const t = this.typeDef(rest[1] as string);
      if (!t) throw new HttpFail(404, `VS402323: Work item type ${rest[1]} does not exist in project.`, "WorkItemTypeNotFoundException");
      return this.typeView(t);
    }
    // POST wiql
    if (resource === "wiql" && rest.length === 1 && method === "POST") {
      requireVersion(false);
      const body = json("application/json") as { query?: unknown } | null;
      if (!body || typeof body !== "object" || typeof body.query !== "string" || !body.query.trim()) throw bad("The query text must be supplied in the 'query' property of the request body.", "ArgumentNullException");
      const top = url.searchParams.get("$top");
      if (top !== null && !/^\d+$/.test(top)) throw bad(`Invalid value '${top}' for parameter $top.`, "ArgumentException");
      return this.wiql(body.query, top === null ? 20000 : Number(top));
    }
    throw new HttpFail(404, `The resource for ${method} ${url.pathname} was not found.`, "NotFoundException");
  }

  private item(id: string | undefined): FakeWorkItem {
    const wi = this.items.get(Number(id));
    if (!wi) throw new HttpFail(404, `TF401232: Work item ${id} does not exist, or you do not have permissions to read it.`, "WorkItemUnauthorizedAccessException");
    return wi;
  }

  private links(wi: FakeWorkItem, base: string) {
    const api = `${base}/${this.org}/${encodeURIComponent(this.project)}/_apis/wit/workItems/${wi.id}`;
    return {
      self: { href: api },
      workItemUpdates: { href: `${api}/updates` },
      workItemRevisions: { href: `${api}/revisions` },
      workItemComments: { href: `${api}/comments` },
      html: { href: `${base}/${this.org}/${encodeURIComponent(this.project)}/_workitems/edit/${wi.id}` },
      workItemType: { href: `${base}/${this.org}/${encodeURIComponent(this.project)}/_apis/wit/workItemTypes/${encodeURIComponent(String(wi.fields["System.WorkItemType"]))}` },
      fields: { href: `${base}/${this.org}/${encodeURIComponent(this.project)}/_apis/wit/fields` },
    };
  }

  private view(wi: FakeWorkItem, fields?: string | null, base = `http://127.0.0.1:${this.port}`): unknown {
    const all = { ...wi.fields };
    delete all["System.History"];
    const url = `${base}/${this.org}/${encodeURIComponent(this.project)}/_apis/wit/workItems/${wi.id}`;
    if (fields) {
      const picked: Record<string, unknown> = {};
      for (const f of fields.split(",").map((x) => x.trim())) if (all[f] !== undefined) picked[f] = all[f];
      return { id: wi.id, rev: wi.rev, fields: picked, url };
    }
    return { id: wi.id, rev: wi.rev, fields: all, _links: this.links(wi, base), url };
  }

  private typeView(t: TypeDef): unknown {
    const base = `http://127.0.0.1:${this.port}/${this.org}/${encodeURIComponent(this.project)}/_apis/wit`;
    const fields = t.fields.map((f) => ({ defaultValue: null, helpText: undefined, alwaysRequired: f === "System.Title", referenceName: f, name: FIELD_NAMES[f] ?? f, url: `${base}/fields/${f}` }));
    const transitions: Record<string, Array<{ to: string; actions: null }>> = {};
    for (const from of ["", ...t.states.map((x) => x.name)]) transitions[from] = t.states.filter((x) => x.name !== from).map((x) => ({ to: x.name, actions: null }));
    return {
      name: t.name,
      referenceName: t.referenceName,
      description: `${t.name} work item type`,
      color: "009CCC",
      icon: { id: "icon_clipboard", url: `${base}/workItemIcons/icon_clipboard` },
      isDisabled: false,
      xmlForm: "",
      fields,
      fieldInstances: fields,
      transitions,
      states: t.states.map((x) => ({ name: x.name, color: x.color, category: x.category })),
      url: `${base}/workItemTypes/${encodeURIComponent(t.name)}`,
    };
  }

  /** Checks a JSON Patch document; returns field -> value (null = remove). */
  private patchFields(doc: unknown, type: TypeDef): Map<string, unknown> {
    if (!Array.isArray(doc) || doc.length === 0) throw bad("You must pass a valid patch document in the body of the request.", "VssPropertyValidationException");
    const out = new Map<string, unknown>();
    for (const op of doc as unknown[]) {
      if (!op || typeof op !== "object") throw bad("You must pass a valid patch document in the body of the request.", "VssPropertyValidationException");
      const o = op as { op?: unknown; path?: unknown; value?: unknown };
      if (typeof o.op !== "string" || !["add", "replace", "remove", "test", "copy", "move"].includes(o.op)) throw bad(`Operation '${String(o.op)}' is not a valid patch operation.`, "VssPropertyValidationException");
      if (typeof o.path !== "string") throw bad("A patch operation must have a path.", "VssPropertyValidationException");
      const m = /^\/fields\/(.+)$/.exec(o.path);
      if (!m) throw bad(`fake: patch path '${o.path}' is not supported (only /fields/...).`, "VssPropertyValidationException");
      const field = type.fields.find((f) => f.toLowerCase() === (m[1] as string).toLowerCase() || FIELD_NAMES[f]?.toLowerCase() === (m[1] as string).toLowerCase());
      if (!field) throw bad(`TF51535: Cannot find field ${m[1]}.`, "WorkItemFieldInvalidException");
      if (READ_ONLY.has(field)) throw bad(`TF401326: Invalid field status 'ReadOnly' for field '${field}'.`, "WorkItemFieldInvalidException");
      if (o.op === "add" || o.op === "replace") {
        if (o.value === undefined) throw bad(`Value cannot be null for operation '${o.op}' on path '${o.path}'.`, "VssPropertyValidationException");
        out.set(field, o.value);
      } else if (o.op === "remove") out.set(field, null);
      else throw bad(`fake: operation '${o.op}' is not supported.`, "VssPropertyValidationException");
    }
    return out;
  }

  private validate(fields: Record<string, unknown>, type: TypeDef): void {
    const title = fields["System.Title"];
    if (typeof title !== "string" || !title.trim()) throw bad("TF401320: Rule Error for field Title. Error code: Required, InvalidEmpty.");
    if (title.length > 255) throw bad("TF401320: Rule Error for field Title. Error code: InvalidTooLong.");
    const state = fields["System.State"];
    if (!type.states.some((x) => x.name === state)) throw bad(`TF401320: Rule Error for field State. Error code: Required, HasValues, LimitedToValues, AllowsOldValue, InvalidEmpty. (value '${String(state)}')`);
    const sev = fields["Microsoft.VSTS.Common.Severity"];
    if (sev !== undefined && sev !== null && !SEVERITIES.includes(String(sev))) throw bad("TF401320: Rule Error for field Severity. Error code: LimitedToValues.");
    const pri = fields["Microsoft.VSTS.Common.Priority"];
    if (pri !== undefined && pri !== null && !(Number.isInteger(Number(pri)) && Number(pri) >= 1 && Number(pri) <= 4)) throw bad("TF401320: Rule Error for field Priority. Error code: LimitedToValues.");
    for (const f of ["System.Description", "Microsoft.VSTS.TCM.ReproSteps", "System.Tags", "System.AreaPath"]) {
      if (fields[f] !== undefined && fields[f] !== null && typeof fields[f] !== "string") throw bad(`TF401320: Rule Error for field ${FIELD_NAMES[f]}. Error code: InvalidType.`);
    }
    const area = fields["System.AreaPath"];
    if (typeof area === "string" && area.split("\\")[0]?.toLowerCase() !== this.project.toLowerCase()) throw bad(`TF401347: Invalid tree name given for work item -1, field 'System.AreaPath'.`);
  }

  private apply(wi: FakeWorkItem, changes: Map<string, unknown>, type: TypeDef): void {
    const next = { ...wi.fields };
    let history: string | undefined;
    for (const [f, v] of changes) {
      if (f === "System.History") history = String(v ?? "");
      else if (v === null) delete next[f];
      else if (f === "System.Tags") next[f] = splitTags(String(v)).join("; ");
      else if (f === "Microsoft.VSTS.Common.Priority") next[f] = Number(v);
      else next[f] = v;
    }
    if (next["System.State"] === undefined) next["System.State"] = type.states[0]?.name;
    this.validate(next, type);
    if (next["System.State"] !== wi.fields["System.State"]) next["System.Reason"] = wi.rev === 0 ? "New" : `Moved to state ${String(next["System.State"])}`;
    const now = this.now();
    if (wi.rev === 0) {
      next["System.CreatedDate"] = now;
      next["System.CreatedBy"] = "apim-remediator";
    }
    next["System.ChangedDate"] = now;
    next["System.ChangedBy"] = "apim-remediator";
    wi.rev += 1;
    next["System.Rev"] = wi.rev;
    if (history && history.trim()) {
      wi.comments.push({ commentId: this.nextCommentId++, text: history, createdDate: now, via: "history" });
      next["System.CommentCount"] = wi.comments.length;
    }
    wi.fields = next;
  }

  private create(typeName: string, doc: unknown): unknown {
    const type = this.typeDef(typeName);
    if (!type) throw new HttpFail(404, `VS402323: Work item type ${typeName} does not exist in project.`, "WorkItemTypeNotFoundException");
    const changes = this.patchFields(doc, type);
    const wi: FakeWorkItem = {
      id: this.nextId,
      rev: 0,
      fields: { "System.AreaPath": this.project, "System.TeamProject": this.project, "System.IterationPath": this.project, "System.WorkItemType": type.name, "System.CommentCount": 0 },
      comments: [],
    };
    this.apply(wi, changes, type);
    this.nextId += 1;
    this.items.set(wi.id, wi);
    return this.view(wi);
  }

  private update(wi: FakeWorkItem, doc: unknown): unknown {
    const type = this.typeDef(String(wi.fields["System.WorkItemType"])) as TypeDef;
    const changes = this.patchFields(doc, type);
    this.apply(wi, changes, type);
    return this.view(wi);
  }

  private addComment(wi: FakeWorkItem, body: unknown): unknown {
    const text = (body as { text?: unknown } | null)?.text;
    if (!body || typeof body !== "object" || Array.isArray(body) || typeof text !== "string" || !text.trim()) throw bad("The comment text must be supplied in the 'text' property of the request body.", "ArgumentNullException");
    if (text.length > 1_048_576) throw bad("The comment is too long.", "ArgumentException");
    const now = this.now();
    const c = { commentId: this.nextCommentId++, text, createdDate: now, via: "comments" as const };
    wi.comments.push(c);
    wi.rev += 1;
    wi.fields = { ...wi.fields, "System.Rev": wi.rev, "System.ChangedDate": now, "System.CommentCount": wi.comments.length };
    const who = { displayName: "apim-remediator", id: "00000000-0000-0000-0000-000000000001", uniqueName: "apim-remediator" };
    return {
      workItemId: wi.id,
      commentId: c.commentId,
      version: 1,
      text,
      renderedText: text,
      format: "html",
      createdBy: who,
      createdDate: now,
      modifiedBy: who,
      modifiedDate: now,
      url: `http://127.0.0.1:${this.port}/${this.org}/${encodeURIComponent(this.project)}/_apis/wit/workItems/${wi.id}/comments/${c.commentId}`,
    };
  }

  // WIQL ----------------------------------------------------------------------

  private wiql(query: string, top: number): unknown {
    const q = parseWiql(query);
    const resolveField = (f: string) => {
      const ref = Object.keys(FIELD_NAMES).find((k) => k.toLowerCase() === f.toLowerCase() || FIELD_NAMES[k]?.toLowerCase() === f.toLowerCase());
      if (!ref || ref === "System.History") throw bad(`TF51005: The query references a field that does not exist. The error is caused by «${f}».`, "WorkItemTrackingQueryResultFieldNotFoundException");
      return ref;
    };
    const columns = q.select.map(resolveField);
    const conds = q.where.map((c) => ({ ...c, field: resolveField(c.field) }));
    const sorts = q.orderBy.map((o) => ({ ...o, field: resolveField(o.field) }));
    const matches = (wi: FakeWorkItem) =>
      conds.every((c) => {
        let value = c.value;
        if (value.kind === "macro") {
          if (value.text.toLowerCase() !== "project") throw bad(`TF51011: The specified macro @${value.text} does not exist.`, "WorkItemTrackingQueryMacroException");
          value = { kind: "string", text: this.project };
        }
        const actual = c.field === "System.Id" ? String(wi.id) : String(wi.fields[c.field] ?? "");
        const want = value.text;
        switch (c.op) {
          case "=":
            return actual.toLowerCase() === want.toLowerCase();
          case "<>":
            return actual.toLowerCase() !== want.toLowerCase();
          case "contains":
          case "not contains": {
            const hit = c.field === "System.Tags" ? splitTags(actual).some((t) => t.toLowerCase() === want.toLowerCase()) : actual.toLowerCase().includes(want.toLowerCase());
            return c.op === "contains" ? hit : !hit;
          }
        }
      });
    const rows = [...this.items.values()].filter(matches);
    const cmp = (a: FakeWorkItem, b: FakeWorkItem) => {
      for (const o of sorts) {
        const va = o.field === "System.Id" ? a.id : (a.fields[o.field] as string | number | undefined);
        const vb = o.field === "System.Id" ? b.id : (b.fields[o.field] as string | number | undefined);
        if (va === vb) continue;
        const r = (va ?? "") < (vb ?? "") ? -1 : 1;
        return o.descending ? -r : r;
      }
      return a.id - b.id;
    };
    rows.sort(cmp);
    const base = `http://127.0.0.1:${this.port}/${this.org}/${encodeURIComponent(this.project)}/_apis/wit`;
    const col = (f: string) => ({ referenceName: f, name: FIELD_NAMES[f] ?? f, url: `${base}/fields/${f}` });
    return {
      queryType: "flat",
      queryResultType: "workItem",
      asOf: new Date(this.clock).toISOString(),
      columns: columns.map(col),
      sortColumns: sorts.map((o) => ({ field: col(o.field), descending: o.descending })),
      workItems: rows.slice(0, top).map((wi) => ({ id: wi.id, url: `${base}/workItems/${wi.id}` })),
    };
  }
}

function errorBody(message: string, typeKey: string) {
  return { $id: "1", innerException: null, message, typeName: `Microsoft.TeamFoundation.WorkItemTracking.Server.${typeKey}, Microsoft.TeamFoundation.WorkItemTracking.Server`, typeKey, errorCode: 0, eventId: 3200 };
}

export function splitTags(s: string): string[] {
  const out: string[] = [];
  for (const t of s.split(";").map((x) => x.trim())) if (t && !out.some((x) => x.toLowerCase() === t.toLowerCase())) out.push(t);
  return out;
}

// A subset of WIQL: SELECT [f], ... FROM WorkItems [WHERE cond (AND cond)*] [ORDER BY [f] [ASC|DESC], ...]
type Token = { t: "field" | "string" | "macro" | "word" | "number" | "op" | "comma"; v: string };
interface Cond {
  field: string;
  op: "=" | "<>" | "contains" | "not contains";
  value: { kind: "string" | "macro" | "number"; text: string };
}

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const syntax = (msg: string) => bad(`TF51006: The query statement is not valid: ${msg} (at position ${i}).`, "WorkItemTrackingQuerySyntaxException");
  while (i < q.length) {
    const c = q[i] as string;
    if (/\s/.test(c)) i++;
    else if (c === "[") {
      const end = q.indexOf("]", i);
      if (end < 0) throw syntax("missing ]");
      out.push({ t: "field", v: q.slice(i + 1, end).trim() });
      i = end + 1;
    } else if (c === "'") {
      let v = "";
      i++;
      for (;;) {
        if (i >= q.length) throw syntax("unterminated string");
        if (q[i] === "'") {
          if (q[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += q[i++];
      }
      out.push({ t: "string", v });
    } else if (c === "@") {
      const m = /^@(\w+)/.exec(q.slice(i));
      if (!m) throw syntax("bad macro");
      out.push({ t: "macro", v: m[1] as string });
      i += m[0].length;
    } else if (c === ",") {
      out.push({ t: "comma", v: "," });
      i++;
    } else if (q.startsWith("<>", i)) {
      out.push({ t: "op", v: "<>" });
      i += 2;
    } else if (c === "=") {
      out.push({ t: "op", v: "=" });
      i++;
    } else if (/\d/.test(c)) {
      const m = /^\d+/.exec(q.slice(i)) as RegExpExecArray;
      out.push({ t: "number", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][\w.]*/.exec(q.slice(i)) as RegExpExecArray;
      out.push({ t: "word", v: m[0] });
      i += m[0].length;
    } else throw syntax(`unexpected '${c}'`);
  }
  return out;
}

export function parseWiql(q: string): { select: string[]; where: Cond[]; orderBy: Array<{ field: string; descending: boolean }> } {
  const toks = tokenize(q);
  let p = 0;
  const syntax = (msg: string) => bad(`TF51006: The query statement is not valid: ${msg}.`, "WorkItemTrackingQuerySyntaxException");
  const peekWord = (w: string) => toks[p]?.t === "word" && toks[p]?.v.toLowerCase() === w;
  const word = (w: string) => {
    if (!peekWord(w)) throw syntax(`expecting ${w.toUpperCase()}`);
    p++;
  };
  const field = () => {
    const t = toks[p];
    if (t?.t !== "field" && t?.t !== "word") throw syntax("expecting a field");
    p++;
    return t.v;
  };
  word("select");
  const select = [field()];
  while (toks[p]?.t === "comma") {
    p++;
    select.push(field());
  }
  word("from");
  const from = toks[p++];
  if (from?.t !== "word" || from.v.toLowerCase() !== "workitems") throw syntax("expecting WorkItems after FROM");
  const where: Cond[] = [];
  if (peekWord("where")) {
    p++;
    for (;;) {
      const f = field();
      let op: Cond["op"];
      const t = toks[p];
      if (t?.t === "op") {
        op = t.v as "=" | "<>";
        p++;
      } else if (peekWord("contains")) {
        op = "contains";
        p++;
      } else if (peekWord("not") && toks[p + 1]?.t === "word" && toks[p + 1]?.v.toLowerCase() === "contains") {
        op = "not contains";
        p += 2;
      } else throw syntax("expecting an operator (=, <>, CONTAINS, NOT CONTAINS)");
      const v = toks[p++];
      if (v?.t !== "string" && v?.t !== "macro" && v?.t !== "number") throw syntax("expecting a value");
      where.push({ field: f, op, value: { kind: v.t, text: v.v } });
      if (peekWord("and")) {
        p++;
        continue;
      }
      break;
    }
  }
  const orderBy: Array<{ field: string; descending: boolean }> = [];
  if (peekWord("order")) {
    p++;
    word("by");
    for (;;) {
      const f = field();
      let descending = false;
      if (peekWord("desc")) {
        descending = true;
        p++;
      } else if (peekWord("asc")) p++;
      orderBy.push({ field: f, descending });
      if (toks[p]?.t === "comma") {
        p++;
        continue;
      }
      break;
    }
  }
  if (p !== toks.length) throw syntax(`unexpected '${toks[p]?.v}'`);
  return { select, where, orderBy };
}

export async function startFakeAzureDevOps(o: FakeAzureDevOpsOptions = {}): Promise<FakeAzureDevOps> {
  return new FakeAzureDevOps(o).start();
}
