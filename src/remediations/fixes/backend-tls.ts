import type { Remediation } from "../types.js";
import { childName, serviceOf } from "./write.js";

/** Turns certificate chain and name validation back on for a backend (If-Match). */
export const fixBackendCertificateValidation: Remediation = {
  plan(finding, s) {
    const b = s.backends.find((x) => x.id.toLowerCase() === finding.resourceId.toLowerCase());
    if (!b) return { kind: "blocked", reason: "the backend is not in the snapshot" };
    const tls = ((b.properties["tls"] as Record<string, unknown> | undefined) ?? {}) as Record<string, unknown>;
    return {
      kind: "plan",
      plan: {
        ruleId: finding.ruleId,
        resourceId: b.id,
        targetId: b.id,
        operation: "PATCH Microsoft.ApiManagement/service/backends",
        summary: `Validate the certificate chain and name of backend '${b.name}'`,
        changes: [
          { path: "properties.tls.validateCertificateChain", before: tls["validateCertificateChain"] ?? null, after: true },
          { path: "properties.tls.validateCertificateName", before: tls["validateCertificateName"] ?? null, after: true },
        ],
        payload: {},
      },
    };
  },
  async apply(plan, ctx) {
    const ref = serviceOf(plan.targetId);
    const name = childName(plan.targetId, "backends");
    const client = ctx.clients.apim(ref.subscriptionId);
    const current = await client.backend.get(ref.resourceGroup, ref.name, name);
    if (current.tls?.validateCertificateChain !== false && current.tls?.validateCertificateName !== false) return;
    ctx.write(`PATCH ${plan.targetId} tls`);
    await client.backend.update(ref.resourceGroup, ref.name, name, current.eTag as string, { tls: { validateCertificateChain: true, validateCertificateName: true } });
  },
};
