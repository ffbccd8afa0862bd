import { bool, isExpression, pick, str } from "../model/arm.js";
import { productsOf } from "./utils/products.js";
import { defineRule, type Verdict } from "./types.js";

export const rule = defineRule(
  {
    id: "product-approval-required",
    title: "Product subscriptions need an administrator's approval",
    severity: "low",
    description:
      "Every product that requires a subscription (service-level and, where collected, workspace products), published or not, has `approvalRequired: true`. Open products are left to `product-subscription-required`: approval only applies to subscriptions.",
    rationale: "Without approval, any developer portal user who can see a product subscribes and gets a working key at once; approval lets an administrator check who gets keys before they work.",
    defaultAction: "ticket",
    target: "products",
    references: {
      psrule: "Azure.APIM.ProductApproval",
      baseline: "PA-7: Follow just enough administration (least privilege) principle",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-add-products", "https://learn.microsoft.com/azure/api-management/api-management-subscriptions"],
    },
    needs: ["products"],
    fixActions: ["Microsoft.ApiManagement/service/products/write"],
  },
  (s) =>
    productsOf(s).flatMap(({ product, label }): Verdict[] => {
      const subscription = pick(product, "properties.subscriptionRequired");
      const approvalValue = pick(product, "properties.approvalRequired");
      const approval = bool(approvalValue);
      // ARM: approvalRequired "can be present only if subscriptionRequired property is present and has a value of true"
      if (bool(subscription) === false) return [];
      if (approval === true) return [{ resourceId: product.id, status: "pass", message: `The ${label} requires approval of new subscriptions.` }];
      if (isExpression(approvalValue)) return [{ resourceId: product.id, status: "unknown", message: `The ${label} sets approvalRequired with a template expression.` }];
      if (isExpression(subscription)) return [{ resourceId: product.id, status: "unknown", message: `The ${label} sets subscriptionRequired with a template expression, and approval is not required.` }];
      const published = (str(pick(product, "properties.state")) ?? "").toLowerCase() === "published";
      return [
        {
          resourceId: product.id,
          status: "fail",
          message: `The ${label} approves new subscriptions automatically (approvalRequired: ${approval === false ? "false" : "not set, which means false"})${published ? "" : "; it is not published, so only administrators see it now, but publishing it opens self-service keys at once"}.`,
        },
      ];
    }),
);
