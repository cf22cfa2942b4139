import { and, asc, desc, eq, inArray, lt, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { auditInsert, type NewAuditEntry } from "./compliance";
import { auditEntries, sourceRedactions as r, tracks, type SourceRedactionRow } from "./schema";

// Source redactions: every change is one conditional UPDATE on the row's state and lease, as for
// compositions (transitions.ts), so a stale renderer's report changes nothing.

/** A track rewritten under a redaction, waiting to replace the original (or, once done, the record of it). */
export interface RewrittenTrack {
  trackId: string;
  key: string;
  size: number;
  contentType: string;
  sha256Before: string;
  sha256After: string;
}

export const PENDING = ["QUEUED", "PROCESSING"] as const;

/**
 * SQL: no redaction of that conversation is pending (its tracks are about to be replaced). The
 * dispatcher's claim and the retention sweep both skip such a conversation.
 */
export const noPendingRedaction = (organizationId: unknown, conversationId: unknown) =>
  sql`not exists (select 1 from source_redactions pr where pr.organization_id = ${organizationId}
    and pr.conversation_id = ${conversationId} and pr.state in ('QUEUED', 'PROCESSING'))`;

export type NewRedaction = Omit<
  SourceRedactionRow,
  "progress" | "error" | "attempts" | "leaseToken" | "leaseExpiresAt" | "rendererInstance" | "completedAt" | "done"
>;

/** The redaction and its audit entry, in one batch. */
export async function insertRedaction(db: D1Database, row: NewRedaction, audit: NewAuditEntry): Promise<void> {
  const orm = drizzle(db);
  await orm.batch([orm.insert(r).values(row), auditInsert(db, audit)]);
}

const ofConversation = (organizationId: string, conversationId: string) =>
  and(eq(r.organizationId, organizationId), eq(r.conversationId, conversationId));

export async function pendingRedaction(
  db: D1Database,
  organizationId: string,
  conversationId: string,
): Promise<SourceRedactionRow | undefined> {
  return drizzle(db)
    .select()
    .from(r)
    .where(and(ofConversation(organizationId, conversationId), inArray(r.state, [...PENDING])))
    .get();
}

export async function listRedactions(db: D1Database, organizationId: string, conversationId: string): Promise<SourceRedactionRow[]> {
  return drizzle(db).select().from(r).where(ofConversation(organizationId, conversationId)).orderBy(desc(r.createdAt));
}

export async function findRedaction(db: D1Database, organizationId: string, conversationId: string, id: string) {
  return drizzle(db)
    .select()
    .from(r)
    .where(and(ofConversation(organizationId, conversationId), eq(r.id, id)))
    .get();
}

export async function findRedactionById(db: D1Database, id: string): Promise<SourceRedactionRow | undefined> {
  return drizzle(db).select().from(r).where(eq(r.id, id)).get();
}

/**
 * The oldest QUEUED redaction whose conversation has no composition rendering (a render reading
 * the tracks while they are replaced would publish what the redaction removes), claimed under `token`.
 */
const claimable = sql`(SELECT id FROM source_redactions sr WHERE sr.state = 'QUEUED' AND NOT EXISTS (
  SELECT 1 FROM compositions c WHERE c.organization_id = sr.organization_id AND c.conversation_id = sr.conversation_id
  AND c.state = 'PROCESSING') ORDER BY sr.created_at ASC LIMIT 1)`;

export async function claimRedaction(db: D1Database, token: string, now: number, leaseMs: number): Promise<SourceRedactionRow | undefined> {
  const set = {
    state: "PROCESSING" as const,
    leaseToken: token,
    leaseExpiresAt: now + leaseMs,
    attempts: sql`${r.attempts} + 1`,
    updatedAt: now,
  };
  const rows = await drizzle(db)
    .update(r)
    .set(set)
    .where(and(eq(r.id, claimable), eq(r.state, "QUEUED")))
    .returning();
  return rows[0];
}

const leased = (id: string, token: string) => and(eq(r.id, id), eq(r.leaseToken, token), eq(r.state, "PROCESSING"));

async function update(db: D1Database, id: string, token: string, set: Partial<Record<keyof SourceRedactionRow, unknown>>) {
  const rows = await drizzle(db)
    .update(r)
    .set(set as never)
    .where(leased(id, token))
    .returning();
  return rows[0] ?? null;
}

const unleased = { leaseToken: null, leaseExpiresAt: null, rendererInstance: null };

/** A full renderer: back to the queue without costing an attempt. */
export const releaseRedactionClaim = (db: D1Database, id: string, token: string, now: number) =>
  update(db, id, token, { state: "QUEUED", ...unleased, attempts: sql`${r.attempts} - 1`, updatedAt: now });

export const recordRedactionInstance = (db: D1Database, id: string, token: string, instance: string) =>
  update(db, id, token, { rendererInstance: instance });

export const redactionHeartbeat = (db: D1Database, id: string, token: string, progress: number, now: number, leaseMs: number) =>
  update(db, id, token, { progress, leaseExpiresAt: now + leaseMs, updatedAt: now });

/** One more track rewritten: the next one is queued (its attempts start again). */
export const redactionTrackDone = (db: D1Database, id: string, token: string, done: RewrittenTrack[], progress: number, now: number) =>
  update(db, id, token, { state: "QUEUED", ...unleased, done: JSON.stringify(done), attempts: 0, progress, updatedAt: now });

/** The current track failed: tried again (QUEUED) or the whole redaction FAILED, with its reason. */
export const redactionAttemptFailed = (db: D1Database, id: string, token: string, error: string, final: boolean, now: number) =>
  update(db, id, token, { state: final ? "FAILED" : "QUEUED", ...unleased, error, updatedAt: now, ...(final ? { completedAt: now } : {}) });

/**
 * The rewritten tracks replace the originals, the redaction COMPLETES and its audit entry is
 * written: one batch, under the lease (a track row is only changed if it still holds the original).
 */
export async function completeRedaction(
  db: D1Database,
  row: SourceRedactionRow,
  token: string,
  swaps: (RewrittenTrack & { originalKey: string })[],
  audit: NewAuditEntry,
  now: number,
): Promise<boolean> {
  const orm = drizzle(db);
  const held = sql`EXISTS (SELECT 1 FROM source_redactions WHERE id = ${row.id} AND lease_token = ${token} AND state = 'PROCESSING')`;
  const swapTrack = (s: (typeof swaps)[number]) =>
    orm
      .update(tracks)
      .set({ mediaKey: s.key, mediaSize: s.size, contentType: s.contentType })
      .where(
        and(
          eq(tracks.organizationId, row.organizationId),
          eq(tracks.conversationId, row.conversationId),
          eq(tracks.id, s.trackId),
          eq(tracks.mediaKey, s.originalKey),
          held,
        ),
      );
  const done = swaps.map(({ originalKey: _, ...t }) => t);
  const finish = orm
    .update(r)
    .set({ state: "COMPLETED", ...unleased, done: JSON.stringify(done), progress: 100, error: null, updatedAt: now, completedAt: now })
    .where(leased(row.id, token))
    .returning({ id: r.id });
  // The entry is written only if the lease holds, like the rest of the batch (columns in table order).
  const audited = orm.insert(auditEntries).select(
    sql`SELECT ${crypto.randomUUID()}, ${audit.organizationId}, ${audit.at}, ${audit.actorSub}, ${audit.actorRole}, ${audit.action},
    ${audit.conversationId}, ${audit.compositionId}, ${JSON.stringify(audit.details)} WHERE ${held}`,
  );
  const results = await orm.batch([...swaps.map(swapTrack), audited, finish] as unknown as [typeof finish]);
  return (results.at(-1) as { id: string }[]).length > 0;
}

/** PROCESSING redactions whose renderer stopped reporting. */
export async function expiredRedactions(db: D1Database, now: number): Promise<SourceRedactionRow[]> {
  return drizzle(db)
    .select()
    .from(r)
    .where(and(eq(r.state, "PROCESSING"), lt(r.leaseExpiresAt, now)))
    .orderBy(asc(r.leaseExpiresAt));
}
