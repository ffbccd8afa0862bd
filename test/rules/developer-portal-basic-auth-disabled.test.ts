import { describe, expect, it } from "vitest";
import type { ArmResource } from "../../src/model/arm.js";
import { DEFAULT_RULE_OPTIONS } from "../../src/remediations/index.js";
import { rule } from "../../src/remediations/developer-portal-basic-auth-disabled.js";
import type { RemediationSettings } from "../../src/remediations/types.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const portalConfig = (props: Record<string, unknown>, name = "default"): ArmResource =>
  ({ id: `${SERVICE_ID}/portalconfigs/${name}`, name, type: "Microsoft.ApiManagement/service/portalconfigs", properties: { signin: { require: false }, ...props } }) as ArmResource;
const identityProvider = (type: string): ArmResource => ({ id: `${SERVICE_ID}/identityProviders/${type}`, name: type, type: "Microsoft.ApiManagement/service/identityProviders", properties: { type, clientId: "00000000-0000-4000-8000-00000000000a" } }) as ArmResource;
const NEEDS = ["portalConfigs" as const, "identityProviders" as const];
const AAD = [identityProvider("aad")];

ruleTester(rule, {
  valid: [
    { name: "Policy ffe25541: enableBasicAuth equals false -> compliant", snapshot: snap({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: false })], identityProviders: AAD }), count: 1, expect: [{ resourceId: "portalconfigs/default", status: "pass" }] },
    { name: "Policy 1b0d74ac: enableBasicAuth \"false\" (a string) is what the Modify sets", snapshot: snap({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: "false" })], identityProviders: AAD }) },
    { name: "Policy ffe25541: PascalCase export Properties.EnableBasicAuth False", snapshot: snap({ needs: NEEDS, portalConfigs: [pascal(portalConfig({ enableBasicAuth: false }))], identityProviders: AAD }) },
    { name: "Policy ffe25541: judged on the v2 tiers too (they have a developer portal)", snapshot: snap({ service: service({}, sku("StandardV2")), needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: false })], identityProviders: AAD }) },
  ],
  invalid: [
    { name: "Policy ffe25541: enableBasicAuth true -> non-compliant", snapshot: snap({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: true })], identityProviders: AAD }), count: 1, expect: [{ resourceId: "portalconfigs/default", status: "fail", message: /enabled in portal configuration 'default' of 'apim1' \(identity providers: aad\)/ }] },
    { name: "Policy ffe25541: enableBasicAuth absent -> notEquals false -> non-compliant", snapshot: snap({ needs: NEEDS, portalConfigs: [portalConfig({})], identityProviders: AAD }), expect: [{ status: "fail", message: /enableBasicAuth not set/ }] },
    { name: "Policy ffe25541: each portal configuration is judged", snapshot: snap({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: false }), portalConfig({ enableBasicAuth: "True" }, "second")], identityProviders: AAD }), count: 2, expect: [{ resourceId: "portalconfigs/default", status: "pass" }, { resourceId: "portalconfigs/second", status: "fail" }] },
    { name: "beyond Policy ffe25541: the finding says when no identity provider is configured", snapshot: snap({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: true })] }), expect: [{ status: "fail", message: /no identity provider is configured: add Microsoft Entra ID or Azure AD B2C/ }] },
  ],
  notApplicable: [
    { name: "Consumption has no developer portal", snapshot: snap({ service: consumption(), needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: true })] }) },
    { name: "children-only input (service not in the input)", snapshot: stub({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: true })] }) },
  ],
  unknown: [
    { name: "enableBasicAuth is a template expression", snapshot: snap({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: EXPR })], identityProviders: AAD }), expect: [{ resourceId: "portalconfigs/default", status: "unknown", message: /template expression/ }] },
    { name: "no portal configuration read (Policy ffe25541 has nothing to judge)", snapshot: snap({ needs: NEEDS }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /No developer portal configuration was read/ }] },
    { name: "portal configurations were not collected", snapshot: snap({ needs: ["identityProviders"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /portalConfigs/ }] },
  ],
});

describe("developer-portal-basic-auth-disabled plan", () => {
  const settings = {} as RemediationSettings;
  const finding = (s: ReturnType<typeof snap>) => rule.detect(s, DEFAULT_RULE_OPTIONS).find((f) => f.status === "fail");

  it("beyond Policy 1b0d74ac: with no identity provider the fix is blocked (it would lock every developer out)", () => {
    const s = snap({ needs: NEEDS, portalConfigs: [portalConfig({ enableBasicAuth: true })] });
    const f = finding(s);
    expect(f).toBeDefined();
    const p = rule.remediation?.plan(f!, s, { settings });
    expect(p).toEqual({ kind: "blocked", reason: expect.stringMatching(/^no other sign-in method is configured .*would lock every developer out of the developer portal/) });
  });

  it("Policy 1b0d74ac: with an Entra ID provider the plan sets enableBasicAuth to false, nothing else", () => {
    const s = snap({ needs: NEEDS, portalConfigs: [portalConfig({})], identityProviders: [identityProvider("aadB2C")] });
    const p = rule.remediation?.plan(finding(s)!, s, { settings });
    expect(p?.kind).toBe("plan");
    if (p?.kind !== "plan") return;
    expect(p.plan.targetId).toBe(`${SERVICE_ID}/portalconfigs/default`);
    expect(p.plan.changes).toEqual([{ path: "properties.enableBasicAuth", before: null, after: false }]);
    expect(p.plan.summary).toMatch(/keep signing in with aadB2C/);
  });
});
