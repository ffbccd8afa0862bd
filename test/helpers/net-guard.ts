/**
 * The typed face of test/helpers/net-guard.cjs (the guard that keeps every
 * test on loopback) and the check that turns its records into a failure.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

export interface Refusal {
  pid: number;
  /** The vitest worker whose test spawned the process ("" outside a worker). */
  owner: string;
  call: string;
  host: string;
  site: string;
  message: string;
}

export interface NetGuard {
  isLoopbackHost(host: string): boolean;
  /** Runs `fn` with refusals expected (the guard's own test): they are returned, not reported. */
  expectRefusals<T>(fn: () => T | Promise<T>): Promise<{ value: T; refusals: Refusal[] }>;
  /** Takes (and clears) this process's refusals not yet reported. */
  take(): Refusal[];
}

/** The guard file, for `--require` (NODE_OPTIONS). */
export const GUARD_FILE = join(__dirname, "net-guard.cjs");

/** The guard of this process (installed by the first call, if NODE_OPTIONS did not already). */
export function netGuard(): NetGuard {
  return createRequire(__filename)(GUARD_FILE) as NetGuard;
}

/** Refusals recorded in the shared log (every guarded process appends one JSON line each), from byte `from`. */
export function readGuardLog(file = process.env["NET_GUARD_LOG"], from = 0): { refusals: Refusal[]; end: number } {
  if (!file) return { refusals: [], end: from };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { refusals: [], end: from };
  }
  // only whole lines: a process may be appending right now
  const end = text.lastIndexOf("\n") + 1;
  if (end <= from) return { refusals: [], end: from };
  const refusals = text
    .slice(from, end)
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Refusal);
  return { refusals, end };
}

export function describeRefusals(refusals: Refusal[]): string {
  return `network guard: ${refusals.length} connection(s) or DNS lookup(s) off the machine were refused (tests must stay on loopback):\n${refusals.map((r) => `  - pid ${r.pid}: ${r.message}`).join("\n")}`;
}

/** How far each log was checked (per process: the setup file runs again for each test file). */
const checked = ((globalThis as { __netGuardChecked?: Map<string, number> }).__netGuardChecked ??= new Map<string, number>());

/**
 * Throws when this worker, or a process it spawned, made a refused call since
 * the last check (even if the code under test swallowed the error).
 */
export function checkNoRefusals(log = process.env["NET_GUARD_LOG"]): void {
  const own = netGuard().take();
  const { refusals, end } = readGuardLog(log, (log && checked.get(log)) || 0);
  if (log) checked.set(log, end);
  const me = String(process.pid);
  const children = refusals.filter((r) => r.owner === me && r.pid !== process.pid);
  const all = [...own, ...children];
  if (all.length > 0) throw new Error(describeRefusals(all));
}
