import { arr, pick, str } from "../../model/arm.js";
import type { Remediation } from "../types.js";
import { childName, serviceOf } from "./write.js";

/** http -> https, ws -> wss; the order kept, duplicates removed. */
export function secureProtocols(protocols: string[]): string[] {
  const out: string[] = [];
  for (const p of protocols.map((x) => x.toLowerCase())) {
    const s = p === "http" ? "https" : p === "ws" ? "wss" : p;
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

export const fixApiProtocols: Remediation = {
  plan(finding, snapshot) {
    const api = snapshot.apis.find((a) => a.id.toLowerCase() === finding.resourceId.toLowerCase());
    if (!api) return { kind: "blocked", reason: "the API is not in the snapshot" };
    const before = arr(pick(api, "properties.protocols")).map((p) => str(p) ?? "");
    const after = secureProtocols(before);
    return {
      kind: "plan",
      plan: {
        ruleId: finding.ruleId,
        resourceId: api.id,
        targetId: api.id,
        operation: "PATCH Microsoft.ApiManagement/service/apis",
        summary: `Set protocols of API '${api.name}' to ${after.join(", ")}`,
        changes: [{ path: "properties.protocols", before, after }],
        payload: { apiName: api.name, before, after },
      },
    };
  },
  async apply(plan, ctx) {
    const ref = serviceOf(plan.targetId);
    const apiName = childName(plan.targetId, "apis");
    const client = ctx.clients.apim(ref.subscriptionId);
    const current = await client.api.get(ref.resourceGroup, ref.name, apiName);
    const now = (current.protocols ?? []).map(String);
    const next = secureProtocols(now);
    if (next.join(",") === now.join(",")) return; // already fixed by someone else
    ctx.write(`PATCH ${plan.targetId} protocols`);
    await client.api.update(ref.resourceGroup, ref.name, apiName, current.eTag as string, { protocols: next as never[] });
  },
  async rollback(plan, ctx) {
    const ref = serviceOf(plan.targetId);
    const apiName = childName(plan.targetId, "apis");
    const client = ctx.clients.apim(ref.subscriptionId);
    const current = await client.api.get(ref.resourceGroup, ref.name, apiName);
    const before = plan.payload["before"] as string[];
    if ((current.protocols ?? []).join(",") === before.join(",")) return false;
    ctx.write(`PATCH ${plan.targetId} protocols (rollback)`);
    await client.api.update(ref.resourceGroup, ref.name, apiName, current.eTag as string, { protocols: before as never[] });
    return true;
  },
};
