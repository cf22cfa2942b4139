// What the job needs from an engine and from a prober; both engines satisfy the same shapes.
import type { ProbeFacts, RenderPlan } from "../planner/types.ts";

export type EngineName = "native" | "wasm";

export interface RunOptions {
  /**
   * Called with ffmpeg's output position (seconds of the output written so far), and the seconds
   * the render still needs when the engine knows better than the position's rate (parallel-audio.ts).
   */
  onProgress(outTimeSeconds: number, remainingSeconds?: number): void;
  /** Aborting kills the render; run() then rejects with the signal's reason. */
  signal: AbortSignal;
}

export interface Engine {
  name: EngineName;
  run(plan: RenderPlan, opts: RunOptions): Promise<void>;
  /** A bare ffmpeg command (side passes over an output: review assets); the native engine has it. */
  runArgs?(args: readonly string[], opts: RunOptions): Promise<void>;
  /** A bare ffmpeg command whose output `pipe:3` is handed over as it comes (samples streamed, never stored). */
  pipeArgs?(args: readonly string[], onData: (chunk: Buffer) => void, opts: RunOptions): Promise<void>;
}

/** ffmpeg ran and failed; `log` is the tail of its error output (paths included). */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly log: string,
    /** True when ffmpeg died from outside (signal, OOM, crash) rather than rejecting the input. */
    readonly retryable = false,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

export interface Prober {
  probe(file: string, signal?: AbortSignal): Promise<ProbeFacts>;
}

/** Runs ffprobe with `args` followed by the file; the engine decides where the file lives. */
export type FfprobeRunner = (file: string, args: readonly string[], signal?: AbortSignal) => Promise<{ stdout: string; stderr: string }>;

/** Keeps the last `max` lines of a log stream (error messages without unbounded memory). */
export class LogTail {
  private lines: string[] = [];
  constructor(private readonly max = 40) {}
  push(text: string): void {
    for (const line of text.split(/\r?\n/)) {
      if (!line.trim()) continue;
      this.lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (this.lines.length > this.max) this.lines.shift();
    }
  }
  toString(): string {
    return this.lines.join("\n");
  }
}
