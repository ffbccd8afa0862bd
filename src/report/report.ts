/**
 * Scan output: table (terminal), JSON (`{ tool, time, summary, findings }`), Markdown and SARIF 2.1.0
 * (rules with help text and links; results with a physical location GitHub code scanning accepts,
 * the resource id as logical location, and a fingerprint per rule and resource).
 */
import { createHash } from "node:crypto";
import type { Log, ReportingDescriptor, Result } from "sarif";
import type { Finding, Rule } from "../remediations/index.js";
import type { SourceLocation } from "./locations.js";
import { colors, renderTableRows, type Colors } from "./terminal.js";
import { TOOL_NAME, TOOL_VERSION } from "./version.js";

export type Format = "table" | "json" | "markdown" | "sarif";
export const FORMATS: Format[] = ["table", "json", "markdown", "sarif"];

export { TOOL_NAME, TOOL_VERSION };

/** How a report is rendered beyond its format (all optional: the defaults are plain, unwrapped, every finding). */
export interface RenderOptions {
  /** Table, JSON and Markdown: list only failed findings (the summary still counts every finding). */
  onlyFailed?: boolean;
  /** Table: colours (only when stdout is a terminal; see terminal.ts). */
  color?: boolean;
  /** Table: the terminal's width, to wrap the resource and message columns to. */
  columns?: number;
  /** JSON: the time of the scan (default now). */
  time?: Date;
  sarif?: SarifOptions;
}

export interface SarifOptions {
  /** Where each result is shown (a file of the repository and a line); default `apim-estate.json`, line 1. */
  locate?: (finding: Finding) => SourceLocation;
  /** `runs[].automationDetails.id`: the category GitHub keeps this analysis under (a trailing `/` is added). */
  category?: string;
  /** Include passing results (`kind: "pass"`); off by default, as code scanning shows only problems. */
  includePass?: boolean;
}

/** The default `--sarif-location` of live scans: a file name in the repository, not necessarily present. */
export const DEFAULT_SARIF_LOCATION = "apim-estate.json";
/** GitHub code scanning keeps the top 5,000 results of a run (and rejects a run of more than 25,000): the rest are left out here, most severe kept. */
export const MAX_SARIF_RESULTS = 5000;

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
  return renderTableRows(rows);
}

const shown = (findings: Finding[], options: RenderOptions) => (options.onlyFailed ? findings.filter((f) => f.status === "fail") : findings);

function paintStatus(c: Colors, status: string, cell: string): string {
  return status === "FAIL" ? c.red(c.bold(cell)) : status === "PASS" ? c.green(cell) : status === "UNKNOWN" ? c.yellow(cell) : cell;
}

export function renderTable(findings: Finding[], options: RenderOptions = {}): string {
  const s = summary(findings);
  const c = colors(options.color === true);
  const rows = [["STATUS", "SEVERITY", "RULE", "RESOURCE", "MESSAGE"], ...sortFindings(shown(findings, options)).map((f) => [f.status.toUpperCase(), f.severity, f.ruleId, shortId(f.resourceId), f.message])];
  const body = renderTableRows(rows, {
    columns: options.columns,
    wrap: [3, 4],
    paint: (cell, column, row) => (row === 0 ? c.bold(cell) : column === 0 ? paintStatus(c, rows[row]?.[0] ?? "", cell) : column === 1 && (rows[row]?.[1] === "critical" || rows[row]?.[1] === "high") ? c.bold(cell) : cell),
  });
  const counts = `${s.fail > 0 ? c.red(c.bold(`${s.fail} failed`)) : c.green(`${s.fail} failed`)}, ${s.pass} passed, ${s.unknown > 0 ? c.yellow(`${s.unknown} unknown`) : `${s.unknown} unknown`}`;
  return body + `\n${counts}${options.onlyFailed ? ` (only failed shown)` : ""}\n`;
}

export function renderJson(findings: Finding[], options: RenderOptions = {}): string {
  return (
    JSON.stringify(
      {
        tool: { name: TOOL_NAME, version: TOOL_VERSION },
        time: (options.time ?? new Date()).toISOString(),
        summary: summary(findings),
        ...(options.onlyFailed ? { onlyFailed: true } : {}),
        findings: sortFindings(shown(findings, options)).map((f) => ({ ruleId: f.ruleId, resourceId: f.resourceId, status: f.status, severity: f.severity, message: f.message, action: f.action })),
      },
      null,
      2,
    ) + "\n"
  );
}

const md = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderMarkdown(all: Finding[], rules: Rule[], options: RenderOptions = {}): string {
  const s = summary(all);
  const findings = shown(all, options);
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

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 } as const;

/** Stable per rule and resource (the resource id compared case-insensitively, as ARM compares it). */
function fingerprint(f: Finding): string {
  return createHash("sha256").update(`${f.ruleId}|${f.resourceId.toLowerCase()}`).digest("hex");
}

export function renderSarif(all: Finding[], rules: Rule[], options: SarifOptions = {}): string {
  const locate = options.locate ?? (() => ({ uri: DEFAULT_SARIF_LOCATION, startLine: 1 }));
  const wanted = options.includePass ? all : all.filter((f) => f.status !== "pass");
  // the most important first, so a cut at GitHub's limit keeps them: failures, then unknowns, by severity
  const rank = { fail: 0, unknown: 1, pass: 2 } as const;
  const ordered = [...wanted].sort((a, b) => rank[a.status] - rank[b.status] || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.ruleId.localeCompare(b.ruleId) || a.resourceId.localeCompare(b.resourceId));
  const findings = ordered.slice(0, MAX_SARIF_RESULTS);
  const leftOut = ordered.length - findings.length;
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
  const results: Result[] = findings.map((f) => {
    const where = locate(f);
    const hash = fingerprint(f);
    return {
      ruleId: f.ruleId,
      ruleIndex: ruleIndex.get(f.ruleId) ?? -1,
      level: SARIF_LEVEL[f.status],
      kind: f.status === "pass" ? "pass" : f.status === "unknown" ? "review" : "fail",
      message: { text: `${f.message} (${shortId(f.resourceId)})` },
      locations: [
        {
          physicalLocation: { artifactLocation: { uri: where.uri }, region: { startLine: Math.max(1, Math.floor(where.startLine)) } },
          logicalLocations: [{ fullyQualifiedName: f.resourceId, name: shortId(f.resourceId), kind: "resource" }],
        },
      ],
      // primaryLocationLineHash given, not computed by upload-sarif from the line's text: many resources share
      // one line (a live scan's one file), and each rule + resource is its own alert across runs
      partialFingerprints: { primaryLocationLineHash: `${hash.slice(0, 16)}:1`, "ruleResource/v1": `${f.ruleId}|${f.resourceId.toLowerCase()}` },
      properties: { severity: f.severity, action: f.action, resourceId: f.resourceId },
    };
  });
  for (const r of results) if (r.ruleIndex === -1) delete r.ruleIndex;
  const category = (options.category ?? TOOL_NAME).replace(/\/*$/, "/");
  const log: Log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: TOOL_NAME, version: TOOL_VERSION, semanticVersion: TOOL_VERSION, rules: descriptors } },
        automationDetails: { id: category },
        ...(leftOut > 0
          ? {
              invocations: [
                {
                  executionSuccessful: true,
                  toolExecutionNotifications: [{ level: "warning", message: { text: `${leftOut} more result(s) left out: GitHub code scanning keeps ${MAX_SARIF_RESULTS} per run (the most severe are kept)` } }],
                },
              ],
            }
          : {}),
        results,
      },
    ],
  };
  return JSON.stringify(log, null, 2) + "\n";
}

export function render(format: Format, findings: Finding[], rules: Rule[], options: RenderOptions = {}): string {
  switch (format) {
    case "json":
      return renderJson(findings, options);
    case "markdown":
      return renderMarkdown(findings, rules, options);
    case "sarif":
      return renderSarif(findings, rules, options.sarif);
    default:
      return renderTable(findings, options);
  }
}

export function renderRules(rules: Rule[], format: "table" | "json"): string {
  if (format === "json") return JSON.stringify({ rules: rules.map((r) => r.meta) }, null, 2) + "\n";
  return table([["ID", "SEVERITY", "ACTION", "TITLE"], ...rules.map((r) => [r.meta.id, r.meta.severity, r.meta.defaultAction, r.meta.title])]);
}
