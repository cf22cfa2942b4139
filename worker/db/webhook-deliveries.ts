import { and, asc, eq, exists, gt, inArray, lt, ne, notExists, sql, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { EventType } from "../webhooks/types";
import { rowValues } from "./insert";
import { compositions, webhookDeliveries as d, webhookEndpoints as e, type CompositionRow, type WebhookDeliveryRow } from "./schema";

// The outbox: a composition's events are rows of webhook_deliveries (one per target), written in the
// same D1 batch as the transition that causes them. The WEBHOOKS queue only says "look at this row".

/** One event of one composition, ready to be recorded. */
export interface OutboxEvent {
  /** `evt_…`: the webhook-id every target's delivery carries, so receivers can dedupe. */
  id: string;
  type: EventType;
  compositionId: string;
  organizationId: string;
  conversationId: string;
  /** The composition's own target, besides the organization's endpoints that subscribe to `type`. */
  callbackUrl: string | null;
  /** The JSON body. Its `data.progress` is taken inside the batch (see eventInserts). */
  payload: string;
  at: number;
}

/**
 * Builds the event a transition records from the row as the transition leaves it; null records
 * none (the transition goes ahead without it). Each transition knows the one type it announces.
 */
export type Announce = (after: CompositionRow, type: EventType, at: number) => Promise<OutboxEvent | null>;

/** The ids of the deliveries the eventInserts statements of a batch wrote. */
export function writtenDeliveries(results: readonly unknown[]): string[] {
  return results.flatMap((r) => (r as { id: string }[]).map((row) => row.id));
}

/**
 * The statements that record `event` for every target, as long as the composition row satisfies
 * `when` at that point of the batch: put before the transition's UPDATE with the UPDATE's own WHERE,
 * an event is written exactly when its transition happens. `progress` is the SQL the transition
 * sets progress to (or the column itself), so the event shows the row as the batch leaves it even
 * when a heartbeat raced the caller's read. Every target of an event shares the next seq of the
 * composition, taken inside the batch: concurrent events still get distinct, increasing numbers.
 * Each statement returns the ids of the deliveries it wrote.
 */
export function eventInserts(orm: DrizzleD1Database, event: OutboxEvent, when: SQL | undefined, progress: SQL) {
  const seq = sql`COALESCE((SELECT seq FROM ${d} WHERE event_id = ${event.id} LIMIT 1),
    (SELECT COALESCE(MAX(seq), 0) + 1 FROM ${d} WHERE composition_id = ${event.compositionId}))`;
  const row = (endpointId: SQL, targetUrl: SQL) =>
    rowValues(d, {
      id: sql`lower(hex(randomblob(16)))`,
      eventId: event.id,
      organizationId: event.organizationId,
      compositionId: event.compositionId,
      conversationId: event.conversationId,
      endpointId,
      targetUrl,
      type: event.type,
      payload: sql`json_set(${event.payload}, '$.data.progress', ${progress})`,
      seq,
      status: "pending",
      attempts: 0,
      createdAt: event.at,
      nextAttemptAt: event.at,
    });
  const ofComposition = and(eq(compositions.id, event.compositionId), when);
  const subscribed = and(
    ofComposition,
    eq(e.organizationId, event.organizationId),
    eq(e.enabled, true),
    sql`(${e.events} IS NULL OR EXISTS (SELECT 1 FROM json_each(${e.events}) WHERE value = ${event.type}))`,
  );
  const toEndpoints = orm
    .insert(d)
    .select(sql`SELECT ${row(sql`${e.id}`, sql`${e.url}`)} FROM ${compositions}, ${e} WHERE ${subscribed}`)
    .returning({ id: d.id });
  if (!event.callbackUrl) return [toEndpoints];
  const toCallback = orm
    .insert(d)
    .select(sql`SELECT ${row(sql`NULL`, sql`${event.callbackUrl}`)} FROM ${compositions} WHERE ${ofComposition}`)
    .returning({ id: d.id });
  return [toCallback, toEndpoints];
}

/**
 * Takes back an event nobody has been sent yet, where `when` holds for its composition: a claim the
 * renderer refused never started anything. A delivery already under way is left to finish.
 */
export function withdrawEvent(orm: DrizzleD1Database, eventId: string, when: SQL | undefined) {
  const unsent = and(eq(d.eventId, eventId), eq(d.status, "pending"), eq(d.attempts, 0));
  return orm.delete(d).where(
    and(
      unsent,
      exists(
        orm
          .select({ one: sql`1` })
          .from(compositions)
          .where(when),
      ),
    ),
  );
}

export async function findDelivery(db: D1Database, id: string): Promise<WebhookDeliveryRow | null> {
  return (await drizzle(db).select().from(d).where(eq(d.id, id)).get()) ?? null;
}

type Line = Pick<WebhookDeliveryRow, "compositionId" | "targetUrl" | "seq">;
const sameLine = (x: Line) => and(eq(d.compositionId, x.compositionId), eq(d.targetUrl, x.targetUrl), eq(d.status, "pending"));

/** An earlier event to the same target is still pending: this one must wait its turn. */
export async function hasPendingPredecessor(db: D1Database, x: Line): Promise<boolean> {
  const row = await drizzle(db)
    .select({ one: sql`1` })
    .from(d)
    .where(and(sameLine(x), lt(d.seq, x.seq)))
    .limit(1)
    .get();
  return row !== undefined;
}

/** The next pending event to the same target, if any. */
export async function pendingSuccessor(db: D1Database, x: Line): Promise<Pick<WebhookDeliveryRow, "id" | "attempts"> | null> {
  const row = await drizzle(db)
    .select({ id: d.id, attempts: d.attempts })
    .from(d)
    .where(and(sameLine(x), gt(d.seq, x.seq)))
    .orderBy(asc(d.seq), asc(d.createdAt))
    .limit(1)
    .get();
  return row ?? null;
}

/**
 * Takes attempt n+1, only if the row is still at attempt n: of several messages for one delivery
 * one wins. The due time becomes the attempt's deadline, which the cron checks.
 */
export async function takeAttempt(db: D1Database, id: string, attempts: number, deadline: number): Promise<boolean> {
  const rows = await drizzle(db)
    .update(d)
    .set({ attempts: sql`${d.attempts} + 1`, nextAttemptAt: deadline })
    .where(and(eq(d.id, id), eq(d.status, "pending"), eq(d.attempts, attempts)))
    .returning({ id: d.id });
  return rows.length === 1;
}

export interface AttemptOutcome {
  status: WebhookDeliveryRow["status"];
  code: number | null;
  error: string | null;
  /** When the next attempt is due (pending only). */
  nextAt: number | null;
}

/** Conditional on the attempt count, so a message that lost the claim can never overwrite the outcome. */
export async function settleAttempt(db: D1Database, id: string, attempts: number, outcome: AttemptOutcome, now: number): Promise<boolean> {
  const rows = await drizzle(db)
    .update(d)
    .set({
      status: outcome.status,
      lastStatus: outcome.code,
      lastError: outcome.error,
      nextAttemptAt: outcome.nextAt,
      ...(outcome.status === "delivered" ? { deliveredAt: now } : {}),
    })
    .where(and(eq(d.id, id), eq(d.status, "pending"), eq(d.attempts, attempts)))
    .returning({ id: d.id });
  return rows.length === 1;
}

/** Pending deliveries due before `before` that stand first in their line (nothing earlier pending). */
export async function overdueDeliveries(db: D1Database, before: number, limit: number) {
  const orm = drizzle(db);
  const p = alias(d, "p");
  const earlierPending = orm
    .select({ one: sql`1` })
    .from(p)
    .where(and(eq(p.compositionId, d.compositionId), eq(p.targetUrl, d.targetUrl), eq(p.status, "pending"), lt(p.seq, d.seq)));
  return orm
    .select({ id: d.id, attempts: d.attempts })
    .from(d)
    .where(and(eq(d.status, "pending"), lt(d.nextAttemptAt, before), notExists(earlierPending)))
    .limit(limit);
}

/**
 * Forgets up to `limit` settled deliveries created before `before`, oldest first (through the
 * created_at index, so it reads about what it deletes). Returns how many it deleted.
 */
export async function purgeSettled(db: D1Database, before: number, limit: number): Promise<number> {
  const orm = drizzle(db);
  const oldest = orm
    .select({ id: d.id })
    .from(d)
    .where(and(ne(d.status, "pending"), lt(d.createdAt, before)))
    .orderBy(asc(d.createdAt))
    .limit(limit);
  const result = await orm.delete(d).where(inArray(d.id, oldest)).run();
  return result.meta.changes;
}

/** A composition's deliveries in event order (the callbackUrl's before the endpoints' of one event). */
export function deliveriesOf(db: D1Database, compositionId: string) {
  return drizzle(db)
    .select({
      eventId: d.eventId,
      type: d.type,
      targetUrl: d.targetUrl,
      endpointId: d.endpointId,
      status: d.status,
      attempts: d.attempts,
      lastStatus: d.lastStatus,
      lastError: d.lastError,
      createdAt: d.createdAt,
      deliveredAt: d.deliveredAt,
    })
    .from(d)
    .where(eq(d.compositionId, compositionId))
    .orderBy(asc(d.seq), asc(d.createdAt), sql`${d.endpointId} NULLS FIRST`, asc(d.id));
}
