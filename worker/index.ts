import { createApp } from "./app";
import { workerConfig } from "./config";
import { benchBaseline, benchBaselineEnabled } from "./bench-baseline";
import type { Env } from "./env";
import { handleCron, handleQueueBatch } from "./jobs/dispatch";
import type { RenderJobMessage } from "./jobs/messages";
import { applyRetention } from "./jobs/retention-run";
import { forgetExpiredUploads } from "./recordings/uploads";
import { handleWebhookBatch, sweepDeliveries } from "./webhooks/deliver";
import { WEBHOOKS_QUEUE, type WebhookMessage } from "./webhooks/types";

export { RendererContainer } from "./container";
// The Container class routes the renderer's outbound HTTP (worker.internal) through this entrypoint;
// it looks it up in ctx.exports, so the main module must export it.
export { ContainerProxy } from "@cloudflare/containers";

const app = createApp();

export default {
  fetch: (request, env, ctx) => (benchBaselineEnabled(env, request) ? benchBaseline.fetch(request) : app.fetch(request, env, ctx)),
  async queue(batch: MessageBatch<RenderJobMessage | WebhookMessage>, env: Env): Promise<void> {
    // A bad configuration throws here, naming the variable: the batch is retried, not half-handled.
    workerConfig(env);
    // One Worker consumes both queues; the batch says which one it came from.
    if (batch.queue === WEBHOOKS_QUEUE) await handleWebhookBatch(batch as MessageBatch<WebhookMessage>, env);
    else await handleQueueBatch(batch as MessageBatch<RenderJobMessage>, env);
  },
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    workerConfig(env);
    ctx.waitUntil(handleCron(env));
    ctx.waitUntil(sweepDeliveries(env));
    ctx.waitUntil(forgetExpiredUploads(env));
    ctx.waitUntil(applyRetention(env));
  },
} satisfies ExportedHandler<Env, RenderJobMessage | WebhookMessage>;
