// The structured render graph as ffmpeg arguments: filter chains as filtergraph text, and the
// single command of a plan. Pure.
import { formatMs } from "./timeline.ts";
import type { FilterChain, OutputSettings, RenderGraph, StreamGraph } from "./types.ts";

/** Linux refuses single arguments above 128 KiB; bigger graphs go through a script file. */
export const MAX_INLINE_GRAPH = 64 * 1024;

const labels = (names: readonly string[]) => names.map((l) => `[${l}]`).join("");

export function chainText(c: FilterChain): string {
  return `${labels(c.ins)}${c.filters.join(",")}${labels(c.outs)}`;
}

/** A medium's chains in graph order: its sources, then its mix. */
export function streamChains(s: StreamGraph): FilterChain[] {
  return [...s.sources, ...s.mix];
}

/** The whole filtergraph: the audio, then the video. */
export function graphText(g: RenderGraph): string {
  return [...streamChains(g.audio), ...(g.video ? streamChains(g.video) : [])].map(chainText).join(";");
}

/** `-filter_complex <text>`, or `-filter_complex_script <path>` when the text is in a file. */
export function filterArgs(text: string, scriptPath?: string): string[] {
  return scriptPath ? ["-filter_complex_script", scriptPath] : ["-filter_complex", text];
}

function audioEncoderArgs(a: OutputSettings["audio"]): string[] {
  return ["-c:a", a.codec, "-b:a", a.bitrate, "-ar", String(a.sampleRate), "-ac", String(a.channels)];
}

/** Encoder and muxer options, the length (unless `untimed`), the format and the path. */
export function outputArgs(o: OutputSettings, path: string, untimed = false): string[] {
  return [
    ...(o.video ?? []),
    ...audioEncoderArgs(o.audio),
    ...o.muxer,
    ...(untimed ? [] : ["-t", formatMs(o.durationMs)]),
    "-f",
    o.format,
    path,
  ];
}

/** The single ffmpeg command of the graph; `graphScript` names the file holding graphText. */
export function commandArgs(g: RenderGraph, output: string, graphScript?: string): string[] {
  const maps = [...(g.video ? [g.video.out] : []), g.audio.out].flatMap((l) => ["-map", `[${l}]`]);
  return [
    ...g.inputs.flatMap((i) => [...i.options, "-i", i.path]),
    ...filterArgs(graphText(g), graphScript),
    ...maps,
    ...outputArgs(g.output, output),
  ];
}
