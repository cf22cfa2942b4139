// Native ffmpeg/ffprobe, run through the one runner (ffmpeg-runner.ts).
import type { Readable } from "node:stream";
import type { RenderPlan } from "../planner/types.ts";
import { exitError, FFMPEG_BASE_ARGS, PROGRESS_ARGS, spawnFfmpeg } from "./ffmpeg-runner.ts";
import { EngineError, type Engine, type FfprobeRunner, type RunOptions } from "./types.ts";

export function createNativeEngine(ffmpegPath: string): Engine {
  async function runArgs(commandArgs: readonly string[], opts: RunOptions, onData?: (chunk: Buffer) => void): Promise<void> {
    if (opts.signal.aborted) throw opts.signal.reason;
    const args = [...FFMPEG_BASE_ARGS, ...PROGRESS_ARGS, ...commandArgs];
    const run = spawnFfmpeg(ffmpegPath, args, {
      signal: opts.signal,
      onProgress: opts.onProgress,
      tailLines: 40,
      extraPipes: onData ? 1 : 0,
    });
    if (onData) (run.child.stdio[3] as Readable).on("data", onData);
    const exit = await run.exit;
    if (opts.signal.aborted) throw opts.signal.reason;
    const failure = exitError("ffmpeg", exit);
    if (failure) throw failure;
  }
  return {
    name: "native",
    run: (plan: RenderPlan, opts: RunOptions) => runArgs(plan.args, opts),
    runArgs: (args, opts) => runArgs(args, opts),
    pipeArgs: (args, onData, opts) => runArgs(args, opts, onData),
  };
}

/** ffprobe's answer whatever its exit code: the prober judges by the output. */
export function nativeFfprobe(ffprobePath: string): FfprobeRunner {
  return async (file, args, signal) => {
    const exit = await spawnFfmpeg(ffprobePath, [...args, file], { signal, keepStdout: true }).exit;
    if (exit.error) throw new EngineError(`cannot start ffprobe: ${exit.error.message}`, "");
    if (signal?.aborted) throw signal.reason;
    return { stdout: exit.stdout, stderr: exit.log };
  };
}
