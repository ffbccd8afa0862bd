import { rule } from "../../src/remediations/backend-certificate-validation.js";
import { EXPR, SERVICE_ID, backend, consumption, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const tls = (validateCertificateChain: unknown, validateCertificateName: unknown) => ({ tls: { validateCertificateChain, validateCertificateName } });

ruleTester(rule, {
  valid: [
    { name: "no tls settings (validation on by default)", snapshot: snap({ backends: [backend("orders")] }), count: 1, expect: [{ resourceId: "backends/orders", status: "pass", message: /validates certificates/ }] },
    { name: "both true", snapshot: snap({ backends: [backend("orders", tls(true, true))] }) },
    { name: "both \"True\"", snapshot: snap({ backends: [backend("orders", tls("True", "True"))] }) },
    { name: "an empty tls block", snapshot: snap({ backends: [backend("orders", { tls: {} })] }) },
    { name: "PascalCase Properties.Tls.ValidateCertificateChain", snapshot: snap({ backends: [pascal(backend("orders", tls(true, "true")))] }) },
    { name: "several backends", snapshot: snap({ backends: [backend("a"), backend("b", tls(true, true))] }), count: 2 },
    { name: "Policy 92bb331d: absent tls is compliant (both flags default to true)", snapshot: snap({ backends: [backend("orders", { tls: undefined })] }), count: 1, expect: [{ status: "pass" }] },
    { name: "Policy 92bb331d: only validateCertificateName given, true", snapshot: snap({ backends: [backend("orders", { tls: { validateCertificateName: true } })] }) },
    { name: "a pool next to its validating member: only the member is judged", snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined, pool: { services: [{ id: "/backends/m1" }] } }), backend("m1", tls(true, true))] }), count: 1, expect: [{ resourceId: "backends/m1", status: "pass" }] },
  ],
  invalid: [
    { name: "chain validation off", snapshot: snap({ backends: [backend("orders", tls(false, true))] }), expect: [{ resourceId: `${SERVICE_ID}/backends/orders`, status: "fail", message: /does not validate the certificate chain\.$/ }] },
    { name: "name validation \"false\"", snapshot: snap({ backends: [backend("orders", tls(true, "false"))] }), expect: [{ status: "fail", message: /does not validate the certificate name\.$/ }] },
    { name: "both off", snapshot: snap({ backends: [backend("orders", tls(false, false))] }), expect: [{ status: "fail", message: /certificate chain or certificate name/ }] },
    { name: "only chain given, \"False\"", snapshot: snap({ backends: [backend("orders", { tls: { validateCertificateChain: "False" } })] }), expect: [{ status: "fail" }] },
    { name: "PascalCase Properties.Tls with \"False\"", snapshot: snap({ backends: [pascal(backend("orders", tls("False", true)))] }), expect: [{ resourceId: "backends/orders", status: "fail" }] },
    {
      name: "one backend of several",
      snapshot: snap({ backends: [backend("a"), backend("b", tls(true, false))] }),
      count: 2,
      expect: [
        { resourceId: "backends/a", status: "pass" },
        { resourceId: "backends/b", status: "fail" },
      ],
    },
    { name: "chain off next to a template expression (known to fail regardless)", snapshot: snap({ backends: [backend("orders", tls(false, EXPR))] }), expect: [{ resourceId: "backends/orders", status: "fail", message: /certificate chain/ }] },
    { name: "a Consumption service", snapshot: snap({ service: consumption(), backends: [backend("orders", tls(false, true))] }), expect: [{ status: "fail" }] },
    { name: "children-only input (service not in the input)", snapshot: stub({ backends: [backend("orders", tls(false, true))] }), expect: [{ resourceId: "backends/orders", status: "fail" }] },
    { name: "Policy 92bb331d: tls.validateCertificateChain equals false -> fail", snapshot: snap({ backends: [backend("orders", { tls: { validateCertificateChain: false } })] }), count: 1, expect: [{ status: "fail", message: /certificate chain/ }] },
    { name: "Policy 92bb331d: tls.validateCertificateName equals false -> fail", snapshot: snap({ backends: [backend("orders", { tls: { validateCertificateName: false } })] }), count: 1, expect: [{ status: "fail", message: /certificate name/ }] },
    { name: "Policy 92bb331d: a pool member that skips validation fails on its own", snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined }), backend("m1", tls(false, true))] }), count: 1, expect: [{ resourceId: "backends/m1", status: "fail" }] },
  ],
  notApplicable: [
    { name: "no backends", snapshot: snap() },
    { name: "children-only input without backends", snapshot: stub() },
    // a pool has no tls of its own (Policy 92bb331d finds no false flag on it either): no finding rather than a pass that says nothing
    { name: "Policy 92bb331d: a pool (type Pool) alone is not judged", snapshot: snap({ backends: [backend("pool", { type: "Pool", url: undefined, protocol: undefined, pool: { services: [{ id: "/backends/m1" }] } })] }) },
  ],
  unknown: [
    { name: "chain validation is a template expression", snapshot: snap({ backends: [backend("orders", tls(EXPR, true))] }), expect: [{ resourceId: "backends/orders", status: "unknown", message: /template expression/ }] },
    { name: "the tls block is a template expression", snapshot: snap({ backends: [backend("orders", { tls: EXPR })] }) },
    { name: "backends were not collected", snapshot: snap({ needs: ["apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /backends/ }] },
  ],
});
