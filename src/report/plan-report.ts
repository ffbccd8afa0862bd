/** Renders engine actions: planned changes as a readable diff, or JSON. Secret values never reach here (plans describe them). */
import type { ActionResult } from "../engine/engine.js";
import { ruleById } from "../remediations/index.js";
import { shortId } from "./report.js";
import { colors } from "./terminal.js";
import { TOOL_NAME, TOOL_VERSION } from "./version.js";

export interface ActionsRenderOptions {
  /** REMEDIATOR_RULE_MODES as configured: an opt-in rule already set to enforce gets no "how to enable" hint. */
  ruleModes?: Record<string, string>;
  /** Text: colours (stdout is a terminal). */
  color?: boolean;
  /** JSON: the time of the run (default now). */
  time?: Date;
}

/** For a planned change of a rule that is not fixed automatically: the setting that makes remediate apply it. */
export function enableHint(a: ActionResult, ruleModes: Record<string, string> = {}): string | undefined {
  if (a.outcome !== "planned") return undefined;
  const rule = ruleById(a.ruleId);
  if (!rule || rule.meta.defaultAction === "auto" || ruleModes[a.ruleId] === "enforce") return undefined;
  return `opt-in rule: to apply it, set REMEDIATOR_RULE_MODES=${a.ruleId}=enforce (comma-separate several) and run remediate --yes`;
}

const show = (v: unknown) => (v === null || v === undefined ? "(none)" : typeof v === "string" ? v : JSON.stringify(v));

export function renderActions(actions: ActionResult[], format: "text" | "json", dryRun: boolean, options: ActionsRenderOptions = {}): string {
  const count = (o: string) => actions.filter((a) => a.outcome === o).length;
  if (format === "json") {
    const outcomes: Record<string, number> = {};
    for (const a of actions) outcomes[a.outcome] = (outcomes[a.outcome] ?? 0) + 1;
    return (
      JSON.stringify(
        {
          tool: { name: TOOL_NAME, version: TOOL_VERSION },
          time: (options.time ?? new Date()).toISOString(),
          dryRun,
          summary: { actions: actions.length, ...outcomes },
          actions: actions.map((a) => ({ ruleId: a.ruleId, resourceId: a.resourceId, mode: a.mode, outcome: a.outcome, reason: a.reason, writes: a.writes, plan: a.plan ? { targetId: a.plan.targetId, operation: a.plan.operation, summary: a.plan.summary, changes: a.plan.changes, steps: a.plan.steps } : undefined })),
        },
        null,
        2,
      ) + "\n"
    );
  }
  const c = colors(options.color === true);
  const paint = (outcome: string, text: string) =>
    outcome === "applied" ? c.green(text) : outcome === "failed" || outcome === "rolled-back" ? c.red(c.bold(text)) : outcome === "planned" || outcome === "in-progress" ? c.yellow(text) : text;
  const lines: string[] = [];
  for (const a of actions) {
    const head = `${paint(a.outcome, a.outcome.toUpperCase().padEnd(14))} ${a.ruleId}  ${shortId(a.resourceId)}`;
    lines.push(head);
    if (a.plan) {
      lines.push(`    ${a.plan.operation}: ${a.plan.summary}`);
      for (const c of a.plan.changes) {
        lines.push(`    - ${c.path}: ${show(c.before)}`);
        lines.push(`    + ${c.path}: ${show(c.after)}`);
      }
      for (const [i, step] of (a.plan.steps ?? []).entries()) lines.push(`      ${i + 1}. ${step}`);
    }
    if (a.reason && a.reason !== "dry-run") lines.push(`    why: ${a.reason}`);
    const hint = enableHint(a, options.ruleModes);
    if (hint) lines.push(`    ${c.dim(hint)}`);
  }
  lines.push("");
  lines.push(
    dryRun
      ? `${count("planned")} change(s) planned, ${count("not-remediable")} not remediable, ${count("skipped")} skipped; nothing was changed`
      : `${count("applied")} applied, ${count("in-progress") > 0 ? `${count("in-progress")} in progress (not failed: Azure is still completing them), ` : ""}${count("rolled-back")} rolled back, ${count("failed")} failed, ${count("not-remediable")} not remediable, ${count("skipped")} skipped, ${count("planned")} reported only`,
  );
  return lines.join("\n") + "\n";
}
