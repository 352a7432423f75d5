import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // Each file gets its own process: the Pulumi runtime keeps global state, and mocks must not leak between files.
        pool: "forks",
        isolate: true,
        testTimeout: 60_000,
        hookTimeout: 60_000,
    },
});
