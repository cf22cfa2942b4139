// The planner: job + probed facts → the complete ffmpeg argument array. Pure: no I/O, no ffmpeg.
import type { RenderJob } from "../contract.ts";
import { audioGraph, type AudioSource } from "./audio-graph.ts";
import { segments, totalFrames, videoSpans, formatMs } from "./timeline.ts";
import { FPS, SAMPLE_RATE, type PlanTrack, type ProbeFacts, type RenderPlan } from "./types.ts";
import { videoGraph, type VideoSource } from "./video-graph.ts";

export type { PlanTrack, ProbeFacts, RenderPlan } from "./types.ts";
export { FPS, SAMPLE_RATE } from "./types.ts";

export interface PlanFiles {
  /** Local path of each downloaded track, by track id. */
  inputs: Readonly<Record<string, string>>;
  output: string;
}

/** Declared flags ∧ what the file really holds; the length comes from probing when it could. */
export function resolveTracks(
  job: RenderJob,
  facts: Readonly<Record<string, ProbeFacts>>,
  files: PlanFiles,
  warnings: string[],
): PlanTrack[] {
  const spanSec = job.durationMs / 1000;
  return job.tracks.map((t) => {
    const f = facts[t.id];
    const path = files.inputs[t.id];
    if (!f || !path) throw new Error(`planner: track "${t.id}" was not probed`);
    if (t.audio && !f.hasAudio) warnings.push(`track "${t.id}": declared audio but has no audio stream`);
    if (t.video && !f.hasVideo) warnings.push(`track "${t.id}": declared video but has no video stream`);
    // A file cut short (an interrupted upload, a recorder that crashed) still renders what it holds.
    if (f.durationSec !== null && t.durationMs !== undefined && f.durationSec < t.durationMs / 1000 - 1) {
      warnings.push(`track "${t.id}": media ends after ${f.durationSec.toFixed(1)} s of the ${(t.durationMs / 1000).toFixed(1)} s declared (truncated?)`);
    }
    const offsetSec = t.offsetMs / 1000;
    const durationSec =
      f.durationSec ?? (t.durationMs !== undefined ? t.durationMs / 1000 : Math.max(0, spanSec - offsetSec));
    return {
      id: t.id,
      path,
      offsetSec,
      durationSec,
      audio: t.audio && f.hasAudio,
      video: t.video && f.hasVideo,
    };
  });
}

export function planRender(
  job: RenderJob,
  facts: Readonly<Record<string, ProbeFacts>>,
  files: PlanFiles,
): RenderPlan {
  const warnings: string[] = [];
  const kind = job.format === "MP4" ? "video" : "audio";
  const spanSec = job.durationMs / 1000;
  const tracks = resolveTracks(job, facts, files, warnings);

  // A track past the end of the recording contributes nothing; leave it out of the inputs.
  const inSpan = (t: PlanTrack) => t.offsetSec < spanSec && t.durationSec > 0;
  const audioTracks = tracks.filter((t) => t.audio && inSpan(t));
  const total = totalFrames(spanSec);
  const spans = kind === "video" ? videoSpans(tracks, total) : [];
  const videoIds = new Set(spans.map((s) => s.id));

  const used = tracks.filter((t) => audioTracks.includes(t) || videoIds.has(t.id));
  for (const t of tracks) {
    if (!used.includes(t)) warnings.push(`track "${t.id}": nothing to use inside the recording span`);
  }
  const index = new Map(used.map((t, i) => [t.id, i]));

  const audio: AudioSource[] = audioTracks.map((t) => ({
    input: index.get(t.id)!,
    offsetMs: Math.round(t.offsetSec * 1000),
  }));
  const graph = audioGraph(audio, job.durationMs);
  const args: string[] = [];
  for (const t of used) {
    // reinit_filter 0: a mid-stream resolution change (WebRTC adapts it) must not rebuild the whole
    // graph — scale absorbs it; a rebuild would restart every segment and the mix.
    args.push("-reinit_filter", "0", "-i", t.path);
  }
  // Trimming: the whole timeline is composed, then only the kept spans survive, back to back.
  const keep = job.keep?.map((k) => ({ startMs: Math.max(0, k.startMs), endMs: Math.min(job.durationMs, k.endMs) })).filter((k) => k.endMs > k.startMs);
  const outputMs = keep ? keep.reduce((sum, k) => sum + k.endMs - k.startMs, 0) : job.durationMs;
  const seconds = formatMs(outputMs);
  const keepExpr = keep?.map((k) => `gte(t,${formatMs(k.startMs)})*lt(t,${formatMs(k.endMs)})`).join("+");
  const audioOut = keepExpr ? (graph.push(`[aout]aselect='${keepExpr}',asetpts=N/SR/TB[akept]`), "[akept]") : "[aout]";

  if (kind === "video") {
    const sources: VideoSource[] = used
      .filter((t) => videoIds.has(t.id))
      .map((t) => ({ id: t.id, input: index.get(t.id)!, offsetMs: Math.round(t.offsetSec * 1000) }));
    graph.push(
      ...videoGraph({ sources, segments: segments(spans, total), width: job.width, height: job.height }),
    );
    const videoOut = keepExpr ? (graph.push(`[vout]select='${keepExpr}',setpts=N/${FPS}/TB[vkept]`), "[vkept]") : "[vout]";
    args.push("-filter_complex", graph.join(";"), "-map", videoOut, "-map", audioOut);
    args.push(
      "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
      "-r", String(FPS), "-g", String(FPS * 2),
      "-c:a", "aac", "-b:a", "128k", "-ar", String(SAMPLE_RATE), "-ac", "2",
      "-movflags", "+faststart", "-max_muxing_queue_size", "4096",
      "-t", seconds, "-f", "mp4", files.output,
    );
  } else {
    args.push("-filter_complex", graph.join(";"), "-map", audioOut);
    args.push(
      "-c:a", "libmp3lame", "-b:a", "128k", "-ar", String(SAMPLE_RATE), "-ac", "2",
      "-t", seconds, "-f", "mp3", files.output,
    );
  }
  if (audioTracks.length === 0) warnings.push("no audio in any track: the audio is silent");

  return {
    args,
    inputs: used.map((t) => t.path),
    inputTracks: used.map((t) => t.id),
    output: files.output,
    durationSeconds: outputMs / 1000,
    kind,
    warnings,
  };
}
