import { bool, getCI, isExpression, pick, str } from "../../model/arm.js";
import type { ServiceSnapshot } from "../../model/snapshot.js";

export const PREFIX = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.";
const LEGACY_CUTOFF = Date.parse("2018-04-01T23:59:59Z");

/** True when the service was created on or before 2018-04-01 (no createdAtUtc, as in a template, means created now). */
export function isLegacyService(s: ServiceSnapshot): boolean {
  const created = Date.parse(str(pick(s.service, "properties.createdAtUtc")) ?? "");
  return Number.isFinite(created) && created <= LEGACY_CUTOFF;
}

export type KeyState = "enabled" | "disabled" | "unknown";

/**
 * The effective state of a security customProperties key, e.g. `Protocols.Tls10`.
 * `legacyDefault` keys default to enabled only on services created on or before 2018-04-01;
 * other keys default to enabled.
 */
export function keyState(s: ServiceSnapshot, suffix: string, legacyDefault: boolean): KeyState {
  const props = pick(s.service, "properties.customProperties");
  if (isExpression(props)) return "unknown";
  const raw = getCI(props, PREFIX + suffix);
  if (raw === undefined || raw === null || raw === "") return !legacyDefault || isLegacyService(s) ? "enabled" : "disabled";
  if (isExpression(raw)) return "unknown";
  const b = bool(raw);
  return b === undefined ? "unknown" : b ? "enabled" : "disabled";
}
