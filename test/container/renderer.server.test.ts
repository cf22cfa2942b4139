// The renderer's HTTP behaviour: validation, slots, duplicates, a corrupt track, progress and
// cancellation of a running ffmpeg.
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RendererHealthSchema, type RendererHealth } from "../../contract/renderer.ts";
import { makeGarbage, makeTrack, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { processesMatching, sleep, startRenderer, type RunningRenderer } from "./harness.ts";

let fw: FakeWorker;
let r: RunningRenderer;
let wav: string;
let cam: string;
let garbage: string;

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer({ slots: 1, heartbeatMs: 1000, wasmMaxBytes: 0 });
  const dir = await tempDir("server-test-");
  [wav, cam, garbage] = await Promise.all([
    makeTrack({ dir, name: "voice", format: "wav", durationSec: 2, audio: { frequency: 440 } }),
    makeTrack({
      dir,
      name: "cam",
      format: "webm",
      durationSec: 2,
      video: { color: "red", width: 320, height: 240 },
      audio: { frequency: 660 },
    }),
    makeGarbage(dir, "p2.webm"),
  ]);
});
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

const audioJob = (jobId: string, extra: { hold?: Promise<unknown> } = {}) =>
  fw.withSizes(
    fw.job({
      jobId,
      type: "AUDIO",
      durationMs: 2000,
      tracks: [{ id: "p1", file: wav, offsetMs: 0, audio: true, video: false }],
      behaviour: extra.hold ? { p1: { hold: extra.hold } } : {},
    }),
  );

/** GET /health, held to the contract: valid, and nothing the schema would strip. */
async function health(): Promise<RendererHealth> {
  const body: unknown = await (await fetch(`${r.url}/health`)).json();
  const parsed = RendererHealthSchema.parse(body);
  expect(parsed).toEqual(body);
  return parsed;
}

describe("renderer server", () => {
  it("reports its engines and slots on /health", async () => {
    expect(await health()).toEqual({ ok: true, engines: { native: true, wasm: true }, slots: 1, running: [] });
  });

  it("refuses an invalid body with 400 naming the fields", async () => {
    const bad = await r.post({ jobId: "x", type: "AUDIO" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("tracks");
    const job = await audioJob("mismatch");
    expect((await r.post({ ...job, format: "MP4" })).status).toBe(400);
    expect((await fetch(`${r.url}/jobs`, { method: "POST", body: "{not json" })).status).toBe(400);
  });

  it("a corrupt track fails the job naming the track (not retryable), and the next job still renders", async () => {
    const job = await fw.withSizes(
      fw.job({
        jobId: "corrupt",
        type: "AUDIO",
        durationMs: 2000,
        tracks: [
          { id: "p1", file: wav, offsetMs: 0, audio: true, video: false },
          { id: "p2", file: garbage, offsetMs: 500, audio: true, video: true },
        ],
      }),
    );
    expect((await r.post(job)).status).toBe(202);
    const final = await fw.waitForFinal("corrupt");
    expect(final).toMatchObject({ event: "failed", attempt: 1, retryable: false });
    expect(final.event === "failed" && final.error).toMatch(/^track "p2": invalid data \(.+\)$/);
    expect(final.event === "failed" && final.error).not.toContain(tmpdir());
    expect(fw.uploads.has("corrupt")).toBe(false);

    expect((await r.post(await audioJob("after-corrupt"))).status).toBe(202);
    expect(await fw.waitForFinal("after-corrupt")).toMatchObject({ event: "completed" });
  });

  it("answers 503 busy when every slot is taken and 409 for a job already running; cancel frees the slot", async () => {
    let release!: () => void;
    const held = await audioJob("held", { hold: new Promise<void>((res) => (release = res)) });
    expect(await r.post(held)).toEqual({ status: 202, body: { accepted: true } });
    expect(await r.post(await audioJob("second"))).toEqual({ status: 503, body: { accepted: false, reason: "busy" } });
    expect(await r.post(held)).toEqual({ status: 409, body: { accepted: false, reason: "duplicate" } });
    expect((await health()).running).toEqual(["held"]);

    expect((await fetch(`${r.url}/jobs/held`, { method: "DELETE" })).status).toBe(204);
    expect((await fetch(`${r.url}/jobs/held`, { method: "DELETE" })).status).toBe(404);
    release();
    expect((await health()).running).toEqual([]);
    expect(fw.finalReport("held")).toBeUndefined();
    expect(r.outcomes.get("held")).toMatchObject({ status: "stopped", stop: "cancel" });

    expect((await r.post(await audioJob("second"))).status).toBe(202);
    expect(await fw.waitForFinal("second")).toMatchObject({ event: "completed" });
  });

  it("heartbeats progress during a long render; cancel kills ffmpeg within 5 s, uploads nothing, cleans up", async () => {
    // A 5-minute 1280x720 span with 2 s of camera: long enough to catch ffmpeg at work.
    const job = await fw.withSizes(
      fw.job({
        jobId: "long-render",
        type: "VIDEO",
        durationMs: 300_000,
        width: 1280,
        height: 720,
        tracks: [{ id: "cam", file: cam, offsetMs: 1000, audio: true, video: true }],
      }),
    );
    expect((await r.post(job)).status).toBe(202);
    const rendering = () => fw.reports.get("long-render")?.filter((x) => x.report.event === "progress" && x.report.progress > 10) ?? [];
    await fw.waitFor(() => rendering().length >= 3, 60_000, "three progress reports while rendering");

    const progress = fw.reports.get("long-render")!;
    const values = progress.map((x) => (x.report.event === "progress" ? x.report.progress : -1));
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values.every((v) => v >= 0 && v <= 100)).toBe(true);
    expect(rendering().some((x) => x.report.event === "progress" && typeof x.report.etaSeconds === "number")).toBe(true);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.at - progress[i - 1]!.at).toBeLessThan(2500);

    const ffmpeg = processesMatching("render-long-render-");
    expect(ffmpeg.length).toBe(1);
    const t0 = Date.now();
    expect((await fetch(`${r.url}/jobs/long-render`, { method: "DELETE" })).status).toBe(204);
    while (processesMatching("render-long-render-").length > 0) {
      expect(Date.now() - t0).toBeLessThan(5000);
      await sleep(50);
    }
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith("render-long-render-"))).toEqual([]);
    await sleep(500);
    expect(fw.uploads.has("long-render")).toBe(false);
    expect(fw.finalReport("long-render")).toBeUndefined();
  });
});
