import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { FORMAT_NAMES } from "../../contract/formats";

// Instants are stored as epoch milliseconds so that ordering and lease arithmetic stay in SQL.

export const recordings = sqliteTable(
  "recordings",
  {
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    agentId: text("agent_id"),
    started: integer("started").notNull(),
    stopped: integer("stopped").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.organizationId, t.conversationId] })],
);

export const PARTICIPANT_ROLES = ["AGENT", "CUSTOMER", "SUPERVISOR", "OTHER"] as const;

export const tracks = sqliteTable(
  "tracks",
  {
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    id: text("id").notNull(),
    participantId: text("participant_id").notNull(),
    started: integer("started").notNull(),
    stopped: integer("stopped"),
    audio: integer("audio", { mode: "boolean" }).notNull(),
    video: integer("video", { mode: "boolean" }).notNull(),
    /** Beyond the seed (analytics): AGENT, CUSTOMER, SUPERVISOR or OTHER, and a name for tiles and cues. */
    role: text("role", { enum: PARTICIPANT_ROLES }),
    displayName: text("display_name"),
    mediaKey: text("media_key"),
    mediaSize: integer("media_size"),
    contentType: text("content_type"),
    storedAt: integer("stored_at"),
  },
  (t) => [primaryKey({ columns: [t.organizationId, t.conversationId, t.id] })],
);

/** Every state of a composition, as the seed lists them. */
export const COMPOSITION_STATES = ["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"] as const;
/** Waiting or running: cancel applies (and delete does not). */
export const ACTIVE_STATES = ["QUEUED", "PROCESSING"] as const;
/** Finished one way or another: re-execute and delete apply. */
export const SETTLED_STATES = ["COMPLETED", "FAILED", "CANCELLED"] as const;

export const compositions = sqliteTable(
  "compositions",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    userId: text("user_id").notNull(),
    name: text("name").notNull(),
    type: text("type", { enum: ["AUDIO", "VIDEO"] }).notNull(),
    format: text("format", { enum: FORMAT_NAMES }).notNull(),
    layout: text("layout", { enum: ["GRID"] }).notNull(),
    resolution: text("resolution").notNull(),
    priority: integer("priority").notNull(),
    state: text("state", { enum: COMPOSITION_STATES }).notNull(),
    progress: integer("progress").notNull().default(0),
    etaSeconds: integer("eta_seconds"),
    error: text("error"),
    warnings: text("warnings"),
    attempts: integer("attempts").notNull().default(0),
    leaseToken: text("lease_token"),
    leaseExpiresAt: integer("lease_expires_at"),
    rendererInstance: text("renderer_instance"),
    outputKey: text("output_key"),
    outputSize: integer("output_size"),
    durationMs: integer("duration_ms"),
    createdAt: integer("created_at").notNull(),
    queuedAt: integer("queued_at").notNull(),
    startedAt: integer("started_at"),
    completedAt: integer("completed_at"),
    updatedAt: integer("updated_at").notNull(),
    /** Beyond the seed: where status events for this composition are POSTed (Standard Webhooks). */
    callbackUrl: text("callback_url"),
    /** Beyond the seed: source selection and trimming, as JSON (see schemas/composition.ts). */
    options: text("options"),
    /** Beyond the seed (analytics): the conversation metrics of the last completed run, as JSON. */
    metrics: text("metrics"),
    /** Throttle for composition.progress events: when and at what percent the last one went out. */
    progressEventAt: integer("progress_event_at"),
    progressEventValue: integer("progress_event_value"),
  },
  (t) => [
    // The dispatcher's claim reads exactly this order: highest priority, then oldest.
    index("compositions_dispatch").on(t.state, t.priority, t.queuedAt),
    index("compositions_conversation").on(t.organizationId, t.conversationId),
    index("compositions_user").on(t.organizationId, t.userId, t.createdAt),
    index("compositions_lease").on(t.state, t.leaseExpiresAt),
  ],
);

export type RecordingRow = typeof recordings.$inferSelect;
export type TrackRow = typeof tracks.$inferSelect;
export type CompositionRow = typeof compositions.$inferSelect;

/** Per-organization webhook endpoints (SUPERVISOR-managed), each with its own secret and filter. */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    url: text("url").notNull(),
    secret: text("secret").notNull(),
    /** The secret before the last rotation, which also signs until previousSecretUntil (epoch ms). */
    previousSecret: text("previous_secret"),
    previousSecretUntil: integer("previous_secret_until"),
    /** JSON array of event types, or null for every event. */
    events: text("events"),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("webhook_endpoints_org").on(t.organizationId)],
);

/** One row per (event, target): the delivery log and the retry state. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    organizationId: text("organization_id").notNull(),
    compositionId: text("composition_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    endpointId: text("endpoint_id"),
    targetUrl: text("target_url").notNull(),
    type: text("type").notNull(),
    payload: text("payload").notNull(),
    /** Order of events within one composition: deliveries to a target go out in this order. */
    seq: integer("seq").notNull(),
    status: text("status", { enum: ["pending", "delivered", "dead"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    deliveredAt: integer("delivered_at"),
    /**
     * While pending: when the next attempt is due, or (during an attempt) when it must have ended.
     * The cron re-sends deliveries long overdue, so a lost queue message or a crash mid-attempt
     * cannot leave one (and every later event to its target) stuck.
     */
    nextAttemptAt: integer("next_attempt_at"),
  },
  (t) => [
    index("webhook_deliveries_composition").on(t.compositionId, t.targetUrl, t.seq),
    index("webhook_deliveries_event").on(t.eventId),
    index("webhook_deliveries_due").on(t.status, t.nextAttemptAt),
    // The cron's purge of the delivery log walks the oldest rows first, reading only what it deletes.
    index("webhook_deliveries_created").on(t.createdAt),
  ],
);

/** Composition hooks: create a composition when a recording's media becomes complete. */
export const hookRules = sqliteTable(
  "hook_rules",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    type: text("type", { enum: ["AUDIO", "VIDEO"] }).notNull(),
    resolution: text("resolution").notNull(),
    priority: integer("priority").notNull(),
    nameTemplate: text("name_template").notNull(),
    callbackUrl: text("callback_url"),
    /** JSON array of agentIds the rule is limited to, or null for every agent. */
    agentIds: text("agent_ids"),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("hook_rules_org").on(t.organizationId)],
);

/** At most one composition per rule per recording: the primary key is the guarantee. */
export const hookRuns = sqliteTable(
  "hook_runs",
  {
    ruleId: text("rule_id").notNull(),
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    compositionId: text("composition_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.ruleId, t.organizationId, t.conversationId] })],
);

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type HookRuleRow = typeof hookRules.$inferSelect;

/**
 * Multipart track uploads (POST …/tracks/{trackId}/uploads): one R2 multipart upload each, written
 * straight to the track's key, so nothing is stored under the key until the upload completes.
 */
export const trackUploads = sqliteTable(
  "track_uploads",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    trackId: text("track_id").notNull(),
    size: integer("size").notNull(),
    partSize: integer("part_size").notNull(),
    partCount: integer("part_count").notNull(),
    contentType: text("content_type").notNull(),
    mediaKey: text("media_key").notNull(),
    r2UploadId: text("r2_upload_id").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Set when complete is claimed; a second complete (or a late part) is refused from then on. */
    completedAt: integer("completed_at"),
  },
  (t) => [
    index("track_uploads_org_created").on(t.organizationId, t.createdAt),
    // The cron forgets expired uploads of every organization, oldest first.
    index("track_uploads_created").on(t.createdAt),
  ],
);

/** The parts received so far: R2 keeps the latest upload of a part number, and so does this row. */
export const trackUploadParts = sqliteTable(
  "track_upload_parts",
  {
    uploadId: text("upload_id")
      .notNull()
      .references(() => trackUploads.id, { onDelete: "cascade" }),
    partNumber: integer("part_number").notNull(),
    size: integer("size").notNull(),
    etag: text("etag").notNull(),
    uploadedAt: integer("uploaded_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.uploadId, t.partNumber] })],
);

export type TrackUploadRow = typeof trackUploads.$inferSelect;
export type TrackUploadPartRow = typeof trackUploadParts.$inferSelect;

/**
 * Beyond the seed: when a SUPERVISOR last revoked a composition's links (epoch ms). Every signed link
 * whose `Date` is at or before this instant is refused; links signed afterwards carry a later `Date`.
 */
export const linkRevocations = sqliteTable("link_revocations", {
  compositionId: text("composition_id").primaryKey(),
  organizationId: text("organization_id").notNull(),
  revokedAt: integer("revoked_at").notNull(),
});

// The compliance tables (audit log, retention, holds, source redactions) live in their own file.
export * from "./schema-compliance";
export * from "./schema-units";
