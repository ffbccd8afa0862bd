/**
 * Running the app under the local Functions host: `npm start` builds first (func start loads the tsc output
 * in dist/, package.json `main`), and the .vscode/ setup follows the Azure Functions extension's TypeScript
 * project (microsoft/vscode-azurefunctions: TypeScriptInitVSCodeStep, NodeDebugProvider): F5 runs the
 * `func: host start` task, which depends on the npm build, and attaches to the Node worker on port 9229.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const read = <T>(p: string): T => JSON.parse(readFileSync(join(process.cwd(), p), "utf8")) as T;

interface Task {
  label: string;
  type: string;
  command: string;
  dependsOn?: string | string[];
  isBackground?: boolean;
  problemMatcher?: string | string[];
}

describe("local Functions host", () => {
  const pkg = read<{ main: string; scripts: Record<string, string> }>("package.json");

  it("npm start builds before func start", () => {
    expect(pkg.scripts["start"]).toMatch(/\bfunc start\b/);
    // npm runs `prestart` before `start`; either form builds dist/ first
    const builds = (s: string | undefined) => /\bnpm run build\b|\btsc\b/.test(s ?? "");
    expect(builds(pkg.scripts["prestart"]) || /(npm run build|tsc[^&]*)&&\s*func start/.test(pkg.scripts["start"] ?? "")).toBe(true);
    // what the build writes is what the host loads
    expect(pkg.scripts["build"]).toMatch(/tsc -p tsconfig\.json/);
    expect(pkg.main).toBe("dist/src/functions/*.js");
  });

  it(".vscode: F5 starts the host after the build and attaches to the Node worker on 9229", () => {
    const launch = read<{ configurations: Array<{ type: string; request: string; port: number; preLaunchTask?: string }> }>(".vscode/launch.json");
    const tasks = read<{ version: string; tasks: Task[] }>(".vscode/tasks.json").tasks;
    const byLabel = new Map(tasks.map((t) => [t.label, t]));
    const attach = launch.configurations.find((c) => c.type === "node" && c.request === "attach");
    expect(attach?.port).toBe(9229);
    // the pre-launch task is the Functions extension's host start, in the background, after the build
    const host = byLabel.get(attach?.preLaunchTask as string);
    expect(host).toMatchObject({ label: "func: host start", type: "func", command: "host start", isBackground: true });
    const build = byLabel.get(host?.dependsOn as string);
    expect(build?.type).toBe("shell");
    expect(build?.command).toBe("npm run build");
    expect(build?.problemMatcher).toBe("$tsc");
    // every dependency names a task that exists
    for (const t of tasks) for (const d of [t.dependsOn ?? []].flat()) expect(byLabel.has(d), `${t.label} -> ${d}`).toBe(true);
    const extensions = read<{ recommendations: string[] }>(".vscode/extensions.json");
    expect(extensions.recommendations).toContain("ms-azuretools.vscode-azurefunctions");
    // deploying from VS Code uploads the same package azd does
    const settings = read<Record<string, unknown>>(".vscode/settings.json");
    expect(settings["azureFunctions.deploySubpath"]).toBe("dist/deploy");
    expect(settings["azureFunctions.preDeployTask"]).toBe(build?.label);
    expect(settings["azureFunctions.projectLanguage"]).toBe("TypeScript");
  });
});
