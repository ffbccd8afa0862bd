/**
 * Fixes that PATCH the service itself (a long-running operation without If-Match). In Azure such an
 * update runs for a long time ("Depending on the API Management service tier, changes can take 15 to 45
 * minutes or longer to apply": https://learn.microsoft.com/azure/api-management/api-management-howto-manage-protocols-ciphers),
 * longer than a function may run (host.json functionTimeout 10 minutes): the PATCH is started with
 * `beginUpdate` and its poller handed to `ctx.longRunning`, which waits (CLI) or hands off (app);
 * `resume` picks it up from the poller's serialized state later.
 */
import type { ApiManagementServiceUpdateParameters } from "@azure/arm-apimanagement";
import { getCI, pick, str } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";
import type { OperationPoller } from "../../model/rule.js";
import type { ApplyContext, Finding, Plan, PlanResult, Remediation } from "../types.js";
import { PREFIX } from "../utils/custom-properties.js";
import { BusyError, serviceOf } from "./write.js";

async function currentService(plan: Plan, ctx: ApplyContext) {
  const ref = serviceOf(plan.targetId);
  const client = ctx.clients.apim(ref.subscriptionId);
  const svc = await client.apiManagementService.get(ref.resourceGroup, ref.name);
  if (svc.provisioningState && !/^succeeded$/i.test(svc.provisioningState)) throw new BusyError(`service '${ref.name}' is ${svc.provisioningState}`);
  return { ref, client, svc };
}

async function patchService(plan: Plan, ctx: ApplyContext, body: ApiManagementServiceUpdateParameters, what: string): Promise<void> {
  const ref = serviceOf(plan.targetId);
  ctx.write(`PATCH ${plan.targetId} ${what}`);
  // beginUpdate sends the PATCH and polls once; the poller's state (operation URL) can be stored and resumed
  const poller = await ctx.clients.apim(ref.subscriptionId).apiManagementService.beginUpdate(ref.resourceGroup, ref.name, body, { updateIntervalInMs: ctx.pollIntervalMs });
  if (ctx.longRunning) await ctx.longRunning(poller, `service update (${what})`);
  else await poller.pollUntilDone();
}

/** Restores a service update's poller from its serialized state and polls it once (no PATCH is sent again). */
async function resumeServiceUpdate(plan: Plan, state: string, ctx: Pick<ApplyContext, "clients" | "pollIntervalMs">): Promise<OperationPoller> {
  const ref = serviceOf(plan.targetId);
  // with resumeFrom the SDK restores the poller instead of sending the request, then polls once (@azure/core-lro createHttpPoller restoreFrom)
  return ctx.clients.apim(ref.subscriptionId).apiManagementService.beginUpdate(ref.resourceGroup, ref.name, {}, { resumeFrom: state, updateIntervalInMs: ctx.pollIntervalMs });
}

function servicePlan(finding: Finding, s: ServiceSnapshot, summary: string, changes: Plan["changes"], payload: Record<string, unknown> = {}): PlanResult {
  return { kind: "plan", plan: { ruleId: finding.ruleId, resourceId: s.service.id, targetId: s.service.id, operation: "PATCH Microsoft.ApiManagement/service", summary, changes, payload } };
}

export const fixMinApiVersion: Remediation = {
  plan(finding, s, ctx) {
    const before = str(pick(s.service, "properties.apiVersionConstraint.minApiVersion")) ?? null;
    return servicePlan(finding, s, `Set the minimum API version of '${s.service.name}' to ${ctx.settings.minApiVersion}`, [{ path: "properties.apiVersionConstraint.minApiVersion", before, after: ctx.settings.minApiVersion }]);
  },
  async apply(plan, ctx) {
    const { svc } = await currentService(plan, ctx);
    if (svc.apiVersionConstraint?.minApiVersion === ctx.settings.minApiVersion) return;
    await patchService(plan, ctx, { apiVersionConstraint: { minApiVersion: ctx.settings.minApiVersion } }, "apiVersionConstraint");
  },
  resume: resumeServiceUpdate,
};

/** The identity with a system-assigned identity added, user-assigned ones kept. */
export function withSystemIdentity(type: string | undefined, userAssigned: string[]): { type: string; userAssignedIdentities?: Record<string, object> } {
  const hasUser = userAssigned.length > 0 || /UserAssigned/i.test(type ?? "");
  return hasUser ? { type: "SystemAssigned, UserAssigned", userAssignedIdentities: Object.fromEntries(userAssigned.map((u) => [u, {}])) } : { type: "SystemAssigned" };
}

export const fixManagedIdentity: Remediation = {
  plan(finding, s) {
    const before = str(pick(s.service, "identity.type")) ?? "None";
    const users = Object.keys((pick(s.service, "identity.userAssignedIdentities") as Record<string, unknown> | undefined) ?? {});
    const after = withSystemIdentity(before, users).type;
    return servicePlan(finding, s, `Enable a system-assigned identity on '${s.service.name}'`, [{ path: "identity.type", before, after }]);
  },
  async apply(plan, ctx) {
    const { svc } = await currentService(plan, ctx);
    if (/SystemAssigned/i.test(svc.identity?.type ?? "")) return;
    const identity = withSystemIdentity(svc.identity?.type, Object.keys(svc.identity?.userAssignedIdentities ?? {}));
    await patchService(plan, ctx, { identity: identity as ApiManagementServiceUpdateParameters["identity"] }, "identity");
  },
  resume: resumeServiceUpdate,
};

/** Sets security customProperties keys to "False", always sending the full merged map (ARM resets omitted keys). */
export function fixCustomProperties(keys: (ctxKeys: ApplyContext["settings"]) => string[], label: string): Remediation {
  return {
    plan(finding, s, ctx) {
      const current = (pick(s.service, "properties.customProperties") as Record<string, unknown> | undefined) ?? {};
      const changes = keys(ctx.settings).map((k) => ({ path: `properties.customProperties.${PREFIX}${k}`, before: getCI(current, PREFIX + k) ?? null, after: "False" }));
      return servicePlan(finding, s, `Disable ${label} on '${s.service.name}' (sending the full customProperties map)`, changes.filter((c) => String(c.before).toLowerCase() !== "false"));
    },
    async apply(plan, ctx) {
      const { svc } = await currentService(plan, ctx);
      const current = { ...(svc.customProperties ?? {}) };
      const merged: Record<string, string> = {};
      for (const [k, v] of Object.entries(current)) merged[k] = String(v);
      let changed = false;
      for (const k of keys(ctx.settings)) {
        const existing = Object.keys(merged).find((x) => x.toLowerCase() === (PREFIX + k).toLowerCase());
        if (existing && merged[existing]?.toLowerCase() === "false") continue;
        if (existing) delete merged[existing];
        merged[PREFIX + k] = "False";
        changed = true;
      }
      if (!changed) return;
      await patchService(plan, ctx, { customProperties: merged }, "customProperties");
    },
    resume: resumeServiceUpdate,
  };
}
