// The structured render graph as ffmpeg arguments: filter chains as filtergraph text, and the
// single command of a plan. Pure.
import { thumbnailFrameFilters, thumbnailFramesArgs } from "./thumbnails.ts";
import { formatMs } from "./timeline.ts";
import type { FilterChain, OutputSettings, RenderGraph, StreamGraph, Tap } from "./types.ts";

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

export const tapLabel = (k: number) => `tap${k}`;

/**
 * The audio chains with the graph's taps: a tapped source chain ends in asplit, its second copy
 * going through the tap's filters to the label tapLabel(k).
 */
function tappedAudio(g: RenderGraph): FilterChain[] {
  const taps = g.taps ?? [];
  const sources = g.audio.sources.map((s, i) => {
    const k = taps.findIndex((t) => t.source === i);
    return k < 0 ? s : { ...s, filters: [...s.filters, "asplit=2"], outs: [...s.outs, `${tapLabel(k)}in`] };
  });
  const tapChains = taps.map((t, k) => ({ ins: [`${tapLabel(k)}in`], filters: t.filters, outs: [tapLabel(k)] }));
  return [...sources, ...tapChains, ...g.audio.mix];
}

const SPRITE = "sprite";
/** The label the encoder reads: the video's own out, or its first copy when the sprite takes another. */
const encodedVideo = (g: RenderGraph) => (g.sprite ? `${g.video?.out}main` : g.video?.out);

/** The video chains, the thumbnails' copy of the finished frames among them. */
function videoChains(g: RenderGraph): FilterChain[] {
  if (!g.video) return [];
  if (!g.sprite) return streamChains(g.video);
  return [
    ...streamChains(g.video),
    { ins: [g.video.out], filters: ["split=2"], outs: [encodedVideo(g)!, `${SPRITE}in`] },
    { ins: [`${SPRITE}in`], filters: thumbnailFrameFilters(g.sprite.grid), outs: [SPRITE] },
  ];
}

const MIX_TAP = "mixtap";
/** The label the audio encoder reads: the mix's own out, or its first copy when the mix tap takes another. */
export const encodedAudio = (g: RenderGraph) => (g.mixTap ? `${g.audio.out}main` : g.audio.out);

/** The mix's copy for the waveform: the finished mix split before it is encoded, when the graph taps it. */
export function mixTapChains(g: RenderGraph): FilterChain[] {
  return g.mixTap ? [{ ins: [g.audio.out], filters: ["asplit=2"], outs: [encodedAudio(g), MIX_TAP] }] : [];
}

/** The mix tap's output: the output's rate and channels as raw s16le, what the waveform meter reads. */
export function mixTapOutputArgs(g: RenderGraph): string[] {
  const a = g.output.audio;
  if (!g.mixTap || !a) return [];
  return ["-map", `[${MIX_TAP}]`, "-c:a", "pcm_s16le", "-ar", String(a.sampleRate), "-ac", String(a.channels), "-f", "s16le", g.mixTap];
}

/** The whole filtergraph: the audio (with its taps), then the video (with the thumbnails' copy). */
export function graphText(g: RenderGraph): string {
  return [...tappedAudio(g), ...mixTapChains(g), ...videoChains(g)].map(chainText).join(";");
}

/** Each tap's output: its label (tapLabel of its place in `taps`) mapped to its raw file. */
export function tapOutputArgs(taps: readonly Tap[] | undefined): string[] {
  return (taps ?? []).flatMap((t, k) => ["-map", `[${tapLabel(k)}]`, "-f", t.format, t.file]);
}

/** `-filter_complex <text>`, or `-filter_complex_script <path>` when the text is in a file. */
export function filterArgs(text: string, scriptPath?: string): string[] {
  return scriptPath ? ["-filter_complex_script", scriptPath] : ["-filter_complex", text];
}

function audioEncoderArgs(a: OutputSettings["audio"]): string[] {
  if (!a) return ["-an"];
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
  const outs = [...(g.video ? [encodedVideo(g)!] : []), ...(g.output.audio ? [encodedAudio(g)] : [])];
  const maps = outs.flatMap((l) => ["-map", `[${l}]`]);
  return [
    ...g.inputs.flatMap((i) => [...i.options, "-i", i.path]),
    ...filterArgs(graphText(g), graphScript),
    ...maps,
    ...outputArgs(g.output, output),
    ...tapOutputArgs(g.taps),
    ...mixTapOutputArgs(g),
    ...(g.sprite && g.video ? thumbnailFramesArgs(SPRITE, g.sprite.frames) : []),
  ];
}
