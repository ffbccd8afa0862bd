import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { checkHealth, publicHealth } from "../app/health.js";
import { loggerForInvocation } from "../common/logger.js";

/**
 * GET /api/health (anonymous) — only ok or not ok: 200 `{ "status": "ok" }` or 503 `{ "status": "unhealthy" }`.
 * Which check failed, the mode, the subscriptions and the storage account are for the function key
 * (`/api/health/details`) and the log; an anonymous caller learns nothing about the deployment.
 */
export async function health(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const report = await checkHealth(process.env);
  const log = loggerForInvocation(context);
  if (!report.ok) log.warn({ checks: report.checks }, "health check failed");
  return { status: report.ok ? 200 : 503, jsonBody: publicHealth(report) };
}

/** GET /api/health/details (function key) — every check with its detail: configuration, storage, ARM. */
export async function healthDetails(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const report = await checkHealth(process.env);
  const log = loggerForInvocation(context);
  if (!report.ok) log.warn({ checks: report.checks }, "health check failed");
  return { status: report.ok ? 200 : 503, jsonBody: report };
}

export const healthOptions: HttpFunctionOptions = { methods: ["GET"], authLevel: "anonymous", route: "health", handler: health };
export const healthDetailsOptions: HttpFunctionOptions = { methods: ["GET"], authLevel: "function", route: "health/details", handler: healthDetails };

app.http("health", healthOptions);
app.http("healthDetails", healthDetailsOptions);
