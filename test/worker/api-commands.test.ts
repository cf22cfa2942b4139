import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import { outputKey, outputPrefix } from "../../worker/media/keys";
import {
  agent,
  API,
  at,
  call,
  captureQueue,
  compositionRow,
  countCompositions,
  createComposition,
  fakeRenderer,
  ingest,
  ingestTracks,
  resetRenderer,
  runQueue,
  service,
  setState,
  supervisor,
  uid,
  UUID_RE,
  type FakeRenderer,
  type RowState,
} from "./helpers";

let sent: RenderJobMessage[];
let renderer: FakeRenderer;

beforeEach(() => {
  sent = captureQueue();
  renderer = fakeRenderer();
});
afterEach(() => {
  vi.restoreAllMocks();
  resetRenderer();
});

/** A recording with stored media (agent "alice") and one composition on it. */
async function queued(overrides: Record<string, unknown> = {}, as = supervisor()) {
  const conv = uid("cmd");
  await ingest(conv, { agentId: "alice" });
  const res = await createComposition(conv, as, overrides);
  expect(res.status, res.text).toBe(200);
  return { conv, id: res.json.id as string };
}

async function putObject(key: string, bytes = 16) {
  await env.MEDIA.put(key, new Uint8Array(bytes).fill(9));
}

const expectProblem = (res: { status: number; headers: Headers; json: any }, status: number) => {
  expect(res.status).toBe(status);
  expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  expect(res.json.status).toBe(status);
  expect(typeof res.json.title).toBe("string");
  expect(typeof res.json.detail).toBe("string");
};

describe("POST /request", () => {
  it("creates a QUEUED composition with the seed's defaults and answers exactly {conversationId, id}", async () => {
    const conv = uid("req");
    await ingest(conv, { agentId: "alice" });
    const res = await call("POST", "/request", {
      as: supervisor(),
      body: { conversationId: conv, layout: "GRID", name: "Weekly review", resolution: "320x240", type: "AUDIO" },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(Object.keys(res.json).sort()).toEqual(["conversationId", "id"]);
    expect(res.json.conversationId).toBe(conv);
    expect(res.json.id).toMatch(UUID_RE);

    const row = await compositionRow(res.json.id);
    expect(row).toMatchObject({
      organization_id: "acme",
      conversation_id: conv,
      user_id: "sue",
      name: "Weekly review",
      type: "AUDIO",
      format: "MP3",
      layout: "GRID",
      resolution: "320x240",
      priority: 1,
      state: "QUEUED",
      progress: 0,
      attempts: 0,
      output_key: null,
      completed_at: null,
    });
    // The view shows the same thing.
    const view = await call("GET", `/query/conversation/${conv}`, { as: supervisor() });
    expect(view.json.compositions).toHaveLength(1);
    expect(view.json.compositions[0]).toMatchObject({
      id: res.json.id,
      format: "MP3",
      state: "QUEUED",
      type: "AUDIO",
      layout: "GRID",
      userId: "sue",
      completed: null,
      duration: null,
    });
  });

  it("VIDEO is MP4; explicit audioFormat/videoFormat/priority are kept", async () => {
    const conv = uid("req");
    await ingest(conv, { agentId: "alice" });
    const res = await createComposition(conv, supervisor(), {
      type: "VIDEO",
      resolution: "1920x1080",
      priority: 7,
      audioFormat: "MP3",
      videoFormat: "MP4",
    });
    expect(res.status, res.text).toBe(200);
    const row = await compositionRow(res.json.id);
    expect(row).toMatchObject({ type: "VIDEO", format: "MP4", resolution: "1920x1080", priority: 7, state: "QUEUED" });
    const zero = await createComposition(conv, supervisor(), { priority: 0 });
    expect((await compositionRow(zero.json.id))!.priority).toBe(0);
  });

  it("each request gets a new id and sends one wake-up message to the Queue", async () => {
    const conv = uid("req");
    await ingest(conv, { agentId: "alice" });
    expect(sent).toHaveLength(0);
    const a = await createComposition(conv, supervisor());
    const b = await createComposition(conv, supervisor());
    expect(a.json.id).not.toBe(b.json.id);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ kind: "dispatch" });
    expect(sent[0]!.reason).toContain(a.json.id);
    expect(sent[1]!.reason).toContain(b.json.id);
  });

  it("AGENT and SERVICE may request; the creator's sub is the userId", async () => {
    const conv = uid("req");
    await ingest(conv, { agentId: "alice" });
    const byAgent = await createComposition(conv, agent());
    const byService = await createComposition(conv, service());
    expect(byAgent.status).toBe(200);
    expect(byService.status).toBe(200);
    expect((await compositionRow(byAgent.json.id))!.user_id).toBe("alice");
    expect((await compositionRow(byService.json.id))!.user_id).toBe("platform");
  });

  it("a conversation without a recording → 404 problem, nothing written, nothing queued", async () => {
    const before = await countCompositions();
    const res = await createComposition(uid("nothing"), supervisor());
    expectProblem(res, 404);
    expect(res.json.detail).toContain("No recording");
    expect(await countCompositions()).toBe(before);
    expect(sent).toHaveLength(0);
  });

  it("VIDEO for a recording without video → 409 with the reason; AUDIO of it works", async () => {
    const conv = uid("novideo");
    await ingestTracks(conv, {
      agentId: "alice",
      started: at(0),
      stopped: at(30),
      tracks: [
        { id: "a1", participantId: "agent", started: at(0), audio: true, video: false },
        { id: "a2", participantId: "customer", started: at(1), audio: true, video: false },
      ],
    });
    const before = await countCompositions();
    const res = await createComposition(conv, supervisor(), { type: "VIDEO" });
    expectProblem(res, 409);
    expect(res.json.detail).toMatch(/no video/i);
    expect(await countCompositions()).toBe(before);
    expect(sent).toHaveLength(0);
    expect((await createComposition(conv, supervisor(), { type: "AUDIO" })).status).toBe(200);
  });

  it("media not all stored → 409 naming the missing track; only the tracks the type needs count", async () => {
    const conv = uid("partial");
    await ingestTracks(
      conv,
      {
        agentId: "alice",
        started: at(0),
        stopped: at(30),
        tracks: [
          { id: "cam", participantId: "agent", started: at(0), audio: true, video: true },
          { id: "screen", participantId: "agent", started: at(2), audio: false, video: true },
          { id: "voice", participantId: "customer", started: at(3), audio: true, video: false },
        ],
      },
      { upload: ["cam"] },
    );
    const before = await countCompositions();
    const audio = await createComposition(conv, supervisor(), { type: "AUDIO" });
    expectProblem(audio, 409);
    expect(audio.json.detail).toContain('"voice"');
    expect(audio.json.detail).not.toContain('"screen"');
    const video = await createComposition(conv, supervisor(), { type: "VIDEO" });
    expectProblem(video, 409);
    expect(video.json.detail).toContain('"screen"');
    expect(video.json.detail).toContain('"voice"');
    expect(await countCompositions()).toBe(before);
    expect(sent).toHaveLength(0);

    // Once the audio track lands AUDIO works, while VIDEO still waits for the screen share.
    const up = await call("PUT", `/recordings/${conv}/tracks/voice`, {
      as: service(),
      raw: new Uint8Array(10),
      headers: { "Content-Type": "audio/ogg", "Content-Length": "10" },
    });
    expect(up.status).toBe(200);
    expect((await createComposition(conv, supervisor(), { type: "AUDIO" })).status).toBe(200);
    const stillVideo = await createComposition(conv, supervisor(), { type: "VIDEO" });
    expect(stillVideo.status).toBe(409);
    expect(stillVideo.json.detail).toContain('"screen"');
  });
});

describe("POST /reexecute", () => {
  for (const from of ["COMPLETED", "FAILED", "CANCELLED"] as const) {
    it(`${from} → QUEUED again, same id, priority from the body, a wake-up sent`, async () => {
      const { conv, id } = await queued({ priority: 2 });
      await setState(id, from, { completedAt: Date.now() - 1000 });
      await env.DB.prepare(`UPDATE compositions SET attempts = 3, error = 'boom', progress = 100 WHERE id = ?1`).bind(id).run();
      sent.length = 0;
      const res = await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id, priority: 9 } });
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ conversationId: conv, id });
      expect(await compositionRow(id)).toMatchObject({ state: "QUEUED", priority: 9, attempts: 0, error: null, progress: 0 });
      expect(sent).toHaveLength(1);
      expect(sent[0]!.reason).toContain(id);
    });
  }

  it("priority defaults to 1 on re-execution", async () => {
    const { conv, id } = await queued({ priority: 8 });
    await setState(id, "FAILED");
    const res = await call("POST", "/reexecute", { as: agent(), body: { conversationId: conv, id } });
    expect(res.status, res.text).toBe(200);
    expect((await compositionRow(id))!.priority).toBe(1);
  });

  it("keeps the previous output (still playable) until a new run replaces it", async () => {
    const { conv, id } = await queued();
    const key = outputKey("acme", conv, id, "run-old", "mp3");
    await putObject(key);
    await setState(id, "COMPLETED", { completedAt: Date.now(), durationMs: 62_500, outputKey: key });
    expect((await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id } })).status).toBe(200);
    expect((await compositionRow(id))!.output_key).toBe(key);
    expect(await env.MEDIA.head(key)).not.toBeNull();
  });

  for (const from of ["QUEUED", "PROCESSING"] as const) {
    it(`${from} → 409 and the row is unchanged`, async () => {
      const { conv, id } = await queued({ priority: 4 });
      await setState(id, from);
      sent.length = 0;
      const res = await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id, priority: 9 } });
      expectProblem(res, 409);
      expect(res.json.detail).toContain(from);
      expect(await compositionRow(id)).toMatchObject({ state: from, priority: 4 });
      expect(sent).toHaveLength(0);
    });
  }

  it("an unknown id, or the id under another conversation → 404", async () => {
    const { conv, id } = await queued();
    await setState(id, "COMPLETED");
    const unknown = await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id: crypto.randomUUID() } });
    expectProblem(unknown, 404);
    const wrongConv = await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: uid("other"), id } });
    expectProblem(wrongConv, 404);
    expect((await compositionRow(id))!.state).toBe("COMPLETED");
  });
});

describe("POST /{conversationId}/{compositionId}/cancel", () => {
  it("QUEUED → CANCELLED", async () => {
    const { conv, id } = await queued();
    const res = await call("POST", `/${conv}/${id}/cancel`, { as: supervisor() });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ conversationId: conv, id, state: "CANCELLED" });
    expect((await compositionRow(id))!.state).toBe("CANCELLED");
    expect(renderer.cancels).toEqual([]); // nothing was running
  });

  it("PROCESSING → CANCELLED: the renderer instance is told, partial outputs go, the previous output stays", async () => {
    const { conv, id } = await queued();
    const previous = outputKey("acme", conv, id, "run-previous", "mp3");
    const partial = outputKey("acme", conv, id, "run-partial", "mp3");
    await putObject(previous);
    await putObject(partial);
    await setState(id, "PROCESSING", { outputKey: previous });
    await env.DB.prepare(`UPDATE compositions SET renderer_instance = 'fake-7' WHERE id = ?1`).bind(id).run();

    const res = await call("POST", `/${conv}/${id}/cancel`, { as: agent() });
    expect(res.status, res.text).toBe(200);
    expect(res.json.state).toBe("CANCELLED");
    expect(renderer.cancels).toEqual([{ jobId: id, instance: "fake-7" }]);
    expect(await compositionRow(id)).toMatchObject({ state: "CANCELLED", lease_token: null });
    expect(await env.MEDIA.head(partial)).toBeNull();
    expect(await env.MEDIA.head(previous)).not.toBeNull();
  });

  for (const from of ["COMPLETED", "FAILED", "CANCELLED"] as const) {
    it(`${from} → 409, state unchanged`, async () => {
      const { conv, id } = await queued();
      await setState(id, from);
      const res = await call("POST", `/${conv}/${id}/cancel`, { as: supervisor() });
      expectProblem(res, 409);
      expect(res.json.detail).toContain(from);
      expect((await compositionRow(id))!.state).toBe(from);
    });
  }

  it("an unknown composition, or a known one under the wrong conversation → 404", async () => {
    const { conv, id } = await queued();
    expectProblem(await call("POST", `/${conv}/${crypto.randomUUID()}/cancel`, { as: supervisor() }), 404);
    expectProblem(await call("POST", `/${uid("elsewhere")}/${id}/cancel`, { as: supervisor() }), 404);
    expect((await compositionRow(id))!.state).toBe("QUEUED");
  });
});

describe("DELETE /{conversationId}/{compositionId}/delete", () => {
  it("SUPERVISOR → 204 with no body; the row and every object under its output prefix are gone", async () => {
    const { conv, id } = await queued();
    const current = outputKey("acme", conv, id, "run-current", "mp3");
    const older = outputKey("acme", conv, id, "run-older", "mp3");
    await putObject(current);
    await putObject(older);
    await setState(id, "COMPLETED", { completedAt: Date.now(), outputKey: current });
    // A neighbour whose id shares a prefix must survive: the prefix ends in "/".
    const neighbour = outputKey("acme", conv, `${id}x`, "run-1", "mp3");
    await putObject(neighbour);
    expect((await env.MEDIA.list({ prefix: outputPrefix("acme", conv, id) })).objects).toHaveLength(2);

    const res = await call("DELETE", `/${conv}/${id}/delete`, { as: supervisor() });
    expect(res.status, res.text).toBe(204);
    expect(res.text).toBe("");
    expect(await compositionRow(id)).toBeNull();
    expect((await env.MEDIA.list({ prefix: outputPrefix("acme", conv, id) })).objects).toEqual([]);
    expect(await env.MEDIA.head(neighbour)).not.toBeNull();

    // It is gone for every reader and a second delete finds nothing.
    const view = await call("GET", `/query/conversation/${conv}`, { as: supervisor() });
    expect(view.json.compositions.map((c: { id: string }) => c.id)).not.toContain(id);
    expectProblem(await call("DELETE", `/${conv}/${id}/delete`, { as: supervisor() }), 404);
  });

  it("a QUEUED or PROCESSING composition is cancelled first, then deleted", async () => {
    const q = await queued();
    expect((await call("DELETE", `/${q.conv}/${q.id}/delete`, { as: supervisor() })).status).toBe(204);
    expect(await compositionRow(q.id)).toBeNull();

    const p = await queued();
    await setState(p.id, "PROCESSING");
    await env.DB.prepare(`UPDATE compositions SET renderer_instance = 'fake-3' WHERE id = ?1`).bind(p.id).run();
    const partial = outputKey("acme", p.conv, p.id, "run-partial", "mp3");
    await putObject(partial);
    expect((await call("DELETE", `/${p.conv}/${p.id}/delete`, { as: supervisor() })).status).toBe(204);
    expect(renderer.cancels).toEqual([{ jobId: p.id, instance: "fake-3" }]);
    expect(await compositionRow(p.id)).toBeNull();
    expect(await env.MEDIA.head(partial)).toBeNull();
  });

  it("AGENT and SERVICE → 403; the row and its media stay", async () => {
    const { conv, id } = await queued({}, agent());
    const key = outputKey("acme", conv, id, "run-1", "mp3");
    await putObject(key);
    await setState(id, "COMPLETED", { outputKey: key });
    for (const who of [agent(), service()]) {
      const res = await call("DELETE", `/${conv}/${id}/delete`, { as: who });
      expectProblem(res, 403);
    }
    expect((await compositionRow(id))!.state).toBe("COMPLETED");
    expect(await env.MEDIA.head(key)).not.toBeNull();
  });

  it("an unknown composition → 404", async () => {
    const { conv } = await queued();
    expectProblem(await call("DELETE", `/${conv}/${crypto.randomUUID()}/delete`, { as: supervisor() }), 404);
  });
});

describe("the Queue consumer hands jobs to the renderer", () => {
  /** Nothing else QUEUED may compete: the dispatcher always takes the best job in the whole table. */
  async function onlyThese(...ids: string[]) {
    await env.DB.prepare(
      `UPDATE compositions SET state = 'CANCELLED' WHERE state = 'QUEUED' AND id NOT IN (${ids.map(() => "?").join(",")})`,
    )
      .bind(...ids)
      .run();
  }

  const BASE = `${API}/internal/jobs`;

  it("a VIDEO request becomes a RenderJob: offsets in ms, duration = span, size from resolution, internal URLs", async () => {
    const conv = uid("render");
    await ingestTracks(conv, {
      agentId: "alice",
      started: at(0),
      stopped: at(90.25),
      tracks: [
        { id: "agent-cam", participantId: "agent", started: at(0), stopped: at(90.25), audio: true, video: true },
        { id: "cust-cam", participantId: "customer", started: at(12.5), stopped: at(80), audio: true, video: true },
        { id: "cust-screen", participantId: "customer", started: at(30), audio: false, video: true },
      ],
    });
    const res = await createComposition(conv, supervisor(), { type: "VIDEO", resolution: "1280x720", priority: 3 });
    expect(res.status, res.text).toBe(200);
    const id = res.json.id as string;
    expect(sent).toHaveLength(1);
    await onlyThese(id);

    const outcome = await runQueue(sent);
    expect(outcome.explicitAcks).toHaveLength(1);
    expect(outcome.retryMessages).toEqual([]);
    expect(renderer.jobs).toHaveLength(1);
    const job = renderer.jobs[0]!;
    const urls = `${BASE}/${id}`;
    expect(job).toEqual({
      jobId: id,
      attempt: 1,
      type: "VIDEO",
      format: "MP4",
      width: 1280,
      height: 720,
      durationMs: 90_250,
      tracks: [
        {
          id: "agent-cam",
          participantId: "agent",
          url: `${urls}/tracks/agent-cam`,
          offsetMs: 0,
          durationMs: 90_250,
          audio: true,
          video: true,
          size: 2048,
        },
        {
          id: "cust-cam",
          participantId: "customer",
          url: `${urls}/tracks/cust-cam`,
          offsetMs: 12_500,
          durationMs: 67_500,
          audio: true,
          video: true,
          size: 2048,
        },
        {
          id: "cust-screen",
          participantId: "customer",
          url: `${urls}/tracks/cust-screen`,
          offsetMs: 30_000,
          audio: false,
          video: true,
          size: 2048,
        },
      ],
      output: { url: `${urls}/output`, contentType: "video/mp4", multipartUrl: `${urls}/output/multipart` },
      callback: { url: `${urls}/report`, token: expect.stringMatching(/^[A-Za-z0-9_-]{40,}$/) },
      // Beyond the seed: tiles labelled and the speaker framed unless the request says otherwise.
      labels: true,
      highlight: { color: "#FFC800" },
    });
    // The claim is recorded: PROCESSING under this lease, on the instance that accepted it.
    expect(await compositionRow(id)).toMatchObject({
      state: "PROCESSING",
      attempts: 1,
      renderer_instance: "fake-1",
      lease_token: job.callback.token,
    });
    const view = await call("GET", `/query/conversation/${conv}`, { as: supervisor() });
    expect(view.json.compositions[0].state).toBe("PROCESSING");
  });

  it("an AUDIO job carries only audio tracks, none of them as video, to an MP3 output", async () => {
    const conv = uid("render");
    await ingest(conv, { agentId: "alice" });
    const res = await createComposition(conv, supervisor(), { type: "AUDIO", resolution: "320x240" });
    await onlyThese(res.json.id);
    await runQueue();
    expect(renderer.jobs).toHaveLength(1);
    const job = renderer.jobs[0]!;
    expect(job).toMatchObject({ jobId: res.json.id, type: "AUDIO", format: "MP3", width: 320, height: 240, durationMs: 62_500 });
    expect(job.output.contentType).toBe("audio/mpeg");
    expect(job.tracks.map((t) => [t.id, t.offsetMs, t.audio, t.video])).toEqual([
      ["t-agent", 0, true, false],
      ["t-customer", 5000, true, false],
    ]);
  });

  it("dispatches the highest priority first, oldest first among equals", async () => {
    const conv = uid("prio");
    await ingest(conv, { agentId: "alice" });
    const low = await createComposition(conv, supervisor(), { priority: 2, name: "low" });
    const highOld = await createComposition(conv, supervisor(), { priority: 9, name: "high-old" });
    const highNew = await createComposition(conv, supervisor(), { priority: 9, name: "high-new" });
    // Make the creation order unambiguous for the tie.
    await env.DB.prepare(`UPDATE compositions SET queued_at = queued_at - 5000 WHERE id = ?1`).bind(highOld.json.id).run();
    await onlyThese(low.json.id, highOld.json.id, highNew.json.id);
    await runQueue([
      { kind: "dispatch", reason: "a" },
      { kind: "dispatch", reason: "b" },
      { kind: "dispatch", reason: "c" },
    ]);
    expect(renderer.jobs.map((j) => j.jobId)).toEqual([highOld.json.id, highNew.json.id, low.json.id]);
  });

  it("a full renderer: the message is retried with a delay and the job goes back to QUEUED without losing an attempt", async () => {
    const conv = uid("busy");
    await ingest(conv, { agentId: "alice" });
    const res = await createComposition(conv, supervisor());
    await onlyThese(res.json.id);
    renderer.answer = { accepted: false, reason: "busy" };
    const outcome = await runQueue();
    expect(renderer.jobs).toHaveLength(1);
    expect(outcome.explicitAcks).toEqual([]);
    expect(outcome.retryMessages).toHaveLength(1);
    expect(outcome.retryOptions).toHaveLength(1);
    expect(outcome.retryOptions[0]!.delaySeconds).toBeGreaterThan(0);
    expect(await compositionRow(res.json.id)).toMatchObject({ state: "QUEUED", attempts: 0, lease_token: null });
  });

  it("nothing QUEUED: the message is acknowledged and the renderer is not called", async () => {
    await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state = 'QUEUED'`).run();
    const outcome = await runQueue();
    expect(outcome.explicitAcks).toHaveLength(1);
    expect(renderer.jobs).toEqual([]);
  });

  it("a cancelled job is never dispatched", async () => {
    const { conv, id } = await queued();
    await onlyThese(id);
    expect((await call("POST", `/${conv}/${id}/cancel`, { as: supervisor() })).status).toBe(200);
    await runQueue();
    expect(renderer.jobs).toEqual([]);
    expect((await compositionRow(id))!.state).toBe("CANCELLED" satisfies RowState);
  });
});
