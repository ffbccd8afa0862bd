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
    await this.table.upsertEntity(this.toEntity(t), "Replace");
  }

  /** A conditional insert: Table storage answers 409 when the row exists. */
  async insert(t: StoredTicket): Promise<boolean> {
    try {
      await this.table.createEntity(this.toEntity(t));
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 409) return false;
      throw err;
    }
  }

  /** An update with If-Match: 412 when the row changed since it was read, 404 when it went. */
  async replace(t: StoredTicket, etag: string): Promise<boolean> {
    try {
      await this.table.updateEntity(this.toEntity(t), "Replace", { etag });
      return true;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 412 || status === 404) return false;
      throw err;
    }
  }

  private toEntity(t: StoredTicket) {
    return {
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
      claimedAt: t.claimedAt ?? "",
      updatedAt: t.updatedAt,
    };
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
      claimedAt: s("claimedAt"),
      etag: s("etag"),
    };
  }
}
