// How a render's work is spread over its output, so progress and the ETA count work, not seconds.
// A grid's cost per output second grows with the cameras it decodes and scales: on the 720p grid
// of 4 cameras joining and leaving 5 s apart (bench/vs-user.ts), a second with 4 tiles took
// 0.29 s, with 3 0.25 s, 2 0.21 s, 1 0.19 s (ffmpeg's -progress against the clock, 2 cores):
// about a fixed part for the encode and the canvas, plus a quarter of it per live camera. Counted
// by seconds alone, the ETA of such a call read low while cameras joined and high as they left.
import { FPS } from "./types.ts";
import type { Segment } from "./timeline.ts";

/** A stretch of the output, in output order, and its cost per second relative to an empty canvas. */
export interface WorkSpan {
  seconds: number;
  weight: number;
}

/** One live camera's decode and scale, per output second, against the encode and canvas (1). */
export const CAMERA_WEIGHT = 0.25;

/** The grid's segments (in output order) as work spans. */
export function gridWork(segments: readonly Segment[]): WorkSpan[] {
  return segments.map((s) => ({ seconds: (s.endFrame - s.startFrame) / FPS, weight: 1 + CAMERA_WEIGHT * s.live.length }));
}

/**
 * The share of the render's work done once the output reaches `positionSec`, 0..1: 1 at the end
 * (the grid's frames may run a frame past an off-grid length). Without spans (a mix: its cost is
 * even over time), the share of the seconds.
 */
export function workFraction(spans: readonly WorkSpan[] | undefined, positionSec: number, totalSec: number): number {
  const total = spans?.reduce((sum, s) => sum + s.seconds * s.weight, 0) ?? 0;
  if (!spans || total <= 0) return clamp01(positionSec / totalSec);
  if (positionSec >= totalSec) return 1;
  let done = 0;
  let at = 0;
  for (const s of spans) {
    const here = Math.min(s.seconds, Math.max(0, positionSec - at));
    done += here * s.weight;
    at += s.seconds;
    if (positionSec <= at) break;
  }
  return clamp01(done / total);
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
