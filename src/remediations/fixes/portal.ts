/**
 * Developer portal fixes. Username and password sign-in is the portal configuration's `enableBasicAuth`
 * (`service/portalconfigs/{id}`, 2024-05-01 PortalConfigContract: "Enable or disable Basic authentication
 * method"); the identity providers (`service/identityProviders`, types facebook, google, microsoft, twitter,
 * aad, aadB2C) are the other ways in. There is no `basic` identity provider in the REST specification.
 */
import { leafName, pick, str } from "../../model/arm.js";
import type { ArmResource } from "../../model/arm.js";
import { BlockedError, type Remediation } from "../types.js";
import { childName, serviceOf } from "./write.js";

/** The identity provider type of a `service/identityProviders` resource (its `properties.type`, else its name, which ARM makes the type). */
export function identityProviderType(p: ArmResource): string {
  return str(pick(p, "properties.type")) ?? leafName(p.name);
}

/** Why switching username and password sign-in off would lock everyone out, or undefined when another way in exists. */
export function lockoutReason(providers: string[]): string | undefined {
  if (providers.length > 0) return undefined;
  return "no other sign-in method is configured (no Microsoft Entra ID, Azure AD B2C or other identity provider): disabling username and password sign-in would lock every developer out of the developer portal; add an identity provider first";
}

/** Sets `enableBasicAuth: false` on a portal configuration with If-Match; refuses when no identity provider is configured. */
export const fixPortalBasicAuth: Remediation = {
  plan(finding, s) {
    const config = s.portalConfigs.find((c) => c.id.toLowerCase() === finding.resourceId.toLowerCase());
    if (!config) return { kind: "blocked", reason: "the portal configuration is not in the snapshot" };
    const providers = s.identityProviders.map(identityProviderType);
    const refused = lockoutReason(providers);
    if (refused) return { kind: "blocked", reason: refused };
    return {
      kind: "plan",
      plan: {
        ruleId: finding.ruleId,
        resourceId: config.id,
        targetId: config.id,
        operation: "PATCH Microsoft.ApiManagement/service/portalconfigs",
        summary: `Disable username and password sign-in on the developer portal of '${s.service.name}' (developers keep signing in with ${providers.join(", ")})`,
        changes: [{ path: "properties.enableBasicAuth", before: pick(config, "properties.enableBasicAuth") ?? null, after: false }],
        payload: {},
      },
    };
  },
  async apply(plan, ctx) {
    const ref = serviceOf(plan.targetId);
    const id = childName(plan.targetId, "portalconfigs");
    const client = ctx.clients.apim(ref.subscriptionId);
    const current = await client.portalConfig.get(ref.resourceGroup, ref.name, id);
    if (current.enableBasicAuth === false) return;
    // the providers as they are now, not as the snapshot saw them: one removed meanwhile must still stop the change
    const providers: string[] = [];
    for await (const p of client.identityProvider.listByService(ref.resourceGroup, ref.name)) providers.push(p.typePropertiesType ?? p.name ?? "");
    const refused = lockoutReason(providers);
    if (refused) throw new BlockedError(refused);
    ctx.write(`PATCH ${plan.targetId} enableBasicAuth=false`);
    await client.portalConfig.update(ref.resourceGroup, ref.name, id, current.eTag as string, { enableBasicAuth: false });
  },
};
