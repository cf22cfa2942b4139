// The wire contract between the Worker (dispatcher) and the renderer service.
// Both sides import these types; the renderer never sees D1 or any credential beyond one job's token.

export type CompositionType = "AUDIO" | "VIDEO";
export type OutputFormat = "MP3" | "MP4";

export interface RenderTrack {
  /** Track id within the recording (names the track in error messages). */
  id: string;
  participantId: string;
  /** Range-readable URL of the track's media; GET with `Authorization: Bearer <callback.token>`. */
  url: string;
  /** Where the track starts on the recording's timeline, in milliseconds (>= 0). */
  offsetMs: number;
  /** Declared length from the recording metadata (stopped - started), when known. */
  durationMs?: number;
  audio: boolean;
  video: boolean;
  /** Stored size in bytes, for engine choice and progress. */
  size: number;
}

export interface RenderJob {
  /** The composition id. */
  jobId: string;
  /** Increments on every claim: reports carry it back so stale attempts are refused. */
  attempt: number;
  type: CompositionType;
  format: OutputFormat;
  /** Output frame size for VIDEO; ignored for AUDIO. */
  width: number;
  height: number;
  /** Length of the output = the recording's span, in milliseconds. */
  durationMs: number;
  tracks: RenderTrack[];
  /**
   * Beyond the seed (trimming): spans of the recording's timeline, in ms from its start, in time
   * order and not overlapping; the output is their concatenation (output length = the sum). Absent
   * = the whole span. For VIDEO the bounds are widened to the 40 ms frame grid.
   */
  keep?: { startMs: number; endMs: number }[];
  output: {
    /** PUT the whole file here (Content-Length required), or use multipart below for large files. */
    url: string;
    contentType: string;
    /** POST → {uploadId}; PUT `${multipartUrl}/{uploadId}/{partNumber}`; POST `${multipartUrl}/{uploadId}/complete` with {parts}. */
    multipartUrl: string;
  };
  callback: {
    /** POST RenderReport JSON here with `Authorization: Bearer <token>`. */
    url: string;
    token: string;
  };
}

/** Renderer → Worker. `progress` doubles as the heartbeat that keeps the lease. */
export type RenderReport =
  | { event: "progress"; attempt: number; progress: number; etaSeconds?: number }
  | {
      event: "completed";
      attempt: number;
      durationMs: number;
      size: number;
      warnings?: string[];
      engine: "native" | "wasm";
    }
  /**
   * `handedBack`: a stopping renderer returns the job unfinished (not its fault): the Worker requeues
   * it without counting the attempt.
   */
  | { event: "failed"; attempt: number; error: string; retryable: boolean; handedBack?: boolean };

/** POST /jobs answers. */
export interface StartJobResponse {
  accepted: boolean;
  /** Present when not accepted. */
  reason?: "busy" | "duplicate" | "shutting-down";
}

export interface RendererHealth {
  ok: true;
  engines: { native: boolean; wasm: boolean };
  slots: number;
  running: string[];
}

/** The renderer's HTTP surface (paths relative to its base URL). */
export const RENDERER_PATHS = {
  jobs: "/jobs",
  job: (jobId: string) => `/jobs/${encodeURIComponent(jobId)}`,
  health: "/health",
} as const;

/** Heartbeat cadence the renderer keeps; the Worker's lease must be several times longer. */
export const HEARTBEAT_SECONDS = 5;
