import { Hono } from "hono";
import { FORMATS, MultipartCompleteSchema, REDACTION_ROUTES as ROUTES, RenderReportSchema } from "../../contract/renderer";
import { findRedactionById } from "../db/redactions";
import type { SourceRedactionRow } from "../db/schema";
import type { AppEnv, Env } from "../env";
import { problem } from "../http/problem";
import { extractToken } from "../auth/jwt";
import { applyRedactionReport, currentTrack, stagedKey } from "../jobs/redaction-run";
import { sameToken } from "../jobs/reports";
import { serveMediaObject } from "../media/serve";
import { jsonBody } from "./internal";

// The renderer's side door for a source redaction's TRACK jobs: the current track's media, the
// upload of its rewrite (staged, never over the original) and the reports, authorized by the
// redaction's lease token alone. Not part of the public OpenAPI document.

async function leased(env: Env, id: string, authorization: string | undefined): Promise<{ row: SourceRedactionRow; token: string }> {
  const token = extractToken(authorization);
  const row = await findRedactionById(env.DB, id);
  if (!row || row.state !== "PROCESSING" || !row.leaseToken) throw problem.notFound("No running redaction with this id.");
  if (!token || !sameToken(token, row.leaseToken)) throw problem.forbidden("This job token is not (or no longer) valid.");
  return { row, token };
}

/** After a long upload the lease may be gone: what was written must not stay. */
async function stillLeased(env: Env, id: string, token: string, key: string): Promise<void> {
  const row = await findRedactionById(env.DB, id);
  if (row?.state !== "PROCESSING" || row.leaseToken !== token) {
    await env.MEDIA.delete(key);
    throw problem.conflict("The redaction was re-leased or ended during the upload; the track was discarded.");
  }
}

const webm = { httpMetadata: { contentType: FORMATS.WEBM.contentType } };

export const internalRedactions = new Hono<AppEnv>()
  .on(ROUTES.track.method, ROUTES.track.path, async (c) => {
    const { row } = await leased(c.env, c.req.param("id"), c.req.header("Authorization"));
    const { track } = await currentTrack(c.env, row);
    if (track.id !== c.req.param("trackId")) throw problem.notFound("This redaction is not rewriting that track now.");
    const res = await serveMediaObject(c.req.raw, c.env.MEDIA, track.mediaKey!, {
      contentType: track.contentType ?? "application/octet-stream",
      disposition: "inline",
      fileName: track.id,
      maxAgeSeconds: 0,
    });
    if (!res) throw problem.notFound("The track's media is missing from storage.");
    return res;
  })
  .on(ROUTES.output.method, ROUTES.output.path, async (c) => {
    const { row, token } = await leased(c.env, c.req.param("id"), c.req.header("Authorization"));
    if (!c.req.raw.body || !c.req.header("Content-Length")) throw problem.status(411, "Content-Length is required.");
    const key = stagedKey(row, token);
    const object = await c.env.MEDIA.put(key, c.req.raw.body, webm);
    await stillLeased(c.env, row.id, token, key);
    return c.json({ key: "output", size: object?.size ?? 0 }, 200);
  })
  .on(ROUTES.multipartCreate.method, ROUTES.multipartCreate.path, async (c) => {
    const { row, token } = await leased(c.env, c.req.param("id"), c.req.header("Authorization"));
    const upload = await c.env.MEDIA.createMultipartUpload(stagedKey(row, token), webm);
    return c.json({ uploadId: upload.uploadId }, 200);
  })
  .on(ROUTES.multipartPart.method, ROUTES.multipartPart.path, async (c) => {
    const { row, token } = await leased(c.env, c.req.param("id"), c.req.header("Authorization"));
    const partNumber = Number(c.req.param("part"));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) throw problem.badRequest("part must be 1..10000");
    if (!c.req.raw.body || !c.req.header("Content-Length")) throw problem.status(411, "Content-Length is required.");
    const part = await c.env.MEDIA.resumeMultipartUpload(stagedKey(row, token), c.req.param("uploadId")).uploadPart(
      partNumber,
      c.req.raw.body,
    );
    return c.json({ partNumber: part.partNumber, etag: part.etag }, 200);
  })
  .on(ROUTES.multipartComplete.method, ROUTES.multipartComplete.path, async (c) => {
    const { row, token } = await leased(c.env, c.req.param("id"), c.req.header("Authorization"));
    const { parts } = await jsonBody(c.req.raw, MultipartCompleteSchema);
    const key = stagedKey(row, token);
    const object = await c.env.MEDIA.resumeMultipartUpload(key, c.req.param("uploadId")).complete(parts);
    await stillLeased(c.env, row.id, token, key);
    return c.json({ key: "output", size: object.size }, 200);
  })
  .on(ROUTES.report.method, ROUTES.report.path, async (c) => {
    const { row, token } = await leased(c.env, c.req.param("id"), c.req.header("Authorization"));
    const after = await applyRedactionReport(c.env, row, token, await jsonBody(c.req.raw, RenderReportSchema));
    if (!after) throw problem.conflict("The redaction is no longer running under this lease.");
    return c.json({ state: after.state, progress: after.progress }, 200);
  });
