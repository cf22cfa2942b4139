// Trimmed jobs (RenderJob.keep) rendered for real through the HTTP renderer: native ffmpeg and
// ffmpeg.wasm for AUDIO, native for VIDEO. The cut must land on the requested instant in the
// sound and the picture alike, and the output must last exactly the sum of the kept spans.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { colorName, decodeAudio, goertzel, makeTrack, pixelAt, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { FakeWorker, type FakeTrack } from "./fake-worker.ts";
import { startRenderer, type RunningRenderer } from "./harness.ts";

let fw: FakeWorker;
let audioTracks: FakeTrack[];
let videoTracks: FakeTrack[];
const timings: Record<string, number> = {};

beforeAll(async () => {
  fw = await FakeWorker.start();
  const dir = await tempDir("keep-job-");
  // 11 s call: p1 0–4 s (440 Hz, red), nobody 4–7 s, p2 7–11 s (880 Hz, blue). MediaRecorder-style
  // WebM (no cues, VFR) so the seek of a window works without an index.
  const [a1, a2, v1, v2] = await Promise.all([
    makeTrack({ dir, name: "a1", format: "webm", durationSec: 4, audio: { frequency: 440 } }),
    makeTrack({ dir, name: "a2", format: "ogg", durationSec: 4, audio: { frequency: 880 } }),
    makeTrack({
      dir,
      name: "v1",
      format: "webm",
      durationSec: 4,
      video: { color: "red", width: 640, height: 480 },
      audio: { frequency: 440 },
    }),
    makeTrack({
      dir,
      name: "v2",
      format: "webm",
      durationSec: 4,
      video: { color: "blue", width: 640, height: 480 },
      audio: { frequency: 880 },
    }),
  ]);
  audioTracks = [
    { id: "p1", file: a1, offsetMs: 0, durationMs: 4000, audio: true, video: false },
    { id: "p2", file: a2, offsetMs: 7000, durationMs: 4000, audio: true, video: false },
  ];
  videoTracks = [
    { id: "p1", file: v1, offsetMs: 0, durationMs: 4000, audio: true, video: true },
    { id: "p2", file: v2, offsetMs: 7000, durationMs: 4000, audio: true, video: true },
  ];
});
afterAll(async () => {
  await fw.close();
  console.log(`keep job render+upload wall time (ms): ${JSON.stringify(timings)}`);
});

async function render(r: RunningRenderer, jobId: string, type: "AUDIO" | "VIDEO", keep: RenderJob["keep"]): Promise<string> {
  const job = await fw.withSizes(
    fw.job({ jobId, type, durationMs: 11_000, width: 640, height: 360, tracks: type === "AUDIO" ? audioTracks : videoTracks }),
  );
  job.keep = keep;
  const t0 = Date.now();
  expect((await r.post(job)).status).toBe(202);
  const final = await fw.waitForFinal(jobId);
  timings[jobId] = Date.now() - t0;
  expect(final, JSON.stringify(final)).toMatchObject({ event: "completed", attempt: 1 });
  return fw.uploads.get(jobId)!.path;
}

/** Where (ms, ±5) the 880 Hz tone takes over from the 440 Hz one in [fromMs, toMs). */
async function switchAt(file: string, fromMs: number, toMs: number): Promise<number> {
  // Decoded from the start: an MP3's -ss is only as exact as its seek table.
  const s = await decodeAudio(file, 0, toMs / 1000);
  for (let ms = fromMs; (ms + 10) * 48 <= s.length; ms += 5) {
    const w = s.subarray(ms * 48, (ms + 10) * 48);
    if (goertzel(w, 48_000, 880) > goertzel(w, 48_000, 440)) return ms + 5;
  }
  return -1;
}

const tones = async (file: string, t: number) => {
  const [l440, l880] = await toneLevels(file, t, 0.3, [440, 880]);
  return [l440! > 0.03 ? 440 : 0, l880! > 0.03 ? 880 : 0].filter(Boolean);
};

async function checkTrimmedAudio(file: string, jobId: string) {
  // The 4–7 s hole is gone: 8 s, p1 then p2 from exactly 4 s.
  expect(Math.abs((await probe(file)).duration - 8)).toBeLessThan(0.1);
  expect(fw.finalReport(jobId)).toMatchObject({ event: "completed" });
  const final = fw.finalReport(jobId);
  expect(final?.event === "completed" && Math.abs(final.durationMs - 8000)).toBeLessThan(100);
  expect(await tones(file, 1)).toEqual([440]);
  expect(await tones(file, 3.6)).toEqual([440]);
  expect(await tones(file, 4.1)).toEqual([880]);
  expect(await tones(file, 7.5)).toEqual([880]);
  expect(Math.abs((await switchAt(file, 3800, 4200)) - 4000)).toBeLessThanOrEqual(15);
}

describe("trimmed jobs", () => {
  it("AUDIO, native: the silent hole is cut out exactly; a from/to window starts and ends where asked", async () => {
    const r = await startRenderer({ wasmMaxBytes: 0 });
    try {
      const file = await render(r, "keep-a-native", "AUDIO", [
        { startMs: 0, endMs: 4000 },
        { startMs: 7000, endMs: 11_000 },
      ]);
      expect(fw.finalReport("keep-a-native")).toMatchObject({ engine: "native" });
      await checkTrimmedAudio(file, "keep-a-native");

      // 2.5–8.5 s: 1.5 s of p1, 3 s of nothing, 1.5 s of p2.
      const win = await render(r, "keep-a-window", "AUDIO", [{ startMs: 2500, endMs: 8500 }]);
      expect(Math.abs((await probe(win)).duration - 6)).toBeLessThan(0.1);
      expect(await tones(win, 0.5)).toEqual([440]);
      expect(await tones(win, 2.5)).toEqual([]);
      expect(await tones(win, 5)).toEqual([880]);
    } finally {
      await r.close();
    }
  });

  it("AUDIO on ffmpeg.wasm: the same graph (seek, asplit/atrim/concat) gives the same cut", async () => {
    const r = await startRenderer({ env: { RENDERER_DISABLE_NATIVE: "1" } });
    try {
      const file = await render(r, "keep-a-wasm", "AUDIO", [
        { startMs: 0, endMs: 4000 },
        { startMs: 7000, endMs: 11_000 },
      ]);
      expect(fw.finalReport("keep-a-wasm")).toMatchObject({ engine: "wasm" });
      await checkTrimmedAudio(file, "keep-a-wasm");
      const win = await render(r, "keep-a-wasm-window", "AUDIO", [{ startMs: 2500, endMs: 8500 }]);
      expect(Math.abs((await probe(win)).duration - 6)).toBeLessThan(0.1);
      expect(await tones(win, 0.5)).toEqual([440]);
      expect(await tones(win, 5)).toEqual([880]);
    } finally {
      await r.close();
    }
  });

  it("VIDEO: picture and sound switch at the same cut, the output lasts the sum of the spans", async () => {
    const r = await startRenderer();
    try {
      const file = await render(r, "keep-v", "VIDEO", [
        { startMs: 0, endMs: 4000 },
        { startMs: 7000, endMs: 11_000 },
      ]);
      const info = await probe(file);
      expect(Math.abs(info.duration - 8)).toBeLessThan(0.1);
      const color = async (t: number) => colorName(await pixelAt(file, t, 320, 180));
      expect(await color(0.5)).toBe("red");
      expect(await color(3.9)).toBe("red");
      expect(await color(4.05)).toBe("blue");
      expect(await color(7.5)).toBe("blue");
      // The sound, including the last 100 ms of the first track (amix used to drop its first input's
      // tail when the decoders ran at the picture's pace), switches at 4 s too.
      expect(await tones(file, 3.6)).toEqual([440]);
      expect(Math.abs((await switchAt(file, 3800, 4200)) - 4000)).toBeLessThanOrEqual(15);
    } finally {
      await r.close();
    }
  });
});
