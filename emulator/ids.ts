/**
 * ARM resource id handling for the emulator. ARM compares ids
 * case-insensitively, and some SDKs send encoded scopes, lowercase
 * `resourcegroups` and doubled slashes; every lookup goes through `idKey`.
 */

/** Canonical lookup key for an ARM id or request path. */
export function idKey(id: string): string {
  let p = id;
  try {
    p = decodeURIComponent(p);
  } catch {
    // keep the raw path; an undecodable path simply matches nothing
  }
  p = p.replace(/\/{2,}/g, "/");
  if (!p.startsWith("/")) p = "/" + p;
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p.toLowerCase();
}

/** Splits a path into non-empty, decoded segments (keeps original casing). */
export function segments(path: string): string[] {
  let p = path;
  try {
    p = decodeURIComponent(p);
  } catch {
    // leave as is
  }
  return p.split("/").filter((s) => s.length > 0);
}

/** The parent collection path of an id: `/a/b/c/d` -> `/a/b/c`. */
export function collectionOf(id: string): string {
  const segs = segments(id);
  return "/" + segs.slice(0, -1).join("/");
}

/** The last segment of an id (its name). */
export function nameOf(id: string): string {
  const segs = segments(id);
  return segs[segs.length - 1] ?? "";
}

export interface ParsedId {
  subscriptionId?: string;
  resourceGroup?: string;
  provider?: string;
  /** e.g. Microsoft.ApiManagement/service/apis */
  type?: string;
  /** resource name segments after the provider, alternating type/name */
  names: string[];
}

/** Parses a full ARM id (subscription, group, provider, type chain). */
export function parseId(id: string): ParsedId {
  const segs = segments(id);
  const out: ParsedId = { names: [] };
  let i = 0;
  if (segs[i]?.toLowerCase() === "subscriptions") {
    out.subscriptionId = segs[i + 1];
    i += 2;
  }
  if (segs[i]?.toLowerCase() === "resourcegroups") {
    out.resourceGroup = segs[i + 1];
    i += 2;
  }
  if (segs[i]?.toLowerCase() === "providers") {
    out.provider = segs[i + 1];
    i += 2;
    const types: string[] = [];
    while (i < segs.length) {
      types.push(segs[i] as string);
      if (i + 1 < segs.length) out.names.push(segs[i + 1] as string);
      i += 2;
    }
    if (out.provider) out.type = [out.provider, ...types].join("/");
  }
  return out;
}

/** The resource type an id denotes (for child resources: parent types chained). */
export function typeOfId(id: string): string | undefined {
  const segs = segments(id);
  const pIdx = lastIndexOfCI(segs, "providers");
  if (pIdx < 0) {
    if (segs.length === 2 && segs[0]?.toLowerCase() === "subscriptions") return "Microsoft.Resources/subscriptions";
    if (segs.length === 4 && segs[2]?.toLowerCase() === "resourcegroups") return "Microsoft.Resources/resourceGroups";
    return undefined;
  }
  const rest = segs.slice(pIdx + 1);
  const provider = rest[0];
  const types: string[] = [];
  for (let i = 1; i < rest.length; i += 2) types.push(rest[i] as string);
  return [provider, ...types].join("/");
}

/** All ancestor scopes of an id, from the subscription down to the id itself. */
export function scopesOf(id: string): string[] {
  const segs = segments(id);
  const out: string[] = [];
  // subscription, resource group, then each resource level (provider/type/name)
  let i = 0;
  let cur = "";
  if (segs[0]?.toLowerCase() === "subscriptions" && segs[1]) {
    cur = `/subscriptions/${segs[1]}`;
    out.push(cur);
    i = 2;
  }
  if (segs[i]?.toLowerCase() === "resourcegroups" && segs[i + 1]) {
    cur += `/resourceGroups/${segs[i + 1]}`;
    out.push(cur);
    i += 2;
  }
  if (segs[i]?.toLowerCase() === "providers" && segs[i + 1]) {
    cur += `/providers/${segs[i + 1]}`;
    i += 2;
    while (i + 1 < segs.length) {
      cur += `/${segs[i]}/${segs[i + 1]}`;
      out.push(cur);
      i += 2;
    }
  }
  return out;
}

/** True when `child` equals `ancestor` or lies below it. */
export function isAtOrBelow(child: string, ancestor: string): boolean {
  const c = idKey(child);
  const a = idKey(ancestor);
  return c === a || c.startsWith(a + "/");
}

function lastIndexOfCI(segs: string[], word: string): number {
  for (let i = segs.length - 1; i >= 0; i--) if (segs[i]?.toLowerCase() === word) return i;
  return -1;
}
