import type { Env } from "../env";
import type { WebhookMessage } from "./types";

export async function sendDelivery(env: Env, deliveryId: string, attempt: number, delaySeconds = 0, waits?: number): Promise<void> {
  const body: WebhookMessage = { kind: "deliver", deliveryId, attempt, ...(waits ? { waits } : {}) };
  await env.WEBHOOKS.send(body, delaySeconds > 0 ? { delaySeconds: Math.ceil(delaySeconds) } : undefined);
}
