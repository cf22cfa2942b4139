import { Hono } from "hono";
import { FORMATS, INTERNAL_ROUTES as ROUTES, RenderReportSchema } from "../../contract/renderer";
import { holdsLease } from "../db/compositions";
import { findTrackMedia } from "../db/recordings";
import type { CompositionRow } from "../db/schema";
import type { AppEnv, Env } from "../env";
import { problem } from "../http/problem";
import { runOutputKey } from "../jobs/outputs";
import { applyReport, leasedJob } from "../jobs/reports";
import { serveMediaObject } from "../media/serve";
import { assetRoute, jsonBody, uploadRoutes } from "./upload-routes";

// The renderer's side door: one job's inputs, output upload and reports, authorized by its lease
// token alone. Not part of the public OpenAPI document.

export { jsonBody } from "./upload-routes";

/** After a long upload the lease may be gone (cancelled, re-leased): what was written must not stay. */
async function stillLeased(c: { env: AppEnv["Bindings"] }, id: string, token: string, key: string): Promise<void> {
  if (!(await holdsLease(c.env.DB, id, token))) {
    await c.env.MEDIA.delete(key);
    throw problem.conflict("The job was cancelled or re-leased during the upload; the output was discarded.");
  }
}

/** A track of the composition's recording, Range-capable (a job's or a unit's input). */
export async function serveTrack(env: Env, req: Request, row: CompositionRow, trackId: string): Promise<Response> {
  const track = await findTrackMedia(env.DB, { organizationId: row.organizationId, conversationId: row.conversationId, id: trackId });
  if (!track?.mediaKey) throw problem.notFound("No stored media for this track.");
  const res = await serveMediaObject(req, env.MEDIA, track.mediaKey, {
    contentType: track.contentType ?? "application/octet-stream",
    disposition: "inline",
    fileName: trackId,
    maxAgeSeconds: 0,
  });
  if (!res) throw problem.notFound("The track's media is missing from storage.");
  return res;
}

export const internal = new Hono<AppEnv>()
  .on(ROUTES.track.method, ROUTES.track.path, async (c) => {
    const { row } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    return serveTrack(c.env, c.req.raw, row, c.req.param("trackId"));
  })
  // The run's review assets (thumbnails, waveform, speaker timeline), keyed by the run like its output.
  .route(
    "/",
    assetRoute(ROUTES.asset, async (c) => {
      const { row, token } = await leasedJob(c.env, c.req.param("id") ?? "", c.req.header("Authorization"));
      return { runKey: runOutputKey(row, token), type: row.type, stillLeased: (key) => stillLeased(c, row.id, token, key) };
    }),
  )
  .route(
    "/",
    uploadRoutes(ROUTES, async (c) => {
      const { row, token } = await leasedJob(c.env, c.req.param("id") ?? "", c.req.header("Authorization"));
      return {
        key: runOutputKey(row, token),
        contentType: FORMATS[row.format].contentType,
        stillLeased: (key) => stillLeased(c, row.id, token, key),
      };
    }),
  )
  .on(ROUTES.report.method, ROUTES.report.path, async (c) => {
    const { row, token } = await leasedJob(c.env, c.req.param("id"), c.req.header("Authorization"));
    const after = await applyReport(c.env, row, token, await jsonBody(c.req.raw, RenderReportSchema));
    if (!after) throw problem.conflict("The job is no longer running under this lease.");
    return c.json({ state: after.state, progress: after.progress }, 200);
  });
