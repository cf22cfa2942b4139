// The planner: job + probed facts → the complete ffmpeg argument array. Pure: no I/O, no ffmpeg.
import type { RenderJob } from "../../../contract/renderer.ts";
import { audioGraph, type AudioSource } from "./audio-graph.ts";
import { audioCut, keptSegments, normalizeKeep } from "./keep.ts";
import { segments, totalFrames, videoSpans, formatMs, type Segment } from "./timeline.ts";
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

/** How far past its probed end a track is still mixed into a kept span (lengths are packet-approximate). */
const SLACK_MS = 1000;

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
  const fullSpans = kind === "video" ? videoSpans(tracks, totalFrames(spanSec)) : [];
  for (const t of tracks) {
    if (!(t.audio && inSpan(t)) && !fullSpans.some((s) => s.id === t.id)) {
      warnings.push(`track "${t.id}": nothing to use inside the recording span`);
    }
  }

  // Trimming (keep.ts): only [originMs, originMs + windowMs) of the timeline is rendered, and of
  // it only `cuts` (ms from originMs) when the kept spans have holes.
  const keep = normalizeKeep(job.keep, job.durationMs, kind === "video" ? FPS : undefined);
  const originMs = keep ? keep[0]!.startMs : 0;
  const windowMs = keep ? keep[keep.length - 1]!.endMs - originMs : job.durationMs;
  const cuts = keep && keep.length > 1 ? keep.map((k) => ({ startMs: k.startMs - originMs, endMs: k.endMs - originMs })) : null;
  const outputMs = keep ? keep.reduce((sum, k) => sum + k.endMs - k.startMs, 0) : job.durationMs;
  const windowSec = windowMs / 1000;

  // Each track on the rendered window: a track that began before it is read from the window's start.
  const placed = tracks.map((t) => {
    const offsetMs = Math.round(t.offsetSec * 1000);
    const seekMs = Math.max(0, originMs - offsetMs);
    return { ...t, offsetSec: Math.max(0, offsetMs - originMs) / 1000, durationSec: t.durationSec - seekMs / 1000, seekMs, joinMs: offsetMs };
  });
  const byId = new Map(placed.map((t) => [t.id, t]));
  // A probed length is approximate to a packet: a track that might still reach a kept span is mixed.
  const heard = (t: PlanTrack) => {
    if (!t.audio || !inSpan(t)) return false;
    if (!keep) return true;
    const a = t.offsetSec * 1000;
    const b = a + t.durationSec * 1000 + SLACK_MS;
    return keep.some((k) => a < k.endMs && b > k.startMs);
  };
  const audioTracks = tracks.filter(heard).map((t) => byId.get(t.id)!);

  const total = totalFrames(windowSec);
  let videoSegments: Segment[] = [];
  if (kind === "video") {
    // Tile order is join order: tracks that joined before the window all start on its first frame,
    // so they are ranked by their real join time.
    const ranked = originMs > 0 ? [...placed].sort((a, b) => a.joinMs - b.joinMs) : placed;
    const all = segments(videoSpans(ranked, total), total);
    videoSegments = cuts
      ? keptSegments(all, cuts.map((k) => ({ startFrame: Math.round((k.startMs * FPS) / 1000), endFrame: Math.min(total, Math.ceil((k.endMs * FPS) / 1000 - 1e-9)) })))
      : all;
  }
  const videoIds = new Set(videoSegments.flatMap((s) => s.live));

  const used = placed.filter((t) => audioTracks.includes(t) || videoIds.has(t.id));
  const index = new Map(used.map((t, i) => [t.id, i]));

  const audio: AudioSource[] = audioTracks.map((t) => ({
    input: index.get(t.id)!,
    offsetMs: Math.round(t.offsetSec * 1000),
  }));
  const audioOut = keep ? "akept" : "aout";
  const graph = cuts
    ? [...audioGraph(audio, windowMs, "afull"), ...audioCut(cuts, "afull", audioOut)]
    : audioGraph(audio, windowMs, audioOut);
  const args: string[] = [];
  for (const t of used) {
    // reinit_filter 0: a mid-stream resolution change (WebRTC adapts it) must not rebuild the whole
    // graph — scale absorbs it; a rebuild would restart every segment and the mix.
    args.push("-reinit_filter", "0");
    if (t.seekMs > 0) args.push("-ss", formatMs(t.seekMs));
    args.push("-i", t.path);
  }
  const seconds = formatMs(outputMs);

  if (kind === "video") {
    const sources: VideoSource[] = used
      .filter((t) => videoIds.has(t.id))
      .map((t) => ({ id: t.id, input: index.get(t.id)!, offsetMs: Math.round(t.offsetSec * 1000) }));
    graph.push(...videoGraph({ sources, segments: videoSegments, width: job.width, height: job.height }));
    args.push("-filter_complex", graph.join(";"), "-map", "[vout]", "-map", `[${audioOut}]`);
    args.push(
      "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
      "-r", String(FPS), "-g", String(FPS * 2),
      "-c:a", "aac", "-b:a", "128k", "-ar", String(SAMPLE_RATE), "-ac", "2",
      "-movflags", "+faststart", "-max_muxing_queue_size", "4096",
      "-t", seconds, "-f", "mp4", files.output,
    );
  } else {
    args.push("-filter_complex", graph.join(";"), "-map", `[${audioOut}]`);
    args.push(
      "-c:a", "libmp3lame", "-b:a", "128k", "-ar", String(SAMPLE_RATE), "-ac", "2",
      "-t", seconds, "-f", "mp3", files.output,
    );
  }
  if (!tracks.some((t) => t.audio && inSpan(t))) warnings.push("no audio in any track: the audio is silent");

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
