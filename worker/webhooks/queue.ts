import type { Env } from "../env";
import type { WebhookMessage } from "./types";

export async function sendDelivery(env: Env, deliveryId: string, attempt: number, delaySeconds = 0, waits?: number): Promise<void> {
  const body: WebhookMessage = { kind: "deliver", deliveryId, attempt, ...(waits ? { waits } : {}) };
  await env.WEBHOOKS.send(body, delaySeconds > 0 ? { delaySeconds: Math.ceil(delaySeconds) } : undefined);
}

/**
 * Queues the deliveries a transition wrote, once its batch is in. Never throws: a delivery that is
 * not queued is still recorded, and the cron's sweep sends it once overdue (deliver.ts).
 */
export async function queueDeliveries(env: Env, deliveryIds: string[]): Promise<void> {
  if (!deliveryIds.length) return;
  try {
    await env.WEBHOOKS.sendBatch(
      deliveryIds.map((deliveryId) => ({ body: { kind: "deliver", deliveryId, attempt: 0 } satisfies WebhookMessage })),
    );
  } catch (err) {
    console.error(JSON.stringify({ msg: "webhook deliveries not queued; the cron will send them", deliveryIds, error: String(err) }));
  }
}
