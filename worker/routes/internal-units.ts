import { Hono } from "hono";
import { RenderReportSchema, UNIT_PART_ROUTE, UNIT_ROUTES as ROUTES } from "../../contract/renderer";
import { findUnit } from "../db/units";
import type { AppEnv, Env } from "../env";
import { problem } from "../http/problem";
import { unitOutputKey } from "../jobs/fanout";
import { applyUnitReport, leasedUnit, type LeasedUnit } from "../jobs/fanout-reports";
import { runOutputKey } from "../jobs/outputs";
import { serveMediaObject } from "../media/serve";
import { serveTrack } from "./internal";
import { assetRoute, jsonBody, uploadRoutes } from "./upload-routes";

// The renderer's side door for the units of a split composition (fan-out): the tracks, the unit's
// upload (a part, or for the JOIN the run's output), the review assets of the run, the reports, and
// the JOIN's read of the parts; each authorized by the unit's own lease token. Not in the OpenAPI document.

/** After a long upload the lease may be gone: what was written must not stay. */
async function stillLeased(env: Env, { unit, token }: LeasedUnit, key: string): Promise<void> {
  const now = await findUnit(env.DB, unit.id);
  if (now?.state !== "PROCESSING" || now.leaseToken !== token) {
    await env.MEDIA.delete(key);
    throw problem.conflict("The unit was re-leased or ended during the upload; it was discarded.");
  }
}

export const internalUnits = new Hono<AppEnv>()
  .on(ROUTES.track.method, ROUTES.track.path, async (c) => {
    const { parent } = await leasedUnit(c.env, c.req.param("id"), c.req.header("Authorization"));
    return serveTrack(c.env, c.req.raw, parent, c.req.param("trackId"));
  })
  .on(UNIT_PART_ROUTE.method, UNIT_PART_ROUTE.path, async (c) => {
    const { unit, parent } = await leasedUnit(c.env, c.req.param("id"), c.req.header("Authorization"));
    const part = await findUnit(c.env.DB, c.req.param("partId"));
    if (unit.kind !== "JOIN" || part?.compositionId !== unit.compositionId || part.runToken !== unit.runToken || part.state !== "COMPLETED")
      throw problem.notFound("No completed part of this run with this id.");
    const res = await serveMediaObject(c.req.raw, c.env.MEDIA, unitOutputKey(parent, part), {
      contentType: "video/mp4",
      disposition: "inline",
      fileName: part.id,
      maxAgeSeconds: 0,
    });
    if (!res) throw problem.notFound("The part is missing from storage.");
    return res;
  })
  // The run's review assets: the AUDIO part's waveform and speaker timeline, the JOIN's thumbnails.
  .route(
    "/",
    assetRoute(ROUTES.asset, async (c) => {
      const leased = await leasedUnit(c.env, c.req.param("id") ?? "", c.req.header("Authorization"));
      if (leased.unit.kind === "VIDEO") throw problem.badRequest(`A video part has no review assets.`);
      const runKey = runOutputKey(leased.parent, leased.unit.runToken);
      return { runKey, type: leased.parent.type, stillLeased: (key) => stillLeased(c.env, leased, key) };
    }),
  )
  .route(
    "/",
    uploadRoutes(ROUTES, async (c) => {
      const leased = await leasedUnit(c.env, c.req.param("id") ?? "", c.req.header("Authorization"));
      // Every unit uploads MP4: a part (the video alone, or the mix alone), or the joined output.
      return {
        key: unitOutputKey(leased.parent, leased.unit),
        contentType: "video/mp4",
        stillLeased: (key) => stillLeased(c.env, leased, key),
      };
    }),
  )
  .on(ROUTES.report.method, ROUTES.report.path, async (c) => {
    const leased = await leasedUnit(c.env, c.req.param("id"), c.req.header("Authorization"));
    const after = await applyUnitReport(c.env, leased, await jsonBody(c.req.raw, RenderReportSchema));
    if (!after) throw problem.conflict("The unit is no longer running under this lease.");
    return c.json({ state: after.state, progress: after.progress }, 200);
  });
