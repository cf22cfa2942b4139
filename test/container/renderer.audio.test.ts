// AUDIO jobs end to end through the HTTP renderer: native ffmpeg, then the same job on
// ffmpeg.wasm in a process without native ffmpeg/ffprobe (RENDERER_DISABLE_NATIVE=1).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { makeTrack, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { FakeWorker, type FakeTrack } from "./fake-worker.ts";
import { startRenderer, type RunningRenderer } from "./harness.ts";

const FREQS = [440, 660, 880];
const SPAN_MS = 8000;
let fw: FakeWorker;
let tracks: FakeTrack[];
const timings: Record<string, number> = {};

beforeAll(async () => {
  fw = await FakeWorker.start();
  const dir = await tempDir("audio-job-");
  // p1 0–6 s (MediaRecorder WebM/Opus), p2 2–5 s (Ogg/Opus), p3 4–8 s (WAV).
  const [p1, p2, p3] = await Promise.all([
    makeTrack({ dir, name: "p1", format: "webm", durationSec: 6, audio: { frequency: 440 } }),
    makeTrack({ dir, name: "p2", format: "ogg", durationSec: 3, audio: { frequency: 660 } }),
    makeTrack({ dir, name: "p3", format: "wav", durationSec: 4, audio: { frequency: 880 } }),
  ]);
  tracks = [
    { id: "p1", file: p1, offsetMs: 0, audio: true, video: false },
    { id: "p2", file: p2, offsetMs: 2000, audio: true, video: false },
    { id: "p3", file: p3, offsetMs: 4000, audio: true, video: false },
  ];
});
afterAll(async () => {
  await fw.close();
  console.log(`audio job render+upload wall time: ${JSON.stringify(timings)}`);
});

/** Which tones are audible in [t, t+0.4). */
async function tonesAt(file: string, t: number): Promise<number[]> {
  const levels = await toneLevels(file, t, 0.4, FREQS);
  return FREQS.filter((_, i) => levels[i]! > 0.03);
}

async function renderAudio(r: RunningRenderer, jobId: string): Promise<{ job: RenderJob; file: string }> {
  const job = await fw.withSizes(fw.job({ jobId, type: "AUDIO", durationMs: SPAN_MS, tracks }));
  const t0 = Date.now();
  expect((await r.post(job)).status).toBe(202);
  const final = await fw.waitForFinal(jobId);
  timings[jobId] = Date.now() - t0;
  expect(final, JSON.stringify(final)).toMatchObject({ event: "completed", attempt: 1 });
  return { job, file: fw.uploads.get(jobId)!.path };
}

async function checkMix(file: string, jobId: string, full = true): Promise<void> {
  const info = await probe(file);
  expect(info.audio?.codec).toBe("mp3");
  expect(info.audio?.sampleRate).toBe(48000);
  expect(Math.abs(info.duration - SPAN_MS / 1000)).toBeLessThan(0.3);
  const final = fw.finalReport(jobId);
  expect(final?.event === "completed" && Math.abs(final.durationMs - SPAN_MS)).toBeLessThan(300);
  expect(final?.event === "completed" && final.size).toBe(fw.uploads.get(jobId)!.size);
  expect(await tonesAt(file, 4.3)).toEqual([440, 660, 880]);
  if (!full) return;
  expect(await tonesAt(file, 0.3)).toEqual([440]);
  expect(await tonesAt(file, 2.3)).toEqual([440, 660]);
  expect(await tonesAt(file, 5.3)).toEqual([440, 880]);
  expect(await tonesAt(file, 6.3)).toEqual([880]);
  expect(await tonesAt(file, 7.5)).toEqual([880]);
}

describe("AUDIO job", () => {
  it("native ffmpeg: an MP3 of the span with each tone exactly while its participant is live", async () => {
    const r = await startRenderer({ wasmMaxBytes: 0 });
    try {
      await renderAudio(r, "audio-native");
      expect(fw.finalReport("audio-native")).toMatchObject({ engine: "native" });
      await checkMix(fw.uploads.get("audio-native")!.path, "audio-native");
    } finally {
      await r.close();
    }
  });

  it("small audio jobs go to ffmpeg.wasm by default", async () => {
    const r = await startRenderer();
    try {
      await renderAudio(r, "audio-wasm-default");
      expect(fw.finalReport("audio-wasm-default")).toMatchObject({ engine: "wasm" });
      await checkMix(fw.uploads.get("audio-wasm-default")!.path, "audio-wasm-default", false);
    } finally {
      await r.close();
    }
  });

  it("without native ffmpeg/ffprobe the wasm engine probes and renders the same mix", async () => {
    const r = await startRenderer({ env: { RENDERER_DISABLE_NATIVE: "1" } });
    try {
      expect(r.engines.health()).toEqual({ native: false, wasm: true });
      await renderAudio(r, "audio-wasm");
      expect(fw.finalReport("audio-wasm")).toMatchObject({ engine: "wasm" });
      await checkMix(fw.uploads.get("audio-wasm")!.path, "audio-wasm");
      // A second job on the same (reused) wasm instance.
      await renderAudio(r, "audio-wasm-2");
      await checkMix(fw.uploads.get("audio-wasm-2")!.path, "audio-wasm-2", false);
    } finally {
      await r.close();
    }
  });
});
