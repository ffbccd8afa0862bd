/**
 * The shared ARM token budgets (src/azure/shared-pacing.ts) in an Azure Table
 * of the app's storage account: one entity per principal, subscription and
 * kind, replaced with If-Match on its ETag (a 412 means another instance took
 * tokens first; a 409 on create means another instance created the row).
 * Optimistic concurrency with ETags: Learn, "Managing Concurrency in Table
 * storage" / Table service REST "Update Entity" (If-Match).
 */
import type { TokenCredential } from "@azure/core-auth";
import { TableClient } from "@azure/data-tables";
import type { Env } from "../common/config.js";
import type { BudgetRecord, BudgetState, LeaseEntry, SharedBudgetStore } from "../azure/shared-pacing.js";
import { keyOf, openAppTable } from "./storage.js";

export const PACING_TABLE = "remediatorpacing";
const PARTITION = "budget";

interface Row {
  key: string;
  state: string;
}

const statusOf = (e: unknown) => (e as { statusCode?: number }).statusCode;

/** [expiresAt, tokens] or [expiresAt, tokens, instance]. */
const isEntry = (l: unknown): l is LeaseEntry => Array.isArray(l) && (l.length === 2 || (l.length === 3 && typeof l[2] === "string")) && typeof l[0] === "number" && typeof l[1] === "number";

function parse(text: unknown): BudgetState | undefined {
  try {
    const s = JSON.parse(String(text)) as Partial<BudgetState>;
    if (typeof s.tokens !== "number" || typeof s.at !== "number") return undefined;
    return { tokens: s.tokens, at: s.at, pausedUntil: Number(s.pausedUntil ?? 0), taken: Number(s.taken ?? 0), leases: Array.isArray(s.leases) ? s.leases.filter(isEntry) : [] };
  } catch {
    return undefined;
  }
}

export class TableBudgetStore implements SharedBudgetStore {
  constructor(private readonly table: TableClient) {}

  async read(key: string): Promise<BudgetRecord | undefined> {
    try {
      const e = await this.table.getEntity<Row>(PARTITION, keyOf(key));
      const state = parse(e.state);
      // an unreadable row is rewritten as a fresh bucket (by a write with its ETag)
      return { state: state ?? { tokens: 0, at: 0, pausedUntil: 0, taken: 0, leases: [] }, etag: e.etag };
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async write(key: string, state: BudgetState, etag: string | undefined): Promise<BudgetRecord | undefined> {
    const entity = { partitionKey: PARTITION, rowKey: keyOf(key), key, state: JSON.stringify(state) };
    try {
      const r = etag === undefined ? await this.table.createEntity(entity) : await this.table.updateEntity(entity, "Replace", { etag });
      if (!r.etag) throw new Error("the table service answered a write without an ETag");
      return { state, etag: r.etag };
    } catch (e) {
      const s = statusOf(e);
      if (s === 412 || s === 409 || (s === 404 && etag !== undefined)) return undefined;
      throw e;
    }
  }
}

/** The budgets' table from the app's storage settings (the same account as the queues); created if missing. */
export async function openBudgetStore(env: Env, credential: TokenCredential): Promise<TableBudgetStore | undefined> {
  const table = await openAppTable(env, credential, PACING_TABLE);
  return table && new TableBudgetStore(table);
}
