// The GRID video. Each segment of constant live set is composed on its own black base (one
// overlay per tile), and the segments are concatenated. Per-segment composition keeps memory flat:
// a single long overlay chain over the whole timeline makes ffmpeg's frame sync read ahead to the
// first frame of late branches and buffer every frame of the others meanwhile (measured: 5× RSS).
import { gridCells } from "./grid.ts";
import { frameToSeconds, type Segment } from "./timeline.ts";
import { FPS, type FilterChain, type SourceChain, type StreamGraph } from "./types.ts";

export interface VideoSource {
  id: string;
  /** ffmpeg input index. */
  input: number;
  offsetMs: number;
  /** Filters on the window's clock, before the source is split into its segments (redaction). */
  extra?: string[];
  /** A file holding the tile's label (drawtext reads it: no escaping of what people are called). */
  label?: string;
}

export interface VideoGraphOptions {
  sources: readonly VideoSource[];
  segments: readonly Segment[];
  width: number;
  height: number;
  fps?: number;
  out?: string;
}

/** The grid over the segments, ending in the label `out` (default `vout`). */
export function videoStream(o: VideoGraphOptions): StreamGraph {
  const fps = o.fps ?? FPS;
  const out = o.out ?? "vout";
  const byId = new Map(o.sources.map((s) => [s.id, s]));
  // How many segments use each source: that many branches of its (shifted, CFR) video.
  const uses = new Map<string, number>();
  for (const seg of o.segments) for (const id of seg.live) uses.set(id, (uses.get(id) ?? 0) + 1);
  const sources = o.sources.flatMap((s) => {
    const n = uses.get(s.id) ?? 0;
    return n === 0 ? [] : [sourceChain(s, n, fps)];
  });
  const next = new Map<string, number>();
  /** The next unused branch of a source's video. */
  const branch = (id: string) => {
    const src = byId.get(id);
    if (!src) throw new Error(`planner: live track ${id} has no source`);
    const k = next.get(id) ?? 0;
    next.set(id, k + 1);
    return `v${src.input}_${k}`;
  };
  const mix = o.segments.flatMap((seg, j) => segmentChains(seg, j, o, fps, branch));
  const segs = o.segments.map((_, j) => `s${j}`);
  mix.push({ ins: segs, filters: [`concat=n=${o.segments.length}:v=1:a=0`, "format=yuv420p"], outs: [out] });
  return { sources, mix, out };
}

function sourceChain(s: VideoSource, branches: number, fps: number): SourceChain {
  const outs = Array.from({ length: branches }, (_, k) => `v${s.input}_${k}`);
  // +offset puts the file's frames on the recording timeline; fps makes the VFR input constant-rate.
  const shift = s.offsetMs / 1000;
  const filters = [
    // A negative shift is a seeked track's pre-roll, put back before the window's start.
    `setpts=PTS${shift < 0 ? "" : "+"}${shift.toString()}/TB`,
    `fps=${fps}`,
    ...(s.extra ?? []),
    ...(branches > 1 ? [`split=${branches}`] : []),
  ];
  return { input: s.input, ins: [`${s.input}:v`], filters, outs };
}

/** The bundled font of Debian's fonts-dejavu-core (the renderer image installs it). */
export const LABEL_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/** White text on a translucent box in the tile's bottom-left corner, sized to the tile. */
function labelFilter(file: string | undefined): string[] {
  if (!file) return [];
  return [
    `drawtext=fontfile=${LABEL_FONT}:textfile=${file}:fontsize='max(12,h/14)':fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=6:x=10:y=h-th-12`,
  ];
}

/** Segment j: a black base, and each live tile trimmed to the segment, scaled and overlaid in its cell. */
function segmentChains(seg: Segment, j: number, o: VideoGraphOptions, fps: number, branch: (id: string) => string): FilterChain[] {
  const byId = new Map(o.sources.map((s) => [s.id, s]));
  const a = frameToSeconds(seg.startFrame, fps);
  const b = frameToSeconds(seg.endFrame, fps);
  const len = frameToSeconds(seg.endFrame - seg.startFrame, fps);
  const base = [`color=c=black:s=${o.width}x${o.height}:r=${fps}:d=${len}`, "setsar=1"];
  if (seg.live.length === 0) return [{ ins: [], filters: base, outs: [`s${j}`] }];
  const chains: FilterChain[] = [{ ins: [], filters: base, outs: [`b${j}_0`] }];
  const cells = gridCells(seg.live.length, o.width, o.height);
  seg.live.forEach((id, t) => {
    const cell = cells[t];
    if (!cell) throw new Error(`planner: live track ${id} has no cell`);
    const tile = `t${j}_${t}`;
    chains.push({
      ins: [branch(id)],
      filters: [
        `trim=start=${a}:end=${b}`,
        `setpts=PTS-${a}/TB`,
        `scale=w=${cell.w}:h=${cell.h}:force_original_aspect_ratio=decrease:force_divisible_by=2`,
        "setsar=1",
        ...labelFilter(byId.get(id)?.label),
      ],
      outs: [tile],
    });
    const dst = t === seg.live.length - 1 ? `s${j}` : `b${j}_${t + 1}`;
    // Centred in its cell (letterboxed); eof_action=pass leaves the cell black if the video stops early.
    chains.push({
      ins: [`b${j}_${t}`, tile],
      filters: [`overlay=x=${cell.x}+(${cell.w}-w)/2:y=${cell.y}+(${cell.h}-h)/2:eof_action=pass`],
      outs: [dst],
    });
  });
  return chains;
}
