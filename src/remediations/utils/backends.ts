import { pick, str, type ArmResource } from "../../model/arm.js";

/** Service Fabric backends carry a cluster reference instead of a plain URL. */
export function isServiceFabric(b: ArmResource): boolean {
  return pick(b, "properties.properties.serviceFabricCluster") !== undefined || /servicefabric/i.test(str(pick(b, "properties.resourceId")) ?? "");
}

export function hasValue(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.values(v as Record<string, unknown>).some(hasValue);
  return true;
}

export function credentialsOf(b: ArmResource): Record<string, unknown> {
  const c = pick(b, "properties.credentials");
  return c && typeof c === "object" ? (c as Record<string, unknown>) : {};
}

