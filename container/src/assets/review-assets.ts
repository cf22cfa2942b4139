// Review assets of a finished render, for players that read standard sidecars: a thumbnail sprite
// with its WebVTT track (VIDEO; cues point into the sprite with `#xywh=` media fragments) and
// audiowaveform peaks (JSON version 2, one channel per output channel; wavesurfer.js and peaks.js
// load it unchanged). Both come from one ffmpeg pass each over the output, run by the native engine.
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { outputAssetUrl, type ConversationMetrics, type RenderJob } from "../../../contract/renderer.ts";
import type { Engine } from "../engines/types.ts";
import { LeaseLostError, put, withRetries } from "../http-io.ts";
import type { SpeakerPass } from "../planner/speakers.ts";
import { makeSpeakerAssets, measureTalk } from "./speaker-assets.ts";
import type { Span } from "./speakers.ts";

export type ReviewAssetName = "thumbnails.jpg" | "thumbnails.vtt" | "waveform.json" | "timeline.json" | "speakers.vtt";
export interface ReviewAssetFile {
  name: ReviewAssetName;
  file: string;
  contentType: string;
}

export const MAX_THUMBNAILS = 200;
export const THUMBNAIL_WIDTH = 160;
const SPRITE_COLUMNS = 10;
/** Seconds between thumbnails: the first step that keeps a call within MAX_THUMBNAILS. */
const INTERVALS = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600];
/** Enough points for a zoomable waveform of a long call, few enough for a small file. */
export const MAX_PEAK_POINTS = 10_000;
/** audiowaveform's default resolution; shorter outputs get this, longer ones fewer points per second. */
const MIN_SAMPLES_PER_PIXEL = 256;

export interface ThumbnailGrid {
  interval: number;
  count: number;
  columns: number;
  rows: number;
  width: number;
  height: number;
}

export function thumbnailGrid(durationSec: number, frameWidth: number, frameHeight: number): ThumbnailGrid {
  const interval = INTERVALS.find((s) => Math.ceil(durationSec / s) <= MAX_THUMBNAILS) ?? Math.ceil(durationSec / MAX_THUMBNAILS);
  const count = Math.max(1, Math.ceil(durationSec / interval - 1e-9));
  const columns = Math.min(count, SPRITE_COLUMNS);
  // Even height: the JPEG encoder's chroma subsampling wants it.
  const height = Math.max(2, Math.round((THUMBNAIL_WIDTH * frameHeight) / frameWidth / 2) * 2);
  return { interval, count, columns, rows: Math.ceil(count / columns), width: THUMBNAIL_WIDTH, height };
}

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

const toInt16 = (v: number) => Math.max(-32768, Math.min(32767, Math.round(v * 32768)));

/**
 * audiowaveform JSON from ffmpeg's per-window `astats` (window = samples_per_pixel samples, levels
 * of float samples in −1..1): `data` holds min,max per point, channels interleaved.
 */
export function waveformFromStats(text: string, samplesPerPoint: number): Waveform {
  const points: number[][] = [];
  let rate = 0;
  for (const line of text.split("\n")) {
    const frame = /^frame:\d+\s+pts:(\d+)\s+pts_time:([\d.]+)/.exec(line);
    if (frame) {
      points.push([]);
      if (Number(frame[2]) > 0) rate = Math.round(Number(frame[1]) / Number(frame[2]));
      continue;
    }
    const level = /^lavfi\.astats\.(\d+)\.(Min|Max)_level=(-?[\d.]+(?:e[-+]?\d+)?)/.exec(line);
    const point = points.at(-1);
    if (level && point) point[(Number(level[1]) - 1) * 2 + (level[2] === "Min" ? 0 : 1)] = toInt16(Number(level[3]));
  }
  const channels = Math.max(1, ...points.map((p) => p.length / 2));
  // One window of audio has no second timestamp to measure the rate from: the renderer's is 48 kHz.
  return {
    version: 2,
    channels,
    sample_rate: rate || 48_000,
    samples_per_pixel: samplesPerPoint,
    bits: 16,
    length: points.length,
    data: points.flatMap((p) => Array.from({ length: channels * 2 }, (_, i) => p[i] ?? 0)),
  };
}

/** Filter options take a path unquoted; job directories are made of these characters only. */
function filterPath(path: string): string {
  if (!/^[\w./-]+$/.test(path)) throw new Error(`unexpected characters in a scratch path: ${JSON.stringify(path)}`);
  return path;
}

export interface ReviewInput {
  output: string;
  type: RenderJob["type"];
  durationSec: number;
  width: number;
  height: number;
  dir: string;
  /** The speaker pass of the plan (timeline.json, speakers.vtt and the metrics), when it has audio. */
  speakers?: SpeakerPass;
  /** Its talk spans when already measured (a highlighted grid needed them first). */
  talk?: ReadonlyMap<string, Span[]>;
}

/** Makes the assets in `dir` (sprite and track for VIDEO, peaks for both). */
export async function makeReviewAssets(engine: Engine, o: ReviewInput, signal: AbortSignal): Promise<ReviewAssetFile[]> {
  const runArgs = engine.runArgs;
  if (!runArgs) throw new Error(`the ${engine.name} engine runs no bare ffmpeg command`);
  const run = (args: string[]) => runArgs(args, { signal, onProgress: () => {} });
  const files: ReviewAssetFile[] = [];
  const stats = join(o.dir, "waveform-stats.txt");
  const spp = samplesPerPixel(o.durationSec);
  const levels = `aformat=sample_fmts=flt,asetnsamples=n=${spp}:p=0,astats=metadata=1:reset=1:measure_perchannel=Min_level+Max_level:measure_overall=none`;
  await run(["-i", o.output, "-vn", "-af", `${levels},ametadata=mode=print:file=${filterPath(stats)}`, "-f", "null", "-"]);
  const waveform = join(o.dir, "waveform.json");
  await writeFile(waveform, JSON.stringify(waveformFromStats(await readFile(stats, "utf8"), spp)));
  files.push({ name: "waveform.json", file: waveform, contentType: "application/json" });
  if (o.type !== "VIDEO") return files;

  const g = thumbnailGrid(o.durationSec, o.width, o.height);
  const sprite = join(o.dir, "thumbnails.jpg");
  const tiles = `fps=1/${g.interval},scale=${g.width}:${g.height},tile=${g.columns}x${g.rows}`;
  await run(["-i", o.output, "-an", "-vf", tiles, "-frames:v", "1", "-q:v", "4", sprite]);
  const track = join(o.dir, "thumbnails.vtt");
  await writeFile(track, thumbnailsVtt(g, o.durationSec));
  files.push(
    { name: "thumbnails.jpg", file: sprite, contentType: "image/jpeg" },
    { name: "thumbnails.vtt", file: track, contentType: "text/vtt; charset=utf-8" },
  );
  return files;
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
  await attempt("review assets", async () => {
    for (const a of await makeReviewAssets(engine, o, signal)) await uploadAsset(job, a, signal);
  });
  const pass = o.speakers;
  if (!pass) return undefined;
  return attempt("speaker timeline", async () => {
    const talk = o.talk ?? (await measureTalk(engine, pass, signal));
    const { files, metrics } = await makeSpeakerAssets(job, pass, talk, o.dir);
    for (const a of files) await uploadAsset(job, a, signal);
    return metrics;
  });
}
