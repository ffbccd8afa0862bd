import { defineRule } from "./types.js";
import { fixResourceLogs, resourceLogsState } from "./fixes/diagnostic-settings.js";

export const rule = defineRule(
  {
    id: "resource-logs-enabled",
    title: "Resource logs are sent to a Log Analytics workspace",
    severity: "medium",
    description: "A diagnostic setting of the service sends its resource logs (category group `allLogs` or `audit`, or the `GatewayLogs` category, enabled) to a Log Analytics workspace.",
    rationale: "Without resource logs there is no record of who called which API, from where, with what result: attacks and misuse cannot be detected or investigated.",
    defaultAction: "auto",
    target: "service",
    references: {
      // the Log Analytics member of the "Enable logging by category group" family (Event Hub 3a8ff864, Storage 6f3f5778)
      azurePolicy: "567c93f7-3661-494f-a30f-0a94d9bfebf8",
      baseline: "LT-3: Enable logging for security investigation",
      links: ["https://learn.microsoft.com/azure/api-management/monitor-api-management", "https://learn.microsoft.com/azure/azure-monitor/essentials/diagnostic-settings"],
    },
    needs: ["diagnosticSettings"],
    // the workspace permissions are needed on the workspace (Microsoft Learn, "Manage access to Log Analytics workspaces":
    // workspaces/read and workspaces/sharedKeys/action let a user "use it as a destination for diagnostic settings")
    fixActions: ["Microsoft.Insights/diagnosticSettings/read", "Microsoft.Insights/diagnosticSettings/write", "Microsoft.OperationalInsights/workspaces/read", "Microsoft.OperationalInsights/workspaces/sharedKeys/action"],
    // every tier has resource logs (Microsoft Learn, "Monitor API Management": APPLIES TO all tiers)
  },
  (s) => {
    const r = resourceLogsState(s);
    if (r.state === "sent") return [{ resourceId: s.service.id, status: "pass", message: `Diagnostic setting '${r.setting.name}' sends the resource logs of '${s.service.name}' to Log Analytics workspace '${r.workspaceId.split("/").pop() ?? r.workspaceId}'.` }];
    if (r.state === "unknown") return [{ resourceId: s.service.id, status: "unknown", message: `Resource logs cannot be judged: ${r.why}.` }];
    return [{ resourceId: s.service.id, status: "fail", message: `The resource logs of '${s.service.name}' reach no Log Analytics workspace: ${r.why}.` }];
  },
);

/** Remediation: PUTs diagnostic setting `apim-remediator` (allLogs) to REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID; blocked (a ticket) without it. */
rule.remediation = fixResourceLogs;
