import type { CompositionRow, CompositionState } from "../db/schema";

// Every transition is one conditional UPDATE: a late, duplicate or forged report matches no row and
// changes nothing, and two dispatchers can never claim the same job.

const RETURN_ALL = "RETURNING *";

type Row = Record<string, unknown>;

function toRow(r: Row): CompositionRow {
  return {
    id: r.id as string,
    organizationId: r.organization_id as string,
    conversationId: r.conversation_id as string,
    userId: r.user_id as string,
    name: r.name as string,
    type: r.type as CompositionRow["type"],
    format: r.format as CompositionRow["format"],
    layout: r.layout as CompositionRow["layout"],
    resolution: r.resolution as string,
    priority: r.priority as number,
    state: r.state as CompositionState,
    progress: r.progress as number,
    etaSeconds: (r.eta_seconds as number | null) ?? null,
    error: (r.error as string | null) ?? null,
    warnings: (r.warnings as string | null) ?? null,
    attempts: r.attempts as number,
    leaseToken: (r.lease_token as string | null) ?? null,
    leaseExpiresAt: (r.lease_expires_at as number | null) ?? null,
    rendererInstance: (r.renderer_instance as string | null) ?? null,
    outputKey: (r.output_key as string | null) ?? null,
    outputSize: (r.output_size as number | null) ?? null,
    durationMs: (r.duration_ms as number | null) ?? null,
    createdAt: r.created_at as number,
    queuedAt: r.queued_at as number,
    startedAt: (r.started_at as number | null) ?? null,
    completedAt: (r.completed_at as number | null) ?? null,
    updatedAt: r.updated_at as number,
    callbackUrl: (r.callback_url as string | null) ?? null,
    options: (r.options as string | null) ?? null,
    progressEventAt: (r.progress_event_at as number | null) ?? null,
    progressEventValue: (r.progress_event_value as number | null) ?? null,
  };
}

async function one(stmt: D1PreparedStatement): Promise<CompositionRow | null> {
  const row = await stmt.first<Row>();
  return row ? toRow(row) : null;
}

/** Claims the highest-priority, oldest QUEUED job in one statement, whatever message woke us. */
export function claimNext(db: D1Database, leaseToken: string, now: number, leaseMs: number) {
  return one(
    db
      .prepare(
        `UPDATE compositions SET state = 'PROCESSING', lease_token = ?1, lease_expires_at = ?2, attempts = attempts + 1,
           started_at = ?3, progress = 0, eta_seconds = NULL, error = NULL, renderer_instance = NULL, updated_at = ?3
         WHERE id = (SELECT id FROM compositions WHERE state = 'QUEUED' ORDER BY priority DESC, queued_at ASC, id ASC LIMIT 1)
           AND state = 'QUEUED' ${RETURN_ALL}`,
      )
      .bind(leaseToken, now + leaseMs, now),
  );
}

/** The renderer was full or unreachable: the claim is undone without costing an attempt. */
export function releaseClaim(db: D1Database, id: string, leaseToken: string, now: number) {
  return one(
    db
      .prepare(
        `UPDATE compositions SET state = 'QUEUED', lease_token = NULL, lease_expires_at = NULL, attempts = attempts - 1,
           started_at = NULL, updated_at = ?3
         WHERE id = ?1 AND lease_token = ?2 AND state = 'PROCESSING' ${RETURN_ALL}`,
      )
      .bind(id, leaseToken, now),
  );
}

export function recordRendererInstance(db: D1Database, id: string, leaseToken: string, instance: string) {
  return db
    .prepare(`UPDATE compositions SET renderer_instance = ?3 WHERE id = ?1 AND lease_token = ?2 AND state = 'PROCESSING'`)
    .bind(id, leaseToken, instance)
    .run();
}

/** A progress report is also the heartbeat that extends the lease. */
export function heartbeat(db: D1Database, id: string, leaseToken: string, progress: number, etaSeconds: number | null, now: number, leaseMs: number) {
  return one(
    db
      .prepare(
        `UPDATE compositions SET progress = MAX(progress, ?3), eta_seconds = ?4, lease_expires_at = ?5, updated_at = ?6
         WHERE id = ?1 AND lease_token = ?2 AND state = 'PROCESSING' ${RETURN_ALL}`,
      )
      .bind(id, leaseToken, Math.max(0, Math.min(99, Math.floor(progress))), etaSeconds, now + leaseMs, now),
  );
}

export function complete(
  db: D1Database,
  id: string,
  leaseToken: string,
  output: { key: string; size: number; durationMs: number; warnings: string[] },
  now: number,
) {
  return one(
    db
      .prepare(
        `UPDATE compositions SET state = 'COMPLETED', progress = 100, eta_seconds = NULL, lease_token = NULL, lease_expires_at = NULL,
           output_key = ?3, output_size = ?4, duration_ms = ?5, warnings = ?6, error = NULL, completed_at = ?7, updated_at = ?7
         WHERE id = ?1 AND lease_token = ?2 AND state = 'PROCESSING' ${RETURN_ALL}`,
      )
      .bind(id, leaseToken, output.key, output.size, output.durationMs, output.warnings.length ? JSON.stringify(output.warnings) : null, now),
  );
}

/** A failed attempt goes back to the queue while attempts remain and the failure may pass; else FAILED. */
export function fail(db: D1Database, id: string, leaseToken: string, error: string, retryable: boolean, maxAttempts: number, now: number) {
  return one(
    db
      .prepare(
        `UPDATE compositions SET
           state = CASE WHEN ?4 = 1 AND attempts < ?5 THEN 'QUEUED' ELSE 'FAILED' END,
           queued_at = CASE WHEN ?4 = 1 AND attempts < ?5 THEN ?6 ELSE queued_at END,
           error = ?3, lease_token = NULL, lease_expires_at = NULL, eta_seconds = NULL, updated_at = ?6
         WHERE id = ?1 AND lease_token = ?2 AND state = 'PROCESSING' ${RETURN_ALL}`,
      )
      .bind(id, leaseToken, error.slice(0, 2000), retryable ? 1 : 0, maxAttempts, now),
  );
}

/** Leases that ran out (renderer died): back to QUEUED, or FAILED after the last attempt. */
export async function reclaimExpired(db: D1Database, maxAttempts: number, now: number): Promise<CompositionRow[]> {
  const { results } = await db
    .prepare(
      `UPDATE compositions SET
         state = CASE WHEN attempts < ?2 THEN 'QUEUED' ELSE 'FAILED' END,
         queued_at = CASE WHEN attempts < ?2 THEN ?1 ELSE queued_at END,
         error = CASE WHEN attempts < ?2 THEN 'renderer lost the job (lease expired); retrying'
                 ELSE 'renderer lost the job (lease expired) on the last of ' || attempts || ' attempts' END,
         lease_token = NULL, lease_expires_at = NULL, eta_seconds = NULL, updated_at = ?1
       WHERE state = 'PROCESSING' AND lease_expires_at < ?1 ${RETURN_ALL}`,
    )
    .bind(now, maxAttempts)
    .all<Row>();
  return results.map(toRow);
}

export function cancel(db: D1Database, id: string, now: number) {
  return one(
    db
      .prepare(
        `UPDATE compositions SET state = 'CANCELLED', lease_token = NULL, lease_expires_at = NULL, eta_seconds = NULL,
           error = NULL, updated_at = ?2
         WHERE id = ?1 AND state IN ('QUEUED', 'PROCESSING') ${RETURN_ALL}`,
      )
      .bind(id, now),
  );
}

/** Re-execute keeps the id and the previous output (still playable until a new one replaces it). */
export function requeue(db: D1Database, id: string, priority: number, now: number) {
  return one(
    db
      .prepare(
        `UPDATE compositions SET state = 'QUEUED', priority = ?2, queued_at = ?3, attempts = 0, progress = 0, error = NULL,
           eta_seconds = NULL, started_at = NULL, updated_at = ?3
         WHERE id = ?1 AND state IN ('COMPLETED', 'FAILED', 'CANCELLED') ${RETURN_ALL}`,
      )
      .bind(id, priority, now),
  );
}

export function deleteRow(db: D1Database, id: string) {
  return db.prepare(`DELETE FROM compositions WHERE id = ?1 AND state NOT IN ('QUEUED', 'PROCESSING')`).bind(id).run();
}
