import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { createRouter } from "../http/router";
import { problem } from "../http/problem";
import { REVIEW_ASSET_NAMES } from "../jobs/review-assets";
import { mediaLink, openSignedMedia } from "../media/links";
import { DEFAULT_EXPIRES_SECONDS, MAX_EXPIRES_SECONDS } from "../media/signing";
import { bearerSecurity, conflictResponse, Id, problemResponses, signatureSecurity } from "../schemas/common";
import { CompositionPath } from "../schemas/composition";

// Seed section "Composition Media Player".
const tags = ["Composition Media Controller"];

const CompositionResourceMessage = z.object({ url: z.string().url(), validUntil: z.string() }).openapi("CompositionResourceMessage");

const LinkQuery = z.object({
  conversationId: Id,
  id: Id,
  ttl: z
    .string()
    .regex(/^\d+$/, "ttl must be a whole number of seconds")
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_EXPIRES_SECONDS))
    .optional()
    .openapi({ description: `Beyond the seed: link lifetime in seconds (default ${DEFAULT_EXPIRES_SECONDS}, max ${MAX_EXPIRES_SECONDS})` }),
  asset: z
    .enum(REVIEW_ASSET_NAMES)
    .optional()
    .openapi({ description: "Beyond the seed: a link to a review asset instead of the media (thumbnails for VIDEO; waveform for both)" }),
});

// Missing or malformed values are refused by the signature check with the same 403 as a bad signature.
const SignedQuery = z.object({ Date: z.string().optional(), Expires: z.string().optional(), Signature: z.string().optional() });
const MediaPath = CompositionPath.extend({
  fileName: z
    .string()
    .max(300)
    .openapi({ param: { name: "fileName", in: "path" } }),
});

function linkRoute(disposition: "inline" | "attachment") {
  return createRoute({
    method: "get",
    path: `/player/{conversationId}/{compositionId}/url/${disposition}`,
    operationId: disposition === "inline" ? "getInlineUrl" : "getAttachmentUrl",
    tags,
    summary:
      disposition === "inline"
        ? "Get a signed URL to play a media file by conversation id and composition Id"
        : "Get a signed URL to download a media file by conversation id and composition Id",
    description: "Supported roles (AGENT, SUPERVISOR). The Referer header is required.",
    security: bearerSecurity,
    middleware: [requireRoles("AGENT", "SUPERVISOR")] as const,
    request: { params: CompositionPath, query: LinkQuery },
    // Documented as the seed names it; checked in the handler (Hono lowercases header names, and a zod
    // key "referer" with a "Referer" param name makes the OpenAPI generator throw).
    parameters: [{ name: "Referer", in: "header", required: true, schema: { type: "string" } }],
    responses: {
      200: { description: "OK", content: { "application/json": { schema: CompositionResourceMessage } } },
      ...problemResponses,
      ...conflictResponse,
    },
  });
}

function mediaRoute(disposition: "inline" | "attachment") {
  return createRoute({
    method: "get",
    path: `/player/${disposition}/{conversationId}/{compositionId}/{fileName}`,
    tags,
    // The seed's own names for these two operations.
    operationId: disposition === "inline" ? "getInline" : "getAttachment",
    summary: disposition === "inline" ? "getInline" : "getAttachment",
    description:
      "The signed link is the credential: no Authorization header. Supports Range, If-Range, If-None-Match, If-Modified-Since, HEAD.",
    security: signatureSecurity,
    request: { params: MediaPath, query: SignedQuery },
    responses: {
      200: { description: "OK", content: { "video/mp4": { schema: z.any().openapi({ type: "string", format: "binary" }) } } },
      206: { description: "Partial Content" },
      304: { description: "Not Modified" },
      403: problemResponses[403],
      404: problemResponses[404],
      416: { description: "Range Not Satisfiable" },
    },
  });
}

const router = createRouter();
for (const disposition of ["inline", "attachment"] as const) {
  router.openapi(linkRoute(disposition), async (c) => {
    const { conversationId, compositionId } = c.req.valid("param");
    const query = c.req.valid("query");
    if (!c.req.header("Referer")?.trim()) {
      throw problem.badRequest("The Referer header is required.", [{ field: "header.referer", message: "is required" }]);
    }
    if (query.conversationId !== conversationId) {
      throw problem.badRequest("The conversationId query value must equal the path's.", [
        { field: "query.conversationId", message: "differs from the path" },
      ]);
    }
    if (query.id !== compositionId) {
      throw problem.badRequest("The id query value must equal the path's compositionId.", [
        { field: "query.id", message: "differs from the path" },
      ]);
    }
    const link = await mediaLink(c.env, c.get("principal"), {
      conversationId,
      compositionId,
      disposition,
      ttlSeconds: query.ttl ?? DEFAULT_EXPIRES_SECONDS,
      requestUrl: c.req.url,
      asset: query.asset,
    });
    return c.json(link, 200);
  });
  // Hono answers HEAD through GET routes; the handler sees the original method and sends no body.
  router.openapi(mediaRoute(disposition), async (c) => {
    const { conversationId, compositionId, fileName } = c.req.valid("param");
    return (await openSignedMedia(c.env, c.req.raw, { conversationId, compositionId, fileName, disposition })) as never;
  });
}

export const player = router;
