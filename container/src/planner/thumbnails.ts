// The thumbnail sprite of a VIDEO output: one frame every `interval` seconds, scaled and tiled
// into one JPEG (the review page's scrub previews, with a WebVTT track of `#xywh=` cues). Pure.
import type { RenderSprite } from "./types.ts";

export const MAX_THUMBNAILS = 200;
export const THUMBNAIL_WIDTH = 160;
const SPRITE_COLUMNS = 10;
/** Seconds between thumbnails: the first step that keeps a call within MAX_THUMBNAILS. */
const INTERVALS = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600];

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

/**
 * The thumbnails a whole VIDEO render takes from the frames it encodes (decoding the output again
 * for them cost up to a sixth of the render); the review assets tile them into the sprite. A
 * fan-out part takes none: its JOIN makes the whole call's sprite.
 */
export function renderSprite(outputSec: number, width: number, height: number, output: string): RenderSprite {
  return { grid: thumbnailGrid(outputSec, width, height), frames: `${output}.thumbnails.yuv` };
}

const pick = (g: ThumbnailGrid) => [`fps=1/${g.interval}`, `scale=${g.width}:${g.height}`];

/** The filters that turn a video stream into the grid's sprite (one frame out, at the stream's end). */
export function spriteFilters(g: ThumbnailGrid): string[] {
  return [...pick(g), `tile=${g.columns}x${g.rows}`];
}

/** The filters of the render's copy: one small frame per interval, as raw YUV. */
export function thumbnailFrameFilters(g: ThumbnailGrid): string[] {
  return [...pick(g), "format=yuv420p"];
}

/**
 * The thumbnails written as their own output of the render's command: raw frames, each as it is
 * taken. (Not the tiled sprite itself: ffmpeg 5.1 prints no -progress until every output has
 * written its header, and the sprite's one frame comes at the end: the watchdog would see no progress.)
 */
export function thumbnailFramesArgs(label: string, file: string): string[] {
  return ["-map", `[${label}]`, "-f", "rawvideo", "-pix_fmt", "yuv420p", file];
}

/** The command that tiles the render's raw thumbnails into the sprite (lossless until this JPEG). */
export function tileFramesArgs(g: ThumbnailGrid, frames: string, sprite: string): string[] {
  const raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", `${g.width}x${g.height}`, "-framerate", "1"];
  return [...raw, "-i", frames, "-vf", `tile=${g.columns}x${g.rows}`, "-frames:v", "1", "-q:v", "4", sprite];
}
