// Shared shapes of the pure planner. Times inside the planner are seconds on the recording's
// timeline, or integer frame numbers where exact arithmetic matters (segment boundaries).

import type { SpeakerPass } from "./speakers.ts";
import type { ThumbnailGrid } from "./thumbnails.ts";
import type { WorkSpan } from "./work.ts";

/** What probing a downloaded track told us (the container's own header is not trusted for length). */
export interface ProbeFacts {
  /** Real media length in seconds from the file's start, or null when nothing could be measured. */
  durationSec: number | null;
  hasAudio: boolean;
  /** Channels of the audio stream, when it has one (a mono call is mixed and encoded as mono). */
  audioChannels?: number;
  hasVideo: boolean;
  width?: number;
  height?: number;
}

/** A track as the planner uses it, after reconciling declared flags with probed facts. */
export interface PlanTrack {
  id: string;
  /** Local file the engine reads. */
  path: string;
  offsetSec: number;
  durationSec: number;
  audio: boolean;
  /** Its audio is one channel (probed). */
  mono?: boolean;
  video: boolean;
}

/** One chain of a filter graph: `[in]…filter,filter…[out]…` (labels without brackets). */
export interface FilterChain {
  ins: string[];
  filters: string[];
  outs: string[];
}

/** A chain that reads one input's stream alone, so it can run wherever that input is decoded. */
export interface SourceChain extends FilterChain {
  /** ffmpeg input index. */
  input: number;
}

/** One medium of the graph: a chain per input stream, then the chains that mix or lay them out. */
export interface StreamGraph {
  sources: SourceChain[];
  mix: FilterChain[];
  /** The label the last chain ends in (what the output maps). */
  out: string;
}

export interface PlanInput {
  path: string;
  /** The track it holds (names the track in engine errors). */
  track: string;
  /** Input options, before its `-i` (seek, reinit). */
  options: string[];
}

export interface OutputSettings {
  format: "mp3" | "mp4" | "webm";
  /** Video encoder options (MP4 only). */
  video?: string[];
  /** Absent: no audio stream (a VIDEO part of a split composition; the join muxes the mix). */
  audio?: { codec: "libmp3lame" | "aac" | "libopus"; bitrate: string; sampleRate: number; channels: number };
  /** Muxer options. */
  muxer: string[];
  /** Length of the output (ffmpeg's -t), in ms. */
  durationMs: number;
}

/**
 * What the planner decided, as data: read by the single command (graph.ts) and by the process
 * pipeline of long AUDIO renders (engines/pipeline-spec.ts) alike.
 */
export interface RenderGraph {
  inputs: PlanInput[];
  audio: StreamGraph;
  video?: StreamGraph;
  output: OutputSettings;
  /** Extra raw outputs of audio source chains, written while the render decodes them. */
  taps?: Tap[];
  /** The thumbnail sprite's frames, taken from a copy of the video's frames before they are encoded. */
  sprite?: RenderSprite;
  /** The mix's samples as raw s16le in the output's channels, beside the output (the waveform's). */
  mixTap?: string;
}

export interface RenderSprite {
  grid: ThumbnailGrid;
  /** Raw yuv420p frames of grid.width × grid.height, one per cell. */
  frames: string;
}

/**
 * A copy of one audio source chain's output, further filtered and written as raw samples beside
 * the render (the speaker pass's levels): the track is decoded once for both.
 */
export interface Tap {
  /** Index into `audio.sources`. */
  source: number;
  filters: string[];
  format: "s16le";
  file: string;
}

export interface RenderPlan {
  graph: RenderGraph;
  /**
   * The single ffmpeg command of `graph` (inputs, graph, maps, codecs, output), without engine
   * flags: what an engine running one ffmpeg runs.
   */
  args: string[];
  /** Files the args read, in input order (an engine with its own FS copies them in). */
  inputs: string[];
  /** Input index → track id, so engine errors mentioning `#k:` or a path can name the track. */
  inputTracks: string[];
  output: string;
  /** Output length in seconds: the recording span, or the sum of the kept spans; a mix's progress is measured against it. */
  durationSeconds: number;
  /** How the render's work spreads over the output (a grid's cameras); absent: evenly. */
  work?: WorkSpan[];
  /** track: a stored track rewritten (source redaction), not a composition. */
  kind: "audio" | "video" | "track";
  /** Small text files the graph reads (tile labels), written before it runs. */
  textFiles?: { path: string; text: string }[];
  /** The speaker pass of a composition (timeline.json, speakers.vtt, metrics); absent without audio. */
  speakers?: SpeakerPass;
  warnings: string[];
}

/** Constant output frame rate: 25 fps makes every frame exactly 40 ms, so boundaries stay integral. */
export const FPS = 25;
export const SAMPLE_RATE = 48_000;
