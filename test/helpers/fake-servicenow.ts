/**
 * A local ServiceNow instance for the Table API parts the provider uses:
 * POST /api/now/table/{table}, GET /api/now/table/{table} (sysparm_query with
 * `field=value`, `field!=value`, `^` (AND), ORDERBY/ORDERBYDESC; sysparm_limit,
 * sysparm_offset, sysparm_fields, sysparm_exclude_reference_link),
 * GET/PATCH /api/now/table/{table}/{sys_id}.
 *
 * Like the real instance it answers `{ "result": ... }` with every value a
 * string, `{ "error": { message, detail }, "status": "failure" }` on errors,
 * 401 for missing or wrong Basic credentials, 400 for an unknown table or a
 * body that is not a JSON object, 404 for an unknown sys_id, 406/415 for other
 * media types, and enforces the base incident rules: resolving (6) or closing
 * (7) needs close_code and close_notes (403, data policy), Closed/Canceled
 * records are read-only (403, ACL), leaving Resolved counts a reopen, work_notes
 * and comments go to the journal (and read back as ""). Query parts naming an
 * unknown field are ignored, as on a real instance.
 *
 * Stricter than the real thing, to catch mistakes: unknown or read-only fields
 * in a body, values over the field's length, choice values outside the base
 * choice lists and references that are not sys_ids are rejected with 400 (a
 * real instance ignores, truncates or stores them silently), and an incident
 * without short_description is refused (403, as a mandatory-field data policy
 * would).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";

export type SnRecord = Record<string, string>;

export interface JournalEntry {
  table: string;
  element_id: string;
  element: "work_notes" | "comments";
  value: string;
  sys_created_on: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** "ok", "wrong" or "missing": whether the Basic credentials matched (the header itself is not kept). */
  auth: "ok" | "wrong" | "missing";
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

interface FieldDef {
  type: "string" | "choice" | "reference" | "journal";
  max?: number;
  choices?: string[];
  /** System-set: not writable through the API in this fake. */
  readOnly?: boolean;
}

const CLOSE_CODES = ["Duplicate", "Known error", "No resolution provided", "Resolved by caller", "Resolved by change", "Resolved by problem", "Resolved by request", "Solution provided", "Workaround provided", "User error"];

const TASK_FIELDS: Record<string, FieldDef> = {
  sys_id: { type: "string", readOnly: true },
  number: { type: "string", readOnly: true },
  sys_created_on: { type: "string", readOnly: true },
  sys_updated_on: { type: "string", readOnly: true },
  sys_created_by: { type: "string", readOnly: true },
  sys_updated_by: { type: "string", readOnly: true },
  sys_mod_count: { type: "string", readOnly: true },
  sys_class_name: { type: "string", readOnly: true },
  active: { type: "string", readOnly: true },
  priority: { type: "string", readOnly: true },
  opened_at: { type: "string", readOnly: true },
  opened_by: { type: "reference", readOnly: true },
  short_description: { type: "string", max: 160 },
  description: { type: "string", max: 4000 },
  urgency: { type: "choice", choices: ["1", "2", "3"] },
  impact: { type: "choice", choices: ["1", "2", "3"] },
  category: { type: "string", max: 40 },
  assignment_group: { type: "reference" },
  assigned_to: { type: "reference" },
  work_notes: { type: "journal", max: 4000 },
  comments: { type: "journal", max: 4000 },
};

const INCIDENT_FIELDS: Record<string, FieldDef> = {
  ...TASK_FIELDS,
  correlation_id: { type: "string", max: 100 },
  correlation_display: { type: "string", max: 100 },
  caller_id: { type: "reference" },
  state: { type: "choice", choices: ["1", "2", "3", "6", "7", "8"] },
  incident_state: { type: "string", readOnly: true },
  hold_reason: { type: "choice", choices: ["1", "3", "4", "5"] },
  close_code: { type: "choice", choices: CLOSE_CODES },
  close_notes: { type: "string", max: 4000 },
  resolved_at: { type: "string", readOnly: true },
  resolved_by: { type: "reference", readOnly: true },
  closed_at: { type: "string", readOnly: true },
  closed_by: { type: "reference", readOnly: true },
  reopen_count: { type: "string", readOnly: true },
};

export interface TableDef {
  prefix: string;
  fields: Record<string, FieldDef>;
  /** Applies the incident state rules. */
  incidentRules?: boolean;
}

export interface FakeServiceNowOptions {
  user?: string;
  password?: string;
  /** Extra tables (the incident table is always there). */
  tables?: Record<string, TableDef>;
  /** How far the clock moves per write (default 1 s); 0 keeps every record in the same second. */
  clockStepMs?: number;
}

/** Default matrix: impact x urgency -> priority. */
function priorityOf(impact: string, urgency: string): string {
  const sum = Number(impact || 3) + Number(urgency || 3);
  return String(Math.min(5, sum - 1));
}

const error = (message: string, detail: string | null) => ({ error: { message, detail }, status: "failure" });

export class FakeServiceNow {
  readonly requests: RecordedRequest[] = [];
  readonly journal: JournalEntry[] = [];
  readonly records = new Map<string, SnRecord[]>();
  readonly user: string;
  readonly password: string;
  url = "";
  private readonly tables: Record<string, TableDef>;
  private readonly failures: Array<{ status: number; headers: Record<string, string> }> = [];
  private readonly counters = new Map<string, number>();
  private clock = Date.parse("2025-01-06T09:00:00Z");
  private readonly server: Server;

  constructor(private readonly options: FakeServiceNowOptions = {}) {
    this.user = options.user ?? "apim.integration";
    this.password = options.password ?? "s3cr3t-Pa55";
    this.tables = { incident: { prefix: "INC", fields: INCIDENT_FIELDS, incidentRules: true }, ...(options.tables ?? {}) };
    for (const t of Object.keys(this.tables)) this.records.set(t, []);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => this.send(res, 500, error("fake-servicenow: " + e.message, null)));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  /** The next `times` requests answer `status` (with `headers`, e.g. Retry-After) before any processing. */
  failNext(status: number, times = 1, headers: Record<string, string> = {}): void {
    for (let i = 0; i < times; i++) this.failures.push({ status, headers });
  }

  table(name = "incident"): SnRecord[] {
    return this.records.get(name) ?? [];
  }

  get(sysId: string, table = "incident"): SnRecord | undefined {
    return this.table(table).find((r) => r.sys_id === sysId);
  }

  notes(sysId: string, element: JournalEntry["element"] = "work_notes"): string[] {
    return this.journal.filter((j) => j.element_id === sysId && j.element === element).map((j) => j.value);
  }

  /** Inserts a record directly (as another integration or a person would), bypassing the API. */
  seed(table: string, values: SnRecord): SnRecord {
    const rec = this.newRecord(table);
    Object.assign(rec, values);
    this.table(table).push(rec);
    return rec;
  }

  /** What the instance's auto-close job does to a Resolved incident after some days. */
  autoClose(sysId: string): void {
    const r = this.get(sysId);
    if (!r || r.state !== "6") throw new Error(`fake-servicenow: ${sysId} is not resolved`);
    Object.assign(r, { state: "7", incident_state: "7", active: "false", closed_at: this.tick(), closed_by: "system" });
  }

  private tick(): string {
    this.clock += this.options.clockStepMs ?? 1000;
    return new Date(this.clock).toISOString().replace("T", " ").slice(0, 19);
  }

  private newRecord(table: string): SnRecord {
    const def = this.tables[table] as TableDef;
    const n = (this.counters.get(table) ?? 10000) + 1;
    this.counters.set(table, n);
    const now = this.tick();
    const rec: SnRecord = {};
    for (const [f, d] of Object.entries(def.fields)) if (d.type !== "journal") rec[f] = "";
    Object.assign(rec, {
      sys_id: randomBytes(16).toString("hex"),
      number: `${def.prefix}${String(n).padStart(7, "0")}`,
      sys_created_on: now,
      sys_updated_on: now,
      sys_created_by: this.user,
      sys_updated_by: this.user,
      sys_mod_count: "0",
      sys_class_name: table,
      active: "true",
      opened_at: now,
      opened_by: "6816f79cc0a8016401c5a33be04be441",
    });
    if (def.incidentRules) Object.assign(rec, { state: "1", incident_state: "1", urgency: "3", impact: "3", priority: "5", reopen_count: "0" });
    return rec;
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json;charset=UTF-8", ...headers });
    res.end(text);
  }

  private authOf(req: IncomingMessage): RecordedRequest["auth"] {
    const h = req.headers.authorization;
    if (!h) return "missing";
    const m = /^Basic\s+(\S+)$/i.exec(h);
    if (!m) return "wrong";
    return Buffer.from(m[1] as string, "base64").toString("utf8") === `${this.user}:${this.password}` ? "ok" : "wrong";
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const raw = await new Promise<string>((resolve) => {
      let s = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (s += c));
      req.on("end", () => resolve(s));
    });
    const method = req.method ?? "GET";
    const query = Object.fromEntries(url.searchParams.entries());
    const auth = this.authOf(req);
    const headers = { ...req.headers };
    delete headers.authorization;
    let parsed: unknown;
    let parseError = false;
    if (raw) {
      try {
        parsed = JSON.parse(raw);
      } catch {
        parseError = true;
        parsed = raw;
      }
    }
    this.requests.push({ method, path: url.pathname, query, auth, headers, body: parsed });

    const failure = this.failures.shift();
    if (failure) {
      const msg = failure.status === 429 ? error("Too Many Requests", "Rate limit exceeded for this user") : error("Internal Server Error", "Transaction cancelled: maximum execution time exceeded");
      return this.send(res, failure.status, msg, failure.headers);
    }
    if (auth !== "ok") return this.send(res, 401, error("User Not Authenticated", "Required to provide Auth information"), { "www-authenticate": 'BASIC realm="Service-now"' });

    const accept = String(req.headers.accept ?? "application/json");
    if (!/application\/json|\*\/\*/.test(accept)) return this.send(res, 406, error("Not Acceptable", `Unsupported Accept: ${accept}`));

    const m = /^\/api\/now\/table\/([^/]+)(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (!m) return this.send(res, 400, error("Requested URI does not represent any resource", null));
    const table = decodeURIComponent(m[1] as string);
    const sysId = m[2] ? decodeURIComponent(m[2]) : undefined;
    const def = this.tables[table];
    if (!def) return this.send(res, 400, error(`Invalid table ${table}`, null));
    for (const [k, v] of Object.entries(query)) {
      if (k === "sysparm_display_value" && v !== "false") return this.send(res, 400, error("fake-servicenow: only sysparm_display_value=false is implemented", null));
      if (k === "sysparm_input_display_value" && v !== "false") return this.send(res, 400, error("fake-servicenow: only sysparm_input_display_value=false is implemented", null));
    }

    if (method === "POST" || method === "PATCH" || method === "PUT") {
      const ct = String(req.headers["content-type"] ?? "");
      if (!/^application\/json\b/i.test(ct)) return this.send(res, 415, error("Unsupported Media Type", `Content-Type ${ct || "(none)"} is not supported`));
      if (parseError || !raw) return this.send(res, 400, error("Exception while reading request", "The payload is not valid JSON."));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return this.send(res, 400, error("Exception while reading request", "The payload must be a JSON object of field names and values."));
      const bad = this.validate(def, parsed as Record<string, unknown>);
      if (bad) return this.send(res, 400, error("Invalid field value", bad));
    }

    const rows = this.table(table);
    if (!sysId) {
      if (method === "GET") return this.list(res, def, rows, query);
      if (method === "POST") {
        const rec = this.newRecord(table);
        const body = parsed as Record<string, unknown>;
        const denied = this.applyUpdate(def, table, rec, body, true);
        if (denied) return this.send(res, 403, denied);
        rows.push(rec);
        return this.send(res, 201, { result: this.shape(def, rec, query) }, { location: `${this.url}/api/now/table/${table}/${rec.sys_id}` });
      }
      return this.send(res, 405, error("Method not Supported", `${method} is not supported on a table collection`));
    }

    const rec = rows.find((r) => r.sys_id === sysId);
    if (method !== "GET" && method !== "PATCH" && method !== "PUT" && method !== "DELETE") return this.send(res, 405, error("Method not Supported", `${method} is not supported on a record`));
    if (!rec) return this.send(res, 404, error("No Record found", "Record doesn't exist or ACL restricts the record retrieval"));
    if (method === "GET") return this.send(res, 200, { result: this.shape(def, rec, query) });
    if (method === "DELETE") {
      rows.splice(rows.indexOf(rec), 1);
      return this.send(res, 204, undefined);
    }
    const denied = this.applyUpdate(def, table, rec, parsed as Record<string, unknown>, false);
    if (denied) return this.send(res, 403, denied);
    return this.send(res, 200, { result: this.shape(def, rec, query) });
  }

  private validate(def: TableDef, body: Record<string, unknown>): string | undefined {
    for (const [k, v] of Object.entries(body)) {
      const f = def.fields[k];
      if (!f) return `fake-servicenow: ${k} is not a field of this table`;
      if (f.readOnly) return `fake-servicenow: ${k} is set by the system`;
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") return `${k}: a value must be a string, number or boolean`;
      const s = String(v);
      if (f.max !== undefined && s.length > f.max) return `${k}: ${s.length} characters, at most ${f.max}`;
      if (f.type === "choice" && s !== "" && !f.choices?.includes(s)) return `${k}: "${s}" is not one of ${f.choices?.join(", ")}`;
      if (f.type === "reference" && s !== "" && !/^[0-9a-f]{32}$/.test(s)) return `${k}: a reference takes a sys_id`;
    }
    return undefined;
  }

  /** Applies the fields plus the base incident rules; returns an error body when the update is refused. */
  private applyUpdate(def: TableDef, table: string, rec: SnRecord, body: Record<string, unknown>, insert: boolean): object | undefined {
    const values = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]));
    if (def.incidentRules) {
      if (!insert && (rec.state === "7" || rec.state === "8")) return error("Operation Failed", "ACL Exception Update Failed due to security constraints");
      const next = values.state ?? rec.state ?? "1";
      const closing = (next === "6" || next === "7") && next !== rec.state;
      if (closing) {
        const missing = [!(values.close_code ?? rec.close_code) && "Resolution code", !(values.close_notes ?? rec.close_notes) && "Resolution notes"].filter(Boolean);
        if (missing.length) return error("Operation Failed", `Data Policy Exception: \n\tThe following fields are mandatory: ${missing.join(", ")}\n`);
      }
      if (next === "3" && !(values.hold_reason ?? rec.hold_reason)) return error("Operation Failed", "Data Policy Exception: \n\tThe following fields are mandatory: On hold reason\n");
      if (insert && !values.short_description) return error("Operation Failed", "Data Policy Exception: \n\tThe following fields are mandatory: Short description\n");
    }
    const now = this.tick();
    const before = rec.state;
    for (const [k, v] of Object.entries(values)) {
      const f = def.fields[k] as FieldDef;
      if (f.type === "journal") {
        if (v.trim()) this.journal.push({ table, element_id: rec.sys_id as string, element: k as JournalEntry["element"], value: v, sys_created_on: now });
      } else rec[k] = v;
    }
    if (def.incidentRules) {
      rec.incident_state = rec.state as string;
      rec.priority = priorityOf(rec.impact as string, rec.urgency as string);
      if (rec.state !== before) {
        if (rec.state === "6") Object.assign(rec, { resolved_at: now, resolved_by: "6816f79cc0a8016401c5a33be04be441" });
        if (rec.state === "7" || rec.state === "8") Object.assign(rec, { closed_at: now, closed_by: "6816f79cc0a8016401c5a33be04be441", active: "false" });
        if (before === "6" && !["6", "7", "8"].includes(rec.state as string)) Object.assign(rec, { reopen_count: String(Number(rec.reopen_count || 0) + 1), resolved_at: "", resolved_by: "" });
      }
    }
    if (!insert) Object.assign(rec, { sys_updated_on: now, sys_mod_count: String(Number(rec.sys_mod_count) + 1) });
    return undefined;
  }

  private list(res: ServerResponse, def: TableDef, rows: SnRecord[], query: Record<string, string>): void {
    const conditions: Array<(r: SnRecord) => boolean> = [];
    const order: Array<{ field: string; desc: boolean }> = [];
    for (const part of (query.sysparm_query ?? "").split("^").filter(Boolean)) {
      const ob = /^ORDERBY(DESC)?(\w+)$/.exec(part);
      if (ob) {
        if (def.fields[ob[2] as string]) order.push({ field: ob[2] as string, desc: !!ob[1] });
        continue;
      }
      if (part.startsWith("OR") || part.startsWith("NQ")) {
        return this.send(res, 400, error(`fake-servicenow: ^OR / ^NQ are not implemented (${part})`, null));
      }
      const c = /^(\w+?)(!=|=)(.*)$/s.exec(part);
      if (!c) return this.send(res, 400, error(`fake-servicenow: unsupported query part ${part}`, null));
      const [, field, op, value] = c as unknown as [string, string, string, string];
      if (!def.fields[field]) continue; // a real instance ignores invalid query parts
      conditions.push(op === "=" ? (r) => (r[field] ?? "") === value : (r) => (r[field] ?? "") !== value);
    }
    let hits = rows.filter((r) => conditions.every((c) => c(r)));
    if (order.length)
      hits = [...hits].sort((a, b) => {
        for (const o of order) {
          const x = a[o.field] ?? "";
          const y = b[o.field] ?? "";
          if (x !== y) return (x < y ? -1 : 1) * (o.desc ? -1 : 1);
        }
        return 0;
      });
    const offset = Number(query.sysparm_offset ?? 0);
    const limit = Number(query.sysparm_limit ?? 10000);
    if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1) return this.send(res, 400, error("Invalid sysparm_limit or sysparm_offset", null));
    const page = hits.slice(offset, offset + limit);
    this.send(res, 200, { result: page.map((r) => this.shape(def, r, query)) }, { "x-total-count": String(hits.length) });
  }

  /** The record as the Table API shows it: sysparm_fields (unknown ones ignored), journals read as "", reference links unless excluded. */
  private shape(def: TableDef, rec: SnRecord, query: Record<string, string>): Record<string, unknown> {
    const wanted = query.sysparm_fields ? query.sysparm_fields.split(",").map((s) => s.trim()).filter((f) => def.fields[f]) : Object.keys(def.fields);
    const links = query.sysparm_exclude_reference_link !== "true";
    const out: Record<string, unknown> = {};
    for (const f of wanted) {
      const d = def.fields[f] as FieldDef;
      const v = d.type === "journal" ? "" : (rec[f] ?? "");
      out[f] = d.type === "reference" && links && v ? { link: `${this.url}/api/now/table/sys_user/${v}`, value: v } : v;
    }
    return out;
  }
}

export async function startFakeServiceNow(options: FakeServiceNowOptions = {}): Promise<FakeServiceNow> {
  const fake = new FakeServiceNow(options);
  await fake.start();
  return fake;
}
