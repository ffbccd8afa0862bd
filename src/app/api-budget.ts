/**
 * How many APIs one instance's evaluations may hold at once. A full snapshot's size follows its APIs (each
 * with its revisions, operations, policies and diagnostics), and the queue trigger runs up to host.json's
 * batchSize (16) messages side by side: a few 300-API services arriving together drove the estate bench's
 * peak RSS to 1.65 x a 10-service run (bench/RESULTS.md, "Estate scale"). So an evaluation, once its API list
 * is read and before any API is read one by one, takes one unit per API from this instance's budget, and gives
 * them back when it ends; a service with more APIs than the whole budget takes all of it and runs alone.
 * Turns are taken in arrival order (async-mutex's Semaphore), so a big service is not starved by a stream of
 * small ones. Not bounded: evaluations given their API list (a chunk's page) and API-scoped event evaluations.
 */
import { Semaphore } from "async-mutex";
import type { ArmResource } from "../model/arm.js";

export class ApiBudget {
  private readonly semaphore: Semaphore;
  /** Evaluations that waited for units, and the longest wait (ms). */
  readonly stats = { waited: 0, maxWaitMs: 0 };

  constructor(readonly capacity: number) {
    this.semaphore = new Semaphore(capacity);
  }

  /** The units an API list takes: one per API, at least 1, at most the whole budget. */
  unitsFor(list: readonly ArmResource[]): number {
    return Math.max(1, Math.min(this.capacity, list.length));
  }

  /**
   * A gate for the evaluation's API list (EvaluateOptions.onApiList) that takes the list's units, after `inner`
   * (the chunk plan's gate, which may stop the evaluation first), and `release` that gives them back (idempotent).
   */
  gate(inner?: (list: ArmResource[]) => void | Promise<void>): { onApiList: (list: ArmResource[]) => Promise<void>; release: () => void } {
    let held: (() => void) | undefined;
    const release = () => {
      held?.();
      held = undefined;
    };
    return {
      onApiList: async (list) => {
        await inner?.(list);
        release(); // a second list in one evaluation replaces the first's units
        const units = this.unitsFor(list);
        const waiting = this.semaphore.getValue() < units;
        const started = performance.now();
        [, held] = await this.semaphore.acquire(units);
        if (waiting) {
          this.stats.waited++;
          this.stats.maxWaitMs = Math.max(this.stats.maxWaitMs, performance.now() - started);
        }
      },
      release,
    };
  }

  /** Units free now. */
  get free(): number {
    return this.semaphore.getValue();
  }
}
