import { and, asc, count, eq, notExists, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { asInserted, compositionInsert, type NewComposition } from "./compositions";
import { insertWhere } from "./insert";
import { compositions, hookRules, hookRuns, type HookRuleRow } from "./schema";
import { eventInserts, writtenDeliveries, type Announce } from "./webhook-deliveries";

const scoped = (organizationId: string, id: string) => and(eq(hookRules.organizationId, organizationId), eq(hookRules.id, id));

/** Conditional insert: two concurrent creates cannot both slip under the organization's limit. */
export async function insertRuleWithin(db: D1Database, row: HookRuleRow, limit: number): Promise<boolean> {
  const orm = drizzle(db);
  const room = sql`(${orm.select({ n: count() }).from(hookRules).where(eq(hookRules.organizationId, row.organizationId))}) < ${limit}`;
  const written = await insertWhere(orm, hookRules, row, room).returning({ id: hookRules.id });
  return written.length === 1;
}

export function listRuleRows(db: D1Database, organizationId: string): Promise<HookRuleRow[]> {
  return drizzle(db)
    .select()
    .from(hookRules)
    .where(eq(hookRules.organizationId, organizationId))
    .orderBy(asc(hookRules.createdAt), asc(hookRules.id));
}

export async function findRule(db: D1Database, organizationId: string, id: string): Promise<HookRuleRow | null> {
  return (await drizzle(db).select().from(hookRules).where(scoped(organizationId, id)).get()) ?? null;
}

export async function updateRuleRow(
  db: D1Database,
  organizationId: string,
  id: string,
  set: Partial<HookRuleRow>,
): Promise<HookRuleRow | null> {
  const rows = await drizzle(db).update(hookRules).set(set).where(scoped(organizationId, id)).returning();
  return rows[0] ?? null;
}

/** The rule and its record of runs go together; compositions it made stay. */
export async function deleteRuleRow(db: D1Database, organizationId: string, id: string): Promise<boolean> {
  const orm = drizzle(db);
  const [deleted] = await orm.batch([
    orm.delete(hookRules).where(scoped(organizationId, id)).returning({ id: hookRules.id }),
    orm.delete(hookRuns).where(and(eq(hookRuns.organizationId, organizationId), eq(hookRuns.ruleId, id))),
  ]);
  return deleted.length > 0;
}

/** The organization's enabled rules that have not yet made a composition of this recording. */
export function rulesNotRun(db: D1Database, organizationId: string, conversationId: string): Promise<HookRuleRow[]> {
  const orm = drizzle(db);
  const ran = orm
    .select({ one: sql`1` })
    .from(hookRuns)
    .where(
      and(eq(hookRuns.ruleId, hookRules.id), eq(hookRuns.organizationId, organizationId), eq(hookRuns.conversationId, conversationId)),
    );
  return orm
    .select()
    .from(hookRules)
    .where(and(eq(hookRules.organizationId, organizationId), eq(hookRules.enabled, true), notExists(ran)))
    .orderBy(asc(hookRules.createdAt), asc(hookRules.id));
}

/**
 * Creates a rule's composition unless one was made for this recording already, in one D1 batch (a
 * transaction): the hook_runs row is claimed with ON CONFLICT DO NOTHING, and the composition and
 * its `queued` event are written only if the claim holds this composition's id, so uploads racing
 * each other, repeated or out of order, make exactly one. Returns the deliveries to queue, or null
 * when the rule had already run.
 */
export async function insertHookComposition(
  db: D1Database,
  ruleId: string,
  row: NewComposition,
  announce: Announce,
): Promise<string[] | null> {
  const orm = drizzle(db);
  const run = {
    ruleId,
    organizationId: row.organizationId,
    conversationId: row.conversationId,
    compositionId: row.id,
    createdAt: row.createdAt,
  };
  const claimed: SQL = sql`(${orm
    .select({ id: hookRuns.compositionId })
    .from(hookRuns)
    .where(
      and(eq(hookRuns.ruleId, ruleId), eq(hookRuns.organizationId, run.organizationId), eq(hookRuns.conversationId, run.conversationId)),
    )}) = ${row.id}`;
  const event = await announce(asInserted(row), "composition.queued", row.createdAt);
  const [, inserted, ...written] = await orm.batch([
    orm.insert(hookRuns).values(run).onConflictDoNothing(),
    compositionInsert(orm, row, claimed),
    ...(event ? eventInserts(orm, event, undefined, sql`${compositions.progress}`) : []),
  ]);
  return inserted.length === 1 ? writtenDeliveries(written) : null;
}
