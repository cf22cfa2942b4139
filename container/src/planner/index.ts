// The planner: job + probed facts → the render graph (inputs, filter chains, output settings) and
// its single ffmpeg command. Pure: no I/O, no ffmpeg.
import type { RenderJob } from "../../../contract/renderer.ts";
import { audioStream, type AudioSource } from "./audio-graph.ts";
import { commandArgs } from "./graph.ts";
import { audioCut, keptSegments, normalizeKeep, type KeptSpan } from "./keep.ts";
import { audioRedactionFilters, beepChains, videoRedactionFilters } from "./redact.ts";
import { highlightFilters, labelFiles } from "./labels.ts";
import { speakerPass } from "./speakers.ts";
import { renderSprite } from "./thumbnails.ts";
import { formatMs, segments, totalFrames, videoSpans, type Segment } from "./timeline.ts";
import {
  FPS,
  SAMPLE_RATE,
  type OutputSettings,
  type PlanInput,
  type PlanTrack,
  type ProbeFacts,
  type RenderGraph,
  type RenderPlan,
  type StreamGraph,
} from "./types.ts";
import { videoStream, type VideoSource } from "./video-graph.ts";
import { gridWork } from "./work.ts";

export type { PlanTrack, ProbeFacts, RenderGraph, RenderPlan } from "./types.ts";
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
      warnings.push(
        `track "${t.id}": media ends after ${f.durationSec.toFixed(1)} s of the ${(t.durationMs / 1000).toFixed(1)} s declared (truncated?)`,
      );
    }
    const offsetSec = t.offsetMs / 1000;
    const durationSec = f.durationSec ?? (t.durationMs !== undefined ? t.durationMs / 1000 : Math.max(0, spanSec - offsetSec));
    return {
      id: t.id,
      path,
      offsetSec,
      durationSec,
      audio: t.audio && f.hasAudio,
      ...(f.audioChannels === 1 ? { mono: true } : {}),
      video: t.video && f.hasVideo,
    };
  });
}

/** How far past its probed end a track is still mixed into a kept span (lengths are packet-approximate). */
const SLACK_MS = 1000;

/** What of the timeline is rendered (keep.ts): [originMs, originMs + windowMs), and of it `cuts`. */
interface RenderWindow {
  /** The kept spans on the recording's timeline; null = the whole span. */
  keep: KeptSpan[] | null;
  originMs: number;
  windowMs: number;
  /** The kept spans in ms from originMs, when they have holes. */
  cuts: KeptSpan[] | null;
  outputMs: number;
}

/**
 * A track on the rendered window, from `seekMs` into its file. It is read from `prerollMs` before
 * that: a seek lands on the first frame after the point, and a camera's variable frame rate can
 * leave the frame on screen there far before it; the window's first frames show that frame, as the
 * whole render would, and the pre-roll before the window is trimmed (fan-out parts join seamlessly).
 */
interface PlacedTrack extends PlanTrack {
  seekMs: number;
  prerollMs: number;
  /** When it joined, on the recording's timeline (tile order). */
  joinMs: number;
}

/** What the planner is told beyond the job: each track's talk spans on the window's clock (to highlight the speaker). */
export interface PlanExtras {
  talk?: ReadonlyMap<string, readonly (readonly [number, number])[]>;
}

/** The plan of a job: its render graph, the graph's single command, and what the engines need to know. */
export function planRender(
  job: RenderJob,
  facts: Readonly<Record<string, ProbeFacts>>,
  files: PlanFiles,
  extras: PlanExtras = {},
): RenderPlan {
  const warnings: string[] = [];
  const kind = job.format === "MP4" ? "video" : "audio";
  const tracks = resolveTracks(job, facts, files, warnings);
  warnUnused(tracks, job, kind, warnings);
  const window = renderWindow(job, kind);
  const placed = placeTracks(tracks, window.originMs, kind === "video");
  const audioTracks = heardTracks(tracks, placed, job, window.keep);
  const videoSegments = kind === "video" ? videoSegmentsOf(placed, window) : [];
  const videoIds = new Set(videoSegments.flatMap((s) => s.live));
  const used = placed.filter((t) => audioTracks.includes(t) || videoIds.has(t.id));
  const index = new Map(used.map((t, i) => [t.id, i]));
  const labels = labelFiles(job, files.output);
  const layout = mixLayout(job, audioTracks);
  const graph: RenderGraph = {
    inputs: used.map(planInput),
    audio: audioStreamOf(job, audioTracks, index, window, layout),
    ...(kind === "video"
      ? {
          video: videoStreamOf(
            job,
            used.filter((t) => videoIds.has(t.id)),
            index,
            videoSegments,
            window.originMs,
            labels,
            extras.talk,
          ),
        }
      : {}),
    output: outputSettings(kind, window.outputMs, layout === "mono" ? 1 : 2),
    ...(kind === "video" && !job.part ? { sprite: renderSprite(window.outputMs / 1000, job.width, job.height, files.output) } : {}),
  };
  if (!tracks.some((t) => t.audio && inSpan(t, job))) warnings.push("no audio in any track: the audio is silent");
  const speakers = speakerPass(graph.inputs, graph.audio, window.cuts, window.outputMs / 1000, files.output);
  return {
    ...(speakers ? { speakers } : {}),
    ...(labels.size ? { textFiles: [...labels.values()] } : {}),
    graph,
    args: commandArgs(graph, files.output),
    inputs: used.map((t) => t.path),
    inputTracks: used.map((t) => t.id),
    output: files.output,
    durationSeconds: window.outputMs / 1000,
    ...(kind === "video" ? { work: gridWork(videoSegments) } : {}),
    kind,
    warnings,
  };
}

/** A track past the end of the recording contributes nothing; it is left out of the inputs. */
const inSpan = (t: PlanTrack, job: RenderJob) => t.offsetSec < job.durationMs / 1000 && t.durationSec > 0;

function warnUnused(tracks: readonly PlanTrack[], job: RenderJob, kind: RenderPlan["kind"], warnings: string[]): void {
  const fullSpans = kind === "video" ? videoSpans(tracks, totalFrames(job.durationMs / 1000)) : [];
  for (const t of tracks) {
    if (!(t.audio && inSpan(t, job)) && !fullSpans.some((s) => s.id === t.id)) {
      warnings.push(`track "${t.id}": nothing to use inside the recording span`);
    }
  }
}

/** The output's length in ms, as planRender makes it (the kept spans on the frame grid for VIDEO). */
export function outputMsOf(job: RenderJob): number {
  return renderWindow(job, job.format === "MP4" ? "video" : "audio").outputMs;
}

function renderWindow(job: RenderJob, kind: RenderPlan["kind"]): RenderWindow {
  const keep = normalizeKeep(job.keep, job.durationMs, kind === "video" ? FPS : undefined);
  const originMs = keep ? keep[0]!.startMs : 0;
  return {
    keep,
    originMs,
    windowMs: keep ? keep[keep.length - 1]!.endMs - originMs : job.durationMs,
    cuts: keep && keep.length > 1 ? keep.map((k) => ({ startMs: k.startMs - originMs, endMs: k.endMs - originMs })) : null,
    outputMs: keep ? keep.reduce((sum, k) => sum + k.endMs - k.startMs, 0) : job.durationMs,
  };
}

/** Longer than a camera's longest frame gap seen in WebRTC recordings (a still screen sends ~1 fps). */
const PREROLL_MS = 2000;

/** Each track on the rendered window: a track that began before it is read from the window's start. */
function placeTracks(tracks: readonly PlanTrack[], originMs: number, withVideo: boolean): PlacedTrack[] {
  return tracks.map((t) => {
    const offsetMs = Math.round(t.offsetSec * 1000);
    const seekMs = Math.max(0, originMs - offsetMs);
    return {
      prerollMs: withVideo && t.video ? Math.min(seekMs, PREROLL_MS) : 0,
      ...t,
      offsetSec: Math.max(0, offsetMs - originMs) / 1000,
      durationSec: t.durationSec - seekMs / 1000,
      seekMs,
      joinMs: offsetMs,
    };
  });
}

/** The tracks mixed: a probed length is approximate to a packet, so a track that might still reach a kept span is. */
function heardTracks(tracks: readonly PlanTrack[], placed: readonly PlacedTrack[], job: RenderJob, keep: KeptSpan[] | null): PlacedTrack[] {
  const byId = new Map(placed.map((t) => [t.id, t]));
  const heard = (t: PlanTrack) => {
    if (!t.audio || !inSpan(t, job)) return false;
    if (!keep) return true;
    const a = t.offsetSec * 1000;
    const b = a + t.durationSec * 1000 + SLACK_MS;
    return keep.some((k) => a < k.endMs && b > k.startMs);
  };
  return tracks.filter(heard).map((t) => byId.get(t.id)!);
}

function videoSegmentsOf(placed: readonly PlacedTrack[], window: RenderWindow): Segment[] {
  const total = totalFrames(window.windowMs / 1000);
  // Tile order is join order: tracks that joined before the window all start on its first frame,
  // so they are ranked by their real join time.
  const ranked = window.originMs > 0 ? [...placed].sort((a, b) => a.joinMs - b.joinMs) : placed;
  const all = segments(videoSpans(ranked, total), total);
  if (!window.cuts) return all;
  const frames = window.cuts.map((k) => ({
    startFrame: Math.round((k.startMs * FPS) / 1000),
    endFrame: Math.min(total, Math.ceil((k.endMs * FPS) / 1000 - 1e-9)),
  }));
  return keptSegments(all, frames);
}

function planInput(t: PlacedTrack): PlanInput {
  // reinit_filter 0: a mid-stream resolution change (WebRTC adapts it) must not rebuild the whole
  // graph — scale absorbs it; a rebuild would restart every segment and the mix.
  return {
    path: t.path,
    track: t.id,
    options: ["-reinit_filter", "0", ...(t.seekMs > 0 ? ["-ss", formatMs(t.seekMs - t.prerollMs)] : [])],
  };
}

/** Input index by track id. */
type InputIndex = ReadonlyMap<string, number>;

/**
 * Mono when every mixed track is (and none is split onto a channel): the stereo upmix would only
 * double the mix's and the encoder's work for the same sound in both ears.
 */
export function mixLayout(job: RenderJob, audioTracks: readonly PlanTrack[]): "mono" | "stereo" {
  const split = job.tracks.some((t) => t.channel);
  return !split && audioTracks.length > 0 && audioTracks.every((t) => t.mono) ? "mono" : "stereo";
}

function audioStreamOf(
  job: RenderJob,
  audioTracks: readonly PlacedTrack[],
  index: InputIndex,
  window: RenderWindow,
  layout: "mono" | "stereo",
): StreamGraph {
  const redactions = job.redactions ?? [];
  const sources: AudioSource[] = audioTracks.map((t) => {
    const offsetMs = Math.round(t.offsetSec * 1000);
    // The chain's clock starts where the file is read from: the track's join, or the window's start.
    const extra = audioRedactionFilters(redactions, t.id, window.originMs + offsetMs);
    const channel = job.tracks.find((j) => j.id === t.id)?.channel;
    return {
      input: index.get(t.id)!,
      offsetMs,
      prerollMs: t.prerollMs,
      ...(extra.length ? { extra } : {}),
      ...(channel ? { channel } : {}),
    };
  });
  const beeps = beepChains(redactions, window.originMs, window.windowMs, layout);
  const level = job.loudness === undefined ? undefined : { lufs: job.loudness, perChannel: job.tracks.some((t) => t.channel) };
  const extras = { generated: beeps, layout, ...(level ? { level } : {}) };
  const out = window.keep ? "akept" : "aout";
  if (!window.cuts) return audioStream(sources, window.windowMs, out, extras);
  const full = audioStream(sources, window.windowMs, "afull", extras);
  return { ...full, mix: [...full.mix, ...audioCut(window.cuts, "afull", out)], out };
}

function videoStreamOf(
  job: RenderJob,
  onCamera: readonly PlacedTrack[],
  index: InputIndex,
  videoSegments: Segment[],
  originMs: number,
  labels: ReadonlyMap<string, { path: string }>,
  talk: PlanExtras["talk"],
): StreamGraph {
  const sources: VideoSource[] = onCamera.map((t) => {
    const extra = [
      ...videoRedactionFilters(job.redactions ?? [], t.id, originMs),
      ...(job.highlight ? highlightFilters(talk?.get(t.id) ?? [], job.highlight.color) : []),
    ];
    const label = labels.get(t.id)?.path;
    return {
      id: t.id,
      input: index.get(t.id)!,
      offsetMs: Math.round(t.offsetSec * 1000) - t.prerollMs,
      ...(extra.length ? { extra } : {}),
      ...(label ? { label } : {}),
    };
  });
  return videoStream({ sources, segments: videoSegments, width: job.width, height: job.height });
}

function outputSettings(kind: RenderPlan["kind"], durationMs: number, channels: number): OutputSettings {
  const audio = { bitrate: "128k", sampleRate: SAMPLE_RATE, channels };
  if (kind === "audio") return { format: "mp3", audio: { codec: "libmp3lame", ...audio }, muxer: [], durationMs };
  return {
    format: "mp4",
    video: ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-r", String(FPS), "-g", String(FPS * 2)],
    audio: { codec: "aac", ...audio },
    muxer: ["-movflags", "+faststart", "-max_muxing_queue_size", "4096"],
    durationMs,
  };
}
