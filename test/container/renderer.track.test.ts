// TRACK jobs (source redaction): one stored track rewritten on its own timeline, the span's media
// gone from the file itself, the rest as it was.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { colorName, FFMPEG, makeTrack, pixelsAt, probe, run, tempDir, toneLevels } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { renderCompleted, startRenderer, type RunningRenderer } from "./harness.ts";

const HZ = 660;
let fw: FakeWorker;
let r: RunningRenderer;
const inputs = new Map<string, string>();
const outputs = new Map<string, string>();

function trackJob(
  jobId: string,
  file: string,
  video: boolean,
  redaction: { audio: "SILENCE" | "BEEP"; video: "BLACK" | "BLUR" | "NONE" },
): RenderJob {
  inputs.set(jobId, file);
  const job = fw.job({ jobId, type: "VIDEO", durationMs: 6000, tracks: [{ id: "t", file, offsetMs: 0, audio: true, video }] });
  return { ...job, type: "TRACK", format: "WEBM", redactions: [{ startMs: 2000, endMs: 4000, tracks: ["t"], ...redaction }] };
}

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer();
  const dir = await tempDir("track-job-");
  const file = await makeTrack({
    dir,
    name: "cam",
    format: "webm",
    durationSec: 6,
    video: { color: "lime", width: 320, height: 240 },
    audio: { frequency: HZ },
  });
  for (const job of [
    trackJob("black", file, true, { audio: "SILENCE", video: "BLACK" }),
    trackJob("beep", file, true, { audio: "BEEP", video: "NONE" }),
  ]) {
    const { path, final } = await renderCompleted(fw, r, job);
    expect(final.engine).toBe("native");
    outputs.set(job.jobId, path);
  }
}, 120_000);
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

/** The video stream's packets, hashed one by one (stream copy keeps every one). */
async function packetHashes(file: string): Promise<string[]> {
  const out = await run(FFMPEG, ["-v", "error", "-i", file, "-map", "0:v", "-c", "copy", "-f", "framemd5", "pipe:1"]);
  return out.stdout
    .toString()
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(",").at(-1)!.trim());
}

describe("a rewritten track", () => {
  it("is WebM VP8/Opus of the original's length", async () => {
    const info = await probe(outputs.get("black")!);
    expect(info.video?.codec).toBe("vp8");
    expect(info.audio?.codec).toBe("opus");
    expect(Math.abs(info.duration - 6)).toBeLessThan(0.2);
  });

  it("BLACK + SILENCE: no picture and no voice inside the span, both unchanged outside it", async () => {
    const file = outputs.get("black")!;
    const at = async (t: number) => colorName((await pixelsAt(file, t, [[160, 120]]))[0]!);
    expect([await at(1.5), await at(2.3), await at(3.7), await at(4.5)]).toEqual(["green", "black", "black", "green"]);
    const level = async (t: number) => (await toneLevels(file, t, 0.3, [HZ]))[0]!;
    expect(await level(1.2)).toBeGreaterThan(0.05);
    for (const t of [2.05, 3, 3.65]) expect(await level(t), `at ${t}s`).toBeLessThan(0.002);
    expect(await level(4.4)).toBeGreaterThan(0.05);
  });

  it("BEEP with video NONE: the tone replaced by 1 kHz in the span, every video packet copied as it was", async () => {
    const file = outputs.get("beep")!;
    const [voice, beep] = await toneLevels(file, 2.5, 1, [HZ, 1000]);
    expect(voice).toBeLessThan(0.002);
    expect(beep).toBeGreaterThan(0.05);
    expect((await toneLevels(file, 4.5, 1, [HZ]))[0]).toBeGreaterThan(0.05);
    const original = await packetHashes(inputs.get("beep")!);
    expect(await packetHashes(file)).toEqual(original);
  });
});
