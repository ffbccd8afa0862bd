import { rule } from "../../src/remediations/client-certificates-enabled.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, sku, snap, stub, ruleTester } from "../helpers/rule-tester.js";

ruleTester(rule, {
  valid: [
    { name: "Checkov CKV_AZURE_152: Consumption with enableClientCertificate true -> pass", snapshot: snap({ service: consumption({ enableClientCertificate: true }) }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /requests a client certificate/ }] },
    { name: "\"True\" as a string, PascalCase export", snapshot: snap({ service: pascal(consumption({ EnableClientCertificate: "True" })) }) },
    // Learn "How to secure APIs using client certificate authentication": Consumption, Basic v2, Standard v2, Premium v2 need "Request client certificate"
    { name: "beyond Checkov CKV_AZURE_152: a Standard v2 service that requests client certificates", snapshot: snap({ service: service({ enableClientCertificate: true }, sku("StandardV2")) }) },
  ],
  invalid: [
    { name: "Checkov CKV_AZURE_152: Consumption without enableClientCertificate -> fail", snapshot: snap({ service: consumption() }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /not set \(default false\)/ }] },
    { name: "Checkov CKV_AZURE_152: Consumption with enableClientCertificate false -> fail", snapshot: snap({ service: consumption({ enableClientCertificate: false }) }), expect: [{ status: "fail", message: /is false/ }] },
    { name: "beyond Checkov CKV_AZURE_152: a Basic v2 service without it fails (Learn: v2 tiers receive certificates only with it)", snapshot: snap({ service: service({}, sku("BasicV2")) }), expect: [{ status: "fail" }] },
    { name: "beyond Checkov CKV_AZURE_152: a Premium v2 service without it fails", snapshot: snap({ service: service({ enableClientCertificate: "false" }, sku("PremiumV2")) }), expect: [{ status: "fail" }] },
  ],
  notApplicable: [
    // the classic dedicated tiers negotiate client certificates per hostname (negotiateClientCertificate), Checkov CKV_AZURE_152 judges Consumption only
    { name: "Checkov CKV_AZURE_152: a Developer service is not judged", snapshot: snap({ service: service({ enableClientCertificate: false }) }) },
    { name: "a Premium service is not judged", snapshot: snap({ service: service({}, sku("Premium")) }) },
    { name: "children-only input", snapshot: stub() },
  ],
  unknown: [{ name: "enableClientCertificate is a template expression", snapshot: snap({ service: consumption({ enableClientCertificate: EXPR }) }), expect: [{ status: "unknown", message: /template expression/ }] }],
});
