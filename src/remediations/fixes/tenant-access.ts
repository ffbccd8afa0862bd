import type { ServiceRef } from "../../model/arm.js";
import { BlockedError, type ApplyContext, type Remediation } from "../types.js";
import type { TenantAccessName } from "../utils/tenant.js";
import { serviceOf } from "./write.js";

/**
 * A check run by apply just before the write, against the live service: a reason the change would break
 * something (the fix is then not remediable, nothing written), or undefined to go ahead.
 */
export type TenantAccessGuard = (ref: ServiceRef, ctx: ApplyContext) => Promise<string | undefined>;

/** Disables a tenant access setting (`access`, `gitAccess` or `gatewayAccess`) with If-Match; `guard` may refuse first. */
export function fixTenantAccess(accessName: TenantAccessName, guard?: TenantAccessGuard): Remediation {
  return {
    plan(finding, snapshot) {
      return {
        kind: "plan",
        plan: {
          ruleId: finding.ruleId,
          resourceId: finding.resourceId,
          targetId: `${snapshot.service.id}/tenant/${accessName}`,
          operation: "PATCH Microsoft.ApiManagement/service/tenant",
          summary: `Disable tenant access '${accessName}' of '${snapshot.service.name}'`,
          changes: [{ path: "properties.enabled", before: true, after: false }],
          payload: { accessName },
        },
      };
    },
    async apply(plan, ctx) {
      const ref = serviceOf(plan.targetId);
      const client = ctx.clients.apim(ref.subscriptionId);
      const current = await client.tenantAccess.get(ref.resourceGroup, ref.name, accessName);
      if (current.enabled !== true) return;
      const refused = guard ? await guard(ref, ctx) : undefined;
      if (refused !== undefined) throw new BlockedError(refused);
      ctx.write(`PATCH ${plan.targetId} enabled=false`);
      await client.tenantAccess.update(ref.resourceGroup, ref.name, accessName, current.eTag as string, { enabled: false });
    },
  };
}
