import { and, eq, inArray, isNotNull, lt, sql, type AnyColumn } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { noPendingRedaction } from "./redactions";
import { compositions as c, legalHolds, recordings, tracks, SETTLED_STATES, ACTIVE_STATES, type CompositionRow } from "./schema";

// What an organization's retention policy has made due. Held conversations are excluded in SQL, so a
// hold placed between the read and the delete is the only race, and the delete re-checks it.

const notHeld = (organizationId: string, conversationId: AnyColumn | string) =>
  sql`not exists (select 1 from ${legalHolds} where ${legalHolds.organizationId} = ${organizationId} and ${legalHolds.conversationId} = ${conversationId})`;

/** Settled compositions whose settling (completion, or the last change of a failed/cancelled one) is before `cutoff`. */
export async function expiredCompositions(
  db: D1Database,
  organizationId: string,
  cutoff: number,
  limit: number,
): Promise<CompositionRow[]> {
  return drizzle(db)
    .select()
    .from(c)
    .where(
      and(
        eq(c.organizationId, organizationId),
        inArray(c.state, [...SETTLED_STATES]),
        lt(sql`coalesce(${c.completedAt}, ${c.updatedAt})`, cutoff),
        notHeld(organizationId, c.conversationId),
      ),
    )
    .limit(limit);
}

const noActiveComposition = (organizationId: string) =>
  sql`not exists (select 1 from ${c} where ${c.organizationId} = ${organizationId} and ${c.conversationId} = ${recordings.conversationId} and ${inArray(c.state, [...ACTIVE_STATES])})`;

/** Recordings first stored before `cutoff` that no running composition (or redaction) reads, with their tracks' media keys. */
export async function expiredRecordings(db: D1Database, organizationId: string, cutoff: number, limit: number) {
  const orm = drizzle(db);
  const due = await orm
    .select({ conversationId: recordings.conversationId })
    .from(recordings)
    .where(
      and(
        eq(recordings.organizationId, organizationId),
        lt(recordings.createdAt, cutoff),
        notHeld(organizationId, recordings.conversationId),
        noActiveComposition(organizationId),
        noPendingRedaction(organizationId, recordings.conversationId),
      ),
    )
    .limit(limit);
  const ids = due.map((r) => r.conversationId);
  if (!ids.length) return [];
  const media = await orm
    .select({ conversationId: tracks.conversationId, mediaKey: tracks.mediaKey })
    .from(tracks)
    .where(and(eq(tracks.organizationId, organizationId), inArray(tracks.conversationId, ids), isNotNull(tracks.mediaKey)));
  return ids.map((conversationId) => ({
    conversationId,
    mediaKeys: media.filter((m) => m.conversationId === conversationId).map((m) => m.mediaKey!),
  }));
}

/** Deletes a recording and its tracks unless it was put on hold meanwhile; true when deleted. */
export async function deleteRecording(db: D1Database, organizationId: string, conversationId: string): Promise<boolean> {
  const orm = drizzle(db);
  const held = notHeld(organizationId, conversationId);
  const [, removed] = await orm.batch([
    orm.delete(tracks).where(and(eq(tracks.organizationId, organizationId), eq(tracks.conversationId, conversationId), held)),
    orm
      .delete(recordings)
      .where(and(eq(recordings.organizationId, organizationId), eq(recordings.conversationId, conversationId), held))
      .returning({ id: recordings.conversationId }),
  ]);
  return removed.length > 0;
}
