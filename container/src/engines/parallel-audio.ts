// The native AUDIO path for long recordings: the single ffmpeg command of the plan, run as a
// pipeline of processes so that both cores work.
//
//   track 0 ─ ffmpeg: decode + its source chain (aresample, aformat, adelay) ─┐ nut, f32, 1 s packets
//   track 1 ─ ffmpeg: decode + its source chain ──────────────────────────────┤
//   …                                                                        ├─ ffmpeg: the rest of the
//   track n ─ ffmpeg: decode + its source chain ──────────────────────────────┘  graph (amix, limiter,
//                                                                                trims) → MP3 encoder(s)
//
// With one encoder, the mixer pipes f32 into it and the MP3 is the single command's, byte for byte.
// From 2 × MIN_CHUNK_SECONDS on, the mixer writes the mix as one time window per core instead, and
// each window gets its own encoder (chunked-mp3.ts): libmp3lame is single-threaded and ~40% of the
// work, so one encoder is the longest serial stage. The windows hold exactly the mixer's samples
// and are joined on LAME's frame grid where the encoders agree; the joins decode to the single
// command's samples (test/container/engines.test.ts, bench/audio-profile.ts).
//
// Why not cut the inputs instead and run the whole command per time chunk (measured in
// bench/audio-profile.ts): a chunk has to seek into each track, and after a seek samples are placed
// by the container's timestamps (1 ms in WebM, jittery in MediaRecorder files) while the single
// command places them by counting decoded samples; the parts come out shifted against each other by
// milliseconds and every join clicks. The stage split keeps every sample where the single command
// puts it, and it pays for itself too: with n inputs, ffmpeg 5.x gives each input a demuxer thread
// and hands every packet (20 ms of Opus) across threads, which cost as much CPU as the decoding.
// Each decoder here has one input (no thread), and the mixer gets 1 s packets, 50× fewer hand-offs.
//
// The plan's own filter graph is split, not rebuilt: a chain that reads one input (`[k:a]…[label]`)
// runs in that input's decoder, every other chain in the mixer, so whatever the planner composes
// (trims, selections) is rendered as it wrote it. Anything that does not fit that shape, or any
// failure, falls back to the single command (which also produces the usual error for bad media).
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import type { Readable, Writable } from "node:stream";
import { SAMPLE_RATE, type RenderPlan } from "../planner/types.ts";
import { rendererConfig } from "../config.ts";
import { chunkCount, chunkLayout, encodeWindows, MIN_CHUNK_SECONDS, type ChunkLayout } from "./chunked-mp3.ts";
import { pipelineFor, type PipelineSpec } from "./pipeline-spec.ts";
import { stopProcess } from "./native.ts";
import { EngineError, LogTail, type Engine, type RunOptions } from "./types.ts";

/**
 * Shortest output worth the extra processes: bench/engines.ts measured the pipeline slower than the
 * single command at 1 min (six process start-ups) and faster from 5 min on, 2 participants.
 */
export const PARALLEL_AUDIO_MIN_SECONDS = 120;

export interface ParallelAudioOptions {
  ffmpegPath?: string;
  minSeconds?: number;
  cores?: number;
  /**
   * Shortest time window of the mix given to an encoder of its own (MIN_CHUNK_SECONDS; env
   * RENDERER_CHUNK_MIN_SECONDS); Infinity keeps one encoder, whose MP3 is the single command's.
   */
  chunkMinSeconds?: number;
  /** Windows per encoder (WINDOWS_PER_ENCODER); the benchmark compares. */
  windowsPerEncoder?: number;
  /** One line per render: how it was run, or why it fell back. */
  onInfo?: (line: string) => void;
}

function stopAll(children: ChildProcess[]): void {
  for (const c of children) stopProcess(c);
}

/** Runs the pipeline; rejects with an EngineError naming the stage that failed. */
async function runPipeline(ffmpeg: string, spec: PipelineSpec, plan: RenderPlan, opts: RunOptions & { encoders: number; layout: ChunkLayout }): Promise<number[]> {
  for (const [path, text] of spec.scripts) await writeFile(path, text);
  if (opts.signal.aborted) throw opts.signal.reason;
  const children: ChildProcess[] = [];
  const tails = new Map<ChildProcess, LogTail>();
  const start = (name: string, args: string[], stdio: ("pipe" | "ignore" | Readable | Writable)[]) => {
    const child = spawn(ffmpeg, args, { stdio });
    const tail = new LogTail(20);
    child.stderr?.setEncoding("utf8").on("data", (d: string) => tail.push(d));
    children.push(child);
    tails.set(child, tail);
    return Object.assign(child, { stageName: name });
  };
  // Started downstream first: each process gets the write end of its consumer's pipe, and the
  // data flows process to process (this process never touches the samples).
  const windowed = spec.windows.length > 1;
  const encoder = windowed ? undefined : start("encoder", spec.encoder, ["pipe", "pipe", "pipe"]);
  const mixer = start("mixer", spec.mixer, ["ignore", encoder ? encoder.stdin! : "pipe", "pipe", ...spec.decoders.map(() => "pipe" as const)]);
  const decoders = spec.decoders.map((args, j) => start(`decoder ${j}`, args, ["ignore", mixer.stdio[3 + j] as Writable, "pipe"]));
  const stages = [...(encoder ? [encoder] : []), mixer, ...decoders];
  // Our copies of the pipe ends must go, or a consumer's death would block its producer forever.
  encoder?.stdin!.destroy();
  for (let j = 0; j < spec.decoders.length; j++) (mixer.stdio[3 + j] as Writable).destroy();

  // ffmpeg exits 255 on SIGTERM, like a real failure: what we stopped is remembered, not guessed.
  const stopped = new Set<ChildProcess>();
  const stop = (list: ChildProcess[]) => {
    for (const c of list) stopped.add(c);
    stopAll(list);
  };
  const kill = () => stop(children);
  // Progress: the encoder's position; with windows, the mean of the mix's and the encoders' (the
  // first window's encoder starts only when half the mix is done, and the watchdog needs movement).
  let mixedSeconds = 0;
  let encodedSeconds = 0;
  const positions = (stream: Readable, on: (seconds: number) => void) => {
    let pending = "";
    stream.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^out_time_us=(\d+)/.exec(line);
        if (m) on(Number(m[1]) / 1e6);
      }
    });
  };
  if (encoder) positions(encoder.stdout!, opts.onProgress);
  else {
    positions(mixer.stdout!, (t) => {
      mixedSeconds = Math.max(mixedSeconds, t);
      opts.onProgress((mixedSeconds + encodedSeconds) / 2);
    });
  }
  const windows = windowed
    ? encodeWindows({
        ffmpeg,
        windows: spec.windows,
        layout: opts.layout,
        rate: spec.rate,
        encoders: opts.encoders,
        mixed: new Promise<boolean>((resolve) => mixer.once("close", (code) => resolve(code === 0))),
        output: plan.output,
        signal: opts.signal,
        onProgress: (t) => {
          encodedSeconds = Math.max(encodedSeconds, t);
          opts.onProgress((mixedSeconds + encodedSeconds) / 2);
        },
        onSpawn: (c) => children.push(c),
      }).then(
        (joins) => joins,
        (e: Error) => (kill(), e),
      )
    : undefined;

  opts.signal.addEventListener("abort", kill, { once: true });
  // The mixer stops reading once the output is complete (the graph trims to the span): decoders
  // still writing then die of a broken pipe, which is no failure.
  let mixed = false;
  let closes = 0;
  try {
    const results = await Promise.all(
      stages.map(
        (c) =>
          new Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; error?: Error; late: boolean; log: string; order: number }>((resolve) => {
            const name = c.stageName;
            const log = () => tails.get(c)!.toString();
            c.once("error", (error) => resolve({ name, code: null, signal: null, error, late: false, log: log(), order: closes++ }));
            c.once("close", (code, signal) => {
              const late = (mixed && decoders.includes(c)) || stopped.has(c);
              if (c === mixer && code === 0) {
                mixed = true;
                stop(decoders);
              } else if (code !== 0 && !late) {
                // One stage down means the others can never finish: stop them now.
                kill();
              }
              resolve({ name, code, signal, late, log: log(), order: closes++ });
            });
          }),
      ),
    );
    const joined = await windows;
    if (opts.signal.aborted) throw opts.signal.reason;
    // The first stage to fail on its own is the cause; the others died of our kill (or of the
    // broken pipe it left). Failing encoders of windows stop the stages: then theirs is the cause.
    const failed = results.filter((r) => r.code !== 0 && !r.late).sort((a, b) => a.order - b.order)[0];
    if (joined instanceof Error && !failed) throw joined;
    if (failed) {
      if (process.env.DEBUG_PARALLEL_AUDIO) results.forEach((r) => console.error(r.name, r.code, r.signal, r.log));
      throw new EngineError(`${failed.name} failed (${failed.error?.message ?? failed.code ?? failed.signal}): ${failed.log.split("\n").slice(-3).join(" | ")}`, failed.log, failed.code === null);
    }
    if (joined instanceof Error) throw joined;
    return joined ?? [];
  } finally {
    opts.signal.removeEventListener("abort", kill);
  }
}

/**
 * Wraps the native engine so that long AUDIO plans run as the process pipeline above. Returns the
 * engine itself when the pipeline does not apply (video, wasm, a short output, a single core).
 */
export function withParallelAudio(engine: Engine, o: ParallelAudioOptions = {}): Engine {
  const cores = o.cores ?? availableParallelism();
  const tuned = rendererConfig();
  const minSeconds = o.minSeconds ?? tuned.parallelAudioMinSeconds ?? PARALLEL_AUDIO_MIN_SECONDS;
  const chunkMinSeconds = o.chunkMinSeconds ?? tuned.chunkMinSeconds ?? MIN_CHUNK_SECONDS;
  if (engine.name !== "native" || cores < 2) return engine;
  const ffmpeg = o.ffmpegPath ?? tuned.engines.ffmpegPath ?? "ffmpeg";
  const info = o.onInfo ?? (() => {});
  return {
    name: engine.name,
    async run(plan: RenderPlan, opts: RunOptions): Promise<void> {
      if (plan.kind !== "audio" || plan.durationSeconds < minSeconds) return engine.run(plan, opts);
      const scriptAt = plan.args.indexOf("-filter_complex_script");
      const graph = scriptAt >= 0 ? await readFile(plan.args[scriptAt + 1]!, "utf8") : undefined;
      const chunks = chunkCount(plan.durationSeconds, cores, chunkMinSeconds, o.windowsPerEncoder);
      const layout = chunkLayout(Math.round(plan.durationSeconds * SAMPLE_RATE), chunks);
      const spec = pipelineFor(plan, graph, layout);
      if (typeof spec === "string") {
        info(`parallel audio: ${spec}; single command`);
        return engine.run(plan, opts);
      }
      let reported = 0;
      const encoders = spec.windows.length > 1 ? `${spec.windows.length} windows, ${cores} encoders at a time` : "encoder";
      try {
        const joins = await runPipeline(ffmpeg, spec, plan, {
          signal: opts.signal,
          encoders: cores,
          layout,
          onProgress: (t) => {
            reported = Math.max(reported, t);
            opts.onProgress(t);
          },
        });
        info(`parallel audio: ${spec.decoders.length} decoder(s) → mixer → ${encoders}${joins.length ? ` (joined at samples ${joins.join(", ")})` : ""}`);
      } catch (e) {
        if (opts.signal.aborted) throw opts.signal.reason;
        info(`parallel audio: ${(e as Error).message}; single command`);
        // The single command names the bad track the usual way. Progress continues from where it
        // was (the job's watchdog waits for it to advance).
        const d = plan.durationSeconds;
        return engine.run(plan, { signal: opts.signal, onProgress: (t) => opts.onProgress(reported + (t / d) * (d - reported)) });
      }
    },
  };
}
