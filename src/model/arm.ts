/**
 * The ARM resource shape every part of the product shares (see DESIGN.md,
 * "ARM resource list"), with case-insensitive property access: ARM property
 * names are case-insensitive, and exports and templates spell them freely.
 */

export interface ArmResource {
  id: string;
  name: string;
  type: string;
  properties: Record<string, unknown>;
  location?: string;
  sku?: Record<string, unknown>;
  identity?: Record<string, unknown>;
  tags?: Record<string, unknown>;
  etag?: string;
  [key: string]: unknown;
}

/** Reads `obj[key]` ignoring the key's case. */
export function getCI(obj: unknown, key: string): unknown {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  if (key in rec) return rec[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(rec)) if (k.toLowerCase() === lower) return rec[k];
  return undefined;
}

/** Reads a dotted path (`properties.apiVersionConstraint.minApiVersion`) ignoring case at every step. */
export function pick(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    cur = getCI(cur, part);
    if (cur === undefined) return undefined;
  }
  return cur;
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Booleans as ARM and templates write them: true/false or "True"/"false". */
export function bool(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  if (typeof v === "string") {
    const l = v.trim().toLowerCase();
    if (l === "true") return true;
    if (l === "false") return false;
  }
  return undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** True for an unresolved ARM template expression such as `[parameters('x')]`. */
export function isExpression(v: unknown): boolean {
  return typeof v === "string" && /^\[[^[].*\]$/s.test(v.trim());
}

/** The child name of an id or name: `svc/apis/echo` or `.../apis/echo` -> `echo`. */
export function leafName(nameOrId: string): string {
  const parts = nameOrId.split("/").filter((p) => p.length > 0);
  return parts[parts.length - 1] ?? nameOrId;
}

export function sameId(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\/+$/, "") === b.toLowerCase().replace(/\/+$/, "");
}

export interface ServiceRef {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location?: string;
  sku?: string;
}

/** Parses an APIM service id (any casing) into its parts; undefined if it is not one. */
export function parseServiceId(id: string): ServiceRef | undefined {
  const m = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.apimanagement\/service\/([^/]+)$/i.exec(id.replace(/\/+$/, ""));
  if (!m || !m[1] || !m[2] || !m[3]) return undefined;
  return { id: `/subscriptions/${m[1]}/resourceGroups/${m[2]}/providers/Microsoft.ApiManagement/service/${m[3]}`, subscriptionId: m[1], resourceGroup: m[2], name: m[3] };
}

/** The service id a child id belongs to. */
export function serviceIdOf(id: string): string | undefined {
  const m = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.apimanagement\/service\/[^/]+)/i.exec(id);
  return m?.[1];
}
