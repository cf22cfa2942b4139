// When a composition is split over several renderers (fan-out), and where. Pure.
//
// The model (docs/capacity.md, fed by `npm run bench:fanout`): one renderer takes
// t(1) = D·(r + a/2) + c for D seconds of output at r seconds of grid render per output second, a
// of the mix beside it, and c seconds of per-job cost (instance start, download, probe). Split into
// N VIDEO parts run side by side, the AUDIO part (the whole mix, made once) beside one of them, then
// joined: t(N) = D·r/N + D·a/2 + c + D·j + J (the join: stream copy, and fetching the parts, j per
// output second, plus its own fixed J); with an instance to spare for the AUDIO part,
// max(D·r/N, D·a) + c + D·j + J. A split pays when t(N) < t(1) by a margin. N is capped by the
// instances: r is one instance's rate with both its cores, so two parts on one instance share them
// and gain nothing.

/** Measured by `npm run bench:fanout` on the bench machine (2 cores; docs/capacity.md has the run). */
export interface FanoutCosts {
  renderPerSecond: number;
  /**
   * The AUDIO part's render per output second, alone on one 2-core instance. It shares an instance
   * with a VIDEO part and slows it by about half its length (A: the mix keeps one of the two cores).
   */
  audioPerSecond: number;
  partFixedSeconds: number;
  joinPerSecond: number;
  joinFixedSeconds: number;
}

export const FANOUT_COSTS: Readonly<FanoutCosts> = {
  /** Render seconds per output second of a 4-tile 1280x720 grid (a VIDEO part's) on one 2-core instance. */
  renderPerSecond: 0.376,
  /** The AUDIO part: the mix, its AAC encode (most of it) and the speaker levels, one core. */
  audioPerSecond: 0.039,
  /** A part's cost beside its render: download and probe of the tracks, upload, plus 2 s assumed for a cold start. */
  partFixedSeconds: 4.01,
  /** The join (the parts fetched, stream copy, keyframe thumbnails of the output), per output second. */
  joinPerSecond: 0.0065,
  joinFixedSeconds: 0,
};

/** Parts start and end on the 25 fps grid, so every part's frames follow the last one's exactly. */
const FRAME_MS = 40;
/** A split is made only when it saves at least this much of the single render (never slower for a short call). */
const MIN_GAIN = 0.25;
/**
 * No part shorter than this (unless forced): below it the saving is within the error of the fixed
 * costs (a cold start varies by seconds), and a call of a minute or two is ready in well under a minute anyway.
 */
const MIN_PART_SECONDS = 60;

export interface Window {
  startMs: number;
  endMs: number;
}

export interface FanoutInput {
  type: "AUDIO" | "VIDEO";
  /** The output's length in ms. */
  outputMs: number;
  /** Trimmed compositions are not split (their parts would need the kept spans mapped per part). */
  trimmed: boolean;
  /** Renderer instances the parts may run on side by side. */
  instances: number;
  /** The operator's setting FANOUT_SEGMENT_SECONDS: parts of this length, whatever the model says. */
  forcedSegmentSeconds: number | null;
}

export function singleSeconds(outputSec: number, k = FANOUT_COSTS): number {
  return outputSec * (k.renderPerSecond + k.audioPerSecond / 2) + k.partFixedSeconds;
}

/**
 * N VIDEO parts side by side and the AUDIO part: beside one of them (sharing its cores), or, when
 * an instance is left for it, alone (the parts then wait for whichever ends last).
 */
export function splitSeconds(outputSec: number, parts: number, k = FANOUT_COSTS, audioAlone = false): number {
  const grid = (outputSec * k.renderPerSecond) / parts;
  const audio = outputSec * k.audioPerSecond;
  const render = audioAlone ? Math.max(grid, audio) : grid + audio / 2;
  return render + k.partFixedSeconds + outputSec * k.joinPerSecond + k.joinFixedSeconds;
}

export interface ModelPlan {
  /** VIDEO parts (1: do not split). */
  parts: number;
  seconds: number;
}

/** The fastest split for `instances` side by side (the AUDIO part alone when that pays), or none. */
export function modelPlan(outputSec: number, instances: number, k = FANOUT_COSTS): ModelPlan {
  const single: ModelPlan = { parts: 1, seconds: singleSeconds(outputSec, k) };
  const most = Math.min(instances, Math.floor(outputSec / MIN_PART_SECONDS));
  let best = single;
  for (let n = 2; n <= most; n++) {
    const options = [splitSeconds(outputSec, n, k), ...(n < instances ? [splitSeconds(outputSec, n, k, true)] : [])];
    for (const seconds of options) if (seconds < best.seconds) best = { parts: n, seconds };
  }
  return best.parts > 1 && best.seconds <= single.seconds * (1 - MIN_GAIN) ? best : single;
}

/** How many VIDEO parts the model picks for `instances` side by side (1: do not split). */
export const modelParts = (outputSec: number, instances: number, k = FANOUT_COSTS) => modelPlan(outputSec, instances, k).parts;

/** `count` windows over [0, outputMs), each on the frame grid; the last one ends at the output's end. */
export function windowsOf(outputMs: number, count: number): Window[] {
  const frames = Math.ceil(outputMs / FRAME_MS);
  return Array.from({ length: count }, (_, k) => ({
    startMs: Math.round((frames * k) / count) * FRAME_MS,
    endMs: k === count - 1 ? outputMs : Math.round((frames * (k + 1)) / count) * FRAME_MS,
  }));
}

/** The VIDEO parts' windows, or null when the composition renders whole. */
export function planFanout(o: FanoutInput): Window[] | null {
  if (o.type !== "VIDEO" || o.trimmed) return null;
  const sec = o.outputMs / 1000;
  const count = o.forcedSegmentSeconds ? Math.ceil(sec / o.forcedSegmentSeconds - 1e-9) : modelParts(sec, o.instances);
  if (count < 2) return null;
  if (!o.forcedSegmentSeconds) return windowsOf(o.outputMs, count);
  // Forced: parts of exactly that length from the start, the remainder last.
  const step = Math.round((o.forcedSegmentSeconds * 1000) / FRAME_MS) * FRAME_MS;
  return Array.from({ length: count }, (_, k) => ({ startMs: k * step, endMs: Math.min(o.outputMs, (k + 1) * step) }));
}
