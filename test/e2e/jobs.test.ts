// Issue 3 end to end: the job queue's promises over the running stack with one renderer slot:
// strict priority, cancel of a running render, a renderer killed mid-job, the wasm engine.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTrack, makeTwoCameraCall, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, waitForState, type TestStack } from "./harness.ts";

let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = await tempDir("e2e-jobs-");
  // A call long and large enough that a 1080p render takes many seconds on two cores.
  const [[a, b], tone] = await Promise.all([
    makeTwoCameraCall(dir, 60, 640, 360),
    makeTrack({ dir, name: "tone", format: "wav", durationSec: 4, audio: { frequency: 880 } }),
  ]);
  stack = await startTestStack({ rendererEnv: { SLOTS: "1" }, vars: { LEASE_SECONDS: "8" }, cronEveryMs: 1000 });
  await ingestRecording(stack, "conv-long", 60, [
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

async function request(conversationId: string, body: Record<string, unknown>): Promise<string> {
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId, layout: "GRID", name: "job", resolution: "320x240", type: "AUDIO", ...body },
  });
  expect(res.status, res.text).toBe(200);
  return res.json.id;
}

const longVideo = (priority = 1) => request("conv-long", { type: "VIDEO", resolution: "1920x1080", priority });
const rendererRunning = async (): Promise<string[]> => {
  const res = await fetch(`${stack.rendererUrl}/health`).catch(() => null);
  return res?.ok ? ((await res.json()) as { running: string[] }).running : [];
};

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}\n${stack.logs().slice(-3000)}`);
}

describe("job queue over the running stack", () => {
  it("cancels a running render: the renderer stops it within 5 s and nothing is served", async () => {
    const id = await longVideo();
    await waitForState(stack, "conv-long", id, ["PROCESSING"]);
    await until("the render to start", async () => (await rendererRunning()).includes(id));
    const res = await stack.api("POST", `/conv-long/${id}/cancel`, { as: SUPERVISOR });
    expect(res.status, res.text).toBe(200);
    expect(res.json.state).toBe("CANCELLED");
    const stoppedAt = Date.now();
    await until("the renderer to drop the job", async () => !(await rendererRunning()).includes(id), 5000);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    const view = await waitForState(stack, "conv-long", id, ["CANCELLED"]);
    expect(view.state).toBe("CANCELLED");
    const link = await stack.api("GET", `/player/conv-long/${id}/url/inline?conversationId=conv-long&id=${id}`, {
      as: SUPERVISOR,
      headers: { Referer: "http://x/" },
    });
    expect(link.status).toBe(409);
  });

  it("runs strictly by priority: a high-priority job submitted last starts before earlier low ones", async () => {
    const blocker = await longVideo(5);
    await waitForState(stack, "conv-long", blocker, ["PROCESSING"]);
    const low0 = await request("conv-short", { priority: 0, name: "low0" });
    const low1 = await request("conv-short", { priority: 1, name: "low1" });
    const high = await request("conv-short", { priority: 9, name: "high" });
    // Free the slot. With one slot jobs run one after another, so the order they complete in is
    // the order the dispatcher claimed them: high first, then by priority, whatever the arrival.
    await stack.api("POST", `/conv-long/${blocker}/cancel`, { as: SUPERVISOR });
    const done = await Promise.all([high, low1, low0].map((id) => waitForState(stack, "conv-short", id, ["COMPLETED"])));
    const completedAt = done.map((v) => Date.parse(v.completed));
    expect(completedAt[0]).toBeLessThan(completedAt[1]!);
    expect(completedAt[1]).toBeLessThan(completedAt[2]!);
  });

  it("a renderer killed mid-render loses nothing: the lease expires and a later attempt completes", async () => {
    const id = await request("conv-long", { type: "VIDEO", resolution: "640x360" });
    await waitForState(stack, "conv-long", id, ["PROCESSING"]);
    await until("the render to start", async () => (await rendererRunning()).includes(id));
    await stack.stopRenderer("SIGKILL");
    await stack.startRenderer();
    const view = await waitForState(stack, "conv-long", id, ["COMPLETED", "FAILED"], 180_000);
    expect(view.state, view.error).toBe("COMPLETED");
    const file = join(dir, "recovered.mp4");
    await downloadOutput(stack, "conv-long", id, file);
    expect(Math.abs((await probe(file)).duration - 60)).toBeLessThan(0.3);
  });

  it("the same audio job completes on the wasm engine when no native ffmpeg is available", async () => {
    await stack.stopRenderer();
    await stack.startRenderer({ RENDERER_DISABLE_NATIVE: "1" });
    const id = await request("conv-short", { name: "wasm" });
    const view = await waitForState(stack, "conv-short", id, ["COMPLETED", "FAILED"]);
    expect(view.state, view.error).toBe("COMPLETED");
    expect(stack.logs()).toMatch(new RegExp(`${id}.*engine wasm|engine wasm.*${id}`));
    const file = join(dir, "wasm.mp3");
    await downloadOutput(stack, "conv-short", id, file);
    expect(Math.abs((await probe(file)).duration - 4)).toBeLessThan(0.3);
    const [level] = await toneLevels(file, 1, 1, [880]);
    expect(level).toBeGreaterThan(0.05);
  });
});
