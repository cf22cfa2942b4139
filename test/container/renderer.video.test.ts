// A VIDEO job end to end: staggered joins, an early leave, mixed containers/codecs/aspects and an
// audio-only participant → a 640x360 H.264 GRID whose tiles follow who is on camera.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colorName, makeTrack, pixelsAt, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { startRenderer, type RunningRenderer } from "./harness.ts";

const SPAN = 8;
const FREQS = [440, 660, 880, 1100, 1320];
let fw: FakeWorker;
let r: RunningRenderer;
let file: string;

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer();
  const dir = await tempDir("video-job-");
  const [a, b, c, d, e] = await Promise.all([
    // A 0–8 s, 4:3 VP8 MediaRecorder WebM.
    makeTrack({
      dir,
      name: "a",
      format: "webm",
      durationSec: 8,
      video: { color: "red", width: 640, height: 480 },
      audio: { frequency: 440 },
    }),
    // B 2–8 s, portrait MP4.
    makeTrack({
      dir,
      name: "b",
      format: "mp4",
      durationSec: 6,
      video: { color: "lime", width: 360, height: 640 },
      audio: { frequency: 660 },
    }),
    // C 4–6 s (leaves early), VP9 WebM.
    makeTrack({
      dir,
      name: "c",
      format: "webm",
      durationSec: 2,
      video: { color: "blue", width: 320, height: 240, codec: "vp9" },
      audio: { frequency: 880 },
    }),
    // D 1–7 s, audio only (WAV): no tile.
    makeTrack({ dir, name: "d", format: "wav", durationSec: 6, audio: { frequency: 1100 } }),
    // E 5–7 s, 16:9 Ogg/Theora.
    makeTrack({
      dir,
      name: "e",
      format: "ogg",
      durationSec: 2,
      video: { color: "yellow", width: 640, height: 360 },
      audio: { frequency: 1320 },
    }),
  ]);
  const job = await fw.withSizes(
    fw.job({
      jobId: "video",
      type: "VIDEO",
      durationMs: SPAN * 1000,
      width: 640,
      height: 360,
      tracks: [
        { id: "a", file: a, offsetMs: 0, audio: true, video: true },
        { id: "b", file: b, offsetMs: 2000, audio: true, video: true },
        { id: "c", file: c, offsetMs: 4000, audio: true, video: true },
        { id: "d", file: d, offsetMs: 1000, audio: true, video: false },
        { id: "e", file: e, offsetMs: 5000, audio: true, video: true },
      ],
    }),
  );
  expect((await r.post(job)).status).toBe(202);
  const final = await fw.waitForFinal("video", 90_000);
  expect(final, JSON.stringify(final)).toMatchObject({ event: "completed", engine: "native" });
  file = fw.uploads.get("video")!.path;
});
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

const at = async (t: number, points: [number, number][]) => (await pixelsAt(file, t, points)).map(colorName);
const quads: [number, number][] = [
  [160, 90],
  [480, 90],
  [160, 270],
  [480, 270],
];

describe("VIDEO job", () => {
  it("is H.264 yuv420p 640x360 with AAC 48 kHz, as long as the recording", async () => {
    const info = await probe(file);
    expect(info.video).toMatchObject({ codec: "h264", width: 640, height: 360, pixFmt: "yuv420p" });
    expect(info.audio).toMatchObject({ codec: "aac", sampleRate: 48000 });
    expect(Math.abs(info.duration - SPAN)).toBeLessThan(0.3);
    const final = fw.finalReport("video");
    expect(final?.event === "completed" && Math.abs(final.durationMs - SPAN * 1000)).toBeLessThan(300);
  });

  it("starts with faststart (moov before mdat)", async () => {
    const { readFile } = await import("node:fs/promises");
    const head = (await readFile(file)).subarray(0, 4096).toString("latin1");
    expect(head.indexOf("moov")).toBeGreaterThan(0);
    expect(head.indexOf("moov")).toBeLessThan(head.indexOf("mdat") === -1 ? Infinity : head.indexOf("mdat"));
  });

  it("1 tile full frame (letterboxed 4:3), then side by side with the portrait pillarboxed", async () => {
    expect(
      await at(1, [
        [320, 180],
        [20, 180],
      ]),
    ).toEqual(["red", "black"]);
    expect(
      await at(3, [
        [160, 180],
        [480, 180],
        [340, 180],
        [620, 180],
      ]),
    ).toEqual(["red", "green", "black", "black"]);
  });

  it("2×2 in join order as people join, the free cell black; re-laid when one leaves", async () => {
    expect(await at(4.5, quads)).toEqual(["red", "green", "blue", "black"]);
    expect(await at(5.5, quads)).toEqual(["red", "green", "blue", "yellow"]);
    // C left at 6 s: E moves up into the third cell.
    expect(await at(6.5, quads)).toEqual(["red", "green", "yellow", "black"]);
    expect(
      await at(7.5, [
        [160, 180],
        [480, 180],
      ]),
    ).toEqual(["red", "green"]);
  });

  it("carries the mix, including the audio-only participant", async () => {
    const tones = async (t: number) => {
      const levels = await toneLevels(file, t, 0.4, FREQS);
      return FREQS.filter((_, i) => levels[i]! > 0.03);
    };
    expect(await tones(0.3)).toEqual([440]);
    expect(await tones(4.3)).toEqual([440, 660, 880, 1100]);
    expect(await tones(5.3)).toEqual([440, 660, 880, 1100, 1320]);
    expect(await tones(7.3)).toEqual([440, 660]);
  });
});
