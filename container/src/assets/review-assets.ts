// Review assets of a finished render, for players that read standard sidecars: a thumbnail sprite
// with its WebVTT track (VIDEO; cues point into the sprite with `#xywh=` media fragments) and
// audiowaveform peaks (JSON version 2, one channel per output channel; wavesurfer.js and peaks.js
// load it unchanged). The peaks come from the mix's samples the render wrote beside the output, or
// else one ffmpeg pass over the output (its samples streamed into this process); the sprite from thumbnails the render took itself (a
// whole VIDEO render), else from a pass over the output's frames.
import { createReadStream } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { outputAssetUrl, type ConversationMetrics, type RenderJob } from "../../../contract/renderer.ts";
import type { Engine } from "../engines/types.ts";
import { LeaseLostError, put, withRetries } from "../http-io.ts";
import type { SpeakerPass } from "../planner/speakers.ts";
import { spriteFilters, thumbnailGrid, tileFramesArgs, type ThumbnailGrid } from "../planner/thumbnails.ts";
import { SAMPLE_RATE, type RenderSprite } from "../planner/types.ts";
import { makeSpeakerAssets, measureTalk } from "./speaker-assets.ts";
import type { Span } from "./speakers.ts";

export type AssetKind = "waveform" | "thumbnails" | "speakers";
export type ReviewAssetName = "thumbnails.jpg" | "thumbnails.vtt" | "waveform.json" | "timeline.json" | "speakers.vtt";
export interface ReviewAssetFile {
  name: ReviewAssetName;
  file: string;
  contentType: string;
}

/** Enough points for a zoomable waveform of a long call, few enough for a small file. */
export const MAX_PEAK_POINTS = 10_000;
/** audiowaveform's default resolution; shorter outputs get this, longer ones fewer points per second. */
const MIN_SAMPLES_PER_PIXEL = 256;

const vttTime = (s: number) => {
  const ms = Math.round(s * 1000);
  const hh = String(Math.floor(ms / 3_600_000)).padStart(2, "0");
  const mm = String(Math.floor(ms / 60_000) % 60).padStart(2, "0");
  const ss = String(Math.floor(ms / 1000) % 60).padStart(2, "0");
  return `${hh}:${mm}:${ss}.${String(ms % 1000).padStart(3, "0")}`;
};

/** Cue k covers [k·interval, (k+1)·interval) and shows cell k of the sprite, filled row by row. */
export function thumbnailsVtt(g: ThumbnailGrid, durationSec: number): string {
  const cues = Array.from({ length: g.count }, (_, k) => {
    const x = (k % g.columns) * g.width;
    const y = Math.floor(k / g.columns) * g.height;
    const end = Math.min(durationSec, (k + 1) * g.interval);
    return `${vttTime(k * g.interval)} --> ${vttTime(end)}\nthumbnails.jpg#xywh=${x},${y},${g.width},${g.height}`;
  });
  return `WEBVTT\n\n${cues.join("\n\n")}\n`;
}

export function samplesPerPixel(durationSec: number, sampleRate = 48_000): number {
  return Math.max(MIN_SAMPLES_PER_PIXEL, Math.ceil((durationSec * sampleRate) / MAX_PEAK_POINTS));
}

export interface Waveform {
  version: 2;
  channels: number;
  sample_rate: number;
  samples_per_pixel: number;
  bits: 16;
  length: number;
  data: number[];
}

/**
 * audiowaveform's min,max pairs (channels interleaved) of interleaved s16le samples streamed in
 * chunks of any size: a point per `samplesPerPoint` frames, the last one partial.
 */
export class PeakMeter {
  private readonly data: number[] = [];
  private readonly point: Int32Array;
  private inPoint = 0;
  private carry: Buffer | undefined;

  constructor(
    readonly channels: number,
    readonly samplesPerPoint: number,
  ) {
    this.point = new Int32Array(channels * 2);
    this.reset();
  }

  push(chunk: Buffer): void {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    const { point, channels, samplesPerPoint } = this;
    // Whole frames only; a frame cut by the chunk waits for the next one.
    const frames = Math.floor(buf.length / (channels * 2));
    const whole = frames * channels * 2;
    this.carry = whole < buf.length ? Buffer.from(buf.subarray(whole)) : undefined;
    // An Int16Array needs an even offset; a pipe's chunks mostly have one (else one copy).
    const aligned = buf.byteOffset % 2 === 0 ? buf : Buffer.from(buf.subarray(0, whole));
    const samples = new Int16Array(aligned.buffer, aligned.byteOffset, whole / 2);
    let frame = 0;
    while (frame < frames) {
      const n = Math.min(samplesPerPoint - this.inPoint, frames - frame);
      for (let c = 0; c < channels; c++) {
        let lo = point[c * 2]!;
        let hi = point[c * 2 + 1]!;
        for (let i = frame * channels + c, end = (frame + n) * channels; i < end; i += channels) {
          const v = samples[i]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        point[c * 2] = lo;
        point[c * 2 + 1] = hi;
      }
      frame += n;
      this.inPoint += n;
      if (this.inPoint === samplesPerPoint) this.flush();
    }
  }

  result(sampleRate: number): Waveform {
    if (this.inPoint > 0) this.flush();
    const length = this.data.length / (this.channels * 2);
    return {
      version: 2,
      channels: this.channels,
      sample_rate: sampleRate,
      samples_per_pixel: this.samplesPerPoint,
      bits: 16,
      length,
      data: this.data,
    };
  }

  private flush(): void {
    this.data.push(...this.point);
    this.inPoint = 0;
    this.reset();
  }

  private reset(): void {
    for (let c = 0; c < this.channels; c++) [this.point[c * 2], this.point[c * 2 + 1]] = [32767, -32768];
  }
}

export interface ReviewInput {
  output: string;
  type: RenderJob["type"];
  durationSec: number;
  width: number;
  height: number;
  dir: string;
  /** Audio channels of the output (one waveform band each). */
  channels: number;
  /** The speaker pass of the plan (timeline.json, speakers.vtt and the metrics), when it has audio. */
  speakers?: SpeakerPass;
  /**
   * Which assets to make (default all the type has). A split composition shares them out: its AUDIO
   * part makes the waveform and the speaker assets of the mix it holds, its JOIN the thumbnails.
   */
  only?: readonly AssetKind[];
  /** Its talk spans when already measured (a highlighted grid needed them first). */
  talk?: ReadonlyMap<string, Span[]>;
  /** The thumbnails the render took beside the output (its frames before encoding: no second decode). */
  sprite?: RenderSprite;
  /** The mix's samples the render wrote beside the output (s16le, the output's channels): no second decode. */
  mixSamples?: string;
}

const wants = (o: ReviewInput, kind: AssetKind) => !o.only || o.only.includes(kind);

/** Makes the assets in `dir` (sprite and track for VIDEO, peaks for both). */
export async function makeReviewAssets(engine: Engine, o: ReviewInput, signal: AbortSignal): Promise<ReviewAssetFile[]> {
  const runArgs = engine.runArgs;
  const pipeArgs = engine.pipeArgs;
  if (!runArgs || !pipeArgs) throw new Error(`the ${engine.name} engine runs no bare ffmpeg command`);
  const run = (args: string[]) => runArgs(args, { signal, onProgress: () => {} });
  const files: ReviewAssetFile[] = [];
  if (wants(o, "waveform")) files.push(await makeWaveform(pipeArgs, o, signal));
  if (o.type !== "VIDEO" || !wants(o, "thumbnails")) return files;
  files.push(...(await makeThumbnails(run, o)));
  return files;
}

async function makeWaveform(pipeArgs: NonNullable<Engine["pipeArgs"]>, o: ReviewInput, signal: AbortSignal): Promise<ReviewAssetFile> {
  // Samples streamed into this process, min and max taken as they come: a tenth of ffmpeg's astats
  // per window (which measures every statistic of every sample).
  const meter = new PeakMeter(o.channels, samplesPerPixel(o.durationSec));
  const tapped = o.mixSamples && (await stat(o.mixSamples).catch(() => null))?.size ? o.mixSamples : undefined;
  if (tapped) for await (const chunk of createReadStream(tapped, { signal })) meter.push(chunk as Buffer);
  else await pipeArgs(decodeArgs(o), (chunk) => meter.push(chunk), { signal, onProgress: () => {} });
  const waveform = join(o.dir, "waveform.json");
  await writeFile(waveform, JSON.stringify(meter.result(SAMPLE_RATE)));
  return { name: "waveform.json", file: waveform, contentType: "application/json" };
}

/** The output decoded to interleaved s16le on fd 3 (when the render wrote no mix tap: wasm, a join). */
function decodeArgs(o: ReviewInput): string[] {
  const format = ["-c:a", "pcm_s16le", "-ar", String(SAMPLE_RATE), "-ac", String(o.channels), "-f", "s16le"];
  return ["-i", o.output, "-vn", ...format, "pipe:3"];
}

/** Thumbnails this far apart or more are taken from keyframes alone (every 2 s: x264's -g 50 at 25 fps). */
const KEYFRAMES_FROM_INTERVAL = 5;

async function makeThumbnails(run: (args: string[]) => Promise<void>, o: ReviewInput): Promise<ReviewAssetFile[]> {
  const taken = o.sprite && (await stat(o.sprite.frames).catch(() => null))?.size ? o.sprite : undefined;
  const g = taken?.grid ?? thumbnailGrid(o.durationSec, o.width, o.height);
  const sprite = join(o.dir, "thumbnails.jpg");
  if (taken) await run(tileFramesArgs(g, taken.frames, sprite));
  else {
    // Decoding only keyframes: a long call's sprite then costs a fiftieth of decoding every frame,
    // and each thumbnail is still from inside its cue (within 2 s of its start).
    const seek = g.interval >= KEYFRAMES_FROM_INTERVAL ? ["-skip_frame", "nokey"] : [];
    await run([...seek, "-i", o.output, "-an", "-vf", spriteFilters(g).join(","), "-frames:v", "1", "-q:v", "4", sprite]);
  }
  const track = join(o.dir, "thumbnails.vtt");
  await writeFile(track, thumbnailsVtt(g, o.durationSec));
  return [
    { name: "thumbnails.jpg", file: sprite, contentType: "image/jpeg" },
    { name: "thumbnails.vtt", file: track, contentType: "text/vtt; charset=utf-8" },
  ];
}

/** PUT next to the output: `<output url>/assets/<name>`, keyed by the run on the Worker's side. */
async function uploadAsset(job: RenderJob, a: ReviewAssetFile, signal: AbortSignal): Promise<void> {
  const size = (await stat(a.file)).size;
  const url = outputAssetUrl(job.output.url, a.name);
  await withRetries(3, signal, () => put(url, job.callback.token, a.file, 0, size, a.contentType, signal));
}

/**
 * Makes and uploads the review assets of a rendered output. They serve the review page, not the
 * composition: when they cannot be made the job still completes (logged); a cancel or a lost
 * lease still ends it.
 */
export async function publishReviewAssets(
  job: RenderJob,
  engine: Engine | undefined,
  o: ReviewInput,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<ConversationMetrics | undefined> {
  if (!engine) {
    log("review assets skipped: they need the native ffmpeg");
    return undefined;
  }
  // Each kind on its own: the timeline failing leaves the waveform, and the other way round.
  const attempt = async <T>(what: string, make: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await make();
    } catch (e) {
      if (signal.aborted || e instanceof LeaseLostError) throw e;
      log(`${what} not made: ${(e as Error).message}`);
      return undefined;
    }
  };
  if (wants(o, "waveform") || wants(o, "thumbnails")) {
    await attempt("review assets", async () => {
      for (const a of await makeReviewAssets(engine, o, signal)) await uploadAsset(job, a, signal);
    });
  }
  const pass = o.speakers;
  if (!pass || !wants(o, "speakers")) return undefined;
  return attempt("speaker timeline", async () => {
    const talk = o.talk ?? (await measureTalk(engine, pass, signal));
    const { files, metrics } = await makeSpeakerAssets(job, pass, talk, o.dir);
    for (const a of files) await uploadAsset(job, a, signal);
    return metrics;
  });
}
