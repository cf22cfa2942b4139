import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** A unit's part of its composition (fan-out): a window of the grid, the whole mix, or the join of them. */
export const UNIT_KINDS = ["VIDEO", "AUDIO", "JOIN"] as const;
export const UNIT_STATES = ["QUEUED", "PROCESSING", "COMPLETED"] as const;

/**
 * Beyond the seed (fan-out): one unit of work of a composition split over several renderers, with
 * its own lease. Units belong to one run of their composition (`run_token` is the composition's
 * lease token of that run): a unit whose run is over (cancelled, failed, re-leased) is an orphan
 * and is swept. They are dispatched in the composition's place in line (its priority, its queuedAt).
 */
export const renderUnits = sqliteTable(
  "render_units",
  {
    id: text("id").primaryKey(),
    compositionId: text("composition_id").notNull(),
    runToken: text("run_token").notNull(),
    kind: text("kind", { enum: UNIT_KINDS }).notNull(),
    /** VIDEO: the part's place in time order; 0 otherwise. */
    idx: integer("idx").notNull(),
    /** The part's window on the output's clock, in ms. */
    startMs: integer("start_ms").notNull(),
    endMs: integer("end_ms").notNull(),
    priority: integer("priority").notNull(),
    queuedAt: integer("queued_at").notNull(),
    state: text("state", { enum: UNIT_STATES }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    leaseToken: text("lease_token"),
    leaseExpiresAt: integer("lease_expires_at"),
    rendererInstance: text("renderer_instance"),
    progress: integer("progress").notNull().default(0),
    etaSeconds: integer("eta_seconds"),
    startedAt: integer("started_at"),
    /** JSON of the completed report (durationMs, warnings, metrics). */
    report: text("report"),
    error: text("error"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("render_units_queue").on(t.state, t.priority, t.queuedAt), index("render_units_run").on(t.compositionId, t.runToken)],
);

export type RenderUnitRow = typeof renderUnits.$inferSelect;
