import { internalJobUrls } from "../../contract/renderer";
import type { Env } from "../env";

export const API_BASE = "/auvious.video/composition/api";

/**
 * The host a renderer Container calls for its job's inputs, output and reports. It resolves nowhere:
 * the Container's outbound handler (worker/container.ts) intercepts it and serves the request inside
 * this Worker with its bindings, so no public hostname is needed and none is exposed.
 */
export const RENDERER_OUTBOUND_HOST = "worker.internal";

/**
 * A renderer outside Cloudflare (local dev and tests: `RENDERER_URL`) reaches the Worker over plain
 * HTTP through the public router; otherwise the renderer is the RENDERER Container.
 */
export const rendererOutsideCloudflare = (env: Env): boolean => Boolean(env.RENDERER_URL);

export function jobSettings(env: Env) {
  return {
    leaseMs: Math.max(5, Number(env.LEASE_SECONDS ?? "120")) * 1000,
    maxAttempts: Math.max(1, Number(env.MAX_ATTEMPTS ?? "3")),
  };
}

/** Where the renderer reaches the Worker's internal routes. */
function internalOrigin(env: Env): string {
  if (!rendererOutsideCloudflare(env)) return `http://${RENDERER_OUTBOUND_HOST}`;
  // Dispatch runs in the queue consumer, with no request to take an origin from: a renderer outside
  // Cloudflare has to be told where the Worker listens (scripts/stack.ts always says).
  const origin = (env.INTERNAL_BASE_URL || env.PUBLIC_BASE_URL || "").replace(/\/$/, "");
  if (!origin) throw new Error("RENDERER_URL is set, so INTERNAL_BASE_URL or PUBLIC_BASE_URL must say where that renderer reaches the Worker");
  return origin;
}

/** Where the renderer reads inputs and reports: the Worker's own internal routes. */
export function internalUrls(env: Env, jobId: string) {
  return internalJobUrls(`${internalOrigin(env)}${API_BASE}`, jobId);
}
