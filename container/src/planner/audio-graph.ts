// The audio mix: every audio track resampled to 48 kHz stereo, gaps filled from its timestamps,
// delayed to its offset, summed without normalisation (a speaker keeps their level however many
// others are present), limited so the sum never clips, and padded/trimmed to exactly the span.
import { SAMPLE_RATE } from "./types.ts";
import { formatMs } from "./timeline.ts";

export interface AudioSource {
  /** ffmpeg input index. */
  input: number;
  offsetMs: number;
}

/** Peak ceiling of the limiter: −1 dBFS leaves headroom for the MP3/AAC encoders' overshoot. */
export const LIMIT = 0.891;

/** Filter chains (to be joined with ';') ending in the label `[${out}]`. */
export function audioGraph(sources: readonly AudioSource[], spanMs: number, out = "aout"): string[] {
  const span = formatMs(spanMs);
  const tail = `apad=whole_dur=${span},atrim=end=${span},asetpts=N/SR/TB[${out}]`;
  if (sources.length === 0) {
    return [`anullsrc=r=${SAMPLE_RATE}:cl=stereo,atrim=end=${span},asetpts=N/SR/TB[${out}]`];
  }
  const chains = sources.map((s, i) => {
    const steps = [
      // async fills holes in MediaRecorder's timestamps with silence (keeps later speech in sync);
      // first_pts=0 pads when the audio starts after the file's first packet.
      `aresample=${SAMPLE_RATE}:async=1:first_pts=0`,
      `aformat=sample_fmts=fltp:sample_rates=${SAMPLE_RATE}:channel_layouts=stereo`,
    ];
    const delay = Math.round(s.offsetMs);
    if (delay > 0) steps.push(`adelay=delays=${delay}:all=1`);
    return `[${s.input}:a]${steps.join(",")}[a${i}]`;
  });
  const labels = sources.map((_, i) => `[a${i}]`).join("");
  // amix (ffmpeg 5.1, 6) drops whatever it still holds of its FIRST input when that input ends:
  // in a VIDEO job, where the decoders run at the picture's pace, that was the last ~100 ms of the
  // first track. A silent bed of the whole span as first input ends last and adds nothing to the sum.
  if (sources.length > 1) chains.push(`anullsrc=r=${SAMPLE_RATE}:cl=stereo,atrim=end=${span}[abed]`);
  const mix =
    sources.length === 1
      ? `${labels}anull`
      : `[abed]${labels}amix=inputs=${sources.length + 1}:normalize=0:duration=longest:dropout_transition=0`;
  // level=0: no auto make-up gain; latency=1: the limiter's look-ahead does not shift the timeline.
  chains.push(`${mix},alimiter=limit=${LIMIT}:level=0:latency=1,${tail}`);
  return chains;
}
