/**
 * The emulator's Azure Resource Graph (emulator/resourcegraph.ts), driven with the unmodified
 * @azure/arm-resourcegraph client over HTTPS: Azure's answer shape, paging by $skipToken, scoping by
 * subscriptions or management groups, the KQL subset (anything else 400 BadRequest / InvalidQuery),
 * the indexed types, and the per-user quota with its headers and 429.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ResourceGraphClient } from "@azure/arm-resourcegraph";
import { createDefaultHttpClient, createPipelineRequest } from "@azure/core-rest-pipeline";
import { createClients } from "../../src/azure/clients.js";
import { SUB, SUB2, child, service, startTestEmulator, type TestEnv } from "../helpers/emulator.js";
import { servicesQuery } from "../../src/azure/resource-graph.js";

const SUB3 = "33333333-3333-4333-8333-333333333333";
const mg = (name: string, children: string[]) => ({
  id: `/providers/Microsoft.Management/managementGroups/${name}`,
  type: "Microsoft.Management/managementGroups",
  name,
  properties: { displayName: name, children: children.map((id) => ({ id })) },
});

const estate = [
  mg("root", ["/subscriptions/" + SUB, "/providers/Microsoft.Management/managementGroups/child"]),
  mg("child", ["/subscriptions/" + SUB2]),
  service("apim-a", { customProperties: { "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10": "True" } }, { tags: { env: "prod" } }),
  service("apim-b", {}, {}, "rg-two", SUB2),
  service("apim-c", {}, {}, "rg-three", SUB3),
  child("apim-a", "apis/echo", "Microsoft.ApiManagement/service/apis", { displayName: "Echo", path: "echo", protocols: ["https"] }),
];

let env: TestEnv;
let rg: ResourceGraphClient;

beforeAll(async () => {
  env = await startTestEmulator(estate, { throttle: { enabled: false } });
  rg = env.clients.resourceGraph!();
});
afterAll(async () => env.emu.stop());
beforeEach(() => env.emu.resourceGraph.configure({ enabled: false }));

const ids = (data: unknown) => (data as Array<{ id: string }>).map((r) => r.id.split("/").pop()).sort();

describe("emulator: Resource Graph queries", () => {
  it("answers Azure's shape: totalRecords, count, data as objects with the projected columns, facets, resultTruncated; rows are ARM's GET with lower-case type", async () => {
    const r = await rg.resources({ query: servicesQuery(), subscriptions: [SUB], options: { resultFormat: "objectArray" } });
    expect(r).toMatchObject({ totalRecords: 1, count: 1, facets: [], resultTruncated: "false" });
    expect(r.skipToken).toBeUndefined();
    const row = (r.data as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    expect(Object.keys(row).sort()).toEqual(["id", "identity", "location", "name", "properties", "resourceGroup", "sku", "subscriptionId", "tags", "type", "zones"].sort());
    expect(row["type"]).toBe("microsoft.apimanagement/service");
    expect(row["resourceGroup"]).toBe("rg-apim");
    expect(row["tags"]).toEqual({ env: "prod" });
    // properties as ARM's GET of the service holds them (customProperties included)
    const get = await env.clients.apim(SUB).apiManagementService.get("rg-apim", "apim-a");
    expect((row["properties"] as Record<string, unknown>)["customProperties"]).toEqual(get.customProperties);
    expect((row["properties"] as Record<string, unknown>)["publisherEmail"]).toBe(get.publisherEmail);
  });

  it("indexes the service, not its children (Learn: no API Management child type in the resources table)", async () => {
    const r = await rg.resources({ query: "resources | where type =~ 'microsoft.apimanagement/service/apis' | project id" });
    expect(r.totalRecords).toBe(0);
  });

  it("scopes by management group (every subscription below it, child groups included) and lists its descendants", async () => {
    const all = await rg.resources({ query: servicesQuery() });
    expect(ids(all.data)).toEqual(["apim-a", "apim-b", "apim-c"]);
    const root = await rg.resources({ query: servicesQuery(), managementGroups: ["root"] });
    expect(ids(root.data)).toEqual(["apim-a", "apim-b"]);
    const leaf = await rg.resources({ query: servicesQuery(), managementGroups: ["child"] });
    expect(ids(leaf.data)).toEqual(["apim-b"]);
    // through the SDK's own pipeline (its token and its agent, which trusts the emulator's CA)
    const pipelineAnswer = await rg.pipeline.sendRequest(createDefaultHttpClient(), createPipelineRequest({ url: `${env.emu.armEndpoint}/providers/Microsoft.Management/managementGroups/root/descendants?api-version=2020-05-01`, method: "GET" }));
    expect(pipelineAnswer.status).toBe(200);
    const names = (JSON.parse(pipelineAnswer.bodyAsText ?? "{}") as { value: Array<{ name: string; type: string }> }).value.map((d) => `${d.type}:${d.name}`).sort();
    expect(names).toEqual([`/subscriptions:${SUB}`, `/subscriptions:${SUB2}`, "Microsoft.Management/managementGroups:child"].sort());
  });

  it("filters by resource group case-insensitively (in~) and orders by id", async () => {
    const r = await rg.resources({ query: servicesQuery(["RG-TWO", "rg-three"]) });
    expect(ids(r.data)).toEqual(["apim-b", "apim-c"]);
  });

  it("answers 400 BadRequest with an InvalidQuery detail for KQL outside the subset (nothing else is guessed)", async () => {
    for (const query of ["resources | summarize count() by type", "resources | where properties.sku =~ 'x'", "securityresources | project id", "resources | where type =~ 'x' or name =~ 'y'", "resources | project id,"]) {
      const err = await rg.resources({ query }).then(
        () => undefined,
        (e: unknown) => e as { statusCode?: number; code?: string; details?: { error?: { details?: Array<{ code: string }> } } },
      );
      expect(err?.statusCode, query).toBe(400);
      expect(err?.code, query).toBe("BadRequest");
      expect(err?.details?.error?.details?.map((d) => d.code), query).toContain("InvalidQuery");
    }
  });
});

describe("emulator: Resource Graph paging", () => {
  let big: TestEnv;
  beforeAll(async () => {
    const many = Array.from({ length: 2500 }, (_, i) => service(`apim-${String(i).padStart(4, "0")}`, {}, {}, `rg-${i % 7}`));
    big = await startTestEmulator(many, { throttle: { enabled: false } });
  });
  afterAll(async () => big.emu.stop());

  it("pages 2,500 services in three answers of 1,000, 1,000 and 500 rows with $skipToken", async () => {
    const client = big.clients.resourceGraph!();
    const pages: number[] = [];
    const seen = new Set<string>();
    let skipToken: string | undefined;
    do {
      const r = await client.resources({ query: servicesQuery(), options: { top: 1000, ...(skipToken ? { skipToken } : {}) } });
      expect(r.totalRecords).toBe(2500);
      pages.push(r.count);
      for (const row of r.data as Array<{ id: string }>) seen.add(row.id.toLowerCase());
      skipToken = r.skipToken;
    } while (skipToken);
    expect(pages).toEqual([1000, 1000, 500]);
    expect(seen.size).toBe(2500);
  });

  it("answers at most 1,000 rows however large $top is, and refuses a $skipToken of another query", async () => {
    const client = big.clients.resourceGraph!();
    const r = await client.resources({ query: servicesQuery(), options: { top: 5000 } });
    expect(r.count).toBe(1000);
    const err = await client.resources({ query: servicesQuery(["rg-1"]), options: { skipToken: r.skipToken } }).catch((e: { statusCode?: number }) => e);
    expect((err as { statusCode?: number }).statusCode).toBe(400);
  });
});

describe("emulator: Resource Graph quota", () => {
  it("reports x-ms-user-quota-remaining and -resets-after (hh:mm:ss) per principal, and answers 429 with Retry-After past the quota", async () => {
    env.emu.resourceGraph.configure({ enabled: true, queriesPerWindow: 3, windowMs: 60_000 });
    const seen: Array<[string | undefined, string | undefined]> = [];
    for (let i = 0; i < 3; i++) {
      await rg.resources({ query: servicesQuery() }, { onResponse: (r) => seen.push([r.headers.get("x-ms-user-quota-remaining"), r.headers.get("x-ms-user-quota-resets-after")]) });
    }
    expect(seen.map((s) => s[0])).toEqual(["2", "1", "0"]);
    for (const s of seen) expect(s[1]).toMatch(/^\d{2}:\d{2}:\d{2}$/);
    // without the SDK's retries: the fourth query in the window is refused
    const once = createClients({ ...env.config, armMaxRetries: 0 }).resourceGraph!();
    const err = (await once.resources({ query: servicesQuery() }).catch((e: unknown) => e)) as { statusCode?: number; response?: { headers: { get(n: string): string | undefined } } };
    expect(err.statusCode).toBe(429);
    expect(Number(err.response?.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(err.response?.headers.get("x-ms-user-quota-remaining")).toBe("0");
    // another principal has its own quota
    const other = env.clientsAs("0e5a0000-0000-4000-8000-0000000000aa").resourceGraph!();
    await expect(other.resources({ query: servicesQuery() })).resolves.toMatchObject({ totalRecords: 3 });
  });
});
