import { defineConfig } from "vitest/config";

// Renderer unit/integration tests and end-to-end tests over the running stack, in plain Node.
export default defineConfig({
  test: {
    include: ["test/container/**/*.test.ts", "test/e2e/**/*.test.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
