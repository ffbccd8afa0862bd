import { defineConfig } from "vitest/config";

/**
 * Files that need a module registry of their own: they mock a module (`vi.mock`), change
 * `process.env` for code that reads it at import, or test the network guard itself.
 * Every other file shares its worker's modules with the files before it (`isolate: false`):
 * importing the Azure SDKs and the emulator once per worker instead of once per file
 * makes the suite about twice as fast. Those files start their own emulators and clients
 * and keep no state in module scope, so sharing the registry changes nothing they test.
 */
const ISOLATED = ["test/app/functions.test.ts", "test/infra/app.test.ts", "test/app/queue.test.ts", "test/app/fixes.test.ts", "test/app/scope.test.ts", "test/functions/**/*.test.ts", "test/helpers/net-guard.test.ts"];

export default defineConfig({
  test: {
    globalSetup: ["test/helpers/global-setup.ts"],
    // tests never leave the machine: DNS and connections off loopback fail the test (test/helpers/net-guard.cjs)
    setupFiles: ["test/helpers/net-guard-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: process.env["CI"] ? ["default", ["json", { outputFile: "test-results/vitest.json" }]] : ["default"],
    projects: [
      { extends: true, test: { name: "isolated", include: ISOLATED, isolate: true } },
      { extends: true, test: { name: "shared", include: ["test/**/*.test.ts"], exclude: ISOLATED, isolate: false } },
    ],
  },
});
