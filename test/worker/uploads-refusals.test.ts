// Multipart track uploads: every bad input is a 4xx naming what is wrong and changes nothing; a
// single PUT over 95 MiB is refused (413) before its body is read; the routes are documented.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { trackKey } from "../../worker/media/keys";
import { agent, call, fields, service, supervisor, uid } from "./helpers";
import {
  abort,
  as,
  complete,
  org,
  recording,
  sendPart,
  SIZE,
  start,
  started,
  status,
  TAIL,
  uploadsOf,
  useFreshOrganization,
} from "./upload-helpers";

useFreshOrganization();

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
    const partParam = doc.paths[`${base}/{uploadId}/parts/{partNumber}`].put.parameters.find(
      (p: { name: string }) => p.name === "partNumber",
    );
    expect(partParam).toMatchObject({ in: "path", required: true });
  });
});
