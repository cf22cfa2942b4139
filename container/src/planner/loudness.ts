// Loudness levelling (EBU R128) of the mix, for QA audio: the whole mix, or each channel of a
// STEREO_SPLIT on its own (the agent and the customer each at the target, however far apart their
// microphones were). Single-pass loudnorm: measured within 1 LU of the target on calls of seconds.
import { SAMPLE_RATE, type FilterChain } from "./types.ts";

export interface Level {
  /** Integrated loudness target in LUFS (−30 … −10). */
  lufs: number;
  /** Level each channel alone (a STEREO_SPLIT) rather than the stereo mix. */
  perChannel: boolean;
}

/**
 * loudnorm works at 192 kHz internally and outputs it: resampled back, with the layout stated again
 * (loudnorm leaves it open, which the limiter cannot negotiate). True peak −2 dBTP, under the limiter.
 */
const loudnorm = (lufs: number, layout: "mono" | "stereo") => [
  `loudnorm=I=${lufs}:TP=-2:LRA=20`,
  `aresample=${SAMPLE_RATE}`,
  `aformat=sample_fmts=fltp:channel_layouts=${layout}`,
];

/** Chains from label `from` to label `to` that bring the audio to the target. */
export function levelChains(from: string, to: string, level: Level, layout: "mono" | "stereo" = "stereo"): FilterChain[] {
  if (!level.perChannel) return [{ ins: [from], filters: loudnorm(level.lufs, layout), outs: [to] }];
  return [
    { ins: [from], filters: ["channelsplit=channel_layout=stereo"], outs: [`${to}_l`, `${to}_r`] },
    { ins: [`${to}_l`], filters: loudnorm(level.lufs, "mono"), outs: [`${to}_l2`] },
    { ins: [`${to}_r`], filters: loudnorm(level.lufs, "mono"), outs: [`${to}_r2`] },
    { ins: [`${to}_l2`, `${to}_r2`], filters: ["join=inputs=2:channel_layout=stereo", "aformat=sample_fmts=fltp"], outs: [to] },
  ];
}
