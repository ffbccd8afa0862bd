/**
 * What an API Management service's pricing tier (its SKU) takes away from the
 * ARM surface, as Azure answers it (tenant access, workspaces, reports). Kept apart from arm.ts, which calls
 * `tierRefusal` before routing a request under a service.
 *
 * Tenant access (`.../service/{name}/tenant...`: the list, `access`,
 * `gitAccess`, their keys and the Git configuration actions) does not exist on
 * the Consumption tier nor on the v2 tiers; every call answers
 * 400 `MethodNotAllowedInPricingTier`, `details: null`:
 * - Consumption: hashicorp/terraform-provider-azurerm#10750 (TenantAccessClient#ListSecrets: Status=400
 *   Code="MethodNotAllowedInPricingTier"), #29277 (the data source reading tenant access); the body as
 *   APIM sends it for a method its tier lacks, Azure/apiops#686:
 *   `{"error":{"code":"MethodNotAllowedInPricingTier","message":"Method not allowed in Consumption pricing tier","details":null}}`.
 * - StandardV2 (and the other v2 tiers): Azure/bicep#15575 (reading Microsoft.ApiManagement/service/tenant
 *   on a StandardV2 service: "MethodNotAllowedInPricingTier - Method not allowed in StandardV2 pricing tier");
 *   Microsoft Learn, "Azure API Management v2 tiers" (v2-service-tiers-overview, 2025-11-20), "Currently
 *   unavailable features": "API Management service configuration using Git", "Direct Management API access";
 *   the azurerm provider reads no tenant access on Consumption or any *V2 SKU (api_management_data_source.go,
 *   since hashicorp/terraform-provider-azurerm#29657).
 */
import { ArmError } from "./http.js";
import { segments } from "./ids.js";
import type { Store } from "./store.js";

/** SKUs without tenant access (direct management API, Git configuration). */
export const NO_TENANT_ACCESS_SKUS = ["consumption", "basicv2", "standardv2", "premiumv2"];

/**
 * SKUs with workspaces (`.../service/{name}/workspaces...`); every other tier answers 400 MethodNotAllowedInPricingTier:
 * - Learn, "Workspaces - breaking changes (June 2024)": the Standard and Developer tiers no longer support workspaces,
 *   Premium does; "Create and manage a workspace" (how-to-create-workspace) adds Standard v2 and Premium v2;
 * - Azure/apiops-cli#129 (2026-06-09): on BasicV2 "even `GET /workspaces` returns `MethodNotAllowedInPricingTier`"
 *   although Learn lists Basic v2; StandardV2 "does support workspaces (both list and create succeed)".
 */
export const WORKSPACE_SKUS = ["premium", "standardv2", "premiumv2"];

/**
 * SKUs with API Management's reports (`.../service/{name}/reports/...`, the built-in analytics): the classic tiers
 * but Consumption. Learn, "Get API analytics in Azure API Management" (howto-use-analytics): "In the classic API
 * Management service tiers, your API Management instance also includes legacy built-in analytics ... and analytics
 * data can be accessed using the API Management REST API", "Built-in (classic) analytics isn't available in the v2
 * tiers"; MicrosoftDocs/azure-docs#110339: "The built-in analytics is not available in Consumption tier". No recorded
 * answer was found for a report on those tiers: they answer here as APIM answers a method its tier lacks (apiops#686).
 */
export const REPORT_SKUS = ["developer", "basic", "standard", "premium"];

/** The error Azure answers for a request the service's tier does not have, or undefined when the tier has it. */
export function tierRefusal(store: Store, path: string): ArmError | undefined {
  const segs = segments(path);
  // /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{name}/tenant... or .../workspaces...
  const feature = segs[8]?.toLowerCase();
  if (segs.length < 9 || segs[5]?.toLowerCase() !== "microsoft.apimanagement" || segs[6]?.toLowerCase() !== "service" || (feature !== "tenant" && feature !== "workspaces" && feature !== "reports")) return undefined;
  const svc = store.get("/" + segs.slice(0, 8).join("/"));
  const sku = String(svc?.sku?.["name"] ?? "");
  if (!svc) return undefined;
  const has = feature === "tenant" ? !NO_TENANT_ACCESS_SKUS.includes(sku.toLowerCase()) : feature === "reports" ? REPORT_SKUS.includes(sku.toLowerCase()) : WORKSPACE_SKUS.includes(sku.toLowerCase());
  if (has) return undefined;
  // API Management's own errors carry `details: null` (apiops#686)
  return Object.assign(new ArmError(400, "MethodNotAllowedInPricingTier", `Method not allowed in ${sku} pricing tier`), { details: null });
}

/**
 * The tenant access list (`GET .../tenant`) answers the `access` setting only: the 2024-05-01 example
 * ApiManagementListTenantAccess.json lists `access` alone (`count: 1`); `gitAccess` is read by name
 * (ApiManagementGetTenantGitAccess.json).
 */
export function listedTenantSettings<T extends { name: string }>(items: T[]): T[] {
  return items.filter((t) => t.name.toLowerCase() === "access");
}
