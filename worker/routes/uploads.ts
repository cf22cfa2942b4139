import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { createRouter } from "../http/router";
import { abortUpload, completeUpload, createUpload, getUpload, uploadPart } from "../recordings/uploads";
import { bearerSecurity, conflictResponse, problemResponses } from "../schemas/common";
import { ComposedRecordingDataMessage, TrackPath } from "../schemas/recording";
import { CompleteInput, PartPath, UploadCreated, UploadedPart, UploadInput, UploadPath, UploadStatus } from "../schemas/uploads";

// Beyond the seed: tracks of up to 5 GiB in parts, each small enough for any Cloudflare plan's
// request limit, resumable (GET tells which parts arrived). A single PUT takes up to 95 MiB.
const tags = ["Recordings"];
const roles = requireRoles("SERVICE", "SUPERVISOR");
const ok = <T>(schema: T, description = "OK") => ({ description, content: { "application/json": { schema } } });
const UPLOADS = "/recordings/{conversationId}/tracks/{trackId}/uploads";
const ROLES = "Supported roles (SERVICE, SUPERVISOR).";

const create = createRoute({
  operationId: "createTrackUpload",
  method: "post",
  path: UPLOADS,
  tags,
  summary: "Start a multipart upload of a track's media (up to 5 GiB)",
  description: `${ROLES} Answers the part size and count: PUT each part (any order, again to replace it), then complete. The track is stored only on complete.`,
  security: bearerSecurity,
  middleware: [roles] as const,
  request: { params: TrackPath, body: { content: { "application/json": { schema: UploadInput } }, required: true } },
  responses: { 201: ok(UploadCreated, "Created"), ...problemResponses },
});

const status = createRoute({
  operationId: "getTrackUpload",
  method: "get",
  path: `${UPLOADS}/{uploadId}`,
  tags,
  summary: "An upload's state and the parts received so far (to resume)",
  description: ROLES,
  security: bearerSecurity,
  middleware: [roles] as const,
  request: { params: UploadPath },
  responses: { 200: ok(UploadStatus), ...problemResponses },
});

const part = createRoute({
  operationId: "putTrackUploadPart",
  method: "put",
  path: `${UPLOADS}/{uploadId}/parts/{partNumber}`,
  tags,
  summary: "Upload one part (raw bytes, streamed into storage)",
  description: `${ROLES} Part numbers are 1-based; every part but the last is exactly partSize bytes (Content-Length required). Sending a part again replaces it.`,
  security: bearerSecurity,
  middleware: [roles] as const,
  request: {
    params: PartPath,
    body: { content: { "application/octet-stream": { schema: z.any().openapi({ type: "string", format: "binary" }) } } },
  },
  responses: { 200: ok(UploadedPart), ...problemResponses, ...conflictResponse, 411: { description: "Length Required" } },
});

const complete = createRoute({
  operationId: "completeTrackUpload",
  method: "post",
  path: `${UPLOADS}/{uploadId}/complete`,
  tags,
  summary: "Assemble the parts: the track is stored, as after a single PUT",
  description: `${ROLES} 409 if a part is missing (named) or the upload is already completed. No body is needed unless parts went to presigned URLs.`,
  security: bearerSecurity,
  middleware: [roles] as const,
  request: { params: UploadPath, body: { content: { "application/json": { schema: CompleteInput } }, required: false } },
  responses: { 200: ok(ComposedRecordingDataMessage), ...problemResponses, ...conflictResponse },
});

const abort = createRoute({
  operationId: "abortTrackUpload",
  method: "delete",
  path: `${UPLOADS}/{uploadId}`,
  tags,
  summary: "Abort an upload: its parts are discarded",
  description: `${ROLES} A track that had media keeps it.`,
  security: bearerSecurity,
  middleware: [roles] as const,
  request: { params: UploadPath },
  responses: { 204: { description: "Aborted" }, ...problemResponses },
});

export const uploads = createRouter()
  .openapi(create, async (c) => {
    const { conversationId, trackId } = c.req.valid("param");
    return c.json(await createUpload(c.env, c.get("principal"), conversationId, trackId, c.req.valid("json")), 201);
  })
  .openapi(status, async (c) => {
    const { conversationId, trackId, uploadId } = c.req.valid("param");
    return c.json(await getUpload(c.env, c.get("principal"), conversationId, trackId, uploadId), 200);
  })
  .openapi(part, async (c) => {
    const { conversationId, trackId, uploadId, partNumber } = c.req.valid("param");
    return c.json(await uploadPart(c.env, c.get("principal"), conversationId, trackId, uploadId, partNumber, c.req.raw), 200);
  })
  .openapi(complete, async (c) => {
    const { conversationId, trackId, uploadId } = c.req.valid("param");
    return c.json(await completeUpload(c.env, c.get("principal"), conversationId, trackId, uploadId, c.req.valid("json")), 200);
  })
  .openapi(abort, async (c) => {
    const { conversationId, trackId, uploadId } = c.req.valid("param");
    await abortUpload(c.env, c.get("principal"), conversationId, trackId, uploadId);
    return c.body(null, 204);
  });
