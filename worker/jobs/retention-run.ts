import { activeRetentionPolicies, appendAudit } from "../db/compliance";
import { deleteRecording, expiredCompositions, expiredRecordings } from "../db/retention";
import type { RetentionPolicyRow } from "../db/schema";
import { deleteSettled } from "../db/transitions";
import type { Env } from "../env";
import { announcer } from "../webhooks/events";
import { queueDeliveries } from "../webhooks/queue";
import { cleanupOutputs } from "./outputs";

// The cron's retention pass: what each organization's policy has made due is deleted, rows first
// (each delete re-checks the hold), then the objects, so a hold placed meanwhile never loses media.
// Bounded per tick; what is left waits for the next minute.

export const RETENTION_BATCH = 100;

async function purgeCompositions(env: Env, policy: RetentionPolicyRow, now: number): Promise<string[]> {
  if (policy.compositionsMs === null) return [];
  const due = await expiredCompositions(env.DB, policy.organizationId, now - policy.compositionsMs, RETENTION_BATCH);
  const deleted: string[] = [];
  for (const row of due) {
    const deliveries = await deleteSettled(env.DB, row, now, announcer(env));
    if (!deliveries) continue;
    await cleanupOutputs(env, row, true);
    await queueDeliveries(env, deliveries);
    deleted.push(row.id);
  }
  return deleted;
}

async function purgeRecordings(env: Env, policy: RetentionPolicyRow, now: number): Promise<string[]> {
  if (policy.recordingsMs === null) return [];
  const due = await expiredRecordings(env.DB, policy.organizationId, now - policy.recordingsMs, RETENTION_BATCH);
  const deleted: string[] = [];
  for (const { conversationId, mediaKeys } of due) {
    if (!(await deleteRecording(env.DB, policy.organizationId, conversationId))) continue;
    if (mediaKeys.length) await env.MEDIA.delete(mediaKeys);
    deleted.push(conversationId);
  }
  return deleted;
}

/** One retention pass over every organization with a policy; returns how much it deleted. */
export async function applyRetention(env: Env, now = Date.now()): Promise<{ compositions: number; recordings: number }> {
  const totals = { compositions: 0, recordings: 0 };
  for (const policy of await activeRetentionPolicies(env.DB)) {
    const compositions = await purgeCompositions(env, policy, now);
    const recordings = await purgeRecordings(env, policy, now);
    if (!compositions.length && !recordings.length) continue;
    await appendAudit(env.DB, {
      organizationId: policy.organizationId,
      at: now,
      actorSub: "retention",
      actorRole: "SYSTEM",
      action: "retention.deleted",
      conversationId: null,
      compositionId: null,
      details: { policy: { compositions: policy.compositions, recordings: policy.recordings }, compositions, recordings },
    });
    totals.compositions += compositions.length;
    totals.recordings += recordings.length;
  }
  return totals;
}
