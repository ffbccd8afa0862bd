/**
 * A local stand-in for the Functions host's queue trigger: receives messages
 * from the evaluation queue, runs the same handler the host runs, deletes the
 * message on success, retries a failure until `maxDequeueCount`, then moves
 * it to the poison queue and runs the poison handler. Used by `npm run demo`
 * and the end-to-end tests.
 */
import { evaluateQueued, recordPoison, type AppDeps, type EvaluateOutcome } from "../app/app.js";

export interface DrainResult {
  processed: number;
  failed: number;
  poisoned: number;
  outcomes: EvaluateOutcome[];
}

export async function drainQueue(deps: AppDeps, options: { maxDequeueCount?: number; maxRounds?: number; visibilityTimeout?: number } = {}): Promise<DrainResult> {
  const maxDequeue = options.maxDequeueCount ?? 5;
  const result: DrainResult = { processed: 0, failed: 0, poisoned: 0, outcomes: [] };
  for (let round = 0; round < (options.maxRounds ?? 50); round++) {
    const batch = await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 16, visibilityTimeout: options.visibilityTimeout ?? 120 });
    if (batch.receivedMessageItems.length === 0) break;
    await Promise.all(
      batch.receivedMessageItems.map(async (m) => {
        try {
          const outcome = await evaluateQueued(m.messageText, deps);
          result.outcomes.push(outcome);
          result.processed++;
          await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt);
        } catch (e) {
          result.failed++;
          deps.log.warn({ messageId: m.messageId, dequeueCount: m.dequeueCount, reason: (e as Error).message }, "evaluation failed");
          if (m.dequeueCount >= maxDequeue) {
            await deps.storage.poisonQueue.sendMessage(m.messageText);
            await deps.storage.evaluateQueue.deleteMessage(m.messageId, m.popReceipt);
            await recordPoison(Buffer.from(m.messageText, "base64").toString("utf8"), m.dequeueCount, deps);
            result.poisoned++;
          } else {
            await deps.storage.evaluateQueue.updateMessage(m.messageId, m.popReceipt, undefined, 0);
          }
        }
      }),
    );
  }
  return result;
}
