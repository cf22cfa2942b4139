// Shared shapes of the pure planner. Times inside the planner are seconds on the recording's
// timeline, or integer frame numbers where exact arithmetic matters (segment boundaries).

/** What probing a downloaded track told us (the container's own header is not trusted for length). */
export interface ProbeFacts {
  /** Real media length in seconds from the file's start, or null when nothing could be measured. */
  durationSec: number | null;
  hasAudio: boolean;
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
  video: boolean;
}

export interface RenderPlan {
  /** Full ffmpeg argument list (inputs, graph, maps, codecs, output), without engine flags. */
  args: string[];
  /** Files the args read, in input order (an engine with its own FS copies them in). */
  inputs: string[];
  /** Input index → track id, so engine errors mentioning `#k:` or a path can name the track. */
  inputTracks: string[];
  output: string;
  /** Output length in seconds = the recording span; progress is measured against it. */
  durationSeconds: number;
  kind: "audio" | "video";
  warnings: string[];
}

/** Constant output frame rate: 25 fps makes every frame exactly 40 ms, so boundaries stay integral. */
export const FPS = 25;
export const SAMPLE_RATE = 48_000;
