// A composition split into parts (fan-out) and joined, against the same composition rendered whole:
// three 3 s VIDEO parts with people joining inside a part and exactly on a join, the AUDIO part,
// then the JOIN's stream copy. One seamless file: every frame once, 40 ms apart across the joins,
// the grid right on both sides of each, the mix in sync to the end.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { FFPROBE, colorName, frameTimes, makeTrack, pixelsAt, probe, run, tempDir, toneLevels } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { renderCompleted, startRenderer, type RunningRenderer } from "./harness.ts";

const SPAN_MS = 9000;
const PART_MS = 3000;
let fw: FakeWorker;
let r: RunningRenderer;
let joined: string;
let whole: string;
const partReports: unknown[] = [];

async function tracksJob(jobId: string, files: string[], extra: Partial<RenderJob> = {}): Promise<RenderJob> {
  const [a, b, c] = files as [string, string, string];
  const job = fw.job({
    jobId,
    type: "VIDEO",
    durationMs: SPAN_MS,
    width: 320,
    height: 180,
    tracks: [
      { id: "a", file: a, offsetMs: 0, audio: true, video: true },
      { id: "b", file: b, offsetMs: 1500, audio: true, video: true },
      { id: "c", file: c, offsetMs: 6000, audio: true, video: true },
    ],
  });
  return fw.withSizes({ ...job, ...extra });
}

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer({ slots: 4 });
  const dir = await tempDir("fanout-");
  const files = await Promise.all([
    makeTrack({
      dir,
      name: "a",
      format: "webm",
      durationSec: 9,
      video: { color: "red", width: 320, height: 240 },
      audio: { frequency: 440 },
    }),
    makeTrack({
      dir,
      name: "b",
      format: "webm",
      durationSec: 7.5,
      video: { color: "lime", width: 320, height: 240 },
      audio: { frequency: 660 },
    }),
    makeTrack({
      dir,
      name: "c",
      format: "webm",
      durationSec: 3,
      video: { color: "blue", width: 320, height: 240 },
      audio: { frequency: 880 },
    }),
  ]);
  whole = (await renderCompleted(fw, r, await tracksJob("whole", files))).path;
  const count = SPAN_MS / PART_MS;
  const parts = await Promise.all([
    ...Array.from({ length: count }, async (_, index) => {
      const keep = [{ startMs: index * PART_MS, endMs: (index + 1) * PART_MS }];
      const job = await tracksJob(`video-${index}`, files, { keep, part: { kind: "VIDEO", index, count } });
      return renderCompleted(fw, r, job);
    }),
    // Highlighted, as compositions are by default: the AUDIO part draws no grid, so it runs no speaker pass for it.
    tracksJob("audio", files, { part: { kind: "AUDIO" }, highlight: { color: "#FFC800" } }).then((job) => renderCompleted(fw, r, job)),
  ]);
  partReports.push(...parts.map((p) => p.final));
  // The join reads the parts as a Worker would serve them: registered as the "tracks" of a job.
  const served = fw.job({
    jobId: "join",
    type: "VIDEO",
    durationMs: SPAN_MS,
    width: 320,
    height: 180,
    tracks: parts.map((p, k) => ({ id: `p${k}`, file: p.path, offsetMs: 0, audio: false, video: true })),
  });
  const urls = served.tracks.map((t) => t.url);
  const joinJob: RenderJob = { ...served, tracks: [], part: { kind: "JOIN", video: urls.slice(0, count), audio: urls[count] } };
  joined = (await renderCompleted(fw, r, joinJob)).path;
}, 180_000);
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

/** The four cells of the 2×2 grid, which also read the two side-by-side tiles (left, right). */
const CELLS: [number, number][] = [
  [80, 45],
  [240, 45],
  [80, 135],
  [240, 135],
];
const at = async (file: string, t: number) => (await pixelsAt(file, t, CELLS)).map(colorName);

describe("a VIDEO composition rendered in parts and joined", () => {
  it("each VIDEO part is video only and starts on a keyframe; the AUDIO part is the mix alone", async () => {
    for (const k of [0, 1, 2]) {
      const info = await probe(fw.uploads.get(`video-${k}`)!.path);
      expect(info.audio).toBeUndefined();
      expect(Math.abs(info.duration - PART_MS / 1000)).toBeLessThan(0.05);
      const first = await run(FFPROBE, [
        "-v",
        "error",
        "-select_streams",
        "v",
        "-show_entries",
        "packet=flags",
        "-of",
        "csv=p=0",
        "-read_intervals",
        "%+#1",
        fw.uploads.get(`video-${k}`)!.path,
      ]);
      expect(first.stdout.toString().trim()).toMatch(/^K/);
    }
    const audio = await probe(fw.uploads.get("audio")!.path);
    expect(audio.video).toBeUndefined();
    expect(audio.audio).toMatchObject({ codec: "aac", sampleRate: 48000 });
    // The speaker levels came from the AUDIO part's own render (no pass before it), and its metrics with it.
    expect(r.logs.filter((l) => l.includes("[job audio#") && l.includes("speaker pass for the highlight"))).toEqual([]);
    expect(partReports.at(-1)).toMatchObject({ event: "completed", metrics: { talkSeconds: expect.any(Object) } });
    expect(fw.assets.get("audio")?.has("timeline.json")).toBe(true);
    expect(fw.assets.get("audio")?.has("waveform.json")).toBe(true);
    expect(fw.assets.get("audio")?.has("thumbnails.jpg")).toBe(false);
  });

  it("has every frame once, 40 ms apart across the joins, as many as the whole render", async () => {
    const times = await frameTimes(joined);
    expect(times.length).toBe(SPAN_MS / 40);
    expect(times.length).toBe((await frameTimes(whole)).length);
    const gaps = times.slice(1).map((t, i) => Math.round((t - times[i]!) * 1000));
    expect(new Set(gaps)).toEqual(new Set([40]));
    expect(times[0]).toBe(0);
  });

  it("keeps audio and video in sync to the end (within one frame), and is faststart H.264 + AAC", async () => {
    const info = await probe(joined);
    expect(info.video).toMatchObject({ codec: "h264", width: 320, height: 180 });
    expect(info.audio).toMatchObject({ codec: "aac" });
    expect(Math.abs(info.video!.durationSec! - SPAN_MS / 1000)).toBeLessThanOrEqual(0.04);
    expect(Math.abs(info.audio!.durationSec! - info.video!.durationSec!)).toBeLessThanOrEqual(0.04);
    const head = (await readFile(joined)).subarray(0, 4096).toString("latin1");
    expect(head.indexOf("moov")).toBeGreaterThan(0);
    expect(head.indexOf("mdat") === -1 || head.indexOf("moov") < head.indexOf("mdat")).toBe(true);
  });

  it("shows the same grid as the whole render on both sides of every join", async () => {
    // b joins inside part 0 (1.5 s); c joins exactly on the second join (6 s).
    for (const t of [0.5, 1.7, 2.96, 3.04, 5.96, 6.04, 8.9]) expect(await at(joined, t), `at ${t} s`).toEqual(await at(whole, t));
    expect(await at(joined, 2.96)).toEqual(["red", "green", "red", "green"]);
    expect(await at(joined, 3.04)).toEqual(["red", "green", "red", "green"]);
    expect(await at(joined, 6.04)).toEqual(["red", "green", "blue", "black"]);
  });

  it("carries the one mix: each voice where it speaks, across the joins", async () => {
    const [a1, b1, c1] = await toneLevels(joined, 0.5, 0.5, [440, 660, 880]);
    expect(a1).toBeGreaterThan(0.05);
    expect(b1! + c1!).toBeLessThan(0.01);
    const [, b4, c4] = await toneLevels(joined, 4, 0.5, [440, 660, 880]);
    expect(b4).toBeGreaterThan(0.05);
    expect(c4).toBeLessThan(0.01);
    const [, , c8] = await toneLevels(joined, 8.3, 0.5, [440, 660, 880]);
    expect(c8).toBeGreaterThan(0.05);
    expect(fw.assets.get("join")?.has("thumbnails.jpg")).toBe(true);
    expect(fw.assets.get("join")?.has("waveform.json")).toBe(false);
  });
});
