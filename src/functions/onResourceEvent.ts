import { app, type EventGridEvent, type EventGridFunctionOptions, type InvocationContext } from "@azure/functions";
import { handleEvents, type EventDecision } from "../app/app.js";
import { loggerForInvocation } from "../common/logger.js";
import { appDeps } from "../app/runtime.js";

/** Event Grid trigger: resource events from the subscription system topic (Event Grid or CloudEvents schema). */
export async function onResourceEvent(event: EventGridEvent | unknown, context: InvocationContext): Promise<EventDecision[]> {
  const deps = await appDeps();
  const decisions = await handleEvents(event, { ...deps, log: loggerForInvocation(context, { level: deps.config.logLevel }) });
  return decisions;
}

export const onResourceEventOptions: EventGridFunctionOptions = { handler: onResourceEvent };

app.eventGrid("onResourceEvent", onResourceEventOptions);
