import { z } from "@hono/zod-openapi";
import { REDACT_AUDIO, REDACT_VIDEO } from "../../contract/renderer";
import { Instant } from "./common";

// Beyond the seed: retention policies, legal holds and the compliance audit log.

/** `PnDTnHnMn.nS`, the grammar of the durations the views print (Java's Duration); calendar units are refused. */
const DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,3})?)S)?)?$/;

/** Milliseconds of an ISO-8601 duration, or null when it is not one this API accepts. */
export function durationMs(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m || text === "P" || text.endsWith("T")) return null;
  const [d, h, min, s] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number];
  return Math.round((((d * 24 + h) * 60 + min) * 60 + s) * 1000);
}

const TEN_YEARS_MS = 3653 * 24 * 3600_000;

const Retention = z
  .string()
  .refine((v) => durationMs(v) !== null, "must be an ISO-8601 duration of days, hours, minutes and seconds, e.g. P90D or PT30S")
  .refine((v) => (durationMs(v) ?? 0) >= 1000, "must be at least one second")
  .refine((v) => (durationMs(v) ?? 0) <= TEN_YEARS_MS, "must be at most ten years (P3653D)")
  .nullable()
  .openapi({ example: "P90D", description: "How long to keep it, or null to keep it until deleted by hand" });

export const RetentionPolicyInput = z
  .object({
    compositions: Retention.openapi({ description: "Kept this long after the composition settled (completed, failed or cancelled)" }),
    recordings: Retention.openapi({ description: "A recording and its tracks kept this long after they were first stored" }),
  })
  .strict()
  .openapi("RetentionPolicyInput");

export const RetentionPolicy = RetentionPolicyInput.extend({
  updated: Instant.nullable(),
  updatedBy: z.string().nullable(),
}).openapi("RetentionPolicy");

export const HoldInput = z
  .object({ reason: z.string().trim().min(1).max(500) })
  .strict()
  .openapi("HoldInput");

export const Hold = z
  .object({ conversationId: z.string(), reason: z.string(), placedBy: z.string(), placed: Instant })
  .openapi("LegalHold");

export const AuditEntry = z
  .object({
    id: z.string(),
    at: Instant,
    actor: z.object({ sub: z.string(), role: z.string() }),
    action: z.string().openapi({ example: "hold.placed" }),
    conversationId: z.string().nullable(),
    compositionId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .openapi("AuditEntry");

const int = (name: string, min: number, max: number) =>
  z.string().regex(/^\d+$/, `${name} must be a whole number`).transform(Number).pipe(z.number().int().min(min).max(max)).optional();

export const AuditQuery = z.object({ page: int("page", 0, 1_000_000), size: int("size", 1, 500) });

export const AuditPage = z
  .object({
    content: z.array(AuditEntry),
    number: z.number().int(),
    size: z.number().int(),
    totalElements: z.number().int(),
    totalPages: z.number().int(),
    first: z.boolean(),
    last: z.boolean(),
  })
  .openapi("PageAuditEntry");

/** A span to redact, on the recording's timeline (seconds from its start). */
export const RedactionSpan = z
  .strictObject({
    from: z.number().min(0).max(86_400).openapi({ description: "seconds from the recording's start", example: 61.2 }),
    to: z.number().gt(0).max(86_400).openapi({ description: "seconds from the recording's start; after from", example: 84 }),
    participants: z
      .array(z.string().min(1).max(200))
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "participantIds whose media is redacted; omitted = everyone" }),
    audio: z.enum(REDACT_AUDIO).default("SILENCE").openapi({ description: "SILENCE, or BEEP (1 kHz) in its place" }),
    video: z.enum(REDACT_VIDEO).default("BLACK").openapi({ description: "their tile BLACK or BLUR, or NONE (audio only)" }),
  })
  .refine((s) => s.to > s.from, { path: ["to"], message: "must be greater than from" })
  .openapi("RedactionSpan");
export type RedactionSpan = z.infer<typeof RedactionSpan>;

export const RedactionSpans = z.array(RedactionSpan).min(1).max(100);

export const RedactionInput = z
  .strictObject({
    spans: RedactionSpans,
    reason: z.string().trim().min(1).max(500).openapi({ description: "Why (audited); never what was said" }),
  })
  .openapi("RedactionInput");

export const Redaction = z
  .object({
    id: z.string(),
    conversationId: z.string(),
    state: z.enum(["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]),
    progress: z.number().int().min(0).max(100),
    error: z.string().nullable(),
    spans: z.array(RedactionSpan),
    reason: z.string(),
    requestedBy: z.string(),
    created: Instant,
    completed: Instant.nullable(),
    tracks: z.array(
      z.object({
        trackId: z.string(),
        sha256Before: z.string().nullable().openapi({ description: "of the original track object, once rewritten" }),
        sha256After: z.string().nullable().openapi({ description: "of the object that replaced it, once COMPLETED" }),
      }),
    ),
  })
  .openapi("Redaction");
