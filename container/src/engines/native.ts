// Native ffmpeg/ffprobe: spawned with argument arrays (never a shell), killed on abort.
import { spawn } from "node:child_process";
import type { RenderPlan } from "../planner/types.ts";
import { EngineError, LogTail, type Engine, type FfprobeRunner, type RunOptions } from "./types.ts";

/** SIGTERM lets ffmpeg close its files; SIGKILL follows if it has not exited by then. */
export const KILL_GRACE_MS = 2000;

/** Stops one ffmpeg: SIGTERM now, SIGKILL after the grace period if it is still there. */
export function stopProcess(child: ReturnType<typeof spawn>): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }, KILL_GRACE_MS);
  t.unref();
  child.once("exit", () => clearTimeout(t));
}

function killer(child: ReturnType<typeof spawn>): () => void {
  return () => stopProcess(child);
}

export function createNativeEngine(ffmpegPath: string): Engine {
  return {
    name: "native",
    run(plan: RenderPlan, opts: RunOptions): Promise<void> {
      return new Promise((resolve, reject) => {
        if (opts.signal.aborted) return reject(opts.signal.reason);
        const args = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-progress", "pipe:1", "-nostats", ...plan.args];
        const child = spawn(ffmpegPath, args, { stdio: ["ignore", "pipe", "pipe"] });
        const tail = new LogTail();
        let pending = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          pending += chunk;
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const line of lines) {
            const m = /^out_time_us=(\d+)/.exec(line);
            if (m) opts.onProgress(Number(m[1]) / 1e6);
          }
        });
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => tail.push(chunk));
        const kill = killer(child);
        opts.signal.addEventListener("abort", kill, { once: true });
        child.on("error", (e) => {
          opts.signal.removeEventListener("abort", kill);
          reject(new EngineError(`cannot start ffmpeg: ${e.message}`, ""));
        });
        child.on("close", (code, sig) => {
          opts.signal.removeEventListener("abort", kill);
          if (opts.signal.aborted) return reject(opts.signal.reason);
          if (code === 0) return resolve();
          const log = tail.toString();
          const why = log.split("\n").slice(-3).join(" | ") || "no error output";
          reject(new EngineError(`ffmpeg failed (${code ?? sig}): ${why}`, log, code === null));
        });
      });
    },
  };
}

export function nativeFfprobe(ffprobePath: string): FfprobeRunner {
  return (file, args, signal) =>
    new Promise((resolve, reject) => {
      const child = spawn(ffprobePath, [...args, file], { stdio: ["ignore", "pipe", "pipe"] });
      const out: string[] = [];
      const err = new LogTail(20);
      child.stdout.setEncoding("utf8").on("data", (d: string) => out.push(d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => err.push(d));
      const kill = killer(child);
      signal?.addEventListener("abort", kill, { once: true });
      child.on("error", (e) => reject(new EngineError(`cannot start ffprobe: ${e.message}`, "")));
      child.on("close", () => {
        signal?.removeEventListener("abort", kill);
        if (signal?.aborted) return reject(signal.reason);
        resolve({ stdout: out.join(""), stderr: err.toString() });
      });
    });
}
