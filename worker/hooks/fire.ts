import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { findCompositionById } from "../db/compositions";
import { exportability, findRecording, type Recording } from "../db/recordings";
import { hookRules, hookRuns, type HookRuleRow } from "../db/schema";
import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { wakeUp } from "../jobs/messages";
import { emitCompositionEvent } from "../webhooks/events";

/** `{conversationId}`, `{agentId}`, `{started}` filled in; the result always fits a composition name. */
export function renderName(template: string, rec: Recording): string {
  const values: Record<string, string> = {
    conversationId: rec.recording.conversationId,
    agentId: rec.recording.agentId ?? "",
    started: isoInstant(rec.recording.started),
  };
  const name = template.replace(/\{(\w+)\}/g, (all, key: string) => values[key] ?? all).trim().slice(0, 200);
  return name || rec.recording.conversationId;
}

/** The media a rule's composition needs is all in: every audio track (and for VIDEO every video track). */
export function mediaReady(rule: Pick<HookRuleRow, "type">, rec: Recording): boolean {
  const can = exportability(rec.tracks);
  if (rule.type === "AUDIO") return can.canExportAudio;
  return can.canExportVideo && (!can.audio || can.canExportAudio);
}

function agentMatches(rule: HookRuleRow, rec: Recording): boolean {
  if (rule.agentIds === null) return true;
  return rec.recording.agentId !== null && (JSON.parse(rule.agentIds) as string[]).includes(rec.recording.agentId);
}

/**
 * Creates the rule's composition unless one was made for this recording already. One D1 batch (a
 * transaction): the hook_runs row is claimed with ON CONFLICT DO NOTHING and the composition is
 * inserted only if the claim holds this attempt's id, so uploads racing each other, repeated or out
 * of order, make exactly one.
 */
async function runRule(env: Env, rule: HookRuleRow, rec: Recording, now: number): Promise<string | null> {
  const id = crypto.randomUUID();
  const { organizationId, conversationId } = rec.recording;
  const [, inserted] = await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO hook_runs (rule_id, organization_id, conversation_id, composition_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT DO NOTHING`,
    ).bind(rule.id, organizationId, conversationId, id, now),
    env.DB.prepare(
      `INSERT INTO compositions (id, organization_id, conversation_id, user_id, name, type, format, layout, resolution, priority, state,
         created_at, queued_at, updated_at, callback_url)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'GRID', ?8, ?9, 'QUEUED', ?10, ?10, ?10, ?11
       WHERE (SELECT composition_id FROM hook_runs WHERE rule_id = ?12 AND organization_id = ?2 AND conversation_id = ?3) = ?1`,
    ).bind(
      id, organizationId, conversationId, `hook:${rule.id}`, renderName(rule.nameTemplate, rec), rule.type,
      rule.type === "AUDIO" ? "MP3" : "MP4", rule.resolution, rule.priority, now, rule.callbackUrl, rule.id,
    ),
  ]);
  return inserted!.meta.changes === 1 ? id : null;
}

/**
 * Called whenever a recording's media may have become complete (a track stored, the metadata
 * replaced). Returns the ids of the compositions it created. Never throws: the upload that
 * triggered it has succeeded whatever happens here.
 */
export async function fireHooks(env: Env, organizationId: string, conversationId: string, now = Date.now()): Promise<string[]> {
  const created: string[] = [];
  try {
    const orm = drizzle(env.DB);
    const [rules, runs] = await orm.batch([
      orm.select().from(hookRules).where(and(eq(hookRules.organizationId, organizationId), eq(hookRules.enabled, true))).orderBy(asc(hookRules.createdAt), asc(hookRules.id)),
      orm.select({ ruleId: hookRuns.ruleId }).from(hookRuns).where(and(eq(hookRuns.organizationId, organizationId), eq(hookRuns.conversationId, conversationId))),
    ]);
    const done = new Set(runs.map((r) => r.ruleId));
    const pending = rules.filter((r) => !done.has(r.id));
    if (!pending.length) return created;
    const rec = await findRecording(env.DB, organizationId, conversationId);
    if (!rec) return created;
    for (const rule of pending) {
      if (!agentMatches(rule, rec) || !mediaReady(rule, rec)) continue;
      try {
        const id = await runRule(env, rule, rec, now);
        if (!id) continue;
        created.push(id);
        await wakeUp(env.JOBS, `hook ${rule.id}: ${id}`);
        const row = await findCompositionById(env.DB, id);
        if (row) await emitCompositionEvent(env, row, "composition.queued");
      } catch (err) {
        console.error(JSON.stringify({ msg: "composition hook failed", rule: rule.id, conversationId, error: String(err) }));
      }
    }
  } catch (err) {
    console.error(JSON.stringify({ msg: "composition hooks not evaluated", organizationId, conversationId, error: String(err) }));
  }
  return created;
}
