import { Hono } from "hono";
import type { z } from "zod";
import { FORMATS, INTERNAL_ROUTES as ROUTES, MultipartCompleteSchema, RenderReportSchema } from "../../contract/renderer";
import { holdsLease } from "../db/compositions";
import { findTrackMedia } from "../db/recordings";
import type { AppEnv } from "../env";
import { problem } from "../http/problem";
import { runOutputKey } from "../jobs/outputs";
import { applyReport, leasedJob } from "../jobs/reports";
import { MAX_REVIEW_ASSET_BYTES, REVIEW_ASSETS, reviewAssetAllowed, reviewAssetKey } from "../jobs/review-assets";
import { serveMediaObject } from "../media/serve";

// The renderer's side door: one job's inputs, output upload and reports, authorized by its lease
// token alone. Not part of the public OpenAPI document.

export async function jsonBody<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await req.json().catch(() => undefined));
  if (!parsed.success)
    throw problem.badRequest(`Invalid report: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  return parsed.data;
}

/** After a long upload the lease may be gone (cancelled, re-leased): what was written must not stay. */
async function stillLeased(c: { env: AppEnv["Bindings"] }, id: string, token: string, key: string): Promise<void> {
  if (!(await holdsLease(c.env.DB, id, token))) {
    await c.env.MEDIA.delete(key);
    throw problem.conflict("The job was cancelled or re-leased during the upload; the output was discarded.");
  }
}

export const internal = new Hono<AppEnv>()
  .on(ROUTES.track.method, ROUTES.track.path, async (c) => {
    const { row } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    const track = await findTrackMedia(c.env.DB, {
      organizationId: row.organizationId,
      conversationId: row.conversationId,
      id: c.req.param("trackId"),
    });
    if (!track?.mediaKey) throw problem.notFound("No stored media for this track.");
    const res = await serveMediaObject(c.req.raw, c.env.MEDIA, track.mediaKey, {
      contentType: track.contentType ?? "application/octet-stream",
      disposition: "inline",
      fileName: c.req.param("trackId"),
      maxAgeSeconds: 0,
    });
    if (!res) throw problem.notFound("The track's media is missing from storage.");
    return res;
  })
  .on(ROUTES.output.method, ROUTES.output.path, async (c) => {
    const { row, token } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    if (!c.req.raw.body || !c.req.header("Content-Length")) throw problem.status(411, "Content-Length is required.");
    const key = runOutputKey(row, token);
    const object = await c.env.MEDIA.put(key, c.req.raw.body, { httpMetadata: { contentType: FORMATS[row.format].contentType } });
    await stillLeased(c, row.id, token, key);
    return c.json({ key: "output", size: object?.size ?? 0 }, 200);
  })
  // The run's review assets (thumbnails, waveform), keyed by the run like its output.
  .on(ROUTES.asset.method, ROUTES.asset.path, async (c) => {
    const { row, token } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    const name = c.req.param("name");
    if (!reviewAssetAllowed(name, row.type)) throw problem.badRequest(`A ${row.type} composition has no review asset "${name}".`);
    const length = Number(c.req.header("Content-Length"));
    if (!c.req.raw.body || !Number.isInteger(length)) throw problem.status(411, "Content-Length is required.");
    if (length > MAX_REVIEW_ASSET_BYTES) throw problem.status(413, `A review asset is at most ${MAX_REVIEW_ASSET_BYTES} bytes.`);
    const key = reviewAssetKey(runOutputKey(row, token), name);
    const object = await c.env.MEDIA.put(key, c.req.raw.body, { httpMetadata: { contentType: REVIEW_ASSETS[name].contentType } });
    await stillLeased(c, row.id, token, key);
    return c.json({ key: name, size: object?.size ?? 0 }, 200);
  })
  .on(ROUTES.multipartCreate.method, ROUTES.multipartCreate.path, async (c) => {
    const { row, token } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    const upload = await c.env.MEDIA.createMultipartUpload(runOutputKey(row, token), {
      httpMetadata: { contentType: FORMATS[row.format].contentType },
    });
    return c.json({ uploadId: upload.uploadId }, 200);
  })
  .on(ROUTES.multipartPart.method, ROUTES.multipartPart.path, async (c) => {
    const { row, token } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    const partNumber = Number(c.req.param("part"));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) throw problem.badRequest("part must be 1..10000");
    if (!c.req.raw.body || !c.req.header("Content-Length")) throw problem.status(411, "Content-Length is required.");
    const upload = c.env.MEDIA.resumeMultipartUpload(runOutputKey(row, token), c.req.param("uploadId"));
    const part = await upload.uploadPart(partNumber, c.req.raw.body);
    return c.json({ partNumber: part.partNumber, etag: part.etag }, 200);
  })
  .on(ROUTES.multipartComplete.method, ROUTES.multipartComplete.path, async (c) => {
    const { row, token } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    const { parts } = await jsonBody(c.req.raw, MultipartCompleteSchema);
    const key = runOutputKey(row, token);
    const object = await c.env.MEDIA.resumeMultipartUpload(key, c.req.param("uploadId")).complete(parts);
    await stillLeased(c, row.id, token, key);
    return c.json({ key: "output", size: object.size }, 200);
  })
  .on(ROUTES.report.method, ROUTES.report.path, async (c) => {
    const { row, token } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    const after = await applyReport(c.env, row, token, await jsonBody(c.req.raw, RenderReportSchema));
    if (!after) throw problem.conflict("The job is no longer running under this lease.");
    return c.json({ state: after.state, progress: after.progress }, 200);
  });
