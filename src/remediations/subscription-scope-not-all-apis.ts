import { isExpression, pick, str } from "../model/arm.js";
import { defineRule } from "./types.js";

export const rule = defineRule(
  {
    id: "subscription-scope-not-all-apis",
    title: "No subscription is scoped to all APIs",
    severity: "medium",
    description: "No active APIM subscription has the all-APIs scope (`/apis`); subscriptions are scoped to a product or a single API.",
    rationale: "An all-APIs key grants access to every API, including ones added later; least privilege scopes keys to products or APIs.",
    defaultAction: "ticket",
    target: "subscriptions",
    references: {
      azurePolicy: "3aa03346-d8c5-4994-a5bc-7652c2a2aef1",
      defender: "API Management subscriptions should not be scoped to all APIs",
      baseline: "PA-7: Follow just enough administration (least privilege) principle",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-subscriptions"],
    },
    needs: ["subscriptions"],
    fixActions: ["Microsoft.ApiManagement/service/subscriptions/read", "Microsoft.ApiManagement/service/subscriptions/write"],
  },
  (s) =>
    s.subscriptions.map((sub) => {
      const scope = pick(sub, "properties.scope");
      if (isExpression(scope)) return { resourceId: sub.id, status: "unknown" as const, message: `Subscription '${sub.name}' sets its scope with a template expression.` };
      const state = (str(pick(sub, "properties.state")) ?? "active").toLowerCase();
      const allApis = /\/apis\/?$/i.test(str(scope) ?? "");
      if (allApis && state === "active") return { resourceId: sub.id, status: "fail" as const, message: `Active subscription '${sub.name}' is scoped to all APIs.` };
      return { resourceId: sub.id, status: "pass" as const, message: allApis ? `Subscription '${sub.name}' is scoped to all APIs but is ${state}.` : `Subscription '${sub.name}' is scoped to ${str(scope) ?? "a product or API"}.` };
    }),
);
