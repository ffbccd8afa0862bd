/** Tickets kept in memory: `npm run demo -- --dry-run` and tests. */
import type { TicketContent, TicketProvider, TicketRef } from "./types.js";

export interface MemoryTicket extends TicketContent {
  id: string;
  state: "open" | "closed";
  comments: string[];
}

export class MemoryTicketProvider implements TicketProvider {
  readonly name = "memory";
  readonly tickets: MemoryTicket[] = [];

  find(fingerprint: string): Promise<TicketRef | undefined> {
    const t = [...this.tickets].reverse().find((x) => x.fingerprint === fingerprint);
    return Promise.resolve(t ? { id: t.id, state: t.state } : undefined);
  }
  open(content: TicketContent): Promise<TicketRef> {
    const t: MemoryTicket = { ...content, id: String(this.tickets.length + 1), state: "open", comments: [] };
    this.tickets.push(t);
    return Promise.resolve({ id: t.id, state: "open" });
  }
  private get(ref: TicketRef): MemoryTicket {
    const t = this.tickets.find((x) => x.id === ref.id);
    if (!t) throw new Error(`ticket ${ref.id} not found`);
    return t;
  }
  comment(ref: TicketRef, text: string): Promise<void> {
    this.get(ref).comments.push(text);
    return Promise.resolve();
  }
  close(ref: TicketRef, text: string): Promise<void> {
    const t = this.get(ref);
    t.comments.push(text);
    t.state = "closed";
    return Promise.resolve();
  }
  reopen(ref: TicketRef, _content: TicketContent, text: string): Promise<TicketRef> {
    const t = this.get(ref);
    t.comments.push(text);
    t.state = "open";
    return Promise.resolve({ id: t.id, state: "open" });
  }
}
