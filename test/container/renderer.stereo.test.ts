// QA stereo: tracks with a `channel` are mixed on that channel alone, for the MP3 and for the MP4's
// AAC track, with their level kept; decoded channel by channel.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { integratedLoudness, makeTrack, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { renderCompleted, startRenderer, type RunningRenderer } from "./harness.ts";

const AGENT = 440;
const CUSTOMER = 660;
const SUPERVISOR = 880;
let fw: FakeWorker;
let r: RunningRenderer;
const outputs = new Map<string, string>();

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer();
  const dir = await tempDir("stereo-job-");
  const video = (color: string) => ({ color, width: 320, height: 240 });
  const [agent, customer, supervisor] = await Promise.all([
    makeTrack({ dir, name: "agent", format: "webm", durationSec: 6, video: video("red"), audio: { frequency: AGENT } }),
    makeTrack({ dir, name: "customer", format: "webm", durationSec: 6, video: video("lime"), audio: { frequency: CUSTOMER } }),
    makeTrack({ dir, name: "supervisor", format: "wav", durationSec: 3, audio: { frequency: SUPERVISOR } }),
  ]);
  const tracks = (video: boolean) => [
    { id: "agent", file: agent, offsetMs: 0, audio: true, video },
    { id: "customer", file: customer, offsetMs: 0, audio: true, video },
    { id: "supervisor", file: supervisor, offsetMs: 2000, audio: true, video: false },
  ];
  const split = (job: RenderJob): RenderJob => {
    const channel = { agent: "RIGHT", customer: "LEFT", supervisor: "RIGHT" } as const;
    return { ...job, tracks: job.tracks.map((t) => ({ ...t, channel: channel[t.id as keyof typeof channel] })) };
  };
  for (const job of [
    split(fw.job({ jobId: "audio", type: "AUDIO", durationMs: 6000, tracks: tracks(false) })),
    split(fw.job({ jobId: "video", type: "VIDEO", durationMs: 6000, width: 640, height: 360, tracks: tracks(true) })),
  ]) {
    outputs.set(job.jobId, (await renderCompleted(fw, r, job)).path);
  }
}, 120_000);
afterAll(async () => {
  await r?.close();
  await fw?.close();
});

const FREQS = [AGENT, CUSTOMER, SUPERVISOR];
async function heard(job: string, t: number, channel: 0 | 1): Promise<number[]> {
  const levels = await toneLevels(outputs.get(job)!, t, 0.5, FREQS, channel);
  return FREQS.filter((_, i) => levels[i]! > 0.03);
}

describe.each(["audio", "video"])("STEREO_SPLIT (%s)", (job) => {
  it("puts the agent side on the right and the customer on the left, nothing of one on the other", async () => {
    expect(await heard(job, 0.5, 0)).toEqual([CUSTOMER]);
    expect(await heard(job, 0.5, 1)).toEqual([AGENT]);
    // The supervisor (2–5 s) joins the agent's channel.
    expect(await heard(job, 3, 0)).toEqual([CUSTOMER]);
    expect(await heard(job, 3, 1)).toEqual([AGENT, SUPERVISOR]);
    const crosstalk = await toneLevels(outputs.get(job)!, 1, 1, [AGENT, CUSTOMER], 0);
    expect(crosstalk[0]).toBeLessThan(0.001);
  });

  it("keeps each voice at its own level (1/8 full scale in, about 1/8 out)", async () => {
    const [agent] = await toneLevels(outputs.get(job)!, 1, 1, [AGENT], 1);
    expect(agent).toBeGreaterThan(0.1);
    expect(agent).toBeLessThan(0.15);
  });
});

describe("loudness", () => {
  let levelled: string;
  let split: string;
  beforeAll(async () => {
    const dir = await tempDir("loudness-job-");
    // A quiet agent (−30 dBFS) and a loud customer (−12 dBFS), both all along.
    const [quiet, loud] = await Promise.all([
      makeTrack({ dir, name: "quiet", format: "webm", durationSec: 12, audio: { frequency: AGENT, volume: 0.25 } }),
      makeTrack({ dir, name: "loud", format: "wav", durationSec: 12, audio: { frequency: CUSTOMER, volume: 2 } }),
    ]);
    const tracks = [
      { id: "agent", file: quiet, offsetMs: 0, audio: true, video: false },
      { id: "customer", file: loud, offsetMs: 0, audio: true, video: false },
    ];
    const mixed = { ...fw.job({ jobId: "loud-mixed", type: "AUDIO", durationMs: 12_000, tracks }), loudness: -20 };
    const base = fw.job({ jobId: "loud-split", type: "AUDIO", durationMs: 12_000, tracks });
    const channel = { agent: "RIGHT", customer: "LEFT" } as const;
    const splitJob: RenderJob = {
      ...base,
      loudness: -23,
      tracks: base.tracks.map((t) => ({ ...t, channel: channel[t.id as keyof typeof channel] })),
    };
    for (const job of [mixed, splitJob]) {
      await renderCompleted(fw, r, job);
    }
    levelled = fw.uploads.get("loud-mixed")!.path;
    split = fw.uploads.get("loud-split")!.path;
  }, 120_000);

  it("levels the mix to the target, within 1 LU", async () => {
    expect(Math.abs((await integratedLoudness(levelled)) + 20)).toBeLessThan(1);
  });

  it("levels each channel of a split on its own: the quiet agent and the loud customer both at the target", async () => {
    expect(Math.abs((await integratedLoudness(split, 0)) + 23)).toBeLessThan(1);
    expect(Math.abs((await integratedLoudness(split, 1)) + 23)).toBeLessThan(1);
    // Still split: nothing of the customer on the agent's channel.
    const [customerOnRight] = await toneLevels(split, 6, 1, [CUSTOMER], 1);
    expect(customerOnRight).toBeLessThan(0.001);
  });

  it("keeps the length exact", async () => {
    expect(Math.abs((await probe(split)).duration - 12)).toBeLessThan(0.1);
  });
});
