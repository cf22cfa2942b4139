// Finds the engines this process can use, once, at startup.
import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { rendererConfig, type EngineSettings } from "../config.ts";
import { createProber } from "../probe.ts";
import type { AvailableEngines } from "./choose.ts";
import { createNativeEngine, nativeFfprobe } from "./native.ts";
import type { Engine, Prober } from "./types.ts";
import { createWasmRuntime, type WasmRuntime } from "./wasm.ts";

export interface EngineSet extends AvailableEngines {
  native?: Engine;
  wasm?: Engine;
  prober: Prober;
  /** One line for the startup log. */
  summary: string;
  health(): { native: boolean; wasm: boolean };
  close(): Promise<void>;
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function which(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(delimiter).filter(Boolean)) {
    const p = join(dir, name);
    if (await executable(p)) return p;
  }
  return undefined;
}

function version(bin: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(bin, ["-hide_banner", "-version"], { timeout: 10_000 }, (err, stdout) =>
      resolve(err ? undefined : (/version (\S+)/.exec(stdout)?.[1] ?? "unknown")),
    );
  });
}

export async function setupEngines(settings: EngineSettings = rendererConfig().engines): Promise<EngineSet> {
  const noNative = settings.disableNative;
  let ffmpeg: string | undefined;
  let ffprobe: string | undefined;
  let ffmpegVersion: string | undefined;
  if (!noNative) {
    ffmpeg = settings.ffmpegPath || (await which("ffmpeg", settings.searchPath));
    ffmpegVersion = ffmpeg ? await version(ffmpeg) : undefined;
    if (!ffmpegVersion) ffmpeg = undefined;
    const sibling = ffmpeg ? join(dirname(ffmpeg), "ffprobe") : undefined;
    ffprobe = settings.ffprobePath || (sibling && (await executable(sibling)) ? sibling : await which("ffprobe", settings.searchPath));
    if (ffprobe && !(await version(ffprobe))) ffprobe = undefined;
  }

  let wasm: WasmRuntime | undefined = createWasmRuntime();
  let wasmError = "";
  const t0 = Date.now();
  try {
    await wasm.load();
  } catch (e) {
    wasmError = (e as Error).message;
    await wasm.close();
    wasm = undefined;
  }
  const wasmMs = Date.now() - t0;

  const native = ffmpeg ? createNativeEngine(ffmpeg) : undefined;
  const runner = ffprobe ? nativeFfprobe(ffprobe) : wasm?.ffprobe;
  const prober: Prober = runner
    ? createProber(runner)
    : { probe: () => Promise.reject(new Error("no ffprobe available (native missing, wasm not loaded)")) };

  const parts = [
    ffmpeg ? `native ffmpeg ${ffmpegVersion} (${ffmpeg})` : `native ffmpeg: ${noNative ? "disabled" : "not found"}`,
    ffprobe ? `ffprobe (${ffprobe})` : `ffprobe: ${wasm ? "via wasm" : "none"}`,
    wasm ? `ffmpeg.wasm loaded in ${wasmMs} ms` : `ffmpeg.wasm: failed (${wasmError})`,
  ];
  return {
    native,
    wasm: wasm?.engine,
    prober,
    summary: `engines: ${parts.join("; ")}`,
    health: () => ({ native: Boolean(native), wasm: Boolean(wasm?.loaded()) }),
    close: async () => wasm?.close(),
  };
}
