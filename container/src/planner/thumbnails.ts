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
 * The sprite a whole VIDEO render draws from the frames it encodes (decoding the output again for
 * it cost up to a sixth of the render). A fan-out part draws none: its JOIN makes the whole call's.
 */
export function renderSprite(outputSec: number, width: number, height: number, output: string): RenderSprite {
  return { grid: thumbnailGrid(outputSec, width, height), file: `${output}.thumbnails.jpg` };
}

/** The filters that turn a video stream into the grid's sprite (one frame out, at the stream's end). */
export function spriteFilters(g: ThumbnailGrid): string[] {
  return [`fps=1/${g.interval}`, `scale=${g.width}:${g.height}`, `tile=${g.columns}x${g.rows}`];
}

/** The sprite written as its own output of a command: one JPEG. */
export function spriteOutputArgs(label: string, file: string): string[] {
  return ["-map", `[${label}]`, "-frames:v", "1", "-q:v", "4", "-f", "image2", file];
}
