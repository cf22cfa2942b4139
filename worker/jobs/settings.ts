import { internalJobUrls } from "../../contract/renderer";
import type { Env } from "../env";

export const API_BASE = "/auvious.video/composition/api";

export function jobSettings(env: Env) {
  return {
    leaseMs: Math.max(5, Number(env.LEASE_SECONDS ?? "30")) * 1000,
    maxAttempts: Math.max(1, Number(env.MAX_ATTEMPTS ?? "3")),
  };
}

/** Where the renderer reads inputs and reports: the Worker's own internal routes. */
export function internalUrls(env: Env, jobId: string) {
  const origin = (env.INTERNAL_BASE_URL || env.PUBLIC_BASE_URL || "").replace(/\/$/, "");
  if (!origin) throw new Error("INTERNAL_BASE_URL or PUBLIC_BASE_URL must be set for the renderer to reach the API");
  return internalJobUrls(`${origin}${API_BASE}`, jobId);
}
