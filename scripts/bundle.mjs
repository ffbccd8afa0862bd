// Bundles the Functions app (every function in src/functions) into one file with esbuild,
// and lays out the deployable package in dist/deploy/:
//   functions.js        package.json's main: loads app.js with V8's code cache (app.js.cache),
//                       so a cold start does not compile 3.5 MB of JavaScript; when the cache does
//                       not match the runtime's V8 it is ignored and app.js compiles as usual
//   app.js (+ .LEGAL.txt, .cache)  the app, all dependencies inlined
//   package.json        main: functions.js, no dependencies
//   host.json           as in the repository
//   docs/rules/*.md     the rule pages tickets quote
// `@azure/functions-core` stays external: the Functions host provides it at run time.
// The source map (~15 MB) is not part of the package: by default it is written to dist/sourcemaps/app.js.map,
// beside the package, with no sourceMappingURL in app.js (map a stack trace from Azure with it locally).
// BUNDLE_SOURCEMAP=1 or --sourcemap puts app.js.map in the package, linked from app.js (then set
// NODE_OPTIONS=--enable-source-maps in the app settings to get mapped stack traces on Azure).
// Usage: node scripts/bundle.mjs [--sourcemap] [--out DIR]   (default DIR dist/deploy; it bundles the
// TypeScript sources, tsc is not needed first)
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const outAt = argv.indexOf("--out");
if (outAt >= 0 && !argv[outAt + 1]) {
  process.stderr.write("bundle: --out needs a folder\n");
  process.exit(2);
}
const out = outAt >= 0 ? resolve(argv[outAt + 1]) : join(root, "dist", "deploy");
const mapInPackage = argv.includes("--sourcemap") || /^(1|true)$/i.test(process.env.BUNDLE_SOURCEMAP ?? "");
// outside the package folder: azd zip-deploys `dist: dist/deploy` whole
const mapDir = join(dirname(out), "sourcemaps");
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
  // "linked": app.js.map beside app.js with a sourceMappingURL comment; "external": the map, no comment
  sourcemap: mapInPackage ? "linked" : "external",
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
rmSync(join(mapDir, "app.js.map"), { force: true });
if (!mapInPackage) {
  mkdirSync(mapDir, { recursive: true });
  renameSync(join(out, "app.js.map"), join(mapDir, "app.js.map"));
}
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
const shown = (p) => (relative(root, p).startsWith("..") ? p : relative(root, p));
const where = shown(out);
const map = mapInPackage ? `source map in the package (${where}/app.js.map)` : `source map outside the package (${shown(join(mapDir, "app.js.map"))}; BUNDLE_SOURCEMAP=1 to ship it)`;
process.stdout.write(`${where}: ${functions.length} functions, app.js ${(bytes / 2 ** 20).toFixed(1)} MB, ${map}, ${Date.now() - started} ms\n`);
