// Multipart track uploads (…/tracks/{trackId}/uploads): tracks beyond one request's size in parts,
// resumable, stored only on complete. The worker tests run with UPLOAD_PART_SIZE = 5 MiB (R2's
// smallest part, which miniflare enforces too); the e2e test uses the real 95 MiB.
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { trackKey } from "../../worker/media/keys";
import { agent, API, at, call, captureQueue, fields, ingestTracks, service, setState, supervisor, uid, uploadTrack, type Caller } from "./helpers";
import { captureWebhooks } from "./webhook-helpers";

const PART = 5 * 2 ** 20;
const TAIL = 12_345;
const SIZE = 2 * PART + TAIL; // three parts: 5 MiB, 5 MiB, 12,345 bytes
let org: string;
let as: Caller;

beforeEach(() => {
  captureQueue();
  captureWebhooks();
  // A fresh organization per test: its storage prefix holds exactly what the test stored.
  org = uid("org-up");
  as = service(org);
});
afterEach(() => vi.restoreAllMocks());

/** A recording with one audio track (so an AUDIO composition needs exactly that track's media). */
async function recording(conv: string, who: Caller = as) {
  await ingestTracks(
    conv,
    { agentId: "alice", started: at(0), stopped: at(60), tracks: [{ id: "t1", participantId: "agent", started: at(0), audio: true, video: false }] },
    { as: who, upload: [] },
  );
}

/** Random bytes (getRandomValues fills at most 64 KiB at a time). */
function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65_536)));
  return out;
}

const uploadsOf = (conv: string, track = "t1") => `/recordings/${conv}/tracks/${track}/uploads`;

async function start(conv: string, size = SIZE, who: Caller = as, track = "t1") {
  return call("POST", uploadsOf(conv, track), { as: who, body: { size, contentType: "audio/webm" } });
}

async function started(conv: string, size = SIZE): Promise<string> {
  const res = await start(conv, size);
  expect(res.status, res.text).toBe(201);
  return res.json.uploadId;
}

function sendPart(conv: string, uploadId: string, n: number | string, bytes: Uint8Array, opts: { who?: Caller; length?: number; body?: BodyInit } = {}) {
  return call("PUT", `${uploadsOf(conv)}/${uploadId}/parts/${n}`, {
    as: opts.who ?? as,
    raw: opts.body ?? bytes,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(opts.length ?? bytes.byteLength) },
  });
}

/** Part `n` (1-based) of `bytes` cut into PART-sized pieces. */
const slice = (bytes: Uint8Array, n: number) => bytes.subarray((n - 1) * PART, n * PART);

async function sendParts(conv: string, uploadId: string, bytes: Uint8Array, order: number[]) {
  for (const n of order) {
    const res = await sendPart(conv, uploadId, n, slice(bytes, n));
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ partNumber: n, size: slice(bytes, n).byteLength });
  }
}

const complete = (conv: string, uploadId: string, who: Caller = as) => call("POST", `${uploadsOf(conv)}/${uploadId}/complete`, { as: who });
const status = (conv: string, uploadId: string, who: Caller = as) => call("GET", `${uploadsOf(conv)}/${uploadId}`, { as: who });
const abort = (conv: string, uploadId: string, who: Caller = as) => call("DELETE", `${uploadsOf(conv)}/${uploadId}`, { as: who });

/**
 * Reads the track back the way the renderer does: through the job input route, under the lease of
 * a composition of this recording (setState gives it the lease token "lease-test").
 */
async function readTrack(conv: string, range?: string) {
  const req = await call("POST", "/request", {
    as: supervisor(org),
    body: { conversationId: conv, layout: "GRID", name: "check", resolution: "640x360", type: "AUDIO" },
  });
  expect(req.status, req.text).toBe(200);
  await setState(req.json.id, "PROCESSING");
  const headers: Record<string, string> = { Authorization: "Bearer lease-test", ...(range ? { Range: range } : {}) };
  const res = await exports.default.fetch(new Request(`${API}/internal/jobs/${req.json.id}/tracks/t1`, { headers }));
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function sha256(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function audit() {
  const res = await call("GET", "/audit/storage", { as: supervisor(org) });
  expect(res.status, res.text).toBe(200);
  return res.json as { objects: { key: string; size: number; kind: string }[]; orphans: string[] };
}

describe("multipart track uploads", () => {
  it("POST answers the part size and count: every part but the last is partSize", async () => {
    const conv = uid("conv");
    await recording(conv);
    const res = await start(conv);
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
    expect(res.json).toEqual({ uploadId: expect.any(String), partSize: PART, partCount: 3 });
    expect((await start(conv, PART)).json).toMatchObject({ partSize: PART, partCount: 1 });
    expect((await start(conv, PART + 1)).json).toMatchObject({ partSize: PART, partCount: 2 });
    expect((await start(conv, 5 * 2 ** 30)).json).toMatchObject({ partSize: PART, partCount: 1024 });
  });

  it("parts out of order, one sent twice: complete stores the track, read back byte for byte", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    // Part 2 first goes up wrong, then again right: the second upload replaces the first.
    expect((await sendPart(conv, id, 2, randomBytes(PART))).status).toBe(200);
    await sendParts(conv, id, bytes, [3, 2, 1]);
    expect((await status(conv, id)).json.parts).toEqual([
      { partNumber: 1, size: PART },
      { partNumber: 2, size: PART },
      { partNumber: 3, size: TAIL },
    ]);

    const done = await complete(conv, id);
    expect(done.status, done.text).toBe(200);
    const recording0 = await call("GET", `/recordings/${conv}`, { as });
    expect(done.json).toEqual(recording0.json);
    expect(done.json).toMatchObject({ conversationId: conv, organizationId: org, canExportAudio: true, audio: true, video: false });

    const whole = await readTrack(conv);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("Content-Type")).toBe("audio/webm");
    expect(whole.bytes.byteLength).toBe(SIZE);
    expect(await sha256(whole.bytes)).toBe(await sha256(bytes));
    // Across the join of parts 1 and 2, through a range read.
    const join = await readTrack(conv, `bytes=${PART - 100}-${PART + 99}`);
    expect(join.status).toBe(206);
    expect(join.bytes).toEqual(bytes.subarray(PART - 100, PART + 100));
    expect((await status(conv, id)).json).toMatchObject({ completed: true });
  }, 60_000);

  it("resumes after the client was killed: GET lists the parts received, the rest are sent, complete", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    await sendParts(conv, id, bytes, [1]);
    // The client dies halfway through part 3: its body ends early, and nothing of it is kept.
    const cut = await sendPart(conv, id, 3, slice(bytes, 3).subarray(0, 1000), { length: TAIL });
    expect(cut.status, cut.text).toBe(400);
    expect(fields(cut)).toEqual(["body"]);

    // A new client process knows only the upload id.
    const seen = await status(conv, id);
    expect(seen.status, seen.text).toBe(200);
    expect(seen.json).toEqual({
      uploadId: id,
      size: SIZE,
      partSize: PART,
      partCount: 3,
      contentType: "audio/webm",
      completed: false,
      parts: [{ partNumber: 1, size: PART }],
    });
    const have = new Set(seen.json.parts.map((p: { partNumber: number }) => p.partNumber));
    const missing = [1, 2, 3].filter((n) => !have.has(n));
    expect(missing).toEqual([2, 3]);
    await sendParts(conv, id, bytes, missing);
    expect((await complete(conv, id)).status).toBe(200);
    const back = await readTrack(conv);
    expect(await sha256(back.bytes)).toBe(await sha256(bytes));
  }, 60_000);

  it("the track is not stored before complete: the recording says so and a composition is refused (409)", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    await sendParts(conv, id, bytes, [1, 2, 3]);
    expect((await call("GET", `/recordings/${conv}`, { as })).json).toMatchObject({ canExportAudio: false });
    const early = await call("POST", "/request", {
      as: supervisor(org),
      body: { conversationId: conv, layout: "GRID", name: "early", resolution: "640x360", type: "AUDIO" },
    });
    expect(early.status, early.text).toBe(409);
    expect(await env.MEDIA.head(trackKey(org, conv, "t1"))).toBeNull();
    expect(await audit()).toEqual({ objects: [], orphans: [] });

    expect((await complete(conv, id)).status).toBe(200);
    expect((await call("GET", `/recordings/${conv}`, { as })).json).toMatchObject({ canExportAudio: true });
    // Owned by the track once complete: listed with its size, no orphan.
    expect(await audit()).toEqual({ objects: [{ key: trackKey(org, conv, "t1"), size: SIZE, kind: "track" }], orphans: [] });
  }, 60_000);

  it("a wrong-size part is refused (400 naming the part) before its body is read; the right one is taken", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv);
    for (const [n, length] of [
      [2, 1000],
      [2, PART + 1],
      [3, TAIL - 1],
      [3, PART],
    ] as const) {
      const res = await sendPart(conv, id, n, new Uint8Array(length).fill(9));
      expect(res.status, `part ${n} of ${length} bytes: ${res.text}`).toBe(400);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(fields(res)).toEqual(["path.partNumber"]);
      expect(res.json.detail).toContain(`Part ${n} must be exactly ${n === 3 ? TAIL : PART} bytes`);
    }
    expect((await status(conv, id)).json.parts).toEqual([]);
    expect((await sendPart(conv, id, 3, new Uint8Array(TAIL))).status).toBe(200);
  });

  it("a part body longer than its Content-Length → 400 naming body, and the part is not counted", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv);
    const stream = new Blob([new Uint8Array(TAIL + 500)]).stream();
    const res = await sendPart(conv, id, 3, new Uint8Array(0), { length: TAIL, body: stream });
    expect(res.status, res.text).toBe(400);
    expect(fields(res)).toEqual(["body"]);
    expect((await status(conv, id)).json.parts).toEqual([]);
  });

  it("part numbers outside 1..10000 or beyond the upload's parts → 400 naming path.partNumber", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv);
    for (const n of ["0", "10001", "4", "abc", "-1", "1.5"]) {
      const res = await sendPart(conv, id, n, new Uint8Array(TAIL));
      expect(res.status, `part ${n}: ${res.text}`).toBe(400);
      expect(fields(res), n).toEqual(["path.partNumber"]);
    }
    expect((await status(conv, id)).json.parts).toEqual([]);
  });

  it("a part without Content-Length → 411", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv);
    // A stream the runtime cannot size goes out chunked, without Content-Length.
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.close();
        sent = true;
        controller.enqueue(new Uint8Array(TAIL));
      },
    });
    const res = await call("PUT", `${uploadsOf(conv)}/${id}/parts/3`, { as, raw: stream });
    expect(res.status, res.text).toBe(411);
    expect((await status(conv, id)).json.parts).toEqual([]);
  });

  it("complete with parts missing → 409 naming them; the upload stays open", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    await sendParts(conv, id, bytes, [2]);
    const res = await complete(conv, id);
    expect(res.status, res.text).toBe(409);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(res.json.detail).toContain("Parts 1, 3 of 3 are missing");
    expect(res.json.errors).toEqual([{ field: "parts", message: "missing 1, 3" }]);
    expect((await call("GET", `/recordings/${conv}`, { as })).json.canExportAudio).toBe(false);
    await sendParts(conv, id, bytes, [1, 3]);
    expect((await complete(conv, id)).status).toBe(200);
  }, 60_000);

  it("complete twice → 409, a part after complete → 409, DELETE then forgets it; the stored track is unchanged", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(PART + 10);
    const id = await started(conv, PART + 10);
    await sendParts(conv, id, bytes, [1, 2]);
    expect((await complete(conv, id)).status).toBe(200);
    const again = await complete(conv, id);
    expect(again.status, again.text).toBe(409);
    expect(again.json.detail).toContain("already completed");
    const late = await sendPart(conv, id, 2, new Uint8Array(10));
    expect(late.status).toBe(409);
    // Deleting a completed upload only forgets it: the track keeps its media.
    expect((await abort(conv, id)).status).toBe(204);
    expect((await status(conv, id)).status).toBe(404);
    const back = await readTrack(conv);
    expect(await sha256(back.bytes)).toBe(await sha256(bytes));
  }, 60_000);

  it("abort → 204, then the upload is 404 everywhere, nothing is stored and the audit shows no orphan", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    await sendParts(conv, id, bytes, [1, 2]);
    const res = await abort(conv, id);
    expect(res.status, res.text).toBe(204);
    expect(res.text).toBe("");
    expect((await status(conv, id)).status).toBe(404);
    expect((await sendPart(conv, id, 3, slice(bytes, 3))).status).toBe(404);
    expect((await complete(conv, id)).status).toBe(404);
    expect((await abort(conv, id)).status).toBe(404);
    const parts = await env.DB.prepare(`SELECT count(*) AS n FROM track_upload_parts WHERE upload_id = ?1`).bind(id).first<{ n: number }>();
    expect(parts!.n).toBe(0);
    expect((await call("GET", `/recordings/${conv}`, { as })).json.canExportAudio).toBe(false);
    expect(await audit()).toEqual({ objects: [], orphans: [] });
  }, 60_000);

  it("an upload replacing stored media: the old media serves until complete, stays after an abort", async () => {
    const conv = uid("conv");
    await recording(conv);
    const old = new Uint8Array(2048).fill(3);
    expect((await uploadTrack(conv, "t1", old, { as })).status).toBe(200);
    const aborted = await started(conv);
    await sendParts(conv, aborted, randomBytes(SIZE), [1]);
    expect((await abort(conv, aborted)).status).toBe(204);
    expect((await readTrack(conv)).bytes).toEqual(old);

    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    await sendParts(conv, id, bytes, [1, 2, 3]);
    expect((await readTrack(conv)).bytes).toEqual(old);
    expect((await call("GET", `/recordings/${conv}`, { as })).json.canExportAudio).toBe(true);
    expect((await complete(conv, id)).status).toBe(200);
    expect(await sha256((await readTrack(conv)).bytes)).toBe(await sha256(bytes));
    expect(await audit()).toEqual({ objects: [{ key: trackKey(org, conv, "t1"), size: SIZE, kind: "track" }], orphans: [] });
  }, 60_000);

  it("completing fires composition hooks, as a PUT does", async () => {
    const conv = uid("conv");
    const rule = await call("POST", "/hooks", { as: supervisor(org), body: { type: "AUDIO", resolution: "640x360", nameTemplate: "Call {conversationId}" } });
    expect(rule.status, rule.text).toBe(201);
    await recording(conv);
    const id = await started(conv, 100);
    await sendParts(conv, id, new Uint8Array(100).fill(1), [1]);
    const made = () => call("GET", `/query/conversation/${conv}`, { as: supervisor(org) });
    expect((await made()).json.compositions).toHaveLength(0);
    expect((await complete(conv, id)).status).toBe(200);
    const after = (await made()).json.compositions;
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ name: `Call ${conv}`, type: "AUDIO", state: "QUEUED" });
  });

  it("the track removed from the recording during the upload → complete 409, nothing left in storage", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv, 100);
    await sendParts(conv, id, new Uint8Array(100).fill(1), [1]);
    await ingestTracks(
      conv,
      { started: at(0), stopped: at(60), tracks: [{ id: "t2", participantId: "customer", started: at(0), audio: true, video: false }] },
      { as, upload: [] },
    );
    const res = await complete(conv, id);
    expect(res.status, res.text).toBe(409);
    expect(res.json.detail).toContain("removed from the recording");
    expect(await audit()).toEqual({ objects: [], orphans: [] });
  });

  it("an upload left 7 days (R2 aborts it) is 404", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv);
    await env.DB.prepare(`UPDATE track_uploads SET created_at = created_at - ?2 WHERE id = ?1`).bind(id, 7 * 24 * 3600 * 1000 + 1).run();
    expect((await status(conv, id)).status).toBe(404);
    // The next upload of the organization forgets it.
    await started(conv);
    expect(await env.DB.prepare(`SELECT id FROM track_uploads WHERE id = ?1`).bind(id).first()).toBeNull();
  });
});

describe("multipart uploads: bad input changes nothing", () => {
  const badBodies: [string, unknown, string][] = [
    ["size 0", { size: 0, contentType: "audio/webm" }, "body.size"],
    ["negative size", { size: -1, contentType: "audio/webm" }, "body.size"],
    ["size over 5 GiB", { size: 5 * 2 ** 30 + 1, contentType: "audio/webm" }, "body.size"],
    ["fractional size", { size: 10.5, contentType: "audio/webm" }, "body.size"],
    ["size as a string", { size: "100", contentType: "audio/webm" }, "body.size"],
    ["no size", { contentType: "audio/webm" }, "body.size"],
    ["no contentType", { size: 100 }, "body.contentType"],
    ["contentType not media", { size: 100, contentType: "text/plain" }, "body.contentType"],
    ["unknown field", { size: 100, contentType: "audio/webm", parts: 3 }, "body.parts"],
  ];
  for (const [what, body, field] of badBodies) {
    it(`POST with ${what} → 400 naming ${field}`, async () => {
      const conv = uid("conv");
      await recording(conv);
      const res = await call("POST", uploadsOf(conv), { as, body });
      expect(res.status, res.text).toBe(400);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(fields(res)).toEqual([field]);
      const n = await env.DB.prepare(`SELECT count(*) AS n FROM track_uploads WHERE organization_id = ?1`).bind(org).first<{ n: number }>();
      expect(n!.n).toBe(0);
    });
  }

  it("POST for an unknown track or recording → 404", async () => {
    const conv = uid("conv");
    expect((await start(conv)).status).toBe(404);
    await recording(conv);
    const res = await start(conv, SIZE, as, "t-ghost");
    expect(res.status).toBe(404);
    expect(res.json.detail).toContain("t-ghost");
  });

  it("an unknown upload id → 404 for GET, PUT part, complete and DELETE", async () => {
    const conv = uid("conv");
    await recording(conv);
    const ghost = crypto.randomUUID();
    const answers = [
      await status(conv, ghost),
      await sendPart(conv, ghost, 1, new Uint8Array(10)),
      await complete(conv, ghost),
      await abort(conv, ghost),
    ];
    for (const res of answers) {
      expect(res.status, res.text).toBe(404);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    }
  });

  it("another organization's upload is 404 (even with the same conversation and track ids)", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv);
    const them = service(uid("org-other"));
    expect((await start(conv, SIZE, them)).status).toBe(404);
    await recording(conv, them);
    expect((await status(conv, id, them)).status).toBe(404);
    expect((await sendPart(conv, id, 3, new Uint8Array(TAIL), { who: them })).status).toBe(404);
    expect((await complete(conv, id, them)).status).toBe(404);
    expect((await abort(conv, id, them)).status).toBe(404);
    expect((await status(conv, id)).json.parts).toEqual([]);
  });

  it("AGENT → 403 on every uploads route; no token → 401", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await started(conv);
    const a = agent(org);
    expect((await start(conv, SIZE, a)).status).toBe(403);
    expect((await status(conv, id, a)).status).toBe(403);
    expect((await sendPart(conv, id, 3, new Uint8Array(TAIL), { who: a })).status).toBe(403);
    expect((await complete(conv, id, a)).status).toBe(403);
    expect((await abort(conv, id, a)).status).toBe(403);
    expect((await call("GET", `${uploadsOf(conv)}/${id}`)).status).toBe(401);
    expect((await status(conv, id)).json.parts).toEqual([]);
    // SUPERVISOR may, as for the single PUT.
    expect((await status(conv, id, supervisor(org))).status).toBe(200);
  });
});

describe("a single PUT larger than 95 MiB", () => {
  it("→ 413 problem+json naming the uploads route, before the body is read, nothing stored", async () => {
    const conv = uid("conv");
    await recording(conv);
    let pulled = 0;
    const chunk = new Uint8Array(64 * 1024);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(chunk);
      },
    });
    const length = 95 * 2 ** 20 + 1;
    const res = await call("PUT", `/recordings/${conv}/tracks/t1`, {
      as,
      raw: body,
      headers: { "Content-Type": "audio/webm", "Content-Length": String(length) },
    });
    expect(res.status, res.text).toBe(413);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(res.json.detail).toContain(`/auvious.video/composition/api/recordings/${conv}/tracks/t1/uploads`);
    expect(fields(res)).toEqual(["header.content-length"]);
    // At most what the runtime buffers ahead (1 MiB), never the announced 95 MiB.
    expect(pulled).toBeLessThanOrEqual(16);
    expect(await env.MEDIA.head(trackKey(org, conv, "t1"))).toBeNull();
    expect((await call("GET", `/recordings/${conv}`, { as })).json.canExportAudio).toBe(false);
  });
});

describe("OpenAPI", () => {
  it("documents the uploads routes with their schemas", async () => {
    const doc = (await call("GET", "/openapi.json")).json;
    const base = "/auvious.video/composition/api/recordings/{conversationId}/tracks/{trackId}/uploads";
    expect(Object.keys(doc.paths[base])).toEqual(["post"]);
    expect(Object.keys(doc.paths[`${base}/{uploadId}`]).sort()).toEqual(["delete", "get"]);
    expect(Object.keys(doc.paths[`${base}/{uploadId}/parts/{partNumber}`])).toEqual(["put"]);
    expect(Object.keys(doc.paths[`${base}/{uploadId}/complete`])).toEqual(["post"]);
    const s = doc.components.schemas;
    expect(Object.keys(s.TrackUploadInput.properties).sort()).toEqual(["contentType", "size"]);
    expect(s.TrackUploadInput.properties.size).toMatchObject({ type: "integer", minimum: 1, maximum: 5 * 2 ** 30 });
    expect(Object.keys(s.TrackUploadCreated.properties)).toEqual(expect.arrayContaining(["uploadId", "partSize", "partCount"]));
    expect(Object.keys(s.TrackUploadStatus.properties)).toEqual(expect.arrayContaining(["uploadId", "size", "partSize", "parts"]));
    const completed = doc.paths[`${base}/{uploadId}/complete`].post.responses["200"].content["application/json"].schema;
    expect(completed.$ref).toBe("#/components/schemas/ComposedRecordingDataMessage");
    const partParam = doc.paths[`${base}/{uploadId}/parts/{partNumber}`].put.parameters.find((p: { name: string }) => p.name === "partNumber");
    expect(partParam).toMatchObject({ in: "path", required: true });
  });
});

describe("presigned part URLs (R2's S3 API credentials configured)", () => {
  const S3 = { R2_ACCOUNT_ID: "0123456789abcdef", R2_ACCESS_KEY_ID: "AKIDEXAMPLE", R2_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", R2_BUCKET: "composition-media" };
  const vars = env as unknown as Record<string, string | undefined>;
  beforeEach(() => void Object.assign(vars, S3));
  afterEach(() => {
    for (const k of Object.keys(S3)) delete vars[k];
  });

  const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
  const rfc3986 = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  async function hmac(key: ArrayBuffer | Uint8Array, data: string): Promise<ArrayBuffer> {
    const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return crypto.subtle.sign("HMAC", k, new TextEncoder().encode(data));
  }

  /** SigV4 of a presigned S3 PUT, computed from AWS's specification, independently of aws4fetch. */
  async function expectedSignature(url: URL, objectKey: string, contentLength: number): Promise<string> {
    const q = url.searchParams;
    const amzDate = q.get("X-Amz-Date")!;
    const scope = `${amzDate.slice(0, 8)}/auto/s3/aws4_request`;
    const query = [...q]
      .filter(([k]) => k !== "X-Amz-Signature")
      .map(([k, v]) => [rfc3986(k), rfc3986(v)])
      .sort(([a], [b]) => (a! < b! ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const path = "/" + [S3.R2_BUCKET, ...objectKey.split("/")].map(rfc3986).join("/");
    const canonical = ["PUT", path, query, `content-length:${contentLength}\nhost:${url.host}\n`, "content-length;host", "UNSIGNED-PAYLOAD"].join("\n");
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical)))].join("\n");
    let key: ArrayBuffer = new TextEncoder().encode(`AWS4${S3.R2_SECRET_ACCESS_KEY}`).buffer as ArrayBuffer;
    for (const part of [amzDate.slice(0, 8), "auto", "s3", "aws4_request"]) key = await hmac(key, part);
    return hex(await hmac(key, toSign));
  }

  it("the create answer carries one URL per part, signed for the part's number, upload and exact size", async () => {
    // ':' in an id is kept in the storage key percent-encoded, so the URL path must encode that '%'.
    const conv = uid("conv:1");
    await recording(conv);
    const res = await start(conv);
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ partSize: PART, partCount: 3, expiresInSeconds: 86400 });
    const row = (await env.DB.prepare(`SELECT r2_upload_id, media_key FROM track_uploads WHERE id = ?1`).bind(res.json.uploadId).first<Record<string, string>>())!;
    expect(row.media_key).toBe(trackKey(org, conv, "t1"));
    expect(res.json.parts.map((p: { partNumber: number }) => p.partNumber)).toEqual([1, 2, 3]);
    for (const { partNumber, url: raw } of res.json.parts as { partNumber: number; url: string }[]) {
      const url = new URL(raw);
      expect(url.origin).toBe(`https://${S3.R2_ACCOUNT_ID}.r2.cloudflarestorage.com`);
      expect(url.pathname).toBe(`/${S3.R2_BUCKET}/orgs/${org}/conversations/${conv.replace(":", "%253A")}/tracks/t1`);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        partNumber: String(partNumber),
        uploadId: row.r2_upload_id,
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": `${S3.R2_ACCESS_KEY_ID}/${url.searchParams.get("X-Amz-Date")!.slice(0, 8)}/auto/s3/aws4_request`,
        "X-Amz-Date": expect.stringMatching(/^\d{8}T\d{6}Z$/),
        "X-Amz-Expires": "86400",
        "X-Amz-SignedHeaders": "content-length;host",
        "X-Amz-Signature": expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      const size = partNumber === 3 ? TAIL : PART;
      expect(url.searchParams.get("X-Amz-Signature")).toBe(await expectedSignature(url, row.media_key!, size));
      // Bound to its size: the same URL is no signature for a body of another length.
      expect(url.searchParams.get("X-Amz-Signature")).not.toBe(await expectedSignature(url, row.media_key!, size + 1));
    }
  });

  it("parts sent straight to R2 are completed from the ETags the client lists (quoted or bare)", async () => {
    const conv = uid("conv");
    await recording(conv);
    const bytes = randomBytes(SIZE);
    const id = await started(conv);
    await sendParts(conv, id, bytes, [1]);
    // What a presigned PUT does: the part lands in the same R2 multipart upload, unseen by the Worker.
    const row = (await env.DB.prepare(`SELECT r2_upload_id, media_key FROM track_uploads WHERE id = ?1`).bind(id).first<Record<string, string>>())!;
    const r2 = env.MEDIA.resumeMultipartUpload(row.media_key!, row.r2_upload_id!);
    const two = await r2.uploadPart(2, slice(bytes, 2));
    const three = await r2.uploadPart(3, slice(bytes, 3));
    expect((await status(conv, id)).json.parts).toEqual([{ partNumber: 1, size: PART }]);

    const withoutList = await complete(conv, id);
    expect(withoutList.status).toBe(409);
    const body = (parts: unknown[]) => call("POST", `${uploadsOf(conv)}/${id}/complete`, { as, body: { parts } });
    const beyond = await body([{ partNumber: 4, etag: "x" }]);
    expect(beyond.status, beyond.text).toBe(400);
    expect(fields(beyond)).toEqual(["body.parts.0.partNumber"]);
    const twice = await body([
      { partNumber: 2, etag: two.etag },
      { partNumber: 2, etag: two.etag },
    ]);
    expect(fields(twice)).toEqual(["body.parts.1.partNumber"]);
    const wrong = await body([
      { partNumber: 2, etag: "not-the-etag" },
      { partNumber: 3, etag: three.etag },
    ]);
    expect(wrong.status, wrong.text).toBe(409);
    expect((await call("GET", `/recordings/${conv}`, { as })).json.canExportAudio).toBe(false);

    const done = await body([
      { partNumber: 2, etag: `"${two.etag}"` },
      { partNumber: 3, etag: three.etag },
    ]);
    expect(done.status, done.text).toBe(200);
    expect(done.json.canExportAudio).toBe(true);
    expect(await sha256((await readTrack(conv)).bytes)).toBe(await sha256(bytes));
  }, 60_000);
});
