import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { hookRules, hookRuns, type HookRuleRow } from "../db/schema";
import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { problem } from "../http/problem";
import { assertTarget } from "../webhooks/targets";

export const NAME_PLACEHOLDERS = ["conversationId", "agentId", "started"] as const;

/** Every rule is checked on every track upload of the organization: a bound keeps that cheap. */
export const MAX_RULES_PER_ORG = 50;

export interface RuleInput {
  type: "AUDIO" | "VIDEO";
  resolution: string;
  priority: number;
  nameTemplate: string;
  callbackUrl?: string | null;
  agentIds?: string[] | null;
  enabled: boolean;
}

export function ruleView(row: HookRuleRow) {
  return {
    id: row.id,
    type: row.type,
    resolution: row.resolution,
    priority: row.priority,
    nameTemplate: row.nameTemplate,
    callbackUrl: row.callbackUrl,
    agentIds: row.agentIds === null ? null : (JSON.parse(row.agentIds) as string[]),
    enabled: row.enabled,
    created: isoInstant(row.createdAt),
    updated: isoInstant(row.updatedAt),
  };
}

const agentIdsColumn = (ids: string[] | null | undefined) => (ids ? JSON.stringify([...new Set(ids)]) : null);
const scoped = (organizationId: string, id: string) => and(eq(hookRules.organizationId, organizationId), eq(hookRules.id, id));

export async function createRule(env: Env, organizationId: string, input: RuleInput, now = Date.now()) {
  assertTarget(env, input.callbackUrl, "body.callbackUrl");
  const row: HookRuleRow = {
    id: crypto.randomUUID(),
    organizationId,
    type: input.type,
    resolution: input.resolution,
    priority: input.priority,
    nameTemplate: input.nameTemplate,
    callbackUrl: input.callbackUrl ?? null,
    agentIds: agentIdsColumn(input.agentIds),
    enabled: input.enabled,
    createdAt: now,
    updatedAt: now,
  };
  const res = await env.DB.prepare(
    `INSERT INTO hook_rules (id, organization_id, type, resolution, priority, name_template, callback_url, agent_ids, enabled, created_at, updated_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10 WHERE (SELECT count(*) FROM hook_rules WHERE organization_id = ?2) < ?11`,
  )
    .bind(row.id, organizationId, row.type, row.resolution, row.priority, row.nameTemplate, row.callbackUrl, row.agentIds, row.enabled ? 1 : 0, now, MAX_RULES_PER_ORG)
    .run();
  if (res.meta.changes !== 1) throw problem.conflict(`An organization may have at most ${MAX_RULES_PER_ORG} composition hooks.`);
  return ruleView(row);
}

export async function listRules(db: D1Database, organizationId: string) {
  const rows = await drizzle(db).select().from(hookRules).where(eq(hookRules.organizationId, organizationId)).orderBy(asc(hookRules.createdAt), asc(hookRules.id));
  return rows.map(ruleView);
}

export async function getRule(db: D1Database, organizationId: string, id: string) {
  const rows = await drizzle(db).select().from(hookRules).where(scoped(organizationId, id));
  if (!rows[0]) throw problem.notFound(`No composition hook "${id}".`);
  return ruleView(rows[0]);
}

/** A changed rule applies to recordings completed from now on; compositions it already made stay. */
export async function updateRule(env: Env, organizationId: string, id: string, patch: Partial<RuleInput>, now = Date.now()) {
  assertTarget(env, patch.callbackUrl, "body.callbackUrl");
  const set: Partial<HookRuleRow> = { updatedAt: now };
  if (patch.type !== undefined) set.type = patch.type;
  if (patch.resolution !== undefined) set.resolution = patch.resolution;
  if (patch.priority !== undefined) set.priority = patch.priority;
  if (patch.nameTemplate !== undefined) set.nameTemplate = patch.nameTemplate;
  if (patch.callbackUrl !== undefined) set.callbackUrl = patch.callbackUrl;
  if (patch.agentIds !== undefined) set.agentIds = agentIdsColumn(patch.agentIds);
  if (patch.enabled !== undefined) set.enabled = patch.enabled;
  const rows = await drizzle(env.DB).update(hookRules).set(set).where(scoped(organizationId, id)).returning();
  if (!rows[0]) throw problem.notFound(`No composition hook "${id}".`);
  return ruleView(rows[0]);
}

export async function deleteRule(db: D1Database, organizationId: string, id: string) {
  const orm = drizzle(db);
  const [deleted] = await orm.batch([
    orm.delete(hookRules).where(scoped(organizationId, id)).returning({ id: hookRules.id }),
    orm.delete(hookRuns).where(and(eq(hookRuns.organizationId, organizationId), eq(hookRuns.ruleId, id))),
  ]);
  if (!deleted[0]) throw problem.notFound(`No composition hook "${id}".`);
}
