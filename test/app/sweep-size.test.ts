/**
 * The first sweep's order by size (src/app/app.ts sweep, src/azure/collector.ts countApis). A sweep that will read
 * services in full without knowing their size (never read in full: the first sweep, new services) first reads each
 * one's API count, one read per service: `GET .../apis?$top=1`, whose `count` is the "total record count number
 * across all pages" (ApiCollection, API Management's REST spec, test/fixtures/azure-specs/apimanagement/swagger/
 * definitions.json). Azure CLI's recorded traffic with real ARM shows the API list answering `count` beside `value`
 * (test/fixtures/recordings/azure-cli/test_apim_api.yaml). The biggest services are then sent first, so the first
 * sweep no longer ends on a big service that started last (bench/RESULTS.md: the longest message started 288 s
 * into a 384 s first sweep). Azurite, the emulator and the unmodified SDK clients.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { load } from "js-yaml";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseMessage, SIZE_PROBE_ABOVE, sweep, type AppDeps } from "../../src/app/app.js";
import { countApis } from "../../src/azure/collector.js";
import { drainQueue } from "../../src/local/driver.js";
import { appFor, clearAppStorage } from "../helpers/app.js";
import { child, REMEDIATOR, service, serviceId, startTestEmulator, SUB, SUB2, type TestEnv } from "../helpers/emulator.js";

const apis = (svc: string, n: number, sub = SUB) =>
  Array.from({ length: n }, (_, i) => child(svc, `apis/a${i}`, "Microsoft.ApiManagement/service/apis", { displayName: `A${i}`, path: `a${i}`, protocols: ["https"], serviceUrl: "https://backend.example", isCurrent: true, apiRevision: "1" }, undefined, sub));

// three services in two subscriptions, named so that discovery (by name, round-robin by subscription) lists the
// smallest first: a-small, b-mid (SUB, SUB2), c-big
const ESTATE = [
  service("apim-a-small", {}, {}, undefined, SUB),
  ...apis("apim-a-small", 1, SUB),
  service("apim-b-mid", {}, {}, undefined, SUB2),
  ...apis("apim-b-mid", 4, SUB2),
  service("apim-c-big", {}, {}, undefined, SUB),
  ...apis("apim-c-big", 12, SUB),
];
const names = (ids: string[]) => ids.map((id) => id.split("/").pop());

describe("the first sweep sends its biggest services first", () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await startTestEmulator(ESTATE, { throttle: { enabled: false } });
  });
  afterAll(async () => env.emu.stop());
  beforeEach(() => {
    env.emu.reset(ESTATE);
    env.emu.faults.clear();
  });

  let n = 0;
  const depsFor = async (lines: string[] = [], probeAbove = 0) => {
    const deps = await appFor(env.emu, { REMEDIATOR_SUBSCRIPTIONS: `${SUB},${SUB2}`, REMEDIATOR_MODE: "dry-run", REMEDIATOR_FULL_SWEEP_HOURS: "24", REMEDIATOR_STORAGE_PREFIX: `size${Date.now().toString(36)}${n++}`, LOG_LEVEL: "silent" });
    // the log lines, to check what the sweep said
    const write = (level: string) => (obj: unknown, msg?: string) => void lines.push(`${level} ${typeof obj === "string" ? obj : `${msg ?? ""} ${JSON.stringify(obj)}`}`);
    deps.log = Object.assign(Object.create(deps.log) as AppDeps["log"], { info: write("info"), warn: write("warn"), debug: () => undefined });
    await clearAppStorage(deps);
    // three services: probe at any count (the default probes only above what one instance starts at once)
    deps.sizeProbeAbove = probeAbove;
    return deps;
  };
  const queued = async (deps: AppDeps) => {
    const peeked = await deps.storage.evaluateQueue.peekMessages({ numberOfMessages: 32 });
    return peeked.peekedMessageItems.map((m) => parseMessage(m.messageText).serviceId);
  };

  it("real ARM's API list answers its count beside the items (Azure CLI's recording)", () => {
    const cassette = load(readFileSync(path.join(__dirname, "../fixtures/recordings/azure-cli/test_apim_api.yaml"), "utf8")) as { interactions: Array<{ request: { method: string; uri: string }; response: { body: { string: string } } }> };
    const lists = cassette.interactions.filter((i) => i.request.method === "GET" && /\/service\/[^/]+\/apis\?/i.test(i.request.uri)).map((i) => JSON.parse(i.response.body.string) as { value: unknown[]; count?: number });
    expect(lists.length).toBeGreaterThan(2);
    for (const l of lists) expect(l.count).toBe(l.value.length);
    expect(lists.some((l) => l.value.length > 1)).toBe(true);
  });

  it("countApis reads the count of every page from one request of one item", async () => {
    const deps = await depsFor();
    env.emu.log.clear();
    expect(await countApis(deps.clients, serviceId("apim-c-big"))).toBe(12);
    const reads = env.emu.log.list().filter((e) => e.principal === REMEDIATOR && e.host === "arm" && e.path.toLowerCase().includes("/apim-c-big/apis"));
    expect(reads).toHaveLength(1);
    expect(reads[0]?.path).toMatch(/\$top=1\b/);
    expect(await countApis(deps.clients, serviceId("apim-a-small"))).toBe(1);
  });

  it("a first sweep reads each service's API count and sends the biggest first; later sweeps use the sizes recorded", async () => {
    const lines: string[] = [];
    const deps = await depsFor(lines);
    env.emu.log.clear();
    await sweep(deps, "sweep-1");
    expect(names(await queued(deps))).toEqual(["apim-c-big", "apim-b-mid", "apim-a-small"]);
    const probes = env.emu.log.list().filter((e) => e.principal === REMEDIATOR && /\/apis\?[^/]*\$top=1\b/i.test(e.path));
    expect(probes).toHaveLength(3);
    expect(lines.some((l) => l.includes("API counts read") && l.includes('"sized":3'))).toBe(true);
    expect((await drainQueue(deps)).failed).toBe(0);
    // the full reads recorded each size: the next sweep reads no count
    env.emu.log.clear();
    await sweep(deps, "sweep-2");
    expect(env.emu.log.list().filter((e) => /\$top=1\b/.test(e.path))).toHaveLength(0);
    expect(names(await queued(deps))).toHaveLength(3);
  });

  it("no more services of unknown size than one instance starts at once: no count is read, the order is discovery's", async () => {
    const deps = await depsFor([], SIZE_PROBE_ABOVE);
    env.emu.log.clear();
    await sweep(deps, "sweep-few");
    expect(env.emu.log.list().filter((e) => /\$top=1\b/.test(e.path))).toHaveLength(0);
    expect(names(await queued(deps))).toEqual(["apim-a-small", "apim-b-mid", "apim-c-big"]);
  });

  it("the default threshold is what one instance runs at once: host.json's batchSize + newBatchThreshold", () => {
    const host = JSON.parse(readFileSync(path.join(__dirname, "../../host.json"), "utf8")) as { extensions: { queues: { batchSize: number; newBatchThreshold: number } } };
    expect(host.extensions.queues.batchSize + host.extensions.queues.newBatchThreshold).toBe(SIZE_PROBE_ABOVE);
  });

  it("a service whose count cannot be read is still sent, after the sized ones, and the sweep says so", async () => {
    const lines: string[] = [];
    const deps = await depsFor(lines);
    env.emu.faults.add({ method: "GET", pathRegex: "/apim-c-big/apis\\?.*\\$top=1", status: 403, code: "AuthorizationFailed", message: "denied" });
    await sweep(deps, "sweep-denied");
    expect(names(await queued(deps))).toEqual(["apim-b-mid", "apim-a-small", "apim-c-big"]);
    expect(lines.some((l) => l.startsWith("warn") && l.includes('"failed":1') && l.includes('"sized":2'))).toBe(true);
  });
});
