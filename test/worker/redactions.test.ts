// Source redaction in workerd: the request and its refusals, the TRACK jobs it dispatches, the
// renderer's side door, the swap (audited with SHA-256s), failures and lost leases.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderJob, RenderReport } from "../../contract/renderer";
import { reclaim } from "../../worker/jobs/dispatch";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import { outputKey } from "../../worker/media/keys";
import {
  agent,
  call,
  captureQueue,
  compositionRow,
  createComposition,
  fakeRenderer,
  fields,
  ingest,
  resetRenderer,
  runQueue,
  setState,
  supervisor,
  uid,
  type FakeRenderer,
} from "./helpers";

let renderer: FakeRenderer;
let sent: RenderJobMessage[];

beforeEach(async () => {
  sent = captureQueue();
  renderer = fakeRenderer();
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
  await env.DB.prepare(`UPDATE source_redactions SET state = 'FAILED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
});
afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

// recordingBody: t-agent 0–62.5 s (agent), t-customer from 5 s (customer), 1024 bytes of 7s each.
const SPANS = [{ from: 10, to: 20, participants: ["customer"], audio: "BEEP", video: "NONE" }];
const redact = (conv: string, body: unknown = { spans: SPANS, reason: "card number" }, as = supervisor()) =>
  call("POST", `/recordings/${conv}/redactions`, { as, body });
const view = async (conv: string, id: string) => (await call("GET", `/recordings/${conv}/redactions/${id}`, { as: supervisor() })).json;
const bearer = (job: RenderJob) => ({ Authorization: `Bearer ${job.callback.token}` });
const report = (job: RenderJob, body: RenderReport) => call("POST", job.callback.url, { body, headers: bearer(job) });

async function sha256(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function mediaKey(conv: string, track: string): Promise<string> {
  const row = await env.DB.prepare(`SELECT media_key FROM tracks WHERE conversation_id = ? AND id = ?`)
    .bind(conv, track)
    .first<{ media_key: string }>();
  return row!.media_key;
}

/** A recording with stored media and a COMPLETED composition with an output object. */
async function recordedCall() {
  const conv = uid("redact");
  await ingest(conv);
  const created = await createComposition(conv, supervisor());
  const id = created.json.id as string;
  const key = outputKey("acme", conv, id, "run-before", "mp3");
  await env.MEDIA.put(key, new Uint8Array(32));
  await setState(id, "COMPLETED", { completedAt: Date.now(), durationMs: 62_500, outputKey: key });
  return { conv, id, key };
}

/** Dispatches the next job and renders it the fake way: uploads `bytes` and reports completion. */
async function renderTrack(bytes: Uint8Array) {
  await runQueue();
  const job = renderer.jobs.at(-1)!;
  const put = await call("PUT", job.output.url, { raw: bytes, headers: { ...bearer(job), "Content-Length": String(bytes.length) } });
  expect(put.status, put.text).toBe(200);
  const done = await report(job, { event: "completed", attempt: job.attempt, durationMs: 57_500, size: bytes.length, engine: "native" });
  expect(done.status, done.text).toBe(200);
  return job;
}

describe("requesting a source redaction", () => {
  it("queues a job naming the affected tracks, audited; AGENT refused", async () => {
    const { conv } = await recordedCall();
    expect((await redact(conv, undefined, agent())).status).toBe(403);
    const res = await redact(conv);
    expect(res.status, res.text).toBe(202);
    expect(res.json).toMatchObject({ state: "QUEUED", progress: 0, reason: "card number", tracks: [{ trackId: "t-customer" }] });
    expect(sent.length).toBeGreaterThan(0);
    const log = (await call("GET", "/audit", { as: supervisor() })).json.content;
    expect(log.find((e: any) => e.details.redactionId === res.json.id)).toMatchObject({
      action: "redaction.requested",
      actor: { sub: "sue" },
    });
  });

  it.each([
    [[{ from: 5, to: 5 }], "body.spans.0.to"],
    [[{ from: 70, to: 80 }], "body.spans.0.from"],
    [[{ from: 1, to: 63 }], "body.spans.0.to"],
    [[{ from: 1, to: 2, participants: ["ghost"] }], "body.spans.0.participants.0"],
    [[{ from: 1, to: 2, video: "PIXELATE" }], "body.spans.0.video"],
  ])("refuses %j naming %s, and queues nothing", async (spans, field) => {
    const { conv } = await recordedCall();
    const res = await redact(conv, { spans, reason: "x" });
    expect(res.status).toBe(400);
    expect(fields(res)).toContain(field);
    expect((await call("GET", `/recordings/${conv}/redactions`, { as: supervisor() })).json).toEqual([]);
  });

  it("refuses a second redaction while one is pending, and composing the recording (409)", async () => {
    const { conv, id } = await recordedCall();
    expect((await redact(conv)).status).toBe(202);
    expect((await redact(conv)).status).toBe(409);
    expect((await createComposition(conv, supervisor())).status).toBe(409);
    const again = await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id } });
    expect(again.status).toBe(409);
  });
});

describe("running a source redaction", () => {
  it("rewrites each track as a TRACK job on its own clock, then swaps them in, audited with both SHA-256s", async () => {
    const { conv, id, key } = await recordedCall();
    const original = await mediaKey(conv, "t-customer");
    const before = new Uint8Array(await (await env.MEDIA.get(original))!.arrayBuffer());
    const requested = await redact(conv);
    const rewritten = new Uint8Array(2048).fill(9);
    const job = await renderTrack(rewritten);
    expect(job).toMatchObject({ type: "TRACK", format: "WEBM", tracks: [{ id: "t-customer", offsetMs: 0 }] });
    // The customer joined at 5 s: the span 10–20 s of the call is 5–15 s of their track.
    expect(job.redactions).toEqual([{ startMs: 5000, endMs: 15000, tracks: ["t-customer"], audio: "BEEP", video: "NONE" }]);

    const done = await view(conv, requested.json.id);
    expect(done).toMatchObject({ state: "COMPLETED", progress: 100 });
    const swapped = await mediaKey(conv, "t-customer");
    expect(swapped).not.toBe(original);
    expect(await env.MEDIA.head(original)).toBeNull();
    expect(new Uint8Array(await (await env.MEDIA.get(swapped))!.arrayBuffer())).toEqual(rewritten);
    const shas = { sha256Before: await sha256(before), sha256After: await sha256(rewritten) };
    expect(done.tracks).toEqual([{ trackId: "t-customer", ...shas }]);
    const log = (await call("GET", "/audit", { as: supervisor() })).json.content;
    const entry = log.find((e: any) => e.action === "redaction.completed" && e.details.redactionId === requested.json.id);
    expect(entry.details).toMatchObject({ reason: "card number", spans: SPANS, tracks: [{ trackId: "t-customer", ...shas }] });

    // The composition renders again; its old output is gone.
    expect((await compositionRow(id))!.state).toBe("QUEUED");
    expect(await env.MEDIA.head(key)).toBeNull();
  });

  it("a final failure leaves the originals as they were and the recording composable", async () => {
    const { conv } = await recordedCall();
    const original = await mediaKey(conv, "t-customer");
    const requested = await redact(conv);
    await runQueue();
    const job = renderer.jobs.at(-1)!;
    await call("PUT", job.output.url, { raw: new Uint8Array(8), headers: { ...bearer(job), "Content-Length": "8" } });
    await report(job, { event: "failed", attempt: job.attempt, error: "track: invalid data", retryable: false });
    expect(await view(conv, requested.json.id)).toMatchObject({ state: "FAILED", error: "track: invalid data" });
    expect(await mediaKey(conv, "t-customer")).toBe(original);
    expect(await env.MEDIA.head(original)).not.toBeNull();
    const staged = await env.MEDIA.list({ prefix: `${original}.redacted` });
    expect(staged.objects).toEqual([]);
    expect((await createComposition(conv, supervisor())).status).toBe(200);
  });

  it("a lost lease is tried again; a stale token is refused", async () => {
    const { conv } = await recordedCall();
    const requested = await redact(conv);
    await runQueue();
    const first = renderer.jobs.at(-1)!;
    await reclaim(env, Date.now() + 10 * 60_000);
    expect(await view(conv, requested.json.id)).toMatchObject({ state: "QUEUED" });
    const stale = await report(first, { event: "progress", attempt: first.attempt, progress: 50 });
    expect(stale.status).toBe(404);
    await runQueue();
    const second = renderer.jobs.at(-1)!;
    expect(second.attempt).toBe(first.attempt + 1);
    expect((await report(second, { event: "progress", attempt: second.attempt, progress: 50 })).status).toBe(200);
    expect((await view(conv, requested.json.id)).progress).toBe(50);
  });

  it("holds back a queued composition of that conversation, not those of others", async () => {
    const { conv } = await recordedCall();
    const other = await recordedCall();
    const queuedHere = (await createComposition(conv, supervisor())).json.id as string;
    await redact(conv);
    await runQueue(); // the redaction's track
    await runQueue(); // the next job: another conversation's
    const elsewhere = (await createComposition(other.conv, supervisor())).json.id as string;
    await runQueue();
    expect((await compositionRow(queuedHere))!.state).toBe("QUEUED");
    expect((await compositionRow(elsewhere))!.state).toBe("PROCESSING");
  });
});
