/**
 * Detection over snapshots: live (collector) or offline (files). The engine
 * asks each rule for findings; rules are pure, so the same code serves the
 * CLI, the Functions app and the tests.
 */
import type { DataNeed, ServiceSnapshot } from "../model/snapshot.js";
import type { Finding, Rule, RuleOptions } from "../remediations/index.js";
import type { AzureClients } from "../azure/clients.js";
import { collectSnapshot, type CollectOptions } from "../azure/collector.js";
import { inScope } from "../model/snapshot.js";
import { judgesApis, mergeSpanning, pageRules, planGate, servicePartRules, spanningOf, SplitRequired, type ChunkPlan } from "./chunks.js";
import { discoverServices, type ServiceRef } from "../azure/discovery.js";
import type { Config } from "../common/config.js";
import { judgedFromRow, rowSnapshot } from "./rows.js";

export function needsOf(rules: Rule[]): Set<DataNeed> {
  return new Set(rules.flatMap((r) => r.meta.needs));
}

/** Runs every rule on every snapshot. A rule that throws yields one `unknown` finding, never a crash. */
export function detect(snapshots: ServiceSnapshot[], rules: Rule[], options: RuleOptions): Finding[] {
  const out: Finding[] = [];
  for (const s of snapshots) {
    for (const rule of rules) {
      try {
        out.push(...rule.detect(s, options));
      } catch (e) {
        out.push({ ruleId: rule.meta.id, resourceId: s.service.id, status: "unknown", severity: rule.meta.severity, action: rule.meta.defaultAction, message: `Rule failed on this input: ${(e as Error).message}` });
      }
    }
  }
  return out;
}

export interface LiveScanOptions extends Partial<Pick<Config, "managementGroups" | "discovery">> {
  subscriptions: string[];
  resourceGroups: string[];
  /** Service names or ids to keep (case-insensitive); all when empty. */
  services?: string[];
  concurrency?: number;
  onProgress?: (done: number, total: number, service: ServiceRef) => void;
  /** Read and judge a service whose counted ARM calls exceed this many seconds at ARM's read refill in parts (src/engine/chunks.ts); default: one read per service. */
  budgetSeconds?: number;
}

/**
 * Detection over one service in the parts of a chunked evaluation (src/engine/chunks.ts), one after another:
 * the service part, then each page of APIs; what each part finds outside its scope is dropped, but for the
 * verdicts that span every API, merged over the pages.
 */
export async function detectInChunks(clients: AzureClients, serviceId: string, rules: Rule[], options: RuleOptions, budgetSeconds: number, concurrency?: number): Promise<Finding[]> {
  const collect = (rs: Rule[], extra: Partial<CollectOptions>) => collectSnapshot(clients, serviceId, needsOf(rs), { concurrency, unusedDays: options.unusedDays, ...extra });
  if (!rules.some(judgesApis)) return detect([await collect(rules, {})], rules, options);
  // planned on the snapshot's own API list read (src/engine/chunks.ts planGate): not split, it is the read it always was
  let plan: ChunkPlan;
  try {
    return detect([await collect(rules, { onApiList: planGate(rules, budgetSeconds) })], rules, options);
  } catch (e) {
    if (!(e instanceof SplitRequired)) throw e;
    plan = e.plan;
  }
  const out: Finding[] = [];
  const spanning: Finding[][] = [];
  for (const part of plan.parts) {
    const rs = part.index === 0 ? servicePartRules(rules) : pageRules(rules);
    const found = detect([await collect(rs, { scope: part.scope, ...(part.index === 0 ? { apiList: plan.apiList } : {}) })], rs, options);
    out.push(...found.filter((f) => inScope(serviceId, part.scope, f.resourceId)));
    if (part.index > 0) spanning.push(spanningOf(serviceId, found.filter((f) => !inScope(serviceId, part.scope, f.resourceId))));
  }
  return [...out, ...mergeSpanning(spanning)];
}

export async function scanLive(clients: AzureClients, rules: Rule[], options: RuleOptions, scope: LiveScanOptions): Promise<{ services: ServiceRef[]; findings: Finding[] }> {
  let services = await discoverServices(clients, scope);
  const wanted = (scope.services ?? []).map((s) => s.toLowerCase());
  if (wanted.length > 0) services = services.filter((s) => wanted.includes(s.name.toLowerCase()) || wanted.includes(s.id.toLowerCase()));
  const fromRow = rules.filter(judgedFromRow);
  const findings: Finding[] = [];
  let done = 0;
  for (const svc of services) {
    // a Resource Graph row judges the rules that read only the service (no ARM read); the others read ARM as before
    const row = svc.row;
    const rest = row ? rules.filter((r) => !fromRow.includes(r)) : rules;
    if (row) findings.push(...detect([rowSnapshot(row)], fromRow, options));
    if (rest.length > 0) {
      if (scope.budgetSeconds !== undefined) findings.push(...(await detectInChunks(clients, svc.id, rest, options, scope.budgetSeconds, scope.concurrency)));
      else findings.push(...detect([await collectSnapshot(clients, svc.id, needsOf(rest), { concurrency: scope.concurrency, unusedDays: options.unusedDays })], rest, options));
    }
    scope.onProgress?.(++done, services.length, svc);
  }
  return { services: services.map(({ row: _row, etag: _etag, ...ref }) => ref), findings };
}
