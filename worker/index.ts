import { Container } from "@cloudflare/containers";
import { createApp } from "./app";
import { benchBaseline, benchBaselineEnabled } from "./bench-baseline";
import type { Env } from "./env";
import { handleCron, handleQueueBatch } from "./jobs/dispatch";
import type { RenderJobMessage } from "./jobs/messages";
import { handleWebhookBatch, sweepDeliveries } from "./webhooks/deliver";
import { WEBHOOKS_QUEUE, type WebhookMessage } from "./webhooks/types";

const app = createApp();

/** The renderer image (container/Dockerfile) run as a Cloudflare Container; one instance per name. */
export class RendererContainer extends Container {
  override defaultPort = 8080;
  // Renders report progress every few seconds; an idle instance may sleep.
  override sleepAfter = "10m";
}

export default {
  fetch: (request, env, ctx) => (benchBaselineEnabled(env, request) ? benchBaseline.fetch(request) : app.fetch(request, env, ctx)),
  async queue(batch: MessageBatch<RenderJobMessage | WebhookMessage>, env: Env): Promise<void> {
    // One Worker consumes both queues; the batch says which one it came from.
    if (batch.queue === WEBHOOKS_QUEUE) await handleWebhookBatch(batch as MessageBatch<WebhookMessage>, env);
    else await handleQueueBatch(batch as MessageBatch<RenderJobMessage>, env);
  },
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    ctx.waitUntil(handleCron(env));
    ctx.waitUntil(sweepDeliveries(env));
  },
} satisfies ExportedHandler<Env, RenderJobMessage | WebhookMessage>;
