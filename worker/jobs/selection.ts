import type { RecordingRow, TrackRow } from "../db/schema";
import { problem } from "../http/problem";
import type { RedactionSpan } from "../schemas/compliance";
import type { Channel } from "./channels";

/** Beyond the seed: which sources a composition uses and which part of the call it covers. */
export interface CompositionOptions {
  audioSources?: string[];
  audioSourcesExcluded?: string[];
  videoSources?: string[];
  videoSourcesExcluded?: string[];
  /** Drop the spans where no selected source has media. */
  trim?: boolean;
  /** Window of the call to keep, in seconds from the recording's start. */
  from?: number;
  to?: number;
  /** Spans redacted in this composition only (compliance). */
  redactions?: RedactionSpan[];
  /** QA stereo (analytics): see channels.ts. */
  audioChannels?: "MIXED" | "STEREO_SPLIT";
  agentChannel?: Channel;
  channelMap?: Record<string, Channel>;
  /** VIDEO tile labels (default on). */
  labels?: boolean;
  /** VIDEO: the talking participant's tile framed (default on), in this colour. */
  highlightSpeaker?: boolean;
  highlightColor?: string;
  /** Loudness target in LUFS. */
  loudness?: number;
}

export interface Span {
  startMs: number;
  endMs: number;
}

export interface Selection {
  audio: TrackRow[];
  video: TrackRow[];
  /** Spans of the recording's timeline (ms from its start) the output is made of, in order. */
  keep: Span[] | null;
  durationMs: number;
}

/** `*` matches any run of characters; a pattern names a participantId or a track id. */
function matcher(patterns: string[] | undefined): ((t: TrackRow) => boolean) | null {
  if (!patterns) return null;
  const res = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .split("*")
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
          .join(".*")}$`,
      ),
  );
  return (t) => res.some((re) => re.test(t.participantId) || re.test(t.id));
}

function pick(tracks: TrackRow[], include?: string[], exclude?: string[]): TrackRow[] {
  const inc = matcher(include);
  const exc = matcher(exclude);
  // Exclusion wins over inclusion.
  return tracks.filter((t) => (inc ? inc(t) : true) && !(exc && exc(t)));
}

function union(spans: Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => a.startMs - b.startMs);
  const out: Span[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.startMs <= last.endMs) last.endMs = Math.max(last.endMs, s.endMs);
    else out.push({ ...s });
  }
  return out;
}

export function hasSelection(o: CompositionOptions): boolean {
  return Object.values(o).some((v) => v !== undefined);
}

/**
 * Resolves the options against a recording. Refuses (409) a selection that leaves nothing to
 * compose, and (400) a window outside the call.
 */
export function select(recording: RecordingRow, tracks: TrackRow[], type: "AUDIO" | "VIDEO", o: CompositionOptions): Selection {
  const spanMs = recording.stopped - recording.started;
  const audio = pick(
    tracks.filter((t) => t.audio),
    o.audioSources,
    o.audioSourcesExcluded,
  );
  const video =
    type === "VIDEO"
      ? pick(
          tracks.filter((t) => t.video),
          o.videoSources,
          o.videoSourcesExcluded,
        )
      : [];
  if (type === "AUDIO" && audio.length === 0) throw problem.conflict("The source selection leaves no audio track to compose.");
  if (type === "VIDEO" && video.length === 0) throw problem.conflict("The source selection leaves no video track to compose.");

  const fromMs = Math.round((o.from ?? 0) * 1000);
  const toMs = o.to === undefined ? spanMs : Math.round(o.to * 1000);
  if (fromMs >= spanMs)
    throw problem.badRequest(`from must be before the end of the call (${spanMs / 1000} s).`, [
      { field: "body.from", message: "is past the end of the recording" },
    ]);
  if (toMs <= fromMs) throw problem.badRequest("to must be after from.", [{ field: "body.to", message: "must be greater than from" }]);
  const window: Span = { startMs: fromMs, endMs: Math.min(toMs, spanMs) };

  let keep: Span[] = [window];
  if (o.trim) {
    const present = union(
      [...audio, ...video].map((t) => ({
        startMs: t.started - recording.started,
        endMs: (t.stopped ?? recording.stopped) - recording.started,
      })),
    );
    keep = present
      .map((s) => ({ startMs: Math.max(s.startMs, window.startMs), endMs: Math.min(s.endMs, window.endMs) }))
      .filter((s) => s.endMs > s.startMs);
    if (keep.length === 0) throw problem.conflict("No selected source has media inside the requested window.");
  }
  const whole = keep.length === 1 && keep[0]!.startMs === 0 && keep[0]!.endMs === spanMs;
  return {
    audio,
    video,
    keep: whole ? null : keep,
    durationMs: keep.reduce((sum, s) => sum + s.endMs - s.startMs, 0),
  };
}

export function parseOptions(json: string | null): CompositionOptions {
  return json ? (JSON.parse(json) as CompositionOptions) : {};
}
