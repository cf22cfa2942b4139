// The native AUDIO path for long recordings: the output timeline is split into one window per core,
// each window is mixed and MP3-encoded by its own ffmpeg at the same time, and the parts are joined
// into one stream without a seam (mp3-splice.ts).
//
// Why this split (measured, bench/audio-profile.ts): for 4 × 30 min of Opus the single command
// spends ~60% of its CPU in the MP3 encoder, which is single-threaded, ~30% decoding Opus and
// ~10% mixing. Decoding or mixing in parallel and encoding once leaves the encoder as a serial
// floor, so only encoding in parallel can approach ×2 on 2 cores.
//
// Each window is rendered with the exact graph of the single command (the planner's audioGraph),
// its inputs seeked to the window and its offsets shifted. A window other than the first starts
// PRE_ROLL earlier than its share, and every window but the last runs POST_ROLL past its share:
// the joins are chosen inside that overlap, where the limiter, the resampler and the decoders have
// settled, so the samples on both sides of a join are the same mix. Windows start on multiples of
// 1152 samples (24 ms at 48 kHz), so all parts share one MP3 frame grid.
//
// Anything unexpected (an encoder other than LAME, a failed window, no seamless cut found) falls
// back to the single command, which also gives the usual error message if the input is bad.
import { availableParallelism } from "node:os";
import { readFile, rm, writeFile } from "node:fs/promises";
import type { RenderJob } from "../contract.ts";
import { audioGraph, type AudioSource } from "../planner/audio-graph.ts";
import { resolveTracks } from "../planner/index.ts";
import { formatMs } from "../planner/timeline.ts";
import { SAMPLE_RATE, type ProbeFacts, type RenderPlan } from "../planner/types.ts";
import { SAMPLES_PER_FRAME, SpliceError, spliceMp3 } from "./mp3-splice.ts";
import type { Engine, RunOptions } from "./types.ts";

/** Chunking pays from a couple of minutes up; below, the extra processes cost more than they save. */
export const CHUNK_MIN_SECONDS = 120;
/** Frames of overlap on each side of a join (84 × 24 ms ≈ 2 s). */
const PRE_ROLL_FRAMES = 84;
const POST_ROLL_FRAMES = 84;
const FRAME_MS = (SAMPLES_PER_FRAME * 1000) / SAMPLE_RATE; // 24
const MAX_INLINE_GRAPH = 64 * 1024;

export interface ChunkingOptions {
  /** Number of parallel windows (default: RENDERER_AUDIO_CHUNKS, else the number of cores). */
  chunks?: number;
  /** Shortest recording that is split (default: RENDERER_CHUNK_MIN_SECONDS, else CHUNK_MIN_SECONDS). */
  minSeconds?: number;
  /** Called once per render with what was done (chunks, cuts, or why it fell back). */
  onInfo?: (line: string) => void;
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  const n = Number(v);
  return v !== undefined && v !== "" && Number.isFinite(n) ? n : undefined;
}

/** A window of the output: [startMs, endMs) on the timeline, and its own share [shareStart, shareEnd). */
export interface AudioWindow {
  startMs: number;
  endMs: number;
  /** The frame from which this window's part may replace the previous one's. */
  cutFrame: number;
}

/** Windows for `n` parts of a `spanMs` timeline (all bounds on the 24 ms frame grid but the end). */
export function audioWindows(spanMs: number, n: number): AudioWindow[] {
  const totalFrames = Math.floor(spanMs / FRAME_MS);
  const bounds = Array.from({ length: n + 1 }, (_, k) => (k === n ? Infinity : Math.round((k * totalFrames) / n)));
  return Array.from({ length: n }, (_, k) => {
    const share = bounds[k]!;
    const next = bounds[k + 1]!;
    const startFrame = k === 0 ? 0 : Math.max(0, share - PRE_ROLL_FRAMES);
    const endMs = next === Infinity ? spanMs : Math.min(spanMs, (next + POST_ROLL_FRAMES) * FRAME_MS);
    return { startMs: startFrame * FRAME_MS, endMs, cutFrame: share };
  });
}

/** The encoder arguments of an MP3 plan (between `-map [aout]` and `-t`), or null if it is not one. */
function encoderArgs(plan: RenderPlan): string[] | null {
  const map = plan.args.findIndex((a, i) => a === "-map" && plan.args[i + 1] === "[aout]");
  const t = plan.args.lastIndexOf("-t");
  if (map < 0 || t < map) return null;
  const enc = plan.args.slice(map + 2, t);
  const tail = plan.args.slice(t + 2);
  const lame = enc.some((a, i) => a === "libmp3lame" && enc[i - 1] === "-c:a");
  if (!lame || tail[0] !== "-f" || tail[1] !== "mp3" || enc.includes("-map")) return null;
  return enc;
}

interface Part {
  window: AudioWindow;
  plan: RenderPlan;
  scratch: string[];
}

async function planParts(job: RenderJob, facts: Readonly<Record<string, ProbeFacts>>, inputs: Readonly<Record<string, string>>, plan: RenderPlan, enc: string[], n: number): Promise<Part[]> {
  const spanMs = Math.round(job.durationMs);
  const spanSec = spanMs / 1000;
  const tracks = resolveTracks(job, facts, { inputs, output: plan.output }, []).filter(
    (t) => t.audio && t.offsetSec < spanSec && t.durationSec > 0,
  );
  return Promise.all(
    audioWindows(spanMs, n).map(async (w, k) => {
      const args: string[] = [];
      const sources: AudioSource[] = [];
      const used: string[] = [];
      for (const t of tracks) {
        const offsetMs = Math.round(t.offsetSec * 1000);
        // A probed length is approximate to a packet; keep a track that might still reach the window.
        if (offsetMs >= w.endMs || (t.offsetSec + t.durationSec) * 1000 < w.startMs - 1000) continue;
        const seekMs = Math.max(0, w.startMs - offsetMs);
        args.push("-reinit_filter", "0");
        if (seekMs > 0) args.push("-ss", formatMs(seekMs));
        args.push("-i", t.path);
        sources.push({ input: used.length, offsetMs: Math.max(0, offsetMs - w.startMs) });
        used.push(t.path);
      }
      const output = `${plan.output}.part${k}.mp3`;
      const scratch = [output];
      const graph = audioGraph(sources, w.endMs - w.startMs).join(";");
      if (graph.length > MAX_INLINE_GRAPH) {
        const script = `${plan.output}.part${k}.graph.txt`;
        await writeFile(script, graph);
        scratch.push(script);
        args.push("-filter_complex_script", script);
      } else {
        args.push("-filter_complex", graph);
      }
      args.push("-map", "[aout]", ...enc, "-t", formatMs(w.endMs - w.startMs), "-f", "mp3", output);
      const part: RenderPlan = {
        ...plan,
        args,
        inputs: used,
        inputTracks: [],
        output,
        durationSeconds: (w.endMs - w.startMs) / 1000,
      };
      return { window: w, plan: part, scratch };
    }),
  );
}

/**
 * Wraps the native engine so that long AUDIO jobs are rendered in parallel windows. Returns the
 * engine itself when chunking does not apply (video, wasm, short recording, a single core).
 */
export function withAudioChunking(
  engine: Engine,
  job: RenderJob,
  facts: Readonly<Record<string, ProbeFacts>>,
  inputs: Readonly<Record<string, string>>,
  o: ChunkingOptions = {},
): Engine {
  const minSeconds = o.minSeconds ?? envNumber("RENDERER_CHUNK_MIN_SECONDS") ?? CHUNK_MIN_SECONDS;
  const wanted = Math.floor(o.chunks ?? envNumber("RENDERER_AUDIO_CHUNKS") ?? availableParallelism());
  // Every part must be long enough for its overlaps to be a small fraction of it.
  const n = Math.min(wanted, Math.floor(job.durationMs / 1000 / 30));
  if (engine.name !== "native" || job.format !== "MP3" || job.durationMs / 1000 < minSeconds || n < 2) return engine;
  const info = o.onInfo ?? (() => {});

  return {
    name: engine.name,
    async run(plan: RenderPlan, opts: RunOptions): Promise<void> {
      const enc = encoderArgs(plan);
      if (!enc) {
        info("chunked audio: not an MP3 plan, single command");
        return engine.run(plan, opts);
      }
      const parts = await planParts(job, facts, inputs, plan, enc, n);
      const inner = new AbortController();
      const forward = () => inner.abort(opts.signal.reason);
      if (opts.signal.aborted) forward();
      else opts.signal.addEventListener("abort", forward, { once: true });
      const done = parts.map(() => 0);
      const total = parts.reduce((s, p) => s + p.plan.durationSeconds, 0);
      let failure: unknown;
      try {
        await Promise.all(
          parts.map((p, k) =>
            engine
              .run(p.plan, {
                signal: inner.signal,
                onProgress: (t) => {
                  done[k] = Math.min(t, p.plan.durationSeconds);
                  opts.onProgress((done.reduce((a, b) => a + b, 0) / total) * plan.durationSeconds);
                },
              })
              .catch((e: unknown) => {
                // One window failed: stop the others, the single command will tell why.
                failure ??= e;
                if (!inner.signal.aborted) inner.abort(e);
              }),
          ),
        );
        if (opts.signal.aborted) throw opts.signal.reason;
        if (failure === undefined) {
          const bytes = await Promise.all(parts.map((p) => readFile(p.plan.output)));
          try {
            const joined = spliceMp3(
              parts.map((p, k) => ({ bytes: new Uint8Array(bytes[k]!.buffer, bytes[k]!.byteOffset, bytes[k]!.byteLength), startFrame: p.window.startMs / FRAME_MS })),
              parts.slice(1).map((p) => p.window.cutFrame),
            );
            await writeFile(plan.output, joined.bytes);
            info(`chunked audio: ${parts.length} parts, joined at frames ${joined.cuts.join(", ")}`);
            return;
          } catch (e) {
            if (!(e instanceof SpliceError)) throw e;
            failure = e;
          }
        }
      } finally {
        opts.signal.removeEventListener("abort", forward);
        await Promise.all(parts.flatMap((p) => p.scratch.map((f) => rm(f, { force: true }))));
      }
      info(`chunked audio: ${(failure as Error)?.message ?? failure}; single command`);
      // Progress already reported must not go backwards (the job's watchdog waits for it to advance).
      const from = (done.reduce((a, b) => a + b, 0) / total) * plan.durationSeconds;
      return engine.run(plan, {
        signal: opts.signal,
        onProgress: (t) => opts.onProgress(from + (t / plan.durationSeconds) * (plan.durationSeconds - from)),
      });
    },
  };
}
