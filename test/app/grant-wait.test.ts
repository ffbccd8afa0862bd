/**
 * The app does not wait for a Key Vault grant inside a function (issue 16, items 2 and 3): while the
 * service identity's new role assignment is still taking effect, the migration ends `in-progress`
 * with the value inline, the evaluation sends itself a delayed retry, and that retry completes the
 * migration once the grant works. Against the emulator's role propagation (emulator/profile.ts).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateQueued, parseMessage, type AppDeps, type EvaluateOutcome } from "../../src/app/app.js";
import { encodeMessage } from "../../src/app/storage.js";
import { RULES } from "../../src/remediations/index.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { child, REMEDIATOR, RG, service, serviceId, startTestEmulator, SUB, type TestEnv } from "../helpers/emulator.js";

const NAME = "apim-grant-wait";
const ID = serviceId(NAME);
const VAULT = "kv-grant-wait";
const KV_ID = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/vaults/${VAULT}`;
const OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
const RULE = "named-value-secrets-in-key-vault";
const MODES = RULES.map((r) => `${r.meta.id}=${r.meta.id === RULE ? "enforce" : "off"}`).join(",");

let env: TestEnv;
let deps: AppDeps;
const estate = (value: string) => [
  { id: `/subscriptions/${SUB}`, type: "Microsoft.Resources/subscriptions", displayName: "grant wait" },
  { id: KV_ID, type: "Microsoft.KeyVault/vaults", name: VAULT, location: "westeurope", properties: { enableRbacAuthorization: true } },
  { id: `${KV_ID}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`, type: "Microsoft.Authorization/roleAssignments", properties: { roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${OFFICER}`, principalId: REMEDIATOR, principalType: "ServicePrincipal", scope: KV_ID } },
  service(NAME, {}, { identity: { type: "SystemAssigned" } }),
  child(NAME, "namedValues/db-password", "Microsoft.ApiManagement/service/namedValues", { displayName: "db-password", secret: true, value }),
];
const outcomeOf = (o: EvaluateOutcome) => (o.kind === "evaluated" ? o.result.actions.find((a) => a.ruleId === RULE)?.outcome : o.kind);

beforeAll(async () => {
  env = await startTestEmulator(estate("grant-wait-initial-0000"), { throttle: { enabled: false } });
  deps = await appFor(env.emu, { REMEDIATOR_RULE_MODES: MODES, KEY_VAULT_URL: env.emu.keyVaults[VAULT] as string, KEY_VAULT_RESOURCE_ID: KV_ID });
  deps.operationRecheckSeconds = 1;
});
afterAll(async () => {
  env.emu.setTiming({ propagationMs: 0 });
  await env.emu.stop();
});

describe("a grant still taking effect", () => {
  it("ends in progress with the value inline and a delayed retry; the retry migrates once the grant works", async () => {
    const value = `grant-wait-${randomUUID()}`;
    env.emu.reset(estate(value));
    await clearAppStorage(deps);
    env.emu.setTiming({ propagationMs: 10 * 60_000 }); // minutes, as in Azure
    const first = await evaluateQueued(encodeMessage({ serviceId: ID, reason: "sweep", correlationId: "first", enqueuedAt: new Date().toISOString() }), deps);
    expect(outcomeOf(first)).toBe("in-progress");
    const apim = env.clients.apim(SUB);
    expect((await apim.namedValue.get(RG, NAME, "db-password")).keyVault?.secretIdentifier).toBeUndefined(); // never a reference it cannot read
    // one delayed message asks for the next try (not visible yet)
    expect((await deps.storage.evaluateQueue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toEqual([]);
    expect((await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(1);

    env.emu.setTiming({ propagationMs: 0 }); // the minutes have passed
    let got: { messageText: string; messageId: string; popReceipt: string } | undefined;
    for (let i = 0; i < 40 && !got; i++) {
      got = (await deps.storage.evaluateQueue.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems[0];
      if (!got) await new Promise((r) => setTimeout(r, 100));
    }
    expect(got).toBeDefined();
    expect(parseMessage(got?.messageText ?? "")).toMatchObject({ serviceId: ID, reason: "retry" });
    await deps.storage.evaluateQueue.deleteMessage(got?.messageId ?? "", got?.popReceipt ?? "");
    const second = await evaluateQueued(got?.messageText, deps);
    expect(outcomeOf(second)).toBe("applied");
    expect((await apim.namedValue.listValue(RG, NAME, "db-password")).value === value).toBe(true);
    expect((await deps.storage.evaluateQueue.getProperties()).approximateMessagesCount).toBe(0);
  });
});
