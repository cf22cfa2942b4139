import { and, count, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { auditEntries, legalHolds, retentionPolicies, type AuditEntryRow, type LegalHoldRow, type RetentionPolicyRow } from "./schema";

// The compliance tables: the audit log, retention policies and legal holds (one organization each).

export type NewAuditEntry = Omit<AuditEntryRow, "id" | "details"> & { details: Record<string, unknown> };

/** Builds the insert of one audit entry, so that callers can put it in the batch of what it records. */
export function auditInsert(db: D1Database, entry: NewAuditEntry) {
  return drizzle(db)
    .insert(auditEntries)
    .values({ ...entry, id: crypto.randomUUID(), details: JSON.stringify(entry.details) });
}

export async function appendAudit(db: D1Database, entry: NewAuditEntry): Promise<void> {
  await auditInsert(db, entry);
}

/** One page of the organization's audit log, newest first, with the total count. */
export async function pageAudit(db: D1Database, organizationId: string, offset: number, limit: number) {
  const orm = drizzle(db);
  const mine = eq(auditEntries.organizationId, organizationId);
  const [rows, total] = await orm.batch([
    orm.select().from(auditEntries).where(mine).orderBy(desc(auditEntries.at), desc(auditEntries.id)).limit(limit).offset(offset),
    orm.select({ n: count() }).from(auditEntries).where(mine),
  ]);
  return { rows, total: total[0]?.n ?? 0 };
}

export async function findRetentionPolicy(db: D1Database, organizationId: string): Promise<RetentionPolicyRow | null> {
  const rows = await drizzle(db).select().from(retentionPolicies).where(eq(retentionPolicies.organizationId, organizationId));
  return rows[0] ?? null;
}

/** Every organization's policy that deletes something (the cron's work list). */
export async function activeRetentionPolicies(db: D1Database): Promise<RetentionPolicyRow[]> {
  const rows = await drizzle(db).select().from(retentionPolicies);
  return rows.filter((p) => p.compositionsMs !== null || p.recordingsMs !== null);
}

/** Replaces the organization's policy and audits the change in the same batch. */
export async function putRetentionPolicy(db: D1Database, policy: RetentionPolicyRow, audit: NewAuditEntry): Promise<void> {
  const orm = drizzle(db);
  const { compositions, compositionsMs, recordings, recordingsMs, updatedAt, updatedBy } = policy;
  await orm.batch([
    orm.insert(retentionPolicies).values(policy).onConflictDoUpdate({
      target: retentionPolicies.organizationId,
      set: { compositions, compositionsMs, recordings, recordingsMs, updatedAt, updatedBy },
    }),
    auditInsert(db, audit),
  ]);
}

const holdOf = (organizationId: string, conversationId: string) =>
  and(eq(legalHolds.organizationId, organizationId), eq(legalHolds.conversationId, conversationId));

export async function findHold(db: D1Database, organizationId: string, conversationId: string): Promise<LegalHoldRow | null> {
  const rows = await drizzle(db).select().from(legalHolds).where(holdOf(organizationId, conversationId));
  return rows[0] ?? null;
}

/** The conversations of the organization under a hold (the cron skips them). */
export async function heldConversations(db: D1Database, organizationId: string): Promise<Set<string>> {
  const rows = await drizzle(db)
    .select({ conversationId: legalHolds.conversationId })
    .from(legalHolds)
    .where(eq(legalHolds.organizationId, organizationId));
  return new Set(rows.map((r) => r.conversationId));
}

/** Places (or re-places, with a new reason) a hold; audited in the same batch. */
export async function placeHold(db: D1Database, hold: LegalHoldRow, audit: NewAuditEntry): Promise<void> {
  const orm = drizzle(db);
  await orm.batch([
    orm
      .insert(legalHolds)
      .values(hold)
      .onConflictDoUpdate({
        target: [legalHolds.organizationId, legalHolds.conversationId],
        set: { reason: hold.reason, placedBy: hold.placedBy, placedAt: hold.placedAt },
      }),
    auditInsert(db, audit),
  ]);
}

/** Releases a hold; false when there was none (nothing is audited then). */
export async function releaseHold(db: D1Database, organizationId: string, conversationId: string, audit: NewAuditEntry): Promise<boolean> {
  if (!(await findHold(db, organizationId, conversationId))) return false;
  const orm = drizzle(db);
  await orm.batch([orm.delete(legalHolds).where(holdOf(organizationId, conversationId)), auditInsert(db, audit)]);
  return true;
}
