import { rule } from "../../src/remediations/subscription-scope-not-all-apis.js";
import { EXPR, SERVICE_ID, consumption, pascal, snap, stub, subscription, ruleTester } from "../helpers/rule-tester.js";

const ALL_APIS = `${SERVICE_ID}/apis`;

ruleTester(rule, {
  valid: [
    { name: "scoped to a product", snapshot: snap({ subscriptions: [subscription("s1", { scope: `${SERVICE_ID}/products/starter` })] }), count: 1, expect: [{ resourceId: "subscriptions/s1", status: "pass", message: /products\/starter/ }] },
    { name: "scoped to one API", snapshot: snap({ subscriptions: [subscription("s1", { scope: `${SERVICE_ID}/apis/echo` })] }) },
    { name: "short scope of one API (/apis/echo)", snapshot: snap({ subscriptions: [subscription("s1", { scope: "/apis/echo" })] }) },
    { name: "an API whose name ends in 'apis'", snapshot: snap({ subscriptions: [subscription("s1", { scope: `${SERVICE_ID}/apis/myapis` })] }) },
    { name: "an API named 'apis'", snapshot: snap({ subscriptions: [subscription("s1", { scope: `${SERVICE_ID}/apis/apis` })] }) },
    { name: "short scope of an API named 'apis' (/apis/apis)", snapshot: snap({ subscriptions: [subscription("s1", { scope: "/apis/apis" })] }) },
    { name: "a product named 'apis'", snapshot: snap({ subscriptions: [subscription("s1", { scope: `${SERVICE_ID}/products/apis` })] }) },
    { name: "state 'Active' in mixed case, PascalCase properties", snapshot: snap({ subscriptions: [pascal(subscription("s1", { state: "Active", scope: "/products/starter" }))] }) },
    { name: "a suspended all-APIs subscription next to a product one", snapshot: snap({ subscriptions: [subscription("old", { scope: ALL_APIS, state: "suspended" }), subscription("s1", { scope: "/products/starter" })] }), count: 1, expect: [{ resourceId: "subscriptions/s1", status: "pass" }] },
    { name: "a state template expression on a product scope", snapshot: snap({ subscriptions: [subscription("s1", { scope: "/products/starter", state: EXPR })] }) },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), subscriptions: [subscription("s1")] }) },
    { name: "children-only input", snapshot: stub({ subscriptions: [subscription("s1")] }) },
    // Policy 3aa03346 matches `like '*/apis'`, which a product or an API named 'apis' also matches: we do not fail them
    { name: "beyond Policy 3aa03346: a product named 'apis' (…/products/apis) is not all APIs", snapshot: snap({ subscriptions: [subscription("s1", { scope: "/products/apis" })] }), count: 1, expect: [{ status: "pass", message: /products\/apis/ }] },
    { name: "beyond Policy 3aa03346: one API named 'apis' (…/apis/apis) is not all APIs", snapshot: snap({ subscriptions: [subscription("s1", { scope: `${SERVICE_ID}/apis/apis` })] }), count: 1, expect: [{ status: "pass" }] },
    // the built-in all-access subscription (scope: the service, as the recorded list shows it): not '/apis', as for Policy 3aa03346
    {
      name: "Policy 3aa03346: the built-in all-access subscription scoped to the service (…/service/x/) is not matched",
      snapshot: snap({ subscriptions: [subscription("master", { scope: `${SERVICE_ID}/`, displayName: "Built-in all-access subscription" })] }),
      count: 1,
      expect: [{ resourceId: "subscriptions/master", status: "pass", message: /whole service \(the built-in all-access scope\)/ }],
    },
  ],
  invalid: [
    { name: "active and scoped to all APIs (full id)", snapshot: snap({ subscriptions: [subscription("s1", { scope: ALL_APIS })] }), count: 1, expect: [{ resourceId: `${SERVICE_ID}/subscriptions/s1`, status: "fail", message: /Active subscription 's1' is scoped to all APIs/ }] },
    { name: "short scope /apis", snapshot: snap({ subscriptions: [subscription("s1", { scope: "/apis" })] }), expect: [{ status: "fail" }] },
    { name: "trailing slash /apis/", snapshot: snap({ subscriptions: [subscription("s1", { scope: `${ALL_APIS}/` })] }), expect: [{ status: "fail" }] },
    { name: "upper-case scope and state, PascalCase properties", snapshot: snap({ subscriptions: [pascal(subscription("S1", { scope: ALL_APIS.toUpperCase(), state: "ACTIVE" }))] }), expect: [{ resourceId: "subscriptions/s1", status: "fail" }] },
    { name: "no state (treated as active)", snapshot: snap({ subscriptions: [subscription("s1", { scope: "/apis", state: undefined })] }), expect: [{ status: "fail" }] },
    {
      name: "one of several",
      snapshot: snap({ subscriptions: [subscription("a", { scope: "/products/p" }), subscription("b", { scope: "/apis" }), subscription("c", { scope: "/apis", state: "cancelled" })] }),
      count: 2,
      expect: [{ resourceId: "subscriptions/a", status: "pass" }, { resourceId: "subscriptions/b", status: "fail" }],
    },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), subscriptions: [subscription("s1", { scope: "/apis" })] }), expect: [{ status: "fail" }] },
    { name: "Policy 3aa03346: state active and scope …/apis -> fail", snapshot: snap({ subscriptions: [subscription("s1", { scope: ALL_APIS, state: "active" })] }), count: 1, expect: [{ status: "fail", message: /scoped to all APIs/ }] },
    // Policy 3aa03346's `equals 'active'` is false on an absent state, so it lets a template without one through at deploy
    // time; ARM then creates the subscription active (the recorded PUT without a state, test_apim_Subscription.yaml)
    { name: "beyond Policy 3aa03346: an absent state is created active by ARM, so it fails", snapshot: snap({ subscriptions: [subscription("s1", { scope: ALL_APIS, state: undefined })] }), count: 1, expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    { name: "no subscriptions", snapshot: snap() },
    { name: "a suspended all-APIs subscription", snapshot: snap({ subscriptions: [subscription("s1", { scope: ALL_APIS, state: "suspended" })] }) },
    { name: "Suspended in mixed case, PascalCase", snapshot: snap({ subscriptions: [pascal(subscription("s1", { scope: "/apis", state: "Suspended" }))] }) },
    { name: "cancelled, expired, rejected and submitted all-APIs subscriptions", snapshot: snap({ subscriptions: ["cancelled", "expired", "rejected", "submitted"].map((state) => subscription(state, { scope: "/apis", state })) }) },
    { name: "a suspended subscription with a template-expression scope", snapshot: snap({ subscriptions: [subscription("s1", { scope: EXPR, state: "suspended" })] }) },
    // a submitted (not yet approved) key is refused by the gateway until it is activated, when it is judged again
    { name: "Policy 3aa03346: state submitted (not active) -> not judged", snapshot: snap({ subscriptions: [subscription("s1", { scope: ALL_APIS, state: "submitted" })] }) },
  ],
  unknown: [
    { name: "scope is a template expression", snapshot: snap({ subscriptions: [subscription("s1", { scope: EXPR })] }), expect: [{ resourceId: "subscriptions/s1", status: "unknown", message: /scope with a template expression/ }] },
    { name: "state is a template expression on an all-APIs scope", snapshot: snap({ subscriptions: [subscription("s1", { scope: "/apis", state: "[parameters('state')]" })] }), expect: [{ resourceId: "subscriptions/s1", status: "unknown", message: /state with a template expression/ }] },
    { name: "subscriptions were not collected", snapshot: snap({ needs: [] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /subscriptions/ }] },
  ],
});
