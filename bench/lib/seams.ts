// Sample-accurate comparison of a chunked MP3 against the single-command MP3 of the same mix.
// Both files are decoded from their start (no seeking: an MP3 seek is only as exact as its seek
// table), and only short windows of interleaved stereo are kept, so a 30-minute file costs no memory.
import { spawn } from "node:child_process";
import { FFMPEG } from "../../test/fixtures/media.ts";

const RATE = 48_000;

export interface DecodedWindows {
  /** Decoded length in samples per channel (after the decoder trimmed the encoder delay/padding). */
  samples: number;
  /** Kept windows, interleaved stereo, by start sample. */
  windows: Map<number, Float32Array>;
}

/** Decodes `file` fully and keeps [start, start+length) samples for each start. */
export function decodeWindows(file: string, starts: readonly number[], length: number): Promise<DecodedWindows> {
  return new Promise((resolve, reject) => {
    const child = spawn(FFMPEG, ["-v", "error", "-i", file, "-vn", "-ac", "2", "-ar", String(RATE), "-f", "f32le", "pipe:1"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const windows = new Map<number, Float32Array>();
    for (const s of starts) windows.set(s, new Float32Array(length * 2));
    let pos = 0; // in floats (interleaved)
    let carry: Buffer = Buffer.alloc(0);
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const usable = buf.length - (buf.length % 4);
      const n = usable / 4;
      for (const [s, w] of windows) {
        const a = Math.max(pos, s * 2);
        const b = Math.min(pos + n, (s + length) * 2);
        for (let i = a; i < b; i++) w[i - s * 2] = buf.readFloatLE((i - pos) * 4);
      }
      pos += n;
      carry = buf.subarray(usable);
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve({ samples: pos / 2, windows }) : reject(new Error(`decode ${file}: ${err.slice(-400)}`))));
  });
}

export interface SeamReport {
  /** Decoded samples of each file; must be equal and equal to the timeline. */
  samplesSingle: number;
  samplesChunked: number;
  expectedSamples: number;
  joins: {
    atSeconds: number;
    /** Largest |chunked − single| in ±50 ms around the join. */
    maxDiff: number;
    /** The same far from any join, inside the later part (two encodes' quantisation noise). */
    controlDiff: number;
    /** How far the later part is shifted against the single command (samples; 0 = aligned). */
    lagSamples: number;
    /** Largest sample-to-sample step of the chunked output near the join / of the single output there. */
    stepRatio: number;
    /** Lowest RMS of any 5 ms block near the join, chunked / single (1 = no dip, 0 = a gap). */
    minRmsRatio: number;
  }[];
  seamless: boolean;
}

function maxAbsDiff(a: Float32Array, b: Float32Array, from = 0, to = a.length): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxStep(a: Float32Array, from: number, to: number): number {
  let m = 0;
  for (let i = from + 2; i < to; i++) m = Math.max(m, Math.abs(a[i]! - a[i - 2]!));
  return m;
}

function rms(a: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
}

/**
 * Compares around each join (timeline samples). A join passes when the difference near it is no
 * larger than the encoders' own difference elsewhere (×1.5 + a small floor), nothing steps harder
 * than the original signal does (×1.5), no 5 ms block loses level, and both lengths are exact.
 */
export async function compareSeams(single: string, chunked: string, joinSamples: readonly number[], expectedSamples: number): Promise<SeamReport> {
  const half = Math.round(RATE * 0.25);
  const near = Math.round(RATE * 0.05);
  const starts = joinSamples.flatMap((j) => [j - half, j + RATE * 20]);
  const [a, b] = await Promise.all([decodeWindows(single, starts, 2 * half), decodeWindows(chunked, starts, 2 * half)]);
  const joins = joinSamples.map((j) => {
    const wa = a.windows.get(j - half)!;
    const wb = b.windows.get(j - half)!;
    const from = (half - near) * 2;
    const to = (half + near) * 2;
    const maxDiff = maxAbsDiff(wa, wb, from, to);
    const controlDiff = maxAbsDiff(a.windows.get(j + RATE * 20)!, b.windows.get(j + RATE * 20)!);
    const lagSamples = estimateLag(a.windows.get(j + RATE * 20)!, b.windows.get(j + RATE * 20)!).lag;
    const stepRatio = maxStep(wb, from, to) / Math.max(1e-9, maxStep(wa, from, to));
    let minRmsRatio = Infinity;
    const block = Math.round(RATE * 0.005) * 2;
    for (let i = from; i + block <= to; i += block) {
      const ref = rms(wa, i, i + block);
      if (ref > 1e-4) minRmsRatio = Math.min(minRmsRatio, rms(wb, i, i + block) / ref);
    }
    return { atSeconds: j / RATE, maxDiff, controlDiff, lagSamples, stepRatio, minRmsRatio: Number.isFinite(minRmsRatio) ? minRmsRatio : 1 };
  });
  const seamless =
    a.samples === expectedSamples &&
    b.samples === expectedSamples &&
    joins.every((x) => x.lagSamples === 0 && x.maxDiff <= x.controlDiff * 1.5 + 1e-3 && x.stepRatio <= 1.5 && x.minRmsRatio >= 0.8);
  return { samplesSingle: a.samples, samplesChunked: b.samples, expectedSamples, joins, seamless };
}

/**
 * The shift (in samples, within ±maxLag) that best aligns `b` to `a` (interleaved stereo windows):
 * the lag minimising the mean absolute difference of the left channel.
 */
export function estimateLag(a: Float32Array, b: Float32Array, maxLag = 240): { lag: number; residual: number } {
  const n = a.length / 2;
  let best = { lag: 0, residual: Infinity };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let sum = 0;
    let count = 0;
    for (let i = maxLag; i < n - maxLag; i++) {
      sum += Math.abs(a[2 * i]! - b[2 * (i + lag)]!);
      count++;
    }
    const residual = sum / count;
    if (residual < best.residual) best = { lag, residual };
  }
  return best;
}
