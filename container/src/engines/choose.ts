// Which engine renders a job: wasm for small audio-only jobs (no process spawn, no native
// dependency), native for everything else, and wasm for everything when there is no native ffmpeg.
import type { Engine } from "./types.ts";

/**
 * Ceiling of total input bytes for the wasm engine on audio jobs: `npm run bench:engines` measured
 * the crossover at 1.24 MiB of Opus (about a minute of a call); above it spawning ffmpeg wins.
 */
export const WASM_MAX_INPUT_BYTES = 1.25 * 1024 * 1024;

export interface AvailableEngines {
  native?: Engine;
  wasm?: Engine;
}

export function chooseEngine(
  kind: "audio" | "video" | "track",
  inputBytes: number,
  engines: AvailableEngines,
  maxWasmBytes = WASM_MAX_INPUT_BYTES,
): Engine {
  if (engines.wasm && kind === "audio" && inputBytes < maxWasmBytes) return engines.wasm;
  if (engines.native) return engines.native;
  if (engines.wasm) return engines.wasm;
  throw new Error("no render engine available (no native ffmpeg and ffmpeg.wasm failed to load)");
}
