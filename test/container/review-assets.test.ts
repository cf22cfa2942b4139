// Review assets made from a real output by the native ffmpeg: the sprite's cells show the frames
// their cues name, the peaks follow each channel's level, and a job uploads them next to its output.
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeReviewAssets, samplesPerPixel, thumbnailsVtt, PeakMeter } from "../../container/src/assets/review-assets.ts";
import { createNativeEngine, nativeFfprobe } from "../../container/src/engines/native.ts";
import type { Engine } from "../../container/src/engines/types.ts";
import { runJob } from "../../container/src/job.ts";
import { planRender } from "../../container/src/planner/index.ts";
import { withRenderTaps } from "../../container/src/planner/taps.ts";
import { thumbnailGrid } from "../../container/src/planner/thumbnails.ts";
import { createProber } from "../../container/src/probe.ts";
import { colorName, decodeAudio, FFMPEG, FFPROBE, makeTrack, pixelsAt, probe, run, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";

const native = createNativeEngine(FFMPEG);
let dir: string;
/** 6 s, 320x240: red for 3 s then blue; left channel 440 Hz at 0.5 then silent, right silent then 660 Hz at 0.25. */
let output: string;

beforeAll(async () => {
  dir = await tempDir("review-assets-");
  output = join(dir, "output.mp4");
  const audio = "aevalsrc=if(lt(t\\,3)\\,0.5*sin(2*PI*440*t)\\,0)|if(gte(t\\,3)\\,0.25*sin(2*PI*660*t)\\,0):s=48000:d=6";
  const r = await run(FFMPEG, [
    "-v",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "color=red:s=320x240:r=25:d=3",
    "-f",
    "lavfi",
    "-i",
    "color=blue:s=320x240:r=25:d=3",
    "-f",
    "lavfi",
    "-i",
    audio,
    "-filter_complex",
    "[0:v][1:v]concat=n=2:v=1:a=0[v]",
    "-map",
    "[v]",
    "-map",
    "2:a",
    "-c:v",
    "libx264",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-b:a",
    "128k",
    "-movflags",
    "+faststart",
    output,
  ]);
  expect(r.code, r.stderr).toBe(0);
});

describe("thumbnail grid and track", () => {
  it("picks an interval that keeps at most 200 frames, and even tile heights in the output's aspect", () => {
    expect(thumbnailGrid(6, 320, 240)).toEqual({ interval: 1, count: 6, columns: 6, rows: 1, width: 160, height: 120 });
    expect(thumbnailGrid(200, 1280, 720)).toMatchObject({ interval: 1, count: 200, columns: 10, rows: 20, height: 90 });
    expect(thumbnailGrid(201, 1280, 720)).toMatchObject({ interval: 2, count: 101 });
    expect(thumbnailGrid(3600, 854, 480)).toMatchObject({ interval: 20, count: 180, height: 90 });
    expect(thumbnailGrid(86_400, 640, 480)).toMatchObject({ interval: 600, count: 144 });
    for (const d of [0.5, 7, 59.9, 1000, 4000, 30_000]) expect(thumbnailGrid(d, 640, 360).count).toBeLessThanOrEqual(200);
  });

  it("one WebVTT cue per cell with a #xywh= fragment, the last ending at the output's end", () => {
    const vtt = thumbnailsVtt(thumbnailGrid(12.5, 320, 240), 12.5);
    const blocks = vtt.trim().split("\n\n");
    expect(blocks[0]).toBe("WEBVTT");
    expect(blocks).toHaveLength(14);
    expect(blocks[1]).toBe("00:00:00.000 --> 00:00:01.000\nthumbnails.jpg#xywh=0,0,160,120");
    expect(blocks[11]).toBe("00:00:10.000 --> 00:00:11.000\nthumbnails.jpg#xywh=0,120,160,120");
    expect(blocks[13]).toBe("00:00:12.000 --> 00:00:12.500\nthumbnails.jpg#xywh=320,120,160,120");
  });
});

describe("waveform", () => {
  it("samples per point: audiowaveform's 256, coarser when a call would exceed 10,000 points", () => {
    expect(samplesPerPixel(6)).toBe(256);
    expect(samplesPerPixel(1800)).toBe(8640);
    expect(Math.ceil((1800 * 48_000) / samplesPerPixel(1800))).toBeLessThanOrEqual(10_000);
  });

  it("takes min,max pairs per point from streamed s16 samples, channels interleaved, chunks cut anywhere", () => {
    // Two stereo points of 2 frames each, then a partial one: L,R L,R | L,R L,R | L,R.
    const frames = [
      [-16384, 0],
      [8192, 32767],
      [-32768, -1],
      [0, 1],
      [100, -100],
    ];
    const bytes = Buffer.alloc(frames.length * 4);
    frames.flat().forEach((v, i) => bytes.writeInt16LE(v, i * 2));
    const meter = new PeakMeter(2, 2);
    // Cut inside a sample and inside a frame.
    for (const [from, to] of [
      [0, 3],
      [3, 7],
      [7, 20],
    ])
      meter.push(bytes.subarray(from, to));
    expect(meter.result(48_000)).toEqual({
      version: 2,
      channels: 2,
      sample_rate: 48000,
      samples_per_pixel: 2,
      bits: 16,
      length: 3,
      data: [-16384, 8192, 0, 32767, -32768, 0, -1, 1, 100, 100, -100, -100],
    });
  });
});

describe("makeReviewAssets on a render's mix tap", () => {
  it("AUDIO: the peaks are the tapped mix's, and the output is not decoded again", async () => {
    const out = join(dir, "tapped");
    const fs = await import("node:fs/promises");
    await fs.mkdir(out);
    // 1 s at +1000 then 1 s at -2000, mono: what the render's mix would have written.
    const samples = Buffer.alloc(96_000 * 2);
    for (let i = 0; i < 96_000; i++) samples.writeInt16LE(i < 48_000 ? 1000 : -2000, i * 2);
    const mixSamples = join(out, "output.mp3.mix.s16");
    await fs.writeFile(mixSamples, samples);
    const files = await makeReviewAssets(
      native,
      // No output file at all: a decode of it would fail the waveform.
      { output: join(out, "missing.mp3"), type: "AUDIO", durationSec: 2, width: 0, height: 0, channels: 1, dir: out, mixSamples },
      new AbortController().signal,
    );
    const wf = JSON.parse(await readFile(files.find((f) => f.name === "waveform.json")!.file, "utf8"));
    expect(wf).toMatchObject({ version: 2, channels: 1, sample_rate: 48000, samples_per_pixel: 256, length: Math.ceil(96_000 / 256) });
    const across = Math.floor(48_000 / 256);
    expect(wf.data.slice(0, 2)).toEqual([1000, 1000]);
    // The point across the change (48,000 is not a multiple of 256) holds both levels.
    expect(wf.data.slice(2 * across, 2 * across + 2)).toEqual([-2000, 1000]);
    expect(wf.data.slice(-2)).toEqual([-2000, -2000]);
  });
});

describe("makeReviewAssets on a real output", () => {
  it("VIDEO: the sprite cell of each cue shows that second's frame; the peaks follow each channel", async () => {
    const out = join(dir, "video");
    await import("node:fs/promises").then((fs) => fs.mkdir(out));
    const files = await makeReviewAssets(
      native,
      { output, type: "VIDEO", durationSec: 6, width: 320, height: 240, channels: 2, dir: out },
      new AbortController().signal,
    );
    expect(files.map((f) => f.name).sort()).toEqual(["thumbnails.jpg", "thumbnails.vtt", "waveform.json"]);

    const sprite = files.find((f) => f.name === "thumbnails.jpg")!.file;
    expect((await probe(sprite)).video).toMatchObject({ width: 960, height: 120 });
    const cues = (await readFile(files.find((f) => f.name === "thumbnails.vtt")!.file, "utf8")).trim().split("\n\n").slice(1);
    expect(cues).toHaveLength(6);
    const centres = cues.map((c) => {
      const [x, y, w, h] = /#xywh=(\d+),(\d+),(\d+),(\d+)/.exec(c)!.slice(1).map(Number) as [number, number, number, number];
      return [x + w / 2, y + h / 2] as const;
    });
    // As PNG: ffmpeg's seek (used by pixelsAt) finds no frame in some single JPEGs.
    const png = join(out, "sprite.png");
    expect((await run(FFMPEG, ["-v", "error", "-y", "-i", sprite, png])).code).toBe(0);
    const colours = (await pixelsAt(png, 0, centres)).map(colorName);
    expect(colours).toEqual(["red", "red", "red", "blue", "blue", "blue"]);

    const wf = JSON.parse(await readFile(files.find((f) => f.name === "waveform.json")!.file, "utf8"));
    expect(wf).toMatchObject({ version: 2, channels: 2, sample_rate: 48000, samples_per_pixel: 256, bits: 16 });
    // One point per 256 decoded samples (AAC's decoder delivers its priming too: count what it gives).
    expect(wf.length).toBe(Math.ceil((await decodeAudio(output, 0, 60)).length / 256));
    expect(wf.data).toHaveLength(wf.length * 4);
    const peak = (ch: number, from: number, to: number) => {
      let m = 0;
      for (let i = Math.floor(from * wf.length); i < Math.floor(to * wf.length); i++)
        m = Math.max(m, -wf.data[i * 4 + ch * 2], wf.data[i * 4 + ch * 2 + 1]);
      return m / 32768;
    };
    // Away from the change at 3 s (AAC spreads it a little): left loud then silent, right the reverse.
    expect(peak(0, 0.05, 0.45)).toBeGreaterThan(0.42);
    expect(peak(0, 0.05, 0.45)).toBeLessThan(0.6);
    expect(peak(0, 0.55, 0.95)).toBeLessThan(0.01);
    expect(peak(1, 0.05, 0.45)).toBeLessThan(0.01);
    expect(peak(1, 0.55, 0.95)).toBeGreaterThan(0.2);
    expect(peak(1, 0.55, 0.95)).toBeLessThan(0.3);
  });
});

describe("runJob uploads the review assets next to the output", () => {
  let fw: FakeWorker;
  let cam: string;
  const logs: string[] = [];
  beforeAll(async () => {
    fw = await FakeWorker.start();
    cam = await makeTrack({
      dir,
      name: "cam",
      format: "webm",
      durationSec: 3,
      video: { color: "green", width: 320, height: 240 },
      audio: { frequency: 440 },
    });
  });
  afterAll(() => fw.close());
  const ctx = (engine: Engine) => ({
    engines: { native: engine, prober: createProber(nativeFfprobe("ffprobe")) },
    tmpRoot: dir,
    wasmMaxBytes: 0,
    watchdogMs: 60_000,
    heartbeatMs: 500,
    log: (l: string) => logs.push(l),
  });
  const job = (jobId: string, type: "AUDIO" | "VIDEO") =>
    fw.withSizes(
      fw.job({
        jobId,
        type,
        durationMs: 3000,
        width: 320,
        height: 240,
        tracks: [{ id: "a", file: cam, offsetMs: 0, audio: true, video: type === "VIDEO" }],
      }),
    );

  it("VIDEO: sprite, track and peaks; AUDIO: peaks only; all before the completed report", async () => {
    const passes: string[][] = [];
    const watched: Engine = { ...native, runArgs: (args, o) => (passes.push([...args]), native.runArgs!(args, o)) };
    expect((await runJob(await job("assets-video", "VIDEO"), new AbortController().signal, ctx(watched))).status).toBe("completed");
    // The sprite was tiled from the thumbnails the render took: no pass decoded the output for it.
    const tiled = passes.filter((a) => a.some((x) => x.includes("tile=")));
    expect(tiled.map((a) => a[a.indexOf("-i") + 1])).toEqual([expect.stringMatching(/\.thumbnails\.yuv$/)]);
    const spriteSize = await run(FFPROBE, [
      "-v",
      "error",
      "-show_entries",
      "stream=width,height",
      "-of",
      "csv=p=0",
      fw.assets.get("assets-video")!.get("thumbnails.jpg")!,
    ]);
    expect(spriteSize.stdout.toString().trim()).toBe("480,120");
    expect([...(fw.assets.get("assets-video")?.keys() ?? [])].sort()).toEqual([
      "speakers.vtt",
      "thumbnails.jpg",
      "thumbnails.vtt",
      "timeline.json",
      "waveform.json",
    ]);
    const vtt = await readFile(fw.assets.get("assets-video")!.get("thumbnails.vtt")!, "utf8");
    expect(vtt.trim().split("\n\n")).toHaveLength(4);
    expect((await runJob(await job("assets-audio", "AUDIO"), new AbortController().signal, ctx(native))).status).toBe("completed");
    expect([...(fw.assets.get("assets-audio")?.keys() ?? [])].sort()).toEqual(["speakers.vtt", "timeline.json", "waveform.json"]);
    const wf = JSON.parse(await readFile(fw.assets.get("assets-audio")!.get("waveform.json")!, "utf8"));
    // The track is mono, so is the call's MP3, and its waveform has one band.
    expect(wf).toMatchObject({ version: 2, channels: 1, bits: 16 });
    const reports = fw.requests.filter((r) => r.includes("assets-audio"));
    expect(
      reports.indexOf(
        "POST /internal/jobs/assets-audio/report",
        reports.indexOf("PUT /internal/jobs/assets-audio/output/assets/waveform.json"),
      ),
    ).toBeGreaterThan(0);
  });

  it("a composition still completes when its assets cannot be made (logged); the speaker levels come from the render itself", async () => {
    // Its render leaves no mix tap behind (as wasm writes none), so the waveform needs a decode, which fails.
    const failing: Engine = {
      name: "native",
      run: async (plan, o) => {
        await native.run(plan, o);
        if (plan.graph.mixTap) await rm(plan.graph.mixTap);
      },
      runArgs: () => Promise.reject(new Error("no ffmpeg here")),
      pipeArgs: () => Promise.reject(new Error("no ffmpeg here")),
    };
    const outcome = await runJob(await job("assets-fail", "AUDIO"), new AbortController().signal, ctx(failing));
    expect(outcome.status).toBe("completed");
    expect(fw.finalReport("assets-fail")).toMatchObject({ event: "completed" });
    // No waveform (its pass failed), but the timeline: the render wrote the tracks' level samples
    // itself, so no second command had to decode them.
    expect([...(fw.assets.get("assets-fail")?.keys() ?? [])].sort()).toEqual(["speakers.vtt", "timeline.json"]);
    expect(logs.some((l) => l.includes("review assets not made: no ffmpeg here"))).toBe(true);
  });
});

describe("the render's own thumbnails", () => {
  it("leave ffmpeg's progress running: positions come all through a whole VIDEO render, not only at its end", async () => {
    const cam = await makeTrack({
      dir,
      name: "busy-cam",
      format: "webm",
      durationSec: 20,
      video: { color: "blue", width: 640, height: 480, grid: true },
      audio: { frequency: 330 },
    });
    const job = new FakeWorker().job({
      jobId: "progress",
      type: "VIDEO",
      durationMs: 20_000,
      width: 1280,
      height: 720,
      tracks: [{ id: "a", file: cam, offsetMs: 0, audio: true, video: true }],
    });
    const plan = planRender(
      job,
      { a: { durationSec: 20, hasAudio: true, hasVideo: true } },
      { inputs: { a: cam }, output: join(dir, "progress.mp4") },
    );
    expect(plan.graph.sprite).toBeDefined();
    // As the job runs it: the speaker levels and the mix written beside it too.
    const tapped = withRenderTaps(job, plan, false);
    expect(tapped.graph.mixTap).toBeDefined();
    const positions: number[] = [];
    await createNativeEngine(FFMPEG).run(tapped, { signal: new AbortController().signal, onProgress: (t) => positions.push(t) });
    expect(positions.filter((t) => t > 0 && t < 18).length, `positions ${positions.join(", ")}`).toBeGreaterThan(0);
    // One raw 160×90 frame per second of output, ready to tile.
    expect((await stat(plan.graph.sprite!.frames)).size).toBe(20 * 160 * 90 * 1.5);
  }, 30_000);
});
