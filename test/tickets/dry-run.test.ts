import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { evaluateQueued, type AppDeps } from "../../src/app/app.js";
import { encodeMessage } from "../../src/app/storage.js";
import { MemoryTicketProvider } from "../../src/tickets/memory.js";
import { TicketManager } from "../../src/tickets/manager.js";
import { TableTicketStore } from "../../src/app/ticket-store.js";
import type { TicketContent, TicketProvider, TicketRef } from "../../src/tickets/types.js";
import { appFor } from "../helpers/app.js";
import { PORTAL_USER, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const DEMO = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const DEV = `/subscriptions/${SUB}/resourceGroups/rg-apim-dev/providers/Microsoft.ApiManagement/service/apim-contoso-dev`;
const SECRETS = ["demo-db-pass-Q8w3", "demo-partner-key-Zk41", "demo-orders-key-7Yq2"];

/** A provider that fails while `down` is set (a ticket system outage). */
class FlakyProvider implements TicketProvider {
  readonly name = "flaky";
  down = false;
  constructor(readonly inner: MemoryTicketProvider) {}
  private check() {
    if (this.down) return Promise.reject(new Error("503 Service Unavailable"));
    return Promise.resolve();
  }
  async find(fp: string) {
    await this.check();
    return this.inner.find(fp);
  }
  async open(c: TicketContent) {
    await this.check();
    return this.inner.open(c);
  }
  async comment(r: TicketRef, t: string) {
    await this.check();
    return this.inner.comment(r, t);
  }
  async close(r: TicketRef, t: string) {
    await this.check();
    return this.inner.close(r, t);
  }
  async reopen(r: TicketRef, c: TicketContent, t: string) {
    await this.check();
    return this.inner.reopen(r, c, t);
  }
}

describe("dry-run ticketing over the demo estate", () => {
  let env: TestEnv;
  let deps: AppDeps;
  let memory: MemoryTicketProvider;
  let flaky: FlakyProvider;
  let prefix = 0;

  const evaluate = (correlationId: string) => evaluateQueued(encodeMessage({ serviceId: DEV, reason: "sweep", correlationId, enqueuedAt: new Date().toISOString() }), deps);
  const open = () => memory.tickets.filter((t) => t.state === "open");

  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(async () => {
    env.emu.reset(DEMO);
    deps = await appFor(env.emu, { REMEDIATOR_MODE: "dry-run", REMEDIATOR_STORAGE_PREFIX: `dry${process.pid}x${prefix++}` });
    memory = new MemoryTicketProvider();
    flaky = new FlakyProvider(memory);
    // the demo's drifted service has more drifts (over 40) than the default flood guard opens per minute (30, the rest
    // pending until the next evaluation): these tests are about one ticket per drift, so the guard is raised (as the demo does)
    deps.tickets = new TicketManager(flaky, new TableTicketStore(deps.storage.ticketsTable), { createsPerMinute: 1000 });
  });

  it("changes nothing, never reads a secret, and opens one ticket per drift", async () => {
    env.emu.log.clear();
    const r = await evaluate("dry-1");
    const requests = env.emu.log.list();
    expect(requests.filter((l) => l.method !== "GET")).toEqual([]);
    expect(requests.some((l) => /listValue/i.test(l.path))).toBe(false);
    if (r.kind !== "evaluated") throw new Error("not evaluated");
    const failing = r.result.findings.filter((f) => f.status === "fail");
    expect(memory.tickets).toHaveLength(failing.length);
    expect(new Set(memory.tickets.map((t) => t.fingerprint)).size).toBe(failing.length);
    const https = memory.tickets.find((t) => t.ruleId === "api-https-only" && t.resourceId.endsWith("/apis/echo"));
    expect(https?.title).toBe("[apim-remediator] APIs accept only encrypted protocols (HTTPS, WSS): apim-contoso-dev/apis/echo");
    expect(https?.body).toContain(`https://portal.azure.com/#resource${DEV}/apis/echo`);
    expect(https?.body).toContain('- properties.protocols: ["http","https"]\n+ properties.protocols: ["https"]');
    expect(https?.body).toMatch(/### How to fix it by hand[\s\S]*az /);
    expect(https?.body).toContain("ee7495e7-3ba7-40b6-bfee-c29e22cc75d4");
    expect(https?.body).toContain(`apim-remediator fingerprint: \`${https?.fingerprint}\``);
    expect(https?.labels).toContain(`apim-fp:${https?.fingerprint}`);
    const kv = memory.tickets.find((t) => t.ruleId === "named-value-secrets-in-key-vault");
    expect(kv?.body).toMatch(/Not applied/);
    for (const t of memory.tickets) for (const s of SECRETS) expect(JSON.stringify(t)).not.toContain(s);
  });

  it("a second evaluation opens none; fixing by hand closes; reintroducing reopens", async () => {
    await evaluate("dry-1");
    const count = memory.tickets.length;
    await evaluate("dry-2");
    expect(memory.tickets).toHaveLength(count);
    expect(open()).toHaveLength(count);

    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const access = await user.tenantAccess.get("rg-apim-dev", "apim-contoso-dev", "access");
    await user.tenantAccess.update("rg-apim-dev", "apim-contoso-dev", "access", access.eTag as string, { enabled: false });
    await evaluate("dry-3");
    const t = memory.tickets.find((x) => x.ruleId === "direct-management-endpoint-disabled");
    expect(t?.state).toBe("closed");
    expect(t?.comments.at(-1)).toMatch(/^Resolved: the resource is compliant again/);
    expect(open()).toHaveLength(count - 1);

    const again = await user.tenantAccess.get("rg-apim-dev", "apim-contoso-dev", "access");
    await user.tenantAccess.update("rg-apim-dev", "apim-contoso-dev", "access", again.eTag as string, { enabled: true });
    await evaluate("dry-4");
    expect(t?.state).toBe("open");
    expect(t?.comments.at(-1)).toMatch(/^The drift is back/);
    expect(memory.tickets).toHaveLength(count);
  });

  it("recovers the mapping from the provider when the table is lost: no duplicate", async () => {
    await evaluate("dry-1");
    const count = memory.tickets.length;
    for await (const e of deps.storage.ticketsTable.listEntities()) await deps.storage.ticketsTable.deleteEntity(e.partitionKey as string, e.rowKey as string);
    await evaluate("dry-2");
    expect(memory.tickets).toHaveLength(count);
    const rows = [];
    for await (const e of deps.storage.ticketsTable.listEntities()) rows.push(e);
    expect(rows).toHaveLength(count);
  });

  it("an outage never blocks the evaluation; the pending tickets are delivered once on recovery", async () => {
    flaky.down = true;
    const r = await evaluate("dry-1");
    expect(r.kind).toBe("evaluated");
    if (r.kind === "evaluated") expect(r.result.tickets?.pending.length).toBeGreaterThan(0);
    expect(memory.tickets).toHaveLength(0);
    flaky.down = false;
    const r2 = await evaluate("dry-2");
    if (r2.kind !== "evaluated") throw new Error("not evaluated");
    const failing = r2.result.findings.filter((f) => f.status === "fail").length;
    expect(memory.tickets).toHaveLength(failing);
    await evaluate("dry-3");
    expect(memory.tickets).toHaveLength(failing);
  });
});
