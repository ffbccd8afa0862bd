/**
 * The deployment around the templates: azure.yaml, main.parameters.json against main.bicep, the
 * postdeploy/postdown hooks (the second step), `npm run lint:infra` with and without a Bicep CLI,
 * and the operator's guide naming only settings and parameters that exist.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/common/config.js";
import { parseBicep } from "./bicep.js";

const ROOT = process.cwd();
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
const yaml = read("azure.yaml");
const main = parseBicep("main.bicep");
const parameters = JSON.parse(read("infra/main.parameters.json")) as { parameters: Record<string, { value: unknown }> };

describe("azure.yaml", () => {
  it("deploys the function app (TypeScript, Functions host) from the repository root with the Bicep in infra/main", () => {
    expect(yaml).toMatch(/^name: apim-remediator$/m);
    expect(yaml).toMatch(/^infra:\n\s+provider: bicep\n\s+path: infra\n\s+module: main$/m);
    expect(yaml).toMatch(/^services:\n\s+remediator:\n\s+project: \.\n\s+language: ts\n\s+host: function$/m);
    expect(existsSync(join(ROOT, "infra/main.bicep"))).toBe(true);
  });

  it("runs the second step after deploy, and resets it after down, on POSIX and Windows", () => {
    for (const hook of ["postdeploy", "postdown"]) {
      const block = new RegExp(`^  ${hook}:\\n    posix:\\n      shell: sh\\n      run: \\./(infra/hooks/${hook}\\.sh)[\\s\\S]*?    windows:\\n      shell: pwsh\\n      run: \\./(infra/hooks/${hook}\\.ps1)`, "m").exec(yaml);
      expect(block, hook).not.toBeNull();
      for (const f of [block?.[1], block?.[2]]) expect(existsSync(join(ROOT, f as string)), f).toBe(true);
    }
    for (const f of ["infra/hooks/postdeploy.sh", "infra/hooks/postdeploy.ps1"]) {
      const text = read(f);
      expect(text).toMatch(/azd env set DEPLOY_EVENT_SUBSCRIPTIONS true/);
      expect(text).toMatch(/azd provision --no-prompt/);
      expect(text).toMatch(/DEPLOY_EVENT_SUBSCRIPTIONS false/); // undone when the second step fails
    }
    for (const f of ["infra/hooks/postdown.sh", "infra/hooks/postdown.ps1"]) expect(read(f)).toMatch(/azd env set DEPLOY_EVENT_SUBSCRIPTIONS false/);
  });

  it("the POSIX hook is a valid sh script that skips the second step once it is done", () => {
    const syntax = spawnSync("/bin/sh", ["-n", join(ROOT, "infra/hooks/postdeploy.sh")], { encoding: "utf8" });
    expect(syntax.status, syntax.stderr).toBe(0);
    // with the flag on it does nothing (and never calls azd)
    const r = spawnSync("/bin/sh", [join(ROOT, "infra/hooks/postdeploy.sh")], { encoding: "utf8", env: { PATH: "/nonexistent", DEPLOY_EVENT_SUBSCRIPTIONS: "true" } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/part of the deployment/);
  });
});

describe("infra/main.parameters.json", () => {
  it("sets only parameters main.bicep declares, and every required one", () => {
    for (const name of Object.keys(parameters.parameters)) expect([...main.params.keys()], name).toContain(name);
    for (const [name, p] of main.params) if (p.default === undefined) expect(Object.keys(parameters.parameters), name).toContain(name);
  });

  it("maps azd environment values, named like the app settings they become", () => {
    const env = (p: string) => /^\$\{([A-Z_]+)(=[^}]*)?\}$/.exec(String(parameters.parameters[p]?.value))?.[1];
    expect(env("environmentName")).toBe("AZURE_ENV_NAME");
    expect(env("location")).toBe("AZURE_LOCATION");
    expect(env("targetSubscriptions")).toBe("REMEDIATOR_SUBSCRIPTIONS");
    expect(env("targetResourceGroups")).toBe("REMEDIATOR_RESOURCE_GROUPS");
    expect(env("remediatorMode")).toBe("REMEDIATOR_MODE");
    expect(env("ruleModes")).toBe("REMEDIATOR_RULE_MODES");
    expect(env("keyVaultResourceId")).toBe("KEY_VAULT_RESOURCE_ID");
    expect(env("grantKeyVaultAccess")).toBe("REMEDIATOR_GRANT_KEY_VAULT_ACCESS");
    expect(env("deployEventSubscriptions")).toBe("DEPLOY_EVENT_SUBSCRIPTIONS");
    expect(parameters.parameters["remediatorMode"]?.value).toBe("${REMEDIATOR_MODE=dry-run}");
    expect(parameters.parameters["deployEventSubscriptions"]?.value).toBe("${DEPLOY_EVENT_SUBSCRIPTIONS=false}");
    // no output feeds back into a parameter under the same name (azd stores outputs in the environment),
    // except azd's own AZURE_LOCATION, which is the same value
    const envNames = Object.values(parameters.parameters).map((p) => /^\$\{([A-Z_]+)/.exec(String(p.value))?.[1]);
    for (const out of main.outputs.keys()) if (out !== "AZURE_LOCATION") expect(envNames, out).not.toContain(out);
    expect(main.outputs.get("AZURE_LOCATION")?.value).toBe("location");
  });
});

describe("npm run lint:infra", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const fakeBicep = (exitOnLint: number) => {
    const dir = mkdtempSync(join(tmpdir(), "fake-bicep-"));
    dirs.push(dir);
    const log = join(dir, "calls.log");
    writeFileSync(join(dir, "bicep"), `#!/bin/sh\necho "$@" >> "${log}"\nif [ "$1" = "--version" ]; then echo "Bicep CLI version 0.0.0-fake"; exit 0; fi\nif [ "$1" = "lint" ]; then exit ${exitOnLint}; fi\nexit 0\n`);
    chmodSync(join(dir, "bicep"), 0o755);
    return { dir, log };
  };
  const lint = (path: string, env: Record<string, string> = {}, args: string[] = []) => spawnSync(process.execPath, [join(ROOT, "scripts/lint-infra.mjs"), ...args], { encoding: "utf8", env: { PATH: path, ...env } });

  it("is the package script", () => {
    expect((JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts["lint:infra"]).toBe("node scripts/lint-infra.mjs");
  });

  it("fails without a Bicep CLI (nothing was checked), saying how to skip", () => {
    const r = lint("/nonexistent");
    expect(r.status).toBe(1);
    expect(r.stdout).not.toMatch(/skipped/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/no Bicep CLI .*LINT_INFRA_SKIP=1 .*--skip-missing/);
  });

  it("skips (exit 0, saying so) without a Bicep CLI only when told: LINT_INFRA_SKIP=1 or --skip-missing", () => {
    for (const r of [lint("/nonexistent", { LINT_INFRA_SKIP: "1" }), lint("/nonexistent", {}, ["--skip-missing"])]) {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/skipped as asked/);
    }
    expect(lint("/nonexistent", { LINT_INFRA_SKIP: "0" }).status).toBe(1);
  });

  it("is not part of CI (.ci/run), which has no Bicep CLI", () => {
    expect(read(".ci/run")).not.toMatch(/lint:infra|lint-infra/);
  });

  it("builds and lints every Bicep file with one, and fails when the CLI does", () => {
    const ok = fakeBicep(0);
    const r = lint(ok.dir);
    expect(r.status, r.stdout).toBe(0);
    const calls = readFileSync(ok.log, "utf8").trim().split("\n");
    const files = ["infra/main.bicep", "infra/management-group.bicep", "infra/modules/function-app.bicep", "infra/modules/resource-events.bicep"];
    for (const f of files) {
      expect(calls.some((c) => c.startsWith("build ") && c.includes(f)), f).toBe(true);
      expect(calls).toContain(`lint ${join(ROOT, f)}`);
    }
    const bad = fakeBicep(1);
    const failed = lint(bad.dir);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toMatch(/FAIL lint infra\/main\.bicep/);
  });
});

describe("the operator's guide", () => {
  const guide = read("docs/operations.md");
  const readme = read("README.md");

  it("covers what an operator needs", () => {
    for (const heading of ["How it compares", "Deploy", "Roll out: dry-run first, then enforce rule by rule", "Multiple subscriptions and management groups", "Exemptions", "Where to see what it did", "Upgrading", "Uninstalling cleanly", "Threat model"])
      expect(guide, heading).toContain(`## ${heading}`);
    for (const topic of ["Azure Policy", "deployIfNotExists", "Defender for Cloud", "Cloud Custodian", "PSRule", "azd up", "az deployment sub create", "REMEDIATOR_RULE_MODES", "apim-remediator:exempt", "/api/report", "remediatoraudit", "traces", "Forged", "Over-privileged", "Lock tampering", "Ticket token leakage", "management-group.bicep"])
      expect(guide, topic).toContain(topic);
  });

  it("names only settings, azd values and outputs that exist", () => {
    const known = new Set<string>([
      ...Object.keys(SETTINGS),
      ...[...read("src/tickets/config.ts").matchAll(/"(TICKET_[A-Z_]+)"/g)].map((m) => m[1] as string),
      ...Object.values(parameters.parameters).map((p) => /^\$\{([A-Z_]+)/.exec(String(p.value))?.[1] ?? ""),
      ...main.outputs.keys(),
      "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    ]);
    for (const text of [guide, readme.slice(readme.indexOf("## Deploy"), readme.indexOf("## Develop"))]) {
      for (const m of text.matchAll(/`[^`\n]*`|```[\s\S]*?```/g)) {
        for (const name of m[0].matchAll(/\b(?:REMEDIATOR|KEY_VAULT|TICKET|AZURE|SWEEP|DEPLOY|MIN_API|ARM|STORAGE|APPLICATIONINSIGHTS)_[A-Z_]+\b/g)) expect(known.has(name[0]), `${name[0]} in the docs`).toBe(true);
      }
      // template parameters set on a command line (name=true|false)
      for (const m of text.matchAll(/(?<![\w-])([a-z]\w*)=(?:true|false)\b/g)) expect([...main.params.keys()], `parameter ${m[1]} in the docs`).toContain(m[1]);
    }
  });

  it("is linked from the README's Deploy section", () => {
    const deploy = readme.slice(readme.indexOf("## Deploy"), readme.indexOf("## Develop"));
    expect(deploy).toContain("(docs/operations.md)");
    expect(deploy).toMatch(/azd up/);
  });
});
