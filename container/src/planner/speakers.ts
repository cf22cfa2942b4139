// The speaker pass (analytics): each mixed track's audio as the mix hears it (resampled, gap-filled,
// redacted, on the rendered window's clock), measured in 20 ms frames. A native render writes the
// levels' samples itself, as taps of its own source chains (decoding is most of a render's work, and
// a second decode of every track cost as much as the rest of an AUDIO job); otherwise (wasm, or a
// highlighted grid that needs the spans before it is drawn) the pass is a command of its own.
// Pure: the chains and where their levels go.
import type { KeptSpan } from "./keep.ts";
import { chainText, commandArgs } from "./graph.ts";
import type { FilterChain, PlanInput, RenderPlan, StreamGraph } from "./types.ts";

/**
 * The level is measured from 8 kHz mono 16-bit samples: plenty for speech energy, and a sixth of
 * the work of measuring at 48 kHz in the graph (astats per frame cost 4× the decode).
 */
export const SPEAKER_RATE = 8000;

export interface SpeakerPass {
  /** ffmpeg arguments: inputs, graph, and one raw PCM output per measured track. */
  args: string[];
  /** Per measured track: its id and the file its samples are written to (s16le, mono, SPEAKER_RATE). */
  tracks: { id: string; pcm: string }[];
  /** The kept spans in ms of the window (null: the window is the output), to map talk onto the output. */
  cuts: KeptSpan[] | null;
  outputSec: number;
  /** The render writes the tracks' samples itself (withSpeakerTaps): no command of its own to run. */
  inRender?: boolean;
}

/** From a source chain's output to the samples the levels are measured from. */
const TO_LEVEL_SAMPLES = [`aresample=${SPEAKER_RATE}`, "aformat=sample_fmts=s16:channel_layouts=mono"];

export function speakerPass(
  inputs: readonly PlanInput[],
  audio: StreamGraph,
  cuts: KeptSpan[] | null,
  outputSec: number,
  stem: string,
): SpeakerPass | undefined {
  if (audio.sources.length === 0) return undefined;
  const tracks = audio.sources.map((s, k) => ({ id: inputs[s.input]!.track, pcm: `${stem}.speaker${k}.pcm` }));
  const chains: FilterChain[] = audio.sources.map((s, k) => ({
    ins: s.ins,
    filters: [...s.filters, ...TO_LEVEL_SAMPLES],
    outs: [`spk${k}`],
  }));
  const outputs = tracks.flatMap((t, k) => ["-map", `[spk${k}]`, "-f", "s16le", t.pcm]);
  return {
    args: [...inputs.flatMap((i) => [...i.options, "-i", i.path]), "-filter_complex", chains.map(chainText).join(";"), ...outputs],
    tracks,
    cuts,
    outputSec,
  };
}

/** The plan whose render also writes the speaker pass's samples (same chains, same bytes). */
export function withSpeakerTaps(plan: RenderPlan): RenderPlan {
  const pass = plan.speakers;
  if (!pass || pass.inRender) return plan;
  const taps = pass.tracks.map((t, k) => ({ source: k, filters: TO_LEVEL_SAMPLES, format: "s16le" as const, file: t.pcm }));
  const graph = { ...plan.graph, taps };
  return { ...plan, graph, args: commandArgs(graph, plan.output), speakers: { ...pass, inRender: true } };
}
