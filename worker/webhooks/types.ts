export const WEBHOOKS_QUEUE = "composition-webhooks";

export const EVENT_TYPES = [
  "composition.queued",
  "composition.started",
  "composition.progress",
  "composition.completed",
  "composition.failed",
  "composition.cancelled",
  "composition.deleted",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * "Look at this delivery now": D1's webhook_deliveries row is the state. `attempt` is the row's
 * attempt count when the message was sent, so a duplicate or superseded message is recognised and
 * dropped; `waits` counts how often it stood behind an earlier event, to space the re-checks.
 */
export type WebhookMessage = { kind: "deliver"; deliveryId: string; attempt: number; waits?: number };

/** composition.progress: at most one per PROGRESS_EVENT_MIN_MS and per PROGRESS_EVENT_MIN_STEP percent. */
export const PROGRESS_EVENT_MIN_MS = 5_000;
export const PROGRESS_EVENT_MIN_STEP = 10;
