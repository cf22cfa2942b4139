// runJob and its HTTP side without the server: watchdog, lease loss, download failures, multipart.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNativeEngine, nativeFfprobe } from "../../container/src/engines/native.ts";
import type { Engine } from "../../container/src/engines/types.ts";
import { uploadOutput } from "../../container/src/http-io.ts";
import { JobStop, runJob, type JobContext } from "../../container/src/job.ts";
import { createProber } from "../../container/src/probe.ts";
import { makeGarbage, makeTrack, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";

let fw: FakeWorker;
let dir: string;
let wav: string;
const logs: string[] = [];

function ctx(engine: Engine, over: Partial<JobContext> = {}): JobContext {
  return {
    engines: { native: engine, prober: createProber(nativeFfprobe("ffprobe")) },
    tmpRoot: dir,
    wasmMaxBytes: 0,
    watchdogMs: 60_000,
    heartbeatMs: 500,
    log: (l) => logs.push(l),
    ...over,
  };
}

/** An engine that starts and then never advances (a hung ffmpeg). */
const hung: Engine = {
  name: "native",
  run: (_plan, { signal }) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
};

beforeAll(async () => {
  fw = await FakeWorker.start();
  dir = await tempDir("job-test-");
  wav = await makeTrack({ dir, name: "tone", format: "wav", durationSec: 2, audio: { frequency: 440 } });
});
afterAll(() => fw.close());

const audioJob = (jobId: string, behaviour = {}) =>
  fw.withSizes(
    fw.job({ jobId, type: "AUDIO", durationMs: 2000, tracks: [{ id: "a", file: wav, offsetMs: 0, audio: true, video: false }], behaviour }),
  );

describe("runJob", () => {
  it("kills a render whose output stops advancing and fails it (retryable)", async () => {
    const job = await audioJob("stall");
    const t0 = Date.now();
    const outcome = await runJob(job, new AbortController().signal, ctx(hung, { watchdogMs: 1000 }));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(outcome.status).toBe("failed");
    const final = fw.finalReport("stall");
    expect(final).toMatchObject({ event: "failed", attempt: 1, retryable: true });
    expect(final?.event === "failed" && final.error).toMatch(/stalled/);
    expect(readdirSync(dir).filter((d) => d.startsWith("render-stall"))).toEqual([]);
  });

  it("stops quietly when the Worker answers a heartbeat with 409 (lease lost)", async () => {
    const job = await audioJob("lost");
    fw.reportStatus.set("lost", 409);
    const outcome = await runJob(job, new AbortController().signal, ctx(hung));
    expect(outcome).toMatchObject({ status: "stopped", stop: "lease-lost" });
    expect(fw.reportsOf("lost").every((r) => r.event === "progress")).toBe(true);
  });

  it("a cancelled job sends no final report and leaves no temp dir", async () => {
    const job = await audioJob("cancel-unit");
    const ac = new AbortController();
    setTimeout(() => ac.abort(new JobStop("cancel")), 300);
    const outcome = await runJob(job, ac.signal, ctx(hung));
    expect(outcome).toMatchObject({ status: "stopped", stop: "cancel" });
    expect(fw.finalReport("cancel-unit")).toBeUndefined();
    expect(readdirSync(dir).filter((d) => d.startsWith("render-cancel-unit"))).toEqual([]);
  });

  it("a missing track (404) is a final failure naming the track; a 503 one is retryable", async () => {
    const engine = createNativeEngine("ffmpeg");
    await runJob(await audioJob("gone", { a: { status: 404 } }), new AbortController().signal, ctx(engine));
    expect(fw.finalReport("gone")).toMatchObject({ event: "failed", retryable: false, error: 'track "a": download failed (HTTP 404)' });
    await runJob(await audioJob("flaky", { a: { status: 503 } }), new AbortController().signal, ctx(engine));
    expect(fw.finalReport("flaky")).toMatchObject({ event: "failed", retryable: true });
    expect(fw.requests.filter((r) => r === "GET /internal/jobs/flaky/tracks/a")).toHaveLength(3);
  });

  it("renders, uploads with Content-Length and reports completion with the engine and attempt", async () => {
    const job = await audioJob("ok");
    job.attempt = 3;
    const outcome = await runJob(job, new AbortController().signal, ctx(createNativeEngine("ffmpeg")));
    expect(outcome.status).toBe("completed");
    const upload = fw.uploads.get("ok")!;
    expect(upload.contentLength).toBe(upload.size);
    const reports = fw.reportsOf("ok");
    expect(reports[0]).toMatchObject({ event: "progress", attempt: 3, progress: 0 });
    expect(reports[reports.length - 1]).toMatchObject({ event: "completed", attempt: 3, engine: "native", size: upload.size });
    expect(fw.unauthorized).toEqual([]);
  });

  it("an input that passes probing but breaks ffmpeg is still blamed on its track, without temp paths", async () => {
    const garbage = await makeGarbage(dir, "late.bin");
    const job = await fw.withSizes(
      fw.job({
        jobId: "late-bad",
        type: "AUDIO",
        durationMs: 2000,
        tracks: [
          { id: "good", file: wav, offsetMs: 0, audio: true, video: false },
          { id: "bad", file: garbage, offsetMs: 0, audio: true, video: false },
        ],
      }),
    );
    // A prober that believes everything: the failure surfaces only when ffmpeg opens the input.
    const credulous = { probe: async () => ({ durationSec: 2, hasAudio: true, hasVideo: false }) };
    const outcome = await runJob(job, new AbortController().signal, {
      ...ctx(createNativeEngine("ffmpeg")),
      engines: { native: createNativeEngine("ffmpeg"), prober: credulous },
    });
    expect(outcome).toMatchObject({ status: "failed", retryable: false });
    const final = fw.finalReport("late-bad");
    expect(final?.event === "failed" && final.error).toMatch(/^track "bad": invalid data \(ffmpeg failed \(1\): .*Invalid data/);
    expect(final?.event === "failed" && final.error).not.toContain(dir);
  });
});

describe("uploadOutput", () => {
  it("uses the multipart endpoints in parts above the threshold and reassembles the same bytes", async () => {
    const job = fw.job({ jobId: "multi", type: "VIDEO", durationMs: 1000, width: 320, height: 240, tracks: [] });
    const file = join(tmpdir(), `multi-${process.pid}.bin`);
    const bytes = randomBytes(5 * 1024 * 1024 + 123);
    await writeFile(file, bytes);
    let counted = 0;
    const size = await uploadOutput(job, file, new AbortController().signal, (n) => (counted += n), {
      multipartAbove: 1024 * 1024,
      partSize: 2 * 1024 * 1024,
    });
    expect(size).toBe(bytes.length);
    expect(counted).toBe(bytes.length);
    const upload = fw.uploads.get("multi")!;
    expect(upload.parts).toBe(3);
    expect((await readFile(upload.path)).equals(bytes)).toBe(true);
    expect(existsSync(file)).toBe(true);
  });
});
