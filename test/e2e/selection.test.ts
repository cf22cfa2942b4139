// Integrations — source selection and trimming, end to end over the running stack: request with
// audioSourcesExcluded / videoSourcesExcluded / trim / from+to, let the real renderer compose, and
// check the decoded output: an excluded participant's tone is absent from the mix at every sampled
// moment and its colour from every sampled frame (the grid re-laid without it); a trimmed output
// lasts the sum of the kept spans with the right tones on both sides of the cut.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colorName, makeTrack, pixelsAt, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, waitForState, type TestStack, type TrackFile } from "./harness.ts";

let stack: TestStack;
let dir: string;
const timings: Record<string, number> = {};

// conv-sel, 12 s: agent 0–12 (red, 440 Hz), customer 3–9 (lime, 660 Hz), expert 6–12 (blue,
// 880 Hz), phone 2–10 (audio only, 1320 Hz).
// conv-gap, 12 s: agent 0–4 (red, 440 Hz), then nobody, customer 7–12 (lime, 660 Hz).
beforeAll(async () => {
  dir = await tempDir("e2e-selection-");
  const [agent, customer, expert, phone, gapAgent, gapCustomer] = await Promise.all([
    makeTrack({
      dir,
      name: "agent",
      format: "webm",
      durationSec: 12,
      video: { color: "red", width: 640, height: 480 },
      audio: { frequency: 440 },
    }),
    makeTrack({
      dir,
      name: "customer",
      format: "mp4",
      durationSec: 6,
      video: { color: "lime", width: 640, height: 480 },
      audio: { frequency: 660 },
    }),
    makeTrack({
      dir,
      name: "expert",
      format: "webm",
      durationSec: 6,
      video: { color: "blue", width: 640, height: 360 },
      audio: { frequency: 880 },
    }),
    makeTrack({ dir, name: "phone", format: "wav", durationSec: 8, audio: { frequency: 1320 } }),
    makeTrack({
      dir,
      name: "gap-agent",
      format: "webm",
      durationSec: 4,
      video: { color: "red", width: 640, height: 360 },
      audio: { frequency: 440 },
    }),
    makeTrack({
      dir,
      name: "gap-customer",
      format: "webm",
      durationSec: 5,
      video: { color: "lime", width: 640, height: 360 },
      audio: { frequency: 660 },
    }),
  ]);
  const sel: TrackFile[] = [
    { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: agent, contentType: "video/webm" },
    { id: "t-customer", participantId: "customer", start: 3, stop: 9, audio: true, video: true, file: customer, contentType: "video/mp4" },
    { id: "t-expert", participantId: "expert", start: 6, audio: true, video: true, file: expert, contentType: "video/webm" },
    { id: "t-phone", participantId: "phone", start: 2, stop: 10, audio: true, video: false, file: phone, contentType: "audio/wav" },
  ];
  const gap: TrackFile[] = [
    { id: "g-agent", participantId: "agent", start: 0, stop: 4, audio: true, video: true, file: gapAgent, contentType: "video/webm" },
    {
      id: "g-customer",
      participantId: "customer",
      start: 7,
      stop: 12,
      audio: true,
      video: true,
      file: gapCustomer,
      contentType: "video/webm",
    },
  ];
  stack = await startTestStack();
  await ingestRecording(stack, "conv-sel", 12, sel);
  await ingestRecording(stack, "conv-gap", 12, gap);
}, 240_000);

afterAll(async () => {
  await stack?.dispose();
  console.log(`selection e2e request→COMPLETED (ms): ${JSON.stringify(timings)}`);
});

/** Requests a composition, waits for it to complete and downloads it. */
async function compose(conversationId: string, name: string, body: Record<string, unknown>): Promise<{ file: string; view: any }> {
  const t0 = Date.now();
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId, layout: "GRID", name, resolution: "640x360", type: "AUDIO", ...body },
  });
  expect(res.status, res.text).toBe(200);
  const view = await waitForState(stack, conversationId, res.json.id, ["COMPLETED", "FAILED"]);
  expect(view.state, view.error).toBe("COMPLETED");
  timings[name] = Date.now() - t0;
  const file = join(dir, `${name}.${body.type === "VIDEO" ? "mp4" : "mp3"}`);
  await downloadOutput(stack, conversationId, res.json.id, file);
  return { file, view };
}

const FREQS = [440, 660, 880, 1320];
/** Which of the four tones are audible in [t, t+0.4). */
async function tonesAt(file: string, t: number): Promise<number[]> {
  const levels = await toneLevels(file, t, 0.4, FREQS);
  return FREQS.filter((_, i) => levels[i]! > 0.02);
}

/** Every 20th pixel of the frame (640×360) plus every tile centre of the 1-, 2- and 4-up grids. */
const POINTS: [number, number][] = [
  ...Array.from({ length: 32 * 18 }, (_, i): [number, number] => [10 + 20 * (i % 32), 10 + 20 * Math.floor(i / 32)]),
  [320, 180],
  [160, 180],
  [480, 180],
  [160, 90],
  [480, 90],
  [160, 270],
  [480, 270],
];

describe("source selection end to end", () => {
  it("AUDIO with audioSourcesExcluded: [customer] → the customer's tone is absent at every moment, the others present as they speak", async () => {
    const { file } = await compose("conv-sel", "no-customer-audio", { type: "AUDIO", audioSourcesExcluded: ["customer"] });
    expect(Math.abs((await probe(file)).duration - 12)).toBeLessThan(0.3);
    const expected = (t: number) => [440, t >= 6 ? 880 : 0, t >= 2 && t < 10 ? 1320 : 0].filter(Boolean).sort((a, b) => a - b);
    // Every half second, away from the joins and leaves (±0.3 s).
    const moments = Array.from({ length: 23 }, (_, i) => 0.3 + i * 0.5).filter((t) => ![2, 6, 10].some((e) => e > t - 0.1 && e < t + 0.5));
    expect(moments.length).toBeGreaterThan(15);
    for (const t of moments) {
      const heard = await tonesAt(file, t);
      expect(heard, `at ${t}s`).not.toContain(660);
      expect(heard, `at ${t}s`).toEqual(expected(t));
    }
  });

  it("VIDEO with videoSourcesExcluded: [customer] → lime in no sampled frame at any point; the grid re-lays without it", async () => {
    const { file } = await compose("conv-sel", "no-customer-video", { type: "VIDEO", videoSourcesExcluded: ["customer"] });
    expect(Math.abs((await probe(file)).duration - 12)).toBeLessThan(0.3);
    for (let t = 0.5; t < 12; t += 1) {
      const colours = (await pixelsAt(file, t, POINTS)).map(colorName);
      expect(
        colours.filter((c) => c === "green"),
        `at ${t}s`,
      ).toEqual([]);
      const [centre, left, right] = colours.slice(-7);
      if (t < 6) {
        // The customer (3–9 s) would have been a second tile from 3 s: the agent stays full frame
        // (640×480 letterboxed to 480×360, x 80–560).
        expect([centre, left, right], `at ${t}s`).toEqual(["red", "red", "red"]);
      } else {
        // Agent | expert side by side, no third tile (the seed's 2×2 from 6 to 9 s).
        expect([left, right], `at ${t}s`).toEqual(["red", "blue"]);
      }
    }
    // The customer is still heard.
    expect(await tonesAt(file, 7.2)).toEqual([440, 660, 880, 1320]);
  });
});

describe("trimming end to end", () => {
  it("AUDIO trim: true on a call with a silent 4–7 s hole → 9 s, the agent up to the cut and the customer right after it", async () => {
    const { file, view } = await compose("conv-gap", "trimmed", { type: "AUDIO", trim: true });
    const duration = (await probe(file)).duration;
    expect(Math.abs(duration - 9), `duration ${duration}`).toBeLessThan(0.3);
    // The API reports the output's length too (ISO-8601, e.g. PT9.024S for the MP3's last frame).
    const reported = Number(/^PT([\d.]+)S$/.exec(view.duration)?.[1]);
    expect(Math.abs(reported - 9), `duration ${view.duration}`).toBeLessThan(0.3);
    expect(await tonesAt(file, 0.5)).toEqual([440]);
    expect(await tonesAt(file, 3.5)).toEqual([440]);
    // The cut at 4 s of the output (4 s → 7 s of the call): no silence on either side of it.
    expect(await tonesAt(file, 4.1)).toEqual([660]);
    expect(await tonesAt(file, 6)).toEqual([660]);
    expect(await tonesAt(file, 8.5)).toEqual([660]);
    // Nothing silent anywhere: the hole is gone.
    for (let t = 0.2; t < 8.6; t += 0.6) expect((await tonesAt(file, t)).length, `at ${t}s`).toBeGreaterThan(0);
  });

  it("VIDEO trim: true → 9 s, red up to the cut and lime right after it, the sound cut at the same place", async () => {
    const { file } = await compose("conv-gap", "trimmed-video", { type: "VIDEO", trim: true });
    expect(Math.abs((await probe(file)).duration - 9)).toBeLessThan(0.3);
    const centre = async (t: number) => colorName((await pixelsAt(file, t, [[320, 180]]))[0]!);
    expect(await centre(3.8)).toBe("red");
    expect(await centre(4.2)).toBe("green");
    expect(await centre(8.5)).toBe("green");
    for (let t = 0.5; t < 9; t += 1) expect(await centre(t), `at ${t}s`).not.toBe("black");
    expect(await tonesAt(file, 3.5)).toEqual([440]);
    expect(await tonesAt(file, 4.1)).toEqual([660]);
  });

  it("from/to → a window of to − from seconds that starts and ends where asked", async () => {
    // AUDIO 4.5–10.5 s of conv-sel: 6 s.
    const audio = await compose("conv-sel", "window-audio", { type: "AUDIO", from: 4.5, to: 10.5 });
    expect(Math.abs((await probe(audio.file)).duration - 6)).toBeLessThan(0.3);
    expect(await tonesAt(audio.file, 0.2)).toEqual([440, 660, 1320]); // 4.7 s of the call
    expect(await tonesAt(audio.file, 2.5)).toEqual([440, 660, 880, 1320]); // 7.0 s
    expect(await tonesAt(audio.file, 5)).toEqual([440, 880, 1320]); // 9.5 s: the customer left at 9 s

    // VIDEO 4.5–10.5 s: agent | customer, then 2×2 from 6 s (1.5 s in), then agent | expert from 9 s.
    const video = await compose("conv-sel", "window-video", { type: "VIDEO", from: 4.5, to: 10.5 });
    expect(Math.abs((await probe(video.file)).duration - 6)).toBeLessThan(0.3);
    const at = async (t: number, pts: [number, number][]) => (await pixelsAt(video.file, t, pts)).map(colorName);
    expect(
      await at(0.5, [
        [160, 180],
        [480, 180],
      ]),
    ).toEqual(["red", "green"]);
    expect(
      await at(3, [
        [160, 90],
        [480, 90],
        [160, 270],
        [480, 270],
      ]),
    ).toEqual(["red", "green", "blue", "black"]);
    expect(
      await at(5.5, [
        [160, 180],
        [480, 180],
      ]),
    ).toEqual(["red", "blue"]);
  });
});
