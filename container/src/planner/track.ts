// The plan of a TRACK job (source redaction): the one stored track rewritten on its own timeline,
// the redacted spans' media gone from it. Its audio is re-encoded (muted or beeped in the spans);
// its video is re-encoded only when a span blacks or blurs it, and otherwise copied bit for bit,
// frame timing and all. Pure.
import type { RenderJob } from "../../../contract/renderer.ts";
import { chainText } from "./graph.ts";
import { audioRedactionFilters, beepChains, videoRedactionFilters } from "./redact.ts";
import { resolveTracks, type PlanFiles } from "./index.ts";
import { formatMs } from "./timeline.ts";
import { SAMPLE_RATE, type FilterChain, type ProbeFacts, type RenderPlan, type StreamGraph } from "./types.ts";

/** Near-transparent VP8 (a second generation must not blur what the span left alone), at realtime speed. */
const VP8 = ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-crf", "10", "-b:v", "2M", "-auto-alt-ref", "0"];
const OPUS = { codec: "libopus", bitrate: "96k" } as const;

function audioGraph(job: RenderJob, trackId: string): StreamGraph {
  const redactions = job.redactions ?? [];
  const beeps = beepChains(redactions, 0, job.durationMs);
  const source: FilterChain = {
    ins: ["0:a"],
    filters: [`aresample=${SAMPLE_RATE}:async=1:first_pts=0`, ...audioRedactionFilters(redactions, trackId, 0)],
    outs: [beeps.length ? "amuted" : "aout"],
  };
  if (!beeps.length) return { sources: [{ ...source, input: 0 }], mix: [], out: "aout" };
  const sum = {
    ins: ["amuted", ...beeps.map((b) => b.outs[0]!)],
    filters: [`amix=inputs=${beeps.length + 1}:normalize=0:duration=first`],
    outs: ["aout"],
  };
  return { sources: [{ ...source, input: 0 }], mix: [...beeps, sum], out: "aout" };
}

/** The rewrite of the job's only track, as one ffmpeg command writing WebM (VP8/Opus). */
export function planTrackRewrite(job: RenderJob, facts: Readonly<Record<string, ProbeFacts>>, files: PlanFiles): RenderPlan {
  const warnings: string[] = [];
  const [track] = resolveTracks(job, facts, files, warnings);
  if (!track) throw new Error("planner: a TRACK job needs its track");
  const audio = track.audio ? audioGraph(job, track.id) : { sources: [], mix: [], out: "" };
  const blackOrBlur = track.video ? videoRedactionFilters(job.redactions ?? [], track.id, 0) : [];
  const video: StreamGraph | undefined = blackOrBlur.length
    ? { sources: [{ input: 0, ins: ["0:v"], filters: blackOrBlur, outs: ["vout"] }], mix: [], out: "vout" }
    : undefined;
  const chains = [...audio.sources, ...audio.mix, ...(video?.sources ?? [])];
  const args = [
    "-i",
    track.path,
    ...(chains.length ? ["-filter_complex", chains.map(chainText).join(";")] : []),
    ...(track.video ? ["-map", video ? "[vout]" : "0:v:0", ...(video ? [...VP8, "-fps_mode", "passthrough"] : ["-c:v", "copy"])] : []),
    ...(track.audio ? ["-map", "[aout]", "-c:a", OPUS.codec, "-b:a", OPUS.bitrate, "-ar", String(SAMPLE_RATE)] : []),
    "-t",
    formatMs(job.durationMs),
    "-f",
    "webm",
    files.output,
  ];
  return {
    // The graph is for engines that split a render (audio plans only); this plan runs as `args`.
    graph: {
      inputs: [{ path: track.path, track: track.id, options: [] }],
      audio,
      ...(video ? { video } : {}),
      output: { format: "webm", audio: { ...OPUS, sampleRate: SAMPLE_RATE, channels: 2 }, muxer: [], durationMs: job.durationMs },
    },
    args,
    inputs: [track.path],
    inputTracks: [track.id],
    output: files.output,
    durationSeconds: job.durationMs / 1000,
    kind: "track",
    warnings,
  };
}
