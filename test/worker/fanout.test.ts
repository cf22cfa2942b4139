// Fan-out in the Worker (issue 16), in workerd over real D1/R2: a VIDEO composition split into
// parts is a set of units in its place in line, each with its own lease; its progress sums them, a
// lost unit is re-rendered alone, a higher-priority composition goes before the next part of a
// lower one, cancel stops every unit, and the JOIN's completion completes the composition.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderJob } from "../../contract/renderer";
import { dispatchOne, reclaim } from "../../worker/jobs/dispatch";
import { offerOrder } from "../../worker/jobs/renderer";
import type { Env } from "../../worker/env";
import {
  call,
  captureQueue,
  compositionRow,
  createComposition,
  fakeRenderer,
  ingest,
  resetRenderer,
  supervisor,
  uid,
  type FakeRenderer,
} from "./helpers";

const split: Env = { ...env, FANOUT_SEGMENT_SECONDS: "25" } as Env;
let fake: FakeRenderer;

beforeEach(async () => {
  captureQueue();
  fake = fakeRenderer();
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
  await env.DB.prepare(`DELETE FROM render_units`).run();
});
afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

async function videoComposition(priority?: number): Promise<{ conv: string; id: string }> {
  const conv = uid("fan");
  await ingest(conv);
  const res = await createComposition(conv, supervisor(), { type: "VIDEO", ...(priority !== undefined ? { priority } : {}) });
  expect(res.status, res.text).toBe(200);
  return { conv, id: res.json.id };
}

const tagOf = (job: RenderJob) => job.jobId.split("~")[2];
const units = async (id: string) =>
  (
    await env.DB.prepare(`SELECT id, kind, idx, state, attempts FROM render_units WHERE composition_id = ? ORDER BY kind, idx`)
      .bind(id)
      .all()
  ).results;

async function report(job: RenderJob, body: Record<string, unknown>) {
  return call("POST", job.callback.url, {
    headers: { Authorization: `Bearer ${job.callback.token}` },
    body: { attempt: job.attempt, ...body },
  });
}

async function upload(job: RenderJob, bytes = 2048) {
  const res = await call("PUT", job.output.url, {
    headers: { Authorization: `Bearer ${job.callback.token}`, "Content-Length": String(bytes) },
    raw: new Uint8Array(bytes).fill(1),
  });
  expect(res.status, res.text).toBe(200);
}

describe("where a unit is offered", () => {
  it("instances without a part of its run first, then the others, at most n", () => {
    const first = offerOrder(["r0", "r1", "r2", "r3"], ["r1", "r2"], 2);
    expect(first.sort()).toEqual(["r0", "r3"]);
    expect(offerOrder(["r0", "r1"], ["r0"], 2)).toEqual(["r1", "r0"]);
    expect(offerOrder(["r0"], ["r0"], 2)).toEqual(["r0"]);
    expect(offerOrder(["r0", "r1", "r2"], [], 2)).toHaveLength(2);
  });
});

describe("a split VIDEO composition", () => {
  it("becomes three 25 s VIDEO parts and the AUDIO part, dispatched as units; progress sums them", async () => {
    const { id } = await videoComposition();
    for (let i = 0; i < 5; i++) await dispatchOne(split);
    // The mix first (one long unit), then the parts in time order.
    expect(fake.jobs.map(tagOf)).toEqual(["a", "v0", "v1", "v2"]);
    expect(fake.jobs.slice(1).map((j) => [j.keep, j.part])).toEqual([
      [[{ startMs: 0, endMs: 25_000 }], { kind: "VIDEO", index: 0, count: 3 }],
      [[{ startMs: 25_000, endMs: 50_000 }], { kind: "VIDEO", index: 1, count: 3 }],
      [[{ startMs: 50_000, endMs: 62_500 }], { kind: "VIDEO", index: 2, count: 3 }],
    ]);
    expect(fake.jobs[0]!.part).toEqual({ kind: "AUDIO" });
    // Each unit is offered first to instances its run's running parts are not on.
    expect(fake.avoided).toEqual([[], ["fake-1"], ["fake-1", "fake-1"], ["fake-1", "fake-1", "fake-1"]]);
    expect((await compositionRow(id))!.state).toBe("PROCESSING");
    // Part 1 (25 of 62.5 s, weights: the parts by length, the mix 1/10, the join 1/20) half done → 10.
    expect((await report(fake.jobs[1]!, { event: "progress", progress: 50 })).status).toBe(200);
    expect((await compositionRow(id))!.progress).toBe(Math.floor((12_500 / (62_500 * 1.15)) * 100));
  });

  it("a lost part is re-rendered alone; the others keep their leases", async () => {
    const { id } = await videoComposition();
    for (let i = 0; i < 5; i++) await dispatchOne(split);
    await env.DB.prepare(`UPDATE render_units SET lease_expires_at = 1 WHERE composition_id = ? AND kind = 'VIDEO' AND idx = 1`)
      .bind(id)
      .run();
    await reclaim(split);
    expect((await units(id)).map((u) => [u.kind, u.idx, u.state, u.attempts])).toEqual([
      ["AUDIO", 0, "PROCESSING", 1],
      ["VIDEO", 0, "PROCESSING", 1],
      ["VIDEO", 1, "QUEUED", 1],
      ["VIDEO", 2, "PROCESSING", 1],
    ]);
    expect((await compositionRow(id))!.state).toBe("PROCESSING");
    await dispatchOne(split);
    expect(tagOf(fake.jobs.at(-1)!)).toBe("v1");
    expect(fake.jobs.at(-1)!.attempt).toBe(2);
  });

  it("a higher-priority composition goes before the next part of a lower one", async () => {
    const low = await videoComposition(1);
    // The claim that splits it, then its first unit (the mix) on the one free slot.
    await dispatchOne(split);
    await dispatchOne(split);
    const high = await videoComposition(9);
    await dispatchOne({ ...split, FANOUT_SEGMENT_SECONDS: "" } as Env);
    expect(fake.jobs.map((j) => j.jobId)).toEqual([`${fake.jobs[0]!.jobId}`, high.id]);
    expect(tagOf(fake.jobs[0]!)).toBe("a");
    expect((await units(low.id)).filter((u) => u.state === "QUEUED")).toHaveLength(3);
  });

  it("cancel stops every running unit on its renderer and removes the units", async () => {
    const { conv, id } = await videoComposition();
    for (let i = 0; i < 5; i++) await dispatchOne(split);
    const res = await call("POST", `/${conv}/${id}/cancel`, { as: supervisor(), body: { conversationId: conv, id } });
    expect(res.status, res.text).toBe(200);
    expect(fake.cancels.flatMap((c) => c.jobId.split("~")[2] ?? []).sort()).toEqual(["a", "v0", "v1", "v2"]);
    expect(await units(id)).toEqual([]);
    expect((await report(fake.jobs[0]!, { event: "progress", progress: 10 })).status).toBe(404);
  });

  it("when every part is in, the JOIN reads them; its completion completes the composition with the mix's metrics", async () => {
    const { id } = await videoComposition();
    for (let i = 0; i < 5; i++) await dispatchOne(split);
    const metrics = {
      talkSeconds: { agent: 3 },
      talkRatio: 1,
      overtalkSeconds: 0,
      overtalkCount: 0,
      silenceSeconds: 1,
      longestSilenceSeconds: 1,
      longestMonologueSeconds: 3,
      longestMonologueBy: "agent",
    };
    for (const job of fake.jobs) {
      await upload(job);
      const done = { event: "completed", durationMs: 1, size: 2048, engine: "native", ...(job.part?.kind === "AUDIO" ? { metrics } : {}) };
      expect((await report(job, done)).status).toBe(200);
    }
    await dispatchOne(split);
    const join = fake.jobs.at(-1)!;
    expect([tagOf(join), join.attempt, join.tracks]).toEqual(["j", 1, []]);
    expect(join.part?.kind === "JOIN" && join.part.video.length).toBe(3);
    const part = await call("GET", join.part?.kind === "JOIN" ? join.part.video[1]! : "", {
      headers: { Authorization: `Bearer ${join.callback.token}` },
    });
    expect(part.status).toBe(200);
    expect(part.text.length).toBe(2048);
    await upload(join, 4096);
    expect((await report(join, { event: "completed", durationMs: 62_500, size: 4096, engine: "native" })).status).toBe(200);
    const row = (await compositionRow(id))!;
    expect([row.state, row.output_size, row.duration_ms, JSON.parse(String(row.metrics)).talkRatio]).toEqual([
      "COMPLETED",
      4096,
      62_500,
      1,
    ]);
    expect(await units(id)).toEqual([]);
    const left = await env.MEDIA.list({ prefix: String(row.output_key).slice(0, String(row.output_key).lastIndexOf("/")) });
    expect(left.objects.map((o) => o.key)).toEqual([row.output_key]);
  });
});
