/**
 * A local Jira Cloud (REST API v3) for the Jira provider's tests: the parts
 * the provider calls, with Jira's paths, status codes and response shapes.
 *
 * - Basic auth (`email:apiToken`) on every call; anything else is a 401.
 * - `POST /rest/api/3/issue`: validates project, issue type, summary,
 *   description (a well-formed ADF document), labels (no spaces, <= 255
 *   characters), priority; unknown fields are refused; answers 201 {id,key,self}.
 * - `GET /rest/api/3/issue/{key}` (with `fields=`), `POST .../comment` (ADF
 *   body, 201 with the comment), `GET .../transitions` (the transitions on offer
 *   from the current status), `POST .../transitions` (204; an id not on offer
 *   is a 400).
 * - `POST /rest/api/3/search/jql`: a JQL subset (`field = value`, `!=`, `in`,
 *   `AND`, `ORDER BY created|key ASC|DESC`); unbounded queries, unknown fields
 *   and unknown payload properties are 400s; `fields` picks what is returned;
 *   pagination with `nextPageToken` / `isLast`. The removed `/rest/api/3/search`
 *   answers 410.
 * - `fail(...)` queues failures (429 with Retry-After, 5xx); `requests` records
 *   every call.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type StatusCategoryKey = "new" | "indeterminate" | "done";

export interface FakeStatus {
  id: string;
  name: string;
  category: StatusCategoryKey;
}

export interface FakeTransition {
  id: string;
  name: string;
  /** Target status name. */
  to: string;
  /** Status names it starts from; omitted = a global transition. */
  from?: string[];
}

export interface FakeComment {
  id: string;
  body: unknown;
  created: string;
}

export interface FakeIssue {
  id: string;
  key: string;
  project: string;
  issueType: string;
  summary: string;
  description?: unknown;
  labels: string[];
  priority?: string;
  status: FakeStatus;
  resolution?: string;
  created: string;
  seq: number;
  comments: FakeComment[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status?: number;
}

export interface FailureSpec {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Only requests for which this holds fail (default: any). */
  match?: (method: string, path: string) => boolean;
}

export interface FakeJiraOptions {
  email?: string;
  apiToken?: string;
  projects?: string[];
  issueTypes?: string[];
  priorities?: string[];
  statuses?: FakeStatus[];
  transitions?: FakeTransition[];
}

export interface FakeJira {
  url: string;
  email: string;
  apiToken: string;
  issues: FakeIssue[];
  requests: RecordedRequest[];
  statuses: FakeStatus[];
  transitions: FakeTransition[];
  issue(key: string): FakeIssue | undefined;
  /** The next `times` matching requests answer `spec.status`. */
  fail(times: number, spec: FailureSpec): void;
  /** Sets an issue's status directly (as a person would in the UI). */
  setStatus(key: string, statusName: string): void;
  close(): Promise<void>;
}

export const DEFAULT_STATUSES: FakeStatus[] = [
  { id: "10000", name: "To Do", category: "new" },
  { id: "3", name: "In Progress", category: "indeterminate" },
  { id: "10001", name: "Done", category: "done" },
];

/** Global transitions; one is named after its target status, one is not ("Backlog" leads to "To Do"). */
export const DEFAULT_TRANSITIONS: FakeTransition[] = [
  { id: "11", name: "Backlog", to: "To Do" },
  { id: "21", name: "Start work", to: "In Progress" },
  { id: "31", name: "Done", to: "Done" },
];

const CATEGORIES: Record<StatusCategoryKey, { id: number; key: StatusCategoryKey; colorName: string; name: string }> = {
  new: { id: 2, key: "new", colorName: "blue-gray", name: "To Do" },
  indeterminate: { id: 4, key: "indeterminate", colorName: "yellow", name: "In Progress" },
  done: { id: 3, key: "done", colorName: "green", name: "Done" },
};

class HttpFail extends Error {
  constructor(
    readonly status: number,
    readonly payload: unknown,
  ) {
    super(`fake jira ${status}`);
  }
}

const jiraError = (status: number, errorMessages: string[], errors: Record<string, string> = {}) => new HttpFail(status, { errorMessages, errors });

// ---- ADF --------------------------------------------------------------------------

const BLOCKS_IN_CONTAINER = new Set(["paragraph", "bulletList", "orderedList", "codeBlock"]);
const TOP_BLOCKS = new Set(["paragraph", "heading", "codeBlock", "bulletList", "orderedList", "blockquote", "rule"]);
const MARKS = new Set(["strong", "em", "code", "strike", "underline", "link", "subsup", "textColor"]);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Why `doc` is not a well-formed ADF document (the node subset the provider may send), or undefined. */
export function adfProblem(doc: unknown): string | undefined {
  if (!isObj(doc) || doc["type"] !== "doc") return "the root must be a node of type doc";
  if (doc["version"] !== 1) return "doc.version must be 1";
  if (!Array.isArray(doc["content"])) return "doc.content must be an array";
  for (const b of doc["content"]) {
    const p = blockProblem(b, TOP_BLOCKS);
    if (p) return p;
  }
  return undefined;
}

function blockProblem(node: unknown, allowed: Set<string>): string | undefined {
  if (!isObj(node) || typeof node["type"] !== "string") return "a node without a type";
  const type = node["type"];
  if (!allowed.has(type)) return `node ${type} is not allowed here`;
  const content = node["content"];
  const attrs = node["attrs"];
  switch (type) {
    case "paragraph":
      return inlineProblem(content, true);
    case "heading": {
      const level = isObj(attrs) ? attrs["level"] : undefined;
      if (typeof level !== "number" || !Number.isInteger(level) || level < 1 || level > 6) return "heading.attrs.level must be 1..6";
      return inlineProblem(content, true);
    }
    case "codeBlock": {
      if (attrs !== undefined && (!isObj(attrs) || (attrs["language"] !== undefined && typeof attrs["language"] !== "string"))) return "codeBlock.attrs.language must be a string";
      if (content === undefined) return undefined;
      if (!Array.isArray(content)) return "codeBlock.content must be an array";
      for (const t of content) if (!isObj(t) || t["type"] !== "text" || typeof t["text"] !== "string" || !t["text"] || t["marks"] !== undefined) return "codeBlock holds unmarked, non-empty text only";
      return undefined;
    }
    case "bulletList":
    case "orderedList": {
      if (type === "orderedList" && attrs !== undefined) {
        const order = isObj(attrs) ? attrs["order"] : undefined;
        if (order !== undefined && (typeof order !== "number" || !Number.isInteger(order) || order < 0)) return "orderedList.attrs.order must be a non-negative integer";
      }
      if (!Array.isArray(content) || content.length === 0) return `${type} needs at least one listItem`;
      for (const item of content) {
        if (!isObj(item) || item["type"] !== "listItem") return `${type} holds listItem nodes only`;
        const ic = item["content"];
        if (!Array.isArray(ic) || ic.length === 0) return "listItem needs content";
        for (const b of ic) {
          const p = blockProblem(b, BLOCKS_IN_CONTAINER);
          if (p) return p;
        }
      }
      return undefined;
    }
    case "blockquote": {
      if (!Array.isArray(content) || content.length === 0) return "blockquote needs content";
      for (const b of content) {
        const p = blockProblem(b, BLOCKS_IN_CONTAINER);
        if (p) return p;
      }
      return undefined;
    }
    case "rule":
      return content === undefined ? undefined : "rule has no content";
  }
  return undefined;
}

function inlineProblem(content: unknown, optional: boolean): string | undefined {
  if (content === undefined && optional) return undefined;
  if (!Array.isArray(content)) return "inline content must be an array";
  for (const n of content) {
    if (!isObj(n)) return "an inline node must be an object";
    if (n["type"] === "hardBreak") continue;
    if (n["type"] !== "text") return `inline node ${String(n["type"])} is not supported`;
    if (typeof n["text"] !== "string" || n["text"].length === 0) return "text nodes must have non-empty text";
    const marks = n["marks"];
    if (marks === undefined) continue;
    if (!Array.isArray(marks)) return "marks must be an array";
    const types = new Set<string>();
    for (const m of marks) {
      if (!isObj(m) || typeof m["type"] !== "string" || !MARKS.has(m["type"])) return "unknown mark";
      if (types.has(m["type"])) return `duplicate mark ${m["type"]}`;
      types.add(m["type"]);
      if (m["type"] === "link" && (!isObj(m["attrs"]) || typeof m["attrs"]["href"] !== "string")) return "link mark needs attrs.href";
    }
    if (types.has("code") && [...types].some((t) => t !== "code" && t !== "link")) return "the code mark combines with link only";
  }
  return undefined;
}

/** The plain text of an ADF document (blocks on their own lines), for assertions. */
export function adfToText(doc: unknown): string {
  const walk = (n: unknown): string => {
    if (!isObj(n)) return "";
    if (n["type"] === "text") return String(n["text"]);
    if (n["type"] === "hardBreak") return "\n";
    const inner = Array.isArray(n["content"]) ? n["content"].map(walk) : [];
    const inlineParent = n["type"] === "paragraph" || n["type"] === "heading" || n["type"] === "codeBlock";
    return inlineParent ? inner.join("") : inner.join("\n");
  };
  return walk(doc);
}

/** Every link href in an ADF document. */
export function adfLinks(doc: unknown): string[] {
  const out: string[] = [];
  const walk = (n: unknown) => {
    if (!isObj(n)) return;
    if (Array.isArray(n["marks"])) for (const m of n["marks"]) if (isObj(m) && m["type"] === "link" && isObj(m["attrs"])) out.push(String(m["attrs"]["href"]));
    if (Array.isArray(n["content"])) n["content"].forEach(walk);
  };
  walk(doc);
  return out;
}

// ---- JQL subset ---------------------------------------------------------------------

type Clause = { field: string; op: "=" | "!=" | "in" | "not in"; values: string[] };
interface Query {
  clauses: Clause[];
  order: Array<{ field: string; dir: "asc" | "desc" }>;
}

const JQL_FIELDS = new Set(["labels", "project", "status", "statuscategory", "key", "issuetype"]);

function tokenize(jql: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(!=|=|\(|\)|,)|([^\s=!(),"']+))/y;
  let i = 0;
  while (i < jql.length) {
    if (/^\s*$/.test(jql.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(jql);
    if (!m) throw jiraError(400, [`Error in the JQL Query: The character '${jql[i]}' is a reserved JQL character.`]);
    i = re.lastIndex;
    if (m[1] !== undefined || m[2] !== undefined) out.push(`"${(m[1] ?? m[2] ?? "").replace(/\\(.)/g, "$1")}`);
    else out.push((m[3] ?? m[4]) as string);
  }
  return out;
}

function parseJql(jql: string): Query {
  const t = tokenize(jql);
  let i = 0;
  const peek = () => t[i]?.toLowerCase();
  const value = (): string => {
    const v = t[i++];
    if (v === undefined || ["(", ")", ",", "=", "!="].includes(v)) throw jiraError(400, [`Error in the JQL Query: Expecting either a value, list or function but got '${v ?? "end of query"}'.`]);
    return v.startsWith('"') ? v.slice(1) : v;
  };
  const clauses: Clause[] = [];
  while (i < t.length && peek() !== "order") {
    if (clauses.length > 0) {
      if (peek() !== "and") throw jiraError(400, [`Error in the JQL Query: Expecting 'AND' but got '${t[i]}'.`]);
      i++;
    }
    const fieldTok = t[i++];
    if (!fieldTok) throw jiraError(400, ["Error in the JQL Query: Expecting a field name."]);
    const field = (fieldTok.startsWith('"') ? fieldTok.slice(1) : fieldTok).toLowerCase();
    if (!JQL_FIELDS.has(field)) throw jiraError(400, [`Field '${fieldTok.replace(/^"/, "")}' does not exist or you do not have permission to view it.`]);
    let op = peek();
    if (op === "not" && t[i + 1]?.toLowerCase() === "in") {
      i += 2;
      op = "not in";
    } else i++;
    if (op === "=" || op === "!=") clauses.push({ field, op, values: [value()] });
    else if (op === "in" || op === "not in") {
      if (t[i++] !== "(") throw jiraError(400, ["Error in the JQL Query: Expecting '(' after IN."]);
      const values = [value()];
      while (t[i] === ",") {
        i++;
        values.push(value());
      }
      if (t[i++] !== ")") throw jiraError(400, ["Error in the JQL Query: Expecting ')' to close the list."]);
      clauses.push({ field, op, values });
    } else throw jiraError(400, [`Error in the JQL Query: Expecting operator but got '${op ?? "end of query"}'.`]);
  }
  const order: Query["order"] = [];
  if (peek() === "order") {
    i++;
    if (peek() !== "by") throw jiraError(400, ["Error in the JQL Query: Expecting 'BY' after 'ORDER'."]);
    i++;
    do {
      if (t[i] === ",") i++;
      const f = t[i++]?.toLowerCase();
      if (f !== "created" && f !== "key") throw jiraError(400, [`Not able to sort using field '${f ?? ""}'.`]);
      let dir: "asc" | "desc" = "asc";
      if (peek() === "asc" || peek() === "desc") dir = t[i++]?.toLowerCase() as "asc" | "desc";
      order.push({ field: f, dir });
    } while (t[i] === ",");
  }
  if (i < t.length) throw jiraError(400, [`Error in the JQL Query: Unexpected '${t[i]}'.`]);
  return { clauses, order };
}

function matches(issue: FakeIssue, c: Clause): boolean {
  const has = (v: string): boolean => {
    switch (c.field) {
      case "labels":
        return issue.labels.includes(v);
      case "project":
        return issue.project.toLowerCase() === v.toLowerCase();
      case "status":
        return issue.status.name.toLowerCase() === v.toLowerCase() || issue.status.id === v;
      case "statuscategory":
        return issue.status.category === v.toLowerCase() || CATEGORIES[issue.status.category].name.toLowerCase() === v.toLowerCase();
      case "key":
        return issue.key.toLowerCase() === v.toLowerCase();
      case "issuetype":
        return issue.issueType.toLowerCase() === v.toLowerCase();
    }
    return false;
  };
  const any = c.values.some(has);
  return c.op === "=" || c.op === "in" ? any : !any;
}

// ---- the server ---------------------------------------------------------------------

const SEARCH_KEYS = new Set(["jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys", "failFast", "reconcileIssues"]);
const CREATE_KEYS = new Set(["fields", "update", "properties", "historyMetadata", "transition"]);
const CREATE_FIELDS = new Set(["project", "issuetype", "summary", "description", "labels", "priority"]);

export async function startFakeJira(options: FakeJiraOptions = {}): Promise<FakeJira> {
  const email = options.email ?? "remediator@contoso.example";
  const apiToken = options.apiToken ?? "ATATT3xFfGF0-fake-token-0123456789";
  const projects = options.projects ?? ["SEC"];
  const issueTypes = options.issueTypes ?? ["Task", "Bug"];
  const priorities = options.priorities ?? ["Highest", "High", "Medium", "Low", "Lowest"];
  const statuses = options.statuses ?? DEFAULT_STATUSES.map((s) => ({ ...s }));
  const transitions = options.transitions ?? DEFAULT_TRANSITIONS.map((t) => ({ ...t }));
  const issues: FakeIssue[] = [];
  const requests: RecordedRequest[] = [];
  const failures: Array<FailureSpec & { remaining: number }> = [];
  const counters = new Map<string, number>();
  let nextId = 10000;
  let nextCommentId = 10000;
  let seq = 0;
  const clock = Date.parse("2025-01-06T09:00:00Z");
  const expected = `Basic ${Buffer.from(`${email}:${apiToken}`, "utf8").toString("base64")}`;
  let base = "";

  const jiraTime = (ms: number) => new Date(ms).toISOString().replace("Z", "+0000");
  const statusJson = (s: FakeStatus) => ({
    self: `${base}/rest/api/3/status/${s.id}`,
    description: "",
    iconUrl: `${base}/images/icons/statuses/generic.png`,
    name: s.name,
    id: s.id,
    statusCategory: { self: `${base}/rest/api/3/statuscategory/${CATEGORIES[s.category].id}`, ...CATEGORIES[s.category] },
  });
  const author = { accountId: "5b10ac8d82e05b22cc7d4ef5", emailAddress: email, displayName: "APIM Remediator", active: true, timeZone: "UTC", accountType: "atlassian" };
  const statusByName = (name: string) => statuses.find((s) => s.name.toLowerCase() === name.toLowerCase());

  function findIssue(keyOrId: string): FakeIssue {
    const issue = issues.find((x) => x.key.toLowerCase() === keyOrId.toLowerCase() || x.id === keyOrId);
    if (!issue) throw jiraError(404, ["Issue does not exist or you do not have permission to see it."]);
    return issue;
  }

  function fieldsOf(issue: FakeIssue, wanted: string[] | undefined): Record<string, unknown> {
    const all: Record<string, unknown> = {
      summary: issue.summary,
      status: statusJson(issue.status),
      labels: issue.labels,
      description: issue.description ?? null,
      created: issue.created,
      issuetype: { name: issue.issueType },
      project: { key: issue.project },
      priority: issue.priority ? { name: issue.priority } : null,
      resolution: issue.resolution ? { name: issue.resolution } : null,
      comment: { comments: issue.comments.map((c) => commentJson(issue, c)), total: issue.comments.length, startAt: 0, maxResults: issue.comments.length },
    };
    if (!wanted || wanted.includes("*all") || wanted.includes("*navigable")) return all;
    return Object.fromEntries(wanted.filter((f) => f in all).map((f) => [f, all[f]]));
  }

  function commentJson(issue: FakeIssue, c: FakeComment) {
    return { self: `${base}/rest/api/3/issue/${issue.id}/comment/${c.id}`, id: c.id, author, body: c.body, updateAuthor: author, created: c.created, updated: c.created, jsdPublic: true };
  }

  function offered(issue: FakeIssue): FakeTransition[] {
    return transitions.filter((t) => t.to.toLowerCase() !== issue.status.name.toLowerCase() && (!t.from || t.from.some((f) => f.toLowerCase() === issue.status.name.toLowerCase())));
  }

  function setStatus(issue: FakeIssue, status: FakeStatus) {
    issue.status = status;
    issue.resolution = status.category === "done" ? "Done" : undefined;
  }

  function createIssue(body: unknown): unknown {
    if (!isObj(body)) throw jiraError(400, ["Can not deserialize instance of com.atlassian.jira.rest.v2.issue.IssueUpdateBean out of START_ARRAY token"]);
    for (const k of Object.keys(body)) if (!CREATE_KEYS.has(k)) throw jiraError(400, [`Unrecognized field "${k}"`]);
    const f = body["fields"];
    if (!isObj(f)) throw jiraError(400, [], { project: "Specify a valid project ID or key", issuetype: "Specify an issue type", summary: "You must specify a summary of the issue." });
    const errors: Record<string, string> = {};
    for (const k of Object.keys(f)) if (!CREATE_FIELDS.has(k)) errors[k] = `Field '${k}' cannot be set. It is not on the appropriate screen, or unknown.`;
    const project = isObj(f["project"]) ? (f["project"]["key"] ?? f["project"]["id"]) : undefined;
    const projectKey = typeof project === "string" ? projects.find((p) => p === project) : undefined;
    if (!projectKey) errors["project"] = "Specify a valid project ID or key";
    const it = isObj(f["issuetype"]) ? f["issuetype"]["name"] : undefined;
    if (f["issuetype"] === undefined) errors["issuetype"] = "Specify an issue type";
    else if (typeof it !== "string" || !issueTypes.includes(it)) errors["issuetype"] = "Specify a valid issue type";
    const summary = f["summary"];
    if (typeof summary !== "string" || !summary.trim()) errors["summary"] = "You must specify a summary of the issue.";
    else if (summary.length > 255) errors["summary"] = "Summary must be less than 255 characters.";
    else if (/[\r\n]/.test(summary)) errors["summary"] = "The summary is invalid because it contains newline characters.";
    if (f["description"] !== undefined && f["description"] !== null) {
      if (!isObj(f["description"])) errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)";
      else {
        const p = adfProblem(f["description"]);
        if (p) errors["description"] = `INVALID_INPUT: ${p}`;
      }
    }
    const labels = f["labels"];
    if (labels !== undefined) {
      if (!Array.isArray(labels) || labels.some((l) => typeof l !== "string")) errors["labels"] = "Operation value must be a string";
      else
        for (const l of labels as string[]) {
          if (!l) errors["labels"] = "Label can not be empty.";
          else if (/\s/.test(l)) errors["labels"] = `The label '${l}' contains spaces which is invalid.`;
          else if (l.length > 255) errors["labels"] = "The label exceeds the maximum length for a single label of 255 characters.";
        }
    }
    const pr = f["priority"];
    if (pr !== undefined && !(isObj(pr) && typeof pr["name"] === "string" && priorities.includes(pr["name"]))) errors["priority"] = "Specify the Priority (id or name) in the string format";
    if (Object.keys(errors).length) throw jiraError(400, [], errors);
    const n = (counters.get(projectKey as string) ?? 0) + 1;
    counters.set(projectKey as string, n);
    const issue: FakeIssue = {
      id: String(nextId++),
      key: `${projectKey}-${n}`,
      project: projectKey as string,
      issueType: it as string,
      summary: summary as string,
      description: f["description"] ?? undefined,
      labels: [...new Set((labels as string[] | undefined) ?? [])],
      priority: isObj(pr) ? (pr["name"] as string) : undefined,
      status: statuses.find((s) => s.category === "new") ?? (statuses[0] as FakeStatus),
      created: jiraTime(clock + seq * 1000),
      seq: seq++,
      comments: [],
    };
    issues.push(issue);
    return { id: issue.id, key: issue.key, self: `${base}/rest/api/3/issue/${issue.id}` };
  }

  function search(body: unknown): unknown {
    if (!isObj(body)) throw jiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."]);
    for (const k of Object.keys(body)) if (!SEARCH_KEYS.has(k)) throw jiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."]);
    const jql = body["jql"];
    if (typeof jql !== "string") throw jiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."]);
    const maxResults = body["maxResults"] ?? 50;
    if (typeof maxResults !== "number" || !Number.isInteger(maxResults) || maxResults < 0 || maxResults > 5000) throw jiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."]);
    const fields = body["fields"];
    if (fields !== undefined && (!Array.isArray(fields) || fields.some((x) => typeof x !== "string"))) throw jiraError(400, ["Invalid request payload. Refer to the REST API documentation and try again."]);
    const q = parseJql(jql);
    if (q.clauses.length === 0) throw jiraError(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."]);
    let hits = issues.filter((x) => q.clauses.every((c) => matches(x, c)));
    hits.sort((a, b) => {
      for (const o of q.order) {
        const d = o.field === "created" ? a.seq - b.seq : a.key.localeCompare(b.key, undefined, { numeric: true });
        if (d !== 0) return o.dir === "asc" ? d : -d;
      }
      return 0;
    });
    const token = body["nextPageToken"];
    const start = typeof token === "string" ? Number(Buffer.from(token, "base64url").toString()) || 0 : 0;
    const page = hits.slice(start, start + maxResults);
    const isLast = start + page.length >= hits.length;
    hits = page;
    const wanted = (fields as string[] | undefined) ?? ["id"];
    return {
      issues: hits.map((x) => ({ expand: "", id: x.id, self: `${base}/rest/api/3/issue/${x.id}`, key: x.key, ...(wanted.some((w) => w !== "id") ? { fields: fieldsOf(x, wanted) } : {}) })),
      ...(isLast ? {} : { nextPageToken: Buffer.from(String(start + page.length)).toString("base64url") }),
      isLast,
    };
  }

  async function route(method: string, path: string, query: URLSearchParams, body: unknown): Promise<{ status: number; payload?: unknown }> {
    if (path === "/rest/api/3/search" || path === "/rest/api/2/search") {
      throw jiraError(410, ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."]);
    }
    if (path === "/rest/api/3/search/jql") {
      if (method !== "POST" && method !== "GET") throw jiraError(405, ["Method Not Allowed"]);
      if (method === "GET") return { status: 200, payload: search({ jql: query.get("jql") ?? "", ...(query.get("fields") ? { fields: (query.get("fields") as string).split(",") } : {}), ...(query.get("maxResults") ? { maxResults: Number(query.get("maxResults")) } : {}) }) };
      return { status: 200, payload: search(body) };
    }
    if (path === "/rest/api/3/issue" && method === "POST") return { status: 201, payload: createIssue(body) };
    const m = /^\/rest\/api\/3\/issue\/([^/]+)(?:\/(comment|transitions))?$/.exec(path);
    if (!m) throw jiraError(404, ["null for uri: " + path]);
    const issue = findIssue(decodeURIComponent(m[1] as string));
    const sub = m[2];
    if (!sub && method === "GET") {
      const fields = query.get("fields");
      return { status: 200, payload: { expand: "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations", id: issue.id, self: `${base}/rest/api/3/issue/${issue.id}`, key: issue.key, fields: fieldsOf(issue, fields ? fields.split(",") : undefined) } };
    }
    if (sub === "comment" && method === "POST") {
      if (!isObj(body) || body["body"] === undefined || body["body"] === null) throw jiraError(400, [], { comment: "Comment body can not be empty!" });
      if (!isObj(body["body"])) throw jiraError(400, [], { comment: "Operation value must be an Atlassian Document (see the Atlassian Document Format)" });
      const p = adfProblem(body["body"]);
      if (p) throw jiraError(400, ["INVALID_INPUT"], { comment: p });
      if (adfToText(body["body"]).trim() === "") throw jiraError(400, [], { comment: "Comment body can not be empty!" });
      const c: FakeComment = { id: String(nextCommentId++), body: body["body"], created: jiraTime(clock + seq++ * 1000) };
      issue.comments.push(c);
      return { status: 201, payload: commentJson(issue, c) };
    }
    if (sub === "transitions" && method === "GET") {
      return {
        status: 200,
        payload: {
          expand: "transitions",
          transitions: offered(issue).map((t) => {
            const to = statusByName(t.to) as FakeStatus;
            return { id: t.id, name: t.name, to: statusJson(to), hasScreen: false, isGlobal: !t.from, isInitial: false, isAvailable: true, isConditional: false, isLooped: false };
          }),
        },
      };
    }
    if (sub === "transitions" && method === "POST") {
      const t = isObj(body) && isObj(body["transition"]) ? body["transition"]["id"] : undefined;
      if (typeof t !== "string" && typeof t !== "number") throw jiraError(400, ["Missing 'transition' identifier"]);
      const tr = offered(issue).find((x) => x.id === String(t));
      if (!tr) throw jiraError(400, [`Transition id '${String(t)}' is not valid for this issue.`]);
      setStatus(issue, statusByName(tr.to) as FakeStatus);
      return { status: 204 };
    }
    throw jiraError(405, ["Method Not Allowed"]);
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const u = new URL(req.url ?? "/", "http://fake");
        const raw = Buffer.concat(chunks).toString("utf8");
        const rec: RecordedRequest = { method: req.method ?? "GET", path: u.pathname, query: Object.fromEntries(u.searchParams), headers: { ...req.headers }, body: undefined };
        requests.push(rec);
        const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
          rec.status = status;
          if (payload === undefined) {
            res.writeHead(status, headers).end();
            return;
          }
          const text = typeof payload === "string" ? payload : JSON.stringify(payload);
          res.writeHead(status, { "content-type": typeof payload === "string" ? "text/plain;charset=UTF-8" : "application/json;charset=UTF-8", ...headers }).end(text);
        };
        try {
          const failure = failures.find((f) => f.remaining > 0 && (!f.match || f.match(rec.method, rec.path)));
          if (failure) {
            failure.remaining--;
            send(failure.status, failure.body ?? { errorMessages: [failure.status === 429 ? "Rate limit exceeded." : "Internal server error"], errors: {} }, failure.headers);
            return;
          }
          if (req.headers.authorization !== expected) {
            send(401, "Client must be authenticated to access this resource.", { "www-authenticate": 'Basic realm="protected-area"' });
            return;
          }
          if (raw) {
            if (!/^application\/json\b/i.test(String(req.headers["content-type"] ?? ""))) {
              send(415, { errorMessages: ["Unsupported Media Type"], errors: {} });
              return;
            }
            try {
              rec.body = JSON.parse(raw);
            } catch {
              send(400, { errorMessages: ["Unexpected character: was expecting a JSON value"], errors: {} });
              return;
            }
          } else if (req.method === "POST") {
            send(400, { errorMessages: ["No content to map due to end-of-input"], errors: {} });
            return;
          }
          const out = await route(rec.method, rec.path, u.searchParams, rec.body);
          send(out.status, out.payload);
        } catch (e) {
          if (e instanceof HttpFail) send(e.status, e.payload);
          else send(500, { errorMessages: [(e as Error).message], errors: {} });
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    email,
    apiToken,
    issues,
    requests,
    statuses,
    transitions,
    issue: (key) => issues.find((x) => x.key === key),
    fail: (times, spec) => void failures.push({ ...spec, remaining: times }),
    setStatus: (key, name) => {
      const issue = findIssue(key);
      const s = statusByName(name);
      if (!s) throw new Error(`no status ${name}`);
      setStatus(issue, s);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
