import { z } from "@hono/zod-openapi";
import { COMPOSITION_TYPES, Id, Priority, RESOLUTIONS } from "./common";
import { RedactionSpans } from "./compliance";
import { CallbackUrl } from "./webhooks";

const CHANNELS = ["LEFT", "RIGHT"] as const;

const ConversationMetricsView = z
  .object({
    talkSeconds: z.record(z.string(), z.number()).openapi({ description: "by participantId" }),
    talkRatio: z.number().nullable().openapi({ description: "agent-side talk ÷ all talk" }),
    overtalkSeconds: z.number(),
    overtalkCount: z.number().int(),
    silenceSeconds: z.number(),
    longestSilenceSeconds: z.number(),
    longestMonologueSeconds: z.number(),
    longestMonologueBy: z.string().nullable(),
  })
  .openapi("ConversationMetrics");

const SourcePatterns = z
  .array(
    z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._:@*-]+$/, "may contain only letters, digits, . _ : @ - and * wildcards"),
  )
  .max(64);

export const CreateCompositionWebCommand = z
  .strictObject({
    audioFormat: z.enum(["MP3"]).default("MP3").openapi({ description: "Default value: MP3" }),
    conversationId: Id,
    layout: z.enum(["GRID"]),
    name: z.string().trim().min(1).max(200),
    priority: Priority.default(1),
    resolution: z.enum(RESOLUTIONS),
    type: z.enum(COMPOSITION_TYPES),
    videoFormat: z.enum(["MP4"]).default("MP4").openapi({ description: "Default value: MP4" }),
    // Beyond the seed (additive): where status events go (https; http to loopback in local dev).
    callbackUrl: CallbackUrl.optional(),
    // Beyond the seed (additive): source selection and trimming; omitted = the seed's behaviour.
    audioSources: SourcePatterns.optional().openapi({
      description: "participantIds or track ids (`*` wildcards) whose audio is mixed; default all",
    }),
    audioSourcesExcluded: SourcePatterns.optional().openapi({ description: "silenced in the mix; exclusion wins over inclusion" }),
    videoSources: SourcePatterns.optional().openapi({ description: "participantIds or track ids that get a tile; default all" }),
    videoSourcesExcluded: SourcePatterns.optional().openapi({ description: "get no tile (the grid re-lays without them)" }),
    trim: z.boolean().optional().openapi({ description: "drop the spans where no selected source has media (default false)" }),
    from: z.number().min(0).max(86_400).optional().openapi({ description: "seconds from the call's start where the output begins" }),
    to: z.number().gt(0).max(86_400).optional().openapi({ description: "seconds from the call's start where the output ends" }),
    // Beyond the seed (compliance): this export is redacted; the recording itself is untouched.
    // Beyond the seed (analytics): QA stereo, agent on one channel and everyone else on the other.
    audioChannels: z.enum(["MIXED", "STEREO_SPLIT"]).optional().openapi({ description: "MIXED (default) or STEREO_SPLIT" }),
    agentChannel: z.enum(CHANNELS).optional().openapi({ description: "STEREO_SPLIT: the agent side's channel (default RIGHT)" }),
    channelMap: z
      .record(z.string().min(1).max(128), z.enum(CHANNELS))
      .optional()
      .openapi({ description: "STEREO_SPLIT: participantId → LEFT or RIGHT, overriding the roles" }),
    labels: z.boolean().optional().openapi({
      description:
        "VIDEO (default true): each tile labelled with the participant's displayName, else their role in words; never the participantId",
    }),
    highlightSpeaker: z.boolean().optional().openapi({ description: "VIDEO (default true): the talking participant's tile framed" }),
    highlightColor: z
      .string()
      .regex(/^#[0-9A-Fa-f]{6}$/, "must be a colour as #RRGGBB")
      .optional()
      .openapi({ description: "the frame's colour (default #FFC800)", example: "#FFC800" }),
    loudness: z.number().min(-30).max(-10).optional().openapi({
      description: "integrated loudness target in LUFS: the mix (each channel of a STEREO_SPLIT) levelled to it (EBU R128)",
    }),
    redactions: RedactionSpans.optional().openapi({ description: "spans silenced and blacked/blurred in this composition only" }),
  })
  .openapi("CreateCompositionWebCommand");

export const ReExecuteCompositionWebCommand = z
  .strictObject({
    conversationId: Id,
    id: Id,
    priority: Priority.default(1),
    // Beyond the seed: replaces the composition's callbackUrl; omitted = keep the current one.
    callbackUrl: CallbackUrl.optional(),
  })
  .openapi("ReExecuteCompositionWebCommand");

export const CompositionIdentifier = z.object({ conversationId: z.string(), id: z.string() }).openapi("CompositionIdentifier");

export const CompositionView = z
  .object({
    completed: z.string().nullable(),
    conversationId: z.string(),
    created: z.string(),
    duration: z.string().nullable().openapi({ description: "ISO-8601 duration of the output, e.g. PT1M2.5S" }),
    format: z.string(),
    id: z.string(),
    layout: z.enum(["GRID"]),
    name: z.string(),
    state: z.string(),
    type: z.string(),
    userId: z.string(),
    // Beyond the seed (additive): live progress of the render and why it failed.
    progress: z.number().int().min(0).max(100),
    eta: z.string().nullable().openapi({ description: "ISO-8601 duration until the render is expected to finish" }),
    error: z.string().nullable(),
    priority: z.number().int(),
    resolution: z.string(),
    metrics: ConversationMetricsView.nullable().openapi({
      description: "Beyond the seed (analytics): talk, overtalk, silence and monologue figures from the speaker timeline, once COMPLETED",
    }),
    warnings: z
      .array(z.string())
      .openapi({ description: "what the render could not use (e.g. a truncated track), when it still completed" }),
  })
  .openapi("CompositionView");

export const CompositionPath = z.object({
  conversationId: Id.openapi({ param: { name: "conversationId", in: "path" } }),
  compositionId: Id.openapi({ param: { name: "compositionId", in: "path" } }),
});

export const CancelResult = z.object({ conversationId: z.string(), id: z.string(), state: z.string() }).openapi("CancelResult");
