// Source selection and trimming (Integrations): audioSources / videoSources and their *Excluded
// lists (participantIds or track ids, `*` wildcards, exclusion wins), trim, from/to — validated at
// request time (409 when nothing is left to compose, 400 naming the field) and carried into the
// RenderJob: each track's audio/video flag follows the selection, `keep` holds the kept spans.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderJob } from "../../contract/renderer";
import {
  at,
  call,
  captureQueue,
  compositionRow,
  createComposition,
  fakeRenderer,
  fields,
  ingestTracks,
  resetRenderer,
  runQueue,
  setState,
  supervisor,
  uid,
  type FakeRenderer,
  type TrackDef,
} from "./helpers";

let fake: FakeRenderer;

beforeEach(async () => {
  captureQueue();
  fake = fakeRenderer();
  // Only this test's compositions may be dispatched.
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
});

afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

// A 60 s call: the agent throughout; the customer (audio and a separate camera track) 5–20 s; an
// expert 40–60 s. With the agent left out, nobody is there 0–5 s and 20–40 s.
const TRACKS: TrackDef[] = [
  { id: "t-agent", participantId: "agent", started: at(0), stopped: at(60), audio: true, video: true },
  { id: "t-customer", participantId: "customer", started: at(5), stopped: at(20), audio: true, video: false },
  { id: "t-customer-cam", participantId: "customer", started: at(5), stopped: at(20), audio: false, video: true },
  { id: "t-expert-1", participantId: "expert-1", started: at(40), audio: true, video: true },
];

async function recording(tracks: TrackDef[] = TRACKS): Promise<string> {
  const conv = uid("sel");
  await ingestTracks(conv, { agentId: "alice", started: at(0), stopped: at(60), tracks });
  return conv;
}

/** Creates the composition (expecting 200) and dispatches it to the fake renderer. */
async function dispatched(conv: string, body: Record<string, unknown>): Promise<{ id: string; job: RenderJob }> {
  const res = await createComposition(conv, supervisor(), body);
  expect(res.status, res.text).toBe(200);
  await runQueue();
  const job = fake.jobs.find((j) => j.jobId === res.json.id);
  expect(job, `no RenderJob dispatched for ${res.json.id}`).toBeDefined();
  return { id: res.json.id, job: job! };
}

/** track id → "av" / "a" / "v" / "" as sent to the renderer (absent tracks are not listed). */
const flags = (job: RenderJob) => Object.fromEntries(job.tracks.map((t) => [t.id, `${t.audio ? "a" : ""}${t.video ? "v" : ""}`]));

describe("source patterns", () => {
  it("no selection: the seed's job — every audio, every video, no keep", async () => {
    const conv = await recording();
    const { job } = await dispatched(conv, { type: "VIDEO" });
    expect(flags(job)).toEqual({ "t-agent": "av", "t-customer": "a", "t-customer-cam": "v", "t-expert-1": "av" });
    expect(job.keep).toBeUndefined();
    expect(job.durationMs).toBe(60_000);
    expect((await compositionRow(job.jobId))!.options).toBeNull();
  });

  it("a wildcard on participantId excludes every track of the participant from the mix; AUDIO sends only audio tracks", async () => {
    const conv = await recording();
    const { job } = await dispatched(conv, { type: "AUDIO", audioSourcesExcluded: ["cust*"] });
    expect(flags(job)).toEqual({ "t-agent": "a", "t-expert-1": "a" });
  });

  it("a wildcard on track id selects tiles; audio stays everyone's", async () => {
    const conv = await recording();
    const { job } = await dispatched(conv, { type: "VIDEO", videoSources: ["t-exp*", "agent"] });
    expect(flags(job)).toEqual({ "t-agent": "av", "t-customer": "a", "t-expert-1": "av" });
  });

  it("exclusion wins over inclusion, per medium", async () => {
    const conv = await recording();
    const { job } = await dispatched(conv, {
      type: "VIDEO",
      audioSources: ["*"],
      audioSourcesExcluded: ["agent"],
      videoSources: ["customer", "t-agent"],
      videoSourcesExcluded: ["t-customer-*"],
    });
    // agent: seen, not heard; customer: heard (t-customer), its camera excluded by track id.
    expect(flags(job)).toEqual({ "t-agent": "v", "t-customer": "a", "t-expert-1": "a" });
  });

  it("patterns match whole names: `agent` is not `agent-2`, `*` alone matches everything, `.` is literal", async () => {
    const conv = await recording([
      ...TRACKS.slice(0, 2),
      { id: "t-a2", participantId: "agent-2", started: at(0), audio: true, video: false },
      { id: "t-dot", participantId: "dr.who", started: at(0), audio: true, video: false },
      { id: "t-drxwho", participantId: "drxwho", started: at(0), audio: true, video: false },
    ]);
    const { job } = await dispatched(conv, { type: "AUDIO", audioSources: ["agent", "dr.who"] });
    expect(flags(job)).toEqual({ "t-agent": "a", "t-dot": "a" });
    const all = await dispatched(conv, { type: "AUDIO", audioSources: ["*"], name: "all" });
    expect(Object.keys(flags(all.job)).sort()).toEqual(["t-a2", "t-agent", "t-customer", "t-dot", "t-drxwho"]);
  });

  it("an excluded track's missing media does not block the composition", async () => {
    const conv = uid("sel");
    await ingestTracks(
      conv,
      { agentId: "alice", started: at(0), stopped: at(60), tracks: TRACKS },
      { upload: ["t-agent", "t-customer-cam", "t-expert-1"] },
    );
    expect((await createComposition(conv, supervisor(), { type: "AUDIO" })).status).toBe(409);
    const { job } = await dispatched(conv, { type: "AUDIO", audioSourcesExcluded: ["t-customer"] });
    expect(flags(job)).toEqual({ "t-agent": "a", "t-expert-1": "a" });
  });
});

describe("nothing left to compose → 409 at request time", () => {
  it.each([
    ["AUDIO with every audio excluded", { type: "AUDIO", audioSourcesExcluded: ["*"] }, /no audio track/],
    ["AUDIO including only unknown sources", { type: "AUDIO", audioSources: ["nobody*"] }, /no audio track/],
    ["VIDEO with every video excluded", { type: "VIDEO", videoSourcesExcluded: ["agent", "customer", "expert-*"] }, /no video track/],
    [
      "trim with a window where no selected source has media",
      { type: "AUDIO", audioSources: ["customer", "expert-1"], trim: true, from: 22, to: 38 },
      /no selected source has media/i,
    ],
  ])("%s", async (_, body, detail) => {
    const conv = await recording();
    const res = await createComposition(conv, supervisor(), body);
    expect(res.status, res.text).toBe(409);
    expect(res.json.detail).toMatch(detail);
    expect(fake.jobs).toHaveLength(0);
  });

  it("a VIDEO with all video excluded but audio left is still refused (no tile to show)", async () => {
    const conv = await recording();
    const res = await createComposition(conv, supervisor(), { type: "VIDEO", videoSources: ["t-customer"] });
    // t-customer is audio only: it selects no video track.
    expect(res.status).toBe(409);
  });
});

describe("bad fields → 400 naming them", () => {
  it("from at or past the end of the call names body.from", async () => {
    const conv = await recording();
    for (const from of [60, 75]) {
      const res = await createComposition(conv, supervisor(), { from });
      expect(res.status, res.text).toBe(400);
      expect(fields(res)).toEqual(["body.from"]);
    }
  });

  it("to at or before from names body.to", async () => {
    const conv = await recording();
    for (const [from, to] of [
      [10, 10],
      [10, 5],
    ]) {
      const res = await createComposition(conv, supervisor(), { from, to });
      expect(res.status, res.text).toBe(400);
      expect(fields(res)).toEqual(["body.to"]);
    }
  });

  it.each([
    ["audioSources", ["has space"]],
    ["audioSourcesExcluded", [""]],
    ["videoSources", ["a/b"]],
    ["videoSourcesExcluded", "agent"],
    ["audioSources", [42]],
    ["videoSources", Array.from({ length: 65 }, (_, i) => `p${i}`)],
  ])("%s = %j", async (field, value) => {
    const conv = await recording();
    const res = await createComposition(conv, supervisor(), { [field]: value });
    expect(res.status, res.text).toBe(400);
    expect(fields(res).length).toBeGreaterThan(0);
    expect(
      fields(res).every((f) => f === `body.${field}` || f.startsWith(`body.${field}.`)),
      JSON.stringify(fields(res)),
    ).toBe(true);
  });

  it.each([
    ["trim", "yes"],
    ["from", -1],
    ["to", 0],
    ["from", "10"],
  ])("%s = %j", async (field, value) => {
    const conv = await recording();
    const res = await createComposition(conv, supervisor(), { [field]: value });
    expect(res.status, res.text).toBe(400);
    expect(fields(res)).toEqual([`body.${field}`]);
  });
});

describe("trim and window → keep spans", () => {
  it("trim drops the spans where no selected source has media (and keeps the recording's span as durationMs)", async () => {
    const conv = await recording();
    const { job } = await dispatched(conv, { type: "VIDEO", audioSourcesExcluded: ["agent"], videoSourcesExcluded: ["agent"], trim: true });
    expect(flags(job)).toEqual({ "t-customer": "a", "t-customer-cam": "v", "t-expert-1": "av" });
    expect(job.keep).toEqual([
      { startMs: 5000, endMs: 20_000 },
      { startMs: 40_000, endMs: 60_000 },
    ]);
    expect(job.durationMs).toBe(60_000);
  });

  it("trim with the agent selected throughout keeps everything: no keep at all", async () => {
    const conv = await recording();
    const { job } = await dispatched(conv, { type: "AUDIO", trim: true });
    expect(job.keep).toBeUndefined();
  });

  it("an audio-only participant's presence counts for trim in a VIDEO composition", async () => {
    const conv = await recording();
    // Tiles: the expert only (40–60); sound: the customer (5–20) too.
    const { job } = await dispatched(conv, {
      type: "VIDEO",
      audioSources: ["customer", "expert-*"],
      videoSources: ["expert-1"],
      trim: true,
    });
    expect(job.keep).toEqual([
      { startMs: 5000, endMs: 20_000 },
      { startMs: 40_000, endMs: 60_000 },
    ]);
  });

  it("from/to cut a window; to past the end is the end; trim applies inside the window", async () => {
    const conv = await recording();
    expect((await dispatched(conv, { type: "AUDIO", from: 12.5, to: 30 })).job.keep).toEqual([{ startMs: 12_500, endMs: 30_000 }]);
    expect((await dispatched(conv, { type: "AUDIO", from: 50, to: 90, name: "tail" })).job.keep).toEqual([
      { startMs: 50_000, endMs: 60_000 },
    ]);
    expect((await dispatched(conv, { type: "AUDIO", to: 10, name: "head" })).job.keep).toEqual([{ startMs: 0, endMs: 10_000 }]);
    const trimmed = await dispatched(conv, { type: "AUDIO", audioSourcesExcluded: ["agent"], trim: true, from: 10, to: 45, name: "both" });
    expect(trimmed.job.keep).toEqual([
      { startMs: 10_000, endMs: 20_000 },
      { startMs: 40_000, endMs: 45_000 },
    ]);
  });

  it("a track still live at the end (no stopped) counts to the end of the call", async () => {
    const conv = await recording();
    const { job } = await dispatched(conv, { type: "AUDIO", audioSources: ["expert-1"], trim: true });
    expect(job.keep).toEqual([{ startMs: 40_000, endMs: 60_000 }]);
  });
});

describe("options are stored and survive re-execute", () => {
  it("stored as given; re-execute sends the same flags and keep again", async () => {
    const conv = await recording();
    const body = { type: "VIDEO", audioSourcesExcluded: ["agent"], videoSourcesExcluded: ["agent"], trim: true, from: 1, to: 59 };
    const first = await dispatched(conv, body);
    expect(JSON.parse((await compositionRow(first.id))!.options as string)).toEqual({
      audioSourcesExcluded: ["agent"],
      videoSourcesExcluded: ["agent"],
      trim: true,
      from: 1,
      to: 59,
    });
    await setState(first.id, "COMPLETED", { completedAt: Date.now(), durationMs: 34_000 });
    const again = await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id: first.id } });
    expect(again.status, again.text).toBe(200);
    fake.jobs.length = 0;
    await runQueue();
    const job = fake.jobs.find((j) => j.jobId === first.id)!;
    expect(job, "re-executed job not dispatched").toBeDefined();
    expect(flags(job)).toEqual(flags(first.job));
    expect(job.keep).toEqual([
      { startMs: 5000, endMs: 20_000 },
      { startMs: 40_000, endMs: 59_000 },
    ]);
  });

  it("re-execute rechecks the selection against the recording as it is now (409 when nothing is left)", async () => {
    const conv = await recording();
    const first = await dispatched(conv, { type: "AUDIO", audioSources: ["customer"] });
    await setState(first.id, "FAILED", { completedAt: Date.now() });
    // The recording was re-ingested without the customer.
    await ingestTracks(conv, { agentId: "alice", started: at(0), stopped: at(60), tracks: [TRACKS[0]!] });
    const again = await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id: first.id } });
    expect(again.status, again.text).toBe(409);
    expect(again.json.detail).toMatch(/no audio track/);
    expect((await compositionRow(first.id))!.state).toBe("FAILED");
  });
});

describe("dispatch time", () => {
  it("a QUEUED composition whose selection the recording no longer satisfies fails with the reason, nothing is sent", async () => {
    const conv = await recording();
    const res = await createComposition(conv, supervisor(), { type: "AUDIO", audioSources: ["expert-*"] });
    expect(res.status).toBe(200);
    await ingestTracks(conv, { agentId: "alice", started: at(0), stopped: at(60), tracks: [TRACKS[0]!] });
    await runQueue();
    expect(fake.jobs).toHaveLength(0);
    const row = (await compositionRow(res.json.id))!;
    expect(row.state).toBe("FAILED");
    expect(row.error).toMatch(/no audio track/);
  });
});
