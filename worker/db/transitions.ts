import { and, eq, inArray, is, lt, not, notInArray, sql, SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { progressWriteDue } from "../jobs/liveness";
import { PROGRESS_EVENT_MIN_MS, PROGRESS_EVENT_MIN_STEP } from "../webhooks/types";
import { asInserted, compositionInsert, type NewComposition } from "./compositions";
import { noPendingRedaction } from "./redactions";
import { runIsSplit } from "./units";
import { ACTIVE_STATES, compositions as c, SETTLED_STATES, type CompositionRow } from "./schema";
import { eventInserts, withdrawEvent, writtenDeliveries, type Announce, type OutboxEvent } from "./webhook-deliveries";

// Every transition is one conditional UPDATE: a late, duplicate or forged report matches no row and
// changes nothing, and two dispatchers can never claim the same job. The event a transition causes
// is written in the same D1 batch, before the UPDATE and under the same condition (the outbox): it
// exists exactly when its transition happened. Queue sends are the caller's, once the batch is in.

type Changes = Partial<{ [K in keyof CompositionRow]: CompositionRow[K] | SQL }>;

/** What a transition did: the row it left, and the deliveries its event wrote (to be queued now). */
export interface Transitioned {
  row: CompositionRow;
  deliveries: string[];
}

interface Step {
  where: SQL | undefined;
  set: Changes;
  /** Recorded with the transition, where `eventWhen` holds too. */
  event?: OutboxEvent | null;
  eventWhen?: SQL;
  /** An unsent earlier event the transition takes back. */
  withdraw?: string | null;
}

/** One D1 batch (a transaction); drizzle types it as a non-empty tuple, which ours always are. */
function inOneBatch(orm: DrizzleD1Database, items: BatchItem<"sqlite">[]): Promise<unknown[]> {
  return orm.batch(items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

async function transition(db: D1Database, step: Step): Promise<Transitioned | null> {
  const orm = drizzle(db);
  const progress = step.set.progress === undefined ? sql`${c.progress}` : sql`${step.set.progress}`;
  const events = step.event ? eventInserts(orm, step.event, and(step.where, step.eventWhen), progress) : [];
  const withdrawn = step.withdraw ? [withdrawEvent(orm, step.withdraw, step.where)] : [];
  const update = orm.update(c).set(step.set).where(step.where).returning();
  const results = await inOneBatch(orm, [...withdrawn, ...events, update]);
  const row = (results.at(-1) as CompositionRow[])[0];
  return row ? { row, deliveries: writtenDeliveries(results.slice(withdrawn.length, -1)) } : null;
}

/** The row as `set` leaves it: its literal values, and `computed` for those SQL works out. */
function applied(row: CompositionRow, set: Changes, computed: Partial<CompositionRow> = {}): CompositionRow {
  const literal = Object.fromEntries(Object.entries(set).filter(([, value]) => !is(value, SQL)));
  return { ...row, ...literal, ...computed };
}

const leased = (id: string, leaseToken: string) => and(eq(c.id, id), eq(c.leaseToken, leaseToken), eq(c.state, "PROCESSING"));

/** A new composition, QUEUED, with its `queued` event. Returns the deliveries to queue. */
export async function insertQueued(db: D1Database, row: NewComposition, announce: Announce): Promise<string[]> {
  const orm = drizzle(db);
  const event = await announce(asInserted(row), "composition.queued", row.createdAt);
  const events = event ? eventInserts(orm, event, undefined, sql`${c.progress}`) : [];
  const [, ...written] = await orm.batch([compositionInsert(orm, row), ...events]);
  return writtenDeliveries(written);
}

// A conversation with a pending source redaction waits: its tracks are about to be replaced.
const waitsForNoRedaction = noPendingRedaction(sql.raw("compositions.organization_id"), sql.raw("compositions.conversation_id"));
const best = sql`(SELECT id FROM compositions WHERE state = 'QUEUED' AND ${waitsForNoRedaction}
  ORDER BY priority DESC, queued_at ASC, id ASC LIMIT 1)`;
const CLAIM_TRIES = 5;

/** Where the next queued composition stands in line. */
export function peekQueued(db: D1Database): Promise<Pick<CompositionRow, "priority" | "queuedAt"> | undefined> {
  return drizzle(db).select({ priority: c.priority, queuedAt: c.queuedAt }).from(c).where(eq(c.id, best)).get();
}

export interface Claim extends Transitioned {
  /** The `started` event, written with the claim and queued only once a renderer takes the job. */
  started: string | null;
}

/**
 * Claims the highest-priority, oldest QUEUED job, whatever message woke us, and records its
 * `started`. The job is read first (the event describes it) and claimed only if it is still the
 * best and unchanged since: another dispatcher's claim in between means looking again. Null when
 * nothing is queued, or after CLAIM_TRIES lost races (the dispatchers that won are busy with it).
 */
export async function claimNext(
  db: D1Database,
  leaseToken: string,
  now: number,
  leaseMs: number,
  announce: Announce,
): Promise<Claim | null> {
  for (let tries = 0; tries < CLAIM_TRIES; tries++) {
    const candidate = await drizzle(db).select().from(c).where(eq(c.id, best)).get();
    if (!candidate) return null;
    const set: Changes = {
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
    };
    const event = await announce(applied(candidate, set, { attempts: candidate.attempts + 1 }), "composition.started", now);
    const where = and(eq(c.id, candidate.id), eq(c.updatedAt, candidate.updatedAt), eq(c.id, best), eq(c.state, "QUEUED"));
    const claimed = await transition(db, { where, set, event });
    if (claimed) return { ...claimed, started: event?.id ?? null };
  }
  return null;
}

/** The renderer was full or unreachable: the claim is undone without costing an attempt, and its `started` taken back. */
export function releaseClaim(db: D1Database, id: string, leaseToken: string, now: number, started: string | null) {
  const set: Changes = {
    state: "QUEUED",
    leaseToken: null,
    leaseExpiresAt: null,
    attempts: sql`${c.attempts} - 1`,
    startedAt: null,
    updatedAt: now,
  };
  return transition(db, { where: leased(id, leaseToken), set, withdraw: started });
}

/**
 * A stopping renderer handed the job back unfinished: requeued at its place in line (queuedAt kept),
 * the attempt not counted, as for a claim the renderer refused. No event: like any requeue, it is
 * not news to a receiver.
 */
export function handBack(db: D1Database, id: string, leaseToken: string, reason: string, now: number) {
  const set: Changes = {
    state: "QUEUED",
    leaseToken: null,
    leaseExpiresAt: null,
    attempts: sql`MAX(0, ${c.attempts} - 1)`,
    startedAt: null,
    progress: 0,
    etaSeconds: null,
    error: reason.slice(0, 2000),
    updatedAt: now,
  };
  return transition(db, { where: leased(id, leaseToken), set });
}

export function recordRendererInstance(db: D1Database, id: string, leaseToken: string, instance: string) {
  return transition(db, { where: leased(id, leaseToken), set: { rendererInstance: instance } });
}

/** composition.progress is due: PROGRESS_EVENT_MIN_STEP percent and PROGRESS_EVENT_MIN_MS since the last one of this run. */
export function progressEventDue(row: CompositionRow, progress: number, now: number): boolean {
  const fresh = row.progressEventAt === null || row.startedAt === null || row.progressEventAt < row.startedAt;
  const lastValue = fresh ? 0 : (row.progressEventValue ?? 0);
  const lastAt = fresh ? row.startedAt : row.progressEventAt;
  return lastAt !== null && progress >= lastValue + PROGRESS_EVENT_MIN_STEP && now >= lastAt + PROGRESS_EVENT_MIN_MS;
}

/** progressEventDue in SQL, on the row the batch finds: two reports racing cannot both take the slot. */
function progressEventDueSql(progress: SQL, now: number): SQL {
  const fresh = sql`(${c.progressEventAt} IS NULL OR ${c.progressEventAt} < ${c.startedAt})`;
  return sql`(${c.startedAt} IS NOT NULL
    AND ${progress} >= (CASE WHEN ${fresh} THEN 0 ELSE COALESCE(${c.progressEventValue}, 0) END) + ${PROGRESS_EVENT_MIN_STEP}
    AND ${now} >= (CASE WHEN ${fresh} THEN ${c.startedAt} ELSE ${c.progressEventAt} END) + ${PROGRESS_EVENT_MIN_MS})`;
}

/**
 * A progress report is also the heartbeat that keeps the lease. `row` is the row the report was
 * authorized against: when neither the lease, nor what the view shows, nor an event is due
 * (jobs/liveness.ts), nothing is written and the row comes back as read. A write extends the lease;
 * when due it records composition.progress and takes the throttle's slot in the same batch. A new
 * run (started_at later than the last event) starts the throttle afresh.
 */
export async function heartbeat(
  db: D1Database,
  row: CompositionRow,
  leaseToken: string,
  report: { progress: number; etaSeconds: number | null },
  now: number,
  leaseMs: number,
  announce: Announce,
): Promise<Transitioned | null> {
  if (row.state !== "PROCESSING" || row.leaseToken !== leaseToken) return null;
  const percent = Math.max(0, Math.min(99, Math.floor(report.progress)));
  const expected = Math.max(row.progress, percent);
  const eventDue = progressEventDue(row, expected, now);
  if (!eventDue && !progressWriteDue(row, { progress: percent, etaSeconds: report.etaSeconds }, now, leaseMs))
    return { row, deliveries: [] };
  const progress = sql`MAX(${c.progress}, ${percent})`;
  const where = leased(row.id, leaseToken);
  const set: Changes = { progress, etaSeconds: report.etaSeconds, leaseExpiresAt: now + leaseMs, updatedAt: now };
  if (!eventDue) return transition(db, { where, set });
  const after = applied(row, set, { progress: expected, progressEventAt: now, progressEventValue: expected });
  const event = await announce(after, "composition.progress", now);
  if (!event) return transition(db, { where, set });
  const due = progressEventDueSql(progress, now);
  const slot: Changes = {
    progressEventAt: sql`CASE WHEN ${due} THEN ${now} ELSE ${c.progressEventAt} END`,
    progressEventValue: sql`CASE WHEN ${due} THEN ${progress} ELSE ${c.progressEventValue} END`,
  };
  return transition(db, { where, set: { ...set, ...slot }, event, eventWhen: due });
}

export async function complete(
  db: D1Database,
  row: CompositionRow,
  leaseToken: string,
  output: { key: string; size: number; durationMs: number; warnings: string[]; metrics?: unknown },
  now: number,
  announce: Announce,
) {
  const set: Changes = {
    state: "COMPLETED",
    progress: 100,
    etaSeconds: null,
    leaseToken: null,
    leaseExpiresAt: null,
    outputKey: output.key,
    outputSize: output.size,
    durationMs: output.durationMs,
    warnings: output.warnings.length ? JSON.stringify(output.warnings) : null,
    metrics: output.metrics ? JSON.stringify(output.metrics) : null,
    error: null,
    completedAt: now,
    updatedAt: now,
  };
  const event = await announce(applied(row, set), "composition.completed", now);
  return transition(db, { where: leased(row.id, leaseToken), set, event });
}

/**
 * A failed attempt goes back to the queue while attempts remain and the failure may pass; else
 * FAILED, announced (a failure that is retried is not news to a receiver). `withdraw`: the
 * dispatcher's unsent `started`, when the job failed before reaching a renderer.
 */
export async function fail(
  db: D1Database,
  row: CompositionRow,
  leaseToken: string,
  failure: { error: string; retryable: boolean },
  maxAttempts: number,
  now: number,
  announce: Announce,
  withdraw: string | null = null,
) {
  const requeue = failure.retryable ? sql`${c.attempts} < ${maxAttempts}` : sql`0`;
  const set: Changes = {
    state: sql`CASE WHEN ${requeue} THEN 'QUEUED' ELSE 'FAILED' END`,
    queuedAt: sql`CASE WHEN ${requeue} THEN ${now} ELSE ${c.queuedAt} END`,
    error: failure.error.slice(0, 2000),
    leaseToken: null,
    leaseExpiresAt: null,
    etaSeconds: null,
    updatedAt: now,
  };
  const final = !(failure.retryable && row.attempts < maxAttempts);
  const event = final ? await announce(applied(row, set, { state: "FAILED" }), "composition.failed", now) : null;
  return transition(db, { where: leased(row.id, leaseToken), set, event, eventWhen: sql`NOT (${requeue})`, withdraw });
}

/**
 * Leases that ran out (renderer died): back to QUEUED, or FAILED (announced) after the last attempt.
 * Each is keyed by the lease as read, so a heartbeat since (the renderer lives) keeps its job.
 * A split run is not: its units have their own leases (jobs/fanout.ts), and a lost one is re-rendered alone.
 */
export async function reclaimExpired(db: D1Database, maxAttempts: number, now: number, announce: Announce): Promise<Transitioned[]> {
  const expired = await drizzle(db)
    .select()
    .from(c)
    .where(and(eq(c.state, "PROCESSING"), lt(c.leaseExpiresAt, now), not(runIsSplit)));
  const reclaimed: Transitioned[] = [];
  for (const row of expired) {
    const last = row.attempts >= maxAttempts;
    const set: Changes = {
      ...(last
        ? { state: "FAILED", error: `renderer lost the job (lease expired) on the last of ${row.attempts} attempts` }
        : { state: "QUEUED", queuedAt: now, error: "renderer lost the job (lease expired); retrying" }),
      leaseToken: null,
      leaseExpiresAt: null,
      etaSeconds: null,
      updatedAt: now,
    };
    const event = last ? await announce(applied(row, set), "composition.failed", now) : null;
    const sameLease = sql`${c.leaseToken} IS ${row.leaseToken}`;
    const where = and(eq(c.id, row.id), sameLease, eq(c.attempts, row.attempts), eq(c.state, "PROCESSING"), lt(c.leaseExpiresAt, now));
    const done = await transition(db, { where, set, event });
    if (done) reclaimed.push(done);
  }
  return reclaimed;
}

export async function cancel(db: D1Database, row: CompositionRow, now: number, announce: Announce) {
  const set: Changes = { state: "CANCELLED", leaseToken: null, leaseExpiresAt: null, etaSeconds: null, error: null, updatedAt: now };
  const event = await announce(applied(row, set), "composition.cancelled", now);
  return transition(db, { where: and(eq(c.id, row.id), inArray(c.state, ACTIVE_STATES)), set, event });
}

/** Re-execute keeps the id and the previous output (still playable until a new one replaces it). */
export async function requeue(db: D1Database, row: CompositionRow, priority: number, now: number, extra: Changes, announce: Announce) {
  const set: Changes = {
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
  };
  const event = await announce(applied(row, set), "composition.queued", now);
  return transition(db, { where: and(eq(c.id, row.id), inArray(c.state, SETTLED_STATES)), set, event });
}

/** Deletes a settled composition with its `deleted` event. Null when it is not (or no longer) settled. */
export async function deleteSettled(db: D1Database, row: CompositionRow, now: number, announce: Announce): Promise<string[] | null> {
  const orm = drizzle(db);
  const where = and(eq(c.id, row.id), notInArray(c.state, [...ACTIVE_STATES]));
  const event = await announce(row, "composition.deleted", now);
  const events = event ? eventInserts(orm, event, where, sql`${c.progress}`) : [];
  const remove = orm.delete(c).where(where).returning({ id: c.id });
  const results = await inOneBatch(orm, [...events, remove]);
  return (results.at(-1) as unknown[]).length ? writtenDeliveries(results.slice(0, -1)) : null;
}
