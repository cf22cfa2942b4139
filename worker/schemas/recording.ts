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
  // Beyond the seed (analytics): who the track is, for stereo QA audio, tile labels and speaker cues.
  role: z.enum(["AGENT", "CUSTOMER", "SUPERVISOR", "OTHER"]).optional().openapi({
    description: "without one, the track counts as AGENT when its participantId is the recording's agentId",
  }),
  displayName: z.string().trim().min(1).max(64).optional(),
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
