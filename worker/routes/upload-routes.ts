import { Hono, type Context } from "hono";
import type { z } from "zod";
import { MultipartCompleteSchema } from "../../contract/renderer";
import type { AppEnv } from "../env";
import { problem } from "../http/problem";

// The output upload of a renderer's job — one body, or R2 multipart — as every family of internal
// routes has it (a composition's run, a redaction's track, a unit of a split composition). Only
// where the bytes go and who still holds the lease differ.

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
