import { formatOf } from "../../contract/formats";
import { insertHookComposition, rulesNotRun } from "../db/hooks";
import { exportability, findRecording, type Recording } from "../db/recordings";
import type { HookRuleRow } from "../db/schema";
import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { wakeUp } from "../jobs/messages";
import { announcer } from "../webhooks/events";
import { queueDeliveries } from "../webhooks/queue";

/** `{conversationId}`, `{agentId}`, `{started}` filled in; the result always fits a composition name. */
export function renderName(template: string, rec: Recording): string {
  const values: Record<string, string> = {
    conversationId: rec.recording.conversationId,
    agentId: rec.recording.agentId ?? "",
    started: isoInstant(rec.recording.started),
  };
  const name = template
    .replace(/\{(\w+)\}/g, (all, key: string) => values[key] ?? all)
    .trim()
    .slice(0, 200);
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

/** Creates the rule's composition (QUEUED, with its `queued` event) unless it made one for this recording already. */
async function runRule(env: Env, rule: HookRuleRow, rec: Recording, now: number): Promise<{ id: string; deliveries: string[] } | null> {
  const id = crypto.randomUUID();
  const { organizationId, conversationId } = rec.recording;
  const deliveries = await insertHookComposition(
    env.DB,
    rule.id,
    {
      id,
      organizationId,
      conversationId,
      userId: `hook:${rule.id}`,
      name: renderName(rule.nameTemplate, rec),
      type: rule.type,
      format: formatOf(rule.type),
      layout: "GRID",
      resolution: rule.resolution,
      priority: rule.priority,
      state: "QUEUED",
      createdAt: now,
      queuedAt: now,
      updatedAt: now,
      callbackUrl: rule.callbackUrl,
    },
    announcer(env),
  );
  return deliveries ? { id, deliveries } : null;
}

/**
 * Called whenever a recording's media may have become complete (a track stored, the metadata
 * replaced). Returns the ids of the compositions it created. Never throws: the upload that
 * triggered it has succeeded whatever happens here.
 */
export async function fireHooks(env: Env, organizationId: string, conversationId: string, now = Date.now()): Promise<string[]> {
  const created: string[] = [];
  try {
    const pending = await rulesNotRun(env.DB, organizationId, conversationId);
    if (!pending.length) return created;
    const rec = await findRecording(env.DB, organizationId, conversationId);
    if (!rec) return created;
    for (const rule of pending) {
      if (!agentMatches(rule, rec) || !mediaReady(rule, rec)) continue;
      try {
        const made = await runRule(env, rule, rec, now);
        if (!made) continue;
        created.push(made.id);
        // Wake-ups only once the row and its `queued` are in: a consumer that runs at once numbers `started` after it.
        await queueDeliveries(env, made.deliveries);
        await wakeUp(env.JOBS, `hook ${rule.id}: ${made.id}`);
      } catch (err) {
        console.error(JSON.stringify({ msg: "composition hook failed", rule: rule.id, conversationId, error: String(err) }));
      }
    }
  } catch (err) {
    console.error(JSON.stringify({ msg: "composition hooks not evaluated", organizationId, conversationId, error: String(err) }));
  }
  return created;
}
