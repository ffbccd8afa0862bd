/** Renders engine actions: planned changes as a readable diff, or JSON. Secret values never reach here (plans describe them). */
import type { ActionResult } from "../engine/engine.js";
import { shortId } from "./report.js";

const show = (v: unknown) => (v === null || v === undefined ? "(none)" : typeof v === "string" ? v : JSON.stringify(v));

export function renderActions(actions: ActionResult[], format: "text" | "json", dryRun: boolean): string {
  if (format === "json") {
    return (
      JSON.stringify(
        {
          actions: actions.map((a) => ({ ruleId: a.ruleId, resourceId: a.resourceId, mode: a.mode, outcome: a.outcome, reason: a.reason, writes: a.writes, plan: a.plan ? { targetId: a.plan.targetId, operation: a.plan.operation, summary: a.plan.summary, changes: a.plan.changes, steps: a.plan.steps } : undefined })),
        },
        null,
        2,
      ) + "\n"
    );
  }
  const lines: string[] = [];
  for (const a of actions) {
    const head = `${a.outcome.toUpperCase().padEnd(14)} ${a.ruleId}  ${shortId(a.resourceId)}`;
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
  }
  const count = (o: string) => actions.filter((a) => a.outcome === o).length;
  lines.push("");
  lines.push(
    dryRun
      ? `${count("planned")} change(s) planned, ${count("not-remediable")} not remediable, ${count("skipped")} skipped; nothing was changed`
      : `${count("applied")} applied, ${count("rolled-back")} rolled back, ${count("failed")} failed, ${count("not-remediable")} not remediable, ${count("skipped")} skipped, ${count("planned")} reported only`,
  );
  return lines.join("\n") + "\n";
}
