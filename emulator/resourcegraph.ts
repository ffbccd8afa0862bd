/**
 * Azure Resource Graph as the emulator serves it: `POST /providers/Microsoft.ResourceGraph/resources`
 * (api-version 2024-04-01, the one @azure/arm-resourcegraph 5 sends, and 2022-10-01 / 2021-03-01),
 * answered from the emulator's store, plus management groups and their descendants.
 *
 * Sources:
 * - REST: Resources - Resources (learn.microsoft.com/rest/api/azureresourcegraph/resourcegraph/resources/resources;
 *   azure-rest-api-specs specification/resourcegraph/.../examples ResourcesBasicQuery, ResourcesFirstPageQuery,
 *   ResourcesNextPageQuery, ResourcesMgBasicQuery): request `{ query, subscriptions?, managementGroups?, options? }`,
 *   options `$top`, `$skip`, `$skipToken`, `resultFormat`; answer `{ totalRecords, count, data, facets,
 *   resultTruncated: "true"|"false", $skipToken? }` with `data` an array of objects (resultFormat objectArray).
 * - Learn, "Working with large data sets": at most 1,000 rows per answer ($top 1..1000; 100 when not given),
 *   `$skipToken` to the next page, and paging needs `id` in the results (without it: resultTruncated "true", no token).
 * - Learn, "Guidance for throttled requests in Azure Resource Graph": a quota per user and time window (e.g. 15
 *   queries every 5 seconds), reported in every answer as `x-ms-user-quota-remaining` (queries left) and
 *   `x-ms-user-quota-resets-after` (hh:mm:ss); past it, 429 with Retry-After.
 * - Learn, "Azure Resource Graph table and resource type reference": the `resources` table indexes
 *   `microsoft.apimanagement/service` and `microsoft.apimanagement/gateways` and no API Management child type
 *   (no apis, products, workspaces...). The emulator's `resources` table holds exactly the tracked resources
 *   (`/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}`): no children, no extension resources.
 *   Management groups are `microsoft.management/managementgroups` in `resourcecontainers` (not served here).
 * - Learn, "Troubleshoot errors using Azure Resource Graph": a query outside the language answers 400 with
 *   `BadRequest` and a detail `InvalidQuery`.
 *
 * The KQL subset (anything else answers 400 BadRequest / InvalidQuery):
 *
 *   query   := table ( '|' stage )*
 *   table   := resources                       (case-insensitive)
 *   stage   := where cond ( and cond )*
 *            | project column ( ',' column )*
 *            | ( order | sort ) by column [ asc | desc ]
 *   cond    := column ( '=~' | '==' | '!=' | '!~' ) 'string'
 *            | column ( in | in~ | !in | !in~ ) '(' 'string' ( ',' 'string' )* ')'
 *   column  := id | name | type | kind | location | resourceGroup | subscriptionId | tenantId
 *            | sku | properties | tags | identity | zones | managedBy | plan | extendedLocation
 *
 * e.g. `resources | where type =~ 'microsoft.apimanagement/service' | project id, name, type, location, sku,
 * properties, tags, identity, zones, subscriptionId, resourceGroup | order by id asc`.
 * Rows are what ARM's GET answers (emulator/contracts.ts), with `type`, `location` and `resourceGroup` in lower
 * case as Resource Graph answers them; without `order by` rows come in id order (stable, so paging is too).
 *
 * Management groups are estate entries of type `Microsoft.Management/managementGroups`
 * (id `/providers/Microsoft.Management/managementGroups/{name}`) whose `properties.children` lists
 * `{ id }` of subscriptions (`/subscriptions/{id}`) and child management groups; a query over a management group
 * covers every subscription below it. `GET /providers/Microsoft.Management/managementGroups/{name}/descendants`
 * (api-version 2020-05-01) lists them (Learn: Management Groups - Get Descendants).
 */
import { createHash } from "node:crypto";
import { ArmError, type Reply } from "./http.js";
import { idKey, segments } from "./ids.js";
import type { Resource, Store } from "./store.js";

export const RESOURCE_GRAPH_API_VERSIONS = ["2024-04-01", "2022-10-01", "2021-03-01"];
export const MANAGEMENT_GROUP_TYPE = "microsoft.management/managementgroups";

export interface ResourceGraphSettings {
  /** Queries per principal per window (Learn: 15 per 5 seconds). */
  queriesPerWindow: number;
  windowMs: number;
  /** False: no quota (headers still sent). */
  enabled: boolean;
}

export const RESOURCE_GRAPH_DEFAULTS: ResourceGraphSettings = { queriesPerWindow: 15, windowMs: 5000, enabled: true };

const COLUMNS = ["id", "name", "type", "kind", "location", "resourceGroup", "subscriptionId", "tenantId", "sku", "properties", "tags", "identity", "zones", "managedBy", "plan", "extendedLocation"] as const;
type Column = (typeof COLUMNS)[number];

type Cond = { column: Column; op: "=~" | "==" | "!=" | "!~"; value: string } | { column: Column; op: "in" | "in~" | "!in" | "!in~"; values: string[] };

export interface ParsedQuery {
  table: "resources";
  where: Cond[];
  project?: Column[];
  order?: { column: Column; desc: boolean };
}

export class QueryError extends Error {}

// ---- the KQL subset ---------------------------------------------------------

type Token = { kind: "ident" | "string" | "op" | "punct"; text: string; at: number };

function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let text = "";
      while (j < q.length && q[j] !== c) {
        if (q[j] === "\\" && j + 1 < q.length) j++;
        text += q[j];
        j++;
      }
      if (j >= q.length) throw new QueryError(`unterminated string at ${i}`);
      out.push({ kind: "string", text, at: i });
      i = j + 1;
      continue;
    }
    const two = q.slice(i, i + 2);
    if (two === "=~" || two === "==" || two === "!=" || two === "!~") {
      out.push({ kind: "op", text: two, at: i });
      i += 2;
      continue;
    }
    if (c === "|" || c === "," || c === "(" || c === ")") {
      out.push({ kind: "punct", text: c, at: i });
      i++;
      continue;
    }
    const m = /^!?[A-Za-z_][A-Za-z0-9_]*~?/.exec(q.slice(i));
    if (m) {
      out.push({ kind: "ident", text: m[0], at: i });
      i += m[0].length;
      continue;
    }
    throw new QueryError(`unexpected character '${c}' at ${i}`);
  }
  return out;
}

export function parseQuery(q: string): ParsedQuery {
  const tokens = tokenize(q);
  let pos = 0;
  const peek = () => tokens[pos];
  const next = (what: string): Token => {
    const t = tokens[pos++];
    if (!t) throw new QueryError(`expected ${what} at the end of the query`);
    return t;
  };
  const word = (t: Token | undefined, w: string) => t?.kind === "ident" && t.text.toLowerCase() === w;
  const column = (): Column => {
    const t = next("a column");
    const c = COLUMNS.find((x) => t.kind === "ident" && x.toLowerCase() === t.text.toLowerCase());
    if (!c) throw new QueryError(`unknown column '${t.text}' at ${t.at}`);
    return c;
  };
  const str = (): string => {
    const t = next("a string");
    if (t.kind !== "string") throw new QueryError(`expected a string at ${t.at}, got '${t.text}'`);
    return t.text;
  };
  const table = next("a table");
  if (!word(table, "resources")) throw new QueryError(`unknown table '${table.text}' (only resources is served)`);
  const out: ParsedQuery = { table: "resources", where: [] };
  while (pos < tokens.length) {
    const bar = next("'|'");
    if (bar.text !== "|") throw new QueryError(`expected '|' at ${bar.at}, got '${bar.text}'`);
    const op = next("an operator");
    if (word(op, "where")) {
      for (;;) {
        const col = column();
        const o = next("a comparison");
        if (o.kind === "op") out.where.push({ column: col, op: o.text as "=~", value: str() });
        else if (o.kind === "ident" && ["in", "in~", "!in", "!in~"].includes(o.text.toLowerCase())) {
          const open = next("'('");
          if (open.text !== "(") throw new QueryError(`expected '(' at ${open.at}`);
          const values = [str()];
          for (;;) {
            const t = next("',' or ')'");
            if (t.text === ")") break;
            if (t.text !== ",") throw new QueryError(`expected ',' or ')' at ${t.at}`);
            values.push(str());
          }
          out.where.push({ column: col, op: o.text.toLowerCase() as "in", values });
        } else throw new QueryError(`unsupported comparison '${o.text}' at ${o.at}`);
        if (!word(peek(), "and")) break;
        pos++;
      }
    } else if (word(op, "project")) {
      const cols = [column()];
      while (peek()?.text === ",") {
        pos++;
        cols.push(column());
      }
      out.project = cols;
    } else if (word(op, "order") || word(op, "sort")) {
      if (!word(next("by"), "by")) throw new QueryError(`expected 'by' after '${op.text}'`);
      const col = column();
      let desc = true; // KQL sorts descending unless told
      if (word(peek(), "asc") || word(peek(), "desc")) desc = (next("asc|desc").text.toLowerCase() === "desc");
      out.order = { column: col, desc };
    } else {
      throw new QueryError(`unsupported operator '${op.text}' at ${op.at}`);
    }
  }
  return out;
}

// ---- rows ---------------------------------------------------------------------

/** A tracked resource: `/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}` (no child, no extension). */
function isTracked(r: Resource): boolean {
  const s = segments(r.id).map((x) => x.toLowerCase());
  return s.length === 8 && s[0] === "subscriptions" && s[2] === "resourcegroups" && s[4] === "providers";
}

function text(v: unknown): string {
  return typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v);
}

function matches(row: Record<string, unknown>, c: Cond): boolean {
  const v = text(row[c.column]);
  switch (c.op) {
    case "==":
      return v === c.value;
    case "!=":
      return v !== c.value;
    case "=~":
      return v.toLowerCase() === c.value.toLowerCase();
    case "!~":
      return v.toLowerCase() !== c.value.toLowerCase();
    case "in":
      return c.values.includes(v);
    case "!in":
      return !c.values.includes(v);
    case "in~":
      return c.values.some((x) => x.toLowerCase() === v.toLowerCase());
    case "!in~":
      return !c.values.some((x) => x.toLowerCase() === v.toLowerCase());
  }
}

// ---- the service ----------------------------------------------------------------

export interface GraphRequest {
  method: string;
  url: URL;
  principalId: string;
  body: Record<string, unknown>;
}

function hhmmss(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}`;
}

/** A query Azure rejects: 400 BadRequest with the InvalidQuery detail (and the parser's reason). */
function invalidQuery(reason: string): ArmError {
  return new ArmError(400, "BadRequest", "Please provide below info when asking for support: timestamp, correlationId.", {}, [
    { code: "InvalidQuery", message: "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying." },
    { code: "ParserFailure", message: reason },
  ]);
}

export class ResourceGraph {
  settings: ResourceGraphSettings = { ...RESOURCE_GRAPH_DEFAULTS };
  /** Queries answered (200) and refused (429), for tests and the bench. */
  readonly stats = { queries: 0, throttled: 0 };
  private readonly windows = new Map<string, { start: number; used: number }>();

  constructor(
    private readonly store: () => Store,
    /** ARM's GET view of a resource (emulator/arm.ts): a row's columns are what the GET answers. */
    private readonly view: (r: Resource) => Record<string, unknown>,
    private readonly now: () => number = () => Date.now(),
  ) {}

  configure(s: Partial<ResourceGraphSettings>): void {
    this.settings = { ...this.settings, ...s };
    this.windows.clear();
  }

  reset(): void {
    this.windows.clear();
    this.stats.queries = 0;
    this.stats.throttled = 0;
  }

  static handles(pathname: string): boolean {
    const p = pathname.replace(/\/+$/, "").toLowerCase();
    return p === "/providers/microsoft.resourcegraph/resources" || p.startsWith("/providers/microsoft.management/managementgroups");
  }

  handle(req: GraphRequest): Reply {
    const p = req.url.pathname.replace(/\/+$/, "").toLowerCase();
    if (p === "/providers/microsoft.resourcegraph/resources") return this.query(req);
    return this.managementGroups(req);
  }

  /** Takes one query from the principal's window; the quota headers of the answer. */
  private take(principalId: string): { ok: boolean; headers: Record<string, string>; retryAfterSeconds: number } {
    const t = this.now();
    let w = this.windows.get(principalId);
    if (!w || t - w.start >= this.settings.windowMs) this.windows.set(principalId, (w = { start: t, used: 0 }));
    const resetsIn = w.start + this.settings.windowMs - t;
    if (this.settings.enabled && w.used >= this.settings.queriesPerWindow) {
      return { ok: false, headers: { "x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": hhmmss(resetsIn) }, retryAfterSeconds: Math.max(1, Math.ceil(resetsIn / 1000)) };
    }
    w.used++;
    const remaining = Math.max(0, this.settings.queriesPerWindow - w.used);
    return { ok: true, headers: { "x-ms-user-quota-remaining": String(remaining), "x-ms-user-quota-resets-after": hhmmss(resetsIn) }, retryAfterSeconds: 0 };
  }

  private query(req: GraphRequest): Reply {
    if (req.method !== "POST") throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${req.method}'.`);
    const version = req.url.searchParams.get("api-version") ?? "";
    if (!RESOURCE_GRAPH_API_VERSIONS.includes(version)) {
      throw new ArmError(400, "InvalidApiVersionParameter", `The api-version '${version}' is invalid. The supported versions are '${RESOURCE_GRAPH_API_VERSIONS.join(",")}'.`);
    }
    const quota = this.take(req.principalId);
    if (!quota.ok) {
      this.stats.throttled++;
      throw new ArmError(429, "RateLimiting", "Please provide below info when asking for support: timestamp, correlationId. Too many requests. Please retry.", { ...quota.headers, "retry-after": String(quota.retryAfterSeconds) });
    }
    const body = req.body;
    if (typeof body["query"] !== "string" || body["query"].trim() === "") throw invalidQuery("the request has no query");
    let parsed: ParsedQuery;
    try {
      parsed = parseQuery(body["query"]);
    } catch (e) {
      if (e instanceof QueryError) throw Object.assign(invalidQuery(e.message), { headers: quota.headers });
      throw e;
    }
    const subs = this.scope(body);
    const options = (body["options"] ?? {}) as Record<string, unknown>;
    let rows = this.rows(subs).filter((row) => parsed.where.every((c) => matches(row, c)));
    if (parsed.order) {
      const { column, desc } = parsed.order;
      rows = rows.sort((a, b) => {
        const x = text(a[column]).toLowerCase();
        const y = text(b[column]).toLowerCase();
        return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
      });
    }
    const total = rows.length;
    const fingerprint = createHash("sha256").update(JSON.stringify([body["query"], body["subscriptions"] ?? null, body["managementGroups"] ?? null])).digest("hex").slice(0, 16);
    let top = clampTop(options["$top"], 100);
    let skip = typeof options["$skip"] === "number" && options["$skip"] >= 0 ? Math.floor(options["$skip"]) : 0;
    const token = options["$skipToken"];
    if (typeof token === "string" && token !== "") {
      const t = decodeToken(token);
      // the token carries the query and scope it was issued for (REST: "together with the same query and scopes")
      if (!t || t.f !== fingerprint) throw invalidQuery("the $skipToken does not belong to this query and scope");
      skip = t.s;
      // $top overrides the page size the token carries
      top = options["$top"] === undefined ? t.t : top;
    }
    const project = parsed.project;
    const paged = rows.slice(skip, skip + top).map((row) => (project ? Object.fromEntries(project.map((c) => [c, row[c] ?? null])) : row));
    const more = skip + top < total;
    // paging needs the id column (Learn, "Working with large data sets")
    const canPage = !project || project.includes("id");
    const out: Record<string, unknown> = { totalRecords: total, count: paged.length, data: paged, facets: [], resultTruncated: more && !canPage ? "true" : "false" };
    if (more && canPage) out["$skipToken"] = Buffer.from(JSON.stringify({ f: fingerprint, s: skip + top, t: top })).toString("base64url");
    this.stats.queries++;
    return { status: 200, body: out, headers: quota.headers };
  }

  /** The subscriptions a request covers: those it names, those below the management groups it names, or every one. */
  private scope(body: Record<string, unknown>): Set<string> {
    const store = this.store();
    const subs = body["subscriptions"];
    const groups = body["managementGroups"];
    if (Array.isArray(subs) && subs.length > 0) return new Set(subs.map((s) => String(s).toLowerCase()));
    if (Array.isArray(groups) && groups.length > 0) {
      const out = new Set<string>();
      for (const g of groups) {
        const mg = this.group(String(g));
        if (!mg) throw new ArmError(400, "BadRequest", `The management group '${String(g)}' could not be found or the caller has no access to it.`, {}, [{ code: "InvalidManagementGroup", message: `Management group '${String(g)}' is not accessible.` }]);
        for (const d of this.descendants(mg)) if (d.kind === "subscription") out.add(d.name.toLowerCase());
      }
      return out;
    }
    return new Set(store.listSubscriptions().map((s) => s.subscriptionId.toLowerCase()));
  }

  private rows(subs: Set<string>): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    const tracked = this.store()
      .all()
      .filter(isTracked)
      .sort((a, b) => (idKey(a.id) < idKey(b.id) ? -1 : idKey(a.id) > idKey(b.id) ? 1 : 0));
    for (const r of tracked) {
      const s = segments(r.id);
      const sub = (s[1] ?? "").toLowerCase();
      if (!subs.has(sub)) continue;
      const v = this.view(r);
      delete v["etag"];
      out.push({
        id: r.id,
        name: r.name,
        type: r.type.toLowerCase(),
        tenantId: this.store().tenantId,
        kind: v["kind"] ?? "",
        location: typeof v["location"] === "string" ? v["location"].toLowerCase().replace(/\s+/g, "") : "",
        resourceGroup: (s[3] ?? "").toLowerCase(),
        subscriptionId: s[1] ?? "",
        managedBy: "",
        sku: v["sku"] ?? null,
        plan: null,
        properties: v["properties"] ?? {},
        tags: v["tags"] ?? {},
        identity: v["identity"] ?? null,
        zones: v["zones"] ?? null,
        extendedLocation: null,
      });
    }
    return out;
  }

  // ---- management groups -----------------------------------------------------

  private group(name: string): Resource | undefined {
    return this.store().get(`/providers/Microsoft.Management/managementGroups/${name}`);
  }

  private descendants(mg: Resource, seen = new Set<string>()): Array<{ kind: "subscription" | "group"; name: string; parent: string }> {
    const out: Array<{ kind: "subscription" | "group"; name: string; parent: string }> = [];
    if (seen.has(idKey(mg.id))) return out;
    seen.add(idKey(mg.id));
    const children = Array.isArray(mg.properties["children"]) ? (mg.properties["children"] as Array<Record<string, unknown>>) : [];
    for (const c of children) {
      const id = String(c["id"] ?? "");
      const s = segments(id);
      if (s[0]?.toLowerCase() === "subscriptions" && s[1]) out.push({ kind: "subscription", name: s[1], parent: mg.id });
      else if (s.length === 4 && s[2]?.toLowerCase() === "managementgroups") {
        const child = this.store().get(id);
        out.push({ kind: "group", name: s[3] as string, parent: mg.id });
        if (child) out.push(...this.descendants(child, seen));
      }
    }
    return out;
  }

  private managementGroups(req: GraphRequest): Reply {
    if (req.method !== "GET") throw new ArmError(405, "MethodNotAllowed", `The requested resource does not support http method '${req.method}'.`);
    const s = segments(req.url.pathname);
    // /providers/Microsoft.Management/managementGroups[/{name}[/descendants]]
    if (s.length === 3) {
      const all = this.store().all().filter((r) => r.type.toLowerCase() === MANAGEMENT_GROUP_TYPE);
      return { status: 200, body: { value: all.map((g) => this.groupView(g)) } };
    }
    const mg = this.group(s[3] ?? "");
    if (!mg) throw new ArmError(403, "AuthorizationFailed", `The client does not have authorization to perform action 'Microsoft.Management/managementGroups/read' over scope '/providers/Microsoft.Management/managementGroups/${s[3] ?? ""}' or the scope is invalid.`);
    if (s.length === 4) return { status: 200, body: this.groupView(mg) };
    if (s.length === 5 && s[4]?.toLowerCase() === "descendants") {
      const value = this.descendants(mg).map((d) =>
        d.kind === "subscription"
          ? { id: `/subscriptions/${d.name}`, type: "/subscriptions", name: d.name, properties: { displayName: d.name, parent: { id: d.parent } } }
          : { id: `/providers/Microsoft.Management/managementGroups/${d.name}`, type: "Microsoft.Management/managementGroups", name: d.name, properties: { displayName: d.name, parent: { id: d.parent } } },
      );
      return { status: 200, body: { value } };
    }
    throw new ArmError(404, "NotFound", `No route for ${req.url.pathname}.`);
  }

  private groupView(g: Resource): Record<string, unknown> {
    return { id: g.id, type: "Microsoft.Management/managementGroups", name: g.name, properties: { tenantId: this.store().tenantId, displayName: String(g.properties["displayName"] ?? g.name) } };
  }
}

function clampTop(v: unknown, fallback: number): number {
  if (typeof v !== "number" || !Number.isFinite(v)) return fallback;
  return Math.min(1000, Math.max(1, Math.floor(v)));
}

function decodeToken(token: string): { f: string; s: number; t: number } | undefined {
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { f?: unknown; s?: unknown; t?: unknown };
    if (typeof v.f === "string" && typeof v.s === "number" && typeof v.t === "number") return { f: v.f, s: v.s, t: v.t };
  } catch {
    return undefined;
  }
  return undefined;
}
