import { and, asc, count, eq, isNull, lte, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { insertWhere } from "./insert";
import { webhookEndpoints as e, type WebhookEndpointRow } from "./schema";

const scoped = (organizationId: string, id: string) => and(eq(e.organizationId, organizationId), eq(e.id, id));

/** Conditional insert: two concurrent creates cannot both slip under the organization's limit. */
export async function insertEndpointWithin(db: D1Database, row: WebhookEndpointRow, limit: number): Promise<boolean> {
  const orm = drizzle(db);
  const room = sql`(${orm.select({ n: count() }).from(e).where(eq(e.organizationId, row.organizationId))}) < ${limit}`;
  const written = await insertWhere(orm, e, row, room).returning({ id: e.id });
  return written.length === 1;
}

export function listEndpointRows(db: D1Database, organizationId: string): Promise<WebhookEndpointRow[]> {
  return drizzle(db).select().from(e).where(eq(e.organizationId, organizationId)).orderBy(asc(e.createdAt), asc(e.id));
}

export async function findEndpoint(db: D1Database, organizationId: string, id: string): Promise<WebhookEndpointRow | null> {
  return (await drizzle(db).select().from(e).where(scoped(organizationId, id)).get()) ?? null;
}

export async function updateEndpointRow(
  db: D1Database,
  organizationId: string,
  id: string,
  set: Partial<WebhookEndpointRow>,
): Promise<WebhookEndpointRow | null> {
  const rows = await drizzle(db).update(e).set(set).where(scoped(organizationId, id)).returning();
  return rows[0] ?? null;
}

export async function deleteEndpointRow(db: D1Database, organizationId: string, id: string): Promise<boolean> {
  const rows = await drizzle(db).delete(e).where(scoped(organizationId, id)).returning({ id: e.id });
  return rows.length > 0;
}

/**
 * Puts `secret` in place. With a grace the current secret keeps signing until `previousUntil`, but
 * only while no earlier grace is running (null then: the caller tells a 404 from that 409).
 */
export async function replaceSecret(
  db: D1Database,
  organizationId: string,
  id: string,
  secret: string,
  previousUntil: number | null,
  now: number,
): Promise<WebhookEndpointRow | null> {
  const noGraceRunning = or(isNull(e.previousSecretUntil), lte(e.previousSecretUntil, now));
  const rows = await drizzle(db)
    .update(e)
    .set({
      previousSecret: previousUntil === null ? null : sql`${e.secret}`,
      previousSecretUntil: previousUntil,
      secret,
      updatedAt: now,
    })
    .where(previousUntil === null ? scoped(organizationId, id) : and(scoped(organizationId, id), noGraceRunning))
    .returning();
  return rows[0] ?? null;
}

/** What signs a delivery to an endpoint: its secrets and whether it still exists and is enabled. */
export async function endpointSigning(db: D1Database, organizationId: string, id: string) {
  const row = await drizzle(db)
    .select({ secret: e.secret, previousSecret: e.previousSecret, previousSecretUntil: e.previousSecretUntil, enabled: e.enabled })
    .from(e)
    .where(scoped(organizationId, id))
    .get();
  return row ?? null;
}
