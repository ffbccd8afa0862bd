/**
 * The layout holds: every folder of src/ is a part with its README, every
 * import (static, side-effect, dynamic and `import()` types) goes the way
 * eslint.layers.mjs allows, the deployed triggers never reach local-only code,
 * `npm run lint` rejects an import against the direction, and the rule catalog
 * matches the ids configuration validates against.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain ESM module without types
import { LAYERS } from "../eslint.layers.mjs";
import { RULE_IDS } from "../src/model/rule.js";
import { RULES, catalogMismatch } from "../src/remediations/index.js";

const ROOT = process.cwd();
const SRC = join(ROOT, "src");
const layers = LAYERS as Record<string, string[]>;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Relative specifiers a file imports: `from "…"`, `import "…"`, `import("…")` (values and types). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => m[1] as string);
}

const partOf = (abs: string): string | undefined => {
  const rel = relative(SRC, abs);
  return rel.startsWith("..") ? undefined : rel.split("/")[0];
};
const resolveTs = (from: string, spec: string) => resolve(dirname(from), spec).replace(/\.js$/, ".ts");

describe("layout", () => {
  const parts = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());

  it("every folder of src/ is a part of the layer table, with a README saying what it owns", () => {
    expect(parts.sort()).toEqual(Object.keys(layers).sort());
    for (const p of parts) expect(existsSync(join(SRC, p, "README.md")), `src/${p}/README.md`).toBe(true);
    expect(readdirSync(SRC).filter((n) => n.endsWith(".ts"))).toEqual([]);
  });

  it("every import in src/ goes the way the table allows, and never into emulator/", () => {
    const wrong: string[] = [];
    for (const file of filesUnder(SRC)) {
      const from = partOf(file) as string;
      for (const spec of importsOf(file)) {
        const target = resolveTs(file, spec);
        const to = partOf(target);
        if (to === undefined) {
          // the CLI starts the emulator by a run-time path; it may name the module's type (erased at compile)
          if (from === "cli" && relative(ROOT, target) === "emulator/server.ts" && readFileSync(file, "utf8").includes(`typeof import("${spec}")`)) continue;
          wrong.push(`${relative(ROOT, file)} -> ${spec} (outside src/)`);
          continue;
        }
        expect(existsSync(target), `${relative(ROOT, file)} imports ${spec}, which does not exist`).toBe(true);
        if (to !== from && !layers[from]?.includes(to)) wrong.push(`${relative(ROOT, file)} (${from}) -> ${relative(ROOT, target)} (${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("the Functions entry points never reach local-only code or the CLI", () => {
    const seen = new Set<string>();
    const stack = readdirSync(join(SRC, "functions")).filter((f) => f.endsWith(".ts")).map((f) => join(SRC, "functions", f));
    while (stack.length > 0) {
      const f = stack.pop() as string;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const spec of importsOf(f)) stack.push(resolveTs(f, spec));
    }
    const reached = [...seen].map((f) => partOf(f));
    expect(reached).not.toContain("local");
    expect(reached).not.toContain("cli");
    expect(reached).toContain("engine"); // the walk does follow imports down
  });

  it("npm run lint rejects an import against the direction and accepts one with it", async () => {
    const eslint = new ESLint({ cwd: ROOT });
    const lint = async (file: string, code: string) => (await eslint.lintText(code, { filePath: join(ROOT, file) }))[0]?.messages.filter((m) => m.ruleId === "no-restricted-imports") ?? [];
    const cases: Array<[string, string, boolean]> = [
      ["src/azure/probe.ts", 'import { Engine } from "../engine/engine.js";', false],
      ["src/remediations/fixes/probe.ts", 'import { createClients } from "../../azure/clients.js";', false],
      ["src/tickets/probe.ts", 'import { RULES } from "../remediations/index.js";', false],
      ["src/common/probe.ts", 'import type { Rule } from "../remediations/types.js";', false],
      ["src/model/probe.ts", 'import { loadConfig } from "../common/config.js";', false],
      ["src/engine/probe.ts", 'import { appDeps } from "../app/runtime.js";', false],
      ["src/app/probe.ts", 'import { startAzurite } from "../local/azurite.js";', false],
      ["src/functions/probe.ts", 'import { Engine } from "../engine/engine.js";', false],
      ["src/cli/probe.ts", 'import { start } from "../../emulator/server.js";', false],
      ["src/engine/probe.ts", 'import { createClients } from "../azure/clients.js";', true],
      ["src/remediations/fixes/probe.ts", 'import { status } from "./write.js";\nimport { pick } from "../../model/arm.js";', true],
      ["src/cli/probe.ts", 'import { startAzurite } from "../local/azurite.js";', true],
    ];
    for (const [file, code, ok] of cases) {
      const errors = await lint(file, `${code}\nexport {};\n`);
      expect(errors.length === 0, `${file}: ${code} ${ok ? "allowed" : "refused"} (${errors.map((e) => e.message).join("; ")})`).toBe(ok);
    }
  });

  it("the rule catalog has exactly RULE_IDS, the ids configuration validates against", () => {
    expect(catalogMismatch(RULES, RULE_IDS)).toBeUndefined();
    expect(catalogMismatch([...RULES, { ...(RULES[0] as (typeof RULES)[number]), meta: { ...(RULES[0] as (typeof RULES)[number]).meta, id: "new-rule" } }], RULE_IDS)).toContain("not in RULE_IDS: new-rule");
    expect(catalogMismatch(RULES.slice(1), RULE_IDS)).toContain("no rule for: api-https-only");
    expect(catalogMismatch([...RULES].reverse(), RULE_IDS)).toContain("order differs");
  });
});

describe("a fresh clone needs nothing beside it", () => {
  // that nothing reads outside the repository is proven by .ci/run, which runs npm test from a copy with nothing beside it
  it("the fixtures the tests read are in the repository, with their public sources", () => {
    for (const f of ["test/fixtures/azure-specs/SOURCES.md", "test/fixtures/conformance/SOURCES.md", "test/fixtures/recordings/azure-cli/SOURCES.md"]) expect(existsSync(join(ROOT, f)), f).toBe(true);
  });
});
