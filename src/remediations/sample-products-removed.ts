import { pick, str } from "../model/arm.js";
import { currentApis } from "./utils/policy.js";
import { defineRule, type Verdict } from "./types.js";

/** The sample products a new service comes with (their ids; PSRule Azure.APIM.SampleProducts names the same two). */
const SAMPLE_PRODUCTS = ["starter", "unlimited"];
/** The sample API a new service comes with, and the backend it forwards to. */
const ECHO_API = "echo-api";
const ECHO_BACKEND = /^https?:\/\/echoapi\.cloudapp\.net(?:[/:]|$)/i;

export const rule = defineRule(
  {
    id: "sample-products-removed",
    title: "The sample products and the Echo API are removed",
    severity: "low",
    description:
      "The service no longer holds the sample products a new service comes with (`starter`, `unlimited`), nor the sample `echo-api` API that forwards to `echoapi.cloudapp.net`. Report only: deleting a product deletes its subscriptions (their keys stop working).",
    rationale:
      "The samples grant keys that nobody reviews (Starter approves subscriptions automatically), an API added to them by mistake is exposed more than intended, and the Echo API forwards whatever it receives to a Microsoft sample backend over plain HTTP.",
    defaultAction: "ticket",
    target: "products",
    references: {
      psrule: "Azure.APIM.SampleProducts",
      baseline: "PV-2: Audit and enforce secure configurations",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-add-products"],
    },
    needs: ["products", "apis"],
    fixActions: ["Microsoft.ApiManagement/service/products/delete", "Microsoft.ApiManagement/service/apis/delete"],
  },
  (s) => {
    const out: Verdict[] = [];
    for (const p of s.products) {
      if (!SAMPLE_PRODUCTS.includes(p.name.toLowerCase())) continue;
      const state = str(pick(p, "properties.state")) ?? "state not set";
      out.push({ resourceId: p.id, status: "fail", message: `The sample product '${p.name}' (${state}) is still present; delete it (its subscriptions are deleted with it) once no client uses its keys.` });
    }
    for (const a of currentApis(s)) {
      if (a.name.toLowerCase() !== ECHO_API) continue;
      const url = str(pick(a, "properties.serviceUrl"));
      // an API of this name with another backend is the owner's own, not the sample
      if (url !== undefined && !ECHO_BACKEND.test(url.trim())) continue;
      out.push({ resourceId: a.id, status: "fail", message: `The sample Echo API '${a.name}' (backend ${url ?? "not set"}) is still present; delete it.` });
    }
    if (out.length === 0) out.push({ resourceId: s.service.id, status: "pass", message: "The service holds no sample product (starter, unlimited) and no sample Echo API." });
    return out;
  },
);
