// The renderer's configuration (its environment), parsed with zod once, when main() starts: a bad
// value makes the renderer exit 1 naming the variable, instead of running on a NaN or a fallback
// nobody asked for. Nothing outside this file reads the renderer's settings from process.env.
import { accessSync, constants, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { z } from "zod";
import { WASM_MAX_INPUT_BYTES } from "./engines/choose.ts";

/** The renderer cannot start as configured; the message says which variable and why. */
export class StartupError extends Error {
  override name = "StartupError";
}

/**
 * A Cloudflare rollout sends SIGTERM and SIGKILL 15 minutes later: the drain ends a minute before,
 * so what cannot finish is handed back (and its scratch files removed) while the process still runs.
 */
export const DEFAULT_DRAIN_SECONDS = 14 * 60;
export const DEFAULT_PORT = 8080;

export interface EngineSettings {
  /** RENDERER_DISABLE_NATIVE: compose with ffmpeg.wasm even when a native ffmpeg is there. */
  disableNative: boolean;
  ffmpegPath?: string;
  ffprobePath?: string;
  /** Where ffmpeg and ffprobe are looked for without FFMPEG_PATH / FFPROBE_PATH. */
  searchPath: string;
}

export interface RendererConfig {
  /** Jobs at once (default: one per core). */
  slots: number;
  port: number;
  host?: string;
  /** Scratch space root: each renderer process works in its own dir under it. */
  tmpRoot: string;
  drainSeconds: number;
  /** Below this many input bytes an AUDIO job renders on ffmpeg.wasm. */
  wasmMaxBytes: number;
  // Unset: the default kept beside the code that uses it (job.ts, engines/parallel-audio.ts, which reads this module).
  watchdogMs?: number;
  parallelAudioMinSeconds?: number;
  chunkMinSeconds?: number;
  engines: EngineSettings;
}

type Parsed<T> = { value: T } | { wrong: string };
const shown = (raw: string) => JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);

/** One variable; unset or empty takes `fallback`. */
function setting<T>(fallback: T, parse: (raw: string) => Parsed<NoInfer<T>>) {
  return z.unknown().transform((raw, ctx): T => {
    if (typeof raw !== "string" || raw.trim() === "") return fallback;
    const parsed = parse(raw.trim());
    if ("value" in parsed) return parsed.value;
    ctx.addIssue({ code: "custom", message: parsed.wrong });
    return z.NEVER;
  });
}

function wholeNumber<F extends number | undefined>(fallback: F, min: number, max = Number.MAX_SAFE_INTEGER, unit = "") {
  const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
  return setting<number | F>(fallback, (raw) => {
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    return n >= min && n <= max ? { value: n } : { wrong: `must be a whole number${unit} (${range}), not ${shown(raw)}` };
  });
}

/** Seconds, fractions allowed; `Infinity` switches the feature off. */
function seconds(what: string, positive: boolean) {
  return setting<number | undefined>(undefined, (raw) => {
    const n = /^(\d+(\.\d+)?|Infinity)$/.test(raw) ? Number(raw) : NaN;
    const ok = positive ? n > 0 : n >= 0;
    return ok
      ? { value: n }
      : { wrong: `must be a number of seconds ${positive ? "above 0" : "(0 or more)"} or Infinity (${what}), not ${shown(raw)}` };
  });
}

const flag = setting(false, (raw) =>
  ["1", "true"].includes(raw)
    ? { value: true }
    : ["0", "false"].includes(raw)
      ? { value: false }
      : { wrong: `must be 1, true, 0 or false, not ${shown(raw)}` },
);

const text = setting<string | undefined>(undefined, (raw) => ({ value: raw }));

const executable = setting<string | undefined>(undefined, (raw) => {
  try {
    accessSync(raw, constants.X_OK);
    if (statSync(raw).isFile()) return { value: raw };
  } catch {
    // not there, or not executable
  }
  return { wrong: `must be the path of an executable file; ${shown(raw)} is not one` };
});

const Schema = z.object({
  SLOTS: wholeNumber(cpus().length || 1, 1),
  PORT: wholeNumber(DEFAULT_PORT, 0, 65_535),
  HOST: text,
  RENDERER_TMPDIR: setting(tmpdir(), (raw) => ({ value: raw })),
  RENDERER_DRAIN_SECONDS: wholeNumber(DEFAULT_DRAIN_SECONDS, 0, Number.MAX_SAFE_INTEGER, " of seconds"),
  RENDERER_WATCHDOG_MS: wholeNumber(undefined, 1, Number.MAX_SAFE_INTEGER, " of milliseconds"),
  RENDERER_WASM_MAX_BYTES: wholeNumber(WASM_MAX_INPUT_BYTES, 0, Number.MAX_SAFE_INTEGER, " of bytes"),
  RENDERER_PARALLEL_AUDIO_MIN_SECONDS: seconds("the shortest AUDIO output run as a pipeline", false),
  RENDERER_CHUNK_MIN_SECONDS: seconds("the shortest window one MP3 encoder takes", true),
  RENDERER_DISABLE_NATIVE: flag,
  FFMPEG_PATH: executable,
  FFPROBE_PATH: executable,
  PATH: setting("", (raw) => ({ value: raw })),
});
const VARS = Object.keys(Schema.shape);
// Each variable's own output (z.unknown() makes every key optional in the object's inferred type).
type Vars = { [K in keyof typeof Schema.shape]: z.output<(typeof Schema.shape)[K]> };

/** Parses the environment; throws one StartupError naming every bad variable. */
export function parseRendererConfig(env: NodeJS.ProcessEnv): RendererConfig {
  // Every variable present, unset ones as undefined: zod 4 refuses an absent key that a transform fills.
  const result = Schema.safeParse(Object.fromEntries(VARS.map((k) => [k, env[k]])));
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".")} ${i.message}`);
    throw new StartupError(`invalid configuration: ${problems.join("; ")}`);
  }
  const v = result.data as Vars;
  return {
    slots: v.SLOTS,
    port: v.PORT,
    host: v.HOST,
    tmpRoot: v.RENDERER_TMPDIR,
    drainSeconds: v.RENDERER_DRAIN_SECONDS,
    watchdogMs: v.RENDERER_WATCHDOG_MS,
    wasmMaxBytes: v.RENDERER_WASM_MAX_BYTES,
    parallelAudioMinSeconds: v.RENDERER_PARALLEL_AUDIO_MIN_SECONDS,
    chunkMinSeconds: v.RENDERER_CHUNK_MIN_SECONDS,
    engines: { disableNative: v.RENDERER_DISABLE_NATIVE, ffmpegPath: v.FFMPEG_PATH, ffprobePath: v.FFPROBE_PATH, searchPath: v.PATH },
  };
}

let parsed: RendererConfig | undefined;

/** This process's configuration, parsed on first use: main() calls it first, so a bad value stops the start. */
export function rendererConfig(): RendererConfig {
  parsed ??= parseRendererConfig(process.env);
  return parsed;
}
