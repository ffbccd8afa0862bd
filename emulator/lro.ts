/**
 * How long the emulator's long-running operations run, per kind of operation.
 *
 * - profile "default" (tests, the fault suite, the demo): every kind takes the
 *   emulator's `lroDurationMs` (0 unless set), so suites stay fast;
 * - profile "realistic": Azure's documented durations (modelled ms below) times
 *   `timeScale` (real ms per modelled ms, as in emulator/profile.ts), e.g. 0.001
 *   turns a 30-minute service update into 1.8 s.
 *
 * Per-kind overrides (`lro: { "service-update": 60000 }`, modelled ms) apply on
 * top of either profile and are scaled the same way.
 */
export type LroKind = "service-update" | "identity-update" | "service-create" | "service-delete" | "named-value" | "api-put" | "other";

export const LRO_KINDS: readonly LroKind[] = ["service-update", "identity-update", "service-create", "service-delete", "named-value", "api-put", "other"];

/** Modelled (Azure) milliseconds per kind in the realistic profile. */
export const REALISTIC_LRO_MS: Readonly<Record<LroKind, number>> = {
  // "Depending on the API Management service tier, changes can take 15 to 45 minutes or longer to apply"
  // (protocols and ciphers: https://learn.microsoft.com/azure/api-management/api-management-howto-manage-protocols-ciphers);
  // "Changes to your API Management service's infrastructure ... can take 15 minutes or longer to complete" (the
  // service-update-behavior include of the same docs). The middle of the range:
  "service-update": 30 * 60_000,
  // an identity change is a service PATCH too (ApiManagementService_Update); the same include applies: 15 minutes or longer
  "identity-update": 15 * 60_000,
  // "It can take between 30 and 40 minutes to create and activate an API Management service"
  // (https://learn.microsoft.com/azure/api-management/get-started-create-service-instance)
  "service-create": 40 * 60_000,
  // deleting a service: minutes (ApiManagementService_Delete is a long-running operation); no figure is published
  "service-delete": 10 * 60_000,
  // named values answer 202 and finish when API Management has stored (and, for Key Vault references, fetched) the
  // value: seconds (the recorded cassettes poll once: test/fixtures/recordings); no figure is published
  "named-value": 30_000,
  // an API import runs up to ARM's 2-minute request limit and longer ("Azure Resource Manager has 2mins of timeout,
  // however, it may need over 2 mins": https://techcommunity.microsoft.com/blog/azurepaasblog/configure-api-management-with-management-api/3037853)
  "api-put": 2 * 60_000,
  other: 60_000,
};

export interface LroTimingOptions {
  profile?: string;
  /** Real ms per modelled ms (default 1). */
  timeScale?: number;
  /** Per-kind durations in modelled ms. */
  lro?: Partial<Record<LroKind, number>>;
}

/** The real durations per kind (undefined: the kind takes `lroDurationMs`); throws on a value that is not a number ≥ 0. */
export function lroDurations(o: LroTimingOptions = {}): Partial<Record<LroKind, number>> {
  const scale = o.timeScale ?? 1;
  const check = (name: string, v: unknown): number => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`emulator ${name} must be a number ≥ 0, not ${String(v)}`);
    return v;
  };
  check("timeScale", scale);
  const out: Partial<Record<LroKind, number>> = {};
  if (o.profile === "realistic") for (const k of LRO_KINDS) out[k] = REALISTIC_LRO_MS[k] * scale;
  for (const [k, v] of Object.entries(o.lro ?? {})) {
    if (!LRO_KINDS.includes(k as LroKind)) throw new Error(`unknown emulator LRO kind '${k}' (use ${LRO_KINDS.join(", ")})`);
    out[k as LroKind] = check(`lro.${k}`, v) * scale;
  }
  return out;
}

/** The kind of a long-running write: what was written and how. */
export function lroKindOf(type: string, method: string, body: Record<string, unknown>, deleting: boolean, creating: boolean): LroKind {
  const t = type.toLowerCase();
  if (t === "microsoft.apimanagement/service") {
    if (deleting) return "service-delete";
    if (creating) return "service-create";
    return method === "PATCH" && body["identity"] !== undefined && Object.keys(body).every((k) => k === "identity") ? "identity-update" : "service-update";
  }
  if (t === "microsoft.apimanagement/service/namedvalues") return "named-value";
  if (t.startsWith("microsoft.apimanagement/service/apis")) return "api-put";
  return "other";
}
