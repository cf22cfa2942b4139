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
// The plan's own render graph is split, not rebuilt: each input's source chain runs in that
// input's decoder, the mix chains in the mixer (pipeline-spec.ts), so whatever the planner composes
// (trims, selections) is rendered as it wrote it. Anything that does not fit that shape, or any
// failure, falls back to the single command (which also produces the usual error for bad media).
import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import type { Writable } from "node:stream";
import { SAMPLE_RATE, type RenderPlan } from "../planner/types.ts";
import { rendererConfig } from "../config.ts";
import { chunkCount, chunkLayout, encodeWindows, MIN_CHUNK_SECONDS, type ChunkLayout } from "./chunked-mp3.ts";
import { pipelineFor, type PipelineSpec } from "./pipeline-spec.ts";
import { exitError, spawnFfmpeg, type Exit, type FfmpegProcess, type SpawnOptions } from "./ffmpeg-runner.ts";
import type { Engine, RunOptions } from "./types.ts";
import { WindowedEta } from "./windowed-eta.ts";

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

type PipelineRun = RunOptions & { encoders: number; layout: ChunkLayout };

/** The windows' joins (samples of the decoded output), and the speeds the ETA read, for the log. */
interface PipelineDone {
  joins: number[];
  speeds?: string;
}

/** The ETA's clock, in seconds. */
const clock = () => performance.now() / 1000;

interface Stage {
  name: string;
  process: FfmpegProcess;
}

interface Stages {
  encoder?: Stage;
  mixer: Stage;
  decoders: Stage[];
  /** Every process of the run, the windows' encoders included as they start. */
  all: FfmpegProcess[];
}

interface StageEnd {
  stage: Stage;
  exit: Exit;
  /** Ended by our stop or after the mix was complete: not a cause. */
  late: boolean;
  order: number;
}

/** Runs the pipeline; rejects with an EngineError naming the stage that failed. */
async function runPipeline(ffmpeg: string, spec: PipelineSpec, plan: RenderPlan, opts: PipelineRun): Promise<PipelineDone> {
  for (const [path, text] of spec.scripts) await writeFile(path, text);
  if (opts.signal.aborted) throw opts.signal.reason;
  // Progress: the encoder's position; with windows, the mean of the mix's and the encoders' (the
  // first window's encoder starts only when half the mix is done, and the watchdog needs movement),
  // and the time left from the pipeline's shape (windowed-eta.ts), which that mean cannot tell.
  let mixedSeconds = 0;
  let encodedSeconds = 0;
  const eta = spec.windows.length > 1 ? windowedEta(plan, opts) : undefined;
  const both = () => opts.onProgress((mixedSeconds + encodedSeconds) / 2, eta?.remaining(clock()));
  const stages = startStages(ffmpeg, spec, opts.signal, {
    encoded: opts.onProgress,
    mixed: (t) => {
      mixedSeconds = Math.max(mixedSeconds, t);
      eta?.mixed(t, clock());
      both();
    },
  });
  void stages.mixer.process.exit.then(() => eta?.mixDone(clock()));
  const stopAll = () => stages.all.forEach((p) => p.stop());
  const windows =
    spec.windows.length > 1
      ? encodeWindows({
          ffmpeg,
          windows: spec.windows,
          layout: opts.layout,
          rate: spec.rate,
          encoders: opts.encoders,
          mixed: stages.mixer.process.exit.then((e) => e.code === 0),
          output: plan.output,
          signal: opts.signal,
          onProgress: (t) => {
            encodedSeconds = Math.max(encodedSeconds, t);
            both();
          },
          onSpawn: (p) => stages.all.push(p),
          onWindow: (k, t) => eta?.encoded(k, t, clock()),
        }).then(
          (joins) => joins,
          (e: Error) => (stopAll(), e),
        )
      : undefined;
  const ends = await awaitStages(stages, stopAll);
  const joined = await windows;
  if (opts.signal.aborted) throw opts.signal.reason;
  return { joins: outcome(ends, joined), speeds: eta?.speeds() };
}

/**
 * libmp3lame's speed on one core (seconds of output per second) before an encoder has been seen:
 * measured on this machine's cores under a test run's load, mono 130×, stereo 80×.
 */
const LAME_REALTIME = { mono: 130, stereo: 80 };

function windowedEta(plan: RenderPlan, opts: PipelineRun): WindowedEta {
  const spans = opts.layout.windows.map((w) => ({
    from: w.start / SAMPLE_RATE,
    to: Number.isFinite(w.end) ? w.end / SAMPLE_RATE : plan.durationSeconds,
  }));
  const lame = LAME_REALTIME[(plan.graph.output.audio?.channels ?? 2) > 1 ? "stereo" : "mono"];
  const toMix = (lameToMix(plan.graph.audio.sources.length) * lame) / LAME_REALTIME.mono;
  return new WindowedEta(spans, opts.encoders, lame, toMix);
}

/**
 * One mono encoder's speed against the mix's alone, by the tracks mixed: the mix costs a fixed
 * part and a decode per track, so LAME's share grows with them. The last encoder (alone) over the
 * mix alone was 0.53–0.81 (median 0.62) with 2 tracks and 0.9–1.34 (about 1.0) with 4 on
 * 2026-12-08 (the `speeds` lines of bench/vs-user.ts and bench/render-eta.ts). Stereo LAME is
 * slower by the priors' ratio; the mix less so, not measured.
 */
const lameToMix = (tracks: number) => 0.24 + 0.19 * Math.max(1, tracks);

/**
 * Starts the stages downstream first: each process gets the write end of its consumer's pipe, and
 * the data flows process to process (this process never touches the samples).
 */
function startStages(
  ffmpeg: string,
  spec: PipelineSpec,
  signal: AbortSignal,
  progress: { encoded(t: number): void; mixed(t: number): void },
): Stages {
  const all: FfmpegProcess[] = [];
  const start = (name: string, args: string[], o: SpawnOptions): Stage => {
    const run = spawnFfmpeg(ffmpeg, args, { ...o, signal });
    all.push(run);
    return { name, process: run };
  };
  const windowed = spec.windows.length > 1;
  const encoder = windowed ? undefined : start("encoder", spec.encoder, { stdin: "pipe", onProgress: progress.encoded });
  const mixer = start("mixer", spec.mixer, {
    stdout: encoder ? encoder.process.child.stdin! : "pipe",
    extraPipes: spec.decoders.length,
    // Its -progress is the job's heartbeat until the first window is whole (half the mix, or more).
    ...(windowed ? { onProgress: progress.mixed } : {}),
  });
  const mixerInput = (j: number) => mixer.process.child.stdio[3 + j] as Writable;
  const decoders = spec.decoders.map((args, j) => start(`decoder ${j}`, args, { stdout: mixerInput(j) }));
  // Our copies of the pipe ends must go, or a consumer's death would block its producer forever.
  encoder?.process.child.stdin!.destroy();
  spec.decoders.forEach((_, j) => mixerInput(j).destroy());
  return { encoder, mixer, decoders, all };
}

/**
 * Waits for every stage. One stage down on its own means the others can never finish: they are
 * stopped. The mixer stops reading once the output is complete (the graph trims to the span):
 * decoders still writing then die of a broken pipe, which is no failure, and are stopped.
 */
async function awaitStages(stages: Stages, stopAll: () => void): Promise<StageEnd[]> {
  let mixed = false;
  let closes = 0;
  const list = [...(stages.encoder ? [stages.encoder] : []), stages.mixer, ...stages.decoders];
  return Promise.all(
    list.map(async (stage) => {
      const exit = await stage.process.exit;
      const late = exit.stopped || (mixed && stages.decoders.includes(stage));
      if (stage === stages.mixer && exit.code === 0) {
        mixed = true;
        for (const d of stages.decoders) d.process.stop();
      } else if (exit.code !== 0 && !late) stopAll();
      return { stage, exit, late, order: closes++ };
    }),
  );
}

/**
 * The first stage to fail on its own is the cause; the others died of our stop (or of the broken
 * pipe it left). Failing encoders of windows stop the stages: then theirs is the cause.
 */
function outcome(ends: readonly StageEnd[], joined: number[] | Error | undefined): number[] {
  const failed = ends.filter((r) => r.exit.code !== 0 && !r.late).sort((a, b) => a.order - b.order)[0];
  if (failed) {
    if (process.env.DEBUG_PARALLEL_AUDIO) ends.forEach((r) => console.error(r.stage.name, r.exit.code, r.exit.signal, r.exit.log));
    throw exitError(failed.stage.name, failed.exit)!;
  }
  if (joined instanceof Error) throw joined;
  return joined ?? [];
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
      const chunks = chunkCount(plan.durationSeconds, cores, chunkMinSeconds, o.windowsPerEncoder);
      const layout = chunkLayout(Math.round(plan.durationSeconds * SAMPLE_RATE), chunks);
      const spec = pipelineFor(plan, layout);
      if (typeof spec === "string") {
        info(`parallel audio: ${spec}; single command`);
        return engine.run(plan, opts);
      }
      let reported = 0;
      const encoders = spec.windows.length > 1 ? `${spec.windows.length} windows, ${cores} encoders at a time` : "encoder";
      try {
        const { joins, speeds } = await runPipeline(ffmpeg, spec, plan, {
          signal: opts.signal,
          encoders: cores,
          layout,
          onProgress: (t, remaining) => {
            reported = Math.max(reported, t);
            opts.onProgress(t, remaining);
          },
        });
        info(
          `parallel audio: ${spec.decoders.length} decoder(s) → mixer → ${encoders}${joins.length ? ` (joined at samples ${joins.join(", ")})` : ""}`,
        );
        if (speeds) info(`parallel audio: speeds ${speeds}`);
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
