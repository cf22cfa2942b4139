// The wire contract between the Worker (dispatcher) and the renderer service: every body either side
// sends, as zod schemas with their inferred types, and both sides' URL schemes (contract/paths.ts).
// The Worker, the renderer and every fake of either import this and validate against it. It runs
// in workerd and in Node, so it imports nothing but zod. The renderer never sees D1 or any
// credential beyond one job's token.
import { z } from "zod";

import { FORMAT_NAMES, FORMATS } from "./formats.ts";

export * from "./formats.ts";
export * from "./paths.ts";

/** Heartbeat cadence the renderer keeps; the Worker's lease must be several times longer. */
export const HEARTBEAT_SECONDS = 5;

/**
 * When an ETA has moved far enough from the one shown (counted down since it was sent or written)
 * to be sent again by the renderer and rewritten by the Worker, at most every ETA_MIN_GAP_MS: both
 * sides use this one rule, so an estimate sent is an estimate written (goal: within 20 %; a short
 * job's whole ETA is 2–3 s, so the floor is well under a second).
 */
export function etaStrayed(shownSeconds: number, estimateSeconds: number): boolean {
  return Math.abs(estimateSeconds - shownSeconds) > Math.max(0.4, 0.2 * shownSeconds);
}
export const ETA_MIN_GAP_MS = 500;

// Not URL.canParse: the Worker's type library (workers-types, oldest entry point) lacks it.
const parsesAsUrl = (u: string) => {
  try {
    return Boolean(new URL(u));
  } catch {
    return false;
  }
};
const httpUrl = z.string().refine((u) => /^https?:\/\//i.test(u) && parsesAsUrl(u), "must be an http(s) URL");

const RenderTrackSchema = z.object({
  /** Track id within the recording (names the track in error messages). */
  id: z.string().min(1).max(200),
  participantId: z.string().max(200),
  /** Range-readable URL of the track's media; GET with `Authorization: Bearer <callback.token>`. */
  url: httpUrl,
  /** Where the track starts on the recording's timeline, in milliseconds (>= 0). */
  offsetMs: z.number().finite().min(0),
  /** Declared length from the recording metadata (stopped - started), when known. */
  durationMs: z.number().finite().min(0).optional(),
  audio: z.boolean(),
  video: z.boolean(),
  /** Stored size in bytes, for engine choice and progress. */
  size: z.number().int().min(0),
  /** Beyond the seed (analytics): who it is (resolved by the Worker: AGENT by agentId) and the name shown for them. */
  role: z.enum(["AGENT", "CUSTOMER", "SUPERVISOR", "OTHER"]).optional(),
  displayName: z.string().max(64).optional(),
  /** Beyond the seed (QA stereo): the output channel this track's audio is mixed on, alone; absent = both. */
  channel: z.enum(["LEFT", "RIGHT"]).optional(),
});

/** Conversation metrics of a composition's speaker timeline (seconds, ms precision). */
export const ConversationMetricsSchema = z.object({
  talkSeconds: z.record(z.string(), z.number().min(0)),
  /** Agent-side (AGENT, SUPERVISOR) talk ÷ all talk; null when nobody talks. */
  talkRatio: z.number().min(0).max(1).nullable(),
  overtalkSeconds: z.number().min(0),
  overtalkCount: z.number().int().min(0),
  silenceSeconds: z.number().min(0),
  longestSilenceSeconds: z.number().min(0),
  longestMonologueSeconds: z.number().min(0),
  longestMonologueBy: z.string().nullable(),
});
export type ConversationMetrics = z.infer<typeof ConversationMetricsSchema>;

const KeptSpanSchema = z
  .object({ startMs: z.number().finite().min(0), endMs: z.number().finite().gt(0) })
  .refine((k) => k.endMs > k.startMs, "endMs must be after startMs");

/** What a redaction does to a track's audio and to its tile. */
export const REDACT_AUDIO = ["SILENCE", "BEEP"] as const;
export const REDACT_VIDEO = ["BLACK", "BLUR", "NONE"] as const;

/** A span of the recording's timeline whose media of `tracks` is suppressed in the output. */
const RedactionSchema = z
  .object({
    startMs: z.number().finite().min(0),
    endMs: z.number().finite().gt(0),
    /** Track ids (the Worker resolves the participants). */
    tracks: z.array(z.string().min(1).max(200)).min(1).max(256),
    audio: z.enum(REDACT_AUDIO),
    video: z.enum(REDACT_VIDEO),
  })
  .refine((r) => r.endMs > r.startMs, "endMs must be after startMs");
export type Redaction = z.infer<typeof RedactionSchema>;

/** Worker → renderer (POST /jobs). A bad job is the dispatcher's bug: refused loudly (400), never half-rendered. */
export const RenderJobSchema = z
  .object({
    /** The composition id. */
    jobId: z.string().min(1).max(200),
    /** Increments on every claim: reports carry it back so stale attempts are refused. */
    attempt: z.number().int().min(0),
    /** TRACK: the job's one track rewritten on its own timeline with its redactions (source redaction). */
    type: z.enum(["AUDIO", "VIDEO", "TRACK"]),
    format: z.enum(FORMAT_NAMES),
    /** Output frame size for VIDEO; ignored for AUDIO. */
    width: z.number().int().min(0).max(7680),
    height: z.number().int().min(0).max(4320),
    /** Length of the recording's timeline in milliseconds: the output's length unless `keep` trims it. */
    durationMs: z
      .number()
      .finite()
      .gt(0)
      .max(24 * 3600 * 1000),
    tracks: z.array(RenderTrackSchema).max(256),
    /**
     * Beyond the seed (trimming): spans of the recording's timeline, in ms from its start, in time
     * order and not overlapping; the output is their concatenation (output length = the sum). Absent
     * = the whole span. For VIDEO the bounds are widened to the 40 ms frame grid.
     */
    keep: z.array(KeptSpanSchema).min(1).max(1000).optional(),
    /** Beyond the seed (VIDEO): each tile labelled with its participant's displayName, else their role in words. */
    labels: z.boolean().optional(),
    /** Beyond the seed (VIDEO): the tile of whoever is talking framed in this colour, from the speaker timeline. */
    highlight: z.object({ color: z.string().regex(/^#[0-9A-Fa-f]{6}$/) }).optional(),
    /** Beyond the seed (QA audio): the mix (each channel of a split) levelled to this integrated loudness, LUFS. */
    loudness: z.number().min(-30).max(-10).optional(),
    /** Beyond the seed (compliance): spans silenced/beeped and blacked/blurred for the named tracks. */
    redactions: z.array(RedactionSchema).max(100).optional(),
    /**
     * Beyond the seed (fan-out): one unit of a composition split over several renderers. VIDEO: the
     * grid of the output window its `keep` spans make, video only (the join muxes the audio); AUDIO: the whole mix
     * alone, AAC in MP4, with the speaker pass; JOIN: the parts stream-copied into the output.
     */
    part: z
      .discriminatedUnion("kind", [
        z.object({ kind: z.literal("VIDEO"), index: z.number().int().min(0), count: z.number().int().min(1) }),
        z.object({ kind: z.literal("AUDIO") }),
        z.object({
          kind: z.literal("JOIN"),
          /** The VIDEO parts in time order (GET each with the job's token). */
          video: z.array(httpUrl).min(1).max(1000),
          /** The AUDIO part: the mix, muxed beside them. */
          audio: httpUrl.optional(),
        }),
      ])
      .optional(),
    output: z.object({
      /** PUT the whole file here (Content-Length required), or use multipart below for large files. */
      url: httpUrl,
      contentType: z.string().min(1),
      /** POST → {uploadId}; PUT a part → {partNumber, etag}; POST complete with {parts} (see multipartUploadUrls). */
      multipartUrl: httpUrl,
    }),
    callback: z.object({
      /** POST RenderReport JSON here with `Authorization: Bearer <token>`. */
      url: httpUrl,
      token: z.string().min(1),
    }),
  })
  .superRefine((job, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    if (FORMATS[job.format].type !== job.type) issue(["format"], "AUDIO renders MP3, VIDEO renders MP4 and TRACK renders WEBM");
    if (job.part && job.type !== "VIDEO") issue(["part"], "only a VIDEO composition is split into parts");
    if (job.part?.kind === "VIDEO" && !job.keep) issue(["keep"], "a VIDEO part renders the window its keep names");
    if (job.type === "TRACK" && job.tracks.length !== 1) issue(["tracks"], "a TRACK job rewrites exactly one track");
    if (job.type === "VIDEO") {
      for (const k of ["width", "height"] as const) {
        if (job[k] < 16 || job[k] % 2 !== 0) issue([k], "must be an even number ≥ 16");
      }
    }
    job.keep?.forEach((k, i) => {
      if (k.startMs >= job.durationMs) issue(["keep", i, "startMs"], "must be before durationMs");
      const prev = job.keep![i - 1];
      if (prev && k.startMs < prev.endMs) issue(["keep", i, "startMs"], "spans must be in time order and not overlap");
    });
    const ids = new Set<string>();
    job.tracks.forEach((t, i) => {
      if (ids.has(t.id)) issue(["tracks", i, "id"], "duplicate track id");
      ids.add(t.id);
    });
    job.redactions?.forEach((r, i) =>
      r.tracks.forEach((id, j) => {
        if (!ids.has(id)) issue(["redactions", i, "tracks", j], "names no track of the job");
      }),
    );
  });

export type RenderJob = z.infer<typeof RenderJobSchema>;
export type RenderPart = NonNullable<RenderJob["part"]>;

type ParseResult = { ok: true; job: RenderJob } | { ok: false; errors: string[] };

/** A refusal's issues, each naming its field by path: `tracks.1.id: duplicate track id`. */
export function issueMessages(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
}

/** Parses a RenderJob; the renderer answers 400 with the errors. */
export function parseRenderJob(body: unknown): ParseResult {
  const r = RenderJobSchema.safeParse(body);
  if (r.success) return { ok: true, job: r.data };
  return { ok: false, errors: issueMessages(r.error) };
}

/** Renderer → Worker (callback.url). `progress` doubles as the heartbeat that keeps the lease. */
export const RenderReportSchema = z.discriminatedUnion("event", [
  z.object({
    event: z.literal("progress"),
    attempt: z.number().int(),
    progress: z.number().min(0).max(100),
    etaSeconds: z.number().min(0).optional(),
  }),
  z.object({
    event: z.literal("completed"),
    attempt: z.number().int(),
    durationMs: z.number().min(0),
    size: z.number().int().min(0),
    warnings: z.array(z.string().max(2000)).max(100).optional(),
    engine: z.enum(["native", "wasm"]),
    /** Beyond the seed (analytics): from the speaker pass, when it ran. */
    metrics: ConversationMetricsSchema.optional(),
  }),
  z.object({
    event: z.literal("failed"),
    attempt: z.number().int(),
    error: z.string().max(4000),
    retryable: z.boolean(),
    /** A stopping renderer returns the job unfinished (not its fault): requeued without counting the attempt. */
    handedBack: z.boolean().optional(),
  }),
]);
export type RenderReport = z.infer<typeof RenderReportSchema>;

/** Renderer → Worker: the answer to POST /jobs. */
export const StartJobResponseSchema = z.object({
  accepted: z.boolean(),
  /** Present when not accepted. */
  reason: z.enum(["busy", "duplicate", "shutting-down"]).optional(),
});
export type StartJobResponse = z.infer<typeof StartJobResponseSchema>;

/** Renderer: the answer to GET /health. */
export const RendererHealthSchema = z.object({
  ok: z.literal(true),
  engines: z.object({ native: z.boolean(), wasm: z.boolean() }),
  slots: z.number().int().min(0),
  running: z.array(z.string()),
});
export type RendererHealth = z.infer<typeof RendererHealthSchema>;

/** Worker → renderer: the answer to POST multipartUrl. */
export const MultipartCreatedSchema = z.object({ uploadId: z.string().min(1) });
export type MultipartCreated = z.infer<typeof MultipartCreatedSchema>;

/** Worker → renderer: the answer to PUT of one part (the etag goes back in the completion). */
export const MultipartPartSchema = z.object({ partNumber: z.number().int().min(1).max(10000), etag: z.string() });
export type MultipartPart = z.infer<typeof MultipartPartSchema>;

/** Renderer → Worker: the body of POST …/complete. */
export const MultipartCompleteSchema = z.object({ parts: z.array(MultipartPartSchema).min(1) });
export type MultipartComplete = z.infer<typeof MultipartCompleteSchema>;
