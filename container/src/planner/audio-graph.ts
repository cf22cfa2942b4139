// The audio mix: every audio track resampled to 48 kHz stereo (mono when the whole call is), gaps filled from its timestamps,
// delayed to its offset, summed without normalisation (a speaker keeps their level however many
// others are present), limited so the sum never clips, and padded/trimmed to exactly the span.
import { chainText, streamChains } from "./graph.ts";
import { levelChains, type Level } from "./loudness.ts";
import { formatMs } from "./timeline.ts";
import { SAMPLE_RATE, type FilterChain, type SourceChain, type StreamGraph } from "./types.ts";

export interface AudioSource {
  /** ffmpeg input index. */
  input: number;
  offsetMs: number;
  /** The input is read from this long before the window (the video's pre-roll): cut off first. */
  prerollMs?: number;
  /** Filters on the track's own clock, before its delay (redaction). */
  extra?: string[];
  /** QA stereo: the one output channel this source is mixed on (its own channels downmixed). */
  channel?: "LEFT" | "RIGHT";
}

/** Peak ceiling of the limiter: −1 dBFS leaves headroom for the MP3/AAC encoders' overshoot. */
export const LIMIT = 0.891;

/** A mono source on one channel of the stereo output, the other channel silent. */
function onChannel(channel: "LEFT" | "RIGHT"): string {
  return channel === "LEFT" ? "pan=stereo|c0=c0|c1=0*c0" : "pan=stereo|c0=0*c0|c1=c0";
}

export interface MixExtras {
  /** Chains without inputs (beeps) mixed in with the sources. */
  generated?: FilterChain[];
  /** Loudness levelling of the mix, before the limiter. */
  level?: Level;
  /** The mix's layout (default stereo); a source on a channel of a split is always stereo. */
  layout?: "mono" | "stereo";
}

/** The mix of `sources` over `spanMs`, ending in the label `out`. */
export function audioStream(sources: readonly AudioSource[], spanMs: number, out = "aout", extras: MixExtras = {}): StreamGraph {
  const generated = extras.generated ?? [];
  const span = formatMs(spanMs);
  const tail = [`apad=whole_dur=${span}`, `atrim=end=${span}`, "asetpts=N/SR/TB"];
  const layout = extras.layout ?? "stereo";
  const silence = `anullsrc=r=${SAMPLE_RATE}:cl=${layout}`;
  if (sources.length === 0 && generated.length === 0) {
    return { sources: [], mix: [{ ins: [], filters: [silence, `atrim=end=${span}`, "asetpts=N/SR/TB"], outs: [out] }], out };
  }
  const chains: SourceChain[] = sources.map((s, i) => {
    const preroll = s.prerollMs ? [`atrim=start=${formatMs(s.prerollMs)}`, "asetpts=PTS-STARTPTS"] : [];
    const filters = [
      ...preroll,
      // async fills holes in MediaRecorder's timestamps with silence (keeps later speech in sync);
      // first_pts=0 pads when the audio starts after the file's first packet.
      `aresample=${SAMPLE_RATE}:async=1:first_pts=0`,
      // On one channel of a split: downmixed to mono first (a mono track keeps its level, where the
      // stereo upmix would lower each side by 3 dB), then placed on that channel.
      `aformat=sample_fmts=fltp:sample_rates=${SAMPLE_RATE}:channel_layouts=${s.channel ? "mono" : layout}`,
      ...(s.channel ? [onChannel(s.channel)] : []),
      ...(s.extra ?? []),
    ];
    const delay = Math.round(s.offsetMs);
    if (delay > 0) filters.push(`adelay=delays=${delay}:all=1`);
    return { input: s.input, ins: [`${s.input}:a`], filters, outs: [`a${i}`] };
  });
  const mixed = [...chains, ...generated].map((c) => c.outs[0]!);
  // amix (ffmpeg 5.1, 6) drops whatever it still holds of its FIRST input when that input ends:
  // in a VIDEO job, where the decoders run at the picture's pace, that was the last ~100 ms of the
  // first track. A silent bed of the whole span as first input ends last and adds nothing to the sum.
  const bed: FilterChain[] = mixed.length > 1 ? [{ ins: [], filters: [silence, `atrim=end=${span}`], outs: ["abed"] }] : [];
  const mix =
    mixed.length === 1
      ? { ins: mixed, filter: "anull" }
      : { ins: ["abed", ...mixed], filter: `amix=inputs=${mixed.length + 1}:normalize=0:duration=longest:dropout_transition=0` };
  // level=0: no auto make-up gain; latency=1: the limiter's look-ahead does not shift the timeline.
  const limit = `alimiter=limit=${LIMIT}:level=0:latency=1`;
  const tailChain = (ins: string[], head: string[]) => ({ ins, filters: [...head, limit, ...tail], outs: [out] });
  if (!extras.level) return { sources: chains, mix: [...bed, ...generated, tailChain(mix.ins, [mix.filter])], out };
  const levelled = [{ ins: mix.ins, filters: [mix.filter], outs: ["amixed"] }, ...levelChains("amixed", "alevel", extras.level, layout)];
  return { sources: chains, mix: [...bed, ...generated, ...levelled, tailChain(["alevel"], [])], out };
}

/** The same mix as filter chains (to be joined with ';'), for a command of its own. */
export function audioGraph(sources: readonly AudioSource[], spanMs: number, out = "aout"): string[] {
  return streamChains(audioStream(sources, spanMs, out)).map(chainText);
}
