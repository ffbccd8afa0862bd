import { arr, isExpression, pick, str } from "../model/arm.js";
import { defineRule, skuOf, type Status } from "./types.js";

/** Tiers with availability zone support (Learn "Enable availability zone support on Azure API Management instances": Premium, Standard v2, Premium v2). */
const ZONE_SKUS = ["Premium", "StandardV2", "PremiumV2"];

interface Place {
  status: Status;
  text: string;
}

/** One location (the primary, or an additional one): its zones and its units. */
function judgeLocation(where: string, zonesRaw: unknown, capacityRaw: unknown, premium: boolean): Place {
  if (isExpression(zonesRaw)) return { status: "unknown", text: `${where}: the zones are a template expression` };
  const zones = arr(zonesRaw).map((z) => String(z));
  if (zones.length >= 2) {
    if (isExpression(capacityRaw)) return { status: "unknown", text: `${where}: zones ${zones.join(", ")}, the unit count is a template expression` };
    const units = typeof capacityRaw === "number" ? capacityRaw : Number(capacityRaw ?? 1);
    if (!Number.isFinite(units)) return { status: "unknown", text: `${where}: zones ${zones.join(", ")}, the unit count is not a number` };
    // PSRule Azure.APIM.AvailabilityZone: sku.capacity >= the number of zones (Learn: at least one unit per zone)
    if (units < zones.length) return { status: "fail", text: `${where}: ${units} unit(s) across ${zones.length} zones (${zones.join(", ")}); at least one unit per zone is needed` };
    return { status: "pass", text: `${where}: ${units} unit(s) across zones ${zones.join(", ")}` };
  }
  if (zones.length === 1) return { status: "fail", text: `${where}: zonal, pinned to zone ${zones[0] as string} only` };
  if (premium) {
    // Learn (Reliability in API Management): without zones listed, a Premium location created in a region with
    // availability zones gets automatic zone support (units, or one unit's VMs, spread across zones), which ARM
    // does not show; whether the region has zones is not known offline.
    return { status: "unknown", text: `${where}: no zones listed; automatic availability zone support spreads the units only in a region with zones (not checked) and is not shown by ARM` };
  }
  return { status: "fail", text: `${where}: no zones listed; on the v2 tiers zone redundancy is chosen when the instance is created and is not automatic` };
}

const worst = (xs: Status[]): Status => (xs.includes("fail") ? "fail" : xs.includes("unknown") ? "unknown" : "pass");

export const rule = defineRule(
  {
    id: "zone-redundancy",
    title: "The service is zone redundant",
    severity: "medium",
    description: "The tier supports availability zones (Premium, Standard v2, Premium v2) and every location (the primary and each additional one) lists two or more zones with at least one unit per zone.",
    rationale: "A zone-redundant service keeps serving API calls when one datacenter zone of its region fails; a service in one zone (or on a tier without zones) goes down with it.",
    defaultAction: "ticket",
    target: "service",
    references: {
      azurePolicy: "42daa904-5969-47ef-92cb-b75df946195a",
      psrule: "Azure.APIM.AvailabilityZone",
      baseline: "Reliability: availability zones (Well-Architected, RE:05)",
      links: ["https://learn.microsoft.com/azure/reliability/reliability-api-management", "https://learn.microsoft.com/azure/api-management/enable-availability-zone-support"],
    },
    needs: ["service"],
    fixActions: ["Microsoft.ApiManagement/service/write"],
  },
  (s) => {
    const id = s.service.id;
    if (isExpression(pick(s.service, "sku.name"))) return [{ resourceId: id, status: "unknown", message: "The SKU is a template expression." }];
    const sku = skuOf(s);
    if (sku === "") return [{ resourceId: id, status: "unknown", message: "The input gives no SKU for the service." }];
    if (!ZONE_SKUS.some((z) => z.toLowerCase() === sku.toLowerCase())) {
      return [{ resourceId: id, status: "fail", message: `The ${sku} tier has no availability zones: zone redundancy needs Premium, Standard v2 or Premium v2.` }];
    }
    const premium = /^Premium$/i.test(sku);
    const places = [judgeLocation(`primary location ${str(pick(s.service, "location")) ?? ""}`.trim(), pick(s.service, "zones"), pick(s.service, "sku.capacity"), premium)];
    for (const loc of arr(pick(s.service, "properties.additionalLocations"))) {
      places.push(judgeLocation(`additional location ${str(pick(loc, "location")) ?? "(unnamed)"}`, pick(loc, "zones"), pick(loc, "sku.capacity"), premium));
    }
    return [{ resourceId: id, status: worst(places.map((p) => p.status)), message: `${places.map((p) => p.text).join("; ")}.` }];
  },
);
