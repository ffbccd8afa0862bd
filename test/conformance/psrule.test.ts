/**
 * Conformance with PSRule for Azure on PSRule's own APIM test resources
 * (test/fixtures/conformance/psrule-apim, copied from PSRule for Azure: `Resources.APIM.json`, a
 * PowerShell-style export, and `expected-verdicts.json`, PSRule's expected
 * verdict per target and rule).
 *
 * Our findings are per child resource; PSRule's targets are the exported
 * entries. A service target (apim-X) fails if any of our findings for the
 * service or its children fails, passes if it has findings and none fails, and
 * is None without findings. A standalone child target (namedvalue-A,
 * api-policy-A, policy-A) takes the finding whose resourceId is that resource.
 *
 * Where we agree the test asserts it; every difference is listed in
 * DIFFERENCES with its reason (docs/rules/README.md, "Differences from PSRule
 * for Azure"), and the test asserts exactly that list, so a new, unexplained
 * difference fails it.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { snapshotsFromFiles } from "../../src/engine/offline.js";
import { detect } from "../../src/engine/scan.js";
import { DEFAULT_RULE_OPTIONS, selectRules, type Finding } from "../../src/remediations/index.js";

const DIR = path.join(process.cwd(), "test", "fixtures", "conformance", "psrule-apim");
const RESOURCES = path.join(DIR, "Resources.APIM.json");

type PSVerdict = "Pass" | "Fail" | "None";
type OurVerdict = PSVerdict | "Unknown";

/** PSRule rule -> our rule. */
const RULE_MAP = {
  "Azure.APIM.HTTPEndpoint": "api-https-only",
  "Azure.APIM.EncryptValues": "named-value-secrets-in-key-vault",
  "Azure.APIM.Protocols": "gateway-tls-protocols",
  "Azure.APIM.ManagedIdentity": "managed-identity",
  "Azure.APIM.HTTPBackend": "backend-https",
  "Azure.APIM.MinAPIVersion": "min-api-version",
  "Azure.APIM.PolicyBase": "policy-base-inheritance",
  "Azure.APIM.CORSPolicy": "cors-no-wildcard",
  "Azure.APIM.ProductSubscription": "product-subscription-required",
  "Azure.APIM.ProductApproval": "product-approval-required",
  "Azure.APIM.SampleProducts": "sample-products-removed",
} as const;
type PSRuleName = keyof typeof RULE_MAP;

/** PSRule's default for Azure.APIM.MinAPIVersion (AZURE_APIM_MIN_API_VERSION). */
const OPTIONS = { ...DEFAULT_RULE_OPTIONS, minApiVersion: "2021-08-01" };

// ---- the differences, each with its reason -------------------------------------------

const EMPTY_PASSES =
  "PSRule passes a service that has none of the children the rule inspects (an empty list passes); we report one finding per child, so a service without APIs, backends or named values has no finding.";
const NESTED_BY_POSITION =
  "The fixture nests two APIs under apim-D whose ResourceIds are apim-A's (.../service/apim-A/apis/api-A and api-B, a copy-paste in PSRule's data). PSRule judges children by where they are nested; we place every resource by its id, so they count (once) for apim-A, which fails on them too, and apim-D has no APIs.";
const GROUPED_BY_ID =
  "PSRule judges a service only by the children nested in its own export entry; these children are exported as separate top-level entries. We group resources by id, so they count for their service (apim-O: the inline secret namedvalue-B; apim-P: api-policy-E without <base/> in on-error).";
const SECRETS_ONLY =
  "PSRule's EncryptValues wants every named value in Key Vault; we follow Azure Policy f1cc7827 and judge only secret named values. This one has secret: false (nothing to protect), so we report nothing.";
const ONE_POLICY_PER_API =
  "ARM holds one policy per API, always named 'policy'. The fixture attaches several differently named policies to one API (apim-C api-B: api-policy-A, B, C; apim-P api-A: api-policy-A, B, C, E). Like ARM, our snapshot keeps one policy per API, the last one listed (api-policy-C, api-policy-E), so the others get no finding, and apim-C passes on api-policy-C alone.";

const NO_PRODUCTS =
  "PSRule passes a service without products (an empty list passes); product-subscription-required and product-approval-required report one finding per product, so a service without products has no finding.";
const EVERY_POLICY_JUDGED =
  "PSRule judges only policies that hold a <cors> element (its -If); cors-no-wildcard reports on every policy it reads, and a policy without <cors> allows no wildcard, so it passes (apim-P's api-A keeps api-policy-E, one policy per API as ARM).";
const POLICIES_GROUPED_BY_ID =
  "PSRule judges a service only by the children nested in its own export entry; the service policies policy-A (apim-F, <origin>*</origin>) and policy-B (apim-G, exact values) are exported as separate top-level entries. We group resources by id, so each counts for its service; the policy targets themselves agree.";
const SERVICES_WITHOUT_PRODUCTS = ["apim-D", "apim-E", "apim-F", "apim-G", "apim-H", "apim-I", "apim-J", "apim-K", "apim-L", "apim-M", "apim-N", "apim-O", "apim-P"];

type Difference = [target: string, rule: PSRuleName, psrule: PSVerdict, ours: OurVerdict, reason: string];

const DIFFERENCES: Difference[] = [
  ["apim-D", "Azure.APIM.HTTPEndpoint", "Fail", "None", NESTED_BY_POSITION],
  ["apim-D", "Azure.APIM.HTTPBackend", "Fail", "None", NESTED_BY_POSITION],

  ["apim-O", "Azure.APIM.EncryptValues", "Pass", "Fail", GROUPED_BY_ID],
  ["apim-P", "Azure.APIM.PolicyBase", "None", "Fail", GROUPED_BY_ID],

  ["apim-A", "Azure.APIM.EncryptValues", "Fail", "None", SECRETS_ONLY],
  ["namedvalue-A", "Azure.APIM.EncryptValues", "Fail", "None", SECRETS_ONLY],

  ["apim-C", "Azure.APIM.PolicyBase", "Fail", "Pass", ONE_POLICY_PER_API],
  ["api-policy-A", "Azure.APIM.PolicyBase", "Fail", "None", ONE_POLICY_PER_API],
  ["api-policy-B", "Azure.APIM.PolicyBase", "Fail", "None", ONE_POLICY_PER_API],
  ["api-policy-C", "Azure.APIM.PolicyBase", "Pass", "None", ONE_POLICY_PER_API],

  ["apim-E", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-F", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-G", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-H", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-I", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-J", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-K", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-L", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-M", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-N", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-O", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],
  ["apim-P", "Azure.APIM.HTTPEndpoint", "Pass", "None", EMPTY_PASSES],

  ["apim-E", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-F", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-G", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-H", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-I", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-J", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-K", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-L", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-M", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-N", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-O", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],
  ["apim-P", "Azure.APIM.HTTPBackend", "Pass", "None", EMPTY_PASSES],

  ["apim-D", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-E", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-F", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-G", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-H", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-I", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-J", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-K", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-L", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-M", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-N", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],
  ["apim-P", "Azure.APIM.EncryptValues", "Pass", "None", EMPTY_PASSES],

  ["apim-F", "Azure.APIM.CORSPolicy", "None", "Fail", POLICIES_GROUPED_BY_ID],
  ["apim-G", "Azure.APIM.CORSPolicy", "None", "Pass", POLICIES_GROUPED_BY_ID],
  ["apim-P", "Azure.APIM.CORSPolicy", "None", "Pass", EVERY_POLICY_JUDGED],
  ["api-policy-E", "Azure.APIM.CORSPolicy", "None", "Pass", EVERY_POLICY_JUDGED],

  ...SERVICES_WITHOUT_PRODUCTS.map((t): Difference => [t, "Azure.APIM.ProductSubscription", "Pass", "None", NO_PRODUCTS]),
  ...SERVICES_WITHOUT_PRODUCTS.map((t): Difference => [t, "Azure.APIM.ProductApproval", "Pass", "None", NO_PRODUCTS]),
];

// ---- inputs ----------------------------------------------------------------------------

interface Expected {
  targets: string[];
  rules: Record<string, { verdicts: Record<string, PSVerdict> }>;
}

interface ExportedEntry {
  Name: string;
  ResourceId: string;
  ResourceType: string;
}

const expected = JSON.parse(readFileSync(path.join(DIR, "expected-verdicts.json"), "utf8")) as Expected;
const exported = JSON.parse(readFileSync(RESOURCES, "utf8")) as ExportedEntry[];

function ourVerdict(findings: Finding[], ruleId: string, entry: ExportedEntry): OurVerdict {
  const id = entry.ResourceId.toLowerCase();
  const isService = /^Microsoft\.ApiManagement\/service$/i.test(entry.ResourceType);
  const mine = findings.filter((f) => {
    if (f.ruleId !== ruleId) return false;
    const fid = f.resourceId.toLowerCase();
    return isService ? fid === id || fid.startsWith(`${id}/`) : fid === id;
  });
  if (mine.length === 0) return "None";
  if (mine.some((f) => f.status === "fail")) return "Fail";
  return mine.every((f) => f.status === "pass") ? "Pass" : "Unknown";
}

describe("conformance with PSRule for Azure (APIM test resources)", () => {
  const ourRules = selectRules(Object.values(RULE_MAP));
  const findings = detect(snapshotsFromFiles([RESOURCES]), ourRules, OPTIONS);
  const entries = new Map(exported.map((e) => [e.Name, e]));

  const comparisons = Object.entries(RULE_MAP).flatMap(([ps, ours]) =>
    expected.targets.map((target) => {
      const entry = entries.get(target);
      if (!entry) throw new Error(`target ${target} is not in Resources.APIM.json`);
      const psrule = expected.rules[ps]?.verdicts[target];
      if (!psrule) throw new Error(`expected-verdicts.json has no ${ps} verdict for ${target}`);
      return { target, rule: ps as PSRuleName, psrule, ours: ourVerdict(findings, ours, entry) };
    }),
  );

  it("reads the fixture: every PSRule target is an exported entry and every mapped rule has verdicts", () => {
    expect(expected.targets).toHaveLength(25);
    expect(exported.map((e) => e.Name)).toEqual(expected.targets);
    for (const ps of Object.keys(RULE_MAP)) expect(Object.keys(expected.rules[ps]?.verdicts ?? {}).sort()).toEqual([...expected.targets].sort());
    expect(comparisons).toHaveLength(Object.keys(RULE_MAP).length * expected.targets.length);
  });

  it("maps each PSRule rule to the rule that names it in its references", () => {
    for (const [ps, ours] of Object.entries(RULE_MAP)) expect(selectRules([ours])[0]?.meta.references.psrule).toBe(ps);
  });

  it("never answers unknown on PSRule's resources (all values are literal)", () => {
    expect(findings.filter((f) => f.status === "unknown")).toEqual([]);
  });

  it("differs from PSRule exactly where DIFFERENCES says, for the reason it gives", () => {
    const actual = comparisons.filter((c) => c.psrule !== c.ours).map((c) => `${c.target} ${c.rule}: psrule ${c.psrule}, ours ${c.ours}`);
    const listed = DIFFERENCES.map(([target, rule, psrule, ours]) => `${target} ${rule}: psrule ${psrule}, ours ${ours}`);
    expect(new Set(listed).size).toBe(listed.length);
    expect(actual.sort()).toEqual([...listed].sort());
    for (const d of DIFFERENCES) expect(d[4].length).toBeGreaterThan(40);
  });

  it.each(Object.keys(RULE_MAP) as PSRuleName[])("agrees with PSRule on %s everywhere else", (ps) => {
    const explained = new Set(DIFFERENCES.filter((d) => d[1] === ps).map((d) => d[0]));
    const agreed = comparisons.filter((c) => c.rule === ps && !explained.has(c.target));
    for (const c of agreed) expect({ target: c.target, verdict: c.ours }).toEqual({ target: c.target, verdict: c.psrule });
    // each rule agrees on at least one decided verdict, not only on None
    expect(agreed.some((c) => c.psrule !== "None")).toBe(true);
  });

  it("agrees on the failures that matter", () => {
    const verdict = (target: string, ps: PSRuleName) => comparisons.find((c) => c.target === target && c.rule === ps)?.ours;
    expect(verdict("apim-A", "Azure.APIM.HTTPEndpoint")).toBe("Fail"); // api-B accepts http
    expect(verdict("apim-A", "Azure.APIM.HTTPBackend")).toBe("Fail"); // endpoint-B and api-B's serviceUrl use http://
    expect(verdict("apim-A", "Azure.APIM.Protocols")).toBe("Fail"); // SSL 3.0 enabled
    expect(verdict("apim-B", "Azure.APIM.ManagedIdentity")).toBe("Fail");
    expect(verdict("apim-B", "Azure.APIM.EncryptValues")).toBe("Fail"); // namedvalue-B is an inline secret
    expect(verdict("namedvalue-B", "Azure.APIM.EncryptValues")).toBe("Fail");
    expect(verdict("namedvalue-C", "Azure.APIM.EncryptValues")).toBe("Pass"); // Key Vault reference, `secret` not spelled out
    expect(verdict("apim-C", "Azure.APIM.MinAPIVersion")).toBe("Fail"); // 2021-04-01-preview < 2021-08-01
    expect(verdict("apim-D", "Azure.APIM.MinAPIVersion")).toBe("Pass"); // 2021-12-01-preview
    expect(verdict("apim-B", "Azure.APIM.PolicyBase")).toBe("Fail");
    expect(verdict("api-policy-E", "Azure.APIM.PolicyBase")).toBe("Fail"); // no <base/> in on-error
    expect(verdict("policy-A", "Azure.APIM.PolicyBase")).toBe("None"); // service-scope policies have no parent
    expect(verdict("apim-C", "Azure.APIM.CORSPolicy")).toBe("Fail"); // <origin>*</origin> with allow-credentials
    expect(verdict("apim-B", "Azure.APIM.CORSPolicy")).toBe("Fail"); // exact origin, but <method>* and <header>*
    expect(verdict("apim-E", "Azure.APIM.CORSPolicy")).toBe("Pass"); // exact origins, methods and headers
    expect(verdict("policy-A", "Azure.APIM.CORSPolicy")).toBe("Fail");
    expect(verdict("policy-B", "Azure.APIM.CORSPolicy")).toBe("Pass");
    expect(verdict("apim-A", "Azure.APIM.CORSPolicy")).toBe("None"); // no policy at all
    expect(verdict("apim-B", "Azure.APIM.ProductSubscription")).toBe("Fail"); // product-B is open (and not published)
    expect(verdict("apim-A", "Azure.APIM.ProductSubscription")).toBe("Pass");
    expect(verdict("apim-A", "Azure.APIM.ProductApproval")).toBe("Fail"); // starter approves automatically (not published)
    expect(verdict("apim-B", "Azure.APIM.ProductApproval")).toBe("Pass"); // product-B is open: approval not judged
    expect(verdict("apim-A", "Azure.APIM.SampleProducts")).toBe("Fail"); // starter and unlimited
    expect(verdict("apim-B", "Azure.APIM.SampleProducts")).toBe("Pass");
    expect(verdict("apim-P", "Azure.APIM.SampleProducts")).toBe("Pass"); // no products: the service passes, as PSRule
  });
});
