import { Hono } from "hono";
import { FORMATS, REDACTION_ROUTES as ROUTES, RenderReportSchema } from "../../contract/renderer";
import { findRedactionById } from "../db/redactions";
import type { SourceRedactionRow } from "../db/schema";
import type { AppEnv, Env } from "../env";
import { problem } from "../http/problem";
import { extractToken } from "../auth/jwt";
import { applyRedactionReport, currentTrack, stagedKey } from "../jobs/redaction-run";
import { sameToken } from "../jobs/reports";
import { serveMediaObject } from "../media/serve";
import { jsonBody, uploadRoutes } from "./upload-routes";

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
  .route(
    "/",
    uploadRoutes(ROUTES, async (c) => {
      const { row, token } = await leased(c.env, c.req.param("id") ?? "", c.req.header("Authorization"));
      return {
        key: stagedKey(row, token),
        contentType: FORMATS.WEBM.contentType,
        stillLeased: (key) => stillLeased(c.env, row.id, token, key),
      };
    }),
  )
  .on(ROUTES.report.method, ROUTES.report.path, async (c) => {
    const { row, token } = await leased(c.env, c.req.param("id"), c.req.header("Authorization"));
    const after = await applyRedactionReport(c.env, row, token, await jsonBody(c.req.raw, RenderReportSchema));
    if (!after) throw problem.conflict("The redaction is no longer running under this lease.");
    return c.json({ state: after.state, progress: after.progress }, 200);
  });
