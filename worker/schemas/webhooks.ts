import { z } from "@hono/zod-openapi";
import { EVENT_TYPES } from "../webhooks/types";
import { MAX_URL_LENGTH } from "../webhooks/targets";
import { Id } from "./common";

// Scheme and host rules depend on configuration (loopback in local dev), so they are checked by the
// handlers (webhooks/targets.ts) with the same field-named 400 as everything here.
export const CallbackUrl = z.string().min(1).max(MAX_URL_LENGTH).openapi({
  format: "uri",
  description: "https URL that receives status events (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)",
  example: "https://crm.example.com/hooks/compositions",
});

export const EventType = z.enum(EVENT_TYPES);

const Events = z
  .array(EventType)
  .min(1)
  .max(EVENT_TYPES.length * 2)
  .openapi({ description: "Event types sent to this endpoint; omitted = every type" });

export const WebhookEndpointInput = z
  .strictObject({
    url: CallbackUrl,
    events: Events.optional(),
    enabled: z.boolean().optional().openapi({ description: "Default value: true" }),
  })
  .openapi("WebhookEndpointInput");

export const WebhookEndpointPatch = z
  .strictObject({
    url: CallbackUrl.optional(),
    events: Events.nullable().optional().openapi({ description: "null = every type" }),
    enabled: z.boolean().optional(),
  })
  .openapi("WebhookEndpointPatch");

export const WebhookEndpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(EventType),
    enabled: z.boolean(),
    created: z.string(),
    updated: z.string(),
    previousSecretValidUntil: z.string().optional().openapi({
      description: "While a rotation's grace lasts: until when the secret before it still signs too (a second v1 signature)",
    }),
  })
  .openapi("WebhookEndpoint");

export const RotateSecretInput = z
  .object({
    graceSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .optional()
      .openapi({
        description: "How long the current secret keeps signing alongside the new one (default 86400; 0 = stop at once)",
        example: 86400,
      }),
  })
  .strict()
  .openapi("RotateSecretInput");

export const WebhookEndpointWithSecret = WebhookEndpoint.extend({
  secret: z.string().openapi({
    description: "whsec_… signing secret; shown only when created or rotated",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("WebhookEndpointWithSecret");

export const CallbackSecret = z
  .object({
    secret: z.string().openapi({ description: "whsec_… secret that signs deliveries to the callbackUrl of requests and hooks" }),
  })
  .openapi("CallbackSecret");

export const WebhookDelivery = z
  .object({
    eventId: z.string().openapi({ description: "The webhook-id header: the same for every attempt and every target of one event" }),
    type: EventType,
    target: z.string().openapi({ description: "The receiving URL (its query string is not shown)" }),
    endpointId: z.string().nullable().openapi({ description: "null for the composition's own callbackUrl" }),
    status: z.enum(["pending", "delivered", "dead"]),
    attempts: z.number().int(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    created: z.string(),
    delivered: z.string().nullable(),
  })
  .openapi("WebhookDelivery");

export const IdPath = z.object({ id: Id.openapi({ param: { name: "id", in: "path" } }) });
