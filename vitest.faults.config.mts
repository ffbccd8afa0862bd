/**
 * `npm run test:faults`: every fault schedule (FAULT_SCHEDULES, default 500),
 * split into FAULT_SHARDS parallel shards (default 2), each running
 * FAULT_CONCURRENCY schedules at a time. FAULT_SEED=123 replays one schedule.
 */
import { defineConfig } from "vitest/config";

const shards = process.env["FAULT_SEED"] ? 1 : Math.max(1, Number(process.env["FAULT_SHARDS"] ?? "2"));
const schedules = process.env["FAULT_SCHEDULES"] ?? "500";

export default defineConfig({
  test: {
    globalSetup: ["test/helpers/global-setup.ts"],
    // tests never leave the machine: DNS and connections off loopback fail the test (test/helpers/net-guard.cjs)
    setupFiles: ["test/helpers/net-guard-setup.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    projects: Array.from({ length: shards }, (_, i) => ({
      extends: true,
      test: {
        name: `faults-${i + 1}of${shards}`,
        include: ["test/reliability/faults.test.ts"],
        env: { FAULT_SCHEDULES: schedules, FAULT_SHARD: `${i}/${shards}`, FAULT_CONCURRENCY: process.env["FAULT_CONCURRENCY"] ?? "4" },
      },
    })),
  },
});
