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
    // every file in a module registry of its own (sharing workers' modules, `isolate: false`, let state of one
    // file leak into the next: long-running-operation and scoped-evaluation tests failed only in the whole suite)
    isolate: true,
    // two files side by side on CI's 2 cores (vitest's default is one less than the CPUs: 1): the suite took ~550 s
    // one at a time. Two at a time once starved the shared-pacing test of CPU (15 x 429 with 4 instances in one run);
    // the shared pacer now counts requests still on their way however late (src/azure/shared-pacing.ts), and that
    // file passed with two copies of itself side by side
    maxWorkers: 2,
    reporters: process.env["CI"] ? ["default", ["json", { outputFile: "test-results/vitest.json" }]] : ["default"],
  },
});
