/**
 * Fuzzing the offline scanner's input (`scan --input`): truncated or hostile
 * JSON, mutated and deeply nested templates, self-referencing parameters,
 * huge arrays. Every input ends with exit 0/1 (scanned) or 2 with one clear
 * line naming the file — never a crash, a stack trace or exit 3 — and the
 * pathological files finish under a 512 MB heap (bounded memory).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/cli/main.js";
import { readBoundedFile } from "../../src/common/files.js";
import { MAX_INPUT_BYTES } from "../../src/engine/offline.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? "1");
const dir = mkdtempSync(join(tmpdir(), "offline-fuzz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
export const offlineFuzzed = { inProcess: 0, childProcess: 0 };

const DEMO_TEXT = readFileSync(join(process.cwd(), "emulator/estates/demo.json"), "utf8");
const SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
const TEMPLATE = {
  $schema: SCHEMA,
  contentVersion: "1.0.0.0",
  parameters: { name: { type: "string", defaultValue: "apim-fuzz" }, secret: { type: "securestring", defaultValue: "fuzz-secret-value-Zq9" } },
  variables: { api: "[concat(parameters('name'), '/echo')]" },
  resources: [
    {
      type: "Microsoft.ApiManagement/service",
      apiVersion: "2024-05-01",
      name: "[parameters('name')]",
      location: "westeurope",
      sku: { name: "Developer", capacity: 1 },
      properties: { publisherEmail: "a@b.example", publisherName: "x" },
      resources: [
        { type: "apis", apiVersion: "2024-05-01", name: "echo", dependsOn: ["[parameters('name')]"], properties: { path: "echo", protocols: ["http", "https"] } },
        { type: "namedValues", apiVersion: "2024-05-01", name: "key", properties: { displayName: "key", secret: true, value: "[parameters('secret')]" } },
      ],
    },
    { type: "Microsoft.Resources/deployments", apiVersion: "2022-09-01", name: "nested", properties: { mode: "Incremental", template: { $schema: SCHEMA, contentVersion: "1.0.0.0", resources: [{ type: "Microsoft.ApiManagement/service/apis", apiVersion: "2024-05-01", name: "[variables('api')]", properties: { protocols: ["ws"] } }] } } },
  ],
};
const TEMPLATE_TEXT = JSON.stringify(TEMPLATE);

/** Replaces the value at a random path of a JSON value with another (a mutated template or list). */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== "object") return replacement;
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return replacement;
  const [k, v] = entries[(path[0] as number) % entries.length] as readonly [string | number, unknown];
  if (Array.isArray(value)) {
    const copy: unknown[] = [...value];
    copy[k as number] = mutate(v, path.slice(1), replacement);
    return copy;
  }
  return { ...(value as Record<string, unknown>), [k]: mutate(v, path.slice(1), replacement) };
}

const nested = (depth: number, open: string, close: string, inner = "") => open.repeat(depth) + inner + close.repeat(depth);
const manyApis = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/s${i % 50}/apis/a${i}`, type: "Microsoft.ApiManagement/service/apis", properties: { protocols: ["http"] } }));

const inputText = fc.oneof(
  // truncated real inputs
  fc.nat({ max: DEMO_TEXT.length }).map((n) => DEMO_TEXT.slice(0, n)),
  fc.nat({ max: TEMPLATE_TEXT.length }).map((n) => TEMPLATE_TEXT.slice(0, n)),
  // mutated templates and resource lists
  fc.tuple(fc.array(fc.nat(), { maxLength: 6 }), fc.jsonValue()).map(([p, r]) => JSON.stringify(mutate(TEMPLATE, p, r))),
  fc.tuple(fc.array(fc.nat(), { maxLength: 5 }), fc.jsonValue()).map(([p, r]) => JSON.stringify(mutate(JSON.parse(DEMO_TEXT), p, r))),
  // arbitrary JSON and arbitrary text
  fc.json(),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.constantFrom("", "\uFEFF", "null", "true", "0", '""', "{}", "[]", "[{}]", '{"resources": 5}', '{"value": {}}', '{"$schema": 5}', '{"contentVersion": "1"}'),
  // deeply nested values in every place the reader walks
  fc.integer({ min: 30, max: 3_000 }).map((d) => nested(d, "[", "]")),
  fc.integer({ min: 30, max: 3_000 }).map((d) => `[${nested(d, '{"resources":[', "]}", '{"id":"/subscriptions/x/resourceGroups/r/providers/Microsoft.ApiManagement/service/s","type":"Microsoft.ApiManagement/service"}')}]`),
  fc.integer({ min: 30, max: 3_000 }).map((d) => JSON.stringify({ ...TEMPLATE, resources: [{ ...TEMPLATE.resources[0], properties: JSON.parse(nested(d, '{"x":', "}", "1")) }] })),
  fc.integer({ min: 30, max: 500 }).map((d) => {
    let t: Record<string, unknown> = { $schema: SCHEMA, contentVersion: "1.0.0.0", resources: [{ type: "Microsoft.ApiManagement/service", name: "deep", properties: {} }] };
    for (let i = 0; i < d; i++) t = { $schema: SCHEMA, contentVersion: "1.0.0.0", resources: [{ type: "Microsoft.Resources/deployments", name: `d${i}`, properties: { template: t } }] };
    return JSON.stringify(t);
  }),
  fc.integer({ min: 17, max: 2_000 }).map((d) => JSON.stringify({ ...TEMPLATE, variables: { v: `[${"concat(".repeat(d)}'a'${")".repeat(d)}]` }, resources: [{ type: "Microsoft.ApiManagement/service", name: "[variables('v')]", properties: {} }] })),
  // parameters and variables that refer to themselves or each other
  fc.constantFrom(
    JSON.stringify({ $schema: SCHEMA, contentVersion: "1.0.0.0", parameters: { a: { type: "string", defaultValue: "[parameters('a')]" } }, resources: [{ type: "Microsoft.ApiManagement/service", name: "[parameters('a')]", properties: { x: "[parameters('a')]" } }] }),
    JSON.stringify({ $schema: SCHEMA, contentVersion: "1.0.0.0", variables: { a: "[variables('b')]", b: "[concat(variables('a'), 'x')]" }, resources: [{ type: "Microsoft.ApiManagement/service", name: "[variables('a')]", properties: { x: "[variables('b')]" } }] }),
    JSON.stringify({ $schema: SCHEMA, contentVersion: "1.0.0.0", parameters: { a: { defaultValue: "[format('{0}{0}', parameters('a'))]" } }, resources: [{ type: "Microsoft.ApiManagement/service/apis", name: "[concat(parameters('a'), '/x')]", properties: {} }] }),
  ),
  // huge arrays (the limits on resources and on JSON values apply)
  fc.integer({ min: 500, max: 6_000 }).map((n) => JSON.stringify(manyApis(n))),
  fc.integer({ min: 1_000, max: 200_000 }).map((n) => `[${Array.from({ length: n }, () => "0").join(",")}]`),
);

describe("offline scanner input fuzzing", () => {
  it("every input scans (exit 0/1) or is refused with exit 2 and one line naming the file; never a crash", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(inputText, fc.constantFrom("table", "json", "markdown", "sarif"), async (text, format) => {
        offlineFuzzed.inProcess++;
        const file = join(dir, `input-${n++}.json`);
        writeFileSync(file, text);
        let out = "";
        let err = "";
        let code: number;
        try {
          code = await run(["scan", "--input", file, "--format", format], { stdout: (s) => (out += s), stderr: (s) => (err += s), env: {} });
        } catch (e) {
          throw new Error(`run threw: ${(e as Error).message}`);
        }
        expect([0, 1, 2], `exit ${code}: ${err.slice(0, 300)}`).toContain(code);
        if (code === 2) {
          expect(err.startsWith(`apim-remediator: ${file}`), err.slice(0, 300)).toBe(true);
          expect(err.endsWith("\n")).toBe(true);
          expect(err.trimEnd().includes("\n"), err.slice(0, 300)).toBe(false);
          expect(err.length).toBeLessThan(600);
          expect(out).toBe("");
        } else {
          expect(err).toBe("");
          expect(out.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 600 * RUNS },
    );
  }, 300_000);

  // the table format overflowed the stack with this many rows (Math.max(...rows)); the other formats are fuzzed above
  it.each(RUNS > 1 ? ["table", "json", "markdown", "sarif"] : ["table"])("a list of 40,000 APIs (160,000 findings) scans in %s format", async (format) => {
    offlineFuzzed.inProcess++;
    const file = join(dir, `apis-${format}.json`);
    writeFileSync(file, JSON.stringify(manyApis(40_000)));
    let err = "";
    let size = 0;
    const code = await run(["scan", "--input", file, "--format", format], { stdout: (s) => (size += s.length), stderr: (s) => (err += s), env: {} });
    expect(err).toBe("");
    expect(code).toBe(1);
    expect(size).toBeGreaterThan(40_000);
  }, 60_000);

  /** The CLI as a user runs it, with its heap capped at 512 MB. */
  function cli(file: string): { status: number | null; stderr: string; ms: number } {
    offlineFuzzed.childProcess++;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ["--max-old-space-size=512", "--require", "tsx/cjs", "src/cli/main.ts", "scan", "--input", file, "--format", "json"], { cwd: process.cwd(), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status, stderr: r.stderr.split("\n").filter((l) => l.length > 0 && !l.startsWith("npm warn")).join("\n"), ms: Date.now() - t0 };
  }

  it.each([
    ["20 million empty objects (60 MB)", () => `[${Array.from({ length: 2_000 }, () => Array(10_000).fill("{}").join(",")).join(",")}]`, /too many JSON objects and arrays/],
    ["30 million numbers (60 MB)", () => `[${Array.from({ length: 3_000 }, () => Array(10_000).fill("0").join(",")).join(",")}]`, /too many JSON values/],
    ["arrays nested 300,000 deep", () => nested(300_000, "[", "]"), /expected an ARM resource list|nested too deeply|not valid JSON/],
    ["a template nested 100,000 deep", () => JSON.stringify({ $schema: SCHEMA, contentVersion: "1.0.0.0", resources: [] }).replace('"resources":[]', `"resources":[{"type":"Microsoft.ApiManagement/service","name":"a","properties":${nested(100_000, '{"x":', "}", "1")}}]`), /nested too deeply/],
  ])("%s: exit 2 with one line, within a 512 MB heap", (_name, make, message) => {
    const file = join(dir, `big-${offlineFuzzed.childProcess}.json`);
    writeFileSync(file, make());
    const r = cli(file);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^apim-remediator: ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
    expect(r.stderr).toMatch(message);
    expect(r.stderr.includes("\n")).toBe(false);
    rmSync(file);
  }, 60_000);

  it("a file over the size limit is refused before it is read", () => {
    const file = join(dir, "sparse.json");
    writeFileSync(file, "[");
    truncateSync(file, 65 * 1024 * 1024);
    const r = cli(file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/too large \(68157440 bytes; the limit is 67108864\)$/);
    rmSync(file);
  }, 60_000);

  /** The CLI as a user runs it on `path`, stopped if it has not ended after a minute (a hang is the failure). */
  function cliOn(path: string): { status: number | null; signal: NodeJS.Signals | null; stderr: string } {
    offlineFuzzed.childProcess++;
    const r = spawnSync(process.execPath, ["--max-old-space-size=512", "--require", "tsx/cjs", "src/cli/main.ts", "scan", "--input", path, "--format", "json"], { cwd: process.cwd(), encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
    return { status: r.status, signal: r.signal, stderr: r.stderr.split("\n").filter((l) => l.length > 0 && !l.startsWith("npm warn")).join("\n") };
  }

  it.skipIf(!existsSync("/dev/zero"))("/dev/zero (endless, and stat() says 0 bytes): refused with one line, not read without end", () => {
    const r = cliOn("/dev/zero");
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("apim-remediator: /dev/zero: not a regular file (a character device)");
  }, 90_000);

  it("a named pipe nobody writes to: refused with one line, not waited on (skipped without mkfifo)", (ctx) => {
    const fifo = join(dir, "input.fifo");
    if (spawnSync("mkfifo", [fifo]).status !== 0) return ctx.skip();
    const r = cliOn(fifo);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`apim-remediator: ${fifo}: not a regular file (a named pipe)`);
  }, 90_000);

  it("the read itself is bounded, not only the size stat() reports: a file at the limit is read, one past it is not", () => {
    offlineFuzzed.inProcess++;
    // a regular file whose stat() size (0) is not its length, as a file still growing: the bound holds while reading
    if (existsSync("/proc/self/status")) expect(() => readBoundedFile("/proc/self/status", 100)).toThrow(/^\/proc\/self\/status: too large \(more than 100 bytes\)$/);
    const file = join(dir, "at-limit.json");
    writeFileSync(file, "[");
    truncateSync(file, MAX_INPUT_BYTES + 1);
    expect(() => readBoundedFile(file, MAX_INPUT_BYTES)).toThrow(/too large/);
    truncateSync(file, 4096);
    expect(readBoundedFile(file, 4096)).toHaveLength(4096);
    expect(() => readBoundedFile(file, 4095)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: too large \\(4096 bytes; the limit is 4095\\)$`));
    rmSync(file);
  });

  afterAll(() => console.log(`offline inputs fuzzed: ${offlineFuzzed.inProcess} in process, ${offlineFuzzed.childProcess} as a child process with a 512 MB heap`));
});
