import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateQueued, type AppDeps } from "../../src/app/app.js";
import { encodeMessage } from "../../src/app/storage.js";
import { MemoryTicketProvider } from "../../src/tickets/memory.js";
import { TicketManager } from "../../src/tickets/manager.js";
import { TableTicketStore } from "../../src/app/ticket-store.js";
import { appFor } from "../helpers/app.js";
import { child, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const T = "Microsoft.ApiManagement/service";

describe("enforce mode tickets what it cannot fix", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([], { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());

  async function run(estate: Array<Record<string, unknown>>, name: string, settings: Record<string, string> = {}) {
    env.emu.reset(estate);
    const deps: AppDeps = await appFor(env.emu, { REMEDIATOR_STORAGE_PREFIX: `enf${process.pid}${name}`, ...settings });
    const provider = new MemoryTicketProvider();
    deps.tickets = new TicketManager(provider, new TableTicketStore(deps.storage.ticketsTable));
    const r = await evaluateQueued(encodeMessage({ serviceId: serviceId(name), reason: "sweep", correlationId: "c", enqueuedAt: new Date().toISOString() }), deps);
    if (r.kind !== "evaluated") throw new Error("deferred");
    return { r: r.result, provider };
  }

  it("fixed drifts get no ticket; a ReadOnly lock (ScopeLocked) and ticket-only rules do", async () => {
    const name = "apimlocked";
    const estate = [
      service(name, { customProperties: { "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10": "True" } }, { identity: { type: "SystemAssigned" } }),
      child(name, "apis/echo", `${T}/apis`, { displayName: "Echo", path: "echo", protocols: ["http", "https"], isCurrent: true, apiRevision: "1" }),
      { id: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Authorization/locks/freeze`, type: "Microsoft.Authorization/locks", properties: { level: "ReadOnly" } },
    ];
    const { r, provider } = await run(estate, name);
    const https = r.actions.find((a) => a.ruleId === "api-https-only");
    expect(https?.outcome).toBe("not-remediable");
    const ticket = provider.tickets.find((t) => t.ruleId === "api-https-only");
    expect(ticket?.body).toMatch(/Not applied automatically: a ReadOnly lock blocks the change/);
    expect(provider.tickets.some((t) => t.ruleId === "gateway-tls-protocols")).toBe(true);
    expect(provider.tickets.some((t) => t.ruleId === "resource-lock")).toBe(false); // the ReadOnly lock protects it
  });

  it("a blast-radius stop is ticketed with its reason; what was fixed is not", async () => {
    const name = "apimblast";
    const estate = [
      service(name, {}, { identity: { type: "SystemAssigned" } }),
      child(name, "apis/a", `${T}/apis`, { displayName: "A", path: "a", protocols: ["http"], isCurrent: true, apiRevision: "1" }),
      child(name, "apis/b", `${T}/apis`, { displayName: "B", path: "b", protocols: ["http"], isCurrent: true, apiRevision: "1" }),
    ];
    const { r, provider } = await run(estate, name, { REMEDIATOR_MAX_WRITES_PER_SERVICE: "1" });
    const applied = r.actions.filter((a) => a.outcome === "applied").map((a) => a.resourceId);
    expect(applied).toHaveLength(1);
    const tickets = provider.tickets.filter((t) => t.ruleId === "api-https-only");
    expect(tickets).toHaveLength(1);
    expect(tickets[0]?.resourceId).not.toBe(applied[0]);
    expect(tickets[0]?.body).toMatch(/per-service write limit/);
  });
});
