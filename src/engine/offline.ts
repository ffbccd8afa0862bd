/**
 * Offline inputs for `scan --input`: ARM resource lists (the estate format),
 * ARM templates (nested or flat child resources, symbolic-name templates,
 * nested deployments) and PowerShell-style exports (PascalCase keys, children
 * in `resources[]`). Everything becomes ARM-shaped resources, grouped into
 * one snapshot per API Management service.
 */
import { FileReadError, readBoundedFile } from "../common/files.js";
import { getCI, leafName, str, type ArmResource } from "../model/arm.js";
import { emptySnapshot, type DataNeed, type ServiceSnapshot } from "../model/snapshot.js";

export class InputError extends Error {}

export const MAX_INPUT_BYTES = 64 * 1024 * 1024;
/** A file of tiny values parses to many times its size: bound the objects and arrays, and all values, before parsing (memory). */
export const MAX_JSON_CONTAINERS = 4_000_000;
export const MAX_JSON_VALUES = 8_000_000;
const MAX_DEPTH = 40;
const MAX_RESOURCES = 200_000;
const TEMPLATE_SUB = "00000000-0000-0000-0000-000000000000";

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function readInputFile(file: string): unknown {
  let text: string;
  try {
    // bounded as it is read (/dev/zero and pipes report size 0); a named pipe, socket or device is refused, not waited on
    text = readBoundedFile(file, MAX_INPUT_BYTES).toString("utf8").replace(/^\uFEFF/, "");
  } catch (e) {
    throw e instanceof FileReadError ? new InputError(e.message) : e;
  }
  let containers = 0;
  let commas = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 123 || c === 91) containers++; // { [ (those inside strings count too: an upper bound)
    else if (c === 44) commas++;
  }
  if (containers > MAX_JSON_CONTAINERS) throw new InputError(`${file}: too many JSON objects and arrays (${containers}; the limit is ${MAX_JSON_CONTAINERS})`);
  if (containers + commas > MAX_JSON_VALUES) throw new InputError(`${file}: too many JSON values (about ${containers + commas}; the limit is ${MAX_JSON_VALUES})`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
}

// ---- ARM template expressions (the small subset names use) ----------------------

interface TemplateScope {
  parameters: Json;
  variables: Json;
  /** The resource group `resourceId()` assumes when a template does not name one. */
  resourceGroup?: string;
}

/**
 * Evaluates `[parameters('x')]`, `[variables('x')]`, `[concat(...)]`, `[format(...)]` and string literals; undefined otherwise.
 * `keep` (for names and scopes) writes what cannot be evaluated back as its own expression text instead, so
 * `[concat(parameters('noDefault'), '/echo')]` becomes `[parameters('noDefault')]/echo` and keeps its name segments.
 */
export function evalExpression(text: string, scope: TemplateScope, keep = false, depth = 0): string | undefined {
  const t = text.trim();
  if (!(t.startsWith("[") && t.endsWith("]")) || t.startsWith("[[")) return t.startsWith("[[") ? t.slice(1) : t;
  return evalTerm(t.slice(1, -1).trim(), scope, depth, keep);
}

function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      cur += c;
      if (c === "'" && s[i + 1] === "'") {
        cur += "'";
        i++;
      } else if (c === "'") quote = false;
      continue;
    }
    if (c === "'") quote = true;
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

function evalTerm(term: string, scope: TemplateScope, depth: number, keep = false): string | undefined {
  return evalKnownTerm(term, scope, depth, keep) ?? (keep ? `[${term}]` : undefined);
}

function evalKnownTerm(term: string, scope: TemplateScope, depth: number, keep: boolean): string | undefined {
  if (depth > 16) return undefined;
  if (/^'.*'$/s.test(term)) return term.slice(1, -1).replace(/''/g, "'");
  if (/^-?\d+$/.test(term)) return term;
  const m = /^([A-Za-z]+)\((.*)\)$/s.exec(term);
  if (!m) return undefined;
  const fn = (m[1] as string).toLowerCase();
  const args = splitArgs(m[2] as string).map((a) => evalTerm(a, scope, depth + 1, keep));
  if (fn === "parameters" || fn === "variables") {
    const bag = fn === "parameters" ? scope.parameters : scope.variables;
    const entry = args[0] !== undefined ? getCI(bag, args[0]) : undefined;
    const value = fn === "parameters" ? getCI(entry, "defaultValue") : entry;
    // depth carries through parameter and variable values, so `a` -> `[parameters('a')]` (a cycle) ends
    if (typeof value === "string") return evalExpression(value, scope, keep, depth + 1);
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    return undefined;
  }
  if (args.some((a) => a === undefined)) return undefined;
  const vals = args as string[];
  if (fn === "concat") return vals.join("");
  if (fn === "format") return (vals[0] ?? "").replace(/\{(\d+)\}/g, (_, i: string) => vals[Number(i) + 1] ?? "");
  if (fn === "tolower") return vals[0]?.toLowerCase();
  if (fn === "toupper") return vals[0]?.toUpperCase();
  if (fn === "resourceid") {
    // resourceId([subscriptionId], [resourceGroupName], 'Namespace/type[/child]', name1[, name2...])
    const t = vals.findIndex((v) => v.includes("/"));
    const types = (vals[t] ?? "").split("/");
    const names = vals.slice(t + 1);
    if (t < 0 || t > 2 || names.length !== types.length - 1) return undefined;
    const sub = t === 2 ? vals[0] : TEMPLATE_SUB;
    const rg = t === 0 ? (scope.resourceGroup ?? "resourceGroup") : vals[t - 1];
    return `/subscriptions/${sub}/resourceGroups/${rg}/providers/${types[0]}/${types.slice(1).map((x, k) => `${x}/${names[k]}`).join("/")}`;
  }
  return undefined;
}

/** Resolves template expressions inside a value where possible; leaves the rest as written. */
function resolveDeep(v: unknown, scope: TemplateScope, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new InputError(`a template value is nested too deeply (more than ${MAX_DEPTH} levels)`);
  if (typeof v === "string") {
    if (!v.trim().startsWith("[")) return v;
    const r = evalExpression(v, scope);
    if (r === undefined) return v;
    if (r === "true" || r === "false") return r === "true";
    return r;
  }
  if (Array.isArray(v)) return v.map((x) => resolveDeep(x, scope, depth + 1));
  if (isObj(v)) {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = resolveDeep(x, scope, depth + 1);
    return out;
  }
  return v;
}

// ---- normalisation -----------------------------------------------------------

const TOP_KEYS: Array<[string, string]> = [
  ["location", "location"],
  ["sku", "sku"],
  ["identity", "identity"],
  ["tags", "tags"],
  ["etag", "etag"],
  ["kind", "kind"],
  ["scope", "scope"],
  // the availability zones of a service (and of any zonal resource) are top-level, beside sku (zone-redundancy reads them)
  ["zones", "zones"],
];

/** One ARM-shaped resource from an exported/listed entry (camelCase or PascalCase keys). */
function fromListed(e: Json): ArmResource | undefined {
  const id = str(getCI(e, "ResourceId")) ?? str(getCI(e, "id"));
  const type = str(getCI(e, "ResourceType")) ?? str(getCI(e, "type"));
  if (!id || !id.startsWith("/") || !type) return undefined;
  const r: ArmResource = { id, name: str(getCI(e, "name")) ?? leafName(id), type, properties: isObj(getCI(e, "properties")) ? (getCI(e, "properties") as Json) : {} };
  for (const [from, to] of TOP_KEYS) {
    const v = getCI(e, from);
    if (v !== undefined && v !== null) r[to] = v;
  }
  return r;
}

function listedResources(items: unknown[], out: ArmResource[], depth: number): void {
  if (depth > MAX_DEPTH) throw new InputError(`resources nested too deeply (more than ${MAX_DEPTH} levels)`);
  for (const item of items) {
    if (!isObj(item)) continue;
    const r = fromListed(item);
    if (r) out.push(r);
    if (out.length > MAX_RESOURCES) throw new InputError(`more than ${MAX_RESOURCES} resources`);
    const kids = getCI(item, "resources");
    if (Array.isArray(kids)) listedResources(kids, out, depth + 1);
  }
}

function templateResources(template: Json, out: ArmResource[], rgName: string, depth: number, outerScope?: TemplateScope, passed: Json = {}): void {
  if (depth > MAX_DEPTH) throw new InputError(`template nested too deeply (more than ${MAX_DEPTH} levels)`);
  const scope: TemplateScope = {
    parameters: { ...(outerScope?.parameters ?? {}), ...((getCI(template, "parameters") as Json | undefined) ?? {}), ...passed },
    variables: { ...(outerScope?.variables ?? {}), ...((getCI(template, "variables") as Json | undefined) ?? {}) },
    resourceGroup: rgName,
  };
  const raw = getCI(template, "resources");
  const list: unknown[] = Array.isArray(raw) ? raw : isObj(raw) ? Object.values(raw) : [];
  const visit = (items: unknown[], parentType: string | undefined, parentName: string | undefined, d: number) => {
    if (d > MAX_DEPTH) throw new InputError(`template nested too deeply (more than ${MAX_DEPTH} levels)`);
    for (const item of items) {
      if (!isObj(item)) continue;
      if (getCI(item, "existing") === true) continue;
      const rawType = str(getCI(item, "type")) ?? "";
      const rawName = str(getCI(item, "name")) ?? "";
      if (/^Microsoft\.Resources\/deployments$/i.test(rawType)) {
        const inner = getCI(getCI(item, "properties"), "template");
        // parameter values the deployment passes in (a Bicep module's `params`), evaluated in the outer scope
        const passed: Json = {};
        const given = getCI(getCI(item, "properties"), "parameters");
        if (isObj(given)) for (const [k, v] of Object.entries(given)) if (isObj(v) && "value" in v) passed[k] = { defaultValue: resolveDeep(v["value"], scope) };
        if (isObj(inner)) templateResources(inner, out, rgName, depth + 1, scope, passed);
        continue;
      }
      const name = evalExpression(rawName, scope, true) ?? rawName;
      const type = parentType && !rawType.includes(".") ? `${parentType}/${rawType}` : rawType;
      const fullName = parentType && !rawType.includes(".") ? `${parentName}/${name}` : name;
      const r = toTemplateResource(type, fullName, item, scope, rgName);
      if (r) out.push(r);
      if (out.length > MAX_RESOURCES) throw new InputError(`more than ${MAX_RESOURCES} resources`);
      const kids = getCI(item, "resources");
      if (Array.isArray(kids)) visit(kids, type, fullName, d + 1);
    }
  };
  visit(list, undefined, undefined, depth);
}

function toTemplateResource(type: string, name: string, item: Json, scope: TemplateScope, rgName: string): ArmResource | undefined {
  if (!type.includes("/")) return undefined;
  const [ns, ...typeSegs] = type.split("/");
  const nameSegs = name.split("/");
  let id: string;
  const base = `/subscriptions/${TEMPLATE_SUB}/resourceGroups/${rgName}`;
  if (/^Microsoft\.Authorization$/i.test(ns ?? "") && /^locks$/i.test(typeSegs[0] ?? "")) {
    const target = str(getCI(item, "scope"));
    id = `${base}${target ? `/${lockScopePath(evalExpression(target, scope, true) ?? target)}` : ""}/providers/Microsoft.Authorization/locks/${nameSegs[nameSegs.length - 1]}`;
  } else if (/^Microsoft\.Insights$/i.test(ns ?? "") && /^diagnosticSettings$/i.test(typeSegs[0] ?? "") && str(getCI(item, "scope"))) {
    // an extension resource with `scope` (Bicep's `scope: apim`): `Microsoft.ApiManagement/service/apim` or a full id
    const target = str(getCI(item, "scope")) as string;
    const path = lockScopePath(evalExpression(target, scope, true) ?? target);
    id = `${base}${path ? `/${path}` : ""}/providers/Microsoft.Insights/diagnosticSettings/${nameSegs[nameSegs.length - 1]}`;
  } else if (typeSegs.some((t) => t.toLowerCase() === "providers")) {
    // nested extension, e.g. Microsoft.ApiManagement/service/providers/locks with name "apim/Microsoft.Authorization/lock"
    const i = typeSegs.findIndex((t) => t.toLowerCase() === "providers");
    const ownerTypes = typeSegs.slice(0, i);
    const owner = ownerTypes.map((t, k) => `${t}/${nameSegs[k]}`).join("/");
    const extNs = nameSegs[ownerTypes.length] ?? "Microsoft.Authorization";
    const extTypes = typeSegs.slice(i + 1);
    const extNames = nameSegs.slice(ownerTypes.length + 1);
    id = `${base}/providers/${ns}/${owner}/providers/${extNs}/${extTypes.map((t, k) => `${t}/${extNames[k]}`).join("/")}`;
    type = `${extNs}/${extTypes.join("/")}`;
  } else {
    if (nameSegs.length !== typeSegs.length) return undefined;
    id = `${base}/providers/${ns}/${typeSegs.map((t, k) => `${t}/${nameSegs[k]}`).join("/")}`;
  }
  const resolved = resolveDeep(item, scope) as Json;
  const r: ArmResource = { id, name: nameSegs[nameSegs.length - 1] ?? name, type, properties: isObj(getCI(resolved, "properties")) ? (getCI(resolved, "properties") as Json) : {} };
  for (const [from, to] of TOP_KEYS) {
    const v = getCI(resolved, from);
    if (v !== undefined && v !== null) r[to] = v;
  }
  return r;
}

/** A lock's `scope` in a template: `Microsoft.ApiManagement/service/apim` (or a full id) -> path below the resource group. */
function lockScopePath(scope: string): string {
  const full = /\/providers\/(.+)$/i.exec(scope);
  const rel = (full ? (full[1] as string) : scope).replace(/^\/+|\/+$/g, "");
  return rel.includes("/") ? `providers/${rel}` : "";
}

export type InputKind = "resource-list" | "template" | "powershell-export";

/** Turns a parsed input file into ARM-shaped resources; every InputError names `label`. */
export function resourcesFromInput(value: unknown, label: string): { kind: InputKind; resources: ArmResource[] } {
  try {
    return readResources(value, label);
  } catch (e) {
    if (e instanceof InputError && !e.message.startsWith(`${label}: `)) throw new InputError(`${label}: ${e.message}`);
    throw e;
  }
}

function readResources(value: unknown, label: string): { kind: InputKind; resources: ArmResource[] } {
  const out: ArmResource[] = [];
  if (Array.isArray(value)) {
    const pascal = value.some((v) => isObj(v) && ("ResourceId" in v || "ResourceType" in v || "Properties" in v));
    listedResources(value, out, 0);
    if (out.length === 0 && value.length > 0) throw new InputError(`${label}: no entry has an 'id' and a 'type'; expected an ARM resource list`);
    return { kind: pascal ? "powershell-export" : "resource-list", resources: out };
  }
  if (isObj(value)) {
    const schema = str(getCI(value, "$schema")) ?? "";
    if (/deploymentTemplate\.json/i.test(schema) || getCI(value, "contentVersion") !== undefined) {
      const base = label.replace(/^.*[\\/]/, "").replace(/\.[^.]+$/, "").replace(/[^-\w.()]/g, "-") || "template";
      templateResources(value, out, base, 0);
      return { kind: "template", resources: out };
    }
    // one exported resource (its children in `resources[]`), else an envelope: `{ value: [...] }` or `{ resources: [...] }`
    if (fromListed(value)) return readResources([value], label);
    const res = getCI(value, "resources") ?? getCI(value, "value");
    if (Array.isArray(res)) return readResources(res, label);
    if (getCI(value, "id") !== undefined || getCI(value, "ResourceId") !== undefined) return readResources([value], label);
  }
  throw new InputError(`${label}: expected an ARM resource list (JSON array), an ARM template or a PowerShell-style export`);
}

// ---- grouping into snapshots -----------------------------------------------------

const SERVICE_RE = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.apimanagement\/service\/[^/]+)(\/.*)?$/i;

function childPath(id: string): { serviceKey: string; serviceId: string; rest: string[] } | undefined {
  const m = SERVICE_RE.exec(id.replace(/\/+$/, ""));
  if (!m) return undefined;
  return { serviceKey: (m[1] as string).toLowerCase(), serviceId: m[1] as string, rest: (m[2] ?? "").split("/").filter((x) => x.length > 0) };
}

/** A workspace or one of its children (`rest` lowercase, from `workspaces/{w}`) into the snapshot's workspace fields. */
function workspaceChild(s: ServiceSnapshot, rest: string[], r: ArmResource): void {
  const ws = rest[1] as string;
  const c = (s.workspaceContents[ws] ??= { apis: [], apiPolicies: {}, operationPolicies: {}, operations: {}, products: [], productApis: {}, productPolicies: {}, subscriptions: [] });
  const [, , c2, n2, c3, n3, c4] = rest;
  if (rest.length === 2) s.workspaces.push(r);
  else if (rest.length === 4 && c2 === "policies") c.policy = r;
  else if (rest.length === 4 && c2 === "apis") c.apis.push(r);
  else if (rest.length === 4 && c2 === "products") c.products.push(r);
  else if (rest.length === 4 && c2 === "subscriptions") c.subscriptions.push(r);
  else if (rest.length === 6 && c2 === "apis" && c3 === "policies") c.apiPolicies[n2 as string] = r;
  else if (rest.length === 6 && c2 === "apis" && c3 === "operations") ((c.operations ??= {})[n2 as string] ??= []).push(r);
  else if (rest.length === 6 && c2 === "products" && c3 === "policies") c.productPolicies[n2 as string] = r;
  else if (rest.length === 6 && c2 === "products" && (c3 === "apilinks" || c3 === "apis")) {
    // a link names its API by id (ApiManagementListWorkspaceProductApiLinks: properties.apiId); the older `products/p/apis/a` by name
    const apiId = str(getCI(r.properties, "apiId"));
    (c.productApis[n2 as string] ??= []).push((c3 === "apilinks" && apiId ? leafName(apiId) : (n3 as string)).toLowerCase());
  } else if (rest.length === 8 && c2 === "apis" && c3 === "operations" && c4 === "policies") c.operationPolicies[`${n2}/${n3}`] = r;
}

/** Groups resources into one snapshot per APIM service (services absent from the input get a stub). */
export function snapshotsFromResources(input: ArmResource[]): ServiceSnapshot[] {
  // the same resource listed twice (nested and flat, or in two files) counts once; the last one wins
  const unique = new Map<string, ArmResource>();
  for (const r of input) unique.set(r.id.toLowerCase().replace(/\/+$/, ""), r);
  const resources = [...unique.values()];
  const byService = new Map<string, ServiceSnapshot>();
  const anyLocks = resources.some((r) => /\/locks$/i.test(r.type));
  const anyTenant = new Set<string>();
  const get = (key: string, id: string): ServiceSnapshot => {
    let s = byService.get(key);
    if (!s) {
      s = emptySnapshot({ id, name: leafName(id), type: "Microsoft.ApiManagement/service", properties: {} });
      s.serviceKnown = false;
      byService.set(key, s);
    }
    return s;
  };
  const locks: ArmResource[] = [];
  /** Subscription (lowercase) -> the Defender for APIs plan (`/subscriptions/S/providers/Microsoft.Security/pricings/Api`). */
  const pricings = new Map<string, boolean>();
  /** Service key -> the needs its input holds besides the base ones. */
  const held = new Map<string, Set<DataNeed>>();
  const hold = (key: string, need: DataNeed) => {
    let set = held.get(key);
    if (!set) held.set(key, (set = new Set()));
    set.add(need);
  };
  for (const r of resources) {
    if (/^Microsoft\.Authorization\/locks$/i.test(r.type)) {
      locks.push(r);
      continue;
    }
    const pricing = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/[^/]+)?\/providers\/Microsoft\.Security\/pricings\/api$/i.exec(r.id.replace(/\/+$/, ""));
    if (pricing) {
      // Defender for APIs is on when the plan's tier is Standard (as the collector reads it)
      pricings.set((pricing[1] as string).toLowerCase(), /^standard$/i.test(str(getCI(r.properties, "pricingTier")) ?? ""));
      continue;
    }
    const cp = childPath(r.id);
    if (!cp) continue;
    const s = get(cp.serviceKey, cp.serviceId);
    const rest = cp.rest.map((x) => x.toLowerCase());
    if (rest.length === 0) {
      s.service = r;
      s.serviceKnown = true;
      continue;
    }
    const [c1, n1, c2, n2] = rest;
    const key = cp.serviceKey;
    if (c1 === "workspaces" && rest.length >= 2) {
      workspaceChild(s, rest, r);
      hold(key, "workspaces");
      continue;
    }
    if (rest.length === 2) {
      if (c1 === "apis") s.apis.push(r);
      else if (c1 === "namedvalues" || c1 === "properties") s.namedValues.push(r);
      else if (c1 === "tenant") {
        s.tenantAccess.push(r);
        anyTenant.add(key);
        // the self-hosted gateway configuration endpoint is read by name: known only when the input holds it
        if (n1 === "gatewayaccess") hold(key, "gatewayAccess");
      } else if (c1 === "backends") s.backends.push(r);
      else if (c1 === "subscriptions") s.subscriptions.push(r);
      else if (c1 === "products") s.products.push(r);
      else if (c1 === "policies") s.globalPolicy = r;
      else if (c1 === "portalconfigs") {
        s.portalConfigs.push(r);
        hold(key, "portalConfigs");
      } else if (c1 === "identityproviders") {
        s.identityProviders.push(r);
        hold(key, "identityProviders");
      } else if (c1 === "loggers") {
        s.loggers.push(r);
        hold(key, "loggers");
      } else if (c1 === "diagnostics") {
        s.diagnostics.push(r);
        hold(key, "diagnostics");
      } else if (c1 === "certificates") {
        s.certificates.push(r);
        hold(key, "certificates");
      } else if (c1 === "gateways") {
        // self-hosted gateways; `managed` would name the built-in one, not a self-hosted gateway
        if (n1 !== "managed") s.gateways.push(r);
      }
    } else if (rest.length === 4 && c2 === "policies") {
      // a non-current revision's policy (`apis/echo;rev=2/policies/policy`) is its own (key `echo;rev=2`), never the current API's
      if (c1 === "apis") s.apiPolicies[n1 as string] = r;
      else if (c1 === "products") s.productPolicies[n1 as string] = r;
    } else if (rest.length === 4 && c1 === "products" && c2 === "apis") {
      (s.productApis[n1 as string] ??= []).push(n2 as string);
    } else if (rest.length === 4 && c1 === "apis" && c2 === "operations") {
      (s.operations[n1 as string] ??= []).push(r);
      hold(key, "operations");
    } else if (rest.length === 4 && c1 === "apis" && c2 === "diagnostics") {
      (s.apiDiagnostics[n1 as string] ??= []).push(r);
      hold(key, "apiDiagnostics");
    } else if (rest.length === 6 && c1 === "apis" && c2 === "operations" && rest[4] === "policies") {
      s.operationPolicies[`${n1}/${n2}`] = r;
    } else if (rest.length === 4 && c1 === "providers" && n1 === "microsoft.insights" && c2 === "diagnosticsettings") {
      s.diagnosticSettings.push(r);
      hold(key, "diagnosticSettings");
    } else if (rest.length === 4 && c1 === "providers" && n1 === "microsoft.security" && c2 === "apicollections") {
      // an onboarded API: `{service}/providers/Microsoft.Security/apiCollections/{api}` (what the collector reads)
      s.defender ??= { planEnabled: undefined, onboardedApis: [] };
      s.defender.onboardedApis.push(n2 as string);
    } else if (rest[2] === "providers" && rest[3] === "microsoft.security" && rest[4] === "apicollections") {
      s.defender ??= { planEnabled: undefined, onboardedApis: [] };
      s.defender.onboardedApis.push((rest[5] ?? "") as string);
    }
  }
  // as for the APIs' and products' own, the input is taken to hold every revision's policies and every workspace (with
  // what it holds) and every self-hosted gateway: a service whose input has none has none (live, a tier without workspaces
  // answers none too). Reports by operation are not ARM resources: no input holds them (unknown offline, as the metrics)
  const base: DataNeed[] = ["apis", "apiRevisions", "namedValues", "backends", "subscriptions", "products", "productApis", "policies", "apiPolicies", "productPolicies", "operationPolicies", "revisionPolicies", "workspaces", "gateways"];
  for (const [key, s] of byService) {
    for (const l of locks) {
      const scope = (/^(.*?)\/providers\/Microsoft\.Authorization\//i.exec(l.id)?.[1] ?? "").toLowerCase();
      if (key === scope || key.startsWith(scope + "/")) s.locks.push(l);
    }
    const extra = new Set<DataNeed>(held.get(key) ?? []);
    // Defender for APIs: the subscription's plan, when the input holds it (its apiCollections as listed)
    const sub = (/^\/subscriptions\/([^/]+)/i.exec(key)?.[1] ?? "").toLowerCase();
    if (pricings.has(sub)) {
      s.defender = { planEnabled: pricings.get(sub), onboardedApis: s.defender?.onboardedApis ?? [] };
      extra.add("defender");
    }
    s.collected = new Set<DataNeed>(["service", ...base, ...(anyLocks ? (["locks"] as DataNeed[]) : []), ...(anyTenant.has(key) ? (["tenantAccess", "gitAccess"] as DataNeed[]) : []), ...extra]);
  }
  return [...byService.values()];
}

/** Reads input files into snapshots; throws InputError with one line naming the file and the problem. `onFile` sees each file's resources (where a report points). */
export function snapshotsFromFiles(files: string[], onFile?: (file: string, resources: ArmResource[]) => void): ServiceSnapshot[] {
  const all: ArmResource[] = [];
  for (const f of files) {
    const { resources } = resourcesFromInput(readInputFile(f), f);
    onFile?.(f, resources);
    all.push(...resources);
  }
  return snapshotsFromResources(all);
}
