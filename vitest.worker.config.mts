import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Worker tests run inside real workerd with real D1 (migrations applied), R2 and Queues.
export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            JWT_SECRET: "test-jwt-secret-0123456789abcdef0123456789abcdef",
            MEDIA_SIGNING_KEYS: "k2:test-media-key-two-0123456789abcdef,k1:test-media-key-one-0123456789abcdef",
            RENDERER_URL: "http://renderer.test",
            PUBLIC_BASE_URL: "",
            INTERNAL_BASE_URL: "http://example.com",
            WEBHOOK_SIGNING_SECRET: "test-webhook-signing-secret-0123456789abcdef",
            // R2's smallest part (miniflare enforces it too), so multipart tests move megabytes, not 95 MiB parts.
            UPLOAD_PART_SIZE: String(5 * 2 ** 20),
          },
        },
      }),
    ],
    test: {
      include: ["test/worker/**/*.test.ts"],
      setupFiles: ["./test/worker/setup.ts"],
    },
  };
});
