import { z } from "@hono/zod-openapi";
import { CompositionView } from "./composition";
import { Id, Instant } from "./common";

export const ComposedRecordingDataMessage = z
  .object({
    agentId: z.string().nullable(),
    audio: z.boolean(),
    canExportAudio: z.boolean(),
    canExportVideo: z.boolean(),
    conversationId: z.string(),
    duration: z.string(),
    organizationId: z.string(),
    started: z.string(),
    stopped: z.string(),
    totalParticipants: z.number().int(),
    video: z.boolean(),
  })
  .openapi("ComposedRecordingDataMessage");

export const CompositionMessage = z
  .object({
    compositions: z.array(CompositionView),
    recordingMetadata: ComposedRecordingDataMessage,
  })
  .openapi("CompositionMessage");

export const TrackInput = z.strictObject({
  id: Id,
  participantId: Id,
  started: Instant,
  stopped: Instant.optional(),
  audio: z.boolean(),
  video: z.boolean(),
});

export const RecordingInput = z
  .strictObject({
    agentId: z.string().min(1).max(128).optional(),
    started: Instant,
    stopped: Instant,
    tracks: z.array(TrackInput).min(1).max(64),
  })
  .openapi("RecordingInput");

export const StoredTrack = z
  .object({ conversationId: z.string(), trackId: z.string(), size: z.number().int(), contentType: z.string() })
  .openapi("StoredTrack");

export const ConversationPath = z.object({
  conversationId: Id.openapi({ param: { name: "conversationId", in: "path" } }),
});

export const TrackPath = ConversationPath.extend({
  trackId: Id.openapi({ param: { name: "trackId", in: "path" } }),
});
