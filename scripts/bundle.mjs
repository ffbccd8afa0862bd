// Bundles the Functions app (every function in src/functions) into one file with esbuild,
// and lays out the deployable package in dist/deploy/:
//   functions.js        package.json's main: loads app.js with V8's code cache (app.js.cache),
//                       so a cold start does not compile 3.5 MB of JavaScript; when the cache does
//                       not match the runtime's V8 it is ignored and app.js compiles as usual
//   app.js (+ .map, .LEGAL.txt, .cache)  the app, all dependencies inlined
//   package.json        main: functions.js, no dependencies
//   host.json           as in the repository
//   docs/rules/*.md     the rule pages tickets quote
// `@azure/functions-core` stays external: the Functions host provides it at run time.
// Usage: node scripts/bundle.mjs   (it bundles the TypeScript sources; tsc is not needed first)
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "deploy");
const functions = readdirSync(join(root, "src", "functions"))
  .filter((f) => f.endsWith(".ts"))
  .sort();

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const started = Date.now();
await build({
  stdin: {
    contents: functions.map((f) => `import "./src/functions/${f.replace(/\.ts$/, "")}";`).join("\n"),
    resolveDir: root,
    sourcefile: "functions-entry.ts",
    loader: "ts",
  },
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outfile: join(out, "app.js"),
  external: ["@azure/functions-core"],
  minify: true,
  keepNames: true,
  sourcemap: true,
  legalComments: "external",
  // ESM dependencies read import.meta.url; in the CommonJS bundle it is the bundle's own URL
  banner: { js: 'var __bundle_import_meta_url = require("url").pathToFileURL(__filename).href;' },
  define: { "import.meta.url": "__bundle_import_meta_url" },
  logLevel: "warning",
});

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
writeFileSync(
  join(out, "package.json"),
  JSON.stringify({ name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, private: true, type: "commonjs", main: "functions.js", engines: pkg.engines }, null, 2) + "\n",
);
cpSync(join(root, "host.json"), join(out, "host.json"));
cpSync(join(root, "docs", "rules"), join(out, "docs", "rules"), { recursive: true });

// the loader, and the code cache it uses (made by running the app's top level once, as the host would)
const LOADER = `"use strict";
// Loads app.js (the bundled app) with the V8 code cache made at build time (scripts/bundle.mjs).
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { Script } = require("node:vm");
const { wrap } = require("node:module");
const file = join(__dirname, "app.js");
let cachedData;
try {
  cachedData = readFileSync(file + ".cache");
} catch {
  cachedData = undefined;
}
const script = new Script(wrap(readFileSync(file, "utf8")), { filename: file, cachedData });
script.runInThisContext().call(exports, exports, require, module, file, __dirname);
`;
writeFileSync(join(out, "functions.js"), LOADER);
// the same compile as the loader's, run once (the app's top level only registers functions), then cached
const MAKE_CACHE = `
const { readFileSync, writeFileSync } = require("node:fs");
const { Script } = require("node:vm");
const { wrap } = require("node:module");
const file = ${JSON.stringify(join(out, "app.js"))};
const script = new Script(wrap(readFileSync(file, "utf8")), { filename: file });
const m = { exports: {} };
script.runInThisContext().call(m.exports, m.exports, require, m, file, ${JSON.stringify(out)});
writeFileSync(file + ".cache", script.createCachedData());
`;
const made = spawnSync(process.execPath, ["-e", MAKE_CACHE], { cwd: out, encoding: "utf8" });
if (made.status !== 0) process.stderr.write(`${made.stderr}\n`);
if (made.status !== 0) process.stderr.write("warning: no code cache made; functions.js compiles app.js at start\n");

const bytes = statSync(join(out, "app.js")).size;
process.stdout.write(`dist/deploy: ${functions.length} functions, app.js ${(bytes / 2 ** 20).toFixed(1)} MB, ${Date.now() - started} ms\n`);
