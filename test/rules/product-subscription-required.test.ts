import { rule } from "../../src/remediations/product-subscription-required.js";
import type { WorkspaceContents } from "../../src/model/snapshot.js";
import { ALL_NEEDS, EXPR, SERVICE_ID, consumption, pascal, product, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const WS = (name: string, products: WorkspaceContents["products"]): Record<string, WorkspaceContents> => ({
  [name]: { apis: [], apiPolicies: {}, operationPolicies: {}, products, productApis: {}, productPolicies: {}, subscriptions: [] },
});
const wsProduct = (ws: string, name: string, props: Record<string, unknown>) => ({ ...product(name, props), id: `${SERVICE_ID}/workspaces/${ws}/products/${name}`, type: "Microsoft.ApiManagement/service/workspaces/products" });

ruleTester(rule, {
  valid: [
    { name: "PSRule Azure.APIM.ProductSubscription: subscriptionRequired true passes (apim-A)", snapshot: snap({ products: [product("product-A"), product("product-B", { state: "notPublished" })] }), count: 2, expect: [{ resourceId: "products/product-A", status: "pass", message: /requires a subscription/ }] },
    { name: "unlike PSRule Azure.APIM.ProductSubscription: an absent subscriptionRequired passes (ARM creates it as true)", snapshot: snap({ products: [product("gold", { subscriptionRequired: undefined })] }), expect: [{ status: "pass", message: /ARM creates it as true/ }] },
    { name: "the string \"True\" of a template", snapshot: snap({ products: [product("gold", { subscriptionRequired: "True" })] }) },
    { name: "PascalCase Properties.SubscriptionRequired", snapshot: snap({ products: [pascal(product("gold"))] }) },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), products: [product("gold")] }) },
    { name: "a v2 tier", snapshot: snap({ service: service({}, sku("BasicV2")), products: [product("gold")] }) },
    { name: "children-only input", snapshot: stub({ products: [product("gold")] }) },
  ],
  invalid: [
    {
      name: "PSRule Azure.APIM.ProductSubscription: subscriptionRequired false fails (apim-B product-B)",
      snapshot: snap({ products: [product("product-A"), product("product-B", { subscriptionRequired: false, state: "notPublished" })], productApis: { "product-b": ["echo", "orders"] } }),
      count: 2,
      expect: [{ resourceId: "products/product-B", status: "fail", message: /product 'product-B' is open.*its APIs \(echo, orders\) can be called without a subscription key, whether or not the product is published/ }],
    },
    { name: "PSRule Azure.APIM.ProductSubscription: an unpublished open product still fails (the gateway serves it)", snapshot: snap({ products: [product("internal", { subscriptionRequired: false, state: "notPublished" })] }), expect: [{ status: "fail" }] },
    { name: "an open product without APIs yet", snapshot: snap({ products: [product("open", { subscriptionRequired: false })] }), expect: [{ status: "fail", message: /any API added to it/ }] },
    { name: "product APIs not collected: the message does not guess", snapshot: snap({ products: [product("open", { subscriptionRequired: "false" })], needs: ["products"] }), expect: [{ status: "fail", message: /open \(subscriptionRequired: false\): its APIs can/ }] },
    {
      name: "beyond PSRule Azure.APIM.ProductSubscription: a workspace's open product",
      snapshot: snap({ workspaceContents: WS("team", [wsProduct("team", "partners", { subscriptionRequired: false })]) }),
      expect: [{ resourceId: "workspaces/team/products/partners", status: "fail", message: /workspace 'team' product 'partners' is open/ }],
    },
  ],
  notApplicable: [
    { name: "no products", snapshot: snap() },
    { name: "workspace products when workspaces were not collected", snapshot: snap({ needs: ALL_NEEDS.filter((n) => n !== "workspaces"), workspaceContents: WS("team", [wsProduct("team", "partners", { subscriptionRequired: false })]) }) },
  ],
  unknown: [
    { name: "subscriptionRequired from a template expression", snapshot: snap({ products: [product("gold", { subscriptionRequired: EXPR })] }), expect: [{ status: "unknown", message: /template expression/ }] },
    { name: "products were not collected", snapshot: snap({ needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /products/ }] },
  ],
});
