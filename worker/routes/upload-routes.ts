import { Hono, type Context } from "hono";
import type { z } from "zod";
import { MultipartCompleteSchema } from "../../contract/renderer";
import type { CompositionRow } from "../db/schema";
import type { AppEnv } from "../env";
import { problem } from "../http/problem";
import { MAX_REVIEW_ASSET_BYTES, REVIEW_ASSETS, reviewAssetAllowed, reviewAssetKey } from "../jobs/review-assets";

// The output upload of a renderer's job — one body, or R2 multipart — as every family of internal
// routes has it (a composition's run, a redaction's track, a unit of a split composition), and the
// upload of a run's review assets. Only where the bytes go and who still holds the lease differ.

export async function jsonBody<T>(req: Request, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await req.json().catch(() => undefined));
  if (!parsed.success)
    throw problem.badRequest(`Invalid report: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  return parsed.data;
}

/** Where a leased job's output goes; `stillLeased` deletes `key` and refuses (409) when the lease ended during the upload. */
export interface UploadTarget {
  key: string;
  contentType: string;
  stillLeased(key: string): Promise<void>;
}

/** The four upload routes of a family (contract/paths.ts jobRoutes). */
type Routes = Record<"output" | "multipartCreate" | "multipartPart" | "multipartComplete", { method: string; path: string }>;

const requireLength = (c: Context<AppEnv>) => {
  if (!c.req.raw.body || !c.req.header("Content-Length")) throw problem.status(411, "Content-Length is required.");
  return c.req.raw.body;
};

export function uploadRoutes(routes: Routes, target: (c: Context<AppEnv>) => Promise<UploadTarget>) {
  return new Hono<AppEnv>()
    .on(routes.output.method, routes.output.path, async (c) => {
      const t = await target(c);
      const object = await c.env.MEDIA.put(t.key, requireLength(c), { httpMetadata: { contentType: t.contentType } });
      await t.stillLeased(t.key);
      return c.json({ key: "output", size: object?.size ?? 0 }, 200);
    })
    .on(routes.multipartCreate.method, routes.multipartCreate.path, async (c) => {
      const t = await target(c);
      const upload = await c.env.MEDIA.createMultipartUpload(t.key, { httpMetadata: { contentType: t.contentType } });
      return c.json({ uploadId: upload.uploadId }, 200);
    })
    .on(routes.multipartPart.method, routes.multipartPart.path, async (c) => {
      const t = await target(c);
      const partNumber = Number(c.req.param("part"));
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) throw problem.badRequest("part must be 1..10000");
      const part = await c.env.MEDIA.resumeMultipartUpload(t.key, c.req.param("uploadId") ?? "").uploadPart(partNumber, requireLength(c));
      return c.json({ partNumber: part.partNumber, etag: part.etag }, 200);
    })
    .on(routes.multipartComplete.method, routes.multipartComplete.path, async (c) => {
      const t = await target(c);
      const { parts } = await jsonBody(c.req.raw, MultipartCompleteSchema);
      const object = await c.env.MEDIA.resumeMultipartUpload(t.key, c.req.param("uploadId") ?? "").complete(parts);
      await t.stillLeased(t.key);
      return c.json({ key: "output", size: object.size }, 200);
    });
}

/** Where a run's review assets go: next to the run's output (`runKey`), for a composition of `type`. */
export interface AssetTarget {
  runKey: string;
  type: CompositionRow["type"];
  stillLeased(key: string): Promise<void>;
}

export function assetRoute(route: { method: string; path: string }, target: (c: Context<AppEnv>) => Promise<AssetTarget>) {
  return new Hono<AppEnv>().on(route.method, route.path, async (c) => {
    const t = await target(c);
    const name = c.req.param("name") ?? "";
    if (!reviewAssetAllowed(name, t.type)) throw problem.badRequest(`A ${t.type} composition has no review asset "${name}".`);
    const length = Number(c.req.header("Content-Length"));
    if (!c.req.raw.body || !Number.isInteger(length)) throw problem.status(411, "Content-Length is required.");
    if (length > MAX_REVIEW_ASSET_BYTES) throw problem.status(413, `A review asset is at most ${MAX_REVIEW_ASSET_BYTES} bytes.`);
    const key = reviewAssetKey(t.runKey, name);
    const object = await c.env.MEDIA.put(key, c.req.raw.body, { httpMetadata: { contentType: REVIEW_ASSETS[name].contentType } });
    await t.stillLeased(key);
    return c.json({ key: name, size: object?.size ?? 0 }, 200);
  });
}
