/**
 * Ticket providers behind one interface. The manager (manager.ts) decides
 * what to open, update, close or reopen; a provider only talks to its system.
 */

export type TicketState = "open" | "closed";

/** Everything a ticket says; built by content.ts, never holding a secret value. */
export interface TicketContent {
  /** Stable id of the drift: sha256 of `ruleId|resourceId` (lowercase), embedded in the ticket. */
  fingerprint: string;
  ruleId: string;
  resourceId: string;
  serviceId: string;
  title: string;
  severity: "critical" | "high" | "medium" | "low";
  /** Markdown body. */
  body: string;
  labels: string[];
}

export interface TicketRef {
  /** The provider's id (issue number, work item id, sys_id, ...). */
  id: string;
  url?: string;
  state: TicketState;
}

export interface TicketProvider {
  readonly name: string;
  /** Finds the ticket carrying this fingerprint (label, tag or field), open or closed, newest first. */
  find(fingerprint: string): Promise<TicketRef | undefined>;
  open(content: TicketContent): Promise<TicketRef>;
  comment(ref: TicketRef, text: string): Promise<void>;
  close(ref: TicketRef, text: string): Promise<void>;
  /** Reopens a closed ticket (providers that cannot reopen open a new one linked to the old and return it). */
  reopen(ref: TicketRef, content: TicketContent, text: string): Promise<TicketRef>;
}

/** An HTTP failure from a provider, with what the manager needs to decide on a retry. */
export class TicketHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500 || this.status === 0;
  }
}
