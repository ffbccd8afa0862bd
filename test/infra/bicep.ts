/**
 * A small structural reader for the Bicep files in infra/ (there is no Bicep CLI on CI machines).
 * It understands what these templates use: comments, strings with `\'` escapes and `${...}`
 * interpolation, multi-line ''' strings, nested objects/arrays, and the top-level declarations
 * (targetScope, param, var, resource, module, output). Not a Bicep parser: enough to find
 * resources, modules and property values and check facts about them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const INFRA = join(process.cwd(), "infra");

/** Index just after the string starting at t[i] (a `'`). */
function skipString(t: string, i: number): number {
  if (t.startsWith("'''", i)) {
    const end = t.indexOf("'''", i + 3);
    if (end < 0) throw new Error("unterminated ''' string");
    return end + 3;
  }
  i++;
  while (i < t.length) {
    const c = t[i];
    if (c === "\\") i += 2;
    else if (c === "'") return i + 1;
    else if (c === "$" && t[i + 1] === "{") i = skipCode(t, i + 2);
    else i++;
  }
  throw new Error("unterminated string");
}

/** Scans code from i up to the first unmatched closing bracket; returns the index just after it. */
function skipCode(t: string, i: number): number {
  let depth = 0;
  while (i < t.length) {
    const c = t[i] as string;
    if (c === "'") {
      i = skipString(t, i);
      continue;
    }
    if ("{[(".includes(c)) depth++;
    else if ("}])".includes(c)) {
      if (depth === 0) return i + 1;
      depth--;
    }
    i++;
  }
  return t.length;
}

/** Removes // and /* *\/ comments and #disable-next-line pragmas (not inside strings), keeping line breaks. */
export function stripComments(t: string): string {
  let out = "";
  let i = 0;
  while (i < t.length) {
    if (t[i] === "'") {
      const end = skipString(t, i);
      out += t.slice(i, end);
      i = end;
    } else if (t.startsWith("#disable-next-line", i) || t.startsWith("#disable-diagnostics", i)) {
      // linter pragmas read as comments here
      while (i < t.length && t[i] !== "\n") i++;
    } else if (t.startsWith("//", i)) {
      while (i < t.length && t[i] !== "\n") i++;
    } else if (t.startsWith("/*", i)) {
      const end = t.indexOf("*/", i + 2);
      out += t.slice(i, end + 2).replace(/[^\n]/g, "");
      i = end + 2;
    } else out += t[i++];
  }
  return out;
}

/** The balanced block (object, array or parenthesis) that opens at t[open]. */
export function blockAt(t: string, open: number): string {
  return t.slice(open, skipCode(t, open + 1));
}

/** Splits the inside of a block at top level: by line breaks and commas (array items, object lines). */
function topLevelPieces(block: string): string[] {
  const inner = block.slice(1, -1);
  const pieces: string[] = [];
  let cur = "";
  let i = 0;
  while (i < inner.length) {
    const c = inner[i] as string;
    if (c === "'") {
      const end = skipString(inner, i);
      cur += inner.slice(i, end);
      i = end;
    } else if ("{[(".includes(c)) {
      const end = skipCode(inner, i + 1);
      cur += inner.slice(i, end);
      i = end;
    } else if (c === "\n" || c === ",") {
      if (cur.trim()) pieces.push(cur.trim());
      cur = "";
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  if (cur.trim()) pieces.push(cur.trim());
  return pieces;
}

/** The items of an array literal `[ ... ]`, as source text. */
export function arrayItems(block: string): string[] {
  if (!block.trim().startsWith("[")) throw new Error(`not an array: ${block.slice(0, 60)}`);
  return topLevelPieces(block.trim());
}

/** `key: value` pairs of an object literal `{ ... }`, values as source text (keys unquoted). */
export function objectEntries(block: string): Array<[string, string]> {
  if (!block.trim().startsWith("{")) throw new Error(`not an object: ${block.slice(0, 60)}`);
  return topLevelPieces(block.trim()).map((p) => {
    const m = /^('(?:[^'\\]|\\.)*'|[\w$]+)\s*:\s*([\s\S]*)$/.exec(p);
    if (!m) throw new Error(`not a property: ${p.slice(0, 80)}`);
    const key = (m[1] as string).startsWith("'") ? str(m[1] as string) : (m[1] as string);
    return [key, (m[2] as string).trim()];
  });
}

/** A property of an object literal by dotted path (`properties.functionAppConfig.runtime.name`), as source text. */
export function prop(block: string, path: string): string | undefined {
  let cur: string | undefined = block;
  for (const key of path.split(".")) {
    if (cur === undefined || !cur.trim().startsWith("{")) return undefined;
    cur = objectEntries(cur).find(([k]) => k === key)?.[1];
  }
  return cur;
}

/** The value of a plain string literal (no interpolation), unescaped; throws otherwise. */
export function str(value: string | undefined): string {
  const v = (value ?? "").trim();
  if (!/^'(?:[^'\\]|\\.)*'$/.test(v) || /\$\{/.test(v)) throw new Error(`not a plain string literal: ${v}`);
  return v.slice(1, -1).replace(/\\(.)/g, "$1");
}

export interface Declaration {
  kind: "resource" | "module";
  symbol: string;
  /** `Microsoft.Web/sites` for resources; the file path for modules. */
  type: string;
  apiVersion?: string;
  existing: boolean;
  /** `[for ...]` */
  loop: boolean;
  /** The `if (...)` condition source, when conditional. */
  condition?: string;
  body: string;
}

export interface Param {
  name: string;
  type: string;
  default?: string;
  decorators: string[];
}

export interface BicepFile {
  path: string;
  /** Source without comments. */
  text: string;
  /** Source as written (with comments). */
  raw: string;
  targetScope: string;
  params: Map<string, Param>;
  vars: Map<string, string>;
  outputs: Map<string, { type: string; value: string }>;
  declarations: Declaration[];
  resources: Declaration[];
  modules: Declaration[];
}

/** The value expression starting at i: a balanced block, or the rest of the line (continued while brackets are open). */
function valueAt(t: string, i: number): string {
  while (t[i] === " ") i++;
  let j = i;
  while (j < t.length && t[j] !== "\n") {
    const c = t[j] as string;
    if (c === "'") j = skipString(t, j);
    else if ("{[(".includes(c)) j = skipCode(t, j + 1);
    else j++;
  }
  return t.slice(i, j).trim();
}

export function parseBicep(file: string): BicepFile {
  const path = file.startsWith("/") ? file : join(INFRA, file);
  const raw = readFileSync(path, "utf8");
  const text = stripComments(raw);
  const params = new Map<string, Param>();
  const vars = new Map<string, string>();
  const outputs = new Map<string, { type: string; value: string }>();
  const declarations: Declaration[] = [];
  const targetScope = /^targetScope\s*=\s*'(\w+)'/m.exec(text)?.[1] ?? "resourceGroup";

  const lines = text.split("\n");
  let offset = 0;
  let decorators: string[] = [];
  for (const line of lines) {
    const at = offset;
    offset += line.length + 1;
    if (/^@/.test(line)) {
      decorators.push(valueAt(text, at));
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = /^param\s+(\w+)\s+(\w+)(\s*=\s*)?/.exec(line))) {
      params.set(m[1] as string, { name: m[1] as string, type: m[2] as string, default: m[3] ? valueAt(text, at + m[0].length) : undefined, decorators });
    } else if ((m = /^var\s+(\w+)\s*=\s*/.exec(line))) {
      vars.set(m[1] as string, valueAt(text, at + m[0].length));
    } else if ((m = /^output\s+(\w+)\s+(\w+)\s*=\s*/.exec(line))) {
      outputs.set(m[1] as string, { type: m[2] as string, value: valueAt(text, at + m[0].length) });
    } else if ((m = /^(resource|module)\s+(\w+)\s+'([^']+)'\s*(existing\s*)?=\s*/.exec(line))) {
      let i = at + m[0].length;
      const loop = text[i] === "[";
      if (loop) i++;
      // find the body: the first `{` outside parentheses, after an optional `for ...:` and `if (...)`
      let condition: string | undefined;
      for (;;) {
        const c = text[i] as string;
        if (c === "'") i = skipString(text, i);
        else if (c === "(") {
          const end = skipCode(text, i + 1);
          if (/if\s*$/.test(text.slice(Math.max(0, i - 4), i))) condition = text.slice(i + 1, end - 1).trim();
          i = end;
        } else if (c === "{") break;
        else i++;
      }
      const [type, apiVersion] = (m[3] as string).split("@");
      declarations.push({ kind: m[1] as "resource" | "module", symbol: m[2] as string, type: type as string, apiVersion, existing: Boolean(m[4]), loop, condition, body: blockAt(text, i) });
    }
    if (line.trim() !== "") decorators = [];
  }
  return {
    path,
    text,
    raw,
    targetScope,
    params,
    vars,
    outputs,
    declarations,
    resources: declarations.filter((d) => d.kind === "resource"),
    modules: declarations.filter((d) => d.kind === "module"),
  };
}

/** The one resource of a type in a file (throws when there is not exactly one). */
export function only(file: BicepFile, type: string): Declaration {
  const found = file.resources.filter((r) => r.type === type && !r.existing);
  if (found.length !== 1) throw new Error(`${file.path}: expected one ${type}, found ${found.length}`);
  return found[0] as Declaration;
}
