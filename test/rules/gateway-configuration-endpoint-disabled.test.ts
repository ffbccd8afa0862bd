import { describe, expect, it } from "vitest";
import type { ArmResource } from "../../src/model/arm.js";
import { DEFAULT_RULE_OPTIONS } from "../../src/remediations/index.js";
import type { RemediationSettings } from "../../src/remediations/types.js";
import { rule } from "../../src/remediations/gateway-configuration-endpoint-disabled.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, tenantAccess, ruleTester } from "../helpers/rule-tester.js";

/** The tenant setting `gatewayAccess` (name as ARM spells it, or as Policy df73bd95 names it: 'gatewayaccess'). */
const gatewayAccess = (enabled: unknown, name = "gatewayAccess"): ArmResource =>
  ({ id: `${SERVICE_ID}/tenant/${name}`, name, type: "Microsoft.ApiManagement/service/tenant", properties: enabled === undefined ? {} : { enabled } }) as ArmResource;
const NEEDS = ["gatewayAccess" as const, "gateways" as const];
/** A self-hosted gateway (ARM shape, as ApiManagementListGateways answers it). */
const gateway = (name: string): ArmResource => ({ id: `${SERVICE_ID}/gateways/${name}`, name, type: "Microsoft.ApiManagement/service/gateways", properties: { locationData: { name: "Datacenter 1" }, description: "on-premises" } });

ruleTester(rule, {
  valid: [
    { name: "Policy df73bd95 (Gateway Configuration): tenant gatewayaccess enabled equals false -> compliant", snapshot: snap({ needs: NEEDS, tenantAccess: [gatewayAccess(false)] }), count: 1, expect: [{ resourceId: "tenant/gatewayAccess", status: "pass" }] },
    { name: "Policy df73bd95: the tenant name is compared case-insensitively ('gatewayaccess')", snapshot: snap({ needs: NEEDS, tenantAccess: [gatewayAccess(false, "gatewayaccess")] }) },
    { name: "Policy df73bd95: enabled \"False\" (PascalCase export)", snapshot: snap({ needs: NEEDS, tenantAccess: [pascal(gatewayAccess("False"))] }) },
    { name: "Policy df73bd95: only the gateway configuration endpoint is judged (access, gitAccess enabled)", snapshot: snap({ needs: NEEDS, tenantAccess: [tenantAccess("access", true), tenantAccess("gitAccess", true), gatewayAccess(false)] }), count: 1 },
    { name: "Policy df73bd95: Premium (the tier self-hosted gateways run on)", snapshot: snap({ service: service({}, sku("Premium")), needs: NEEDS, tenantAccess: [gatewayAccess(false)] }) },
  ],
  invalid: [
    { name: "Policy df73bd95 (Gateway Configuration): tenant gatewayaccess enabled true -> non-compliant", snapshot: snap({ needs: NEEDS, tenantAccess: [gatewayAccess(true)] }), count: 1, expect: [{ resourceId: "tenant/gatewayAccess", status: "fail", message: /self-hosted gateway configuration endpoint of 'apim1' is enabled/ }] },
    { name: "Policy df73bd95: enabled \"True\" in a template named 'apim1/gatewayaccess'", snapshot: snap({ needs: NEEDS, tenantAccess: [gatewayAccess("True", "apim1/gatewayaccess")] }), expect: [{ status: "fail" }] },
    { name: "Policy df73bd95: Basic and Standard are judged as well (only Consumption excluded)", snapshot: snap({ service: service({}, sku("Standard")), needs: NEEDS, tenantAccess: [gatewayAccess(true)] }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "Policy df73bd95: sku.name notEquals Consumption (Consumption excluded)", snapshot: snap({ service: consumption(), needs: NEEDS, tenantAccess: [gatewayAccess(true)] }) },
    // beyond the Policy, which would call a v2 service non-compliant (no tenant resource): v2 has no tenant access at all (400 MethodNotAllowedInPricingTier)
    ...["BasicV2", "StandardV2", "PremiumV2"].map((name) => ({ name: `beyond Policy df73bd95: ${name} has no tenant access, not judged`, snapshot: snap({ service: service({}, sku(name)), needs: ["service"], failed: new Map([["gatewayAccess", "ARM answered 400 MethodNotAllowedInPricingTier"]]) }) })),
    { name: "children-only input (service not in the input)", snapshot: stub({ needs: NEEDS, tenantAccess: [gatewayAccess(true)] }) },
  ],
  unknown: [
    // Policy df73bd95 calls a missing tenant resource non-compliant (AuditIfNotExists); we cannot tell it is on, so unknown
    { name: "beyond Policy df73bd95: no gatewayAccess setting read -> unknown, not a failure", snapshot: snap({ needs: NEEDS, tenantAccess: [] }), expect: [{ resourceId: `${SERVICE_ID}/tenant/gatewayAccess`, status: "unknown", message: /no 'gatewayAccess' setting was read/ }] },
    { name: "enabled is a template expression", snapshot: snap({ needs: NEEDS, tenantAccess: [gatewayAccess(EXPR)] }), expect: [{ status: "unknown", message: /template expression/ }] },
    { name: "gatewayAccess was not collected (offline input without it)", snapshot: snap({ needs: ["tenantAccess"], tenantAccess: [gatewayAccess(true)] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /gatewayAccess/ }] },
  ],
});

describe("gateway-configuration-endpoint-disabled plan", () => {
  const settings = {} as RemediationSettings;
  const failing = (s: ReturnType<typeof snap>) => {
    const f = rule.detect(s, DEFAULT_RULE_OPTIONS).find((x) => x.status === "fail");
    expect(f).toBeDefined();
    return f!;
  };

  it("beyond Policy df73bd95: self-hosted gateways in the snapshot -> blocked beforehand, naming them (nothing planned)", () => {
    const s = snap({ service: service({}, sku("Premium")), needs: NEEDS, tenantAccess: [gatewayAccess(true)], gateways: [gateway("onprem-dc1"), gateway("edge-eu")] });
    expect(rule.remediation?.plan(failing(s), s, { settings })).toEqual({ kind: "blocked", reason: expect.stringMatching(/^the service has self-hosted gateways \('onprem-dc1', 'edge-eu'\) that pull their configuration from this endpoint/) });
  });

  it("many self-hosted gateways are named five at a time", () => {
    const s = snap({ needs: NEEDS, tenantAccess: [gatewayAccess(true)], gateways: ["g1", "g2", "g3", "g4", "g5", "g6", "g7"].map(gateway) });
    expect(rule.remediation?.plan(failing(s), s, { settings })).toEqual({ kind: "blocked", reason: expect.stringContaining("('g1', 'g2', 'g3', 'g4', 'g5' and 2 more)") });
  });

  it("Policy df73bd95: no self-hosted gateway (or only `managed`, the built-in one) -> the plan disables gatewayAccess", () => {
    for (const gateways of [[], [gateway("managed")]]) {
      const s = snap({ needs: NEEDS, tenantAccess: [gatewayAccess(true)], gateways });
      const p = rule.remediation?.plan(failing(s), s, { settings });
      expect(p?.kind).toBe("plan");
      if (p?.kind !== "plan") return;
      expect(p.plan.targetId).toBe(`${SERVICE_ID}/tenant/gatewayAccess`);
      expect(p.plan.changes).toEqual([{ path: "properties.enabled", before: true, after: false }]);
    }
  });
});
