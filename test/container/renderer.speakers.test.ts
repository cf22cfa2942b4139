// The speaker timeline: tracks whose talk spans are known (tones switched on and off sample-exactly,
// one over a steady noise floor) → timeline.json, speakers.vtt and the metrics in the completed
// report, on the composition's own timeline (also when it starts later than the call).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { makeTalker, talkingTone, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { renderCompleted, startRenderer, type RunningRenderer } from "./harness.ts";

let fw: FakeWorker;
let r: RunningRenderer;

/** A WebM/Opus track that talks (a tone at 1/8 full scale) inside `spans`, over an optional noise floor. */
const talker = (dir: string, name: string, hz: number, spans: [number, number][], hiss = 0) =>
  makeTalker(join(dir, `${name}.webm`), talkingTone(hz, spans, 10, { hiss }));

const AGENT_TALK: [number, number][] = [
  [0.5, 3],
  [5, 6],
];
const CUSTOMER_TALK: [number, number][] = [
  [2.5, 4.5],
  [7, 9],
];

async function render(job: RenderJob) {
  const { final } = await renderCompleted(fw, r, job);
  const assets = fw.assets.get(job.jobId)!;
  expect(assets.get("timeline.json"), r.logs.join("\n")).toBeDefined();
  return {
    final,
    timeline: JSON.parse(await readFile(assets.get("timeline.json")!, "utf8")),
    vtt: await readFile(assets.get("speakers.vtt")!, "utf8"),
  };
}

let whole: Awaited<ReturnType<typeof render>>;
let later: Awaited<ReturnType<typeof render>>;

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer();
  const dir = await tempDir("speakers-job-");
  // The customer's line has a steady hiss about 50 dB below the voice.
  const [agent, customer] = await Promise.all([talker(dir, "agent", 440, AGENT_TALK), talker(dir, "customer", 660, CUSTOMER_TALK, 0.002)]);
  const tracks = [
    { id: "a", participantId: "alice", file: agent, offsetMs: 0, audio: true, video: false },
    { id: "c", participantId: "cust-7", file: customer, offsetMs: 0, audio: true, video: false },
  ];
  const named = (job: RenderJob): RenderJob => ({
    ...job,
    tracks: job.tracks.map((t) => (t.id === "a" ? { ...t, role: "AGENT", displayName: "Alice" } : { ...t, role: "CUSTOMER" })),
  });
  whole = await render(named(fw.job({ jobId: "speakers", type: "AUDIO", durationMs: 10_000, tracks })));
  later = await render({
    ...named(fw.job({ jobId: "speakers-from-2", type: "AUDIO", durationMs: 10_000, tracks })),
    keep: [{ startMs: 2000, endMs: 10_000 }],
  });
}, 120_000);
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

const near = (got: [number, number][], want: [number, number][], tol = 0.15) => {
  expect(got.length, JSON.stringify(got)).toBe(want.length);
  got.forEach(([a, b], i) => {
    expect(Math.abs(a - want[i]![0]), `start of ${JSON.stringify(got[i])}`).toBeLessThan(tol);
    expect(Math.abs(b - want[i]![1]), `end of ${JSON.stringify(got[i])}`).toBeLessThan(tol);
  });
};

describe("the speaker timeline", () => {
  it("finds every talk span within ±0.15 s, over the noise floor too", () => {
    const [agent, customer] = whole.timeline.participants;
    expect(agent).toMatchObject({ participantId: "alice", role: "AGENT", displayName: "Alice" });
    near(agent.talk, AGENT_TALK);
    near(customer.talk, CUSTOMER_TALK);
    near(whole.timeline.overtalk, [[2.5, 3]]);
    near(whole.timeline.silence, [
      [0, 0.5],
      [4.5, 5],
      [6, 7],
      [9, 10],
    ]);
  });

  it("reports the metrics, each within ±0.3 s, in the completed report and the JSON alike", () => {
    const m = whole.final.metrics!;
    expect(m).toEqual(whole.timeline.metrics);
    const close = (v: number, want: number) => expect(Math.abs(v - want), `${v} vs ${want}`).toBeLessThan(0.3);
    close(m.talkSeconds.alice!, 3.5);
    close(m.talkSeconds["cust-7"]!, 4);
    close(m.overtalkSeconds, 0.5);
    expect(m.overtalkCount).toBe(1);
    close(m.silenceSeconds, 3);
    close(m.longestSilenceSeconds, 1);
    close(m.longestMonologueSeconds, 2.5);
    expect(m.longestMonologueBy).toBe("alice");
    expect(Math.abs(m.talkRatio! - 3.5 / 7.5)).toBeLessThan(0.04);
  });

  it("writes one WebVTT cue per talk span, named by display name or role", () => {
    const cues = whole.vtt.split("\n\n").slice(1);
    expect(whole.vtt.startsWith("WEBVTT\n")).toBe(true);
    expect(cues.map((c) => c.trim().split("\n")[1])).toEqual(["Alice", "Customer", "Alice", "Customer"]);
    expect(cues[0]).toMatch(/^00:00:00\.[45]\d\d --> 00:00:0[23]\.\d{3}\nAlice/);
  });

  it("is on the composition's own timeline: from 2 s, every span 2 s earlier", () => {
    const [agent, customer] = later.timeline.participants;
    expect(Math.abs(later.timeline.duration - 8)).toBeLessThan(0.05);
    near(agent.talk, [
      [0, 1],
      [3, 4],
    ]);
    near(customer.talk, [
      [0.5, 2.5],
      [5, 7],
    ]);
  });
});
