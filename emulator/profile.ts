/**
 * How long Azure takes for the things the emulator models, per profile, and
 * the time scale that compresses them: real milliseconds = modelled
 * milliseconds × timeScale (0.001 turns Azure's minutes into the emulator's
 * tenths of a second).
 *
 * - `default` (tests, the fault suite, the demo): everything takes effect at
 *   once, so suites stay fast;
 * - `realistic`: Azure's published delays.
 *
 * Options given by name (`propagationMs`, …) override the profile's value;
 * they are modelled (Azure) milliseconds too, scaled like the rest.
 */
export type ProfileName = "default" | "realistic";

/** Modelled (Azure) durations in milliseconds. */
export interface Timings {
  /**
   * Until a new role assignment is effective for Key Vault data-plane reads
   * and for API Management's Key Vault references. Azure: "Allow several
   * minutes for role assignments to refresh" (Key Vault RBAC guide,
   * https://learn.microsoft.com/azure/key-vault/general/rbac-guide, "Test and
   * verify"); "it can take up to 10 minutes for changes to take effect"
   * (https://learn.microsoft.com/azure/role-based-access-control/troubleshooting,
   * "Role assignment changes are not being detected").
   */
  propagationMs: number;
  /**
   * How often API Management re-fetches a Key Vault reference by itself (0:
   * on every read). Azure: "After update in the key vault, a named value in
   * API Management is updated within 4 hours"
   * (https://learn.microsoft.com/azure/api-management/api-management-howto-properties).
   */
  referenceRefreshMs: number;
}

export const PROFILES: Readonly<Record<ProfileName, Readonly<Timings>>> = {
  default: { propagationMs: 0, referenceRefreshMs: 0 },
  realistic: { propagationMs: 5 * 60_000, referenceRefreshMs: 4 * 3_600_000 },
};

export interface TimingOptions extends Partial<Timings> {
  profile?: ProfileName;
  /** Real ms per modelled ms (default 1). */
  timeScale?: number;
}

/** The real (scaled) durations for a profile and its overrides; throws on a value that is not a number ≥ 0. */
export function effectiveTimings(o: TimingOptions = {}): Timings {
  const profile = o.profile ?? "default";
  if (!(profile in PROFILES)) throw new Error(`unknown emulator profile '${String(profile)}' (use ${Object.keys(PROFILES).join(" or ")})`);
  const scale = o.timeScale ?? 1;
  const check = (name: string, v: number) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`emulator ${name} must be a number ≥ 0, not ${String(v)}`);
    return v;
  };
  check("timeScale", scale);
  const base = PROFILES[profile];
  const pick = (k: keyof Timings) => check(k, o[k] ?? base[k]) * scale;
  return { propagationMs: pick("propagationMs"), referenceRefreshMs: pick("referenceRefreshMs") };
}
