// Tile labels: each tile carries its participant's displayName, else their role in words, read back
// from the frames with Debian's tesseract; a participant known only by id gets no label at all.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { colorName, FFMPEG, makeTrack, pixelsAt, run, talkingTone, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { renderCompleted, startRenderer, type RunningRenderer } from "./harness.ts";

let fw: FakeWorker;
let r: RunningRenderer;
let dir: string;
const outputs = new Map<string, string>();

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer();
  dir = await tempDir("labels-job-");
  const camera = (name: string, color: string) =>
    makeTrack({ dir, name, format: "webm", durationSec: 3, video: { color, width: 320, height: 240 }, audio: { frequency: 440 } });
  const [a, b, c] = await Promise.all([camera("a", "darkred"), camera("b", "darkgreen"), camera("c", "navy")]);
  const make = (jobId: string, labels: boolean): RenderJob => {
    const base = fw.job({
      jobId,
      type: "VIDEO",
      durationMs: 3000,
      width: 640,
      height: 360,
      tracks: [
        { id: "a", participantId: "alice-7f3", file: a, offsetMs: 0, audio: true, video: true },
        { id: "b", participantId: "cust-991", file: b, offsetMs: 0, audio: true, video: true },
        { id: "c", participantId: "secret-id-123", file: c, offsetMs: 0, audio: true, video: true },
      ],
    });
    const tracks = base.tracks.map((t) =>
      t.id === "a" ? { ...t, role: "AGENT" as const, displayName: "Alice Jones" } : t.id === "b" ? { ...t, role: "CUSTOMER" as const } : t,
    );
    return { ...base, tracks, labels };
  };
  for (const job of [make("labels", true), make("no-labels", false)]) {
    outputs.set(job.jobId, (await renderCompleted(fw, r, job)).path);
  }
}, 120_000);
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

/** The text tesseract reads in the lower half of a 320×180 cell of the frame at 1.5 s. */
async function cellText(job: string, x: number, y: number): Promise<string> {
  const png = join(dir, `${job}-${x}-${y}.png`);
  const crop = await run(FFMPEG, [
    "-v",
    "error",
    "-y",
    "-ss",
    "1.5",
    "-i",
    outputs.get(job)!,
    "-frames:v",
    "1",
    "-vf",
    `crop=320:90:${x}:${y + 90},scale=iw*2:-1`,
    png,
  ]);
  expect(crop.code, crop.stderr).toBe(0);
  const ocr = await run("tesseract", [png, "stdout", "--psm", "6"]);
  return ocr.stdout.toString().trim();
}

describe("tile labels", () => {
  it("names each tile by displayName, else role; never by participantId", async () => {
    expect(await cellText("labels", 0, 0)).toContain("Alice Jones");
    expect(await cellText("labels", 320, 0)).toContain("Customer");
    const third = await cellText("labels", 0, 180);
    expect(third).not.toContain("secret");
    expect(third.replace(/\W/g, "")).toBe("");
  });

  it("labels: false draws none", async () => {
    expect((await cellText("no-labels", 0, 0)).replace(/\W/g, "")).toBe("");
    expect((await cellText("no-labels", 320, 0)).replace(/\W/g, "")).toBe("");
  });
});

describe("the speaker highlight", () => {
  let file: string;
  beforeAll(async () => {
    // Agent (left) talks 0.5–2 s, the customer (right) 2.5–4 s; both on camera all along.
    const talker = async (name: string, color: string, hz: number, [a, b]: [number, number]) => {
      const out = join(dir, `${name}.webm`);
      const res = await run(FFMPEG, [
        ...["-v", "error", "-y", "-f", "lavfi", "-i", `color=c=${color}:s=320x240:r=15:d=5`],
        ...["-f", "lavfi", "-i", talkingTone(hz, [[a, b]], 5)],
        ...["-c:v", "libvpx", "-b:v", "300k", "-c:a", "libopus", out],
      ]);
      expect(res.code, res.stderr).toBe(0);
      return out;
    };
    const [a, b] = await Promise.all([talker("ha", "gray", 440, [0.5, 2]), talker("hb", "gray", 660, [2.5, 4])]);
    const job: RenderJob = {
      ...fw.job({
        jobId: "highlight",
        type: "VIDEO",
        durationMs: 5000,
        width: 640,
        height: 360,
        tracks: [
          { id: "a", file: a, offsetMs: 0, audio: true, video: true },
          { id: "b", file: b, offsetMs: 0, audio: true, video: true },
        ],
      }),
      highlight: { color: "#FFC800" },
    };
    file = (await renderCompleted(fw, r, job)).path;
  }, 60_000);

  /** The top edge of each tile (640×360, two 320-wide cells: 4:3 tiles 320×240 at y 60–300). */
  const edges = async (t: number) =>
    (
      await pixelsAt(file, t, [
        [160, 63],
        [480, 63],
      ])
    ).map(colorName);

  it("frames the tile of whoever talks, in the colour asked, only while they talk", async () => {
    expect(await edges(1.2)).toEqual(["yellow", "white"]);
    expect(await edges(3.2)).toEqual(["white", "yellow"]);
    expect(await edges(4.6)).toEqual(["white", "white"]);
  });
});
