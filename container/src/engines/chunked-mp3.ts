// The MP3 encoder of a long AUDIO render, split in time. libmp3lame has no threads, so one encoder
// is a serial stage as long as the whole mix; here the mix is cut into windows on LAME's
// 1152-sample frame grid, each window is encoded by its own ffmpeg (one per core at a time) and the
// parts are joined frame-exactly by mp3-splice.ts.
//
// Unlike cutting the inputs (each part seeking into every track, which shifts the parts against
// each other: bench/audio-profile.ts), every window holds exactly the one mixer's samples, so the
// parts share one timeline to the sample. Windows overlap by ROLL_FRAMES on each side: an encoder
// takes over only once warmed up, at a frame where the two encoders' block types and bit
// reservoirs agree; measured against the single command, the joins decode to the same samples.
//
// The mixer writes each window to a file of its own (parallel-audio.ts) and never waits for an
// encoder: an encoder starts on a window once its file is whole, and the file goes once encoded.
// (Feeding encoders through this process instead cost more CPU in pipe copies than it gained.)
import { readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { exitError, spawnFfmpeg, type FfmpegProcess } from "./ffmpeg-runner.ts";
import { SAMPLES_PER_FRAME, spliceMp3 } from "./mp3-splice.ts";
import { EngineError } from "./types.ts";

/** Frames of overlap on each side of a join (≈ 1.2 s): room for the splicer to find its cut. */
export const ROLL_FRAMES = 48;
const LAME_DELAY_SAMPLES = 1105;
/** Shortest window worth an encoder's start-up and its overlap. */
export const MIN_CHUNK_SECONDS = 60;
/**
 * Windows per encoder. One: on 2 cores, bench/audio-profile.ts measured more windows as slower
 * (each ffmpeg start-up costs ~0.15 s of CPU, and more processes contend for the same two cores).
 */
export const WINDOWS_PER_ENCODER = 1;
const POLL_MS = 50;

export interface Window {
  /** First and one-past-last sample of the mix this part encodes (end: Infinity = to the end). */
  start: number;
  end: number;
}

export interface ChunkLayout {
  windows: Window[];
  /** Per join, the first frame of the timeline at which the next part may take over. */
  cutsFrom: number[];
}

/** How many windows a mix of `seconds` is cut into with `encoders` running at once (1 = no cut). */
export function chunkCount(
  seconds: number,
  encoders: number,
  minChunkSeconds = MIN_CHUNK_SECONDS,
  perEncoder = WINDOWS_PER_ENCODER,
): number {
  if (encoders < 2) return 1;
  return Math.max(1, Math.min(encoders * perEncoder, Math.floor(seconds / minChunkSeconds)));
}

/** Windows on the frame grid: chunk k nominally covers [b_k, b_k+1), widened by the roll. */
export function chunkLayout(totalSamples: number, chunks: number, rollFrames = ROLL_FRAMES): ChunkLayout {
  const frames = Math.floor(totalSamples / SAMPLES_PER_FRAME);
  if (chunks < 2 || frames < chunks * (2 * rollFrames + 8)) return { windows: [{ start: 0, end: Infinity }], cutsFrom: [] };
  const bounds = Array.from({ length: chunks - 1 }, (_, k) => Math.round(((k + 1) * frames) / chunks));
  const windows = Array.from({ length: chunks }, (_, k) => ({
    start: k === 0 ? 0 : (bounds[k - 1]! - rollFrames) * SAMPLES_PER_FRAME,
    end: k === chunks - 1 ? Infinity : (bounds[k]! + rollFrames) * SAMPLES_PER_FRAME,
  }));
  return { windows, cutsFrom: bounds };
}

export interface WindowFiles {
  /** The mixer's output for this window (raw float samples). */
  raw: string;
  /** Its expected size; undefined for the last window (whole once the mixer is done). */
  bytes?: number;
  /** The MP3 part its encoder writes. */
  part: string;
  /** The encoder's ffmpeg arguments (the window file in, the part out). */
  encoder: string[];
}

export interface EncodeWindowsOptions {
  ffmpeg: string;
  windows: WindowFiles[];
  layout: ChunkLayout;
  rate: number;
  /** Encoders running at once. */
  encoders: number;
  /** Settles when the mixer has exited (true: all its files are complete). */
  mixed: Promise<boolean>;
  output: string;
  signal: AbortSignal;
  /** Seconds of the output encoded so far (summed over parts, overlaps counted once). */
  onProgress(seconds: number): void;
  /** Every encoder process, as it starts (for the caller's stop-all). */
  onSpawn(encoder: FfmpegProcess): void;
  /** Seconds of window `index` its encoder has written; Infinity when it has ended (the ETA's). */
  onWindow?(index: number, seconds: number): void;
}

interface Part extends WindowFiles {
  index: number;
  process?: FfmpegProcess;
  done?: Promise<void>;
  finished?: boolean;
  encodedSeconds: number;
}

type MixerState = { now: "running" | "done" | "failed" };

/**
 * Encodes the mixer's window files as they become whole and writes the joined MP3 to `output`.
 * Resolves with the joins: the samples of the decoded output at which one part gives way to the next.
 */
export async function encodeWindows(o: EncodeWindowsOptions): Promise<number[]> {
  const parts: Part[] = o.windows.map((w, index) => ({ ...w, index, encodedSeconds: 0 }));
  const mixer: MixerState = { now: "running" };
  o.mixed.then(
    (ok) => (mixer.now = ok ? "done" : "failed"),
    () => (mixer.now = "failed"),
  );
  const progress = () => o.onProgress(encodedSeconds(parts, o.layout, o.rate));
  try {
    await encodeAsWindowsFill(parts, mixer, o, (p) => startEncoder(p, o, progress));
    await Promise.all(parts.map((p) => p.done));
    return await joinParts(parts, o);
  } catch (e) {
    for (const p of parts) p.process?.stop();
    throw e;
  } finally {
    await Promise.all(parts.map((p) => p.done?.catch(() => {})));
    await Promise.all(parts.flatMap((p) => [rm(p.raw, { force: true }), rm(p.part, { force: true })]));
  }
}

/** Starts each part's encoder once its window file is whole, `o.encoders` at a time; returns when all have ended. */
async function encodeAsWindowsFill(parts: Part[], mixer: MixerState, o: EncodeWindowsOptions, start: (p: Part) => void): Promise<void> {
  for (;;) {
    if (o.signal.aborted) throw o.signal.reason;
    // The caller reports the mixer's own error.
    if (mixer.now === "failed") throw new EngineError("mixer failed", "");
    const live = parts.filter((p) => p.done && !p.finished);
    const next = parts.find((p) => !p.done);
    if (!next && !live.length) return;
    if (next && live.length < o.encoders && (await isWhole(next, mixer))) {
      start(next);
      continue;
    }
    // Wake on an encoder's end (a failure rejects here), the mixer's end, or the next poll; only
    // unsettled promises, or this loop would spin without letting their events in.
    await Promise.race([
      ...live.map((p) => p.done),
      ...(mixer.now === "running" ? [o.mixed] : []),
      new Promise((r) => setTimeout(r, POLL_MS)),
    ]);
  }
}

async function isWhole(p: Part, mixer: MixerState): Promise<boolean> {
  if (mixer.now === "done") return true;
  if (p.bytes === undefined) return false;
  return (await stat(p.raw).catch(() => undefined))?.size === p.bytes;
}

function startEncoder(p: Part, o: EncodeWindowsOptions, progress: () => void): void {
  const encoder = spawnFfmpeg(o.ffmpeg, p.encoder, {
    signal: o.signal,
    onProgress: (seconds) => {
      p.encodedSeconds = seconds;
      o.onWindow?.(p.index, seconds);
      progress();
    },
  });
  p.process = encoder;
  o.onSpawn(encoder);
  p.done = encoder.exit.then((exit) => {
    p.finished = true;
    o.onWindow?.(p.index, Infinity);
    // The window's samples are in its part now. The mixer holds the file open until it exits,
    // so removing it alone would free no disk: emptied first (the mixer is done writing it).
    void truncate(p.raw, 0)
      .catch(() => {})
      .then(() => rm(p.raw, { force: true }));
    const failure = exitError(`encoder ${p.index}`, exit);
    if (failure) throw failure;
  });
  // Seen by the loop or the final wait; never an unhandled rejection in between.
  p.done.catch(() => {});
}

/** Seconds of the output encoded: each part counts only the span of the timeline it keeps after the joins. */
function encodedSeconds(parts: readonly Part[], layout: ChunkLayout, rate: number): number {
  return parts.reduce((sum, p) => {
    const from = p.index === 0 ? 0 : layout.cutsFrom[p.index - 1]! * SAMPLES_PER_FRAME;
    const to = p.index < layout.cutsFrom.length ? layout.cutsFrom[p.index]! * SAMPLES_PER_FRAME : Infinity;
    const at = layout.windows[p.index]!.start + p.encodedSeconds * rate;
    return sum + Math.max(0, Math.min(at, to) - from) / rate;
  }, 0);
}

async function joinParts(parts: readonly Part[], o: EncodeWindowsOptions): Promise<number[]> {
  const bytes = await Promise.all(parts.map((p) => readFile(p.part)));
  if (parts.length === 1) {
    await writeFile(o.output, bytes[0]!);
    return [];
  }
  const joined = spliceMp3(
    bytes.map((b, k) => ({
      bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
      startFrame: o.layout.windows[k]!.start / SAMPLES_PER_FRAME,
    })),
    o.layout.cutsFrom,
  );
  await writeFile(o.output, joined.bytes);
  // Frame c holds the encoder's input from sample c·1152, less LAME's delay (576 + 529 decoder).
  return joined.cuts.map((c) => c * SAMPLES_PER_FRAME - LAME_DELAY_SAMPLES);
}
