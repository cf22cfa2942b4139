// Where each track lives on the recording's timeline, and the segments during which the set of
// live video participants is constant (each segment gets one grid layout).
import { FPS, type PlanTrack } from "./types.ts";

export interface LiveSpan {
  id: string;
  /** First frame (inclusive) and last frame (exclusive) on the output's frame grid. */
  startFrame: number;
  endFrame: number;
  /** Original position, a stable tie-break when two tracks join on the same frame. */
  order: number;
}

export interface Segment {
  startFrame: number;
  endFrame: number;
  /** Ids of live video tracks ordered by join time (tile order). */
  live: string[];
}

export function secondsToFrame(sec: number, fps = FPS): number {
  return Math.round(sec * fps);
}

/** Exact decimal seconds for a frame number (fps=25 → multiples of 0.04 with no float noise). */
export function frameToSeconds(frame: number, fps = FPS): string {
  const ms = (frame * 1000) / fps;
  return Number.isInteger(ms) ? formatMs(ms) : (frame / fps).toFixed(6);
}

export function formatMs(ms: number): string {
  return (Math.round(ms) / 1000).toString();
}

export function totalFrames(spanSec: number, fps = FPS): number {
  // Cover the whole span; the encoder's -t trims the last partial frame.
  return Math.max(1, Math.ceil(spanSec * fps - 1e-9));
}

/** Video presence of each track, clipped to [0, total). Tracks with no visible frame are dropped. */
export function videoSpans(tracks: readonly PlanTrack[], total: number, fps = FPS): LiveSpan[] {
  const spans: LiveSpan[] = [];
  tracks.forEach((t, order) => {
    if (!t.video) return;
    const startFrame = Math.max(0, secondsToFrame(t.offsetSec, fps));
    const endFrame = Math.min(total, secondsToFrame(t.offsetSec + t.durationSec, fps));
    if (endFrame > startFrame) spans.push({ id: t.id, startFrame, endFrame, order });
  });
  return spans;
}

/** Cuts [0, total) at every join/leave; adjacent pieces always differ in their live set. */
export function segments(spans: readonly LiveSpan[], total: number): Segment[] {
  const cuts = new Set<number>([0, total]);
  for (const s of spans) {
    cuts.add(s.startFrame);
    cuts.add(s.endFrame);
  }
  const points = [...cuts].filter((f) => f >= 0 && f <= total).sort((a, b) => a - b);
  const byJoin = [...spans].sort((a, b) => a.startFrame - b.startFrame || a.order - b.order);
  const out: Segment[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i]!;
    const b = points[i + 1]!;
    const live = byJoin.filter((s) => s.startFrame <= a && s.endFrame >= b).map((s) => s.id);
    const prev = out[out.length - 1];
    if (prev && sameIds(prev.live, live)) prev.endFrame = b;
    else out.push({ startFrame: a, endFrame: b, live });
  }
  return out;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
