/**
 * The chunked evaluation in one process (the CLI's plan and remediate, and scan's detection): the parts of
 * src/engine/chunks.ts one after another, no queue. The Functions app runs the same parts, one queue
 * message each (src/app/chunks.ts).
 */
import { randomUUID } from "node:crypto";
import type { EvaluationScope } from "../model/snapshot.js";
import { RULES, type Finding, type Rule } from "../remediations/index.js";
import type { AzureClients } from "../azure/clients.js";
import type { Config } from "../common/config.js";
import { Engine, ruleMode, WriteBudget, type EvaluateOptions, type EvaluationResult } from "./engine.js";
import { judgesApis, mergeSpanning, pageRules, planGate, servicePartRules, spanningOf, SplitRequired, type ChunkPlan, type ChunkPart } from "./chunks.js";

/** An evaluation a plan may split: the whole service (no scope) with a rule that judges APIs. */
export function splittable(rules: readonly Rule[], scope: EvaluationScope | undefined): boolean {
  return scope === undefined && rules.some(judgesApis);
}

/** The options of one part: the service part reuses the plan's API list; a page keeps its share of the spanning verdicts. */
export function partOptions(plan: ChunkPlan, part: ChunkPart, rules: readonly Rule[], serviceId: string, keep: (spanning: Finding[]) => void): Pick<EvaluateOptions, "rules" | "scope" | "apiList" | "onOutOfScope"> {
  if (part.index === 0) return { rules: servicePartRules(rules), scope: part.scope, apiList: plan.apiList };
  return { rules: pageRules(rules), scope: part.scope, onOutOfScope: (found) => keep(spanningOf(serviceId, found)) };
}

export interface ChunkedResult extends EvaluationResult {
  /** The parts' counted ARM calls, in order (one entry when not split). */
  parts: number[];
}

/**
 * Evaluates a service as one evaluation, or, when its counted calls exceed the budget, part by part (the
 * service part, then each page of APIs), sharing one per-service write budget; the result merges the parts.
 */
export async function evaluateInChunks(engine: Engine, clients: AzureClients, config: Config, serviceId: string, options: EvaluateOptions = {}): Promise<ChunkedResult> {
  const rules = (options.rules ?? [...RULES]).filter((r) => ruleMode(config, r) !== "off");
  if (!splittable(rules, options.scope)) return { ...(await engine.evaluate(serviceId, options)), parts: [] };
  // planned on the evaluation's own API list read: not split, it is the evaluation it always was
  let plan: ChunkPlan;
  try {
    let counted = 0;
    const whole = await engine.evaluate(serviceId, { ...options, onApiList: planGate(rules, config.messageBudgetSeconds, (p) => (counted = p.unchunkedCalls)) });
    return { ...whole, parts: [counted] };
  } catch (e) {
    if (!(e instanceof SplitRequired)) throw e;
    plan = e.plan;
  }
  const correlationId = options.correlationId ?? randomUUID();
  const serviceBudget = options.serviceBudget ?? new WriteBudget(config.maxWritesPerService);
  const spanning: Finding[][] = [];
  const results: EvaluationResult[] = [];
  for (const part of plan.parts) {
    const own = part.index === 0 ? options : { ...options, row: undefined, serviceFirst: false };
    results.push(await engine.evaluate(serviceId, { ...own, correlationId, serviceBudget, ...partOptions(plan, part, rules, serviceId, (f) => spanning.push(f)) }));
  }
  const first = results[0] as EvaluationResult;
  return {
    serviceId: first.serviceId,
    correlationId,
    findings: [...results.flatMap((r) => r.findings), ...mergeSpanning(spanning)],
    actions: results.flatMap((r) => r.actions),
    writes: serviceBudget.used,
    expiredExemptions: [...new Set(results.flatMap((r) => r.expiredExemptions))],
    ...(first.fromRow ? { fromRow: first.fromRow } : {}),
    parts: plan.parts.map((p) => p.calls),
  };
}
