import { app, type InvocationContext, type StorageQueueFunctionOptions } from "@azure/functions";
import { recordPoison } from "../app/app.js";
import { loggerForInvocation } from "../common/logger.js";
import { appDeps } from "../app/runtime.js";
import { POISON_QUEUE } from "../app/storage.js";

/** Poison queue: audit the failure and log an error an Application Insights alert can target. */
export async function onPoison(message: unknown, context: InvocationContext): Promise<void> {
  const deps = await appDeps();
  const dequeueCount = Number(context.triggerMetadata?.["dequeueCount"] ?? NaN);
  await recordPoison(message, Number.isFinite(dequeueCount) ? dequeueCount : undefined, { ...deps, log: loggerForInvocation(context, { level: deps.config.logLevel }) });
}

export const onPoisonOptions: StorageQueueFunctionOptions = { queueName: POISON_QUEUE, connection: "AzureWebJobsStorage", handler: onPoison };

app.storageQueue("onPoison", onPoisonOptions);
