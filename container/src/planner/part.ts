// A plan cut down to its part of a composition split over several renderers (fan-out). Pure.
//  - A VIDEO part is the grid of its window alone: no audio (the mix is made once, by the AUDIO
//    part, and muxed at the join: AAC cut at every join would prime and pad at each) and no
//    faststart (the join writes the one index). Its first frame is a keyframe, as any x264 output's.
//  - The AUDIO part is the whole mix alone, AAC in MP4, with the speaker pass of the whole call.
import type { RenderPart } from "../../../contract/renderer.ts";
import { commandArgs } from "./graph.ts";
import { formatMs } from "./timeline.ts";
import { SAMPLE_RATE, type RenderPlan } from "./types.ts";

const withoutFaststart = (muxer: readonly string[]) => {
  const at = muxer.indexOf("+faststart");
  return at > 0 && muxer[at - 1] === "-movflags" ? [...muxer.slice(0, at - 1), ...muxer.slice(at + 1)] : [...muxer];
};

export function planPart(plan: RenderPlan, part: RenderPart | undefined): RenderPlan {
  if (!part || part.kind === "JOIN") return plan;
  const { graph } = plan;
  const output = { ...graph.output, muxer: withoutFaststart(graph.output.muxer) };
  if (part.kind === "VIDEO") {
    const { audio: _dropped, ...video } = output;
    const cut = { ...graph, audio: { sources: [], mix: [], out: "" }, output: video };
    const { speakers: _unused, ...rest } = plan;
    return { ...rest, graph: cut, args: commandArgs(cut, plan.output) };
  }
  const { video: _codec, ...audioOnly } = output;
  const { video: _grid, ...mix } = graph;
  const cut = { ...mix, output: audioOnly };
  const { work: _gridWork, ...evenly } = plan;
  return { ...evenly, graph: cut, args: commandArgs(cut, plan.output), textFiles: [] };
}

/** The parts of a split composition, downloaded: the VIDEO parts in time order, and the AUDIO part. */
export interface JoinInputs {
  video: string[];
  audio?: { path: string; channels: number };
  /** The concat demuxer's list, written before the join runs. */
  list: string;
}

/**
 * The join: the VIDEO parts concatenated by the concat demuxer (each part's timestamps follow on
 * from the last, frame after frame), the mix muxed beside them, every stream copied, and the one
 * index moved to the front (+faststart) so it plays and seeks in a browser at once.
 */
export function planJoin(outputMs: number, parts: JoinInputs, output: string): RenderPlan {
  const audio = parts.audio;
  const args = [
    ...["-f", "concat", "-safe", "0", "-i", parts.list],
    ...(audio ? ["-i", audio.path] : []),
    ...["-map", "0:v", ...(audio ? ["-map", "1:a"] : []), "-c", "copy"],
    ...["-movflags", "+faststart", "-t", formatMs(outputMs), "-f", "mp4", output],
  ];
  const list = parts.video.map((p) => `file '${p.replace(/'/g, "'\\''")}'`).join("\n");
  return {
    graph: {
      inputs: [],
      audio: { sources: [], mix: [], out: "" },
      output: {
        format: "mp4",
        muxer: [],
        durationMs: outputMs,
        ...(audio ? { audio: { codec: "aac", bitrate: "128k", sampleRate: SAMPLE_RATE, channels: audio.channels } } : {}),
      },
    },
    args,
    inputs: [...parts.video, ...(audio ? [audio.path] : [])],
    inputTracks: [],
    output,
    durationSeconds: outputMs / 1000,
    kind: "video",
    textFiles: [{ path: parts.list, text: `ffconcat version 1.0\n${list}\n` }],
    warnings: [],
  };
}
