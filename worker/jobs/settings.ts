import { API_BASE_PATH, internalJobUrls, REDACTION_ROUTES, UNIT_ROUTES, unitPartUrl } from "../../contract/renderer";
import { workerConfig } from "../config";
import type { Env } from "../env";

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
export const rendererOutsideCloudflare = (env: Env): boolean => workerConfig(env).renderer.outside !== null;

export const jobSettings = (env: Env) => workerConfig(env).jobs;

/**
 * Where the renderer reaches the Worker's internal routes. Dispatch runs in the queue consumer, with
 * no request to take an origin from: a renderer outside Cloudflare is told where the Worker listens
 * (INTERNAL_BASE_URL or PUBLIC_BASE_URL; the configuration refuses RENDERER_URL without either).
 */
function internalOrigin(env: Env): string {
  return workerConfig(env).renderer.outside?.internalOrigin ?? `http://${RENDERER_OUTBOUND_HOST}`;
}

/** Where the renderer reads inputs and reports: the Worker's own internal routes. */
export function internalUrls(env: Env, jobId: string) {
  return internalJobUrls(`${internalOrigin(env)}${API_BASE_PATH}`, jobId);
}

/** The same for a source redaction's TRACK jobs. */
export function internalRedactionUrls(env: Env, redactionId: string) {
  return internalJobUrls(`${internalOrigin(env)}${API_BASE_PATH}`, redactionId, REDACTION_ROUTES);
}

/** The same for one unit of a split composition, with the URL its JOIN reads a part from. */
export function internalUnitUrls(env: Env, unitId: string) {
  const base = `${internalOrigin(env)}${API_BASE_PATH}`;
  return { ...internalJobUrls(base, unitId, UNIT_ROUTES), part: (partUnitId: string) => unitPartUrl(base, unitId, partUnitId) };
}
