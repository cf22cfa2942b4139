// Draining (what SIGTERM does): no new job is accepted, health and cancel keep answering, running jobs
// finish within the grace and are reported completed; what cannot finish in time is handed back at
// once (failed + handedBack, so the Worker requeues it without counting the attempt).
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RendererHealth } from "../../contract/renderer.ts";
import { makeTrack, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { startRenderer, type RunningRenderer } from "./harness.ts";

let fw: FakeWorker;
let wav: string;
let r: RunningRenderer | undefined;

beforeAll(async () => {
  fw = await FakeWorker.start();
  const dir = await tempDir("drain-test-");
  wav = await makeTrack({ dir, name: "voice", format: "wav", durationSec: 2, audio: { frequency: 440 } });
  return () => fw.close();
});
afterEach(async () => {
  await r?.close();
  r = undefined;
});

/** An audio job whose track download waits until the returned `release` is called. */
async function heldJob(jobId: string) {
  let release!: () => void;
  const hold = new Promise<void>((res) => (release = res));
  const job = await fw.withSizes(
    fw.job({
      jobId,
      type: "AUDIO",
      durationMs: 2000,
      tracks: [{ id: "p1", file: wav, offsetMs: 0, audio: true, video: false }],
      behaviour: { p1: { hold } },
    }),
  );
  return { job, release };
}

const health = async (url: string) => (await (await fetch(`${url}/health`)).json()) as RendererHealth;
const settled = (p: Promise<unknown>) => Promise.race([p.then(() => true), new Promise((res) => setTimeout(() => res(false), 200))]);

describe("renderer drain", () => {
  it("refuses new jobs, keeps answering health, lets the running job finish, then closes", async () => {
    r = await startRenderer({ slots: 2, heartbeatMs: 1000, wasmMaxBytes: 0 });
    const running = await heldJob("drain-finishes");
    expect((await r.post(running.job)).status).toBe(202);

    const drained = r.renderer.shutdown(60_000);
    const late = await heldJob("drain-late");
    expect(await r.post(late.job)).toEqual({ status: 503, body: { accepted: false, reason: "shutting-down" } });
    expect((await health(r.url)).running).toEqual(["drain-finishes"]);
    expect(await settled(drained)).toBe(false);

    running.release();
    await drained;
    expect(fw.finalReport("drain-finishes")).toMatchObject({ event: "completed", attempt: 1 });
    expect(fw.uploads.has("drain-finishes")).toBe(true);
    expect(fw.reportsOf("drain-late")).toEqual([]);
    await expect(fetch(`${r.url}/health`)).rejects.toThrow();
  });

  it("cancel still works during a drain", async () => {
    r = await startRenderer({ slots: 1, heartbeatMs: 1000, wasmMaxBytes: 0 });
    const running = await heldJob("drain-cancelled");
    expect((await r.post(running.job)).status).toBe(202);
    const drained = r.renderer.shutdown(60_000);
    expect((await fetch(`${r.url}/jobs/drain-cancelled`, { method: "DELETE" })).status).toBe(204);
    await drained;
    running.release();
    expect(r.outcomes.get("drain-cancelled")).toMatchObject({ status: "stopped", stop: "cancel" });
    // A cancelled job is not the renderer's to report: the Worker cancelled it.
    expect(fw.finalReport("drain-cancelled")).toBeUndefined();
  });

  it("a job still running when the grace ends is handed back at once, not finished", async () => {
    r = await startRenderer({ slots: 1, heartbeatMs: 1000, wasmMaxBytes: 0 });
    const running = await heldJob("drain-handed-back");
    expect((await r.post(running.job)).status).toBe(202);
    const t0 = Date.now();
    await r.renderer.shutdown(500);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(fw.finalReport("drain-handed-back")).toEqual({
      event: "failed",
      attempt: 1,
      error: "renderer shutting down",
      retryable: true,
      handedBack: true,
    });
    expect(fw.uploads.has("drain-handed-back")).toBe(false);
    running.release();
  });

  it("asked again during the grace with a shorter one (Ctrl-C after SIGTERM), it hands back now", async () => {
    r = await startRenderer({ slots: 1, heartbeatMs: 1000, wasmMaxBytes: 0 });
    const running = await heldJob("drain-cut");
    expect((await r.post(running.job)).status).toBe(202);
    const drained = r.renderer.shutdown(60_000);
    expect(await settled(drained)).toBe(false);
    const t0 = Date.now();
    await r.renderer.shutdown(0);
    await drained;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(fw.finalReport("drain-cut")).toMatchObject({ event: "failed", handedBack: true });
    running.release();
  });
});
