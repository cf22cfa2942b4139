import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
    mediaKey: text("media_key"),
    mediaSize: integer("media_size"),
    contentType: text("content_type"),
    storedAt: integer("stored_at"),
  },
  (t) => [primaryKey({ columns: [t.organizationId, t.conversationId, t.id] })],
);

export const compositions = sqliteTable(
  "compositions",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    userId: text("user_id").notNull(),
    name: text("name").notNull(),
    type: text("type", { enum: ["AUDIO", "VIDEO"] }).notNull(),
    format: text("format", { enum: ["MP3", "MP4"] }).notNull(),
    layout: text("layout", { enum: ["GRID"] }).notNull(),
    resolution: text("resolution").notNull(),
    priority: integer("priority").notNull(),
    state: text("state", { enum: ["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"] }).notNull(),
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
export type CompositionState = CompositionRow["state"];
