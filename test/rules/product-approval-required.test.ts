import { rule } from "../../src/remediations/product-approval-required.js";
import type { WorkspaceContents } from "../../src/model/snapshot.js";
import { EXPR, SERVICE_ID, consumption, pascal, product, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const WS = (name: string, products: WorkspaceContents["products"]): Record<string, WorkspaceContents> => ({
  [name]: { apis: [], apiPolicies: {}, operationPolicies: {}, products, productApis: {}, productPolicies: {}, subscriptions: [] },
});
const wsProduct = (ws: string, name: string, props: Record<string, unknown>) => ({ ...product(name, props), id: `${SERVICE_ID}/workspaces/${ws}/products/${name}`, type: "Microsoft.ApiManagement/service/workspaces/products" });

ruleTester(rule, {
  valid: [
    { name: "PSRule Azure.APIM.ProductApproval: approvalRequired true passes (apim-B product-A)", snapshot: snap({ products: [product("product-A", { approvalRequired: true })] }), count: 1, expect: [{ resourceId: "products/product-A", status: "pass", message: /requires approval/ }] },
    {
      name: "beyond PSRule Azure.APIM.ProductApproval: an open product is not judged here (approval applies to subscriptions; product-subscription-required reports it)",
      snapshot: snap({ products: [product("product-A", { approvalRequired: true }), product("open", { subscriptionRequired: false, approvalRequired: false })] }),
      count: 1,
    },
    { name: "PascalCase Properties.ApprovalRequired", snapshot: snap({ products: [pascal(product("gold", { approvalRequired: true }))] }) },
    { name: "approval required decides even when subscriptionRequired is an expression", snapshot: snap({ products: [product("gold", { approvalRequired: true, subscriptionRequired: EXPR })] }) },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), products: [product("gold", { approvalRequired: "true" })] }) },
    { name: "children-only input", snapshot: stub({ products: [product("gold", { approvalRequired: true })] }) },
  ],
  invalid: [
    {
      name: "PSRule Azure.APIM.ProductApproval: approvalRequired false fails, published or not (apim-A starter)",
      snapshot: snap({ products: [product("starter", { approvalRequired: false, state: "notPublished" })] }),
      expect: [{ resourceId: "products/starter", status: "fail", message: /approves new subscriptions automatically \(approvalRequired: false\); it is not published/ }],
    },
    { name: "PSRule Azure.APIM.ProductApproval: approvalRequired absent fails (ARM's default is false)", snapshot: snap({ products: [product("gold")] }), expect: [{ status: "fail", message: /not set, which means false\)\.$/ }] },
    { name: "an absent subscriptionRequired means a subscription is required, so approval is judged", snapshot: snap({ products: [product("gold", { subscriptionRequired: undefined, approvalRequired: false })] }), expect: [{ status: "fail" }] },
    {
      name: "beyond PSRule Azure.APIM.ProductApproval: a workspace product",
      snapshot: snap({ workspaceContents: WS("team", [wsProduct("team", "partners", { approvalRequired: false })]) }),
      expect: [{ resourceId: "workspaces/team/products/partners", status: "fail", message: /workspace 'team' product 'partners'/ }],
    },
  ],
  notApplicable: [
    { name: "no products", snapshot: snap() },
    { name: "only open products", snapshot: snap({ products: [product("open", { subscriptionRequired: false })] }) },
  ],
  unknown: [
    { name: "approvalRequired from a template expression", snapshot: snap({ products: [product("gold", { approvalRequired: EXPR })] }), expect: [{ status: "unknown", message: /approvalRequired with a template expression/ }] },
    { name: "subscriptionRequired from an expression and no approval", snapshot: snap({ products: [product("gold", { subscriptionRequired: EXPR })] }), expect: [{ status: "unknown", message: /subscriptionRequired with a template expression/ }] },
    { name: "products were not collected", snapshot: snap({ needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /products/ }] },
  ],
});
