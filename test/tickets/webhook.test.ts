import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SIGNATURE_HEADER, WebhookProvider } from "../../src/tickets/webhook.js";
import { MemoryTicketStore, TicketManager } from "../../src/tickets/manager.js";
import { RULES } from "../../src/remediations/index.js";
import { ticketProviderFromEnv } from "../../src/tickets/config.js";
import { TicketHttpError } from "../../src/tickets/types.js";

const SECRET = "webhook-shared-secret-0123456789";
const SVC = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim1";

interface Received {
  body: string;
  signature: string | undefined;
  json: Record<string, unknown>;
}

/** A receiver like a Logic App or Teams relay: verifies the signature, records events; can be told to fail. */
function receiver() {
  const got: Received[] = [];
  const failures: number[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const status = failures.shift();
      if (status) {
        res.writeHead(status, status === 429 ? { "retry-after": "0" } : {});
        return res.end();
      }
      const sig = req.headers[SIGNATURE_HEADER] as string | undefined;
      const expected = `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
      if (!sig || sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
        res.writeHead(401);
        return res.end();
      }
      got.push({ body, signature: sig, json: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(202);
      res.end();
    });
  });
  return { server, got, failures };
}

describe("webhook ticket provider", () => {
  const r = receiver();
  let url: string;
  beforeAll(async () => {
    await new Promise<void>((ok) => r.server.listen(0, "127.0.0.1", ok));
    url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => new Promise<void>((ok) => (r.server as Server).close(() => ok())));
  beforeEach(() => {
    r.got.length = 0;
    r.failures.length = 0;
  });

  const http = { sleep: () => Promise.resolve(), baseDelayMs: 1 };
  const rule = RULES.find((x) => x.meta.id === "api-https-only")!;
  const finding = { ruleId: rule.meta.id, resourceId: `${SVC}/apis/echo`, status: "fail" as const, severity: rule.meta.severity, message: "API 'echo' accepts http.", action: rule.meta.defaultAction };

  it("posts signed open / comment / close / reopen events through the ticket lifecycle", async () => {
    const m = new TicketManager(new WebhookProvider(url, SECRET, http), new MemoryTicketStore(), { commentIntervalMs: 0 });
    await m.sync({ serviceId: SVC, correlationId: "c1", rulesEvaluated: [rule.meta.id], findings: [finding], drifts: [{ rule, finding, outcome: "planned" }] });
    await m.sync({ serviceId: SVC, correlationId: "c2", rulesEvaluated: [rule.meta.id], findings: [finding], drifts: [{ rule, finding, outcome: "planned" }] });
    await m.sync({ serviceId: SVC, correlationId: "c3", rulesEvaluated: [rule.meta.id], findings: [{ ...finding, status: "pass" }], drifts: [] });
    await m.sync({ serviceId: SVC, correlationId: "c4", rulesEvaluated: [rule.meta.id], findings: [finding], drifts: [{ rule, finding, outcome: "planned" }] });
    expect(r.got.map((g) => g.json["event"])).toEqual(["open", "comment", "close", "reopen"]);
    const open = r.got[0]!.json as { fingerprint: string; ticket: { title: string; body: string; severity: string } };
    expect(open.ticket.severity).toBe("high");
    expect(open.ticket.body).toContain(open.fingerprint);
    expect(r.got.every((g) => g.json["fingerprint"] === open.fingerprint)).toBe(true);
  });

  it("retries 429 and 5xx with backoff, then delivers once", async () => {
    r.failures.push(429, 503);
    const p = new WebhookProvider(url, SECRET, http);
    await p.comment({ id: "fp", state: "open" }, "hello");
    expect(r.got).toHaveLength(1);
  });

  it("a rejected signature is a non-retryable error without the secret in it", async () => {
    const p = new WebhookProvider(url, "a-different-secret-0123456789", http);
    const err = await p.comment({ id: "fp", state: "open" }, "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TicketHttpError);
    expect((err as TicketHttpError).status).toBe(401);
    expect(String((err as Error).message)).not.toContain("a-different-secret");
  });

  it("is configured from settings, with one clear line for a bad one", () => {
    expect(ticketProviderFromEnv({ TICKET_PROVIDER: "webhook", TICKET_WEBHOOK_URL: url, TICKET_WEBHOOK_SECRET: SECRET })?.name).toBe("webhook");
    expect(ticketProviderFromEnv({})).toBeUndefined();
    expect(() => ticketProviderFromEnv({ TICKET_PROVIDER: "webhook", TICKET_WEBHOOK_URL: url, TICKET_WEBHOOK_SECRET: "short" })).toThrow(/^Invalid setting TICKET_WEBHOOK_SECRET: expected a shared secret/);
    expect(() => ticketProviderFromEnv({ TICKET_PROVIDER: "email" })).toThrow(/^Invalid setting TICKET_PROVIDER: expected one of "none", "webhook"/);
    expect(() => ticketProviderFromEnv({ TICKET_PROVIDER: "github", TICKET_GITHUB_REPO: "contoso/apis" })).toThrow(/^Invalid setting TICKET_GITHUB_TOKEN/);
  });
});

describe("ticket manager controls", () => {
  const rule = RULES.find((x) => x.meta.id === "resource-lock")!;
  const svc = (i: number) => `${SVC}${i}`;
  const f = (i: number) => ({ ruleId: rule.meta.id, resourceId: svc(i), status: "fail" as const, severity: rule.meta.severity, message: "no lock", action: rule.meta.defaultAction });

  it("rate-limits creations and keeps the rest pending for the next evaluation", async () => {
    const { MemoryTicketProvider } = await import("../../src/tickets/memory.js");
    const provider = new MemoryTicketProvider();
    let now = 0;
    const m = new TicketManager(provider, new MemoryTicketStore(), { createsPerMinute: 2, now: () => now });
    const reports = [];
    for (let i = 0; i < 4; i++) reports.push(await m.sync({ serviceId: svc(i), correlationId: "c", rulesEvaluated: [rule.meta.id], findings: [f(i)], drifts: [{ rule, finding: f(i), outcome: "not-remediable" }] }));
    expect(provider.tickets).toHaveLength(2);
    expect(reports.filter((x) => x.pending.length === 1)).toHaveLength(2);
    now += 60_000;
    for (let i = 0; i < 4; i++) await m.sync({ serviceId: svc(i), correlationId: "c2", rulesEvaluated: [rule.meta.id], findings: [f(i)], drifts: [{ rule, finding: f(i), outcome: "not-remediable" }] });
    expect(provider.tickets).toHaveLength(4);
  });

  it("comments on a repeated drift only when what it says changed or after the interval", async () => {
    const { MemoryTicketProvider } = await import("../../src/tickets/memory.js");
    const provider = new MemoryTicketProvider();
    let now = Date.parse("2026-11-01T00:00:00Z");
    const m = new TicketManager(provider, new MemoryTicketStore(), { commentIntervalMs: 3600_000, now: () => now });
    const sync = (message: string) => m.sync({ serviceId: svc(9), correlationId: "c", rulesEvaluated: [rule.meta.id], findings: [{ ...f(9), message }], drifts: [{ rule, finding: { ...f(9), message }, outcome: "not-remediable" }] });
    await sync("no lock");
    await sync("no lock");
    expect(provider.tickets[0]?.comments).toHaveLength(0);
    await sync("still no lock, and now ReadOnly on the RG");
    expect(provider.tickets[0]?.comments).toHaveLength(1);
    now += 3600_000;
    await sync("still no lock, and now ReadOnly on the RG");
    expect(provider.tickets[0]?.comments).toHaveLength(2);
  });
});
