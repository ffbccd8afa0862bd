/**
 * Test helpers: an emulator per suite, and the product's own client factory
 * pointed at it (so tests drive the unmodified SDK clients over HTTPS).
 */
import { start, type EmulatorHandle, type EmulatorOptions } from "../../emulator/server.js";
import type { Estate } from "../../emulator/store.js";
import { createClients, LocalTokenCredential, type AzureClients } from "../../src/azure/clients.js";
import { loadConfig, type Config } from "../../src/common/config.js";

export const SUB = "11111111-1111-4111-8111-111111111111";
export const SUB2 = "22222222-2222-4222-8222-222222222222";
export const RG = "rg-apim";
export const REMEDIATOR = "0e5a0000-0000-4000-8000-00000000beef";
export const PORTAL_USER = "0e5a0000-0000-4000-8000-0000000051e5";

export function serviceId(name: string, rg = RG, sub = SUB): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ApiManagement/service/${name}`;
}

export interface TestEnv {
  emu: EmulatorHandle;
  config: Config;
  clients: AzureClients;
  /** Clients acting as another principal (e.g. a user in the portal). */
  clientsAs(principalId: string): AzureClients;
}

export async function startTestEmulator(estate: Estate, options: Partial<EmulatorOptions> = {}): Promise<TestEnv> {
  const emu = await start({ estate, ...options });
  const config = loadConfig({
    ARM_ENDPOINT: emu.armEndpoint,
    ARM_CA_FILE: emu.caFile,
    REMEDIATOR_PRINCIPAL_ID: REMEDIATOR,
    ARM_MAX_RETRIES: "3",
  });
  const clients = createClients(config);
  return {
    emu,
    config,
    clients,
    clientsAs: (principalId) => createClients(config, { credential: new LocalTokenCredential(principalId) }),
  };
}

/** A minimal service resource in the estate format. */
export function service(name: string, props: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, rg = RG, sub = SUB): Record<string, unknown> {
  return {
    id: serviceId(name, rg, sub),
    type: "Microsoft.ApiManagement/service",
    name,
    location: "westeurope",
    sku: { name: "Developer", capacity: 1 },
    properties: { publisherEmail: "apis@contoso.example", publisherName: "Contoso", createdAtUtc: "2023-05-01T00:00:00Z", ...props },
    ...extra,
  };
}

export function child(svcName: string, path: string, type: string, properties: Record<string, unknown>, rg = RG, sub = SUB): Record<string, unknown> {
  const id = `${serviceId(svcName, rg, sub)}/${path}`;
  return { id, type, name: path.split("/").pop(), properties };
}

/** The demo estate (emulator/estates/demo.json) on a fresh emulator, and the CLI flags that point the CLI at it. */
export async function startDemoCliEmulator(): Promise<{ env: TestEnv; flags: string[] }> {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const env = await startTestEmulator(JSON.parse(readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8")) as Estate, { throttle: { enabled: false } });
  return { env, flags: ["--arm-endpoint", env.emu.armEndpoint, "--ca-file", env.emu.caFile] };
}
