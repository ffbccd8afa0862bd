import { pick, str } from "../../model/arm.js";
import type { Remediation } from "../types.js";
import { isNotFound, serviceOf } from "./write.js";

/** The remediator's baseline lock name when REMEDIATOR_LOCK_NAME is not set. */
export const DEFAULT_LOCK_NAME = "apim-remediator-baseline";

/**
 * Whether a lock seen on the service before and deleted since is re-created. Locks carry no creator
 * (ARM keeps `level`, `notes` and `owners`, and `owners` is free for anyone to set), so the remediator's own
 * lock is recognised by its name (REMEDIATOR_LOCK_NAME). Re-created: the remediator's own lock, and any
 * CanNotDelete lock (what the rule requires); a ReadOnly (or NotSpecified) lock someone else placed is theirs
 * to remove — it stops every write to the service, so putting it back would undo their decision — and is
 * reported, not re-created, unless REMEDIATOR_RECREATE_FOREIGN_LOCKS is on.
 */
export function recreatesLock(lock: { name: string; level: string }, policy: { lockName?: string; recreateForeignLocks?: boolean }): boolean {
  if (policy.recreateForeignLocks) return true;
  if (lock.name.toLowerCase() === (policy.lockName ?? DEFAULT_LOCK_NAME).toLowerCase()) return true;
  return /^CanNotDelete$/i.test(lock.level);
}

/** "'team-lock' (ReadOnly), 'x' (NotSpecified)" */
export const lockList = (locks: Array<{ name: string; level: string }>): string => locks.map((l) => `'${l.name}' (${l.level})`).join(", ");

interface LockSpec {
  name: string;
  level: string;
  notes?: string;
  owners?: unknown;
}

/**
 * Re-creates locks seen on the service before (exactly as they were; see
 * `recreatesLock` for which), or the configured baseline lock when no lock
 * protects the service. Never deletes or weakens a lock: an existing lock of
 * the same name is left alone.
 */
export const fixResourceLock: Remediation = {
  plan(finding, s, ctx) {
    const present = new Set(s.locks.map((l) => `${l.id}`.toLowerCase()));
    const prefix = `${s.service.id}/providers/Microsoft.Authorization/locks/`;
    const gone = (ctx.lockInventory ?? []).filter((l) => !present.has(`${prefix}${l.name}`.toLowerCase()));
    const missing = gone.filter((l) => recreatesLock(l, ctx.settings));
    const leftOut = gone.filter((l) => !recreatesLock(l, ctx.settings));
    const note = leftOut.length > 0 ? ` (deleted lock ${lockList(leftOut)} is not the remediator's: reported, not re-created)` : "";
    const specs: LockSpec[] = missing.length > 0 ? missing.map((l) => ({ name: l.name, level: l.level, notes: l.notes, owners: l.owners })) : [{ name: ctx.settings.lockName, level: ctx.settings.lockLevel, notes: ctx.settings.lockNotes }];
    if (missing.length === 0 && s.locks.some((l) => /^(CanNotDelete|ReadOnly)$/i.test(str(pick(l, "properties.level")) ?? ""))) {
      return { kind: "blocked", reason: `the service is already protected by a lock${note}` };
    }
    return {
      kind: "plan",
      plan: {
        ruleId: finding.ruleId,
        resourceId: s.service.id,
        targetId: `${prefix}${specs[0]?.name}`,
        operation: "PUT Microsoft.Authorization/locks",
        summary: (missing.length > 0 ? `Re-create deleted lock(s) ${lockList(specs)} on '${s.service.name}'` : `Create baseline ${ctx.settings.lockLevel} lock '${ctx.settings.lockName}' on '${s.service.name}'`) + note,
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
