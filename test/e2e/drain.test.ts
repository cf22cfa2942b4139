// A renderer stopped by the platform (SIGTERM: a rollout, or an idle instance put to sleep) loses no
// render: it takes no new job, lets the running one finish and exits; what cannot finish within the
// drain grace is handed back at once and completes on the next renderer, without costing an attempt.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTrack, makeTwoCameraCall, probe, tempDir } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, queryD1, startTestStack, SUPERVISOR, waitForState, type TestStack } from "./harness.ts";

let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = await tempDir("e2e-drain-");
  // A 40 s two-camera call renders for several seconds (long enough to be signalled mid-render).
  const [[a, b], tone] = await Promise.all([
    makeTwoCameraCall(dir, 40),
    makeTrack({ dir, name: "tone", format: "wav", durationSec: 4, audio: { frequency: 880 } }),
  ]);
  stack = await startTestStack({ cronEveryMs: 1000 });
  await ingestRecording(stack, "conv-long", 40, [
    { id: "a", participantId: "agent", start: 0, audio: true, video: true, file: a, contentType: "video/mp4" },
    { id: "b", participantId: "customer", start: 0, audio: true, video: true, file: b, contentType: "video/mp4" },
  ]);
  await ingestRecording(stack, "conv-short", 4, [
    { id: "t", participantId: "agent", start: 0, audio: true, video: false, file: tone, contentType: "audio/wav" },
  ]);
}, 300_000);

afterAll(async () => {
  await stack?.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function request(conversationId: string, body: Record<string, unknown>): Promise<string> {
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId, layout: "GRID", name: "drain", resolution: "320x240", type: "AUDIO", ...body },
  });
  expect(res.status, res.text).toBe(200);
  return res.json.id;
}

async function logged(what: string | RegExp, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const seen = () => (typeof what === "string" ? stack.logs().includes(what) : what.test(stack.logs()));
  while (!seen()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for log ${what}\n${stack.logs().slice(-4000)}`);
    await sleep(100);
  }
}

const count = (needle: string) => stack.logs().split(needle).length - 1;

async function attempts(id: string): Promise<number> {
  const [row] = await queryD1<{ attempts: number }>(stack, `SELECT attempts FROM compositions WHERE id = '${id}'`);
  return row!.attempts;
}

async function expectFullLength(conversationId: string, id: string, name: string): Promise<void> {
  const file = join(dir, name);
  await downloadOutput(stack, conversationId, id, file);
  expect(Math.abs((await probe(file)).duration - 40)).toBeLessThan(0.3);
}

describe("a renderer stopped by the platform", () => {
  it("SIGTERM mid-render: the render still completes on its first attempt, new jobs wait, and the renderer exits", async () => {
    const id = await request("conv-long", { type: "VIDEO", resolution: "640x360" });
    await logged(`[job ${id}#1] rendering`);
    await sleep(1000); // ffmpeg is busy now
    expect((await waitForState(stack, "conv-long", id, ["PROCESSING"])).state).toBe("PROCESSING");

    const stopping = stack.stopRenderer("SIGTERM", { graceMs: 180_000 });
    await logged(/SIGTERM: draining 1 job\(s\)/);
    // Asked while it drains, the renderer refuses; the job waits QUEUED, no attempt spent.
    const waiting = await request("conv-short", {});
    await logged(/renderer refused job.*shutting-down/);
    const exit = await stopping;
    // It exited by itself (no SIGKILL), after the running render completed.
    expect(exit).toMatchObject({ code: 0, killed: false });
    const view = await waitForState(stack, "conv-long", id, ["COMPLETED", "FAILED"], 10_000);
    expect(view.state, view.error).toBe("COMPLETED");
    expect(stack.logs()).toContain(`[job ${id}#1] completed`);
    expect(stack.logs()).not.toContain(`[job ${id}#2]`);
    expect(await attempts(id)).toBe(1);
    await expectFullLength("conv-long", id, "drained.mp4");

    expect((await waitForState(stack, "conv-short", waiting, ["QUEUED", "PROCESSING", "COMPLETED", "FAILED"])).state).toBe("QUEUED");
    await stack.startRenderer();
    const after = await waitForState(stack, "conv-short", waiting, ["COMPLETED", "FAILED"], 120_000);
    expect(after.state, after.error).toBe("COMPLETED");
    expect(stack.logs()).toContain(`[job ${waiting}#1] accepted`);
    expect(await attempts(waiting)).toBe(1);
  });

  it("a drain grace shorter than the render: handed back at once, requeued without an attempt, completed on the next renderer", async () => {
    await stack.stopRenderer();
    await stack.startRenderer({ RENDERER_DRAIN_SECONDS: "1" });
    const id = await request("conv-long", { type: "VIDEO", resolution: "640x360" });
    await logged(`[job ${id}#1] rendering`);
    await sleep(500);

    const t0 = Date.now();
    const exit = await stack.stopRenderer("SIGTERM", { graceMs: 30_000 });
    expect(exit).toMatchObject({ code: 0, killed: false });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(stack.logs()).toContain("drain: handing back 1 unfinished job(s)");
    // Back in the queue (its reason is shown until a dispatch, refused while no renderer runs, claims it).
    expect((await waitForState(stack, "conv-long", id, ["QUEUED", "FAILED", "COMPLETED"], 10_000)).state).toBe("QUEUED");

    await stack.startRenderer();
    const view = await waitForState(stack, "conv-long", id, ["COMPLETED", "FAILED"], 180_000);
    expect(view.state, view.error).toBe("COMPLETED");
    // Both runs were attempt 1: the hand-back cost nothing.
    expect(count(`[job ${id}#1] accepted`)).toBe(2);
    expect(stack.logs()).not.toContain(`[job ${id}#2]`);
    expect(await attempts(id)).toBe(1);
    await expectFullLength("conv-long", id, "handed-back.mp4");
  });
});
