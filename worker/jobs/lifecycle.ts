import { and, eq, inArray, lt, notInArray, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { compositions as c, type CompositionRow } from "../db/schema";

// Every transition is one conditional UPDATE: a late, duplicate or forged report matches no row and
// changes nothing, and two dispatchers can never claim the same job.

type Changes = Partial<{ [K in keyof CompositionRow]: CompositionRow[K] | SQL }>;

async function transition(db: D1Database, where: SQL | undefined, set: Changes): Promise<CompositionRow | null> {
  const rows = await drizzle(db).update(c).set(set).where(where).returning();
  return rows[0] ?? null;
}

const leased = (id: string, leaseToken: string) => and(eq(c.id, id), eq(c.leaseToken, leaseToken), eq(c.state, "PROCESSING"));
const lastAttempt = (maxAttempts: number) => sql`${c.attempts} >= ${maxAttempts}`;

/** Claims the highest-priority, oldest QUEUED job in one statement, whatever message woke us. */
export function claimNext(db: D1Database, leaseToken: string, now: number, leaseMs: number) {
  const best = sql`(SELECT id FROM compositions WHERE state = 'QUEUED' ORDER BY priority DESC, queued_at ASC, id ASC LIMIT 1)`;
  return transition(db, and(eq(c.id, best), eq(c.state, "QUEUED")), {
    state: "PROCESSING",
    leaseToken,
    leaseExpiresAt: now + leaseMs,
    attempts: sql`${c.attempts} + 1`,
    startedAt: now,
    progress: 0,
    etaSeconds: null,
    error: null,
    rendererInstance: null,
    updatedAt: now,
  });
}

/** The renderer was full or unreachable: the claim is undone without costing an attempt. */
export function releaseClaim(db: D1Database, id: string, leaseToken: string, now: number) {
  return transition(db, leased(id, leaseToken), {
    state: "QUEUED",
    leaseToken: null,
    leaseExpiresAt: null,
    attempts: sql`${c.attempts} - 1`,
    startedAt: null,
    updatedAt: now,
  });
}

/**
 * A stopping renderer handed the job back unfinished: requeued at its place in line (queuedAt kept),
 * the attempt not counted, as for a claim the renderer refused.
 */
export function handBack(db: D1Database, id: string, leaseToken: string, reason: string, now: number) {
  return transition(db, leased(id, leaseToken), {
    state: "QUEUED",
    leaseToken: null,
    leaseExpiresAt: null,
    attempts: sql`MAX(0, ${c.attempts} - 1)`,
    startedAt: null,
    progress: 0,
    etaSeconds: null,
    error: reason.slice(0, 2000),
    updatedAt: now,
  });
}

export function recordRendererInstance(db: D1Database, id: string, leaseToken: string, instance: string) {
  return transition(db, leased(id, leaseToken), { rendererInstance: instance });
}

/** A progress report is also the heartbeat that extends the lease. */
export function heartbeat(db: D1Database, id: string, leaseToken: string, progress: number, etaSeconds: number | null, now: number, leaseMs: number) {
  const percent = Math.max(0, Math.min(99, Math.floor(progress)));
  return transition(db, leased(id, leaseToken), {
    progress: sql`MAX(${c.progress}, ${percent})`,
    etaSeconds,
    leaseExpiresAt: now + leaseMs,
    updatedAt: now,
  });
}

export function complete(
  db: D1Database,
  id: string,
  leaseToken: string,
  output: { key: string; size: number; durationMs: number; warnings: string[] },
  now: number,
) {
  return transition(db, leased(id, leaseToken), {
    state: "COMPLETED",
    progress: 100,
    etaSeconds: null,
    leaseToken: null,
    leaseExpiresAt: null,
    outputKey: output.key,
    outputSize: output.size,
    durationMs: output.durationMs,
    warnings: output.warnings.length ? JSON.stringify(output.warnings) : null,
    error: null,
    completedAt: now,
    updatedAt: now,
  });
}

/** A failed attempt goes back to the queue while attempts remain and the failure may pass; else FAILED. */
export function fail(db: D1Database, id: string, leaseToken: string, error: string, retryable: boolean, maxAttempts: number, now: number) {
  const requeue = retryable ? sql`${c.attempts} < ${maxAttempts}` : sql`0`;
  return transition(db, leased(id, leaseToken), {
    state: sql`CASE WHEN ${requeue} THEN 'QUEUED' ELSE 'FAILED' END`,
    queuedAt: sql`CASE WHEN ${requeue} THEN ${now} ELSE ${c.queuedAt} END`,
    error: error.slice(0, 2000),
    leaseToken: null,
    leaseExpiresAt: null,
    etaSeconds: null,
    updatedAt: now,
  });
}

/** Leases that ran out (renderer died): back to QUEUED, or FAILED after the last attempt. */
export function reclaimExpired(db: D1Database, maxAttempts: number, now: number): Promise<CompositionRow[]> {
  return drizzle(db)
    .update(c)
    .set({
      state: sql`CASE WHEN ${lastAttempt(maxAttempts)} THEN 'FAILED' ELSE 'QUEUED' END`,
      queuedAt: sql`CASE WHEN ${lastAttempt(maxAttempts)} THEN ${c.queuedAt} ELSE ${now} END`,
      error: sql`CASE WHEN ${lastAttempt(maxAttempts)}
        THEN 'renderer lost the job (lease expired) on the last of ' || ${c.attempts} || ' attempts'
        ELSE 'renderer lost the job (lease expired); retrying' END`,
      leaseToken: null,
      leaseExpiresAt: null,
      etaSeconds: null,
      updatedAt: now,
    })
    .where(and(eq(c.state, "PROCESSING"), lt(c.leaseExpiresAt, now)))
    .returning();
}

export function cancel(db: D1Database, id: string, now: number) {
  return transition(db, and(eq(c.id, id), inArray(c.state, ["QUEUED", "PROCESSING"])), {
    state: "CANCELLED",
    leaseToken: null,
    leaseExpiresAt: null,
    etaSeconds: null,
    error: null,
    updatedAt: now,
  });
}

/** Re-execute keeps the id and the previous output (still playable until a new one replaces it). */
export function requeue(db: D1Database, id: string, priority: number, now: number, extra: Changes = {}) {
  return transition(db, and(eq(c.id, id), inArray(c.state, ["COMPLETED", "FAILED", "CANCELLED"])), {
    state: "QUEUED",
    priority,
    queuedAt: now,
    attempts: 0,
    progress: 0,
    error: null,
    etaSeconds: null,
    startedAt: null,
    updatedAt: now,
    ...extra,
  });
}

export function deleteRow(db: D1Database, id: string) {
  return drizzle(db).delete(c).where(and(eq(c.id, id), notInArray(c.state, ["QUEUED", "PROCESSING"])));
}
