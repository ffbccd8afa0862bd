/**
 * Verdicts from Resource Graph rows. A rule whose data needs are only the
 * service resource (TLS protocols, ciphers, identity, minimum API version,
 * network, platform, public access, tier, zones, client certificates) judges
 * from the service's Resource Graph row, which holds `properties` as ARM's GET
 * of the service does (customProperties included), with no ARM read.
 *
 * A row lags ARM by seconds to minutes, so its verdict is a hint, like an
 * event: a failing rule that would be fixed (enforce mode, a remediation) is
 * judged again from ARM before anything is written (src/engine/engine.ts).
 */
import type { ArmResource } from "../model/arm.js";
import { emptySnapshot, type ServiceSnapshot } from "../model/snapshot.js";
import type { Rule } from "../remediations/index.js";

/**
 * Rules whose service-level data is not what a row holds, so they are never judged from one. Empty: no API
 * Management service property is known to differ between Resource Graph and ARM's GET (the rows hold ARM's
 * properties; Learn notes only that Resource Graph scrubs personal data, which no rule reads, e.g. publisherEmail).
 */
export const NOT_FROM_ROWS: ReadonlySet<string> = new Set<string>();

/** True when the rule can be judged from a Resource Graph row: it reads nothing but the service resource. */
export function judgedFromRow(rule: Rule): boolean {
  return rule.meta.needs.length > 0 && rule.meta.needs.every((n) => n === "service") && !NOT_FROM_ROWS.has(rule.meta.id);
}

/** The snapshot a row gives: the service resource only (no ARM read). */
export function rowSnapshot(row: ArmResource): ServiceSnapshot {
  return emptySnapshot(structuredClone(row), ["service"]);
}
