// The process pipeline of a long AUDIO render, read from the plan's render graph (pure, so
// unit-testable): each input's source chain runs in that input's decoder, the mix in the mixer,
// then the encoder(s). parallel-audio.ts explains the shape and runs it.
import {
  chainText,
  encodedAudio,
  filterArgs,
  MAX_INLINE_GRAPH,
  mixTapChains,
  mixTapOutputArgs,
  outputArgs,
  tapLabel,
  tapOutputArgs,
} from "../planner/graph.ts";
import type { FilterChain, PlanInput, RenderPlan, SourceChain, StreamGraph, Tap } from "../planner/types.ts";
import type { ChunkLayout, Window, WindowFiles } from "./chunked-mp3.ts";
import { FFMPEG_BASE_ARGS, PROGRESS_ARGS } from "./ffmpeg-runner.ts";

/** Samples per packet between processes: one second keeps the mixer's thread hand-offs rare. */
const PACKET_SAMPLES = 48_000;

export interface PipelineSpec {
  decoders: string[][];
  mixer: string[];
  encoder: string[];
  /**
   * When the mix is cut in time (more than one window): the mixer writes each window to its own
   * file and `encoder` is unused; each window's encoder reads that file into its part.
   */
  windows: WindowFiles[];
  rate: number;
  /** Graph scripts to write before starting (path → content), for graphs too long for argv. */
  scripts: Map<string, string>;
}

/** What the mixer and the encoders need to know of the plan. */
interface Context {
  plan: RenderPlan;
  /** The mix with its inputs renamed to the decoders' pipes. */
  mix: FilterChain[];
  /** Raw samples as they travel between processes. */
  raw: string[];
  /** The filter arguments of a process's graph, through a script when too long. */
  graphArgs(chains: readonly FilterChain[], name: string): string[];
}

/** The process pipeline for an audio plan, or a reason why it cannot be split. */
export function pipelineFor(plan: RenderPlan, layout?: ChunkLayout): PipelineSpec | string {
  const unfit = unsplittable(plan);
  if (unfit) return unfit;
  const { inputs, audio, output } = plan.graph;
  const scripts = new Map<string, string>();
  const graphArgs = (chains: readonly FilterChain[], name: string) => {
    const text = chains.map(chainText).join(";");
    if (text.length <= MAX_INLINE_GRAPH) return filterArgs(text);
    const path = `${plan.output}.${name}.graph.txt`;
    scripts.set(path, text);
    return filterArgs(text, path);
  };
  // unsplittable refused a plan without an MP3 stream.
  const rate = String(output.audio!.sampleRate);
  const raw = ["-ar", rate, "-ac", String(output.audio!.channels)];
  const decoders = audio.sources.map((s, j) => {
    const tap = plan.graph.taps?.find((t) => t.source === j);
    return decoderArgs(inputs[s.input]!, graphArgs(decoderChains(s, tap), `dec${j}`), tap);
  });
  // The mix tap (the waveform's samples) is the mixer's: it splits the finished mix like the single command.
  const ctx: Context = { plan, mix: [...mixFromPipes(audio), ...mixTapChains(plan.graph)], raw, graphArgs };
  const cut = layout && layout.windows.length > 1 ? layout.windows : undefined;
  const { mixer, windows } = cut ? windowed(ctx, cut) : { mixer: mixerToEncoder(ctx), windows: [] };
  // The single encoder reads the mixer's stdout.
  const encoder = [...FFMPEG_BASE_ARGS, ...PROGRESS_ARGS, "-f", "f32le", ...raw, "-i", "pipe:0", ...outputArgs(output, plan.output)];
  return { decoders, mixer, encoder, windows, rate: Number(rate), scripts };
}

/** Why the plan's graph cannot be run as decoders → mixer → encoder, or undefined. */
function unsplittable(plan: RenderPlan): string | undefined {
  const { inputs, audio, video, output } = plan.graph;
  if (plan.kind !== "audio" || video) return "not an audio plan";
  if (output.format !== "mp3" || output.audio?.codec !== "libmp3lame") return "not an MP3 output";
  if (inputs.length < 1) return "no inputs";
  if (audio.sources.length !== inputs.length || new Set(audio.sources.map((s) => s.input)).size !== inputs.length) {
    return "each input must feed exactly one chain of its own";
  }
  for (const s of audio.sources) {
    if (s.outs.length !== 1) return "a source chain must have one output";
    // f32 between processes is exact only for float (or narrower) samples.
    if (!/aformat=[^,]*sample_fmts=fltp?(:|,|$)/.test(s.filters.join(","))) return "a source chain does not end in float samples";
  }
  const read = audio.mix.flatMap((c) => c.ins);
  if (audio.sources.some((s) => read.filter((l) => l === s.outs[0]).length !== 1))
    return "source outputs must each be read once by the rest of the graph";
  return undefined;
}

/**
 * A source chain as its decoder runs it: on its only input, in packets of PACKET_SAMPLES; with a
 * tap, its copy filtered to the decoder's only tap label.
 */
function decoderChains(s: SourceChain, tap: Tap | undefined): FilterChain[] {
  const packets = `asetnsamples=n=${PACKET_SAMPLES}:p=0`;
  if (!tap) return [{ ins: ["0:a"], filters: [...s.filters, packets], outs: ["out"] }];
  return [
    { ins: ["0:a"], filters: [...s.filters, "asplit=2"], outs: ["mix", "tapin"] },
    { ins: ["mix"], filters: [packets], outs: ["out"] },
    { ins: ["tapin"], filters: tap.filters, outs: [tapLabel(0)] },
  ];
}

function decoderArgs(input: PlanInput, graph: string[], tap: Tap | undefined): string[] {
  const toMixer = ["-map", "[out]", "-c:a", "pcm_f32le", "-f", "nut", "pipe:1"];
  return [...FFMPEG_BASE_ARGS, ...input.options, "-i", input.path, ...graph, ...toMixer, ...tapOutputArgs(tap ? [tap] : [])];
}

/** The mix chains reading decoder j's output as the mixer's input j. */
function mixFromPipes(audio: StreamGraph): FilterChain[] {
  const rename = new Map(audio.sources.map((s, j) => [s.outs[0]!, `${j}:a`]));
  return audio.mix.map((c) => ({ ...c, ins: c.ins.map((l) => rename.get(l) ?? l) }));
}

/** The mixer's options, its inputs (one pipe per decoder from fd 3 on) and its graph. */
function mixerHead(ctx: Context, chains: readonly FilterChain[], progress: readonly string[] = []): string[] {
  const pipes = ctx.plan.graph.audio.sources.flatMap((_, j) => ["-f", "nut", "-i", `pipe:${3 + j}`]);
  return [...FFMPEG_BASE_ARGS, ...progress, ...pipes, ...ctx.graphArgs(chains, "mix")];
}

/** The mixer writing the whole mix to its stdout, the single encoder's stdin. */
function mixerToEncoder(ctx: Context): string[] {
  const { graph } = ctx.plan;
  return [
    ...mixerHead(ctx, ctx.mix),
    ...["-map", `[${encodedAudio(graph)}]`, "-c:a", "pcm_f32le", ...ctx.raw, "-f", "f32le", "pipe:1"],
    ...mixTapOutputArgs(graph),
  ];
}

/**
 * Every window is an output of the mixer, trimmed by sample count (the graph ends in
 * asetpts=N/SR/TB, so timestamps count samples); flush_packets makes a window's file whole as soon
 * as its last samples are mixed, while the mixer goes on with the next ones.
 */
function windowed(ctx: Context, cut: readonly Window[]): Pick<PipelineSpec, "mixer" | "windows"> {
  const { plan } = ctx;
  const { output } = plan.graph;
  const bytesPerSample = 4 * output.audio!.channels;
  const split: FilterChain[] = [
    { ins: [encodedAudio(plan.graph)], filters: [`asplit=${cut.length}`], outs: cut.map((_, k) => `w${k}`) },
    ...cut.map((w, k) => ({
      ins: [`w${k}`],
      filters: [`atrim=start_sample=${w.start}${Number.isFinite(w.end) ? `:end_sample=${w.end}` : ""}`],
      outs: [`o${k}`],
    })),
  ];
  const files = cut.map((w, k) => ({
    raw: `${plan.output}.window${k}.f32`,
    part: `${plan.output}.part${k}.mp3`,
    bytes: Number.isFinite(w.end) ? (w.end - w.start) * bytesPerSample : undefined,
  }));
  // Its -progress is the job's heartbeat until the first window is whole (half the mix, or more).
  const mixer = [
    ...mixerHead(ctx, [...ctx.mix, ...split], PROGRESS_ARGS),
    ...files.flatMap((f, k) => ["-map", `[o${k}]`, "-c:a", "pcm_f32le", ...ctx.raw, "-flush_packets", "1", "-f", "f32le", f.raw]),
    ...mixTapOutputArgs(plan.graph),
  ];
  // A window is cut by the samples it is given: no -t, and the part's own path for the output.
  const windows = files.map((f) => ({
    ...f,
    encoder: [...FFMPEG_BASE_ARGS, ...PROGRESS_ARGS, "-f", "f32le", ...ctx.raw, "-i", f.raw, ...outputArgs(output, f.part, true)],
  }));
  return { mixer, windows };
}
