// Benchmark media, made once with the test fixtures' makeTrack (MediaRecorder-style WebM: streamed,
// no duration, no cues, irregular video frame rate) and kept in a cache directory across runs
// (BENCH_CACHE, default <tmp>/composition-bench-media). A file is reused only if its spec matches.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTrack, type MakeTrackOptions } from "../../test/fixtures/media.ts";

export const CACHE = process.env.BENCH_CACHE ?? join(tmpdir(), "composition-bench-media");

export type TrackSpec = Omit<MakeTrackOptions, "dir" | "name"> & { name: string };

/** The file for `spec`, generating it (into a temp name, then renamed) when not cached. */
export async function cachedTrack(spec: TrackSpec): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const key = JSON.stringify(spec);
  const file = join(CACHE, `${spec.name}.${spec.format}`);
  const meta = `${file}.spec.json`;
  if (existsSync(file) && existsSync(meta) && readFileSync(meta, "utf8") === key && statSync(file).size > 0) return file;
  const tmpName = `${spec.name}.tmp-${process.pid}`;
  const made = await makeTrack({ ...spec, dir: CACHE, name: tmpName });
  renameSync(made, file);
  writeFileSync(meta, key);
  return file;
}

/** Generates several specs, `parallel` at a time (each ffmpeg is single-threaded for audio). */
export async function cachedTracks(specs: readonly TrackSpec[], parallel = 2): Promise<string[]> {
  const out: string[] = new Array(specs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, specs.length) }, async () => {
      for (let i = next++; i < specs.length; i = next++) out[i] = await cachedTrack(specs[i]!);
    }),
  );
  return out;
}

export const TONES = [300, 400, 500, 600, 700, 800];

/** n participants of Opus-in-WebM speech-band tones, `seconds` long each. */
export function audioSpecs(n: number, seconds: number, prefix = "audio"): TrackSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}-${seconds}s-p${i}`,
    format: "webm" as const,
    durationSec: seconds,
    audio: { frequency: TONES[i % TONES.length]! },
  }));
}

/**
 * n participants' camera tracks: 640x480 VP8 (moving test pattern, 30 fps with every 4th frame
 * dropped like MediaRecorder's VFR) + Opus, streamed WebM (no duration, no cues), `seconds` long.
 * Made here rather than with makeTrack: its libvpx runs with the default thread count, which on a
 * 2-vCPU VM was measured 20× slower (12.5 s of CPU for 10 s of video) than `-threads 1` (0.6 s).
 */
export async function cachedCameras(n: number, seconds: number): Promise<string[]> {
  const { execFile } = await import("node:child_process");
  const { FFMPEG } = await import("../../test/fixtures/media.ts");
  mkdirSync(CACHE, { recursive: true });
  const make = async (i: number): Promise<string> => {
    const file = join(CACHE, `camera-${seconds}s-p${i}.webm`);
    const args = [
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=s=640x480:r=30:d=${seconds}`,
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=${TONES[i % TONES.length]}:sample_rate=48000:d=${seconds}`,
      "-vf",
      `hue=h=${i * 60},select='not(eq(mod(n\\,4)\\,3))'`,
      "-fps_mode",
      "vfr",
      "-c:v",
      "libvpx",
      "-deadline",
      "realtime",
      "-cpu-used",
      "8",
      "-b:v",
      "500k",
      "-threads",
      "1",
      "-c:a",
      "libopus",
      "-b:a",
      "64k",
      "-f",
      "webm",
      "pipe:1",
    ];
    const meta = `${file}.spec.json`;
    const key = JSON.stringify(args);
    if (existsSync(file) && existsSync(meta) && readFileSync(meta, "utf8") === key) return file;
    const out = await new Promise<Buffer>((resolve, reject) =>
      execFile(FFMPEG, args, { encoding: "buffer", maxBuffer: 1 << 30 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    writeFileSync(file, out);
    writeFileSync(meta, key);
    return file;
  };
  const out: string[] = [];
  for (let i = 0; i < n; i += 2) out.push(...(await Promise.all([i, i + 1].filter((k) => k < n).map(make))));
  return out;
}

/** The first `seconds` of a cached track, cut by stream copy (still MediaRecorder-style: piped). */
export async function cachedCut(source: string, name: string, seconds: number): Promise<string> {
  const { execFile } = await import("node:child_process");
  const { FFMPEG } = await import("../../test/fixtures/media.ts");
  const file = join(CACHE, `${name}.webm`);
  const meta = `${file}.spec.json`;
  const key = JSON.stringify({ source, seconds, size: statSync(source).size });
  if (existsSync(file) && existsSync(meta) && readFileSync(meta, "utf8") === key) return file;
  const out = await new Promise<Buffer>((resolve, reject) =>
    execFile(
      FFMPEG,
      ["-v", "error", "-i", source, "-t", String(seconds), "-c", "copy", "-f", "webm", "pipe:1"],
      { encoding: "buffer", maxBuffer: 1 << 30 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  );
  writeFileSync(file, out);
  writeFileSync(meta, key);
  return file;
}
