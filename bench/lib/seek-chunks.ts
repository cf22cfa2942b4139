// The REJECTED way to parallelise the AUDIO render, kept to measure why: split the output timeline
// into one window per core, render each window with its own ffmpeg (inputs seeked with -ss, the
// same graph with shifted offsets), and join the MP3 parts at a frame where the bit reservoir and
// block types allow it (mp3-splice.ts). It is fast; the joins are not seamless, because after a seek
// ffmpeg places samples by container timestamps while the single command counts decoded samples.
import { readFile, rm, writeFile } from "node:fs/promises";
import type { RenderJob } from "../../contract/renderer.ts";
import type { Engine } from "../../container/src/engines/types.ts";
import { audioGraph, type AudioSource } from "../../container/src/planner/audio-graph.ts";
import { resolveTracks } from "../../container/src/planner/index.ts";
import { formatMs } from "../../container/src/planner/timeline.ts";
import type { ProbeFacts, RenderPlan } from "../../container/src/planner/types.ts";
import { SAMPLES_PER_FRAME, spliceMp3 } from "../../container/src/engines/mp3-splice.ts";

const FRAME_MS = (SAMPLES_PER_FRAME * 1000) / 48_000; // 24 ms
/** Frames of overlap on each side of a join (≈ 2 s): decoders, resampler and limiter settle. */
const ROLL_FRAMES = 84;

export interface SeekChunkResult {
  /** Timeline sample at which each join was made (where to look for a seam). */
  joinSamples: number[];
  parts: number;
}

/** Renders `plan` (a plain AUDIO plan, no trimming) as `n` seeked windows joined into plan.output. */
export async function renderSeekChunks(
  native: Engine,
  job: RenderJob,
  facts: Readonly<Record<string, ProbeFacts>>,
  inputs: Readonly<Record<string, string>>,
  plan: RenderPlan,
  n: number,
): Promise<SeekChunkResult> {
  const spanMs = Math.round(job.durationMs);
  const totalFrames = Math.floor(spanMs / FRAME_MS);
  const share = Array.from({ length: n + 1 }, (_, k) => Math.round((k * totalFrames) / n));
  const tracks = resolveTracks(job, facts, { inputs, output: plan.output }, []).filter((t) => t.audio && t.offsetSec < spanMs / 1000);
  const map = plan.args.indexOf("-map");
  const t = plan.args.lastIndexOf("-t");
  const enc = plan.args.slice(map + 2, t);
  const windows = share.slice(0, n).map((s, k) => ({
    startMs: (k === 0 ? 0 : s - ROLL_FRAMES) * FRAME_MS,
    endMs: k === n - 1 ? spanMs : Math.min(spanMs, (share[k + 1]! + ROLL_FRAMES) * FRAME_MS),
  }));
  const outputs = windows.map((_, k) => `${plan.output}.seek${k}.mp3`);
  await Promise.all(
    windows.map((w, k) => {
      const args: string[] = [];
      const sources: AudioSource[] = [];
      for (const tr of tracks) {
        const offsetMs = Math.round(tr.offsetSec * 1000);
        if (offsetMs >= w.endMs || (tr.offsetSec + tr.durationSec) * 1000 < w.startMs - 1000) continue;
        const seekMs = Math.max(0, w.startMs - offsetMs);
        args.push("-reinit_filter", "0", ...(seekMs > 0 ? ["-ss", formatMs(seekMs)] : []), "-i", tr.path);
        sources.push({ input: sources.length, offsetMs: Math.max(0, offsetMs - w.startMs) });
      }
      args.push("-filter_complex", audioGraph(sources, w.endMs - w.startMs).join(";"), "-map", "[aout]", ...enc);
      args.push("-t", formatMs(w.endMs - w.startMs), "-f", "mp3", outputs[k]!);
      const part: RenderPlan = { ...plan, args, output: outputs[k]!, durationSeconds: (w.endMs - w.startMs) / 1000 };
      return native.run(part, { signal: new AbortController().signal, onProgress: () => {} });
    }),
  );
  const bytes = await Promise.all(outputs.map((o) => readFile(o)));
  const joined = spliceMp3(
    bytes.map((b, k) => ({ bytes: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), startFrame: windows[k]!.startMs / FRAME_MS })),
    share.slice(1, n),
  );
  await writeFile(plan.output, joined.bytes);
  await Promise.all(outputs.map((o) => rm(o, { force: true })));
  // Frame c starts at sample c·1152 of the encoder's input, minus LAME's delay (576 + 529).
  return { joinSamples: joined.cuts.map((c) => c * SAMPLES_PER_FRAME - 1105), parts: n };
}
