import { defineConfig } from "vitest/config";

// The soak: hundreds of compositions over the running stack (npm run test:soak). Long; not in npm test.
export default defineConfig({
  test: {
    include: ["test/soak/**/*.test.ts"],
    environment: "node",
    testTimeout: 20 * 60_000,
    hookTimeout: 5 * 60_000,
    fileParallelism: false,
  },
});
