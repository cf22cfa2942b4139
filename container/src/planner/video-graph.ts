// The GRID video. Each segment of constant live set is composed on its own black base (one
// overlay per tile), and the segments are concatenated. Per-segment composition keeps memory flat:
// a single long overlay chain over the whole timeline makes ffmpeg's frame sync read ahead to the
// first frame of late branches and buffer every frame of the others meanwhile (measured: 5× RSS).
import { gridCells } from "./grid.ts";
import { frameToSeconds, type Segment } from "./timeline.ts";
import { FPS } from "./types.ts";

export interface VideoSource {
  id: string;
  /** ffmpeg input index. */
  input: number;
  offsetMs: number;
}

export interface VideoGraphOptions {
  sources: readonly VideoSource[];
  segments: readonly Segment[];
  width: number;
  height: number;
  fps?: number;
  out?: string;
}

/** Filter chains (to be joined with ';') ending in the label `[${out}]`. */
export function videoGraph(o: VideoGraphOptions): string[] {
  const fps = o.fps ?? FPS;
  const out = o.out ?? "vout";
  const size = `${o.width}x${o.height}`;
  const chains: string[] = [];
  const byId = new Map(o.sources.map((s) => [s.id, s]));

  // How many segments use each source: that many branches of its (shifted, CFR) video.
  const uses = new Map<string, number>();
  for (const seg of o.segments) for (const id of seg.live) uses.set(id, (uses.get(id) ?? 0) + 1);
  for (const s of o.sources) {
    const n = uses.get(s.id) ?? 0;
    if (n === 0) continue;
    const labels = Array.from({ length: n }, (_, k) => `[v${s.input}_${k}]`).join("");
    // +offset puts the file's frames on the recording timeline; fps makes the VFR input constant-rate.
    const head = `[${s.input}:v]setpts=PTS+${(s.offsetMs / 1000).toString()}/TB,fps=${fps}`;
    chains.push(n === 1 ? `${head}${labels}` : `${head},split=${n}${labels}`);
  }

  const next = new Map<string, number>();
  o.segments.forEach((seg, j) => {
    const a = frameToSeconds(seg.startFrame, fps);
    const b = frameToSeconds(seg.endFrame, fps);
    const len = frameToSeconds(seg.endFrame - seg.startFrame, fps);
    const base = `color=c=black:s=${size}:r=${fps}:d=${len},setsar=1`;
    if (seg.live.length === 0) {
      chains.push(`${base}[s${j}]`);
      return;
    }
    chains.push(`${base}[b${j}_0]`);
    const cells = gridCells(seg.live.length, o.width, o.height);
    seg.live.forEach((id, t) => {
      const src = byId.get(id);
      const cell = cells[t];
      if (!src || !cell) throw new Error(`planner: live track ${id} has no source or cell`);
      const k = next.get(id) ?? 0;
      next.set(id, k + 1);
      chains.push(
        `[v${src.input}_${k}]trim=start=${a}:end=${b},setpts=PTS-${a}/TB,` +
          `scale=w=${cell.w}:h=${cell.h}:force_original_aspect_ratio=decrease:force_divisible_by=2,` +
          `setsar=1[t${j}_${t}]`,
      );
      const dst = t === seg.live.length - 1 ? `[s${j}]` : `[b${j}_${t + 1}]`;
      // Centred in its cell (letterboxed); eof_action=pass leaves the cell black if the video stops early.
      chains.push(
        `[b${j}_${t}][t${j}_${t}]overlay=x=${cell.x}+(${cell.w}-w)/2:y=${cell.y}+(${cell.h}-h)/2:` +
          `eof_action=pass${dst}`,
      );
    });
  });

  const segs = o.segments.map((_, j) => `[s${j}]`).join("");
  chains.push(`${segs}concat=n=${o.segments.length}:v=1:a=0,format=yuv420p[${out}]`);
  return chains;
}
