import type { Env } from "../env";
import { sendDelivery } from "./queue";
import { callbackSecret, signatureHeaders } from "./signature";
import { loopbackAllowed, targetRefusal } from "./targets";
import type { WebhookMessage } from "./types";

export const DELIVERY_TIMEOUT_MS = 10_000;
/** Retries go on for this long after the event, then the delivery is marked dead. */
export const RETRY_WINDOW_MS = 24 * 3600_000;
/** A pending delivery this far past its due time has lost its queue message: the cron sends another. */
export const OVERDUE_MS = 2 * 60_000;
/** Settled deliveries are kept this long for the delivery log. */
export const RETENTION_MS = 30 * 24 * 3600_000;
const USER_AGENT = "auvious-composition-webhooks/1.0";

/** 5 s, 10 s, 20 s … capped at an hour: about 30 attempts over the 24 h window. */
export function backoffSeconds(attempts: number): number {
  return Math.min(3600, 5 * 2 ** Math.max(0, attempts - 1));
}

/** Re-checks of a delivery waiting for an earlier event: 2, 4, 8 … 60 s (a settling predecessor also kicks it). */
function waitSeconds(waits: number): number {
  return Math.min(60, 2 * 2 ** waits);
}

interface Delivery {
  id: string;
  event_id: string;
  organization_id: string;
  composition_id: string;
  endpoint_id: string | null;
  target_url: string;
  payload: string;
  seq: number;
  status: string;
  attempts: number;
  created_at: number;
}

export interface DeliverOptions {
  /** The HTTP client (tests pass a fake receiver). */
  fetch?: typeof fetch;
  now?: number;
}

export type DeliveryOutcome = "delivered" | "retrying" | "dead" | "waiting" | "settled" | "stale";

type Attempt = { code: number | null; error: string | null };

/** Secrets to sign with, a reason never to send (dead at once), or a problem that may pass (retried). */
type Secret = { secrets: string[] } | { refused: string } | { failed: string };

async function secretFor(env: Env, d: Delivery, now: number): Promise<Secret> {
  const refusal = targetRefusal(d.target_url, loopbackAllowed(env));
  if (refusal) return { refused: `the target is not allowed: it ${refusal}` };
  if (d.endpoint_id === null) {
    if (!env.WEBHOOK_SIGNING_SECRET) return { failed: "WEBHOOK_SIGNING_SECRET is not configured" };
    return { secrets: [await callbackSecret(env.WEBHOOK_SIGNING_SECRET, d.organization_id)] };
  }
  const ep = await env.DB.prepare(
    `SELECT secret, previous_secret, previous_secret_until, enabled FROM webhook_endpoints WHERE id = ?1 AND organization_id = ?2`,
  )
    .bind(d.endpoint_id, d.organization_id)
    .first<{ secret: string; previous_secret: string | null; previous_secret_until: number | null; enabled: number }>();
  if (!ep) return { refused: "the webhook endpoint was deleted" };
  if (!ep.enabled) return { refused: "the webhook endpoint is disabled" };
  const rotating = ep.previous_secret !== null && (ep.previous_secret_until ?? 0) > now;
  return { secrets: rotating ? [ep.secret, ep.previous_secret!] : [ep.secret] };
}

/** The next event for the same target goes as soon as this one settles, instead of at its next re-check. */
async function kickSuccessor(env: Env, d: Delivery): Promise<void> {
  const next = await env.DB.prepare(
    `SELECT id, attempts FROM webhook_deliveries WHERE composition_id = ?1 AND target_url = ?2 AND status = 'pending' AND seq > ?3
     ORDER BY seq, created_at LIMIT 1`,
  )
    .bind(d.composition_id, d.target_url, d.seq)
    .first<{ id: string; attempts: number }>();
  if (next) await sendDelivery(env, next.id, next.attempts);
}

/**
 * Takes attempt n+1 for this message. Only one of several messages for the same delivery (a
 * duplicate, a kick and a re-check) wins, so no attempt is ever made twice. The due time becomes
 * the attempt's deadline: if this consumer dies mid-attempt, the cron sees it overdue.
 */
async function claim(env: Env, d: Delivery, now: number): Promise<boolean> {
  const res = await env.DB.prepare(
    `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?3 WHERE id = ?1 AND status = 'pending' AND attempts = ?2`,
  )
    .bind(d.id, d.attempts, now + DELIVERY_TIMEOUT_MS)
    .run();
  return res.meta.changes === 1;
}

/** Conditional on the attempt count, so a message that lost the claim can never overwrite the outcome. */
async function settle(env: Env, d: Delivery, attempts: number, status: "pending" | "delivered" | "dead", result: Attempt, now: number, nextAt: number | null) {
  const res = await env.DB.prepare(
    `UPDATE webhook_deliveries SET status = ?3, last_status = ?4, last_error = ?5, next_attempt_at = ?6,
       delivered_at = CASE WHEN ?3 = 'delivered' THEN ?7 ELSE delivered_at END
     WHERE id = ?1 AND status = 'pending' AND attempts = ?2`,
  )
    .bind(d.id, attempts, status, result.code, result.error, nextAt, now)
    .run();
  return res.meta.changes === 1;
}

async function post(doFetch: typeof fetch, d: Delivery, headers: Record<string, string>): Promise<Attempt> {
  try {
    const res = await doFetch(d.target_url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "user-agent": USER_AGENT },
      body: d.payload,
      // A redirect could lead anywhere (an internal address): it is a failed attempt, not followed.
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    const text = res.ok ? "" : await res.text().then((t) => t.slice(0, 200), () => "");
    if (res.ok) await res.body?.cancel();
    return { code: res.status, error: res.ok ? null : `HTTP ${res.status}${text ? `: ${text}` : ""}` };
  } catch (err) {
    const e = err as Error;
    const timedOut = e.name === "TimeoutError" || e.name === "AbortError";
    return { code: null, error: timedOut ? `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s` : `request failed: ${e.message}`.slice(0, 300) };
  }
}

/** One attempt at one delivery, in event order per (composition, target). */
export async function deliverOne(env: Env, msg: WebhookMessage, opts: DeliverOptions = {}): Promise<DeliveryOutcome> {
  const now = opts.now ?? Date.now();
  const d = await env.DB.prepare(`SELECT * FROM webhook_deliveries WHERE id = ?1`).bind(msg.deliveryId).first<Delivery>();
  if (!d || d.status !== "pending") return "settled";
  if (msg.attempt !== d.attempts) return "stale";

  const blocked = await env.DB.prepare(
    `SELECT 1 AS b FROM webhook_deliveries WHERE composition_id = ?1 AND target_url = ?2 AND seq < ?3 AND status = 'pending' LIMIT 1`,
  )
    .bind(d.composition_id, d.target_url, d.seq)
    .first();
  if (blocked) {
    const waits = msg.waits ?? 0;
    await sendDelivery(env, d.id, d.attempts, waitSeconds(waits), waits + 1);
    return "waiting";
  }

  const secret = await secretFor(env, d, now);
  if ("refused" in secret) {
    // Nothing is sent, so nothing counts as an attempt.
    if (await settle(env, d, d.attempts, "dead", { code: null, error: `not sent: ${secret.refused}` }, now, null)) await kickSuccessor(env, d);
    return "dead";
  }
  if (!(await claim(env, d, now))) return "stale";
  const attempts = d.attempts + 1;

  const result =
    "failed" in secret
      ? { code: null, error: `not sent: ${secret.failed}` }
      : await post(opts.fetch ?? fetch, d, await signatureHeaders(secret.secrets, d.event_id, d.payload, now));
  if (result.code !== null && result.code >= 200 && result.code < 300) {
    await settle(env, d, attempts, "delivered", result, now, null);
    await kickSuccessor(env, d);
    return "delivered";
  }
  const deadline = d.created_at + RETRY_WINDOW_MS;
  if (now >= deadline) {
    await settle(env, d, attempts, "dead", result, now, null);
    await kickSuccessor(env, d);
    return "dead";
  }
  // The last retry lands on the deadline rather than up to an hour past it.
  const delay = Math.max(1, Math.min(backoffSeconds(attempts), (deadline - now) / 1000));
  await settle(env, d, attempts, "pending", result, now, now + delay * 1000);
  await sendDelivery(env, d.id, attempts, delay);
  return "retrying";
}

/** The WEBHOOKS consumer. Backoff lives in D1 and delayed re-sends; msg.retry is only for our own crashes. */
export async function handleWebhookBatch(batch: MessageBatch<WebhookMessage>, env: Env, opts: DeliverOptions = {}): Promise<DeliveryOutcome[]> {
  return Promise.all(
    batch.messages.map(async (msg) => {
      try {
        const outcome = await deliverOne(env, msg.body, opts);
        msg.ack();
        return outcome;
      } catch (err) {
        console.error(JSON.stringify({ msg: "webhook delivery crashed", deliveryId: msg.body.deliveryId, error: String(err) }));
        msg.retry({ delaySeconds: 10 });
        return "retrying" as const;
      }
    }),
  );
}

/**
 * Cron: re-queues deliveries at the head of their line that are long overdue (a lost message, a
 * crash mid-attempt), and forgets settled ones past the retention period.
 */
export async function sweepDeliveries(env: Env, now = Date.now()): Promise<number> {
  const { results } = await env.DB.prepare(
    `SELECT d.id, d.attempts FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at < ?1
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.composition_id = d.composition_id AND p.target_url = d.target_url
                       AND p.status = 'pending' AND p.seq < d.seq)
     LIMIT 100`,
  )
    .bind(now - OVERDUE_MS)
    .all<{ id: string; attempts: number }>();
  for (const r of results) await sendDelivery(env, r.id, r.attempts);
  await env.DB.prepare(`DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < ?1`).bind(now - RETENTION_MS).run();
  return results.length;
}
