import { isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";
import { fixMinApiVersion } from "./fixes/service.js";

/** Orders API versions: dates first, a `-preview` sorts before the GA of the same date. */
export function compareApiVersions(a: string, b: string): number {
  const key = (v: string) => {
    const m = /^(\d{4}-\d{2}-\d{2})(-preview)?$/i.exec(v.trim());
    return m ? `${m[1]}${m[2] ? "0" : "1"}` : "";
  };
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export const rule = defineRule(
  {
    id: "min-api-version",
    title: "Management API clients must use a current API version",
    severity: "medium",
    description: "`apiVersionConstraint.minApiVersion` is set and is at least the configured minimum (default 2019-12-01).",
    rationale: "Older control-plane API versions return secrets (keys, named values) in GET responses to any reader; a minimum version closes that path.",
    defaultAction: "auto",
    target: "service",
    references: {
      azurePolicy: "549814b6-3212-4203-bdc8-1548d342fb67",
      defender: "API Management minimum API version should be set to 2019-12-01 or higher",
      psrule: "Azure.APIM.MinAPIVersion",
      baseline: "IM-8: Restrict the exposure of credentials and secrets",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-manage-protocols-ciphers"],
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
