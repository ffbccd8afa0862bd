/**
 * APIM policy XML, parsed with a real XML parser (fast-xml-parser), and the
 * scope chain that decides which policies apply to an API: global ->
 * product(s) -> API, where a section without `<base/>` cuts off its parents.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { bool, pick, str, type ArmResource } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";

export const SECTIONS = ["inbound", "backend", "outbound", "on-error"] as const;
export type Section = (typeof SECTIONS)[number];

interface XmlNode {
  name: string;
  children: XmlNode[];
}

export interface ParsedPolicy {
  /** Section name -> every element name inside it (recursively, lowercase), or undefined if the section is absent. */
  sections: Partial<Record<Section, string[]>>;
  /** Section name -> true when `<base/>` is a direct child. */
  base: Partial<Record<Section, boolean>>;
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

const cache = new Map<string, ParsedPolicy | null>();

/** Parses policy XML; null when it is not well-formed XML with a `<policies>` root. */
export function parsePolicy(xml: string | undefined): ParsedPolicy | null {
  if (xml === undefined) return null;
  const hit = cache.get(xml);
  if (hit !== undefined) return hit;
  let result: ParsedPolicy | null = null;
  const wellFormed = XMLValidator.validate(xml) === true;
  const text = wellFormed ? xml : blankExpressions(xml);
  if (wellFormed || (text !== xml && XMLValidator.validate(text) === true)) {
    const root = toNodes(parser.parse(text)).find((n) => n.name === "policies");
    if (root) {
      result = { sections: {}, base: {} };
      for (const s of SECTIONS) {
        const node = root.children.find((c) => c.name === s);
        if (!node) continue;
        result.sections[s] = descendants(node);
        result.base[s] = node.children.some((c) => c.name === "base");
      }
    }
  }
  if (cache.size > 5000) cache.clear();
  cache.set(xml, result);
  return result;
}

export type Coverage = "covered" | "not-covered" | "unknown";

/**
 * Whether every request to `apiName` passes through one of `elements` in the
 * inbound section, following the scope chain. `unknown` when a policy on the
 * path is unreadable or includes a fragment that is not resolved.
 */
export function inboundCoverage(s: ServiceSnapshot, apiName: string, elements: string[]): Coverage {
  const want = new Set(elements.map((e) => e.toLowerCase()));
  const api = apiName.toLowerCase().split(";rev=")[0] as string;
  const check = (r: ArmResource | undefined): { has: boolean; base: boolean; unknown: boolean } => {
    if (!r) return { has: false, base: true, unknown: false };
    const p = parsePolicy(policyXml(r));
    // Unreadable: it may hold the element, and it may also cut its parents off.
    if (!p) return { has: false, base: false, unknown: true };
    const inbound = p.sections.inbound;
    if (!inbound) return { has: false, base: false, unknown: false };
    return { has: inbound.some((e) => want.has(e)), base: p.base.inbound === true, unknown: inbound.includes("include-fragment") };
  };
  const apiLevel = check(s.apiPolicies[api]);
  if (apiLevel.has) return "covered";
  if (!apiLevel.base) return apiLevel.unknown ? "unknown" : "not-covered";
  const global = check(s.globalPolicy);
  const products = Object.entries(s.productApis)
    .filter(([, apis]) => apis.includes(api))
    .map(([p]) => p);
  const apiRes = s.apis.find((a) => a.name.toLowerCase() === api);
  const openAccess = bool(pick(apiRes, "properties.subscriptionRequired")) === false;
  const paths: Array<Array<ReturnType<typeof check>>> = products.map((p) => [check(s.productPolicies[p]), global]);
  if (products.length === 0 || openAccess) paths.push([global]);
  // Each path on its own; a path known to be uncovered outweighs one that is unknown.
  let result: Coverage = "covered";
  for (const chain of paths) {
    let covered = false;
    let unknown = apiLevel.unknown;
    for (const level of chain) {
      if (level.has) {
        covered = true;
        break;
      }
      if (level.unknown) unknown = true;
      if (!level.base) break;
    }
    if (!covered && !unknown) return "not-covered";
    if (!covered) result = "unknown";
  }
  return result;
}

/** Current APIs (one per API, not per revision). */
export function currentApis(s: ServiceSnapshot): ArmResource[] {
  return s.apis.filter((a) => !a.name.includes(";rev=") && bool(pick(a, "properties.isCurrent")) !== false);
}
