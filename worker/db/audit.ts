import { and, eq, isNotNull, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { compositions as c, tracks } from "./schema";

/**
 * What an organization's rows refer to in storage, read in one batch (one snapshot): stored tracks'
 * media, and the compositions with an output or a render in flight (its run's output key).
 */
export async function storageReferences(db: D1Database, organizationId: string) {
  const orm = drizzle(db);
  const [trackKeys, outputs] = await orm.batch([
    orm
      .select({ mediaKey: tracks.mediaKey })
      .from(tracks)
      .where(and(eq(tracks.organizationId, organizationId), isNotNull(tracks.mediaKey))),
    orm
      .select({
        id: c.id,
        organizationId: c.organizationId,
        conversationId: c.conversationId,
        format: c.format,
        state: c.state,
        outputKey: c.outputKey,
        leaseToken: c.leaseToken,
      })
      .from(c)
      .where(
        and(eq(c.organizationId, organizationId), or(isNotNull(c.outputKey), and(eq(c.state, "PROCESSING"), isNotNull(c.leaseToken)))),
      ),
  ]);
  return { trackKeys: trackKeys.flatMap((t) => (t.mediaKey ? [t.mediaKey] : [])), compositions: outputs };
}
