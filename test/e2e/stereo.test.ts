// Call analytics — QA stereo end to end over the running stack: roles at ingestion, STEREO_SPLIT on
// POST /request, decoded channel by channel as a speech-analytics tool reads it.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { integratedLoudness, makeTrack, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, waitForState, type TestStack } from "./harness.ts";

let stack: TestStack;
let dir: string;
const AGENT = 440;
const CUSTOMER = 660;
const COACH = 880;
const FREQS = [AGENT, CUSTOMER, COACH];

// conv-qa, 8 s: the agent "alice" (no role: she is the recording's agentId), a customer, a coach
// (role SUPERVISOR) from 2 s.
beforeAll(async () => {
  dir = await tempDir("e2e-stereo-");
  const [agent, customer, coach] = await Promise.all([
    makeTrack({ dir, name: "agent", format: "webm", durationSec: 8, audio: { frequency: AGENT } }),
    makeTrack({ dir, name: "customer", format: "wav", durationSec: 8, audio: { frequency: CUSTOMER } }),
    makeTrack({ dir, name: "coach", format: "webm", durationSec: 6, audio: { frequency: COACH } }),
  ]);
  stack = await startTestStack();
  await ingestRecording(stack, "conv-qa", 8, [
    { id: "t-agent", participantId: "alice", start: 0, audio: true, video: false, file: agent, contentType: "audio/webm" },
    {
      id: "t-customer",
      participantId: "cust-1",
      start: 0,
      audio: true,
      video: false,
      file: customer,
      contentType: "audio/wav",
      role: "CUSTOMER",
    },
    {
      id: "t-coach",
      participantId: "sam",
      start: 2,
      audio: true,
      video: false,
      file: coach,
      contentType: "audio/webm",
      role: "SUPERVISOR",
      displayName: "Sam (coach)",
    },
  ]);
}, 240_000);

afterAll(async () => {
  await stack?.dispose();
});

const request = (body: Record<string, unknown>) =>
  stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId: "conv-qa", layout: "GRID", name: "qa", resolution: "640x360", type: "AUDIO", ...body },
  });

async function compose(name: string, body: Record<string, unknown>): Promise<string> {
  const res = await request(body);
  expect(res.status, res.text).toBe(200);
  const view = await waitForState(stack, "conv-qa", res.json.id, ["COMPLETED", "FAILED"]);
  expect(view.state, view.error).toBe("COMPLETED");
  const file = join(dir, `${name}.mp3`);
  await downloadOutput(stack, "conv-qa", res.json.id, file);
  return file;
}

async function heard(file: string, t: number, channel: 0 | 1): Promise<number[]> {
  const levels = await toneLevels(file, t, 0.5, FREQS, channel);
  return FREQS.filter((_, i) => levels[i]! > 0.03);
}

describe("the speaker timeline end to end", () => {
  it("the view carries the metrics; timeline.json and speakers.vtt come through signed links", async () => {
    const res = await request({ name: "timeline" });
    const view = await waitForState(stack, "conv-qa", res.json.id, ["COMPLETED", "FAILED"]);
    expect(view.state, view.error).toBe("COMPLETED");
    expect(Object.keys(view.metrics.talkSeconds).sort()).toEqual(["alice", "cust-1", "sam"]);
    // Everyone talks all along: the coach (2–8 s) overlaps the other two.
    expect(Math.abs(view.metrics.talkSeconds.sam - 6)).toBeLessThan(0.3);
    expect(view.metrics.silenceSeconds).toBeLessThan(0.3);
    const link = async (asset: string) => {
      const q = `conversationId=conv-qa&id=${res.json.id}&asset=${asset}`;
      const signed = await stack.api("GET", `/player/conv-qa/${res.json.id}/url/inline?${q}`, {
        as: SUPERVISOR,
        headers: { Referer: "https://agent.example/" },
      });
      expect(signed.status, signed.text).toBe(200);
      return fetch(signed.json.url);
    };
    const timeline = await link("timeline.json");
    expect(timeline.headers.get("content-type")).toContain("application/json");
    const json = await timeline.json();
    expect(json.participants.map((p: any) => [p.participantId, p.role, p.displayName])).toEqual([
      ["alice", "AGENT", null],
      ["cust-1", "CUSTOMER", null],
      ["sam", "SUPERVISOR", "Sam (coach)"],
    ]);
    expect(json.metrics).toEqual(view.metrics);
    const vtt = await link("speakers.vtt");
    expect(vtt.headers.get("content-type")).toContain("text/vtt");
    const cues = (await vtt.text())
      .split("\n\n")
      .slice(1)
      .map((c) => c.trim().split("\n")[1]);
    expect(cues.sort()).toEqual(["Agent", "Customer", "Sam (coach)"]);
  });
});

describe("STEREO_SPLIT end to end", () => {
  it("by default: the agent side (agent + supervisor) on the right, the customer on the left", async () => {
    const file = await compose("split", { audioChannels: "STEREO_SPLIT" });
    expect(await heard(file, 0.5, 0)).toEqual([CUSTOMER]);
    expect(await heard(file, 0.5, 1)).toEqual([AGENT]);
    expect(await heard(file, 4, 0)).toEqual([CUSTOMER]);
    expect(await heard(file, 4, 1)).toEqual([AGENT, COACH]);
  });

  it("agentChannel LEFT swaps the sides; channelMap moves one participant", async () => {
    const left = await compose("left", { audioChannels: "STEREO_SPLIT", agentChannel: "LEFT", channelMap: { sam: "RIGHT" } });
    expect(await heard(left, 4, 0)).toEqual([AGENT]);
    expect(await heard(left, 4, 1)).toEqual([CUSTOMER, COACH]);
  });

  it("loudness: each channel levelled to the target (EBU R128), within 1 LU", async () => {
    const file = await compose("levelled", { audioChannels: "STEREO_SPLIT", loudness: -23 });
    for (const channel of [0, 1] as const)
      expect(Math.abs((await integratedLoudness(file, channel)) + 23), `channel ${channel}`).toBeLessThan(1);
    expect(await heard(file, 4, 0)).toEqual([CUSTOMER]);
  });

  it("MIXED (the default) is the whole mix, in the one channel a call of mono tracks needs", async () => {
    const mixed = await compose("mixed", {});
    expect((await probe(mixed)).audio?.channels).toBe(1);
    expect(await heard(mixed, 4, 0)).toEqual(FREQS);
  });

  it("refuses a channelMap naming a stranger (400 naming body.channelMap), an empty side (409), a colour that is not #RRGGBB", async () => {
    const stranger = await request({ audioChannels: "STEREO_SPLIT", channelMap: { nobody: "LEFT" } });
    expect(stranger.status).toBe(400);
    expect(stranger.json.errors.map((e: { field: string }) => e.field)).toContain("body.channelMap");
    const lopsided = await request({ audioChannels: "STEREO_SPLIT", channelMap: { "cust-1": "RIGHT" } });
    expect(lopsided.status).toBe(409);
    expect(lopsided.json.detail).toContain("nobody is on the other side");
    const badEnum = await request({ audioChannels: "QUAD" });
    expect(badEnum.json.errors.map((e: { field: string }) => e.field)).toContain("body.audioChannels");
    const tooLoud = await request({ loudness: -5 });
    expect(tooLoud.json.errors.map((e: { field: string }) => e.field)).toContain("body.loudness");
    const badColour = await request({ type: "VIDEO", highlightColor: "yellow" });
    expect(badColour.status).toBe(400);
    expect(badColour.json.errors.map((e: { field: string }) => e.field)).toContain("body.highlightColor");
  });
});
