import { bool, isExpression, pick } from "../model/arm.js";
import { productsOf } from "./utils/products.js";
import { defineRule, type Verdict } from "./types.js";

export const rule = defineRule(
  {
    id: "product-subscription-required",
    title: "Products require a subscription",
    severity: "medium",
    description:
      "Every product (service-level and, where collected, workspace products), published or not, has `subscriptionRequired: true`; an absent value passes, as ARM creates a product with `true` when it is omitted.",
    rationale:
      "An open product (`subscriptionRequired: false`) lets anyone call its APIs without a subscription key, even APIs that themselves require one, and the gateway serves a product's APIs whether or not the product is published.",
    defaultAction: "ticket",
    target: "products",
    references: {
      psrule: "Azure.APIM.ProductSubscription",
      baseline: "IM-3: Manage application identities securely and automatically",
      links: ["https://learn.microsoft.com/azure/api-management/api-management-subscriptions", "https://learn.microsoft.com/azure/api-management/api-management-howto-add-products"],
    },
    needs: ["products"],
    fixActions: ["Microsoft.ApiManagement/service/products/write"],
  },
  (s) =>
    productsOf(s).map(({ product, label, apis }): Verdict => {
      const value = pick(product, "properties.subscriptionRequired");
      if (isExpression(value)) return { resourceId: product.id, status: "unknown", message: `The ${label} sets subscriptionRequired with a template expression.` };
      const required = bool(value);
      if (required === false) {
        const reach = apis === undefined ? "its APIs" : apis.length === 0 ? "any API added to it" : `its APIs (${apis.join(", ")})`;
        return { resourceId: product.id, status: "fail", message: `The ${label} is open (subscriptionRequired: false): ${reach} can be called without a subscription key, whether or not the product is published.` };
      }
      // ARM: "If property is omitted when creating a new product it's value is assumed to be true."
      return { resourceId: product.id, status: "pass", message: required === true ? `The ${label} requires a subscription.` : `The ${label} does not set subscriptionRequired; ARM creates it as true (subscription required).` };
    }),
);
