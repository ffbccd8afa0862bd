import { pick, str } from "../../model/arm.js";
import type { Remediation } from "../types.js";
import { isNotFound, serviceOf } from "./write.js";

interface LockSpec {
  name: string;
  level: string;
  notes?: string;
  owners?: unknown;
}

/**
 * Re-creates locks seen on the service before (exactly as they were), or the
 * configured baseline lock when the service never had one. Never deletes or
 * weakens a lock: an existing lock of the same name is left alone.
 */
export const fixResourceLock: Remediation = {
  plan(finding, s, ctx) {
    const present = new Set(s.locks.map((l) => `${l.id}`.toLowerCase()));
    const prefix = `${s.service.id}/providers/Microsoft.Authorization/locks/`;
    const missing = (ctx.lockInventory ?? []).filter((l) => !present.has(`${prefix}${l.name}`.toLowerCase()));
    const specs: LockSpec[] = missing.length > 0 ? missing.map((l) => ({ name: l.name, level: l.level, notes: l.notes, owners: l.owners })) : [{ name: ctx.settings.lockName, level: ctx.settings.lockLevel, notes: ctx.settings.lockNotes }];
    if (missing.length === 0 && s.locks.some((l) => /^(CanNotDelete|ReadOnly)$/i.test(str(pick(l, "properties.level")) ?? ""))) {
      return { kind: "blocked", reason: "the service is already protected by a lock" };
    }
    return {
      kind: "plan",
      plan: {
        ruleId: finding.ruleId,
        resourceId: s.service.id,
        targetId: `${prefix}${specs[0]?.name}`,
        operation: "PUT Microsoft.Authorization/locks",
        summary: missing.length > 0 ? `Re-create deleted lock(s) ${specs.map((x) => `'${x.name}' (${x.level})`).join(", ")} on '${s.service.name}'` : `Create baseline ${ctx.settings.lockLevel} lock '${ctx.settings.lockName}' on '${s.service.name}'`,
        changes: specs.map((x) => ({ path: `locks/${x.name}`, before: null, after: { level: x.level, notes: x.notes ?? null } })),
        payload: { locks: specs },
      },
    };
  },
  async apply(plan, ctx) {
    const ref = serviceOf(plan.resourceId);
    const client = ctx.clients.locks(ref.subscriptionId).managementLocks;
    for (const spec of plan.payload["locks"] as LockSpec[]) {
      try {
        await client.getAtResourceLevel(ref.resourceGroup, "Microsoft.ApiManagement", "", "service", ref.name, spec.name);
        continue; // a lock of that name exists: never overwrite (or weaken) it
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      ctx.write(`PUT lock ${spec.name} on ${plan.resourceId}`);
      await client.createOrUpdateAtResourceLevel(ref.resourceGroup, "Microsoft.ApiManagement", "", "service", ref.name, spec.name, {
        level: spec.level as "CanNotDelete" | "ReadOnly",
        notes: spec.notes,
        ...(Array.isArray(spec.owners) ? { owners: spec.owners as Array<{ applicationId?: string }> } : {}),
      });
    }
  },
};
