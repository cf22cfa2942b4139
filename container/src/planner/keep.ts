// Trimming: which spans of the recording's timeline survive, back to back, in the output.
//
// The cut is exact rather than frame-selected: picture and sound are cut at the same instants, so
// they stay in sync however many spans there are. For video every bound sits on the 40 ms frame
// grid (a start widened down, an end widened up — never less than asked), and the video graph
// composes only the kept frames (segments cut at the bounds). The mix is built over the rendered
// window and cut sample-exactly with atrim (aselect would keep or drop whole audio frames — up to
// 85 ms of apad's padding frames per bound — and drift against the picture across many cuts).
// Before the first span every input is seeked (-ss), and after the last one the graph ends: a
// window late in a long call neither decodes the call's beginning nor sits without output long
// enough for the watchdog to kill it.
import { formatMs, type Segment } from "./timeline.ts";
import type { FilterChain } from "./types.ts";

export interface KeptSpan {
  startMs: number;
  endMs: number;
}

/**
 * The spans to keep, in time order, merged, clipped to [0, spanMs], in whole milliseconds and,
 * with `fps`, on its frame grid (except an end at spanMs). null = the whole span. Throws when
 * nothing of the span is left (the contract's validation refuses such a job first).
 */
export function normalizeKeep(keep: readonly KeptSpan[] | undefined, spanMs: number, fps?: number): KeptSpan[] | null {
  if (!keep) return null;
  const down = (ms: number) => (fps ? (Math.floor((ms * fps) / 1000 + 1e-9) * 1000) / fps : Math.round(ms));
  const up = (ms: number) => (fps ? (Math.ceil((ms * fps) / 1000 - 1e-9) * 1000) / fps : Math.round(ms));
  const spans = keep
    .map((k) => ({ startMs: Math.max(0, down(k.startMs)), endMs: Math.min(spanMs, up(k.endMs)) }))
    .filter((k) => k.endMs > k.startMs)
    .sort((a, b) => a.startMs - b.startMs);
  const out: KeptSpan[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.startMs <= last.endMs) last.endMs = Math.max(last.endMs, s.endMs);
    else out.push({ ...s });
  }
  if (out.length === 0) throw new Error("planner: no part of the recording is left to keep");
  if (out.length === 1 && out[0]!.startMs === 0 && out[0]!.endMs === spanMs) return null;
  return out;
}

/** The segments' frames inside the kept frame ranges, in time order. */
export function keptSegments(segments: readonly Segment[], kept: readonly { startFrame: number; endFrame: number }[]): Segment[] {
  const out: Segment[] = [];
  for (const k of kept) {
    for (const s of segments) {
      const a = Math.max(s.startFrame, k.startFrame);
      const b = Math.min(s.endFrame, k.endFrame);
      if (b > a) out.push({ startFrame: a, endFrame: b, live: s.live });
    }
  }
  return out;
}

/** Cuts the audio `[from]` to the spans (ms on its own timeline) and joins them into `[out]`. */
export function audioCut(spans: readonly KeptSpan[], from: string, out: string): FilterChain[] {
  const n = spans.length;
  const kept = spans.map((_, i) => `ak${i}`);
  const cut = spans.map((_, i) => `ac${i}`);
  return [
    { ins: [from], filters: [`asplit=${n}`], outs: kept },
    ...spans.map((k, i) => ({
      ins: [kept[i]!],
      filters: [`atrim=start=${formatMs(k.startMs)}:end=${formatMs(k.endMs)}`, "asetpts=PTS-STARTPTS"],
      outs: [cut[i]!],
    })),
    { ins: cut, filters: [`concat=n=${n}:v=0:a=1`, "asetpts=N/SR/TB"], outs: [out] },
  ];
}
