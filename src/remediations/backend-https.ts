import { isExpression, pick, str } from "../model/arm.js";
import { isServiceFabric } from "./utils/backends.js";
import { defineRule, type Verdict } from "./types.js";

function verdict(id: string, what: string, url: unknown): Verdict | undefined {
  if (url === undefined || url === null || url === "") return undefined;
  if (isExpression(url)) return { resourceId: id, status: "unknown", message: `${what} uses a template expression for its URL.` };
  const u = str(url) ?? "";
  return /^(http|ws):\/\//i.test(u.trim())
    ? { resourceId: id, status: "fail", message: `${what} calls its backend unencrypted (${u}).` }
    : { resourceId: id, status: "pass", message: `${what} calls its backend over an encrypted protocol.` };
}

export const rule = defineRule(
  {
    id: "backend-https",
    title: "Backends are called over HTTPS",
    severity: "high",
    description: "Backend `url` and API `serviceUrl` (every revision) do not use `http://` (or `ws://`).",
    rationale: "Traffic from the gateway to a plain-HTTP backend carries credentials and data unencrypted across the network.",
    defaultAction: "ticket",
    target: "backends",
    references: {
      psrule: "Azure.APIM.HTTPBackend",
      baseline: "DP-3: Encrypt sensitive data in transit",
      links: ["https://learn.microsoft.com/azure/api-management/backends"],
    },
    needs: ["backends", "apis", "apiRevisions"],
    fixActions: ["Microsoft.ApiManagement/service/backends/write", "Microsoft.ApiManagement/service/apis/write"],
  },
  (s) => {
    const out: Verdict[] = [];
    for (const b of s.backends) {
      // Service Fabric backends carry a `fabric:/` address; a pool (`type: Pool`) has no `url` of its own, its members are judged
      if (isServiceFabric(b) || /^pool$/i.test(str(pick(b, "properties.type")) ?? "")) continue;
      const v = verdict(b.id, `Backend '${b.name}'`, pick(b, "properties.url"));
      if (v) out.push(v);
    }
    // Every revision: a non-current one is still callable as `api;rev=N`.
    for (const a of s.apis) {
      const v = verdict(a.id, `API '${a.name}'`, pick(a, "properties.serviceUrl"));
      if (v) out.push(v);
    }
    return out;
  },
);
