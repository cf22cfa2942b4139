// Bundles the renderer into one ESM file, container/dist/renderer.mjs, which container/Dockerfile
// copies into the image. Run outside the image (`npm run build:renderer`; `npm run deploy` runs it
// before `wrangler deploy`), so the image build needs no npm registry and no source tree.
// esbuild follows imports from the entry point, wherever the imported modules live.
import { build } from "esbuild";
import { statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../stack.ts";

const outfile = join(ROOT, "container", "dist", "renderer.mjs");

await build({
  entryPoints: [join(ROOT, "container", "src", "server.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Its ESM loader and 32 MB wasm are read from node_modules at runtime (the image copies them).
  external: ["@ffmpeg/core"],
  // Bundled CommonJS dependencies call require(), which an ES module lacks.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: "warning",
});
console.log(`bundled ${outfile} (${(statSync(outfile).size / 1024).toFixed(0)} KiB)`);
