import type { ArmResource } from "../../src/model/arm.js";
import { rule } from "../../src/remediations/application-insights-logger.js";
import { EXPR, SERVICE_ID, api, consumption, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const logger = (name: string, loggerType = "applicationInsights"): ArmResource =>
  ({ id: `${SERVICE_ID}/loggers/${name}`, name, type: "Microsoft.ApiManagement/service/loggers", properties: { loggerType, credentials: { instrumentationKey: "{{Logger-Credentials--x}}" } } }) as ArmResource;
const diagnostic = (parent: string, props: Record<string, unknown>, name = "applicationinsights"): ArmResource =>
  ({ id: `${parent}/diagnostics/${name}`, name, type: parent === SERVICE_ID ? "Microsoft.ApiManagement/service/diagnostics" : "Microsoft.ApiManagement/service/apis/diagnostics", properties: { alwaysLog: "allErrors", ...props } }) as ArmResource;
const toAppInsights = (percentage: unknown = 100, loggerId: unknown = "/loggers/appi") => ({ loggerId, sampling: { samplingType: "fixed", percentage } });
const NEEDS = ["loggers" as const, "diagnostics" as const, "apiDiagnostics" as const, "apis" as const];
const APPI = [logger("appi")];

ruleTester(rule, {
  valid: [
    { name: "seed baseline: an Application Insights logger and the service-scope diagnostic sampling 100%", snapshot: snap({ needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, toAppInsights())] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /service-scope diagnostic sends every API's requests to Application Insights logger 'appi'/ }] },
    { name: "loggerId as the logger's full ARM id, sampling 25%", snapshot: snap({ needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, toAppInsights(25, `${SERVICE_ID}/loggers/appi`))] }) },
    { name: "no service-scope diagnostic, but every current API has its own (non-current revisions not needed)", snapshot: snap({ needs: NEEDS, loggers: APPI, apis: [api("echo"), api("echo;rev=2"), api("orders")], apiDiagnostics: { echo: [diagnostic(`${SERVICE_ID}/apis/echo`, toAppInsights())], orders: [diagnostic(`${SERVICE_ID}/apis/orders`, toAppInsights(50))] } }) },
    { name: "PascalCase export (Properties.LoggerType, Properties.Sampling.Percentage)", snapshot: snap({ needs: NEEDS, loggers: [pascal(logger("appi"))], diagnostics: [pascal(diagnostic(SERVICE_ID, toAppInsights()))] }) },
    { name: "Consumption has loggers and diagnostics too", snapshot: snap({ service: consumption(), needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, toAppInsights())] }) },
  ],
  invalid: [
    { name: "no logger at all", snapshot: snap({ needs: NEEDS }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /has no Application Insights logger/ }] },
    { name: "only an Event Hub logger", snapshot: snap({ needs: NEEDS, loggers: [logger("eh", "azureEventHub")], diagnostics: [diagnostic(SERVICE_ID, toAppInsights(100, "/loggers/eh"))] }), expect: [{ status: "fail", message: /no Application Insights logger/ }] },
    { name: "a logger but no diagnostic attached (logger alone logs nothing)", snapshot: snap({ needs: NEEDS, loggers: APPI, apis: [api("echo")] }), expect: [{ status: "fail", message: /no service-scope applicationinsights diagnostic; APIs without their own: 'echo'/ }] },
    { name: "the service-scope diagnostic samples 0%", snapshot: snap({ needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, toAppInsights(0))] }), expect: [{ status: "fail", message: /samples 0% of requests/ }] },
    { name: "the azuremonitor diagnostic does not count for Application Insights", snapshot: snap({ needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, { loggerId: "/loggers/azuremonitor", sampling: { percentage: 100 } }, "azuremonitor")] }), expect: [{ status: "fail" }] },
    { name: "one current API of two without its own diagnostic", snapshot: snap({ needs: NEEDS, loggers: APPI, apis: [api("echo"), api("orders")], apiDiagnostics: { echo: [diagnostic(`${SERVICE_ID}/apis/echo`, toAppInsights())] } }), expect: [{ status: "fail", message: /APIs without their own: 'orders'/ }] },
    { name: "the diagnostic names a logger that is not there", snapshot: snap({ needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, toAppInsights(100, "/loggers/deleted"))] }), expect: [{ status: "fail", message: /logger 'deleted', not an Application Insights logger/ }] },
  ],
  notApplicable: [{ name: "children-only input (service not in the input)", snapshot: stub({ needs: NEEDS, loggers: APPI }) }],
  unknown: [
    { name: "sampling is a template expression", snapshot: snap({ needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, toAppInsights(EXPR))] }), expect: [{ status: "unknown", message: /sampling with a template expression/ }] },
    { name: "no sampling percentage (the REST specification gives no default)", snapshot: snap({ needs: NEEDS, loggers: APPI, diagnostics: [diagnostic(SERVICE_ID, { loggerId: "/loggers/appi" })] }), expect: [{ status: "unknown", message: /sets no sampling percentage/ }] },
    { name: "loggers were not collected", snapshot: snap({ needs: ["diagnostics", "apiDiagnostics", "apis"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /loggers/ }] },
  ],
});
