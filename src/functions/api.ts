import { randomUUID } from "node:crypto";
import { app, type HttpFunctionOptions, type HttpRequest, type HttpResponseInit, type InvocationContext } from "@azure/functions";
import { report as complianceReport, scopeRefusal } from "../app/app.js";
import { parseServiceId } from "../model/arm.js";
import { appDeps } from "../app/runtime.js";
import { encodeMessage } from "../app/storage.js";

/** POST /api/evaluate {"serviceId": "..."} (function key): enqueue one service now. */
export async function evaluateNow(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return { status: 400, jsonBody: { error: "the body must be JSON: {\"serviceId\": \"/subscriptions/.../providers/Microsoft.ApiManagement/service/NAME\"}" } };
  }
  const serviceId = (body as { serviceId?: unknown } | null)?.serviceId;
  const ref = typeof serviceId === "string" ? parseServiceId(serviceId) : undefined;
  if (!ref) return { status: 400, jsonBody: { error: "serviceId must be an API Management service resource id" } };
  const deps = await appDeps();
  // the scope the event path and the queue worker check (REMEDIATOR_SUBSCRIPTIONS, REMEDIATOR_RESOURCE_GROUPS)
  const refused = scopeRefusal(ref.id, deps.config);
  if (refused) return { status: 403, jsonBody: { error: `${refused}: not evaluated` } };
  const correlationId = `manual-${randomUUID()}`;
  await deps.storage.evaluateQueue.sendMessage(encodeMessage({ serviceId: ref.id, reason: "manual", correlationId, enqueuedAt: new Date().toISOString() }));
  return { status: 202, jsonBody: { serviceId: ref.id, correlationId } };
}

/** GET /api/report (function key): latest compliance per service and rule. */
export async function report(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  const deps = await appDeps();
  return { status: 200, jsonBody: await complianceReport(deps) };
}

export const evaluateNowOptions: HttpFunctionOptions = { methods: ["POST"], authLevel: "function", route: "evaluate", handler: evaluateNow };
export const reportOptions: HttpFunctionOptions = { methods: ["GET"], authLevel: "function", route: "report", handler: report };

app.http("evaluateNow", evaluateNowOptions);
app.http("report", reportOptions);
