import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handleEvents } from "../../src/app/app.js";
import type { AppDeps } from "../../src/app/app.js";
import { drainQueue } from "../../src/local/driver.js";
import { PORTAL_USER, startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { appFor, clearAppStorage } from "../helpers/app.js";

const DEMO = JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Array<Record<string, unknown>>;
const SUB = "8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34";
const PROD = `/subscriptions/${SUB}/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso-prod`;

describe("event -> queue -> worker -> fixed", () => {
  let env: TestEnv;
  let deps: AppDeps;
  beforeAll(async () => {
    env = await startTestEmulator(DEMO, { throttle: { enabled: false } });
    deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: SUB });
    await clearAppStorage(deps);
  });
  afterAll(async () => env.emu.stop());

  it("a user re-enabling HTTP on an API is fixed, and the fix causes no further writes", async () => {
    const user = env.clientsAs(PORTAL_USER).apim(SUB);
    const api = await user.api.get("rg-apim-prod", "apim-contoso-prod", "orders");
    const since = env.emu.events.list().length;
    await user.api.update("rg-apim-prod", "apim-contoso-prod", "orders", api.eTag as string, { protocols: ["http", "https"] });
    const events = env.emu.events.list(since);
    expect(events).toHaveLength(1);
    const decisions = await handleEvents(events[0], deps);
    expect(decisions[0]).toMatchObject({ accepted: true, enqueued: true, serviceId: PROD });
    const drained = await drainQueue(deps);
    expect(drained.processed).toBe(1);
    const fixed = await user.api.get("rg-apim-prod", "apim-contoso-prod", "orders");
    expect(fixed.protocols).toEqual(["https"]);
    // the remediator's own write produced an event; it is dropped, nothing is enqueued
    const own = env.emu.events.list(since + 1);
    expect(own.length).toBeGreaterThan(0);
    for (const e of own) expect((await handleEvents(e, deps))[0]?.accepted).toBe(false);
    expect((await deps.storage.evaluateQueue.peekMessages()).peekedMessageItems).toHaveLength(0);
  });
});
