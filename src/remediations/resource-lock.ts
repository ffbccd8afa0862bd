import { authorizationScope } from "./utils/scope.js";
import { isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";
import { fixResourceLock, lockList, recreatesLock } from "./fixes/lock.js";

export const rule = defineRule(
  {
    id: "resource-lock",
    title: "The service is protected by a resource lock",
    severity: "medium",
    description: "A `CanNotDelete` or `ReadOnly` lock applies to the service, on itself or inherited from its resource group or subscription.",
    rationale: "Deleting an API Management service deletes every API, subscription key and configuration with it; a lock turns a mistaken delete into an error.",
    defaultAction: "auto",
    target: "service",
    references: {
      baseline: "AM-3 / BR-2: Protect critical resources from deletion",
      links: ["https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources"],
    },
    needs: ["locks"],
    fixActions: ["Microsoft.Authorization/locks/read", "Microsoft.Authorization/locks/write"],
  },
  (s, o) => {
    const serviceId = s.service.id.toLowerCase();
    // a lock seen on the service before (the lock inventory) and gone now was deleted: it fails even while an inherited lock protects
    const own = new Set(s.locks.map((l) => l.id.toLowerCase()));
    const gone = (s.lockInventory ?? []).filter((l) => !own.has(`${serviceId}/providers/microsoft.authorization/locks/${l.name.toLowerCase()}`));
    // ... unless it is someone else's ReadOnly lock, which its owner may remove (REMEDIATOR_RECREATE_FOREIGN_LOCKS): reported only
    const recreated = gone.filter((l) => recreatesLock(l, o));
    const leftOut = gone.filter((l) => !recreatesLock(l, o));
    const note = leftOut.length > 0 ? ` Lock ${lockList(leftOut)} seen on '${s.service.name}' before is gone; not re-created: it is not the remediator's and not CanNotDelete (REMEDIATOR_RECREATE_FOREIGN_LOCKS=true re-creates it).` : "";
    if (recreated.length > 0) {
      return [{ resourceId: s.service.id, status: "fail", message: `Lock ${lockList(recreated)} seen on '${s.service.name}' before is gone.${note}` }];
    }
    const applying = s.locks.filter((l) => {
      const scope = authorizationScope(l.id).toLowerCase();
      return scope === "" || serviceId === scope || serviceId.startsWith(scope + "/");
    });
    const levels = applying.map((l) => str(pick(l, "properties.level")) ?? "");
    if (levels.some((l) => /^(CanNotDelete|ReadOnly)$/i.test(l))) {
      const l = applying.find((x) => /^(CanNotDelete|ReadOnly)$/i.test(str(pick(x, "properties.level")) ?? ""));
      return [{ resourceId: s.service.id, status: "pass", message: `Protected by ${str(pick(l, "properties.level"))} lock '${l?.name}' at ${authorizationScope(l?.id ?? "") || "its scope"}.${note}` }];
    }
    if (applying.some((l) => isExpression(pick(l, "properties.level")))) return [{ resourceId: s.service.id, status: "unknown", message: `A lock's level is a template expression.${note}` }];
    return [{ resourceId: s.service.id, status: "fail", message: `No CanNotDelete or ReadOnly lock protects '${s.service.name}'.${note}` }];
  },
);

/** Remediation: re-creates deleted locks exactly as they were (the remediator's own and CanNotDelete ones; others' ReadOnly locks only with REMEDIATOR_RECREATE_FOREIGN_LOCKS), or creates the baseline lock; never deletes or weakens one. */
rule.remediation = fixResourceLock;
