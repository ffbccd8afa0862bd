/** The rule catalog, in the order reports list it. */
import { RULE_IDS } from "../model/rule.js";
import type { Rule, RuleOptions } from "./types.js";
import { rule as apiHttpsOnly } from "./api-https-only.js";
import { rule as directManagement } from "./direct-management-endpoint-disabled.js";
import { rule as gitConfiguration } from "./git-configuration-endpoint-disabled.js";
import { rule as namedValueSecrets } from "./named-value-secrets-in-key-vault.js";
import { rule as resourceLock } from "./resource-lock.js";
import { DEFAULT_LOCK_NAME } from "./fixes/lock.js";
import { rule as minApiVersion } from "./min-api-version.js";
import { rule as managedIdentity } from "./managed-identity.js";
import { rule as tlsProtocols } from "./gateway-tls-protocols.js";
import { rule as weakCiphers, DEFAULT_WEAK_CIPHERS } from "./gateway-weak-ciphers.js";
import { rule as backendCertValidation } from "./backend-certificate-validation.js";
import { rule as backendAuthenticated } from "./backend-authenticated.js";
import { rule as backendHttps } from "./backend-https.js";
import { rule as subscriptionScope } from "./subscription-scope-not-all-apis.js";
import { rule as apiAuthentication } from "./api-authentication.js";
import { rule as rateLimit } from "./rate-limit-policy.js";
import { rule as requestValidation } from "./request-validation-policy.js";
import { rule as policyBase } from "./policy-base-inheritance.js";
import { rule as networkIsolation } from "./network-isolation.js";
import { rule as platformStv2 } from "./platform-stv2.js";
import { rule as defenderForApis } from "./defender-for-apis.js";
import { rule as unusedApi } from "./unused-api.js";
import { rule as corsNoWildcard } from "./cors-no-wildcard.js";
import { rule as productSubscription } from "./product-subscription-required.js";
import { rule as productApproval } from "./product-approval-required.js";
import { rule as sampleProducts } from "./sample-products-removed.js";
import { rule as gatewayConfiguration } from "./gateway-configuration-endpoint-disabled.js";
import { rule as portalBasicAuth } from "./developer-portal-basic-auth-disabled.js";
import { rule as resourceLogs } from "./resource-logs-enabled.js";
import { rule as appInsights } from "./application-insights-logger.js";
import { rule as publicNetworkAccessDisabled } from "./public-network-access-disabled.js";
import { rule as clientCertificatesEnabled } from "./client-certificates-enabled.js";
import { rule as customDomainCertificateExpiry } from "./custom-domain-certificate-expiry.js";
import { rule as skuSupportsVnet } from "./sku-supports-vnet.js";
import { rule as zoneRedundancy } from "./zone-redundancy.js";
import { rule as wafInFront } from "./waf-in-front.js";
import { rule as ipFilter } from "./ip-filter.js";

export const RULES: readonly Rule[] = [
  apiHttpsOnly,
  directManagement,
  gitConfiguration,
  namedValueSecrets,
  resourceLock,
  minApiVersion,
  managedIdentity,
  tlsProtocols,
  weakCiphers,
  backendCertValidation,
  backendAuthenticated,
  backendHttps,
  subscriptionScope,
  apiAuthentication,
  rateLimit,
  requestValidation,
  policyBase,
  networkIsolation,
  platformStv2,
  defenderForApis,
  unusedApi,
  corsNoWildcard,
  productSubscription,
  productApproval,
  sampleProducts,
  gatewayConfiguration,
  portalBasicAuth,
  resourceLogs,
  appInsights,
  publicNetworkAccessDisabled,
  clientCertificatesEnabled,
  customDomainCertificateExpiry,
  skuSupportsVnet,
  zoneRedundancy,
  wafInFront,
  ipFilter,
];

/**
 * The catalog and src/model/rule.ts RULE_IDS (what configuration validates
 * rule ids against) name the same rules in the same order; adding a rule
 * means adding its id there too, and forgetting it fails at load.
 */
export function catalogMismatch(rules: readonly Rule[], ids: readonly string[]): string | undefined {
  const got = rules.map((r) => r.meta.id);
  if (got.length === ids.length && got.every((id, i) => id === ids[i])) return undefined;
  const missing = got.filter((id) => !ids.includes(id));
  const extra = ids.filter((id) => !got.includes(id));
  return `rule catalog and RULE_IDS (src/model/rule.ts) differ: ${[missing.length ? `not in RULE_IDS: ${missing.join(", ")}` : "", extra.length ? `no rule for: ${extra.join(", ")}` : "", !missing.length && !extra.length ? "order differs" : ""].filter(Boolean).join("; ")}`;
}
const mismatch = catalogMismatch(RULES, RULE_IDS);
if (mismatch) throw new Error(mismatch);

export const DEFAULT_RULE_OPTIONS: RuleOptions = {
  minApiVersion: "2021-08-01",
  weakCiphers: [...DEFAULT_WEAK_CIPHERS],
  unusedDays: 30,
  lockName: DEFAULT_LOCK_NAME,
  recreateForeignLocks: false,
  certificateExpiryDays: 30,
};

export function ruleById(id: string): Rule | undefined {
  return RULES.find((r) => r.meta.id === id);
}

/** Selects rules by id; throws with the unknown ids named. */
export function selectRules(ids: string[] | undefined): Rule[] {
  if (!ids || ids.length === 0) return [...RULES];
  const unknown = ids.filter((id) => !ruleById(id));
  if (unknown.length > 0) throw new Error(`unknown rule id(s): ${unknown.join(", ")} (see 'apim-remediator rules')`);
  return ids.map((id) => ruleById(id) as Rule);
}

export type { Rule, RuleMeta, RuleOptions, Finding, Severity, Status, Action } from "./types.js";
