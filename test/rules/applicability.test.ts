/**
 * The SKU applicability table in docs/rules/README.md is what the rules do: for every rule and
 * every tier, the rule returns no finding on a service of a tier the table marks "—" (whatever the
 * service holds, even when a collection it needs could not be read) and is evaluated on the others.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_RULE_OPTIONS, RULES } from "../../src/remediations/index.js";
import { ALL_NEEDS, api, backend, namedValue, policy, policyXml, product, SERVICE_ID, service, sku, snap, subscription, tenantAccess } from "../helpers/rule-tester.js";

const README = readFileSync(join(process.cwd(), "docs/rules/README.md"), "utf8");

/** The table's rows: rule id -> tier -> applies. */
function table(): { tiers: string[]; rows: Map<string, Map<string, boolean>> } {
  const section = README.split("## SKU applicability")[1]?.split("\n## ")[0] ?? "";
  // the first table of the section
  const all = section.split("\n");
  const start = all.findIndex((l) => l.startsWith("|"));
  const end = all.findIndex((l, i) => i > start && !l.startsWith("|"));
  const lines = all.slice(start, end);
  const header = (lines[0] ?? "").split("|").map((c) => c.trim());
  const tiers = header.slice(2, header.indexOf("why not"));
  const rows = new Map<string, Map<string, boolean>>();
  for (const line of lines.slice(2)) {
    const cells = line.split("|").map((c) => c.trim());
    const id = (cells[1] ?? "").replace(/`/g, "");
    rows.set(id, new Map(tiers.map((t, i) => [t, cells[i + 2] === "✔"])));
  }
  return { tiers, rows };
}

/** A service of this tier holding one of everything, with tenant settings, and every collection read. */
function full(tier: string) {
  return snap({
    service: service({ platformVersion: "stv1" }, sku(tier)),
    apis: [api("echo", { protocols: ["http"] })],
    namedValues: [namedValue("nv", { secret: true, value: "x" })],
    backends: [backend("b", { url: "http://b.example" })],
    subscriptions: [subscription("all", { scope: "/apis" })],
    products: [product("p")],
    tenantAccess: [tenantAccess("access", true), tenantAccess("gitAccess", true)],
    apiPolicies: { echo: policy(policyXml({ base: false }), `${SERVICE_ID}/apis/echo`) },
    defender: { planEnabled: false, onboardedApis: [] },
    requestsByApi: {},
  });
}

describe("SKU applicability (docs/rules/README.md)", () => {
  const { tiers, rows } = table();

  it("lists every rule and the nine tiers", () => {
    expect([...rows.keys()].sort()).toEqual(RULES.map((r) => r.meta.id).sort());
    expect(tiers).toEqual(["Consumption", "Developer", "Basic", "Standard", "Premium", "Isolated", "BasicV2", "StandardV2", "PremiumV2"]);
  });

  for (const rule of RULES) {
    it(`${rule.meta.id}: notApplicableSkus is the table's row, and detect follows it`, () => {
      const row = rows.get(rule.meta.id) as Map<string, boolean>;
      const notApplicable = tiers.filter((t) => row.get(t) === false);
      expect((rule.meta.notApplicableSkus ?? []).map((s) => s.toLowerCase()).sort()).toEqual(notApplicable.map((s) => s.toLowerCase()).sort());
      for (const tier of tiers) {
        const findings = rule.detect(full(tier), DEFAULT_RULE_OPTIONS);
        if (row.get(tier)) expect(findings.length, `${rule.meta.id} on ${tier}`).toBeGreaterThan(0);
        else expect(findings, `${rule.meta.id} on ${tier}`).toEqual([]);
        // what a tier lacks cannot be read there: a rule that does not apply stays silent, one that does answers unknown
        const failed = snap({ service: service({}, sku(tier)), needs: ["service"], failed: new Map(ALL_NEEDS.filter((n) => n !== "service").map((n) => [n, "ARM answered 400 MethodNotAllowedInPricingTier"])) });
        const onFailure = rule.detect(failed, DEFAULT_RULE_OPTIONS);
        if (!row.get(tier)) expect(onFailure).toEqual([]);
        else if (rule.meta.needs.some((n) => n !== "service")) expect(onFailure).toEqual([expect.objectContaining({ status: "unknown", message: expect.stringMatching(/^Not evaluated: the \w+ data could not be read: ARM answered 400 MethodNotAllowedInPricingTier/) })]);
      }
    });
  }
});

describe("the v2 tiers (Learn: Azure API Management v2 tiers; manage protocols and ciphers; virtual network concepts)", () => {
  const rule = (id: string) => RULES.find((r) => r.meta.id === id) as (typeof RULES)[number];
  for (const tier of ["BasicV2", "StandardV2", "PremiumV2"]) {
    it(`${tier}: cipher settings, tenant access, Git and stv1 do not exist there; protocol settings do`, () => {
      const s = full(tier);
      for (const id of ["gateway-weak-ciphers", "direct-management-endpoint-disabled", "git-configuration-endpoint-disabled", "platform-stv2"]) expect(rule(id).detect(s, DEFAULT_RULE_OPTIONS), `${id} on ${tier}`).toEqual([]);
      expect(rule("gateway-tls-protocols").detect(snap({ service: service({ customProperties: { "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10": "True" } }, sku(tier)) }), DEFAULT_RULE_OPTIONS)).toEqual([expect.objectContaining({ status: "fail" })]);
    });
  }
  for (const tier of ["StandardV2", "PremiumV2"]) {
    it(`${tier}: outbound virtual network integration (External) leaves the gateway public, so network-isolation fails`, () => {
      const s = snap({ service: service({ virtualNetworkType: "External", virtualNetworkConfiguration: { subnetResourceId: `${SERVICE_ID}-vnet/subnets/apim` } }, sku(tier)) });
      expect(rule("network-isolation").detect(s, DEFAULT_RULE_OPTIONS)).toEqual([expect.objectContaining({ status: "fail", message: expect.stringMatching(/outbound calls only/) })]);
    });
  }
});
