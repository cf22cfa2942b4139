// Redacted renders (compliance): inside a span the named tracks are silent (or a 1 kHz beep sounds)
// and their tiles black or blurred; outside it, and for everyone else, the output is unchanged.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redaction, RenderJob } from "../../contract/renderer.ts";
import { colorName, makeTrack, pixelsAt, tempDir, toneLevels } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { renderCompleted, startRenderer, type RunningRenderer } from "./harness.ts";

const A_HZ = 440;
const B_HZ = 660;
const BEEP_HZ = 1000;
const HEARD = 0.03;
let fw: FakeWorker;
let r: RunningRenderer;
const outputs = new Map<string, string>();

const audioRedactions: Redaction[] = [
  { startMs: 3000, endMs: 5000, tracks: ["b"], audio: "SILENCE", video: "NONE" },
  { startMs: 6000, endMs: 7000, tracks: ["a", "b"], audio: "BEEP", video: "NONE" },
];
const videoRedactions: Redaction[] = [
  { startMs: 2000, endMs: 4000, tracks: ["b"], audio: "SILENCE", video: "BLACK" },
  { startMs: 5000, endMs: 6000, tracks: ["a"], audio: "SILENCE", video: "BLUR" },
];

async function render(job: RenderJob): Promise<void> {
  outputs.set(job.jobId, (await renderCompleted(fw, r, job)).path);
}

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer();
  const dir = await tempDir("redact-job-");
  const [a, b, ga, gb] = await Promise.all([
    makeTrack({ dir, name: "a", format: "webm", durationSec: 8, audio: { frequency: A_HZ } }),
    makeTrack({ dir, name: "b", format: "webm", durationSec: 7, audio: { frequency: B_HZ } }),
    makeTrack({
      dir,
      name: "ga",
      format: "webm",
      durationSec: 8,
      video: { color: "white", width: 320, height: 240, grid: true },
      audio: { frequency: A_HZ },
    }),
    makeTrack({
      dir,
      name: "gb",
      format: "webm",
      durationSec: 8,
      video: { color: "lime", width: 320, height: 240 },
      audio: { frequency: B_HZ },
    }),
  ]);
  const audioTracks = [
    { id: "a", file: a, offsetMs: 0, audio: true, video: false },
    { id: "b", file: b, offsetMs: 1000, audio: true, video: false },
  ];
  const whole = { ...fw.job({ jobId: "audio", type: "AUDIO", durationMs: 8000, tracks: audioTracks }), redactions: audioRedactions };
  // From 2 s on: the spans move 2 s earlier in the output.
  const fromTwo = {
    ...fw.job({ jobId: "audio-from-2", type: "AUDIO", durationMs: 8000, tracks: audioTracks }),
    keep: [{ startMs: 2000, endMs: 8000 }],
    redactions: audioRedactions,
  };
  const video = {
    ...fw.job({
      jobId: "video",
      type: "VIDEO",
      durationMs: 8000,
      width: 640,
      height: 240,
      tracks: [
        { id: "a", file: ga, offsetMs: 0, audio: true, video: true },
        { id: "b", file: gb, offsetMs: 0, audio: true, video: true },
      ],
    }),
    redactions: videoRedactions,
  };
  // One at a time: the renderer takes as many jobs as it has slots.
  for (const job of [whole, fromTwo, video]) await render(job);
}, 180_000);
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

/** The frequencies heard in [t, t+w) of an output. */
async function heard(job: string, t: number, w = 0.2, freqs = [A_HZ, B_HZ, BEEP_HZ]): Promise<number[]> {
  const levels = await toneLevels(outputs.get(job)!, t, w, freqs);
  return freqs.filter((_, i) => levels[i]! > HEARD);
}

describe("a redacted AUDIO render", () => {
  it("silences the named participant inside the span only", async () => {
    expect(await heard("audio", 2.0)).toEqual([A_HZ, B_HZ]);
    expect(await heard("audio", 3.2)).toEqual([A_HZ]);
    expect(await heard("audio", 4.6)).toEqual([A_HZ]);
    expect(await heard("audio", 5.3)).toEqual([A_HZ, B_HZ]);
  });

  it("mutes up to 60 ms of the span's edges, and nothing of the span leaks", async () => {
    expect(await heard("audio", 2.84, 0.1)).toContain(B_HZ);
    expect(await heard("audio", 3.0, 0.1)).not.toContain(B_HZ);
    expect(await heard("audio", 4.9, 0.1)).not.toContain(B_HZ);
    expect(await heard("audio", 5.06, 0.1)).toContain(B_HZ);
  });

  it("replaces everyone with a 1 kHz beep in a BEEP span", async () => {
    expect(await heard("audio", 6.2, 0.6)).toEqual([BEEP_HZ]);
    expect(await heard("audio", 7.2, 0.6)).toEqual([A_HZ, B_HZ]);
  });

  it("keeps the spans on the recording's timeline when the output starts later", async () => {
    expect(await heard("audio-from-2", 0.3)).toEqual([A_HZ, B_HZ]);
    expect(await heard("audio-from-2", 1.3)).toEqual([A_HZ]);
    expect(await heard("audio-from-2", 3.3)).toEqual([A_HZ, B_HZ]);
    expect(await heard("audio-from-2", 4.2, 0.6)).toEqual([BEEP_HZ]);
  });
});

/** Luma range along a row of the left tile: the grid's black lines on white, or a blur's grey. */
async function leftTileContrast(t: number): Promise<number> {
  const row = Array.from({ length: 64 }, (_, i) => [40 + i * 4, 120] as [number, number]);
  const luma = (await pixelsAt(outputs.get("video")!, t, row)).map(([r, g, b]) => 0.299 * r + 0.587 * g + 0.114 * b);
  return Math.max(...luma) - Math.min(...luma);
}

describe("a redacted VIDEO render", () => {
  const right = async (t: number) => colorName((await pixelsAt(outputs.get("video")!, t, [[480, 120]]))[0]!);

  it("blacks the named participant's tile inside the span, and only theirs", async () => {
    expect(await right(1.8)).toBe("green");
    expect(await right(2.1)).toBe("black");
    expect(await right(3.9)).toBe("black");
    expect(await right(4.2)).toBe("green");
    expect(await leftTileContrast(3)).toBeGreaterThan(150);
  });

  it("blurs the named tile inside a BLUR span: the grid's lines are gone, and back after", async () => {
    expect(await leftTileContrast(4.5)).toBeGreaterThan(150);
    expect(await leftTileContrast(5.5)).toBeLessThan(60);
    expect(await leftTileContrast(6.5)).toBeGreaterThan(150);
    expect(await right(5.5)).toBe("green");
  });

  it("silences each participant's voice in their span", async () => {
    expect(await heard("video", 1.0)).toEqual([A_HZ, B_HZ]);
    expect(await heard("video", 3.0)).toEqual([A_HZ]);
    expect(await heard("video", 5.4)).toEqual([B_HZ]);
    expect(await heard("video", 7.0)).toEqual([A_HZ, B_HZ]);
  });
});
