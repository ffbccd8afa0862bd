import { isExpression, pick, str } from "../model/arm.js";
import { defineRule, type Verdict } from "./types.js";

export const rule = defineRule(
  {
    id: "subscription-scope-not-all-apis",
    title: "No subscription is scoped to all APIs",
    severity: "medium",
    description: "No active APIM subscription has the all-APIs scope (`/apis`); subscriptions are scoped to a product or a single API. Subscriptions that are not active (suspended, cancelled, expired, ...) are not applicable.",
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
    s.subscriptions.flatMap((sub): Verdict[] => {
      const scope = pick(sub, "properties.scope");
      const stateValue = pick(sub, "properties.state");
      // `/apis` or `<service id>/apis`; not a product or API that happens to be named `apis`.
      const allApis = /^(?:.*\/service\/[^/]+)?\/apis\/?$/i.test((str(scope) ?? "").trim());
      // Only active subscriptions grant access (as Policy 3aa03346: state equals active); submitted, suspended, rejected,
      // cancelled and expired keys are refused by the gateway, so they are not applicable. An absent state (a template
      // that leaves it out) is judged as active: ARM creates such a subscription active, whatever the REST spec's text
      // says ("If no value is specified, subscription is created with Submitted state"): the recorded PUT without a
      // state in test/fixtures/recordings/azure-cli/test_apim_Subscription.yaml is answered `"state": "active"`.
      if (!isExpression(stateValue) && (str(stateValue) ?? "active").toLowerCase() !== "active") return [];
      if (isExpression(scope)) return [{ resourceId: sub.id, status: "unknown", message: `Subscription '${sub.name}' sets its scope with a template expression.` }];
      if (allApis && isExpression(stateValue)) return [{ resourceId: sub.id, status: "unknown", message: `Subscription '${sub.name}' is scoped to all APIs and sets its state with a template expression.` }];
      if (allApis) return [{ resourceId: sub.id, status: "fail", message: `Active subscription '${sub.name}' is scoped to all APIs.` }];
      // the service itself (`/` or `<service id>/`): the built-in all-access subscription's scope, which Policy 3aa03346
      // (`like '*/apis'`) does not match either; it is reported as what it is, and passes (see the rule's page)
      if (/^(?:.*\/service\/[^/]+)?\/$|^.*\/service\/[^/]+$/i.test((str(scope) ?? "").trim())) {
        return [{ resourceId: sub.id, status: "pass", message: `Subscription '${sub.name}' is scoped to the whole service (the built-in all-access scope), not to '/apis'.` }];
      }
      return [{ resourceId: sub.id, status: "pass", message: `Subscription '${sub.name}' is scoped to ${str(scope) ?? "a product or API"}.` }];
    }),
);
