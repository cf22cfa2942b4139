// The speaker pass (analytics): each mixed track's audio as the mix hears it (resampled, gap-filled,
// redacted, on the rendered window's clock), measured in 20 ms frames. Its own command, run beside
// the upload like the other review assets, so the render's graph and every engine stay as they are.
// Pure: the chains and where their levels go.
import type { KeptSpan } from "./keep.ts";
import { chainText } from "./graph.ts";
import type { FilterChain, PlanInput, StreamGraph } from "./types.ts";

/** Samples per measured frame: 20 ms at 48 kHz, well inside the ±0.15 s a talk span's edges may be off. */
export const SPEAKER_FRAME_SAMPLES = 960;

export interface SpeakerPass {
  /** ffmpeg arguments (inputs, graph, maps; the caller adds the null output). */
  args: string[];
  /** Per measured track: its id and the file its frame levels are printed to. */
  tracks: { id: string; levels: string }[];
  /** The kept spans in ms of the window (null: the window is the output), to map talk onto the output. */
  cuts: KeptSpan[] | null;
  outputSec: number;
}

/** Filter options take a path unquoted; job directories are made of these characters only. */
function safePath(path: string): string {
  if (!/^[\w./-]+$/.test(path)) throw new Error(`unexpected characters in a scratch path: ${JSON.stringify(path)}`);
  return path;
}

export function speakerPass(
  inputs: readonly PlanInput[],
  audio: StreamGraph,
  cuts: KeptSpan[] | null,
  outputSec: number,
  stem: string,
): SpeakerPass | undefined {
  if (audio.sources.length === 0) return undefined;
  const tracks = audio.sources.map((s, k) => ({ id: inputs[s.input]!.track, levels: `${stem}.speaker${k}.txt` }));
  const chains: FilterChain[] = audio.sources.map((s, k) => ({
    ins: s.ins,
    filters: [
      ...s.filters,
      `asetnsamples=n=${SPEAKER_FRAME_SAMPLES}:p=0`,
      "astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=RMS_level",
      `ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=${safePath(tracks[k]!.levels)}`,
    ],
    outs: [`spk${k}`],
  }));
  // Every branch is an output of the null muxer: a graph of sinks alone is not run for more than one input.
  const maps = chains.flatMap((c) => ["-map", `[${c.outs[0]}]`]);
  const args = [...inputs.flatMap((i) => [...i.options, "-i", i.path]), "-filter_complex", chains.map(chainText).join(";"), ...maps];
  return { args, tracks, cuts, outputSec };
}
