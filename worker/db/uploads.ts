import { and, asc, eq, inArray, isNull, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { trackUploadParts, trackUploads, type TrackUploadPartRow, type TrackUploadRow } from "./schema";

// The state of multipart track uploads: which R2 upload a client's upload is, and the parts R2
// has received (their etags are what completing the R2 upload needs).

export interface UploadOwner {
  organizationId: string;
  conversationId: string;
  trackId: string;
}

export interface Upload {
  upload: TrackUploadRow;
  /** In part-number order. */
  parts: TrackUploadPartRow[];
}

export async function insertUpload(db: D1Database, row: TrackUploadRow): Promise<void> {
  await drizzle(db).insert(trackUploads).values(row);
}

/** The upload with its parts, only if it belongs to this organization's track. */
export async function findUpload(db: D1Database, owner: UploadOwner, id: string): Promise<Upload | null> {
  const orm = drizzle(db);
  const where = and(
    eq(trackUploads.id, id),
    eq(trackUploads.organizationId, owner.organizationId),
    eq(trackUploads.conversationId, owner.conversationId),
    eq(trackUploads.trackId, owner.trackId),
  );
  const [uploads, parts] = await orm.batch([
    orm.select().from(trackUploads).where(where),
    orm.select().from(trackUploadParts).where(eq(trackUploadParts.uploadId, id)).orderBy(asc(trackUploadParts.partNumber)),
  ]);
  const upload = uploads[0];
  return upload ? { upload, parts } : null;
}

/** Records a received part; a part sent again replaces the earlier one, as in R2. */
export async function putPart(db: D1Database, part: TrackUploadPartRow): Promise<void> {
  await drizzle(db)
    .insert(trackUploadParts)
    .values(part)
    .onConflictDoUpdate({
      target: [trackUploadParts.uploadId, trackUploadParts.partNumber],
      set: { size: part.size, etag: part.etag, uploadedAt: part.uploadedAt },
    });
}

/** Forgets a part whose upload failed: R2 may or may not hold it, the client sends it again. */
export async function forgetPart(db: D1Database, uploadId: string, partNumber: number): Promise<void> {
  await drizzle(db)
    .delete(trackUploadParts)
    .where(and(eq(trackUploadParts.uploadId, uploadId), eq(trackUploadParts.partNumber, partNumber)));
}

/** Claims the right to complete: true for exactly one caller, however many complete at once. */
export async function claimCompletion(db: D1Database, id: string, now: number): Promise<boolean> {
  const claimed = await drizzle(db)
    .update(trackUploads)
    .set({ completedAt: now })
    .where(and(eq(trackUploads.id, id), isNull(trackUploads.completedAt)))
    .returning({ id: trackUploads.id });
  return claimed.length > 0;
}

/** Gives a claim back when storage refused to complete, so the client may try again. */
export async function releaseCompletion(db: D1Database, id: string): Promise<void> {
  await drizzle(db).update(trackUploads).set({ completedAt: null }).where(eq(trackUploads.id, id));
}

/** Forgets an upload and (cascade) its parts. */
export async function deleteUpload(db: D1Database, id: string): Promise<void> {
  await drizzle(db).delete(trackUploads).where(eq(trackUploads.id, id));
}

/** Forgets the organization's uploads created before `before` (R2 has aborted those by then). */
export async function deleteExpiredUploads(db: D1Database, organizationId: string, before: number): Promise<void> {
  await drizzle(db)
    .delete(trackUploads)
    .where(and(eq(trackUploads.organizationId, organizationId), lt(trackUploads.createdAt, before)));
}

/**
 * Forgets up to `limit` uploads of any organization created before `before` (R2 has aborted the
 * incomplete ones by then), oldest first through the created_at index; their parts go with them
 * (cascade). Returns how many uploads it deleted.
 */
export async function purgeExpiredUploads(db: D1Database, before: number, limit: number): Promise<number> {
  const orm = drizzle(db);
  const oldest = orm
    .select({ id: trackUploads.id })
    .from(trackUploads)
    .where(lt(trackUploads.createdAt, before))
    .orderBy(asc(trackUploads.createdAt))
    .limit(limit);
  const result = await orm.delete(trackUploads).where(inArray(trackUploads.id, oldest)).run();
  return result.meta.changes;
}
