/**
 * The tool's own name and version, read from the package's package.json (the one `npm install` put
 * beside src/ or dist/): SARIF's `tool.driver.version`, `--version` and the JSON reports carry it.
 * A run-time read, not an import, so nothing under src/ imports outside it (test/layout.test.ts).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const TOOL_NAME = "apim-remediator";

function findVersion(): string {
  // src/report/ (tsx), dist/src/report/ (tsc): the package root is two or three folders up
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === TOOL_NAME && typeof pkg.version === "string") return pkg.version;
    } catch {
      // no package.json here: look one folder up
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return "0.0.0-unknown";
}

export const TOOL_VERSION = findVersion();
