/**
 * Webhook provider: POSTs JSON events (`open`, `comment`, `close`, `reopen`)
 * with an HMAC-SHA256 signature of the body in `X-Apim-Remediator-Signature`
 * (`sha256=<hex>`), for Teams/Slack/Logic Apps. A webhook cannot be searched:
 * the ticket id is the fingerprint, so receivers dedupe on it.
 */
import { createHmac } from "node:crypto";
import { requestJson, type HttpOptions } from "./http.js";
import type { TicketContent, TicketProvider, TicketRef } from "./types.js";

export const SIGNATURE_HEADER = "x-apim-remediator-signature";

export function sign(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

export class WebhookProvider implements TicketProvider {
  readonly name = "webhook";
  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly http: HttpOptions = {},
  ) {}

  private async post(event: string, ref: { id: string }, extra: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify({ event, ticketId: ref.id, fingerprint: ref.id, time: new Date().toISOString(), ...extra });
    await requestJson("POST", this.url, { "content-type": "application/json", [SIGNATURE_HEADER]: sign(this.secret, body) }, body, this.http);
  }

  find(): Promise<TicketRef | undefined> {
    return Promise.resolve(undefined);
  }
  async open(content: TicketContent): Promise<TicketRef> {
    await this.post("open", { id: content.fingerprint }, { ticket: content });
    return { id: content.fingerprint, state: "open" };
  }
  async comment(ref: TicketRef, text: string): Promise<void> {
    await this.post("comment", ref, { text });
  }
  async close(ref: TicketRef, text: string): Promise<void> {
    await this.post("close", ref, { text });
  }
  async reopen(ref: TicketRef, content: TicketContent, text: string): Promise<TicketRef> {
    await this.post("reopen", ref, { text, ticket: content });
    return { ...ref, state: "open" };
  }
}
