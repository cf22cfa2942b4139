import { z } from "@hono/zod-openapi";
import { TrackPath } from "./recording";

/** R2 stores objects of up to 5 TB, but a track beyond 5 GiB is no recording we take. */
export const MAX_UPLOAD_SIZE = 5 * 2 ** 30;
/** R2's (and S3's) highest part number. */
export const MAX_PART_NUMBER = 10_000;

export const UploadInput = z
  .strictObject({
    size: z
      .number()
      .int()
      .min(1, "must be at least 1 byte")
      .max(MAX_UPLOAD_SIZE, `must be at most ${MAX_UPLOAD_SIZE} bytes (5 GiB)`)
      .openapi({ description: "The track's total size in bytes (1 to 5 GiB)", example: 314_572_800 }),
    contentType: z
      .string()
      .min(1)
      .max(255)
      .openapi({ description: "audio/*, video/* or application/octet-stream, as for a single PUT", example: "video/webm" }),
  })
  .openapi("TrackUploadInput");

const PresignedPart = z.object({
  partNumber: z.number().int(),
  url: z.string().openapi({ description: "PUT the part's bytes here (straight to R2, no Authorization header, exactly its size)" }),
});

export const UploadCreated = z
  .object({
    uploadId: z.string(),
    partSize: z.number().int().openapi({ description: "Every part but the last is exactly this many bytes" }),
    partCount: z.number().int(),
    parts: z.array(PresignedPart).optional().openapi({
      description:
        "Only when R2's S3 API credentials are configured: a presigned URL per part. Keep each answer's ETag header and pass them to complete.",
    }),
    expiresInSeconds: z.number().int().optional().openapi({ description: "How long the presigned URLs stay valid" }),
  })
  .openapi("TrackUploadCreated");

export const CompleteInput = z
  .strictObject({
    parts: z
      .array(z.strictObject({ partNumber: z.number().int().min(1).max(MAX_PART_NUMBER), etag: z.string().min(1).max(1024) }))
      .max(MAX_PART_NUMBER)
      .optional()
      .openapi({ description: "Parts sent to presigned URLs, with the ETag R2 answered for each; parts sent through this API need none" }),
  })
  .openapi("TrackUploadComplete");

const ReceivedPart = z.object({ partNumber: z.number().int(), size: z.number().int() });

export const UploadStatus = z
  .object({
    uploadId: z.string(),
    size: z.number().int(),
    partSize: z.number().int(),
    partCount: z.number().int(),
    contentType: z.string(),
    completed: z.boolean(),
    parts: z.array(ReceivedPart).openapi({ description: "The parts received so far, in part-number order" }),
  })
  .openapi("TrackUploadStatus");

export const UploadedPart = ReceivedPart.openapi("TrackUploadPart");

export const UploadPath = TrackPath.extend({
  uploadId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "uploadId", in: "path" } }),
});

export const PartPath = UploadPath.extend({
  partNumber: z
    .string()
    .regex(/^\d{1,6}$/, `must be a whole number from 1 to ${MAX_PART_NUMBER}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `must be from 1 to ${MAX_PART_NUMBER}`).max(MAX_PART_NUMBER, `must be from 1 to ${MAX_PART_NUMBER}`))
    .openapi({ param: { name: "partNumber", in: "path" }, type: "integer", minimum: 1, maximum: MAX_PART_NUMBER }),
});
