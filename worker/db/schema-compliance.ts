import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

// Beyond the seed: the compliance tables. Instants are epoch milliseconds, as in schema.ts.

/**
 * Beyond the seed: the organization's compliance audit log (retention deletions, legal holds, policy
 * changes). Entries say who did what to which conversation, never what was said in it.
 */
export const auditEntries = sqliteTable(
  "audit_entries",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    at: integer("at").notNull(),
    actorSub: text("actor_sub").notNull(),
    actorRole: text("actor_role").notNull(),
    action: text("action").notNull(),
    conversationId: text("conversation_id"),
    compositionId: text("composition_id"),
    /** JSON: what the action needs to be understood later (the policy, the reason, the ids deleted). */
    details: text("details").notNull(),
  },
  (t) => [index("audit_entries_org_at").on(t.organizationId, t.at)],
);

/** Beyond the seed: how long an organization keeps compositions and recordings (null: forever). */
export const retentionPolicies = sqliteTable("retention_policies", {
  organizationId: text("organization_id").primaryKey(),
  /** As the SUPERVISOR wrote it (ISO-8601), and in milliseconds for the cron's arithmetic. */
  compositions: text("compositions"),
  compositionsMs: integer("compositions_ms"),
  recordings: text("recordings"),
  recordingsMs: integer("recordings_ms"),
  updatedAt: integer("updated_at").notNull(),
  updatedBy: text("updated_by").notNull(),
});

/** Beyond the seed: a legal hold on a conversation; while it stands nothing of it is deleted. */
export const legalHolds = sqliteTable(
  "legal_holds",
  {
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    reason: text("reason").notNull(),
    placedBy: text("placed_by").notNull(),
    placedAt: integer("placed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.organizationId, t.conversationId] })],
);

/** The states of a source redaction: QUEUED and PROCESSING are "pending" (the recording cannot be composed). */
export const REDACTION_STATES = ["QUEUED", "PROCESSING", "COMPLETED", "FAILED"] as const;

/**
 * Beyond the seed: a redaction of a recording's stored tracks. Its tracks are rewritten one at a
 * time (each a TRACK render under this row's lease); `done` holds the rewritten ones until all are,
 * and then they replace the originals in one batch.
 */
export const sourceRedactions = sqliteTable(
  "source_redactions",
  {
    id: text("id").primaryKey(),
    organizationId: text("organization_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    /** JSON: the spans as requested (schemas/compliance.ts RedactionSpan). */
    spans: text("spans").notNull(),
    reason: text("reason").notNull(),
    requestedBy: text("requested_by").notNull(),
    requestedRole: text("requested_role").notNull(),
    state: text("state", { enum: REDACTION_STATES }).notNull(),
    /** JSON: ids of the tracks to rewrite, in order. */
    trackIds: text("track_ids").notNull(),
    /** JSON: the rewritten tracks so far (RewrittenTrack[] in db/redactions.ts). */
    done: text("done").notNull().default("[]"),
    progress: integer("progress").notNull().default(0),
    error: text("error"),
    /** Attempts at the current track. */
    attempts: integer("attempts").notNull().default(0),
    leaseToken: text("lease_token"),
    leaseExpiresAt: integer("lease_expires_at"),
    rendererInstance: text("renderer_instance"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    index("source_redactions_conversation").on(t.organizationId, t.conversationId, t.state),
    index("source_redactions_state").on(t.state, t.createdAt),
  ],
);

export type AuditEntryRow = typeof auditEntries.$inferSelect;
export type RetentionPolicyRow = typeof retentionPolicies.$inferSelect;
export type LegalHoldRow = typeof legalHolds.$inferSelect;
export type SourceRedactionRow = typeof sourceRedactions.$inferSelect;
