import { bool, isExpression, leafName, pick } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";
import type { Verdict } from "../types.js";

/** The tenant access settings: the direct management API, the Git configuration repository, the self-hosted gateway configuration endpoint. */
export type TenantAccessName = "access" | "gitAccess" | "gatewayAccess";

/**
 * Verdict for a tenant access setting (`access`, `gitAccess` or `gatewayAccess`) that must be disabled. `absent` says what a
 * snapshot without the setting means: `pass` (off by default) or `unknown` (the setting should have been read).
 */
export function tenantAccessVerdict(s: ServiceSnapshot, accessName: TenantAccessName, what: string, absent: "pass" | "unknown" = "pass"): Verdict[] {
  const setting = s.tenantAccess.find((t) => leafName(t.name).toLowerCase() === accessName.toLowerCase());
  const resourceId = setting?.id ?? `${s.service.id}/tenant/${accessName}`;
  if (!setting && absent === "unknown") return [{ resourceId, status: "unknown", message: `The ${what} state is unknown: no '${accessName}' setting was read.` }];
  if (!setting) return [{ resourceId, status: "pass", message: `The ${what} is not enabled (no '${accessName}' setting; disabled by default).` }];
  const enabled = pick(setting, "properties.enabled");
  if (isExpression(enabled)) return [{ resourceId, status: "unknown", message: `The ${what} is set with a template expression.` }];
  return bool(enabled) === true
    ? [{ resourceId, status: "fail", message: `The ${what} of '${s.service.name}' is enabled.` }]
    : [{ resourceId, status: "pass", message: `The ${what} of '${s.service.name}' is disabled.` }];
}
