import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { trackKey } from "../../worker/media/keys";
import { agent, at, call, captureQueue, fields, recordingBody, service, supervisor, uid, uploadTrack } from "./helpers";

beforeAll(() => {
  captureQueue();
});
afterAll(() => {
  vi.restoreAllMocks();
});

const TWO_TRACKS = () => recordingBody("alice");

async function putRecording(conv: string, body: unknown, as = service()) {
  return call("PUT", `/recordings/${conv}`, { as, body });
}

async function sha256(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Deterministic, non-repeating-per-chunk bytes so a dropped, duplicated or reordered chunk shows. */
function pattern(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A body the Worker can only read as a stream: 64 KiB chunks produced on demand. */
function chunked(bytes: Uint8Array, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

describe("PUT /recordings/{conversationId}", () => {
  it("stores metadata and answers the ComposedRecordingDataMessage", async () => {
    const conv = uid("rec");
    const res = await putRecording(conv, TWO_TRACKS());
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(res.json).toEqual({
      agentId: "alice",
      audio: true,
      canExportAudio: false,
      canExportVideo: false,
      conversationId: conv,
      duration: "PT1M2.5S",
      organizationId: "acme",
      started: "2026-11-20T10:00:00.000Z",
      stopped: "2026-11-20T10:01:02.500Z",
      totalParticipants: 2,
      video: true,
    });
    const got = await call("GET", `/recordings/${conv}`, { as: supervisor() });
    expect(got.status).toBe(200);
    expect(got.json).toEqual(res.json);
  });

  it("timestamps with an offset are normalized to UTC instants", async () => {
    const conv = uid("rec");
    const res = await putRecording(conv, {
      started: "2026-11-20T12:00:00+02:00",
      stopped: "2026-11-20T12:00:10.5+02:00",
      tracks: [{ id: "t", participantId: "p", started: "2026-11-20T10:00:01Z", audio: true, video: false }],
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      started: "2026-11-20T10:00:00.000Z",
      stopped: "2026-11-20T10:00:10.500Z",
      duration: "PT10.5S",
      agentId: null,
      video: false,
    });
  });

  it("GET of an unknown recording → 404 problem+json", async () => {
    const res = await call("GET", `/recordings/${uid("none")}`, { as: service() });
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  });

  it("canExportAudio / canExportVideo stay false until the last track of that kind lands", async () => {
    const conv = uid("exp");
    await putRecording(conv, TWO_TRACKS());
    // t-agent has audio+video, t-customer audio only.
    const first = await uploadTrack(conv, "t-agent", new Uint8Array(100), { contentType: "video/webm" });
    expect(first.status, first.text).toBe(200);
    let rec = await call("GET", `/recordings/${conv}`, { as: service() });
    expect(rec.json).toMatchObject({ canExportAudio: false, canExportVideo: true });
    const last = await uploadTrack(conv, "t-customer", new Uint8Array(50), { contentType: "audio/ogg; codecs=opus" });
    expect(last.status, last.text).toBe(200);
    expect(last.json).toEqual({ conversationId: conv, trackId: "t-customer", size: 50, contentType: "audio/ogg" });
    rec = await call("GET", `/recordings/${conv}`, { as: service() });
    expect(rec.json).toMatchObject({ canExportAudio: true, canExportVideo: true });
  });

  it("re-PUT keeps the media of tracks that stay and deletes the media of a dropped track", async () => {
    const conv = uid("drop");
    await putRecording(conv, TWO_TRACKS());
    await uploadTrack(conv, "t-agent", new Uint8Array(10));
    await uploadTrack(conv, "t-customer", new Uint8Array(20));
    const agentKey = trackKey("acme", conv, "t-agent");
    const customerKey = trackKey("acme", conv, "t-customer");
    expect(await env.MEDIA.head(customerKey)).not.toBeNull();

    const body = TWO_TRACKS();
    const res = await putRecording(conv, { ...body, tracks: body.tracks.slice(0, 1) });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ totalParticipants: 1, canExportAudio: true, canExportVideo: true });
    expect(await env.MEDIA.head(customerKey)).toBeNull();
    expect((await env.MEDIA.head(agentKey))!.size).toBe(10);

    // The dropped track is no longer uploadable.
    const late = await uploadTrack(conv, "t-customer", new Uint8Array(5));
    expect(late.status).toBe(404);
    expect(await env.MEDIA.head(customerKey)).toBeNull();
  });

  it("re-PUT may change the agent and span; the row is replaced, not duplicated", async () => {
    const conv = uid("upd");
    await putRecording(conv, TWO_TRACKS());
    const res = await putRecording(conv, { ...TWO_TRACKS(), agentId: "bob", stopped: at(70) });
    expect(res.json).toMatchObject({ agentId: "bob", duration: "PT1M10S" });
    const n = await env.DB.prepare(`SELECT count(*) AS n FROM recordings WHERE conversation_id = ?1`).bind(conv).first<{ n: number }>();
    expect(n!.n).toBe(1);
  });
});

describe("PUT /recordings/{conversationId} validation → 400 naming the field, nothing written", () => {
  const base = () => TWO_TRACKS();
  const cases: [string, () => unknown, string][] = [
    ["stopped before started", () => ({ ...base(), stopped: at(-1) }), "body.stopped"],
    [
      "duplicate track ids",
      () => ({ ...base(), tracks: [base().tracks[0], { ...(base().tracks[1] as object), id: "t-agent" }] }),
      "body.tracks.1.id",
    ],
    [
      "a track starting before the recording",
      () => ({ ...base(), tracks: [{ id: "t", participantId: "p", started: at(-5), audio: true, video: false }] }),
      "body.tracks.0.started",
    ],
    [
      "a track starting after the recording stopped",
      () => ({ ...base(), tracks: [base().tracks[0], { id: "late", participantId: "p", started: at(63), audio: true, video: false }] }),
      "body.tracks.1.started",
    ],
    [
      "a track stopping before it started",
      () => ({ ...base(), tracks: [{ id: "t", participantId: "p", started: at(10), stopped: at(5), audio: true, video: false }] }),
      "body.tracks.0.stopped",
    ],
    [
      "a track with neither audio nor video",
      () => ({ ...base(), tracks: [{ id: "t", participantId: "p", started: at(1), audio: false, video: false }] }),
      "body.tracks.0",
    ],
    ["no tracks", () => ({ ...base(), tracks: [] }), "body.tracks"],
    ["missing tracks", () => ({ started: at(0), stopped: at(1) }), "body.tracks"],
    ["started not an instant", () => ({ ...base(), started: "yesterday" }), "body.started"],
    ["started without a zone", () => ({ ...base(), started: "2026-11-20T10:00:00" }), "body.started"],
    [
      "track id with a slash",
      () => ({ ...base(), tracks: [{ id: "a/b", participantId: "p", started: at(0), audio: true, video: false }] }),
      "body.tracks.0.id",
    ],
    [
      "audio as a string",
      () => ({ ...base(), tracks: [{ id: "t", participantId: "p", started: at(0), audio: "yes", video: false }] }),
      "body.tracks.0.audio",
    ],
    ["unknown recording field", () => ({ ...base(), foo: 1 }), "body.foo"],
    [
      "unknown track field",
      () => ({ ...base(), tracks: [{ id: "t", participantId: "p", started: at(0), audio: true, video: false, codec: "vp8" }] }),
      "body.tracks.0.codec",
    ],
  ];
  for (const [what, body, field] of cases) {
    it(what, async () => {
      const conv = uid("bad");
      const res = await putRecording(conv, body());
      expect(res.status, res.text).toBe(400);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(fields(res)).toContain(field);
      expect((await call("GET", `/recordings/${conv}`, { as: service() })).status).toBe(404);
    });
  }

  it("a refused re-PUT leaves the existing recording and its media as they were", async () => {
    const conv = uid("keep");
    const ok = await putRecording(conv, TWO_TRACKS());
    await uploadTrack(conv, "t-customer", new Uint8Array(7));
    const bad = await putRecording(conv, {
      ...TWO_TRACKS(),
      tracks: [{ id: "x", participantId: "p", started: at(-1), audio: true, video: false }],
    });
    expect(bad.status).toBe(400);
    const now = await call("GET", `/recordings/${conv}`, { as: service() });
    expect(now.json).toEqual({ ...ok.json });
    expect((await env.MEDIA.head(trackKey("acme", conv, "t-customer")))!.size).toBe(7);
  });
});

describe("PUT /recordings/{conversationId}/tracks/{trackId}", () => {
  it("streams an 8 MiB body into R2 byte for byte", async () => {
    const conv = uid("big");
    await putRecording(conv, TWO_TRACKS());
    const size = 8 * 1024 * 1024;
    const bytes = pattern(size);
    const res = await call("PUT", `/recordings/${conv}/tracks/t-agent`, {
      as: service(),
      raw: chunked(bytes),
      headers: { "Content-Type": "video/webm", "Content-Length": String(size) },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ conversationId: conv, trackId: "t-agent", size, contentType: "video/webm" });
    const stored = await env.MEDIA.get(trackKey("acme", conv, "t-agent"));
    expect(stored!.size).toBe(size);
    expect(stored!.httpMetadata?.contentType).toBe("video/webm");
    expect(await sha256(await stored!.arrayBuffer())).toBe(await sha256(bytes));
  }, 30_000);

  it("a new upload replaces the previous media", async () => {
    const conv = uid("replace");
    await putRecording(conv, TWO_TRACKS());
    await uploadTrack(conv, "t-customer", new Uint8Array(30).fill(1));
    const again = await uploadTrack(conv, "t-customer", new Uint8Array(12).fill(2), { contentType: "application/octet-stream" });
    expect(again.json).toMatchObject({ size: 12, contentType: "application/octet-stream" });
    const stored = await env.MEDIA.get(trackKey("acme", conv, "t-customer"));
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(new Uint8Array(12).fill(2));
  });

  it("a track id not in the metadata → 404, nothing stored", async () => {
    const conv = uid("unknown");
    await putRecording(conv, TWO_TRACKS());
    const res = await uploadTrack(conv, "t-ghost", new Uint8Array(10));
    expect(res.status).toBe(404);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(res.json.detail).toContain("t-ghost");
    expect(await env.MEDIA.head(trackKey("acme", conv, "t-ghost"))).toBeNull();
  });

  it("a conversation without a recording → 404", async () => {
    const conv = uid("norec");
    const res = await uploadTrack(conv, "t-agent", new Uint8Array(10));
    expect(res.status).toBe(404);
    expect((await env.MEDIA.list({ prefix: `orgs/acme/conversations/${conv}/` })).objects).toEqual([]);
  });

  it("a non-media Content-Type → 415; none → 415", async () => {
    const conv = uid("ctype");
    await putRecording(conv, TWO_TRACKS());
    for (const contentType of ["text/plain", "application/json", "image/png"]) {
      const res = await uploadTrack(conv, "t-agent", new Uint8Array(10), { contentType });
      expect(res.status, contentType).toBe(415);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(res.json.detail).toContain(contentType);
    }
    const none = await call("PUT", `/recordings/${conv}/tracks/t-agent`, {
      as: service(),
      raw: new Uint8Array(10),
      headers: { "Content-Length": "10" },
    });
    expect(none.status).toBe(415);
    expect(await env.MEDIA.head(trackKey("acme", conv, "t-agent"))).toBeNull();
  });

  it("a streamed body without Content-Length → 411, nothing stored", async () => {
    const conv = uid("len");
    await putRecording(conv, TWO_TRACKS());
    const res = await call("PUT", `/recordings/${conv}/tracks/t-agent`, {
      as: service(),
      raw: chunked(new Uint8Array(1000).fill(5), 100),
      headers: { "Content-Type": "video/webm" },
    });
    expect(res.status, res.text).toBe(411);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(await env.MEDIA.head(trackKey("acme", conv, "t-agent"))).toBeNull();
    const rec = await call("GET", `/recordings/${conv}`, { as: service() });
    expect(rec.json.canExportVideo).toBe(false);
  });

  it("a body shorter or longer than its Content-Length → 400 naming body, nothing stored", async () => {
    const conv = uid("mismatch");
    await putRecording(conv, TWO_TRACKS());
    for (const [actual, declared] of [
      [1000, 2000],
      [3000, 2000],
    ] as const) {
      const res = await call("PUT", `/recordings/${conv}/tracks/t-agent`, {
        as: service(),
        raw: chunked(new Uint8Array(actual).fill(1), 500),
        headers: { "Content-Type": "video/webm", "Content-Length": String(declared) },
      });
      expect(res.status, `${actual} bytes announced as ${declared}: ${res.text}`).toBe(400);
      expect(fields(res)).toEqual(["body"]);
    }
    expect(await env.MEDIA.head(trackKey("acme", conv, "t-agent"))).toBeNull();
    expect((await call("GET", `/recordings/${conv}`, { as: service() })).json.canExportVideo).toBe(false);
  });

  it("a Content-Length that is not a byte count → 400 naming it", async () => {
    const conv = uid("badlen");
    await putRecording(conv, TWO_TRACKS());
    const res = await call("PUT", `/recordings/${conv}/tracks/t-agent`, {
      as: service(),
      raw: chunked(new Uint8Array(10), 5),
      headers: { "Content-Type": "video/webm", "Content-Length": "-10" },
    });
    expect(res.status, res.text).toBe(400);
    expect(fields(res)).toEqual(["header.content-length"]);
  });

  it("an empty body → 400 naming body", async () => {
    const conv = uid("empty");
    await putRecording(conv, TWO_TRACKS());
    const res = await call("PUT", `/recordings/${conv}/tracks/t-agent`, {
      as: service(),
      raw: new Uint8Array(0),
      headers: { "Content-Type": "video/webm", "Content-Length": "0" },
    });
    expect(res.status).toBe(400);
    expect(fields(res)).toEqual(["body"]);
  });

  it("AGENT may not upload (403), and nothing is stored", async () => {
    const conv = uid("agent");
    await putRecording(conv, TWO_TRACKS());
    const res = await uploadTrack(conv, "t-agent", new Uint8Array(10), { as: agent() });
    expect(res.status).toBe(403);
    expect(await env.MEDIA.head(trackKey("acme", conv, "t-agent"))).toBeNull();
  });
});
