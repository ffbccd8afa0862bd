/**
 * The emulator answers tenant access per pricing tier as Azure does (sources in emulator/tiers.ts):
 * Consumption and the v2 tiers have none (400 MethodNotAllowedInPricingTier, details null); the
 * classic dedicated tiers have both settings, and their tenant list answers `access` only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RG, service, startTestEmulator, type TestEnv } from "../helpers/emulator.js";

const SUB = "11111111-1111-4111-8111-111111111111";
const WITHOUT = ["Consumption", "BasicV2", "StandardV2", "PremiumV2"];
const WITH = ["Developer", "Basic", "Standard", "Premium", "Isolated"];
const nameOf = (sku: string) => `apim-${sku.toLowerCase()}`;

describe("tenant access per pricing tier", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator([...WITHOUT, ...WITH].map((sku) => service(nameOf(sku), {}, { sku: { name: sku, capacity: sku === "Consumption" ? 0 : 1 } })), { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());

  const apim = () => env.clients.apim(SUB);

  async function refusal(call: () => Promise<unknown>): Promise<{ status: number | undefined; body: unknown }> {
    try {
      await call();
    } catch (e) {
      const err = e as { statusCode?: number; response?: { bodyAsText?: string | null } };
      return { status: err.statusCode, body: JSON.parse(err.response?.bodyAsText ?? "null") as unknown };
    }
    throw new Error("the call succeeded");
  }

  it.each(WITHOUT)("%s: every tenant access call answers 400 MethodNotAllowedInPricingTier", async (sku) => {
    const name = nameOf(sku);
    // API Management's own error body (apiops#686); `details: null` where the emulator sends APIM's details
    const expected = { status: 400, body: { error: expect.objectContaining({ code: "MethodNotAllowedInPricingTier", message: `Method not allowed in ${sku} pricing tier` }) } };
    const calls: Array<() => Promise<unknown>> = [
      async () => {
        for await (const _ of apim().tenantAccess.listByService(RG, name)) {
          // drained
        }
      },
      () => apim().tenantAccess.get(RG, name, "access"),
      () => apim().tenantAccess.get(RG, name, "gitAccess"),
      () => apim().tenantAccess.update(RG, name, "access", "*", { enabled: true }),
      () => apim().tenantAccess.listSecrets(RG, name, "access"),
      () => apim().tenantAccess.regeneratePrimaryKey(RG, name, "access"),
    ];
    for (const call of calls) {
      const got = await refusal(call);
      expect(got).toEqual(expected);
      expect((got.body as { error: { details?: unknown } }).error.details ?? null).toBeNull();
    }
  });

  it.each(WITH)("%s: both settings exist; the list answers access only, gitAccess is read by name", async (sku) => {
    const name = nameOf(sku);
    const listed: string[] = [];
    for await (const t of apim().tenantAccess.listByService(RG, name)) listed.push(t.name ?? "");
    expect(listed).toEqual(["access"]);
    expect(await apim().tenantAccess.get(RG, name, "gitAccess")).toMatchObject({ name: "gitAccess", principalId: "git", enabled: false });
    expect(await apim().tenantAccess.get(RG, name, "access")).toMatchObject({ name: "access", enabled: false });
  });
});
