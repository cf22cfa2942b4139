import type { CompositionRow } from "../db/schema";
import type { Env } from "../env";
import { isoDuration, isoInstant } from "../http/format";
import { signLink } from "../media/links";
import type { EventType, WebhookMessage } from "./types";

/** Links in a completed event last a day: a receiver may act on it late, but not for the 7-day maximum. */
export const EVENT_LINK_SECONDS = 86_400;

/** composition.progress: at most one per PROGRESS_MIN_MS and per PROGRESS_MIN_STEP percent. */
export const PROGRESS_MIN_MS = 5_000;
export const PROGRESS_MIN_STEP = 10;

interface Target {
  endpointId: string | null;
  url: string;
}

/**
 * Receivers are outside the service: renderer errors can quote internal job URLs or tokens, so
 * anything URL- or token-shaped is masked before it leaves.
 */
export function redact(text: string | null): string | null {
  if (text === null) return null;
  return text
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>)]+/gi, "[url]")
    .replace(/\b(Bearer|token|secret|signature)([=:\s]+)[\w.~+/=-]{8,}/gi, "$1$2[redacted]");
}

async function completedLinks(env: Env, row: CompositionRow) {
  // Only the public origin may appear; without one there is no link a receiver could use.
  const origin = (env.PUBLIC_BASE_URL ?? "").replace(/\/$/, "");
  if (!origin || !row.outputKey) return null;
  const [inline, attachment] = await Promise.all([
    signLink(env, row, "inline", EVENT_LINK_SECONDS, origin),
    signLink(env, row, "attachment", EVENT_LINK_SECONDS, origin),
  ]);
  return { inline, attachment };
}

/** The event's `data`: what the query API shows of the composition, never keys, tokens or hosts. */
export async function eventData(env: Env, row: CompositionRow, type: EventType): Promise<Record<string, unknown>> {
  return {
    conversationId: row.conversationId,
    id: row.id,
    name: row.name,
    state: row.state,
    type: row.type,
    format: row.format,
    progress: row.progress,
    duration: row.durationMs === null ? null : isoDuration(row.durationMs),
    error: redact(row.error),
    created: isoInstant(row.createdAt),
    completed: row.completedAt === null ? null : isoInstant(row.completedAt),
    ...(type === "composition.completed" ? { size: row.outputSize, links: await completedLinks(env, row) } : {}),
  };
}

async function targetsFor(env: Env, row: CompositionRow, type: EventType): Promise<Target[]> {
  const targets: Target[] = row.callbackUrl ? [{ endpointId: null, url: row.callbackUrl }] : [];
  const { results } = await env.DB.prepare(`SELECT id, url, events FROM webhook_endpoints WHERE organization_id = ?1 AND enabled = 1 ORDER BY created_at, id`)
    .bind(row.organizationId)
    .all<{ id: string; url: string; events: string | null }>();
  for (const e of results) {
    if (e.events === null || (JSON.parse(e.events) as string[]).includes(type)) targets.push({ endpointId: e.id, url: e.url });
  }
  return targets;
}

/** 32 hex digits derived from `key`: a deterministic event id of the usual shape. */
async function hex32(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * "started" for the attempt a row is in. A render can report before the dispatcher has recorded
 * its start, so the progress, completion and failure reports emit it too, first: whichever comes
 * first numbers it, and receivers always see started before the rest of the attempt.
 */
export function emitStarted(env: Env, row: CompositionRow): Promise<string | null> {
  // Every claim has its own lease token (attempts restart at 0 on re-execute); the id is a hash of
  // it, so the token itself never leaves.
  return emitCompositionEvent(env, row, "composition.started", {}, Date.now(), `started_${row.id}_${row.leaseToken}`);
}

/**
 * Records one event for every target (one row each, one shared event id so receivers can dedupe)
 * and queues their deliveries. The seq is taken inside the batch, so concurrent events of one
 * composition still get distinct, increasing numbers. Never throws: a transition has already
 * happened and must not be undone by a notification problem. With `once`, the event id is that
 * key and a second emit of it records nothing.
 */
export async function emitCompositionEvent(
  env: Env,
  row: CompositionRow,
  type: EventType,
  extra: Record<string, unknown> = {},
  now = Date.now(),
  once?: string,
): Promise<string | null> {
  try {
    const targets = await targetsFor(env, row, type);
    if (!targets.length) return null;
    const eventId = `evt_${once ? await hex32(once) : crypto.randomUUID().replace(/-/g, "")}`;
    const payload = JSON.stringify({ type, timestamp: isoInstant(now), data: { ...(await eventData(env, row, type)), ...extra } });
    const ids = targets.map(() => crypto.randomUUID());
    const insert = (seq: string) =>
      env.DB.prepare(
        `INSERT INTO webhook_deliveries (id, event_id, organization_id, composition_id, conversation_id, endpoint_id, target_url, type,
           payload, seq, status, attempts, created_at, next_attempt_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ${seq}, 'pending', 0, ?10, ?10
         WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE event_id = ?2 AND target_url = ?7 AND endpoint_id IS ?6)`,
      );
    const fresh = `COALESCE((SELECT MAX(seq) FROM webhook_deliveries WHERE composition_id = ?4), 0) + 1`;
    const same = `(SELECT seq FROM webhook_deliveries WHERE event_id = ?2 LIMIT 1)`;
    const results = await env.DB.batch(
      targets.map((t, i) =>
        insert(i > 0 ? same : once ? `COALESCE(${same}, ${fresh})` : fresh).bind(ids[i], eventId, row.organizationId, row.id, row.conversationId, t.endpointId, t.url, type, payload, now),
      ),
    );
    const queued = ids.filter((_, i) => (results[i]?.meta.changes ?? 1) > 0);
    if (!queued.length) return eventId;
    try {
      await env.WEBHOOKS.sendBatch(queued.map((deliveryId) => ({ body: { kind: "deliver", deliveryId, attempt: 0 } satisfies WebhookMessage })));
    } catch (err) {
      // Recorded but not queued: the cron's sweep sends overdue deliveries (deliver.ts).
      console.error(JSON.stringify({ msg: "webhook deliveries not queued; the cron will send them", type, id: row.id, error: String(err) }));
    }
    return eventId;
  } catch (err) {
    console.error(JSON.stringify({ msg: "webhook event not recorded", type, id: row.id, error: String(err) }));
    return null;
  }
}

/**
 * composition.progress after a heartbeat, throttled in time and in steps. The conditional UPDATE
 * claims the slot, so two reports racing each other cannot both send one. A new attempt (its
 * started_at is later than the last event) starts the throttle afresh.
 */
export async function emitProgressIfDue(env: Env, row: CompositionRow, leaseToken: string, now = Date.now()): Promise<string | null> {
  try {
    const fresh = row.progressEventAt === null || row.startedAt === null || row.progressEventAt < row.startedAt;
    const lastValue = fresh ? 0 : (row.progressEventValue ?? 0);
    const lastAt = fresh ? row.startedAt : row.progressEventAt;
    if (lastAt === null || row.progress < lastValue + PROGRESS_MIN_STEP || now < lastAt + PROGRESS_MIN_MS) return null;
    const claimed = await env.DB.prepare(
      `UPDATE compositions SET progress_event_at = ?3, progress_event_value = progress
       WHERE id = ?1 AND lease_token = ?2 AND state = 'PROCESSING' AND started_at IS NOT NULL
         AND progress >= (CASE WHEN progress_event_at IS NULL OR progress_event_at < started_at THEN 0 ELSE progress_event_value END) + ?4
         AND ?3 >= (CASE WHEN progress_event_at IS NULL OR progress_event_at < started_at THEN started_at ELSE progress_event_at END) + ?5`,
    )
      .bind(row.id, leaseToken, now, PROGRESS_MIN_STEP, PROGRESS_MIN_MS)
      .run();
    if (claimed.meta.changes !== 1) return null;
    // A report can overtake the dispatcher's "started" (a slow start() answer): started goes first.
    await emitStarted(env, row);
    return await emitCompositionEvent(env, { ...row, progressEventAt: now, progressEventValue: row.progress }, "composition.progress", {}, now);
  } catch (err) {
    console.error(JSON.stringify({ msg: "progress event failed", id: row.id, error: String(err) }));
    return null;
  }
}
