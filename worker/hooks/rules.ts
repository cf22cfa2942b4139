import { deleteRuleRow, findRule, insertRuleWithin, listRuleRows, updateRuleRow } from "../db/hooks";
import type { HookRuleRow } from "../db/schema";
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
  if (!(await insertRuleWithin(env.DB, row, MAX_RULES_PER_ORG)))
    throw problem.conflict(`An organization may have at most ${MAX_RULES_PER_ORG} composition hooks.`);
  return ruleView(row);
}

export async function listRules(db: D1Database, organizationId: string) {
  return (await listRuleRows(db, organizationId)).map(ruleView);
}

export async function getRule(db: D1Database, organizationId: string, id: string) {
  const row = await findRule(db, organizationId, id);
  if (!row) throw problem.notFound(`No composition hook "${id}".`);
  return ruleView(row);
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
  const row = await updateRuleRow(env.DB, organizationId, id, set);
  if (!row) throw problem.notFound(`No composition hook "${id}".`);
  return ruleView(row);
}

export async function deleteRule(db: D1Database, organizationId: string, id: string) {
  if (!(await deleteRuleRow(db, organizationId, id))) throw problem.notFound(`No composition hook "${id}".`);
}
