/**
 * A RuleTester in the spirit of ESLint's: a rule's test is a table of cases,
 * run by this one shared tester, so the cases read at a glance.
 *
 *   ruleTester(rule, {
 *     valid: [{ name: "https only", snapshot: snap({ apis: [api("echo")] }) }],
 *     invalid: [{ name: "http", snapshot: ..., expect: [{ resourceId: "apis/echo", status: "fail", message: /http/ }] }],
 *     notApplicable: [...],   // detect returns no findings at all
 *     unknown: [...],         // findings with status "unknown"
 *   });
 *
 * Every case also checks that each finding carries the rule's id, severity and
 * default action, has a resource id and a message, and that detect did not
 * modify its snapshot (rules are pure).
 *
 * The builders below make ARM-shaped resources under one service
 * (`SERVICE_ID`), so a case only spells out what it is about.
 */
import { describe, expect, it } from "vitest";
import type { ArmResource } from "../../src/model/arm.js";
import { emptySnapshot, type DataNeed, type ServiceSnapshot } from "../../src/model/snapshot.js";
import { DEFAULT_RULE_OPTIONS } from "../../src/remediations/index.js";
import type { Finding, Rule, RuleOptions, Status } from "../../src/remediations/types.js";

// ---- the tester ---------------------------------------------------------------------

export interface ExpectedFinding {
  /** The finding's resource id, or a suffix of it at a `/` boundary (`apis/echo`, `echo;rev=2`); case-insensitive. */
  resourceId?: string;
  status: Status;
  message?: RegExp;
}

export interface Case {
  name: string;
  snapshot: ServiceSnapshot | (() => ServiceSnapshot);
  /** Merged over DEFAULT_RULE_OPTIONS. */
  options?: Partial<RuleOptions>;
  /** Findings that must appear (each matched by at least one finding). */
  expect?: ExpectedFinding[];
  /** When given, the exact number of findings. */
  count?: number;
}

export interface RuleTests {
  /** Every finding passes, and there is at least one. */
  valid: Case[];
  /** At least one finding fails; the `expect`ed findings appear. */
  invalid: Case[];
  /** The rule returns no findings at all. */
  notApplicable?: Case[];
  /** At least one finding is unknown (without `expect`: every finding is); the `expect`ed findings appear. */
  unknown?: Case[];
}

type Kind = "valid" | "invalid" | "notApplicable" | "unknown";

function show(findings: Finding[]): string {
  if (findings.length === 0) return "  (no findings)";
  return findings.map((f) => `  ${f.status.padEnd(7)} ${f.resourceId}\n          ${f.message}`).join("\n");
}

/** True when `actual` is `wanted` or ends with `/wanted` (ignoring case). */
export function idMatches(actual: string, wanted: string): boolean {
  const a = actual.toLowerCase().replace(/\/+$/, "");
  const w = wanted.toLowerCase().replace(/\/+$/, "");
  return a === w || (!w.startsWith("/") && a.endsWith(`/${w}`));
}

function matches(f: Finding, e: ExpectedFinding): boolean {
  return f.status === e.status && (e.resourceId === undefined || idMatches(f.resourceId, e.resourceId)) && (e.message === undefined || e.message.test(f.message));
}

function describeExpected(e: ExpectedFinding): string {
  return `${e.status} ${e.resourceId ?? "(any resource)"}${e.message ? ` ${String(e.message)}` : ""}`;
}

/** Runs one case; exported so a test can drive a single case by hand. */
export function runCase(rule: Rule, kind: Kind, c: Case): Finding[] {
  const snapshot = typeof c.snapshot === "function" ? c.snapshot() : c.snapshot;
  const before = structuredClone(snapshot);
  const options: RuleOptions = { ...DEFAULT_RULE_OPTIONS, ...c.options };
  const findings = rule.detect(snapshot, options);
  const listing = `findings of ${rule.meta.id}:\n${show(findings)}`;

  expect(snapshot, "detect must not modify its snapshot").toEqual(before);
  for (const f of findings) {
    expect({ ruleId: f.ruleId, severity: f.severity, action: f.action }, listing).toEqual({ ruleId: rule.meta.id, severity: rule.meta.severity, action: rule.meta.defaultAction });
    expect(["fail", "pass", "unknown"], listing).toContain(f.status);
    expect(f.resourceId, listing).not.toBe("");
    expect(f.message, listing).not.toBe("");
  }
  if (c.count !== undefined) expect(findings.length, listing).toBe(c.count);

  switch (kind) {
    case "valid":
      expect(findings.length, `valid case expects at least one finding; ${listing}`).toBeGreaterThan(0);
      expect(
        findings.filter((f) => f.status !== "pass"),
        `valid case expects every finding to pass; ${listing}`,
      ).toEqual([]);
      break;
    case "invalid":
      expect(
        findings.some((f) => f.status === "fail"),
        `invalid case expects a failing finding; ${listing}`,
      ).toBe(true);
      break;
    case "notApplicable":
      expect(findings, `not-applicable case expects no findings; ${listing}`).toEqual([]);
      break;
    case "unknown":
      expect(
        findings.some((f) => f.status === "unknown"),
        `unknown case expects an unknown finding; ${listing}`,
      ).toBe(true);
      if (!c.expect) {
        expect(
          findings.filter((f) => f.status !== "unknown"),
          `unknown case without 'expect' expects every finding to be unknown; ${listing}`,
        ).toEqual([]);
      }
      break;
  }
  for (const e of c.expect ?? []) {
    expect(
      findings.some((f) => matches(f, e)),
      `expected a finding ${describeExpected(e)}; ${listing}`,
    ).toBe(true);
  }
  return findings;
}

/** Registers `describe(rule.meta.id)` with one `it` per case. */
export function ruleTester(rule: Rule, tests: RuleTests): void {
  const groups: Array<[Kind, Case[]]> = [
    ["valid", tests.valid],
    ["invalid", tests.invalid],
    ["notApplicable", tests.notApplicable ?? []],
    ["unknown", tests.unknown ?? []],
  ];
  describe(rule.meta.id, () => {
    for (const [kind, cases] of groups) {
      const names = new Set<string>();
      for (const c of cases) {
        if (names.has(c.name)) throw new Error(`${rule.meta.id}: duplicate ${kind} case name '${c.name}'`);
        names.add(c.name);
        it(`${kind}: ${c.name}`, () => {
          runCase(rule, kind, c);
        });
      }
    }
  });
}

// ---- snapshot builders ------------------------------------------------------------

export const SUB = "11111111-1111-4111-8111-111111111111";
export const RG = "rg-apim";
export const SERVICE_NAME = "apim1";
export const RG_ID = `/subscriptions/${SUB}/resourceGroups/${RG}`;
export const SERVICE_ID = `${RG_ID}/providers/Microsoft.ApiManagement/service/${SERVICE_NAME}`;
/** An unresolved ARM template expression. */
export const EXPR = "[parameters('x')]";
export const CUSTOM_PREFIX = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.";

export const ALL_NEEDS: readonly DataNeed[] = [
  "service",
  "apis",
  "apiRevisions",
  "namedValues",
  "tenantAccess",
  "gitAccess",
  "locks",
  "backends",
  "subscriptions",
  "products",
  "productApis",
  "policies",
  "apiPolicies",
  "productPolicies",
  "operationPolicies",
  "defender",
  "metrics",
  "operations",
  "gatewayAccess",
  "revisionPolicies",
  "workspaces",
  "portalConfigs",
  "identityProviders",
  "loggers",
  "diagnostics",
  "apiDiagnostics",
  "certificates",
  "diagnosticSettings",
  "operationReports",
  "gateways",
];

type Props = Record<string, unknown>;

/**
 * `overrides` over `defaults`, where a key replaces a default spelled in any case
 * (so `{ Protocols: [...] }` replaces the default `protocols`), and an
 * `undefined` value removes the key.
 */
export function mergeCI(defaults: Props, overrides: Props = {}): Props {
  const out: Props = {};
  const overridden = new Set(Object.keys(overrides).map((k) => k.toLowerCase()));
  for (const [k, v] of Object.entries(defaults)) if (!overridden.has(k.toLowerCase())) out[k] = v;
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) out[k] = v;
  return out;
}

function resource(id: string, type: string, defaults: Props, props: Props | undefined, extra: Partial<ArmResource> | undefined): ArmResource {
  const name = id.split("/").pop() as string;
  return { id, name, type, ...extra, properties: mergeCI(defaults, props) } as ArmResource;
}

/** The service (Developer SKU unless `extra.sku` says otherwise; no createdAtUtc unless given, as in a template). */
export function service(props?: Props, extra?: Partial<ArmResource>): ArmResource {
  return resource(SERVICE_ID, "Microsoft.ApiManagement/service", { publisherEmail: "apis@contoso.com", publisherName: "Contoso" }, props, {
    location: "westeurope",
    sku: { name: "Developer", capacity: 1 },
    ...extra,
  });
}

/** `extra` for service(): a SKU. */
export function sku(name: string, capacity = name === "Consumption" ? 0 : 1): Partial<ArmResource> {
  return { sku: { name, capacity } };
}

/** A service on the Consumption SKU. */
export function consumption(props?: Props, extra?: Partial<ArmResource>): ArmResource {
  return service(props, { ...sku("Consumption"), ...extra });
}

/** `properties.customProperties` for service(): suffix (`Protocols.Tls10`) -> value, prefixed. */
export function customProperties(keys: Record<string, unknown>): Props {
  return Object.fromEntries(Object.entries(keys).map(([k, v]) => [k.startsWith(CUSTOM_PREFIX) ? k : CUSTOM_PREFIX + k, v]));
}

/** An API (name may carry a revision: `echo;rev=2`); HTTPS only unless props say otherwise. */
export function api(name: string, props?: Props, extra?: Partial<ArmResource>): ArmResource {
  const base = name.split(";rev=")[0] as string;
  const rev = /;rev=(\d+)$/.exec(name)?.[1];
  return resource(
    `${SERVICE_ID}/apis/${name}`,
    "Microsoft.ApiManagement/service/apis",
    { displayName: base, path: base, protocols: ["https"], serviceUrl: `https://${base}.backend.example.com`, apiRevision: rev ?? "1", isCurrent: rev === undefined },
    props,
    extra,
  );
}

/** A named value (plain, not secret, unless props say otherwise). */
export function namedValue(name: string, props?: Props, extra?: Partial<ArmResource>): ArmResource {
  return resource(`${SERVICE_ID}/namedValues/${name}`, "Microsoft.ApiManagement/service/namedValues", { displayName: name, secret: false }, props, extra);
}

/** A secret named value whose value is kept in API Management. */
export function inlineSecret(name: string, props?: Props): ArmResource {
  return namedValue(name, mergeCI({ secret: true }, props));
}

/** A secret named value that references Key Vault. */
export function keyVaultSecret(name: string, props?: Props): ArmResource {
  return namedValue(name, mergeCI({ secret: true, keyVault: { secretIdentifier: `https://kv1.vault.azure.net/secrets/${name}` } }, props));
}

/** A backend (HTTPS URL, no TLS settings unless props say otherwise). */
export function backend(name: string, props?: Props, extra?: Partial<ArmResource>): ArmResource {
  return resource(`${SERVICE_ID}/backends/${name}`, "Microsoft.ApiManagement/service/backends", { url: `https://${name}.example.com`, protocol: "http" }, props, extra);
}

/** A tenant access setting (`access` = direct management API, `gitAccess` = Git configuration). */
export function tenantAccess(name: "access" | "gitAccess", enabled: unknown, extra?: Partial<ArmResource>): ArmResource {
  return resource(`${SERVICE_ID}/tenant/${name}`, "Microsoft.ApiManagement/service/tenant", {}, enabled === undefined ? {} : { enabled }, extra);
}

/** A management lock at `scope` (a resource, resource group or subscription id). */
export function lock(scope: string, name = "lock", level: unknown = "CanNotDelete"): ArmResource {
  return resource(`${scope}/providers/Microsoft.Authorization/locks/${name}`, "Microsoft.Authorization/locks", {}, { level }, undefined);
}

export function subscription(name: string, props?: Props, extra?: Partial<ArmResource>): ArmResource {
  return resource(`${SERVICE_ID}/subscriptions/${name}`, "Microsoft.ApiManagement/service/subscriptions", { displayName: name, scope: `${SERVICE_ID}/apis/echo`, state: "active" }, props, extra);
}

export function product(name: string, props?: Props, extra?: Partial<ArmResource>): ArmResource {
  return resource(`${SERVICE_ID}/products/${name}`, "Microsoft.ApiManagement/service/products", { displayName: name, subscriptionRequired: true, state: "published" }, props, extra);
}

/** A policy resource holding `xml` (`parent` is the service, an API, a product or an operation id). */
export function policy(xml: string, parent = SERVICE_ID): ArmResource {
  const below = parent.slice(SERVICE_ID.length).split("/").filter((x) => x.length > 0);
  const kinds = below.filter((_, i) => i % 2 === 0).map((k) => `/${k}`).join("");
  return resource(`${parent}/policies/policy`, `Microsoft.ApiManagement/service${kinds}/policies`, { format: "xml", value: xml }, undefined, undefined);
}

/** A policy document; each section gets `<base/>` first unless `base: false`. */
export function policyXml(sections: { inbound?: string; backend?: string; outbound?: string; onError?: string; base?: boolean }): string {
  const b = sections.base === false ? "" : "<base />";
  const sec = (tag: string, body = "") => `<${tag}>${b}${body}</${tag}>`;
  return `<policies>${sec("inbound", sections.inbound)}${sec("backend", sections.backend)}${sec("outbound", sections.outbound)}${sec("on-error", sections.onError)}</policies>`;
}

export interface SnapParts extends Partial<Omit<ServiceSnapshot, "collected">> {
  /** The needs that were collected; every need unless given ("service" is always added). */
  needs?: DataNeed[];
}

/** A snapshot of service() (or `parts.service`) with the given children; every need collected unless `needs` says otherwise. */
export function snap(parts: SnapParts = {}): ServiceSnapshot {
  const { needs, service: svc, ...rest } = parts;
  return { ...emptySnapshot(svc ?? service(), needs ?? ALL_NEEDS), ...rest };
}

/** A stub: an offline input held children of the service but not the service itself. */
export function stub(parts: SnapParts = {}): ServiceSnapshot {
  return snap({ service: { id: SERVICE_ID, name: SERVICE_NAME, type: "Microsoft.ApiManagement/service", properties: {} }, serviceKnown: false, ...parts });
}

function pascalKey(k: string): string {
  return k.length > 0 ? (k[0] as string).toUpperCase() + k.slice(1) : k;
}

function pascalDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(pascalDeep);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v as Props).map(([k, x]) => [pascalKey(k), pascalDeep(x)]));
  return v;
}

/**
 * The resource as a PowerShell-style export spells it: every key below the top
 * in PascalCase, and `Properties`, `Sku`, `Identity`, `Tags` at the top
 * (`id`, `name`, `type` stay, as rules read them directly).
 */
export function pascal(r: ArmResource): ArmResource {
  const out: Props = {};
  for (const [k, v] of Object.entries(r)) out[k === "id" || k === "name" || k === "type" ? k : pascalKey(k)] = k === "id" || k === "name" || k === "type" ? v : pascalDeep(v);
  return out as ArmResource;
}
