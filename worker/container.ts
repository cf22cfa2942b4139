import { Container, type OutboundHandler } from "@cloudflare/containers";
import { RENDERER_PATHS, type RendererHealth } from "../contract/renderer";
import { createRendererApp } from "./app";
import { workerConfig } from "./config";
import type { Env } from "./env";
import { RENDERER_OUTBOUND_HOST } from "./jobs/settings";

const rendererApp = createRendererApp();

/**
 * The renderer's calls to http://worker.internal/… (its job's track reads, output upload, reports),
 * served inside the Worker with its bindings by the same internal routes local renderers call over
 * HTTP. The lease token in each request stays the credential. (An outbound handler gets no
 * ExecutionContext; the internal routes need none.)
 */
export const serveRendererOutbound: OutboundHandler<Env> = (request, env) => rendererApp.fetch(request, env);

/** The renderer's answer to GET /health: busy while any job runs (a draining renderer included). */
export async function rendererBusy(health: () => Promise<Response>): Promise<boolean> {
  try {
    const res = await health();
    if (!res.ok) return false;
    const body = (await res.json()) as Partial<RendererHealth>;
    return (body.running?.length ?? 0) > 0;
  } catch {
    // Not answering at all: nothing a stop would lose that the lease does not already recover.
    return false;
  }
}

/** The renderer process's environment, from the Worker's [vars] (wrangler.toml says why each value). */
export function rendererEnvVars(env: Env): Record<string, string> {
  const { slots, drainSeconds } = workerConfig(env).renderer;
  return {
    // Concurrent jobs per instance, sized to the instance type.
    SLOTS: String(slots),
    // How long SIGTERM lets running jobs finish before handing them back (under the 15 min rollout grace).
    RENDERER_DRAIN_SECONDS: String(drainSeconds),
  };
}

const HEALTH_TIMEOUT_MS = 5000;

/** The renderer image (container/Dockerfile) run as a Cloudflare Container; one instance per name. */
export class RendererContainer extends Container<Env> {
  override defaultPort = 8080;
  // Idle this long (no dispatch, no cancel) and the instance may sleep, unless it still renders:
  // see onActivityExpired. Waking a sleeping one costs a cold start of a few seconds.
  override sleepAfter = "10m";
  // The renderer talks only to worker.internal (the outbound handler); nothing else may leave.
  override enableInternet = false;
  override envVars = rendererEnvVars(this.env);

  /**
   * A render's reports go through the outbound handler, which runs beside this Durable Object, not
   * in it, so they never renew its activity timeout: before sleeping, ask the renderer.
   */
  override async onActivityExpired(): Promise<void> {
    const port = this.ctx.container?.getTcpPort(this.defaultPort);
    const busy =
      port &&
      (await rendererBusy(() => port.fetch(`http://renderer${RENDERER_PATHS.health}`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })));
    if (busy) {
      this.renewActivityTimeout();
      return;
    }
    await super.onActivityExpired();
  }
}

RendererContainer.outboundByHost = { [RENDERER_OUTBOUND_HOST]: serveRendererOutbound };
