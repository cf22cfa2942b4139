// Multipart track uploads (…/tracks/{trackId}/uploads): tracks beyond one request's size in parts,
// resumable, stored only on complete. The worker tests run with UPLOAD_PART_SIZE = 5 MiB (R2's
// smallest part, which miniflare enforces too); the e2e test uses the real 95 MiB. Refusals are in
// uploads-refusals.test.ts, presigned part URLs in uploads-presign.test.ts.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { trackKey } from "../../worker/media/keys";
import { at, call, fields, ingestTracks, supervisor, uid, uploadTrack } from "./helpers";
import {
  abort,
  as,
  audit,
  complete,
  org,
  PART,
  randomBytes,
  readTrack,
  recording,
  sendPart,
  sendParts,
  sha256,
  SIZE,
  slice,
  start,
  started,
  status,
  TAIL,
  uploadsOf,
  useFreshOrganization,
} from "./upload-helpers";

useFreshOrganization();

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
    const rule = await call("POST", "/hooks", {
      as: supervisor(org),
      body: { type: "AUDIO", resolution: "640x360", nameTemplate: "Call {conversationId}" },
    });
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
    await env.DB.prepare(`UPDATE track_uploads SET created_at = created_at - ?2 WHERE id = ?1`)
      .bind(id, 7 * 24 * 3600 * 1000 + 1)
      .run();
    expect((await status(conv, id)).status).toBe(404);
    // The next upload of the organization forgets it.
    await started(conv);
    expect(await env.DB.prepare(`SELECT id FROM track_uploads WHERE id = ?1`).bind(id).first()).toBeNull();
  });
});
