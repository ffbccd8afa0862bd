/**
 * APIM policy XML, parsed with a real XML parser (fast-xml-parser), and the
 * scope chain that decides which policies apply to a request: global ->
 * workspace -> product -> API -> operation (Microsoft Learn, "Workspaces in
 * Azure API Management" and "Policies in Azure API Management", scopes),
 * where a section without `<base/>` cuts off its parents.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { LRUCache } from "lru-cache";
import { bool, isExpression, pick, str, type ArmResource } from "../../model/arm.js";
import type { ServiceSnapshot, WorkspaceContents } from "../../model/snapshot.js";

export const SECTIONS = ["inbound", "backend", "outbound", "on-error"] as const;
export type Section = (typeof SECTIONS)[number];

export interface XmlNode {
  name: string;
  children: XmlNode[];
}

export interface ParsedPolicy {
  /** Section name -> every element name inside it (recursively, lowercase), or undefined if the section is absent. */
  sections: Partial<Record<Section, string[]>>;
  /** Section name -> true when `<base/>` is a direct child. */
  base: Partial<Record<Section, boolean>>;
  /** Section name -> its child elements, as a tree (for following `<choose>` branches). */
  nodes: Partial<Record<Section, XmlNode[]>>;
}

const parser = new XMLParser({ preserveOrder: true, ignoreAttributes: true, allowBooleanAttributes: true, processEntities: false, parseTagValue: false, trimValues: true });

function toNodes(list: unknown): XmlNode[] {
  const out: XmlNode[] = [];
  for (const item of Array.isArray(list) ? list : []) {
    if (!item || typeof item !== "object") continue;
    for (const [k, v] of Object.entries(item as Record<string, unknown>)) {
      if (k === "#text" || k === ":@" || k.startsWith("?") || k === "#comment") continue;
      out.push({ name: k.toLowerCase(), children: toNodes(v) });
    }
  }
  return out;
}

function descendants(n: XmlNode): string[] {
  const out: string[] = [];
  for (const c of n.children) out.push(c.name, ...descendants(c));
  return out;
}

/** The policy document of a policy resource (`properties.value`), if it is XML we can read. */
export function policyXml(r: ArmResource | undefined): string | undefined {
  if (!r) return undefined;
  const format = (str(pick(r, "properties.format")) ?? "xml").toLowerCase();
  if (format.includes("link")) return undefined;
  return str(pick(r, "properties.value")) ?? str(pick(r, "properties.policyContent"));
}

/**
 * Blanks policy expressions (`@(...)`, `@{...}`) to `@()`. The `rawxml` format
 * (and the portal editor) leaves them unescaped, so they may hold quotes and
 * `<` that are not XML; elements never live inside an expression.
 */
export function blankExpressions(xml: string): string {
  let out = "";
  let i = 0;
  while (i < xml.length) {
    const open = xml[i + 1];
    if (xml[i] !== "@" || (open !== "(" && open !== "{")) {
      out += xml[i];
      i++;
      continue;
    }
    let depth = 0;
    let j = i + 1;
    for (; j < xml.length; j++) {
      const c = xml[j] as string;
      if (c === '"' || c === "'") {
        const verbatim = c === '"' && xml[j - 1] === "@";
        for (j++; j < xml.length; j++) {
          if (verbatim && xml[j] === '"' && xml[j + 1] === '"') j++;
          else if (!verbatim && xml[j] === "\\") j++;
          else if (xml[j] === c) break;
        }
      } else if (c === "(" || c === "{") depth++;
      else if (c === ")" || c === "}") {
        depth--;
        if (depth === 0) break;
      }
    }
    out += "@()";
    i = j + 1;
  }
  return out;
}

/**
 * Parsed policies, the most recently used first, by an estimate of their size: the rules of one evaluation parse
 * the same documents many times, while a sweep of thousands of services parses each service's once; 5,000 entries,
 * the bound before, held tens of MB of documents and trees in a 192 MB heap.
 */
const cache = new LRUCache<string, ParsedPolicy | false>({ maxSize: 16 * 1024 * 1024, sizeCalculation: (_v, xml) => 1 + xml.length * 6 });

/** Parses policy XML; null when it is not well-formed XML with a `<policies>` root. */
export function parsePolicy(xml: string | undefined): ParsedPolicy | null {
  if (xml === undefined) return null;
  const hit = cache.get(xml);
  if (hit !== undefined) return hit || null;
  let result: ParsedPolicy | null = null;
  const wellFormed = XMLValidator.validate(xml) === true;
  const text = wellFormed ? xml : blankExpressions(xml);
  if (wellFormed || (text !== xml && XMLValidator.validate(text) === true)) {
    const root = toNodes(parser.parse(text)).find((n) => n.name === "policies");
    if (root) {
      result = { sections: {}, base: {}, nodes: {} };
      for (const s of SECTIONS) {
        const node = root.children.find((c) => c.name === s);
        if (!node) continue;
        result.sections[s] = descendants(node);
        result.nodes[s] = node.children;
        result.base[s] = node.children.some((c) => c.name === "base");
      }
    }
  }
  cache.set(xml, result ?? false);
  return result;
}

export type Coverage = "covered" | "not-covered" | "unknown";

/** Whether something runs on every request through a piece of policy: yes, no, or cannot tell (a fragment on the way). */
type Presence = "yes" | "no" | "maybe";
const RANK: Record<Presence, number> = { no: 0, maybe: 1, yes: 2 };

/**
 * Elements that end the request in the gateway. A `<choose>` branch that ends with one
 * sends nothing on (the usual "no token: return 401" branch), so it needs no control of its own.
 */
const TERMINATORS = new Set(["return-response", "mock-response"]);

function inNodes(nodes: XmlNode[], want: ReadonlySet<string>, inBranch: boolean): Presence {
  let best: Presence = "no";
  for (const n of nodes) {
    const p = inNode(n, want, inBranch);
    if (p === "yes") return "yes";
    if (p === "maybe") best = "maybe";
  }
  return best;
}

function inNode(n: XmlNode, want: ReadonlySet<string>, inBranch: boolean): Presence {
  if (want.has(n.name)) return "yes";
  if (inBranch && TERMINATORS.has(n.name)) return "yes";
  // a fragment is not resolved: it may hold the element
  if (n.name === "include-fragment") return "maybe";
  if (n.name === "choose") {
    // every branch must have it; without <otherwise>, a request that matches no <when> takes no branch at all
    const branches = n.children.filter((c) => c.name === "when" || c.name === "otherwise");
    let worst: Presence = branches.some((c) => c.name === "otherwise") ? "yes" : "no";
    for (const b of branches) {
      const p = inNodes(b.children, want, true);
      if (RANK[p] < RANK[worst]) worst = p;
    }
    return worst;
  }
  // other containers (retry, limit-concurrency, wait, ...) run what they hold
  return inNodes(n.children, want, inBranch);
}

/** How one chain of policies (narrowest first) treats requests: covered, not, or cannot tell. */
function chainPresence(levels: Array<ArmResource | undefined>, want: ReadonlySet<string>): Presence {
  let maybe = false;
  for (const r of levels) {
    // no policy at this scope: the request goes on to the parent's
    if (!r) continue;
    const p = parsePolicy(policyXml(r));
    // unreadable: it may hold the element, and it may also cut its parents off
    if (!p) return "maybe";
    const nodes = p.nodes.inbound;
    // a policy without <inbound> runs nothing there, not even its parents'
    if (!nodes) break;
    const has = inNodes(nodes, want, false);
    if (has === "yes") return "yes";
    if (has === "maybe") maybe = true;
    if (p.base.inbound !== true) break;
  }
  return maybe ? "maybe" : "no";
}

/** An API that callers can reach: a current API, an online non-current revision (`echo;rev=2`), or either in a workspace. */
export interface ApiTarget {
  api: ArmResource;
  /** The API resource name, lowercase (`echo`, `echo;rev=2`): the key of its policies and operations. */
  key: string;
  /** The name without `;rev=`, as products list it. */
  base: string;
  /** The workspace (lowercase) the API lives in, if any. */
  workspace?: string;
  /** For messages: `API 'echo'`, `API 'echo;rev=2'`, `API 'orders' in workspace 'team-a'`. */
  label: string;
}

function callable(a: ArmResource, withRevisions: boolean): boolean {
  const current = !a.name.includes(";rev=") && bool(pick(a, "properties.isCurrent")) !== false;
  // a non-current revision answers at `api;rev=N` unless it is taken offline (`isOnline: false`)
  return current || (withRevisions && bool(pick(a, "properties.isOnline")) !== false);
}

/**
 * The APIs requests can reach: current APIs; with `revisionPolicies` collected, the online
 * non-current revisions too (callable as `path;rev=N`, Microsoft Learn "API revisions"); with
 * `workspaces` collected, the APIs of every workspace likewise.
 */
export function callableApis(s: ServiceSnapshot): ApiTarget[] {
  const revisions = s.collected.has("revisionPolicies");
  const target = (a: ArmResource, workspace?: string): ApiTarget => {
    const key = a.name.toLowerCase();
    return { api: a, key, base: key.split(";rev=")[0] as string, workspace, label: workspace === undefined ? `API '${a.name}'` : `API '${a.name}' in workspace '${workspace}'` };
  };
  const out = s.apis.filter((a) => callable(a, revisions)).map((a) => target(a));
  if (s.collected.has("workspaces")) {
    for (const [ws, c] of Object.entries(s.workspaceContents)) out.push(...c.apis.filter((a) => callable(a, revisions)).map((a) => target(a, ws)));
  }
  return out;
}

/** One way requests reach an API: the policies above the API on it (product, workspace, global). */
export interface RequestPath {
  /** For messages: `through product 'starter'`, `without a product (it is in no product)`. */
  label: string;
  parents: Array<ArmResource | undefined>;
  /** The product whose policy is on the path, if any. */
  product?: string;
  /** The path exists only if a template expression resolves one way: uncovered, it is unknown rather than failing. */
  possible?: boolean;
}

interface Scope {
  products: ArmResource[];
  productApis: Record<string, string[]>;
  productPolicies: Record<string, ArmResource>;
  apiPolicies: Record<string, ArmResource>;
  operationPolicies: Record<string, ArmResource>;
  operations?: Record<string, ArmResource[]>;
  subscriptions: ArmResource[];
  /** Above the product: workspace policy (in a workspace), then global. */
  tail: Array<ArmResource | undefined>;
}

function scopeOf(s: ServiceSnapshot, t: ApiTarget): Scope {
  const ws: WorkspaceContents | undefined = t.workspace === undefined ? undefined : s.workspaceContents[t.workspace];
  if (!ws) return { ...s, tail: [s.globalPolicy] };
  return { ...ws, tail: [ws.policy, s.globalPolicy] };
}

function productsOf(sc: Scope, t: ApiTarget): string[] {
  return Object.entries(sc.productApis)
    .filter(([, apis]) => apis.some((a) => a.toLowerCase() === t.base))
    .map(([p]) => p.toLowerCase());
}

/** `true` open (`subscriptionRequired: false`), `false` requires a key (also when the product is not in the input), `"expression"`. */
function productOpen(sc: Scope, name: string): boolean | "expression" {
  const v = pick(
    sc.products.find((p) => p.name.toLowerCase() === name),
    "properties.subscriptionRequired",
  );
  return isExpression(v) ? "expression" : bool(v) === false;
}

/**
 * The paths of requests sent without a subscription key (Microsoft Learn, "Subscriptions in Azure API
 * Management", requests without a key): through the open product that holds the API (an API has at most
 * one), else, when the API needs no subscription, in the API's own context. None: every caller needs a key.
 */
export function keylessPaths(s: ServiceSnapshot, t: ApiTarget): RequestPath[] {
  const sc = scopeOf(s, t);
  const out: RequestPath[] = [];
  let open = false;
  for (const p of productsOf(sc, t)) {
    const o = productOpen(sc, p);
    if (o === false) continue;
    if (o === true) open = true;
    out.push({ label: o === true ? `without a key through open product '${p}'` : `without a key through product '${p}' (its subscriptionRequired is a template expression)`, parents: [sc.productPolicies[p], ...sc.tail], product: p, possible: o !== true });
  }
  if (!open) {
    const v = pick(t.api, "properties.subscriptionRequired");
    if (isExpression(v)) out.push({ label: "without a key in the API's own context (its subscriptionRequired is a template expression)", parents: sc.tail, possible: true });
    else if (bool(v) === false) out.push({ label: "without a key (the API needs no subscription)", parents: sc.tail });
  }
  return out;
}

/** The scope of a subscription relative to its service or workspace: `/apis`, `/apis/echo`, `/products/x`, `/`. */
function relativeScope(scope: string): string {
  return scope
    .trim()
    .toLowerCase()
    .replace(/^.*\/service\/[^/]+/, "")
    .replace(/^\/workspaces\/[^/]+/, "")
    .replace(/\/+$/, "");
}

/**
 * Every path requests can take: through each product that holds the API (product-scoped keys, and
 * key-less calls through an open product), and without a product, which exists when the API is in no
 * product, when key-less calls are handled in the API's own context, or when an active subscription
 * is scoped to all APIs or to this API: product-scope policies do not run for those keys (Microsoft
 * Learn, "Subscriptions in Azure API Management"). The built-in all-access subscription (service
 * scope) is not counted: it is the owner's test key, which Learn says never to hand out.
 */
export function allPaths(s: ServiceSnapshot, t: ApiTarget): RequestPath[] {
  const sc = scopeOf(s, t);
  const products = productsOf(sc, t);
  const out: RequestPath[] = products.map((p) => ({ label: `through product '${p}'`, parents: [sc.productPolicies[p], ...sc.tail], product: p }));
  const sure: string[] = [];
  const maybe: string[] = [];
  if (products.length === 0) sure.push("it is in no product");
  // key-less calls in the API's own context (through an open product they are on that product's path)
  const keyless = keylessPaths(s, t).filter((p) => p.product === undefined);
  for (const p of keyless) (p.possible ? maybe : sure).push(p.possible ? "its subscriptionRequired is a template expression" : "it needs no subscription key");
  for (const sub of sc.subscriptions) {
    const scope = pick(sub, "properties.scope");
    const state = pick(sub, "properties.state");
    const rel = isExpression(scope) ? undefined : relativeScope(str(scope) ?? "");
    const hits = rel === undefined || rel === "/apis" || rel.split(";rev=")[0] === `/apis/${t.base}`;
    if (!hits) continue;
    // only an active subscription's key is accepted; ARM creates one without a state as `submitted`
    if (!isExpression(state) && (str(state) ?? "").toLowerCase() !== "active") continue;
    const what = rel === undefined ? `subscription '${sub.name}' sets its scope with a template expression` : `subscription '${sub.name}' is scoped to ${rel === "/apis" ? "all APIs" : "the API"}`;
    (rel === undefined || isExpression(state) ? maybe : sure).push(rel !== undefined && isExpression(state) ? `${what} and sets its state with a template expression` : what);
  }
  if (sure.length > 0) out.push({ label: `without a product (${sure.join("; ")})`, parents: sc.tail });
  else if (maybe.length > 0) out.push({ label: `without a product (${maybe.join("; ")})`, parents: sc.tail, possible: true });
  return out;
}

export interface TargetCoverage {
  coverage: Coverage;
  /** Operations (display names) a request reaches uncovered on some path. */
  uncovered: string[];
  /** Operations that could not be shown covered (none uncovered). */
  unknown: string[];
  /** How many operations the API has (its operation list and operation policies); 0 when none is known. */
  operations: number;
  /** Labels of the paths on which an operation is uncovered (or, with no uncovered one, unknown). */
  paths: string[];
  /** Why something is unknown: `policy` (unreadable policy or fragment), `expression` (a path that may not exist). */
  reasons: Array<"policy" | "expression">;
}

/**
 * Per operation, as Defender for APIs judges its endpoints: whether every request on `paths` passes
 * one of `elements` in the `<inbound>` section along operation -> API -> product -> workspace ->
 * global, where a level without a direct `<base/>` cuts off its parents and an element inside
 * `<choose>` counts only when every branch, `<otherwise>` included, has it. With no operation
 * known, the API's own chain is judged.
 */
export function coverageOf(s: ServiceSnapshot, t: ApiTarget, elements: string[], paths: RequestPath[]): TargetCoverage {
  const want = new Set(elements.map((e) => e.toLowerCase()));
  const sc = scopeOf(s, t);
  const names = new Map<string, string>();
  for (const op of sc.operations?.[t.key] ?? []) names.set(op.name.toLowerCase(), op.name);
  for (const k of Object.keys(sc.operationPolicies)) {
    const [api, op] = [k.slice(0, k.lastIndexOf("/")).toLowerCase(), k.slice(k.lastIndexOf("/") + 1)];
    if (api === t.key && !names.has(op.toLowerCase())) names.set(op.toLowerCase(), op);
  }
  const apiPolicy = sc.apiPolicies[t.key];
  const units: Array<{ name?: string; levels: Array<ArmResource | undefined> }> =
    names.size === 0 ? [{ levels: [apiPolicy] }] : [...names].sort(([a], [b]) => a.localeCompare(b)).map(([k, name]) => ({ name, levels: [sc.operationPolicies[`${t.key}/${k}`], apiPolicy] }));
  const uncovered: string[] = [];
  const unknown: string[] = [];
  const failPaths = new Set<string>();
  const unknownPaths = new Set<string>();
  const reasons = new Set<"policy" | "expression">();
  for (const u of units) {
    let no = false;
    let maybe = false;
    for (const path of paths) {
      const p = chainPresence([...u.levels, ...path.parents], want);
      if (p === "yes") continue;
      if (p === "no" && !path.possible) {
        no = true;
        failPaths.add(path.label);
      } else {
        maybe = true;
        unknownPaths.add(path.label);
        reasons.add(p === "maybe" ? "policy" : "expression");
      }
    }
    if (no) uncovered.push(u.name ?? "");
    else if (maybe) unknown.push(u.name ?? "");
  }
  const coverage: Coverage = uncovered.length > 0 ? "not-covered" : unknown.length > 0 ? "unknown" : "covered";
  return { coverage, uncovered: uncovered.filter((n) => n !== ""), unknown: unknown.filter((n) => n !== ""), operations: names.size, paths: [...(coverage === "not-covered" ? failPaths : unknownPaths)], reasons: [...reasons] };
}

/** Why a coverage is unknown, for messages. */
export function unknownReasons(c: TargetCoverage): string {
  const r: string[] = [];
  if (c.reasons.includes("policy")) r.push("its policies could not be fully read (fragments or invalid XML)");
  if (c.reasons.includes("expression")) r.push("a path depends on a template expression");
  return r.join(", and ");
}

/** ` for operations 'a', 'b'` / ` for all 3 operations` / `` (no operation known), for messages. */
export function operationsText(names: string[], total: number, max = 10): string {
  if (total === 0 || names.length === 0) return "";
  if (names.length === total) return total === 1 ? ` for its operation '${names[0] as string}'` : ` for all ${total} operations`;
  const shown = names.slice(0, max).map((n) => `'${n}'`);
  const more = names.length > max ? ` and ${names.length - max} more` : "";
  return ` for ${names.length === 1 ? "operation" : "operations"} ${shown.join(", ")}${more}`;
}

/** Current APIs (one per API, not per revision). */
export function currentApis(s: ServiceSnapshot): ArmResource[] {
  return s.apis.filter((a) => !a.name.includes(";rev=") && bool(pick(a, "properties.isCurrent")) !== false);
}
