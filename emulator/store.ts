import { createHash, randomUUID } from "node:crypto";
import { collectionOf, idKey, nameOf, parseId, typeOfId } from "./ids.js";

/** A resource as ARM returns it, plus emulator-only hidden fields. */
export interface Resource {
  id: string;
  name: string;
  type: string;
  properties: Record<string, unknown>;
  etag: string;
  location?: string;
  sku?: Record<string, unknown>;
  identity?: Record<string, unknown>;
  tags?: Record<string, string>;
  kind?: string;
  zones?: string[];
  systemData?: Record<string, unknown>;
  /** Secret value kept by the emulator, never returned by GET. */
  hiddenValue?: string;
  /** Written through ARM: answered with Azure's recorded contracts (emulator/contracts.ts); estate entries are answered as given. */
  armWritten?: boolean;
}

export type Estate = Array<Record<string, unknown>>;

/** Types whose body carries `etag` (tracked resources); children carry it only as a header. */
const BODY_ETAG_TYPES = new Set(["microsoft.apimanagement/service"]);

const TOP_LEVEL_KEYS = ["location", "sku", "identity", "tags", "kind", "zones", "systemData"] as const;

export class Store {
  private readonly byKey = new Map<string, Resource>();
  private readonly byCollection = new Map<string, Set<string>>();
  private etagCounter = 0n;
  private readonly subscriptions = new Map<string, { displayName: string; tenantId: string }>();
  private readonly groups = new Map<string, { id: string; name: string; location: string }>();

  constructor(readonly tenantId: string) {}

  nextEtag(): string {
    this.etagCounter += 1n;
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64BE(this.etagCounter + 0x1000n);
    return buf.toString("base64");
  }

  load(estate: Estate): void {
    for (const raw of estate) this.loadOne(raw);
    // ensure parent scopes exist for every resource
    for (const r of [...this.byKey.values()]) this.registerScopes(r.id, r.location);
  }

  private loadOne(raw: Record<string, unknown>): void {
    const id = typeof raw["id"] === "string" ? raw["id"] : undefined;
    if (!id || !id.startsWith("/")) throw new Error(`estate entry without a valid "id": ${JSON.stringify(raw).slice(0, 120)}`);
    const type = (typeof raw["type"] === "string" ? raw["type"] : typeOfId(id)) ?? "";
    const lower = type.toLowerCase();
    if (lower === "microsoft.resources/subscriptions") {
      const sub = parseId(id).subscriptionId ?? nameOf(id);
      const props = (raw["properties"] ?? {}) as Record<string, unknown>;
      this.subscriptions.set(sub.toLowerCase(), {
        displayName: String(raw["displayName"] ?? props["displayName"] ?? raw["name"] ?? sub),
        tenantId: String(raw["tenantId"] ?? this.tenantId),
      });
      return;
    }
    if (lower === "microsoft.resources/resourcegroups") {
      this.groups.set(idKey(id), { id, name: nameOf(id), location: String(raw["location"] ?? "westeurope") });
      this.registerScopes(id, String(raw["location"] ?? "westeurope"));
      return;
    }
    const props = { ...((raw["properties"] as Record<string, unknown> | undefined) ?? {}) };
    const r: Resource = {
      id,
      name: typeof raw["name"] === "string" ? raw["name"] : nameOf(id),
      type,
      properties: props,
      etag: typeof raw["etag"] === "string" ? raw["etag"] : this.nextEtag(),
    };
    for (const k of TOP_LEVEL_KEYS) {
      if (raw[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = structuredClone(raw[k]);
    }
    // Secret values are given in properties.value in the estate; the emulator hides them.
    if (lower === "microsoft.keyvault/vaults/secrets" && typeof props["value"] === "string") {
      r.hiddenValue = props["value"];
      delete props["value"];
    }
    if (lower === "microsoft.apimanagement/service/namedvalues" && props["secret"] === true && typeof props["value"] === "string") {
      r.hiddenValue = props["value"];
      delete props["value"];
    }
    this.put(r);
  }

  registerScopes(id: string, location?: string): void {
    const p = parseId(id);
    if (p.subscriptionId && !this.subscriptions.has(p.subscriptionId.toLowerCase())) {
      this.subscriptions.set(p.subscriptionId.toLowerCase(), { displayName: `Subscription ${p.subscriptionId.slice(0, 8)}`, tenantId: this.tenantId });
    }
    if (p.subscriptionId && p.resourceGroup) {
      const gid = `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroup}`;
      if (!this.groups.has(idKey(gid))) this.groups.set(idKey(gid), { id: gid, name: p.resourceGroup, location: location ?? "westeurope" });
    }
  }

  put(r: Resource): void {
    const key = idKey(r.id);
    this.byKey.set(key, r);
    const coll = idKey(collectionOf(r.id));
    let set = this.byCollection.get(coll);
    if (!set) this.byCollection.set(coll, (set = new Set()));
    set.add(key);
    this.registerScopes(r.id, r.location);
  }

  get(id: string): Resource | undefined {
    return this.byKey.get(idKey(id));
  }

  delete(id: string): boolean {
    const key = idKey(id);
    const existed = this.byKey.delete(key);
    this.byCollection.get(idKey(collectionOf(id)))?.delete(key);
    // children go with their parent
    for (const k of [...this.byKey.keys()]) {
      if (k.startsWith(key + "/")) {
        const child = this.byKey.get(k);
        this.byKey.delete(k);
        if (child) this.byCollection.get(idKey(collectionOf(child.id)))?.delete(k);
      }
    }
    return existed;
  }

  /** Direct children of a collection path, e.g. `.../service/s1/apis`. */
  list(collectionPath: string): Resource[] {
    const set = this.byCollection.get(idKey(collectionPath));
    if (!set) return [];
    const out: Resource[] = [];
    for (const k of set) {
      const r = this.byKey.get(k);
      if (r) out.push(r);
    }
    return out;
  }

  /** Every resource of a type (case-insensitive), optionally below a scope. */
  ofType(type: string, scope?: string): Resource[] {
    const t = type.toLowerCase();
    const s = scope ? idKey(scope) : undefined;
    const out: Resource[] = [];
    for (const [k, r] of this.byKey) {
      if (r.type.toLowerCase() !== t) continue;
      if (s && !(k === s || k.startsWith(s + "/"))) continue;
      out.push(r);
    }
    return out;
  }

  all(): Resource[] {
    return [...this.byKey.values()];
  }

  listSubscriptions(): Array<{ subscriptionId: string; displayName: string; tenantId: string }> {
    return [...this.subscriptions.entries()].map(([subscriptionId, v]) => ({ subscriptionId, ...v }));
  }

  hasSubscription(sub: string): boolean {
    return this.subscriptions.has(sub.toLowerCase());
  }

  listGroups(sub: string): Array<{ id: string; name: string; location: string }> {
    const prefix = `/subscriptions/${sub.toLowerCase()}/resourcegroups/`;
    return [...this.groups.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
  }

  getGroup(id: string): { id: string; name: string; location: string } | undefined {
    return this.groups.get(idKey(id));
  }

  hasBodyEtag(r: Resource): boolean {
    return BODY_ETAG_TYPES.has(r.type.toLowerCase());
  }

  /** The public ARM view of a resource: hidden fields removed. */
  view(r: Resource): Record<string, unknown> {
    const out: Record<string, unknown> = { id: r.id, type: r.type, name: r.name };
    for (const k of TOP_LEVEL_KEYS) {
      const v = (r as unknown as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = structuredClone(v);
    }
    if (this.hasBodyEtag(r)) out["etag"] = r.etag;
    out["properties"] = structuredClone(r.properties);
    return out;
  }

  dump(): Estate {
    const out: Estate = [];
    for (const r of this.byKey.values()) {
      const v = this.view(r);
      v["etag"] = r.etag;
      out.push(v);
    }
    return out;
  }
}

/** A stable GUID derived from text (so generated principal ids do not change between runs). */
export function guidFrom(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function newGuid(): string {
  return randomUUID();
}
