import { isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";
import { fixMinApiVersion } from "./fixes/service.js";

/**
 * Orders API versions by their date, as PSRule for Azure's Azure.APIM.MinAPIVersion does: it drops
 * `-preview` from both sides and compares the dates, so `2021-08-01-preview` meets a minimum of
 * `2021-08-01` and `2021-12-01-preview` is newer than it. A value that is not `YYYY-MM-DD[-preview]`
 * sorts before every date.
 */
export function compareApiVersions(a: string, b: string): number {
  const key = (v: string) => /^(\d{4}-\d{2}-\d{2})(-preview)?$/i.exec(v.trim())?.[1] ?? "";
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export const rule = defineRule(
  {
    id: "min-api-version",
    title: "Management API clients must use a current API version",
    severity: "medium",
    description: "`apiVersionConstraint.minApiVersion` is set and is at least the configured minimum (default 2021-08-01, the oldest API version Azure still serves; a `-preview` counts as its date).",
    rationale: "API versions before 2021-08-01 are retired; a minimum version keeps old templates, scripts and SDKs from managing the service with them (the oldest ones returned secrets such as keys and named values in GET responses to any reader).",
    defaultAction: "auto",
    target: "service",
    references: {
      // deprecated on 2025-09-02 ("[Deprecated]: ...", default effect Disabled): kept because it is the same check
      azurePolicy: "549814b6-3212-4203-bdc8-1548d342fb67",
      defender: "API Management minimum API version should be set to 2019-12-01 or higher",
      psrule: "Azure.APIM.MinAPIVersion",
      baseline: "IM-8: Restrict the exposure of credentials and secrets",
      links: ["https://learn.microsoft.com/azure/api-management/breaking-changes/api-version-retirement-sep-2023"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/read", "Microsoft.ApiManagement/service/write"],
    notApplicableSkus: ["Consumption"],
  },
  (s, o) => {
    const v = pick(s.service, "properties.apiVersionConstraint.minApiVersion");
    if (isExpression(v) || isExpression(pick(s.service, "properties.apiVersionConstraint"))) return [{ resourceId: s.service.id, status: "unknown", message: "The minimum API version is a template expression." }];
    const version = str(v);
    if (!version) return [{ resourceId: s.service.id, status: "fail", message: `No minimum API version is set; clients may use any version (require ${o.minApiVersion} or later).` }];
    return compareApiVersions(version, o.minApiVersion) >= 0
      ? [{ resourceId: s.service.id, status: "pass", message: `Minimum API version is ${version}.` }]
      : [{ resourceId: s.service.id, status: "fail", message: `Minimum API version ${version} is older than ${o.minApiVersion}.` }];
  },
);

/** Remediation: PATCHes `apiVersionConstraint.minApiVersion` to the configured minimum (long-running; waits). */
rule.remediation = fixMinApiVersion;
