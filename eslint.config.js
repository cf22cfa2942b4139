// ESLint (flat config): typescript-eslint's recommended rules over every TypeScript file; formatting
// is Prettier's job (eslint-config-prettier turns off the rules that would fight it).
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      ".wrangler/",
      "container/dist/",
      "bench/results/",
      "migrations/",
      "coverage/",
      "worker/console/files.generated.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.worker } },
    rules: {
      // `_`-prefixed names are deliberately unused (positional parameters, destructured rests).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
  {
    // The console's plain ES modules run in the browser.
    files: ["console/**/*.js"],
    languageOptions: { globals: globals.browser },
  },
  {
    // Tests and benchmarks read arbitrary JSON answers; typing each one would add noise, not safety.
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  prettier,
);
