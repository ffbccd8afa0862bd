/**
 * Exemptions from the settings (REMEDIATOR_EXEMPTIONS), next to the exemption tag on the service.
 *
 * The tag cannot be written on a service under a ReadOnly lock (a tag write is a write: ARM refuses it
 * with ScopeLocked), nor by a team without write access to the service; the setting lives in the app's
 * configuration, which only the platform team changes, and works under any lock. An entry names the
 * service by its resource id (exactly that service) or by its name (that name in every subscription and
 * resource group in scope) and lists rules in the tag's syntax (`rule-id`, `rule-id@2026-06-30`, `*`).
 */
import type { Config } from "../common/config.js";

/** The parts of the engine's exemptions this file combines (structurally the engine's `Exemptions`). */
export interface ExemptionSet {
  rules: Set<string>;
  expired: string[];
  /** Where an exempted rule id (or `*`) came from, for the audit reason; absent for the tag. */
  by?: Map<string, string>;
}

/** The rules REMEDIATOR_EXEMPTIONS lists for a service (by id or by name), in the tag's syntax; undefined when none. */
export function settingExemptionsFor(config: Pick<Config, "exemptions">, serviceId: string): string | undefined {
  const id = serviceId.toLowerCase();
  const name = id.split("/").pop() ?? "";
  const rules = config.exemptions.filter((e) => e.service === id || e.service === name).map((e) => e.rules);
  return rules.length > 0 ? rules.join(",") : undefined;
}

/** The tag's exemptions plus the setting's; a rule exempted only by the setting says so in `by`. */
export function mergeExemptions<T extends ExemptionSet>(tag: T, setting: ExemptionSet): T {
  const by = new Map(tag.by ?? []);
  for (const r of setting.rules) if (!tag.rules.has(r) && !tag.rules.has("*")) by.set(r, "REMEDIATOR_EXEMPTIONS");
  return { ...tag, rules: new Set([...tag.rules, ...setting.rules]), expired: [...tag.expired, ...setting.expired.map((x) => `${x} (REMEDIATOR_EXEMPTIONS)`)], by };
}
