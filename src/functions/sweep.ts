import { app, type InvocationContext, type Timer, type TimerFunctionOptions } from "@azure/functions";
import { sweep as sweepServices } from "../app/app.js";
import { loggerForInvocation } from "../common/logger.js";
import { appDeps } from "../app/runtime.js";

/** Timer: enqueue one evaluation per APIM service in scope; workers drain the queue in parallel. */
export async function sweep(_timer: Timer, context: InvocationContext): Promise<string[]> {
  const deps = await appDeps();
  return sweepServices({ ...deps, log: loggerForInvocation(context, { level: deps.config.logLevel }) }, `sweep-${context.invocationId}`);
}

export const sweepOptions: TimerFunctionOptions = { schedule: "%SWEEP_SCHEDULE%", runOnStartup: false, useMonitor: true, handler: sweep };

app.timer("sweep", sweepOptions);
