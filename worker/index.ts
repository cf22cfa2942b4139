import { Container } from "@cloudflare/containers";
import { createApp } from "./app";
import type { Env } from "./env";
import { handleCron, handleQueueBatch } from "./jobs/dispatch";
import type { RenderJobMessage } from "./jobs/messages";

const app = createApp();

/** The renderer image (container/Dockerfile) run as a Cloudflare Container; one instance per name. */
export class RendererContainer extends Container {
  override defaultPort = 8080;
  // Renders report progress every few seconds; an idle instance may sleep.
  override sleepAfter = "10m";
}

export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch<RenderJobMessage>, env: Env): Promise<void> {
    await handleQueueBatch(batch, env);
  },
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    ctx.waitUntil(handleCron(env));
  },
} satisfies ExportedHandler<Env, RenderJobMessage>;
