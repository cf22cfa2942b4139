import type { RenderJobMessage } from "./jobs/messages";
import type { WebhookMessage } from "./webhooks/types";

/** Bindings and configuration of the Worker (wrangler.toml [vars], secrets, bindings). */
export interface Env {
  DB: D1Database;
  MEDIA: R2Bucket;
  JOBS: Queue<RenderJobMessage>;
  /** Status-callback deliveries (one message per delivery row; D1 holds the state). */
  WEBHOOKS: Queue<WebhookMessage>;
  RENDERER?: DurableObjectNamespace;

  /** Origin used for links and renderer callbacks; falls back to the request's origin. */
  PUBLIC_BASE_URL?: string;
  /** Origin the renderer uses to reach the internal routes; defaults to PUBLIC_BASE_URL. */
  INTERNAL_BASE_URL?: string;
  JWKS_URL?: string;
  JWT_SECRET?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  ROLES_CLAIM?: string;
  ORG_CLAIM?: string;
  /** "kid:secret,kid:secret": the first signs new links, every one verifies. */
  MEDIA_SIGNING_KEYS?: string;
  LEASE_SECONDS?: string;
  MAX_ATTEMPTS?: string;
  RENDERER_URL?: string;
  RENDERER_INSTANCES?: string;
  ALLOW_LOOPBACK_CALLBACKS?: string;
  /** Derives the per-organization secret that signs deliveries to a request's callbackUrl. */
  WEBHOOK_SIGNING_SECRET?: string;
}

export type AppEnv = { Bindings: Env; Variables: { requestId: string; principal: import("./auth/principal").Principal } };
