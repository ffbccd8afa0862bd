/**
 * What a ticket says about a drift: title, severity, the resource with a
 * portal link, what is wrong and why it matters (from the rule's page in
 * docs/rules), the exact change the remediator would make, how to fix it by
 * hand (the page's `az` and Bicep section), references, and the fingerprint.
 * Never a secret value: plans describe secrets, and the text is scrubbed.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Finding, Plan, Rule } from "../model/rule.js";
import type { TicketContent } from "./types.js";

export function fingerprintOf(ruleId: string, resourceId: string): string {
  return createHash("sha256").update(`${ruleId}|${resourceId.toLowerCase().replace(/\/+$/, "")}`).digest("hex").slice(0, 32);
}

export function portalLink(resourceId: string): string {
  return `https://portal.azure.com/#resource${resourceId}`;
}

const docsCache = new Map<string, Record<string, string>>();

/** The rule's page split into sections (`## Heading` -> text); empty when the docs are not shipped. */
export function ruleDocSections(ruleId: string): Record<string, string> {
  const hit = docsCache.get(ruleId);
  if (hit) return hit;
  const candidates = [resolve(__dirname, "../../docs/rules"), resolve(__dirname, "../../../docs/rules"), resolve(process.cwd(), "docs/rules")];
  const dir = candidates.find((d) => existsSync(join(d, `${ruleId}.md`)));
  const sections: Record<string, string> = {};
  if (dir) {
    let current = "";
    for (const line of readFileSync(join(dir, `${ruleId}.md`), "utf8").split("\n")) {
      const m = /^## (.+)$/.exec(line);
      if (m) {
        current = (m[1] as string).trim().toLowerCase();
        sections[current] = "";
      } else if (current) sections[current] += line + "\n";
    }
    for (const k of Object.keys(sections)) sections[k] = (sections[k] as string).trim();
  }
  docsCache.set(ruleId, sections);
  return sections;
}

function shortResource(id: string): string {
  const m = /\/providers\/Microsoft\.ApiManagement\/service\/(.+)$/i.exec(id);
  return m ? (m[1] as string) : id;
}

const show = (v: unknown) => (v === null || v === undefined ? "(none)" : typeof v === "string" ? v : JSON.stringify(v));

export interface DriftInput {
  rule: Rule;
  finding: Finding;
  serviceId: string;
  /** The change the remediator would make (dry-run) or tried to make. */
  plan?: Plan;
  /** Why it was not fixed automatically (mode, ScopeLocked, blast radius, failed verification ...). */
  reason?: string;
  outcome: string;
}

export function buildTicket(d: DriftInput, scrub: (s: string) => string = (s) => s): TicketContent {
  const { rule, finding } = d;
  const fp = fingerprintOf(rule.meta.id, finding.resourceId);
  const doc = ruleDocSections(rule.meta.id);
  const service = shortResource(d.serviceId);
  const lines: string[] = [];
  lines.push(`**Severity:** ${rule.meta.severity} · **Rule:** \`${rule.meta.id}\` · **Service:** ${service}`);
  lines.push(`**Resource:** [\`${shortResource(finding.resourceId)}\`](${portalLink(finding.resourceId)})`);
  lines.push("", "### What is wrong", "", finding.message, "", rule.meta.description);
  lines.push("", "### Why it matters", "", doc["why it matters"] || rule.meta.rationale);
  lines.push("", "### The change apim-remediator would make", "");
  if (d.plan) {
    lines.push(`${d.plan.operation} on \`${shortResource(d.plan.targetId)}\`: ${d.plan.summary}`, "", "```diff");
    for (const c of d.plan.changes) lines.push(`- ${c.path}: ${show(c.before)}`, `+ ${c.path}: ${show(c.after)}`);
    lines.push("```");
    if (d.plan.steps?.length) lines.push("", ...d.plan.steps.map((s, i) => `${i + 1}. ${s}`));
  } else {
    lines.push(rule.remediation ? "No automatic change could be planned." : "This rule is reported, not fixed automatically.");
  }
  if (d.outcome === "in-progress") lines.push("", `In progress: ${d.reason ?? "the remediator started the change; Azure is still applying it"}`);
  else if (d.reason && d.reason !== "dry-run") lines.push("", `Not applied automatically: ${d.reason}`);
  else if (d.plan) lines.push("", "Not applied: the remediator runs in dry-run mode for this rule.");
  const manual = doc["how to fix it by hand"];
  lines.push("", "### How to fix it by hand", "", manual || "See the rule's documentation.");
  lines.push("", "### References", "");
  const r = rule.meta.references;
  if (r.azurePolicy) lines.push(`- Azure Policy: [${r.azurePolicy}](https://portal.azure.com/#view/Microsoft_Azure_Policy/PolicyDetailBlade/definitionId/%2Fproviders%2FMicrosoft.Authorization%2FpolicyDefinitions%2F${r.azurePolicy})`);
  if (r.defender) lines.push(`- Defender for Cloud: ${r.defender}`);
  if (r.psrule) lines.push(`- PSRule for Azure: ${r.psrule}`);
  if (r.baseline) lines.push(`- Baseline: ${r.baseline}`);
  for (const l of r.links ?? []) lines.push(`- ${l}`);
  lines.push("", "---", `apim-remediator fingerprint: \`${fp}\` (rule \`${rule.meta.id}\`, resource \`${finding.resourceId}\`)`);
  return {
    fingerprint: fp,
    ruleId: rule.meta.id,
    resourceId: finding.resourceId,
    serviceId: d.serviceId,
    title: scrub(`[apim-remediator] ${rule.meta.title}: ${shortResource(finding.resourceId)}`).slice(0, 250),
    severity: rule.meta.severity,
    body: scrub(lines.join("\n")),
    labels: ["apim-remediator", `apim-rule:${rule.meta.id}`, `apim-fp:${fp}`, `severity:${rule.meta.severity}`],
  };
}

/** A short hash of what a ticket says, to tell whether a repeated drift changed. */
export function contentHash(c: TicketContent): string {
  return createHash("sha256").update(c.title + "\n" + c.body.replace(/Not applied.*\n/g, "")).digest("hex").slice(0, 16);
}
