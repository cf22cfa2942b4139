import { z } from "@hono/zod-openapi";

/** Ids travel in paths, R2 keys and filenames: a conservative alphabet keeps all three safe. */
export const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:@-]+$/, "may contain only letters, digits and . _ : @ -")
  .refine((s) => s !== "." && s !== "..", "must not be . or ..");

export const Instant = z.iso.datetime({ offset: true }).openapi({ example: "2021-01-14T18:43:45.569Z" });

export const Priority = z.number().int().min(0).max(10).openapi({ description: "0–10, higher runs sooner. Default value: 1", example: 1 });

export const RESOLUTIONS = ["320x240", "640x360", "640x480", "854x480", "1280x720", "1920x1080"] as const;
export const COMPOSITION_TYPES = ["AUDIO", "VIDEO"] as const;

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

const problemContent = { "application/problem+json": { schema: ProblemSchema } };

/** The refusals every authenticated endpoint can answer with, as the seed lists them. */
export const problemResponses = {
  400: { description: "Bad Request", content: problemContent },
  401: { description: "Unauthorized", content: problemContent },
  403: { description: "Forbidden", content: problemContent },
  404: { description: "Not Found", content: problemContent },
} as const;

export const conflictResponse = { 409: { description: "Conflict", content: problemContent } } as const;

export const bearerSecurity = [{ apiKey: [] as string[] }];

/** The player's media reads: the signed link's query (Date, Expires, Signature) is the credential. */
export const signatureSecurity = [{ signature: [] as string[] }];
