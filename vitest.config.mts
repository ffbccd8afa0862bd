import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/global-setup.ts"],
    // tests never leave the machine: DNS and connections off loopback fail the test (test/helpers/net-guard.cjs)
    setupFiles: ["test/helpers/net-guard-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: process.env["CI"] ? ["default", ["json", { outputFile: "test-results/vitest.json" }]] : ["default"],
  },
});
