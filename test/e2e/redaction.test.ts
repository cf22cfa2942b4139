// Compliance — redaction end to end over the running stack: a one-off redacted export (the
// recording untouched) and its refusals, decoded as a user gets it.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colorName, makeTrack, pixelsAt, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  downloadOutput,
  ingestRecording,
  queryD1,
  readR2Object,
  startTestStack,
  SUPERVISOR,
  waitForState,
  type TestStack,
  type TrackFile,
} from "./harness.ts";

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

async function request(body: Record<string, unknown>, conversationId = "conv-pci") {
  return stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId, layout: "GRID", name: "pci", resolution: "640x360", type: "VIDEO", ...body },
  });
}

/** Waits for a composition to complete and downloads it: the file and the signed link it came from. */
async function completed(id: string, name: string, type: unknown, conversationId = "conv-pci") {
  const view = await waitForState(stack, conversationId, id, ["COMPLETED", "FAILED"]);
  expect(view.state, view.error).toBe("COMPLETED");
  const file = join(dir, `${name}.${type === "AUDIO" ? "mp3" : "mp4"}`);
  const link = await downloadOutput(stack, conversationId, id, file);
  return { file, link };
}

/** Requests a composition, waits for it to complete and downloads it. */
async function compose(name: string, body: Record<string, unknown>, conversationId = "conv-pci"): Promise<string> {
  const res = await request({ name, ...body }, conversationId);
  expect(res.status, res.text).toBe(200);
  return (await completed(res.json.id, name, body.type, conversationId)).file;
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

describe("redaction of the recording itself", () => {
  const CONV = "conv-src";
  const path = `/recordings/${CONV}/redactions`;
  let before: { id: string; link: string };
  let redaction: any;

  beforeAll(async () => {
    const [agent, customer] = await Promise.all(
      [
        ["src-agent", "red", AGENT_HZ],
        ["src-customer", "lime", CUSTOMER_HZ],
      ].map(([name, color, frequency]) =>
        makeTrack({
          dir,
          name: name as string,
          format: "webm",
          durationSec: 10,
          video: { color: color as string, width: 320, height: 240 },
          audio: { frequency: frequency as number },
        }),
      ),
    );
    await ingestRecording(stack, CONV, 10, [
      { id: "s-agent", participantId: "agent", start: 0, audio: true, video: true, file: agent!, contentType: "video/webm" },
      { id: "s-customer", participantId: "customer", start: 0, audio: true, video: true, file: customer!, contentType: "video/webm" },
    ]);
    const res = await request({ name: "before", type: "VIDEO" }, CONV);
    before = { id: res.json.id, link: (await completed(res.json.id, "before", "VIDEO", CONV)).link };
  }, 180_000);

  it("refuses bad spans (400 naming the field) and a held recording (409 naming the hold), changing nothing", async () => {
    const bad = await stack.api("POST", path, { as: SUPERVISOR, body: { spans: [{ from: 4, to: 3 }], reason: "pci" } });
    expect(bad.status).toBe(400);
    expect(bad.json.errors.map((e: { field: string }) => e.field)).toContain("body.spans.0.to");
    const unknown = await stack.api("POST", path, {
      as: SUPERVISOR,
      body: { spans: [{ from: 1, to: 2, participants: ["x"] }], reason: "pci" },
    });
    expect(unknown.json.errors.map((e: { field: string }) => e.field)).toContain("body.spans.0.participants.0");
    expect((await stack.api("PUT", `/recordings/${CONV}/hold`, { as: SUPERVISOR, body: { reason: "litigation" } })).status).toBe(200);
    const held = await stack.api("POST", path, { as: SUPERVISOR, body: { spans: [{ from: 1, to: 2 }], reason: "pci" } });
    expect(held.status).toBe(409);
    expect(held.json.detail).toContain("litigation");
    expect((await stack.api("DELETE", `/recordings/${CONV}/hold`, { as: SUPERVISOR, body: { reason: "settled" } })).status).toBe(204);
    expect((await stack.api("GET", path, { as: SUPERVISOR })).json).toEqual([]);
  });

  it("runs as a job; while it is pending the recording cannot be composed (409)", async () => {
    const res = await stack.api("POST", path, {
      as: SUPERVISOR,
      body: {
        spans: [{ from: 3, to: 6, participants: ["customer"], audio: "SILENCE", video: "BLACK" }],
        reason: "card security code read out",
      },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.json).toMatchObject({ state: "QUEUED", tracks: [{ trackId: "s-customer", sha256Before: null, sha256After: null }] });
    const refused = await request({ name: "during", type: "AUDIO" }, CONV);
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toContain("redaction");
    const deadline = Date.now() + 90_000;
    do {
      redaction = (await stack.api("GET", `${path}/${res.json.id}`, { as: SUPERVISOR })).json;
      if (redaction.state === "COMPLETED" || redaction.state === "FAILED") break;
      await new Promise((r) => setTimeout(r, 300));
    } while (Date.now() < deadline);
    expect(redaction.state, redaction.error).toBe("COMPLETED");
    expect(redaction.progress).toBe(100);
  });

  it("the stored track itself holds no trace of the span, and the audit entry's SHA-256s match the objects", async () => {
    const [row] = await queryD1<{ media_key: string }>(
      stack,
      `SELECT media_key FROM tracks WHERE conversation_id = '${CONV}' AND id = 's-customer'`,
    );
    expect(row!.media_key).toMatch(/redacted/);
    const stored = join(dir, "stored-customer.webm");
    await readR2Object(stack, row!.media_key, stored);
    const level = async (t: number) => (await toneLevels(stored, t, 0.4, [CUSTOMER_HZ]))[0]!;
    for (const t of [3.1, 4.3, 5.5]) expect(await level(t), `at ${t}s`).toBeLessThan(0.002);
    expect(await level(1)).toBeGreaterThan(0.05);
    expect(await level(7)).toBeGreaterThan(0.05);
    expect(colorName((await pixelsAt(stored, 4.5, [[160, 120]]))[0]!)).toBe("black");
    expect(colorName((await pixelsAt(stored, 7, [[160, 120]]))[0]!)).toBe("green");

    const original = createHash("sha256")
      .update(await readFile(join(dir, "src-customer.webm")))
      .digest("hex");
    const after = createHash("sha256")
      .update(await readFile(stored))
      .digest("hex");
    const audit = (await stack.api("GET", "/audit?size=500", { as: SUPERVISOR })).json.content;
    const entry = audit.find((e: any) => e.action === "redaction.completed" && e.details.redactionId === redaction.id);
    expect(entry).toMatchObject({
      actor: { sub: SUPERVISOR.sub },
      conversationId: CONV,
      details: { reason: "card security code read out", tracks: [{ trackId: "s-customer", sha256Before: original, sha256After: after }] },
    });
    expect(entry.details.spans).toEqual([{ from: 3, to: 6, participants: ["customer"], audio: "SILENCE", video: "BLACK" }]);
    expect(redaction.tracks).toEqual([{ trackId: "s-customer", sha256Before: original, sha256After: after }]);
  });

  it("re-executes the conversation's compositions: the old link stops working, the new output has the span blacked and silent", async () => {
    expect((await fetch(before.link)).status).toBe(403);
    const { file } = await completed(before.id, "after", "VIDEO", CONV);
    expect(await tiles(file, 2.5)).toEqual(["red", "green"]);
    expect(await tiles(file, 4.5)).toEqual(["red", "black"]);
    expect(await tiles(file, 6.5)).toEqual(["red", "green"]);
    for (const t of [3.2, 5.3]) expect(await tonesAt(file, t), `at ${t}s`).toEqual([AGENT_HZ]);
    expect(await tonesAt(file, 7)).toEqual([AGENT_HZ, CUSTOMER_HZ]);
  });

  it("a new composition of the redacted recording has no trace of the span either", async () => {
    const file = await compose("new-after", { type: "AUDIO" }, CONV);
    for (const t of [3.2, 4.5, 5.5]) expect(await tonesAt(file, t), `at ${t}s`).toEqual([AGENT_HZ]);
    expect(await tonesAt(file, 8)).toEqual([AGENT_HZ, CUSTOMER_HZ]);
  });
});
