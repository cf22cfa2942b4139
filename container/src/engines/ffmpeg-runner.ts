// Every native ffmpeg and ffprobe process of the renderer starts here: spawned with an argument
// array (never a shell), its -progress position read from stdout, the tail of its stderr kept for
// the error message, stopped on abort (SIGTERM, then SIGKILL), and its exit judged in one place.
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { EngineError, LogTail } from "./types.ts";

/** SIGTERM lets ffmpeg close its files; SIGKILL follows if it has not exited by then. */
export const KILL_GRACE_MS = 2000;
/** How every ffmpeg of the renderer starts: no stdin, errors only, outputs overwritten. */
export const FFMPEG_BASE_ARGS: readonly string[] = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"];
/** The output position as `out_time_us=` lines on stdout (what `onProgress` reads), no stats line. */
export const PROGRESS_ARGS: readonly string[] = ["-progress", "pipe:1", "-nostats"];

type Stdio = "pipe" | "ignore" | Readable | Writable;

export interface SpawnOptions {
  /** Default "ignore". */
  stdin?: Stdio;
  /** Default "pipe": read for `onProgress` or `keepStdout`, drained otherwise. */
  stdout?: Stdio;
  /** Pipes from fd 3 on (a mixer's inputs), in `child.stdio[3…]`. */
  extraPipes?: number;
  /** Called with each output position of -progress (PROGRESS_ARGS), in seconds. */
  onProgress?(seconds: number): void;
  /** Keep stdout's text for the exit (ffprobe's answer). */
  keepStdout?: boolean;
  /** Aborting stops the process. */
  signal?: AbortSignal;
  /** Lines of stderr kept for the error message. */
  tailLines?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The process could not be started. */
  error?: Error;
  /**
   * We stopped it (stop() or the abort signal) before it ended. ffmpeg exits 255 on our SIGTERM,
   * like a real failure: a process we stopped is never the one blamed for a failed render.
   */
  stopped: boolean;
  /** The tail of its stderr. */
  log: string;
  /** Its stdout, with `keepStdout`. */
  stdout: string;
}

export interface FfmpegProcess {
  readonly child: ChildProcess;
  /** Settles (never rejects) once the process is gone and its output is read. */
  readonly exit: Promise<Exit>;
  /** SIGTERM now, SIGKILL after KILL_GRACE_MS if it is still there. */
  stop(): void;
}

export function spawnFfmpeg(bin: string, args: readonly string[], o: SpawnOptions = {}): FfmpegProcess {
  const extra = Array.from({ length: o.extraPipes ?? 0 }, () => "pipe" as const);
  const child = spawn(bin, args, { stdio: [o.stdin ?? "ignore", o.stdout ?? "pipe", "pipe", ...extra] });
  const tail = new LogTail(o.tailLines ?? 20);
  child.stderr!.setEncoding("utf8").on("data", (d: string) => tail.push(d));
  const stdout: string[] = [];
  if (child.stdout) readStdout(child.stdout, o, stdout);
  let stopped = false;
  const stop = () => {
    stopped = true;
    terminate(child);
  };
  o.signal?.addEventListener("abort", stop, { once: true });
  const exit = new Promise<Exit>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      o.signal?.removeEventListener("abort", stop);
      resolve({ code, signal, ...(error ? { error } : {}), stopped, log: tail.toString(), stdout: stdout.join("") });
    };
    child.once("error", (e) => done(null, null, e));
    child.once("close", (code, signal) => done(code, signal));
  });
  return { child, exit, stop };
}

/** The failure an exit stands for (named after the process), or undefined when it exited 0. */
export function exitError(name: string, exit: Exit): EngineError | undefined {
  if (exit.error) return new EngineError(`cannot start ${name}: ${exit.error.message}`, exit.log);
  if (exit.code === 0) return undefined;
  const why = exit.log.split("\n").slice(-3).join(" | ") || "no error output";
  // Killed from outside (a signal, the OOM killer) rather than refusing its input: worth a retry.
  return new EngineError(`${name} failed (${exit.code ?? exit.signal}): ${why}`, exit.log, exit.code === null);
}

function readStdout(stream: Readable, o: SpawnOptions, kept: string[]): void {
  let pending = "";
  stream.setEncoding("utf8").on("data", (chunk: string) => {
    if (o.keepStdout) kept.push(chunk);
    if (!o.onProgress) return;
    const lines = (pending + chunk).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const m = /^out_time_us=(\d+)/.exec(line);
      if (m) o.onProgress(Number(m[1]) / 1e6);
    }
  });
}

function terminate(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }, KILL_GRACE_MS);
  t.unref();
  child.once("exit", () => clearTimeout(t));
}
