import { rule } from "../../src/remediations/sample-products-removed.js";
import { SERVICE_ID, api, consumption, pascal, product, snap, stub, ruleTester } from "../helpers/rule-tester.js";

/** The Echo API as a new service has it (emulator/contracts.ts, from Azure's recorded default). */
const echoApi = (props: Record<string, unknown> = {}) => api("echo-api", { displayName: "Echo API", path: "echo", serviceUrl: "http://echoapi.cloudapp.net/api", ...props });

ruleTester(rule, {
  valid: [
    { name: "PSRule Azure.APIM.SampleProducts: products other than starter and unlimited pass (apim-B)", snapshot: snap({ products: [product("product-A"), product("product-B")] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /no sample product/ }] },
    { name: "PSRule Azure.APIM.SampleProducts: a service without products passes", snapshot: snap({ apis: [api("orders")] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass" }] },
    { name: "a product whose display name is Starter but whose id is not", snapshot: snap({ products: [product("gold", { displayName: "Starter" })] }) },
    { name: "an API named echo-api with the owner's own backend is not the sample", snapshot: snap({ apis: [api("echo-api", { serviceUrl: "https://echo.contoso.com" })] }) },
    { name: "an API named echo (not the sample's id)", snapshot: snap({ apis: [api("echo", { serviceUrl: "http://echoapi.cloudapp.net/api" })] }) },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), products: [product("gold")] }) },
  ],
  invalid: [
    {
      name: "PSRule Azure.APIM.SampleProducts: starter and unlimited fail, whatever their state (apim-A)",
      snapshot: snap({ products: [product("product-A"), product("starter", { state: "notPublished" }), product("unlimited", { state: "notPublished" })] }),
      count: 2,
      expect: [
        { resourceId: "products/starter", status: "fail", message: /sample product 'starter' \(notPublished\) is still present; delete it \(its subscriptions are deleted with it\)/ },
        { resourceId: "products/unlimited", status: "fail" },
      ],
    },
    { name: "PSRule Azure.APIM.SampleProducts: the product id is compared case-insensitively", snapshot: snap({ products: [pascal(product("Starter"))] }), expect: [{ resourceId: "products/Starter", status: "fail" }] },
    { name: "beyond PSRule Azure.APIM.SampleProducts: the sample Echo API", snapshot: snap({ apis: [echoApi()] }), count: 1, expect: [{ resourceId: "apis/echo-api", status: "fail", message: /sample Echo API 'echo-api' \(backend http:\/\/echoapi\.cloudapp\.net\/api\)/ }] },
    { name: "beyond PSRule Azure.APIM.SampleProducts: echo-api without a backend url", snapshot: snap({ apis: [echoApi({ serviceUrl: undefined })] }), expect: [{ resourceId: "apis/echo-api", status: "fail", message: /backend not set/ }] },
    { name: "the Echo API is reported once, not per revision", snapshot: snap({ apis: [echoApi(), api("echo-api;rev=2", { serviceUrl: "http://echoapi.cloudapp.net/api" })] }), count: 1 },
    { name: "a new service as Azure creates it: Echo API, Starter and Unlimited", snapshot: snap({ apis: [echoApi()], products: [product("starter", { approvalRequired: false }), product("unlimited", { approvalRequired: true })] }), count: 3 },
    { name: "children-only input", snapshot: stub({ products: [product("starter")] }), expect: [{ resourceId: "products/starter", status: "fail" }] },
  ],
  unknown: [
    { name: "products were not collected", snapshot: snap({ needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /products/ }] },
    { name: "APIs were not collected", snapshot: snap({ needs: ["products"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /apis/ }] },
  ],
});
