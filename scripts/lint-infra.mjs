// npm run lint:infra: `bicep build` and `bicep lint` every Bicep file in infra/ with the Bicep CLI
// (`bicep --version` must work; `az bicep` is not used: it may try to download Bicep). Without the CLI it
// fails (exit 1: nothing was checked), unless told to skip: LINT_INFRA_SKIP=1 or --skip-missing (exit 0,
// saying so). CI (.ci/run) does not run it; the structural checks in test/infra run everywhere.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const out = (s) => process.stdout.write(`${s}\n`);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function works(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", shell: process.platform === "win32" });
  return r.status === 0 ? (r.stdout || r.stderr).trim() : undefined;
}

const version = works("bicep", ["--version"]);
if (!version) {
  const skip = process.argv.includes("--skip-missing") || /^(1|true)$/i.test(process.env.LINT_INFRA_SKIP ?? "");
  if (skip) {
    out("lint:infra: skipped as asked (no Bicep CLI: `bicep --version` failed). The structural checks run in `npx vitest run test/infra`.");
    process.exit(0);
  }
  process.stderr.write("lint:infra: no Bicep CLI (`bicep --version` failed), so nothing was checked: install it (https://aka.ms/bicep-install), or set LINT_INFRA_SKIP=1 (or pass --skip-missing) to skip\n");
  process.exit(1);
}
out(`lint:infra: ${version}`);

const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith(".bicep")) files.push(p);
  }
})(join(root, "infra"));

const outDir = mkdtempSync(join(tmpdir(), "apim-remediator-bicep-"));
let failed = 0;
for (const f of files.sort()) {
  const rel = relative(root, f);
  for (const [what, args] of [["build", ["build", f, "--outdir", outDir]], ["lint", ["lint", f]]]) {
    const r = spawnSync("bicep", args, { encoding: "utf8", shell: process.platform === "win32" });
    const text = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
    if (r.status !== 0) {
      failed++;
      out(`FAIL ${what} ${rel}\n${text}`);
    } else out(`ok   ${what} ${rel}${text ? `\n${text}` : ""}`);
  }
}
rmSync(outDir, { recursive: true, force: true });
process.exit(failed > 0 ? 1 : 0);
