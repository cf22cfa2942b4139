// Issue 3 end to end: ingest real tracks, request AUDIO and VIDEO compositions over HTTP, let the
// real Queue consumer dispatch them to the real renderer, and check the decoded output.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colorName, makeGarbage, makeTrack, pixelAt, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import {
  downloadOutput,
  ingestRecording,
  JWT_SECRET,
  processes,
  SIGNING_KEYS,
  startTestStack,
  SUPERVISOR,
  waitForState,
  WEBHOOK_SIGNING_SECRET,
  type TestStack,
  type TrackFile,
} from "./harness.ts";

const SPAN = 12;
let stack: TestStack;
let dir: string;
let tracks: TrackFile[];

beforeAll(async () => {
  dir = await tempDir("e2e-compose-");
  const [agent, customer, expert, phone] = await Promise.all([
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
      video: { color: "lime", width: 360, height: 640 },
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
    makeTrack({ dir, name: "phone", format: "wav", durationSec: 10, audio: { frequency: 1320 } }),
  ]);
  tracks = [
    { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: agent, contentType: "video/webm" },
    { id: "t-customer", participantId: "customer", start: 3, stop: 9, audio: true, video: true, file: customer, contentType: "video/mp4" },
    { id: "t-expert", participantId: "expert", start: 6, audio: true, video: true, file: expert, contentType: "video/webm" },
    { id: "t-phone", participantId: "phone", start: 2, audio: true, video: false, file: phone, contentType: "audio/wav" },
  ];
  stack = await startTestStack();
  await ingestRecording(stack, "conv-e2e", SPAN, tracks);
}, 240_000);

afterAll(async () => {
  await stack?.dispose();
});

async function request(body: Record<string, unknown>) {
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId: "conv-e2e", layout: "GRID", name: "Review", resolution: "640x360", type: "AUDIO", ...body },
  });
  expect(res.status, res.text).toBe(200);
  return res.json.id as string;
}

const FREQS = [440, 660, 880, 1320];
/** Which of the four tones are audible in [t, t+0.5). */
async function tonesAt(file: string, t: number): Promise<number[]> {
  const levels = await toneLevels(file, t, 0.5, FREQS);
  return FREQS.filter((_, i) => levels[i]! > 0.02);
}

describe("composition end to end", () => {
  it("AUDIO → an MP3 of the recording's span with each participant's tone exactly while present", async () => {
    const id = await request({ type: "AUDIO" });
    const view = await waitForState(stack, "conv-e2e", id, ["COMPLETED", "FAILED"]);
    expect(view.state, view.error).toBe("COMPLETED");
    expect(view.format).toBe("MP3");
    expect(view.progress).toBe(100);
    const file = join(dir, "out.mp3");
    await downloadOutput(stack, "conv-e2e", id, file);
    const info = await probe(file);
    expect(Math.abs(info.duration - SPAN)).toBeLessThan(0.3);
    expect(info.streams.find((s) => s.type === "audio")?.sampleRate).toBe(48000);
    expect(await tonesAt(file, 0.5)).toEqual([440]);
    expect(await tonesAt(file, 4.2)).toEqual([440, 660, 1320]);
    expect(await tonesAt(file, 7.2)).toEqual([440, 660, 880, 1320]);
    expect(await tonesAt(file, 10.5)).toEqual([440, 880, 1320]);
  });

  it("VIDEO → an H.264 GRID MP4 whose tiles follow who is on camera", async () => {
    const id = await request({ type: "VIDEO", resolution: "640x360" });
    const view = await waitForState(stack, "conv-e2e", id, ["COMPLETED", "FAILED"]);
    expect(view.state, view.error).toBe("COMPLETED");
    const file = join(dir, "out.mp4");
    await downloadOutput(stack, "conv-e2e", id, file);
    const info = await probe(file);
    const video = info.streams.find((s) => s.type === "video")!;
    expect(video.codec).toBe("h264");
    expect([video.width, video.height]).toEqual([640, 360]);
    expect(video.pixFmt).toBe("yuv420p");
    expect(info.streams.find((s) => s.type === "audio")?.codec).toBe("aac");
    expect(Math.abs(info.duration - SPAN)).toBeLessThan(0.3);

    const at = async (t: number, points: [number, number][]) => Promise.all(points.map(([x, y]) => pixelAt(file, t, x, y).then(colorName)));
    // 0–3 s: the agent alone, full frame.
    expect(await at(1.5, [[320, 180]])).toEqual(["red"]);
    // 3–6 s: agent | customer side by side; the portrait customer is pillarboxed in its tile
    // (202 px wide, centred in 320..640) and the landscape agent letterboxed (240 px high).
    expect(
      await at(4.5, [
        [160, 180],
        [480, 180],
        [330, 180],
        [160, 20],
      ]),
    ).toEqual(["red", "green", "black", "black"]);
    // 6–9 s: three people, 2×2 in join order, the fourth cell black.
    expect(
      await at(7.5, [
        [160, 90],
        [480, 90],
        [160, 270],
        [480, 270],
      ]),
    ).toEqual(["red", "green", "blue", "black"]);
    // 9–12 s: the customer left: agent | expert.
    expect(
      await at(10.5, [
        [160, 180],
        [480, 180],
      ]),
    ).toEqual(["red", "blue"]);
    // The mix is in the MP4 too.
    expect(await tonesAt(file, 7.2)).toEqual([440, 660, 880, 1320]);
  });

  it("a corrupt track fails the job with a reason naming the track, and the renderer keeps serving", async () => {
    const garbage = await makeGarbage(dir, "garbage.webm");
    await ingestRecording(stack, "conv-bad", 5, [
      { id: "t-ok", participantId: "agent", start: 0, audio: true, video: false, file: tracks[3]!.file, contentType: "audio/wav" },
      { id: "t-broken", participantId: "customer", start: 1, audio: true, video: false, file: garbage, contentType: "audio/webm" },
    ]);
    const res = await stack.api("POST", "/request", {
      as: SUPERVISOR,
      body: { conversationId: "conv-bad", layout: "GRID", name: "Broken", resolution: "320x240", type: "AUDIO" },
    });
    const view = await waitForState(stack, "conv-bad", res.json.id, ["COMPLETED", "FAILED"]);
    expect(view.state).toBe("FAILED");
    expect(view.error).toContain("t-broken");

    const after = await request({ type: "AUDIO", name: "After the broken one" });
    expect((await waitForState(stack, "conv-e2e", after, ["COMPLETED", "FAILED"])).state).toBe("COMPLETED");
  });

  it("no secret is on a command line: wrangler dev and its workerd read them from the stack's own 0600 vars file", async () => {
    const all = processes();
    const wrangler = all.find((p) => p.args.includes("dev") && p.args.includes(stack.persistTo));
    expect(wrangler, "the stack's wrangler dev process").toBeDefined();
    const group = all.filter((p) => p.pgrp === wrangler!.pgrp);
    expect(
      group.some((p) => /workerd$/.test(p.args[0]!)),
      group.map((p) => p.args.join(" ")).join("\n"),
    ).toBe(true);
    const varsFile = join(stack.persistTo, ".dev.vars");
    expect(wrangler!.args).toContain(varsFile);
    expect(statSync(varsFile).mode & 0o777).toBe(0o600);

    const secrets = [JWT_SECRET, SIGNING_KEYS.split(":")[1]!, WEBHOOK_SIGNING_SECRET];
    for (const secret of secrets) expect(readFileSync(varsFile, "utf8")).toContain(secret);
    // None of the stack's Worker processes carries one in its arguments. (Only this stack's: other
    // checkouts on a shared machine may run their own stacks with the same test secrets.)
    const leaks = group.filter((p) => secrets.some((s) => p.args.join(" ").includes(s)));
    expect(leaks.map((p) => `${p.pid}: ${p.args.join(" ")}`)).toEqual([]);
    // And the secrets are the ones in force: a token signed with JWT_SECRET is accepted.
    expect((await stack.api("GET", "/query/conversation/conv-e2e", { as: SUPERVISOR })).status).toBe(200);
  });
});
