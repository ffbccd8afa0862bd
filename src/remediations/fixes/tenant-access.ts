import type { Remediation } from "../types.js";
import { serviceOf } from "./write.js";

/** Disables a tenant access setting (`access` or `gitAccess`) with If-Match. */
export function fixTenantAccess(accessName: "access" | "gitAccess"): Remediation {
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
      ctx.write(`PATCH ${plan.targetId} enabled=false`);
      await client.tenantAccess.update(ref.resourceGroup, ref.name, accessName, current.eTag as string, { enabled: false });
    },
  };
}
