import { eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { linkRevocations } from "./schema";

/** Records a revocation at `at` (epoch ms); a later instant never moves back (two revokes race). */
export async function revokeLinks(db: D1Database, organizationId: string, compositionId: string, at: number): Promise<number> {
  const rows = await drizzle(db)
    .insert(linkRevocations)
    .values({ compositionId, organizationId, revokedAt: at })
    .onConflictDoUpdate({
      target: linkRevocations.compositionId,
      set: { revokedAt: sql`max(${linkRevocations.revokedAt}, excluded.revoked_at)` },
    })
    .returning({ revokedAt: linkRevocations.revokedAt });
  return rows[0]!.revokedAt;
}

/** When the composition's links were last revoked (epoch ms), or null if never. */
export async function linksRevokedAt(db: D1Database, compositionId: string): Promise<number | null> {
  const rows = await drizzle(db)
    .select({ revokedAt: linkRevocations.revokedAt })
    .from(linkRevocations)
    .where(eq(linkRevocations.compositionId, compositionId));
  return rows[0]?.revokedAt ?? null;
}
