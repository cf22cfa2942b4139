import { createRoute, z } from "@hono/zod-openapi";
import { requireRoles } from "../auth/middleware";
import { findRecording, recordingMessage } from "../db/recordings";
import { createRouter } from "../http/router";
import { problem } from "../http/problem";
import { ingestRecording, storeTrackMedia } from "../recordings/ingest";
import { bearerSecurity, conflictResponse, problemResponses } from "../schemas/common";
import { ComposedRecordingDataMessage, ConversationPath, RecordingInput, StoredTrack, TrackPath } from "../schemas/recording";

// Beyond the seed: how recordings and their per-participant tracks get in.
const tags = ["Recordings"];
const roles = requireRoles("SERVICE", "SUPERVISOR");
const message = { description: "OK", content: { "application/json": { schema: ComposedRecordingDataMessage } } };

const putRecording = createRoute({
  method: "put",
  path: "/recordings/{conversationId}",
  operationId: "putRecording",
  tags,
  summary: "Create or replace a recording's metadata and track list",
  description: "Supported roles (SERVICE, SUPERVISOR). Tracks that stay keep their stored media.",
  security: bearerSecurity,
  middleware: [roles] as const,
  request: { params: ConversationPath, body: { content: { "application/json": { schema: RecordingInput } }, required: true } },
  responses: { 200: message, ...problemResponses },
});

const putTrack = createRoute({
  method: "put",
  path: "/recordings/{conversationId}/tracks/{trackId}",
  operationId: "putTrack",
  tags,
  summary: "Upload a track's media (streamed into storage)",
  description:
    "Supported roles (SERVICE, SUPERVISOR). Body: the raw media bytes with Content-Length and an audio/*, video/* or application/octet-stream Content-Type.",
  security: bearerSecurity,
  middleware: [roles] as const,
  request: {
    params: TrackPath,
    body: { content: { "video/webm": { schema: z.any().openapi({ type: "string", format: "binary" }) } } },
  },
  responses: {
    200: { description: "Stored", content: { "application/json": { schema: StoredTrack } } },
    ...problemResponses,
    ...conflictResponse,
    411: { description: "Length Required" },
    415: { description: "Unsupported Media Type" },
  },
});

const getRecording = createRoute({
  method: "get",
  path: "/recordings/{conversationId}",
  operationId: "getRecording",
  tags,
  summary: "Get a recording's metadata",
  description: "Supported roles (SERVICE, SUPERVISOR)",
  security: bearerSecurity,
  middleware: [roles] as const,
  request: { params: ConversationPath },
  responses: { 200: message, ...problemResponses },
});

export const recordingsRouter = createRouter()
  .openapi(putRecording, async (c) => {
    const { conversationId } = c.req.valid("param");
    return c.json(await ingestRecording(c.env, c.get("principal"), conversationId, c.req.valid("json")), 200);
  })
  .openapi(putTrack, async (c) => {
    const { conversationId, trackId } = c.req.valid("param");
    const stored = await storeTrackMedia(c.env, c.get("principal"), conversationId, trackId, c.req.raw);
    return c.json(stored, 200);
  })
  .openapi(getRecording, async (c) => {
    const { conversationId } = c.req.valid("param");
    const rec = await findRecording(c.env.DB, c.get("principal").organizationId, conversationId);
    if (!rec) throw problem.notFound(`No recording of conversation "${conversationId}".`);
    return c.json(recordingMessage(rec), 200);
  });
