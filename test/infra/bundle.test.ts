/**
 * The deploy package (scripts/bundle.mjs → dist/deploy, what azd zip-deploys) leaves the ~15 MB source map
 * out unless asked: by default the map goes beside the package (dist/sourcemaps), and app.js does not
 * point at it; BUNDLE_SOURCEMAP=1 puts it in the package, linked. Bundled into temporary folders with
 * `--out`, so dist/deploy is left alone.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const work = mkdtempSync(join(tmpdir(), "apim-bundle-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function bundle(name: string, env: Record<string, string> = {}, args: string[] = []): { deploy: string; maps: string; stdout: string } {
  const deploy = join(work, name, "deploy");
  const stdout = execFileSync(process.execPath, [join(process.cwd(), "scripts", "bundle.mjs"), "--out", deploy, ...args], {
    encoding: "utf8",
    env: { ...process.env, BUNDLE_SOURCEMAP: "", ...env },
  });
  return { deploy, maps: join(work, name, "sourcemaps"), stdout };
}

/** Every file under dir, relative to it. */
function files(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

describe("the deploy package and the source map", () => {
  it("by default has no .map file and no sourceMappingURL; the map is written beside the package", () => {
    const { deploy, maps, stdout } = bundle("default");
    expect(files(deploy).filter((f) => f.endsWith(".map"))).toEqual([]);
    expect(readFileSync(join(deploy, "app.js"), "utf8")).not.toMatch(/sourceMappingURL=/);
    expect(existsSync(join(deploy, "functions.js"))).toBe(true);
    // still there for whoever maps a stack trace from Azure
    const map = JSON.parse(readFileSync(join(maps, "app.js.map"), "utf8")) as { version: number; sources: string[] };
    expect(map.version).toBe(3);
    expect(map.sources.some((s) => s.includes("src/functions/"))).toBe(true);
    expect(stdout).toMatch(/BUNDLE_SOURCEMAP=1 to ship it/);
  }, 120_000);

  it("BUNDLE_SOURCEMAP=1 (or --sourcemap) ships the map in the package, linked from app.js", () => {
    for (const [name, env, args] of [["env", { BUNDLE_SOURCEMAP: "1" }, []], ["flag", {}, ["--sourcemap"]]] as const) {
      const { deploy, maps } = bundle(name, env, [...args]);
      expect(files(deploy).filter((f) => f.endsWith(".map")), name).toEqual(["app.js.map"]);
      expect(readFileSync(join(deploy, "app.js"), "utf8")).toMatch(/\/\/# sourceMappingURL=app\.js\.map\s*$/);
      expect(existsSync(join(maps, "app.js.map")), name).toBe(false);
    }
  }, 240_000);
});
