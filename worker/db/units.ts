import { and, eq, lt, sql, SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { compositions as c, renderUnits as u, type RenderUnitRow } from "./schema";

// The units of a split composition (fan-out): every change is one conditional UPDATE on the unit's
// state and lease, as for compositions (transitions.ts), so a stale renderer's report changes nothing.

export type NewUnit = Pick<
  RenderUnitRow,
  "id" | "compositionId" | "runToken" | "kind" | "idx" | "startMs" | "endMs" | "priority" | "queuedAt"
>;
type UnitChanges = Partial<{ [K in keyof RenderUnitRow]: RenderUnitRow[K] | SQL }>;

export async function insertUnits(db: D1Database, units: readonly NewUnit[], now: number): Promise<void> {
  if (!units.length) return;
  const orm = drizzle(db);
  const rows = units.map((x) => ({ ...x, state: "QUEUED" as const, updatedAt: now }));
  // D1 binds at most 100 parameters per statement: a few rows per INSERT. Inserting a unit twice
  // (the last two parts completing at once both queue the join) inserts it once.
  const inserts = Array.from({ length: Math.ceil(rows.length / 4) }, (_, k) =>
    orm
      .insert(u)
      .values(rows.slice(k * 4, k * 4 + 4))
      .onConflictDoNothing(),
  );
  await orm.batch(inserts as [(typeof inserts)[0], ...typeof inserts]);
}

const best = sql`(SELECT id FROM render_units WHERE state = 'QUEUED' ORDER BY priority DESC, queued_at ASC, idx ASC, id ASC LIMIT 1)`;

/** Where the next queued unit stands in line (its composition's priority and queuedAt). */
export async function peekUnit(db: D1Database): Promise<Pick<RenderUnitRow, "priority" | "queuedAt"> | undefined> {
  return drizzle(db).select({ priority: u.priority, queuedAt: u.queuedAt }).from(u).where(eq(u.id, best)).get();
}

export async function claimUnit(db: D1Database, token: string, now: number, leaseMs: number): Promise<RenderUnitRow | undefined> {
  const set: UnitChanges = {
    state: "PROCESSING",
    leaseToken: token,
    leaseExpiresAt: now + leaseMs,
    attempts: sql`${u.attempts} + 1`,
    startedAt: now,
    progress: 0,
    etaSeconds: null,
    rendererInstance: null,
    updatedAt: now,
  };
  const rows = await drizzle(db)
    .update(u)
    .set(set)
    .where(and(eq(u.id, best), eq(u.state, "QUEUED")))
    .returning();
  return rows[0];
}

const leased = (id: string, token: string) => and(eq(u.id, id), eq(u.leaseToken, token), eq(u.state, "PROCESSING"));

async function update(db: D1Database, id: string, token: string, set: UnitChanges): Promise<RenderUnitRow | null> {
  const rows = await drizzle(db).update(u).set(set).where(leased(id, token)).returning();
  return rows[0] ?? null;
}

export const findUnit = (db: D1Database, id: string) => drizzle(db).select().from(u).where(eq(u.id, id)).get();

/** Every unit of one run of a composition. */
export const runUnits = (db: D1Database, compositionId: string, runToken: string) =>
  drizzle(db)
    .select()
    .from(u)
    .where(and(eq(u.compositionId, compositionId), eq(u.runToken, runToken)))
    .all();

export const recordUnitInstance = (db: D1Database, id: string, token: string, instance: string) =>
  update(db, id, token, { rendererInstance: instance });

/** Back in line without costing an attempt (a full renderer, a renderer handing it back). */
export const releaseUnit = (db: D1Database, id: string, token: string, now: number, reason: string | null = null) =>
  update(db, id, token, {
    state: "QUEUED",
    leaseToken: null,
    leaseExpiresAt: null,
    attempts: sql`MAX(0, ${u.attempts} - 1)`,
    progress: 0,
    error: reason,
    updatedAt: now,
  });

/** Tried again: back in line at its place, the attempt counted. */
export const retryUnit = (db: D1Database, id: string, token: string, error: string, now: number) =>
  update(db, id, token, {
    state: "QUEUED",
    leaseToken: null,
    leaseExpiresAt: null,
    progress: 0,
    error: error.slice(0, 2000),
    updatedAt: now,
  });

export const unitProgress = (
  db: D1Database,
  id: string,
  token: string,
  progress: number,
  etaSeconds: number | null,
  now: number,
  leaseMs: number,
) => update(db, id, token, { progress, etaSeconds, leaseExpiresAt: now + leaseMs, updatedAt: now });

export const completeUnit = (db: D1Database, id: string, token: string, report: unknown, now: number) =>
  update(db, id, token, {
    state: "COMPLETED",
    progress: 100,
    leaseToken: null,
    leaseExpiresAt: null,
    report: JSON.stringify(report),
    updatedAt: now,
  });

/** Removes a composition's units (of one run, or all); returns those a renderer may still be running. */
export async function deleteUnitsOf(db: D1Database, compositionId: string, runToken?: string): Promise<RenderUnitRow[]> {
  const where = runToken ? and(eq(u.compositionId, compositionId), eq(u.runToken, runToken)) : eq(u.compositionId, compositionId);
  const gone = await drizzle(db).delete(u).where(where).returning();
  return gone.filter((x) => x.state === "PROCESSING");
}

export const expiredUnits = (db: D1Database, now: number) =>
  drizzle(db)
    .select()
    .from(u)
    .where(and(eq(u.state, "PROCESSING"), lt(u.leaseExpiresAt, now)))
    .all();

/** Units whose run is over: their composition is no longer PROCESSING under the run's lease. */
export const orphanUnits = (db: D1Database) =>
  drizzle(db)
    .select({ compositionId: u.compositionId, runToken: u.runToken })
    .from(u)
    .leftJoin(c, and(eq(c.id, u.compositionId), eq(c.state, "PROCESSING"), eq(c.leaseToken, u.runToken)))
    .where(sql`${c.id} IS NULL`)
    .groupBy(u.compositionId, u.runToken)
    .all();

/** SQL: the composition's current run is split into units (their leases keep it alive, not its own). */
export const runIsSplit = sql`EXISTS (SELECT 1 FROM render_units ru WHERE ru.composition_id = compositions.id AND ru.run_token = compositions.lease_token)`;
