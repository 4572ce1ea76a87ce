import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
    setupFiles: ["./test/support/fast-check-seed.ts"],
    // Integration tests start real servers; give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    // An unhandled rejection anywhere is a test failure, not a warning.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
