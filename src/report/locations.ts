/**
 * Where a finding is shown in a SARIF file: GitHub code scanning rejects a result without a
 * `physicalLocation` with an artifact URI (codeql-action issues 1738 and 2459: "locationFromSarifResult:
 * expected at least one location"; sarif-sdk GH1001), so every result names a file of the repository
 * and a line in it. Offline scans: the input file that held the resource, at the line where the
 * resource's id, or else its name, is written. Live scans: one configured file (`--sarif-location`,
 * e.g. the Bicep that deploys the services), at the line naming the service when the file is there.
 */
import { relative, sep } from "node:path";
import { readBoundedFile } from "../common/files.js";

export interface SourceLocation {
  /** Relative to the repository root (the working directory), `/`-separated, URI-encoded. */
  uri: string;
  /** 1-based. */
  startLine: number;
}

/** Files larger than this are still named, but not searched for lines (line 1). */
const MAX_SEARCHED_BYTES = 16 * 1024 * 1024;

/** A path as GitHub wants `artifactLocation.uri`: relative to the checkout (the working directory), forward slashes, encoded. */
export function repoRelativeUri(path: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, path) || path;
  return rel.split(sep).join("/").split("/").map((seg) => encodeURIComponent(seg)).join("/");
}

const SERVICE_RE = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.apimanagement\/service\/[^/]+)(\/.*)?$/i;

/** The resource's id, then each parent's up to the service (a finding on `…/tenant/access` is found at the service when `access` is not written). */
function candidates(resourceId: string): string[] {
  const id = resourceId.replace(/\/+$/, "");
  const m = SERVICE_RE.exec(id);
  if (!m) return [id];
  const out = [id];
  const segs = (m[2] ?? "").split("/").filter((x) => x.length > 0);
  for (let n = segs.length - 2; n >= 0; n -= 2) out.push(`${m[1] as string}${n > 0 ? "/" + segs.slice(0, n).join("/") : ""}`);
  return [...new Set(out)];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

class SearchedFile {
  private readonly lower: string;
  private readonly newlines: number[] = [];
  private readonly memo = new Map<string, number | undefined>();
  constructor(
    readonly uri: string,
    readonly text: string,
  ) {
    this.lower = text.toLowerCase();
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) this.newlines.push(i);
  }
  private lineAt(offset: number): number {
    let lo = 0;
    let hi = this.newlines.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.newlines[mid] as number) < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  }
  /** The line of the id written out, else of a `"name"` naming its last segment, else of its last segment quoted. */
  find(id: string): number | undefined {
    const key = id.toLowerCase();
    if (this.memo.has(key)) return this.memo.get(key);
    let line: number | undefined;
    const at = this.lower.indexOf(`"${key}"`);
    if (at >= 0) line = this.lineAt(at);
    else {
      const leaf = (key.split("/").pop() ?? "").split(";rev=")[0] as string;
      if (leaf.length > 0) {
        const named = new RegExp(`"name"\\s*:\\s*"(?:[^"\\n]*[/'])?${escapeRe(leaf)}(?:['"/\\]]|$)`, "im").exec(this.lower);
        const quoted = named ?? new RegExp(`["']${escapeRe(leaf)}["']`).exec(this.lower);
        if (quoted) line = this.lineAt(quoted.index);
      }
    }
    this.memo.set(key, line);
    return line;
  }
}

/** Finds findings' resources in files; `fileOf` names the file that held a resource (offline), else the first file is used. */
export class SourceLocator {
  private readonly files: SearchedFile[] = [];
  private readonly named = new Map<string, SearchedFile>();
  constructor(
    files: Array<{ path: string; text?: string }>,
    private readonly fileOf: (resourceId: string) => string | undefined = () => undefined,
  ) {
    for (const f of files) {
      let text = f.text;
      if (text === undefined) {
        try {
          text = readBoundedFile(f.path, MAX_SEARCHED_BYTES).toString("utf8");
        } catch {
          text = ""; // absent (a generated path) or too large: named, at line 1
        }
      }
      const sf = new SearchedFile(repoRelativeUri(f.path), text.length > MAX_SEARCHED_BYTES ? "" : text);
      this.files.push(sf);
      this.named.set(f.path, sf);
    }
  }

  locate(resourceId: string): SourceLocation {
    const owner = this.fileOf(resourceId);
    const first = (owner !== undefined ? this.named.get(owner) : undefined) ?? this.files[0];
    if (!first) throw new Error("SourceLocator: no file to point at");
    const order = [first, ...this.files.filter((f) => f !== first)];
    for (const id of candidates(resourceId)) {
      for (const f of order) {
        const line = f.find(id);
        if (line !== undefined) return { uri: f.uri, startLine: line };
      }
    }
    return { uri: first.uri, startLine: 1 };
  }
}
