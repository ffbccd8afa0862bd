/**
 * The `<cors>` elements of an APIM policy document, read with a real XML parser
 * (fast-xml-parser) keeping element text and attributes, which utils/policy.ts's
 * structural parse drops. What it reports per `<cors>`: the lists that hold the
 * wildcard `*`, the values it cannot read at rest (policy expressions, named
 * values it cannot resolve), and `allow-credentials`. Element names as in
 * Microsoft Learn's cors policy reference
 * (https://learn.microsoft.com/azure/api-management/cors-policy).
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { bool, pick, str, type ArmResource } from "../../model/arm.js";
import { blankExpressions } from "./policy.js";

/** The lists of a `<cors>` element, as the policy reference names them. */
export type CorsList = "allowed-origins" | "allowed-methods" | "allowed-headers" | "expose-headers";

export interface CorsElement {
  /** Lists that hold `*` (any origin, any method, any header), in document order, once each. */
  wildcards: CorsList[];
  /** Values that cannot be read at rest, described (`origin @(...)`, `origin {{allowed}}`). */
  unresolved: string[];
  /** `allow-credentials` as written (`true`, `false`, an expression), if present. */
  allowCredentials?: string;
}

export interface CorsReading {
  /** Every `<cors>` element of the document, wherever it sits (inside `<choose>` too). */
  cors: CorsElement[];
  /** `fragment-id`s of the `<include-fragment>` elements (fragments are not collected: they may hold a `<cors>`). */
  fragments: string[];
}

type Node = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  allowBooleanAttributes: true,
  processEntities: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

function tagOf(n: Node): string | undefined {
  return Object.keys(n).find((k) => k !== ":@" && k !== "#text" && k !== "#comment" && !k.startsWith("?"));
}

function childrenOf(n: Node, tag: string): Node[] {
  const v = n[tag];
  return Array.isArray(v) ? (v.filter((x) => x && typeof x === "object") as Node[]) : [];
}

function attr(n: Node, name: string): string | undefined {
  const a = n[":@"];
  if (!a || typeof a !== "object") return undefined;
  const key = Object.keys(a).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : String((a as Record<string, unknown>)[key]);
}

function textOf(n: Node, tag: string): string {
  return childrenOf(n, tag)
    .map((c) => (typeof c["#text"] === "string" || typeof c["#text"] === "number" ? String(c["#text"]) : ""))
    .join("")
    .trim();
}

/** Non-secret named values by name and display name (lowercase) -> value; secret or Key Vault ones are not readable. */
function namedValueTable(namedValues: ArmResource[] | undefined): Map<string, string> | undefined {
  if (!namedValues) return undefined;
  const out = new Map<string, string>();
  for (const nv of namedValues) {
    const value = str(pick(nv, "properties.value"));
    if (value === undefined || bool(pick(nv, "properties.secret")) === true) continue;
    out.set(nv.name.toLowerCase(), value);
    const display = str(pick(nv, "properties.displayName"));
    if (display) out.set(display.toLowerCase(), value);
  }
  return out;
}

/**
 * A value as the gateway will see it: named values (`{{name}}`) substituted where their value is known,
 * or undefined when it cannot be known at rest (a policy expression, a secret or unknown named value).
 */
function resolve(text: string, table: Map<string, string> | undefined): string | undefined {
  if (/^@[({]/.test(text)) return undefined;
  let unknown = false;
  const out = text.replace(/\{\{\s*([^}]+?)\s*\}\}/g, (_, name: string) => {
    const v = table?.get(name.toLowerCase());
    if (v === undefined) unknown = true;
    return v ?? "";
  });
  return unknown ? undefined : out.trim();
}

const LEAVES: Record<string, { parents: Record<string, CorsList>; direct: CorsList }> = {
  origin: { parents: { "allowed-origins": "allowed-origins" }, direct: "allowed-origins" },
  method: { parents: { "allowed-methods": "allowed-methods" }, direct: "allowed-methods" },
  header: { parents: { "allowed-headers": "allowed-headers", "expose-headers": "expose-headers" }, direct: "allowed-headers" },
};

function readCorsElement(cors: Node, tag: string, table: Map<string, string> | undefined): CorsElement {
  const wildcards: CorsList[] = [];
  const unresolved: string[] = [];
  const leaf = (n: Node, t: string, list: CorsList) => {
    const raw = textOf(n, t);
    const value = resolve(raw, table);
    if (value === undefined) unresolved.push(`${t} ${raw}`);
    else if (value === "*" && !wildcards.includes(list)) wildcards.push(list);
  };
  for (const child of childrenOf(cors, tag)) {
    const t = tagOf(child);
    if (!t) continue;
    const lt = t.toLowerCase();
    const direct = LEAVES[lt];
    // PSRule also reads <origin>, <method> and <header> written directly under <cors>
    if (direct) {
      leaf(child, t, direct.direct);
      continue;
    }
    for (const grand of childrenOf(child, t)) {
      const gt = tagOf(grand);
      const list = gt ? LEAVES[gt.toLowerCase()]?.parents[lt] : undefined;
      if (gt && list) leaf(grand, gt, list);
    }
  }
  const credentials = attr(cors, "allow-credentials");
  return { wildcards, unresolved, ...(credentials === undefined ? {} : { allowCredentials: credentials }) };
}

/**
 * Reads the `<cors>` elements of a policy document; null when it is not well-formed XML with a
 * `<policies>` root. `namedValues` (when collected) resolves `{{name}}` references; without them
 * a reference is unresolved.
 */
export function readCors(xml: string | undefined, namedValues?: ArmResource[]): CorsReading | null {
  if (xml === undefined) return null;
  let text = xml;
  if (XMLValidator.validate(text) !== true) {
    // the rawxml format leaves policy expressions unescaped; blanked, they read as `@()` (unresolved)
    text = blankExpressions(xml);
    if (text === xml || XMLValidator.validate(text) !== true) return null;
  }
  const roots = (parser.parse(text) as Node[]).filter((n) => tagOf(n)?.toLowerCase() === "policies");
  if (roots.length === 0) return null;
  const table = namedValueTable(namedValues);
  const reading: CorsReading = { cors: [], fragments: [] };
  const walk = (nodes: Node[]) => {
    for (const n of nodes) {
      const t = tagOf(n);
      if (!t) continue;
      const lt = t.toLowerCase();
      if (lt === "cors") reading.cors.push(readCorsElement(n, t, table));
      else if (lt === "include-fragment") reading.fragments.push(attr(n, "fragment-id") ?? "(no fragment-id)");
      else walk(childrenOf(n, t));
    }
  };
  walk(roots);
  return reading;
}
