/**
 * Scan output: table (terminal), JSON (`{ findings }`), Markdown and SARIF 2.1.0
 * (rules with help text and links; results with the resource id as logical location).
 */
import type { Log, ReportingDescriptor, Result } from "sarif";
import type { Finding, Rule } from "../remediations/index.js";

export type Format = "table" | "json" | "markdown" | "sarif";
export const FORMATS: Format[] = ["table", "json", "markdown", "sarif"];

export const TOOL_VERSION = "0.1.0";

function sortFindings(findings: Finding[]): Finding[] {
  const rank = { fail: 0, unknown: 1, pass: 2 } as const;
  return [...findings].sort((a, b) => rank[a.status] - rank[b.status] || a.ruleId.localeCompare(b.ruleId) || a.resourceId.localeCompare(b.resourceId));
}

export function summary(findings: Finding[]): { fail: number; pass: number; unknown: number } {
  return {
    fail: findings.filter((f) => f.status === "fail").length,
    pass: findings.filter((f) => f.status === "pass").length,
    unknown: findings.filter((f) => f.status === "unknown").length,
  };
}

/** A short, readable form of a resource id: `service/apis/echo`. */
export function shortId(id: string): string {
  const m = /\/providers\/Microsoft\.ApiManagement\/service\/(.+)$/i.exec(id);
  return m ? (m[1] as string) : id;
}

function table(rows: string[][]): string {
  // a reduce, not Math.max(...rows): a spread of a few hundred thousand rows overflows the stack
  const widths = rows[0]!.map((_, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? "").length), 0));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd()).join("\n") + "\n";
}

export function renderTable(findings: Finding[]): string {
  const s = summary(findings);
  const rows = [["STATUS", "SEVERITY", "RULE", "RESOURCE", "MESSAGE"], ...sortFindings(findings).map((f) => [f.status.toUpperCase(), f.severity, f.ruleId, shortId(f.resourceId), f.message])];
  return table(rows) + `\n${s.fail} failed, ${s.pass} passed, ${s.unknown} unknown\n`;
}

export function renderJson(findings: Finding[]): string {
  return JSON.stringify({ findings: sortFindings(findings).map((f) => ({ ruleId: f.ruleId, resourceId: f.resourceId, status: f.status, severity: f.severity, message: f.message, action: f.action })) }, null, 2) + "\n";
}

const md = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderMarkdown(findings: Finding[], rules: Rule[]): string {
  const s = summary(findings);
  const lines = ["# APIM compliance report", "", `**${s.fail} failed**, ${s.pass} passed, ${s.unknown} unknown.`, ""];
  for (const rule of rules) {
    const fs = sortFindings(findings.filter((f) => f.ruleId === rule.meta.id));
    if (fs.length === 0) continue;
    const failed = fs.filter((f) => f.status === "fail").length;
    lines.push(`## ${failed > 0 ? "❌" : fs.some((f) => f.status === "unknown") ? "❔" : "✅"} \`${rule.meta.id}\` — ${md(rule.meta.title)}`, "");
    lines.push(`Severity **${rule.meta.severity}**, action **${rule.meta.defaultAction}**. ${md(rule.meta.description)}`, "");
    lines.push("| status | resource | message |", "|---|---|---|");
    for (const f of fs) lines.push(`| ${f.status} | \`${md(shortId(f.resourceId))}\` | ${md(f.message)} |`);
    lines.push("");
  }
  return lines.join("\n");
}

const SARIF_LEVEL = { fail: "error", unknown: "warning", pass: "none" } as const;
const SECURITY_SEVERITY = { critical: "9.5", high: "8.0", medium: "5.5", low: "3.0" } as const;

export function renderSarif(findings: Finding[], rules: Rule[]): string {
  const ruleIndex = new Map(rules.map((r, i) => [r.meta.id, i]));
  const descriptors: ReportingDescriptor[] = rules.map((r) => {
    const refs = [
      r.meta.references.azurePolicy ? `Azure Policy: ${r.meta.references.azurePolicy}` : "",
      r.meta.references.defender ? `Defender for Cloud: ${r.meta.references.defender}` : "",
      r.meta.references.psrule ? `PSRule: ${r.meta.references.psrule}` : "",
    ].filter((x) => x);
    return {
      id: r.meta.id,
      name: r.meta.id.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase()),
      shortDescription: { text: r.meta.title },
      fullDescription: { text: r.meta.description },
      help: {
        text: `${r.meta.rationale}${refs.length ? `\n${refs.join("\n")}` : ""}\nRule page: docs/rules/${r.meta.id}.md`,
        markdown: `${r.meta.rationale}\n\n${refs.map((x) => `- ${x}`).join("\n")}\n\nRule page: \`docs/rules/${r.meta.id}.md\`${(r.meta.references.links ?? []).map((l) => `\n- <${l}>`).join("")}`,
      },
      ...(r.meta.references.links?.[0] ? { helpUri: r.meta.references.links[0] } : {}),
      defaultConfiguration: { level: r.meta.severity === "low" ? "note" : r.meta.severity === "medium" ? "warning" : "error" },
      properties: { tags: ["security", "azure", "api-management"], "security-severity": SECURITY_SEVERITY[r.meta.severity], action: r.meta.defaultAction },
    };
  });
  const results: Result[] = sortFindings(findings).map((f) => ({
    ruleId: f.ruleId,
    ruleIndex: ruleIndex.get(f.ruleId) ?? -1,
    level: SARIF_LEVEL[f.status],
    kind: f.status === "pass" ? "pass" : f.status === "unknown" ? "review" : "fail",
    message: { text: f.message },
    locations: [{ logicalLocations: [{ fullyQualifiedName: f.resourceId, name: shortId(f.resourceId), kind: "resource" }] }],
    partialFingerprints: { "ruleResource/v1": `${f.ruleId}|${f.resourceId.toLowerCase()}` },
    properties: { severity: f.severity, action: f.action },
  }));
  for (const r of results) if (r.ruleIndex === -1) delete r.ruleIndex;
  const log: Log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [{ tool: { driver: { name: "apim-remediator", version: TOOL_VERSION, rules: descriptors } }, results }],
  };
  return JSON.stringify(log, null, 2) + "\n";
}

export function render(format: Format, findings: Finding[], rules: Rule[]): string {
  switch (format) {
    case "json":
      return renderJson(findings);
    case "markdown":
      return renderMarkdown(findings, rules);
    case "sarif":
      return renderSarif(findings, rules);
    default:
      return renderTable(findings);
  }
}

export function renderRules(rules: Rule[], format: "table" | "json"): string {
  if (format === "json") return JSON.stringify({ rules: rules.map((r) => r.meta) }, null, 2) + "\n";
  return table([["ID", "SEVERITY", "ACTION", "TITLE"], ...rules.map((r) => [r.meta.id, r.meta.severity, r.meta.defaultAction, r.meta.title])]);
}
