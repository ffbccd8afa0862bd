import { app, type InvocationContext, type StorageQueueFunctionOptions } from "@azure/functions";
import { evaluateQueued, parseMessage, type EvaluateOutcome } from "../app/app.js";
import { loggerForInvocation } from "../common/logger.js";
import { appDeps } from "../app/runtime.js";
import { EVALUATE_QUEUE } from "../app/storage.js";

/**
 * Queue worker: evaluates one service. A transient failure throws, so the host
 * retries the message; after maxDequeueCount (host.json) it goes to the poison queue.
 */
export async function evaluate(message: unknown, context: InvocationContext): Promise<EvaluateOutcome | undefined> {
  const deps = await appDeps();
  const log = loggerForInvocation(context, { level: deps.config.logLevel });
  try {
    parseMessage(message);
  } catch (e) {
    // a malformed message never succeeds: acknowledge it instead of retrying it into the poison queue
    log.error({ reason: (e as Error).message }, "malformed evaluation message dropped");
    return undefined;
  }
  return evaluateQueued(message, { ...deps, log });
}

export const evaluateOptions: StorageQueueFunctionOptions = { queueName: EVALUATE_QUEUE, connection: "AzureWebJobsStorage", handler: evaluate };

app.storageQueue("evaluate", evaluateOptions);
