import { workerConfig } from "../config";
import type { WebhookDeliveryRow } from "../db/schema";
import { endpointSigning } from "../db/webhook-endpoints";
import {
  findDelivery,
  hasPendingPredecessor,
  overdueDeliveries,
  pendingSuccessor,
  purgeSettled,
  settleAttempt,
  takeAttempt,
  type AttemptOutcome,
} from "../db/webhook-deliveries";
import type { Env } from "../env";
import { deliveryLogRetentionMs, inBoundedBatches } from "../retention";
import { sendDelivery } from "./queue";
import { callbackSecret, signatureHeaders } from "./signature";
import { loopbackAllowed, targetRefusal } from "./targets";
import type { WebhookMessage } from "./types";

export const DELIVERY_TIMEOUT_MS = 10_000;
/** Retries go on for this long after the event, then the delivery is marked dead. */
export const RETRY_WINDOW_MS = 24 * 3600_000;
/** A pending delivery this far past its due time has lost its queue message: the cron sends another. */
export const OVERDUE_MS = 2 * 60_000;
const USER_AGENT = "auvious-composition-webhooks/1.0";

/** 5 s, 10 s, 20 s … capped at an hour: about 30 attempts over the 24 h window. */
export function backoffSeconds(attempts: number): number {
  return Math.min(3600, 5 * 2 ** Math.max(0, attempts - 1));
}

/** Re-checks of a delivery waiting for an earlier event: 2, 4, 8 … 60 s (a settling predecessor also kicks it). */
function waitSeconds(waits: number): number {
  return Math.min(60, 2 * 2 ** waits);
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

async function secretFor(env: Env, d: WebhookDeliveryRow, now: number): Promise<Secret> {
  const refusal = targetRefusal(d.targetUrl, loopbackAllowed(env));
  if (refusal) return { refused: `the target is not allowed: it ${refusal}` };
  if (d.endpointId === null) {
    const callbackSigning = workerConfig(env).webhookSigningSecret;
    if (!callbackSigning) return { failed: "WEBHOOK_SIGNING_SECRET is not configured" };
    return { secrets: [await callbackSecret(callbackSigning, d.organizationId)] };
  }
  const ep = await endpointSigning(env.DB, d.organizationId, d.endpointId);
  if (!ep) return { refused: "the webhook endpoint was deleted" };
  if (!ep.enabled) return { refused: "the webhook endpoint is disabled" };
  const rotating = ep.previousSecret !== null && (ep.previousSecretUntil ?? 0) > now;
  return { secrets: rotating ? [ep.secret, ep.previousSecret!] : [ep.secret] };
}

/** The next event for the same target goes as soon as this one settles, instead of at its next re-check. */
async function kickSuccessor(env: Env, d: WebhookDeliveryRow): Promise<void> {
  const next = await pendingSuccessor(env.DB, d);
  if (next) await sendDelivery(env, next.id, next.attempts);
}

/** Records an attempt's outcome, conditional on the attempt count (a message that lost the claim cannot overwrite it). */
function settle(
  env: Env,
  d: WebhookDeliveryRow,
  attempts: number,
  status: AttemptOutcome["status"],
  result: Attempt,
  now: number,
  nextAt: number | null,
) {
  return settleAttempt(env.DB, d.id, attempts, { status, code: result.code, error: result.error, nextAt }, now);
}

async function post(doFetch: typeof fetch, d: WebhookDeliveryRow, headers: Record<string, string>): Promise<Attempt> {
  try {
    const res = await doFetch(d.targetUrl, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "user-agent": USER_AGENT },
      body: d.payload,
      // A redirect could lead anywhere (an internal address): it is a failed attempt, not followed.
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    const text = res.ok
      ? ""
      : await res.text().then(
          (t) => t.slice(0, 200),
          () => "",
        );
    if (res.ok) await res.body?.cancel();
    return { code: res.status, error: res.ok ? null : `HTTP ${res.status}${text ? `: ${text}` : ""}` };
  } catch (err) {
    const e = err as Error;
    const timedOut = e.name === "TimeoutError" || e.name === "AbortError";
    return {
      code: null,
      error: timedOut ? `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s` : `request failed: ${e.message}`.slice(0, 300),
    };
  }
}

/** One attempt at one delivery, in event order per (composition, target). */
export async function deliverOne(env: Env, msg: WebhookMessage, opts: DeliverOptions = {}): Promise<DeliveryOutcome> {
  const now = opts.now ?? Date.now();
  const d = await findDelivery(env.DB, msg.deliveryId);
  if (!d || d.status !== "pending") return "settled";
  if (msg.attempt !== d.attempts) return "stale";

  if (await hasPendingPredecessor(env.DB, d)) {
    const waits = msg.waits ?? 0;
    await sendDelivery(env, d.id, d.attempts, waitSeconds(waits), waits + 1);
    return "waiting";
  }

  const secret = await secretFor(env, d, now);
  if ("refused" in secret) {
    // Nothing is sent, so nothing counts as an attempt.
    if (await settle(env, d, d.attempts, "dead", { code: null, error: `not sent: ${secret.refused}` }, now, null))
      await kickSuccessor(env, d);
    return "dead";
  }
  // Of several messages for this delivery (a duplicate, a kick, a re-check) one takes the attempt; the
  // due time becomes its deadline, so if this consumer dies mid-attempt the cron sees it overdue.
  if (!(await takeAttempt(env.DB, d.id, d.attempts, now + DELIVERY_TIMEOUT_MS))) return "stale";
  const attempts = d.attempts + 1;

  const result =
    "failed" in secret
      ? { code: null, error: `not sent: ${secret.failed}` }
      : await post(opts.fetch ?? fetch, d, await signatureHeaders(secret.secrets, d.eventId, d.payload, now));
  if (result.code !== null && result.code >= 200 && result.code < 300) {
    await settle(env, d, attempts, "delivered", result, now, null);
    await kickSuccessor(env, d);
    return "delivered";
  }
  const deadline = d.createdAt + RETRY_WINDOW_MS;
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
export async function handleWebhookBatch(
  batch: MessageBatch<WebhookMessage>,
  env: Env,
  opts: DeliverOptions = {},
): Promise<DeliveryOutcome[]> {
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
 * crash mid-attempt), and forgets settled ones older than DELIVERY_LOG_DAYS, in bounded batches.
 * Pending ones are never purged: they settle (delivered or dead) within RETRY_WINDOW_MS.
 */
export async function sweepDeliveries(env: Env, now = Date.now()): Promise<number> {
  const overdue = await overdueDeliveries(env.DB, now - OVERDUE_MS, 100);
  for (const r of overdue) await sendDelivery(env, r.id, r.attempts);
  const before = now - deliveryLogRetentionMs(env);
  await inBoundedBatches((limit) => purgeSettled(env.DB, before, limit));
  return overdue.length;
}
