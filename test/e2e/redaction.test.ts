// Compliance — redaction end to end over the running stack: a one-off redacted export (the
// recording untouched) and its refusals, decoded as a user gets it.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colorName, makeTrack, pixelsAt, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, waitForState, type TestStack, type TrackFile } from "./harness.ts";

let stack: TestStack;
let dir: string;
const AGENT_HZ = 440;
const CUSTOMER_HZ = 660;
const BEEP_HZ = 1000;
const FREQS = [AGENT_HZ, CUSTOMER_HZ, BEEP_HZ];

// conv-pci, 10 s: agent 0–10 (red, 440 Hz), customer 0–10 (lime, 660 Hz), side by side.
beforeAll(async () => {
  dir = await tempDir("e2e-redaction-");
  const [agent, customer] = await Promise.all([
    makeTrack({
      dir,
      name: "agent",
      format: "webm",
      durationSec: 10,
      video: { color: "red", width: 320, height: 240 },
      audio: { frequency: AGENT_HZ },
    }),
    makeTrack({
      dir,
      name: "customer",
      format: "webm",
      durationSec: 10,
      video: { color: "lime", width: 320, height: 240 },
      audio: { frequency: CUSTOMER_HZ },
    }),
  ]);
  const tracks: TrackFile[] = [
    { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: agent, contentType: "video/webm" },
    { id: "t-customer", participantId: "customer", start: 0, audio: true, video: true, file: customer, contentType: "video/webm" },
  ];
  stack = await startTestStack();
  await ingestRecording(stack, "conv-pci", 10, tracks);
}, 240_000);

afterAll(async () => {
  await stack?.dispose();
});

async function request(body: Record<string, unknown>) {
  return stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId: "conv-pci", layout: "GRID", name: "pci", resolution: "640x360", type: "VIDEO", ...body },
  });
}

/** Requests a composition, waits for it to complete and downloads it. */
async function compose(name: string, body: Record<string, unknown>): Promise<string> {
  const res = await request({ name, ...body });
  expect(res.status, res.text).toBe(200);
  const view = await waitForState(stack, "conv-pci", res.json.id, ["COMPLETED", "FAILED"]);
  expect(view.state, view.error).toBe("COMPLETED");
  const file = join(dir, `${name}.${body.type === "AUDIO" ? "mp3" : "mp4"}`);
  await downloadOutput(stack, "conv-pci", res.json.id, file);
  return file;
}

async function tonesAt(file: string, t: number): Promise<number[]> {
  const levels = await toneLevels(file, t, 0.4, FREQS);
  return FREQS.filter((_, i) => levels[i]! > 0.02);
}

const tiles = async (file: string, t: number) =>
  (
    await pixelsAt(file, t, [
      [160, 180],
      [480, 180],
    ])
  ).map(colorName);

describe("a one-off redacted export", () => {
  it("VIDEO: the customer's tile black and voice silent inside the span only; the agent untouched", async () => {
    const file = await compose("video-redacted", {
      redactions: [{ from: 3, to: 6, participants: ["customer"], audio: "SILENCE", video: "BLACK" }],
    });
    expect(Math.abs((await probe(file)).duration - 10)).toBeLessThan(0.3);
    expect(await tiles(file, 2.5)).toEqual(["red", "green"]);
    expect(await tiles(file, 3.2)).toEqual(["red", "black"]);
    expect(await tiles(file, 5.8)).toEqual(["red", "black"]);
    expect(await tiles(file, 6.3)).toEqual(["red", "green"]);
    expect(await tonesAt(file, 2.4)).toEqual([AGENT_HZ, CUSTOMER_HZ]);
    for (const t of [3.1, 4.3, 5.5]) expect(await tonesAt(file, t), `at ${t}s`).toEqual([AGENT_HZ]);
    expect(await tonesAt(file, 6.2)).toEqual([AGENT_HZ, CUSTOMER_HZ]);
  });

  it("AUDIO with BEEP for everyone: only the beep inside the span", async () => {
    const file = await compose("audio-beep", { type: "AUDIO", redactions: [{ from: 4, to: 7, audio: "BEEP" }] });
    expect(await tonesAt(file, 3.4)).toEqual([AGENT_HZ, CUSTOMER_HZ]);
    expect(await tonesAt(file, 4.2)).toEqual([BEEP_HZ]);
    expect(await tonesAt(file, 6.4)).toEqual([BEEP_HZ]);
    expect(await tonesAt(file, 7.2)).toEqual([AGENT_HZ, CUSTOMER_HZ]);
  });

  it("leaves the recording untouched: a composition without redactions has everything", async () => {
    const file = await compose("plain", { type: "AUDIO" });
    for (const t of [3.2, 5, 6.5]) expect(await tonesAt(file, t), `at ${t}s`).toEqual([AGENT_HZ, CUSTOMER_HZ]);
  });

  it("refuses spans that do not fit, naming the field, and creates nothing", async () => {
    const before = (await stack.api("GET", "/query/conversation/conv-pci", { as: SUPERVISOR })).json.compositions.length;
    const cases: [unknown, string][] = [
      [[{ from: 5, to: 5 }], "body.redactions.0.to"],
      [
        [
          { from: 2, to: 3 },
          { from: 9, to: 12 },
        ],
        "body.redactions.1.to",
      ],
      [[{ from: 11, to: 12 }], "body.redactions.0.from"],
      [[{ from: 1, to: 2, participants: ["agent", "nobody"] }], "body.redactions.0.participants.1"],
      [[{ from: 1, to: 2, audio: "MUTE" }], "body.redactions.0.audio"],
      [[], "body.redactions"],
    ];
    for (const [redactions, field] of cases) {
      const res = await request({ redactions });
      expect(res.status, res.text).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(
        res.json.errors.map((e: { field: string }) => e.field),
        JSON.stringify(redactions),
      ).toContain(field);
    }
    const after = (await stack.api("GET", "/query/conversation/conv-pci", { as: SUPERVISOR })).json.compositions.length;
    expect(after).toBe(before);
  });
});
