/**
 * Azure Monitor diagnostic settings on the service (`{service id}/providers/Microsoft.Insights/diagnosticSettings/{name}`).
 * The write goes through the generic resources client at api-version 2021-05-01-preview, the version Azure
 * Policy 567c93f7's deployment uses: category groups (`categoryGroup: allLogs | audit`) exist from that
 * version on, and @azure/arm-monitor 7's diagnostic settings client (2017-05-01-preview) cannot send them.
 * Diagnostic settings have no ETag, so there is no If-Match: the fix re-reads the setting just before its
 * PUT and writes only its own setting (REMEDIATOR's name), never another one.
 */
import { arr, bool, isExpression, pick, str } from "../../model/arm.js";
import type { ArmResource } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";
import { BlockedError, type Remediation } from "../types.js";
import { isNotFound, serviceOf } from "./write.js";

export const DIAGNOSTIC_SETTINGS_API_VERSION = "2021-05-01-preview";
/** The name of the setting the fix writes (Policy 567c93f7 deploys `setByPolicy-LogAnalytics`). */
export const DIAGNOSTIC_SETTING_NAME = "apim-remediator";
/** "Each resource can have up to five diagnostic settings" (Microsoft Learn, "Diagnostic settings in Azure Monitor"). */
export const MAX_DIAGNOSTIC_SETTINGS = 5;

/**
 * The logs the fix sends: what Policy 567c93f7's deployment writes with `categoryGroup: allLogs` (an `audit`
 * entry disabled and an `allLogs` entry enabled), so that policy, assigned that way, finds it compliant.
 */
export const LOGS_SENT = [
  { categoryGroup: "audit", enabled: false },
  { categoryGroup: "allLogs", enabled: true },
];

/** The log entries of a setting that put the gateway's resource logs in the workspace: category group allLogs or audit, or the GatewayLogs category. */
function gatewayLogEntries(setting: ArmResource): { on: boolean; unresolved: boolean } {
  let on = false;
  let unresolved = false;
  for (const entry of arr(pick(setting, "properties.logs"))) {
    const group = str(pick(entry, "categoryGroup"))?.toLowerCase();
    const category = str(pick(entry, "category"))?.toLowerCase();
    if (group !== "alllogs" && group !== "audit" && category !== "gatewaylogs") continue;
    const enabled = pick(entry, "enabled");
    if (isExpression(enabled)) unresolved = true;
    else if (bool(enabled) === true) on = true;
  }
  return { on, unresolved };
}

export type LogsState = { state: "sent"; setting: ArmResource; workspaceId: string } | { state: "unknown"; why: string } | { state: "missing"; why: string };

/** Whether some diagnostic setting of the service sends its gateway resource logs to a Log Analytics workspace. */
export function resourceLogsState(s: ServiceSnapshot): LogsState {
  let unknown: string | undefined;
  const reasons: string[] = [];
  for (const setting of s.diagnosticSettings) {
    const ws = pick(setting, "properties.workspaceId");
    const logs = gatewayLogEntries(setting);
    if (isExpression(ws)) {
      if (logs.on || logs.unresolved) unknown ??= `diagnostic setting '${setting.name}' names its workspace with a template expression`;
      continue;
    }
    const workspaceId = str(ws);
    if (!workspaceId) {
      if (logs.on) reasons.push(`'${setting.name}' sends them to no Log Analytics workspace`);
      continue;
    }
    if (logs.on) return { state: "sent", setting, workspaceId };
    if (logs.unresolved) unknown ??= `diagnostic setting '${setting.name}' enables its logs with a template expression`;
    else reasons.push(`'${setting.name}' sends no gateway logs (no enabled allLogs or audit category group, nor GatewayLogs) to its workspace`);
  }
  if (unknown) return { state: "unknown", why: unknown };
  if (s.diagnosticSettings.length === 0) return { state: "missing", why: "the service has no diagnostic setting" };
  return { state: "missing", why: reasons.length > 0 ? reasons.join("; ") : "no diagnostic setting sends resource logs" };
}

function settingIdOf(serviceId: string): string {
  return `${serviceId}/providers/Microsoft.Insights/diagnosticSettings/${DIAGNOSTIC_SETTING_NAME}`;
}

/** True when a setting as read from ARM already sends every log (allLogs enabled) to `workspaceId`. */
function sendsAllLogsTo(setting: { properties?: Record<string, unknown> } | undefined, workspaceId: string): boolean {
  if (!setting) return false;
  const ws = str(pick(setting, "properties.workspaceId"));
  const allLogs = arr(pick(setting, "properties.logs")).some((e) => str(pick(e, "categoryGroup"))?.toLowerCase() === "alllogs" && bool(pick(e, "enabled")) === true);
  return allLogs && ws !== undefined && ws.toLowerCase() === workspaceId.toLowerCase();
}

/** Creates (or repairs) the remediator's own diagnostic setting sending every resource log to the configured workspace. */
export const fixResourceLogs: Remediation = {
  plan(finding, s, ctx) {
    const workspaceId = ctx.settings.logAnalyticsWorkspaceId;
    if (!workspaceId) return { kind: "blocked", reason: "no workspace configured: set REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID to the Log Analytics workspace resource logs should go to" };
    const id = settingIdOf(s.service.id);
    const own = s.diagnosticSettings.find((d) => d.name.toLowerCase() === DIAGNOSTIC_SETTING_NAME);
    if (!own && s.diagnosticSettings.length >= MAX_DIAGNOSTIC_SETTINGS) {
      return { kind: "blocked", reason: `the service has ${s.diagnosticSettings.length} diagnostic settings, Azure's limit (${MAX_DIAGNOSTIC_SETTINGS}): change one of them to send its logs to a Log Analytics workspace` };
    }
    const before = own ? { workspaceId: pick(own, "properties.workspaceId") ?? null, logs: pick(own, "properties.logs") ?? [] } : null;
    return {
      kind: "plan",
      plan: {
        ruleId: finding.ruleId,
        resourceId: finding.resourceId,
        targetId: id,
        operation: "PUT Microsoft.Insights/diagnosticSettings",
        summary: `Send the resource logs of '${s.service.name}' (category group allLogs) to Log Analytics workspace '${workspaceId.split("/").pop() ?? workspaceId}' with diagnostic setting '${DIAGNOSTIC_SETTING_NAME}'`,
        changes: [{ path: `diagnosticSettings/${DIAGNOSTIC_SETTING_NAME}`, before, after: { workspaceId, logs: LOGS_SENT } }],
        payload: { workspaceId },
      },
    };
  },
  async apply(plan, ctx) {
    const ref = serviceOf(plan.targetId);
    const workspaceId = String(plan.payload["workspaceId"] ?? "");
    if (!workspaceId) throw new BlockedError("no workspace configured (REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID)");
    const resources = ctx.clients.resources(ref.subscriptionId).resources;
    let current: { properties?: Record<string, unknown> } | undefined;
    try {
      current = (await resources.getById(plan.targetId, DIAGNOSTIC_SETTINGS_API_VERSION)) as { properties?: Record<string, unknown> };
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (sendsAllLogsTo(current, workspaceId)) return;
    ctx.write(`PUT ${plan.targetId} workspaceId=${workspaceId}`);
    // metrics are left out, as Policy 567c93f7 deploys `metrics: []`: platform metrics reach Azure Monitor without a setting
    await resources.beginCreateOrUpdateByIdAndWait(plan.targetId, DIAGNOSTIC_SETTINGS_API_VERSION, { properties: { workspaceId, logs: LOGS_SENT, metrics: [] } }, { updateIntervalInMs: ctx.pollIntervalMs });
  },
};
