import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { checkHealth } from "../app/health.js";
import { loggerForInvocation } from "../common/logger.js";

/** GET /api/health — configuration valid, storage reachable, ARM reachable. Anonymous: it reveals no data. */
export async function health(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const report = await checkHealth(process.env);
  const log = loggerForInvocation(context);
  if (!report.ok) log.warn({ checks: report.checks }, "health check failed");
  return { status: report.ok ? 200 : 503, jsonBody: report };
}

export const healthOptions: HttpFunctionOptions = { methods: ["GET"], authLevel: "anonymous", route: "health", handler: health };

app.http("health", healthOptions);
