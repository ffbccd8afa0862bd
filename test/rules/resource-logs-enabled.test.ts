import { describe, expect, it } from "vitest";
import type { ArmResource } from "../../src/model/arm.js";
import { DEFAULT_RULE_OPTIONS } from "../../src/remediations/index.js";
import { rule } from "../../src/remediations/resource-logs-enabled.js";
import type { RemediationSettings } from "../../src/remediations/types.js";
import { EXPR, SERVICE_ID, SUB, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const WS = `/subscriptions/${SUB}/resourceGroups/rg-monitoring/providers/Microsoft.OperationalInsights/workspaces/law-apim`;
const setting = (name: string, props: Record<string, unknown>): ArmResource =>
  ({ id: `${SERVICE_ID}/providers/microsoft.insights/diagnosticSettings/${name}`, name, type: "Microsoft.Insights/diagnosticSettings", properties: { metrics: [], ...props } }) as ArmResource;
/** What Policy 567c93f7 deploys for a category group: an `audit` and an `allLogs` entry, the chosen one enabled. */
const policyDeployed = (group: "audit" | "allLogs", workspaceId: unknown = WS) =>
  setting("setByPolicy-LogAnalytics", { workspaceId, logs: [{ categoryGroup: "audit", enabled: group === "audit" }, { categoryGroup: "allLogs", enabled: group === "allLogs" }] });
const NEEDS = ["diagnosticSettings" as const];

ruleTester(rule, {
  valid: [
    { name: "Policy 567c93f7 (categoryGroup audit, its default): audit enabled, allLogs present and off, workspaceId set", snapshot: snap({ needs: NEEDS, diagnosticSettings: [policyDeployed("audit")] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /'setByPolicy-LogAnalytics' sends .* to Log Analytics workspace 'law-apim'/ }] },
    { name: "Policy 567c93f7 (categoryGroup allLogs): allLogs enabled to the workspace", snapshot: snap({ needs: NEEDS, diagnosticSettings: [policyDeployed("allLogs")] }) },
    { name: "Policy 187242f4: one enabled allLogs entry is enough (no audit entry needed)", snapshot: snap({ needs: NEEDS, diagnosticSettings: [setting("team", { workspaceId: WS, logs: [{ categoryGroup: "allLogs", enabled: true }] })] }) },
    { name: "beyond Policy 187242f4 (requiredLogLevel Audit): the GatewayLogs category itself counts", snapshot: snap({ needs: NEEDS, diagnosticSettings: [setting("legacy", { workspaceId: WS, logs: [{ category: "GatewayLogs", enabled: true }] })] }) },
    { name: "PascalCase export (Properties.WorkspaceId, Logs[].CategoryGroup)", snapshot: snap({ needs: NEEDS, diagnosticSettings: [pascal(policyDeployed("allLogs"))] }) },
    { name: "one good setting among others", snapshot: snap({ needs: NEEDS, diagnosticSettings: [setting("to-storage", { storageAccountId: "/x", logs: [{ categoryGroup: "allLogs", enabled: true }] }), policyDeployed("audit")] }), count: 1 },
    { name: "Consumption sends resource logs too", snapshot: snap({ service: consumption(), needs: NEEDS, diagnosticSettings: [policyDeployed("allLogs")] }) },
  ],
  invalid: [
    { name: "Policy 567c93f7: no diagnostic setting at all -> non-compliant", snapshot: snap({ needs: NEEDS, diagnosticSettings: [] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /reach no Log Analytics workspace: the service has no diagnostic setting/ }] },
    { name: "Policy 187242f4: every log entry disabled -> non-compliant", snapshot: snap({ needs: NEEDS, diagnosticSettings: [setting("off", { workspaceId: WS, logs: [{ categoryGroup: "allLogs", enabled: false }, { categoryGroup: "audit", enabled: false }] })] }), expect: [{ status: "fail", message: /'off' sends no gateway logs/ }] },
    { name: "beyond Policy 187242f4: a setting to Storage or Event Hubs only does not count (no workspace)", snapshot: snap({ needs: NEEDS, diagnosticSettings: [setting("archive", { storageAccountId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1`, logs: [{ categoryGroup: "allLogs", enabled: true }] })] }), expect: [{ status: "fail", message: /'archive' sends them to no Log Analytics workspace/ }] },
    { name: "beyond Policy 187242f4 (requiredLogLevel Any): only metrics, or another category (WebSocketConnectionLogs), do not count", snapshot: snap({ needs: NEEDS, diagnosticSettings: [setting("ws", { workspaceId: WS, logs: [{ category: "WebSocketConnectionLogs", enabled: true }], metrics: [{ category: "AllMetrics", enabled: true }] })] }), expect: [{ status: "fail" }] },
    { name: "a v2 service without a setting", snapshot: snap({ service: service({}, sku("StandardV2")), needs: NEEDS }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [{ name: "children-only input (service not in the input)", snapshot: stub({ needs: NEEDS, diagnosticSettings: [] }) }],
  unknown: [
    { name: "the workspace is a template expression", snapshot: snap({ needs: NEEDS, diagnosticSettings: [policyDeployed("allLogs", EXPR)] }), expect: [{ status: "unknown", message: /template expression/ }] },
    { name: "enabled is a template expression (as in Policy 567c93f7's own deployment template)", snapshot: snap({ needs: NEEDS, diagnosticSettings: [setting("x", { workspaceId: WS, logs: [{ categoryGroup: "allLogs", enabled: "[equals(parameters('categoryGroup'), 'allLogs')]" }] })] }), expect: [{ status: "unknown" }] },
    { name: "diagnostic settings were not collected (an ARM template without them)", snapshot: snap({ needs: ["service"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /diagnosticSettings/ }] },
  ],
});

describe("resource-logs-enabled plan", () => {
  const settings = (workspace?: string) => ({ logAnalyticsWorkspaceId: workspace }) as RemediationSettings;
  const failing = (s: ReturnType<typeof snap>) => {
    const f = rule.detect(s, DEFAULT_RULE_OPTIONS).find((x) => x.status === "fail");
    if (!f) throw new Error("no failing finding");
    return f;
  };

  it("without REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID the fix is blocked: no workspace configured", () => {
    const s = snap({ needs: NEEDS });
    expect(rule.remediation?.plan(failing(s), s, { settings: settings() })).toEqual({ kind: "blocked", reason: expect.stringMatching(/^no workspace configured: set REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID/) });
  });

  it("Policy 567c93f7 (DeployIfNotExists, categoryGroup allLogs): the plan PUTs the setting its deployment would, to the configured workspace", () => {
    const s = snap({ needs: NEEDS });
    const p = rule.remediation?.plan(failing(s), s, { settings: settings(WS) });
    expect(p?.kind).toBe("plan");
    if (p?.kind !== "plan") return;
    expect(p.plan.targetId).toBe(`${SERVICE_ID}/providers/Microsoft.Insights/diagnosticSettings/apim-remediator`);
    expect(p.plan.changes).toEqual([
      {
        path: "diagnosticSettings/apim-remediator",
        before: null,
        after: {
          workspaceId: WS,
          logs: [
            { categoryGroup: "audit", enabled: false },
            { categoryGroup: "allLogs", enabled: true },
          ],
        },
      },
    ]);
  });

  it("with five settings already (Azure's limit) the fix is blocked instead of failing at ARM", () => {
    const five = [1, 2, 3, 4, 5].map((i) => setting(`s${i}`, { storageAccountId: "/x", logs: [{ categoryGroup: "allLogs", enabled: true }] }));
    const s = snap({ needs: NEEDS, diagnosticSettings: five });
    expect(rule.remediation?.plan(failing(s), s, { settings: settings(WS) })).toEqual({ kind: "blocked", reason: expect.stringMatching(/5 diagnostic settings, Azure's limit \(5\)/) });
  });
});
