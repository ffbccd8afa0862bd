import { isExpression, leafName, pick, str } from "../model/arm.js";
import type { ArmResource } from "../model/arm.js";
import type { ServiceSnapshot } from "../model/snapshot.js";
import { defineRule } from "./types.js";

/** The diagnostic that sends to Application Insights is named `applicationinsights` (2024-05-01 DiagnosticContract; `azuremonitor` is the other one). */
const AI_DIAGNOSTIC = "applicationinsights";

type Judged = { ok: true } | { ok: false; why: string } | { ok: "unknown"; why: string };

/** Whether a diagnostic sends requests to one of the Application Insights loggers (`loggerId` names it, sampling above 0%). */
function judgeDiagnostic(d: ArmResource, aiLoggers: Set<string>, where: string): Judged {
  const loggerId = pick(d, "properties.loggerId");
  if (isExpression(loggerId)) return { ok: "unknown", why: `the ${where} diagnostic names its logger with a template expression` };
  // `/loggers/{name}` (as a template writes it) or the logger's full ARM id
  const logger = /\/loggers\/([^/]+)\/?$/i.exec(str(loggerId) ?? "")?.[1]?.toLowerCase();
  if (!logger || !aiLoggers.has(logger)) return { ok: false, why: `the ${where} diagnostic sends to ${logger ? `logger '${logger}', not an Application Insights logger` : "no logger"}` };
  const percentage = pick(d, "properties.sampling.percentage");
  if (isExpression(percentage)) return { ok: "unknown", why: `the ${where} diagnostic sets its sampling with a template expression` };
  // the REST specification gives SamplingSettings no default: without a percentage we cannot tell how much is logged
  if (percentage === undefined || percentage === null) return { ok: "unknown", why: `the ${where} diagnostic sets no sampling percentage` };
  const n = Number(percentage);
  if (!Number.isFinite(n) || n <= 0) return { ok: false, why: `the ${where} diagnostic samples ${String(percentage)}% of requests` };
  return { ok: true };
}

function verdict(s: ServiceSnapshot) {
  const aiLoggers = new Set(s.loggers.filter((l) => /^applicationinsights$/i.test(str(pick(l, "properties.loggerType")) ?? "")).map((l) => leafName(l.name).toLowerCase()));
  if (s.loggers.some((l) => isExpression(pick(l, "properties.loggerType"))) && aiLoggers.size === 0) return { status: "unknown" as const, message: "A logger's type is a template expression: whether an Application Insights logger exists cannot be told." };
  if (aiLoggers.size === 0) return { status: "fail" as const, message: `'${s.service.name}' has no Application Insights logger (service/loggers with loggerType applicationInsights).` };

  const serviceDiag = s.diagnostics.find((d) => leafName(d.name).toLowerCase() === AI_DIAGNOSTIC);
  const atService = serviceDiag ? judgeDiagnostic(serviceDiag, aiLoggers, "service-scope") : ({ ok: false, why: "there is no service-scope applicationinsights diagnostic" } as const);
  if (atService.ok === true) return { status: "pass" as const, message: `The service-scope diagnostic sends every API's requests to Application Insights logger ${[...aiLoggers].map((l) => `'${l}'`).join(", ")}.` };

  // otherwise every current API needs its own applicationinsights diagnostic
  const current = s.apis.filter((a) => !a.name.includes(";rev=") && pick(a, "properties.isCurrent") !== false);
  const missing: string[] = [];
  let unknown: string | undefined = atService.ok === "unknown" ? atService.why : undefined;
  for (const a of current) {
    const d = (s.apiDiagnostics[a.name.toLowerCase()] ?? []).find((x) => leafName(x.name).toLowerCase() === AI_DIAGNOSTIC);
    const j = d ? judgeDiagnostic(d, aiLoggers, `API '${a.name}'`) : ({ ok: false, why: "" } as const);
    if (j.ok === "unknown") unknown ??= j.why;
    else if (j.ok === false) missing.push(a.name);
  }
  if (current.length > 0 && missing.length === 0 && unknown === undefined) return { status: "pass" as const, message: `Every API (${current.length}) has an applicationinsights diagnostic sending to an Application Insights logger.` };
  if (missing.length > 0 || (current.length === 0 && atService.ok === false)) {
    const apis = missing.length === 0 ? "" : `; APIs without their own: ${missing.slice(0, 5).map((n) => `'${n}'`).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}`;
    return { status: "fail" as const, message: `Requests of '${s.service.name}' do not all reach Application Insights: ${atService.why}${apis}.` };
  }
  return { status: "unknown" as const, message: `Application Insights diagnostics cannot be judged: ${unknown ?? "unknown"}.` };
}

export const rule = defineRule(
  {
    id: "application-insights-logger",
    title: "Requests are logged to Application Insights",
    severity: "low",
    description: "An Application Insights logger (`service/loggers`, `loggerType: applicationInsights`) receives the requests: the service-scope `applicationinsights` diagnostic (or one on every current API) names it in `loggerId` and samples more than 0%.",
    rationale: "Without request telemetry, failures, latency and abuse of individual APIs go unnoticed, and incidents cannot be traced end to end.",
    defaultAction: "ticket",
    target: "service",
    references: {
      links: ["https://learn.microsoft.com/azure/api-management/api-management-howto-app-insights"],
    },
    needs: ["loggers", "diagnostics", "apiDiagnostics", "apis"],
    // by hand (no automatic fix): PUT service/loggers/{name} (applicationInsights) and service/diagnostics/applicationinsights, or an API's diagnostics
    fixActions: ["Microsoft.ApiManagement/service/loggers/write", "Microsoft.ApiManagement/service/diagnostics/write", "Microsoft.ApiManagement/service/apis/diagnostics/write"],
    // loggers and diagnostics exist on every tier (Microsoft Learn, "How to integrate Azure API Management with Azure Application Insights": APPLIES TO all tiers)
  },
  (s) => [{ resourceId: s.service.id, ...verdict(s) }],
);
