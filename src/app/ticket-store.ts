/** The fingerprint -> ticket mapping in Table storage (partition: service, row: fingerprint). */
import type { TableClient } from "@azure/data-tables";
import { keyOf } from "./storage.js";
import type { StoredTicket, TicketStore } from "../tickets/manager.js";

export const TICKETS_TABLE = "remediatortickets";

export class TableTicketStore implements TicketStore {
  constructor(private readonly table: TableClient) {}

  async get(serviceId: string, fingerprint: string): Promise<StoredTicket | undefined> {
    try {
      const e = await this.table.getEntity<Record<string, unknown>>(keyOf(serviceId), fingerprint);
      return this.fromEntity(e);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async put(t: StoredTicket): Promise<void> {
    await this.table.upsertEntity(
      {
        partitionKey: keyOf(t.serviceId),
        rowKey: t.fingerprint,
        serviceId: t.serviceId,
        ruleId: t.ruleId,
        resourceId: t.resourceId,
        provider: t.provider,
        ticketId: t.ticketId ?? "",
        url: t.url ?? "",
        state: t.state,
        pending: t.pending ?? "",
        contentHash: t.contentHash ?? "",
        lastCommentAt: t.lastCommentAt ?? "",
        updatedAt: t.updatedAt,
      },
      "Replace",
    );
  }

  async listForService(serviceId: string): Promise<StoredTicket[]> {
    const out: StoredTicket[] = [];
    for await (const e of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${keyOf(serviceId)}'` } })) out.push(this.fromEntity(e));
    return out;
  }

  private fromEntity(e: Record<string, unknown>): StoredTicket {
    const s = (k: string) => (typeof e[k] === "string" && e[k] !== "" ? (e[k] as string) : undefined);
    return {
      fingerprint: String(e["rowKey"]),
      serviceId: String(e["serviceId"]),
      ruleId: String(e["ruleId"]),
      resourceId: String(e["resourceId"]),
      provider: String(e["provider"]),
      ticketId: s("ticketId"),
      url: s("url"),
      state: (s("state") ?? "pending") as StoredTicket["state"],
      pending: s("pending") as StoredTicket["pending"],
      contentHash: s("contentHash"),
      lastCommentAt: s("lastCommentAt"),
      updatedAt: String(e["updatedAt"]),
    };
  }
}
