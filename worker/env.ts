import type { RenderJobMessage } from "./jobs/messages";
import type { WebhookMessage } from "./webhooks/types";

/**
 * Bindings and configuration of the Worker (wrangler.toml [vars], secrets, bindings), as the runtime
 * hands them over. Configuration is read only through workerConfig (config.ts), which validates it.
 */
export interface Env {
  DB: D1Database;
  MEDIA: R2Bucket;
  JOBS: Queue<RenderJobMessage>;
  /** Status-callback deliveries (one message per delivery row; D1 holds the state). */
  WEBHOOKS: Queue<WebhookMessage>;
  RENDERER?: DurableObjectNamespace;

  /** Origin of signed links; falls back to the request's origin. */
  PUBLIC_BASE_URL?: string;
  /** With RENDERER_URL only: the origin that renderer uses to reach the internal routes (default PUBLIC_BASE_URL). */
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
  /** Days settled webhook deliveries stay in the delivery log before the cron deletes them (default 7). */
  DELIVERY_LOG_DAYS?: string;
  MAX_ATTEMPTS?: string;
  /** A renderer outside Cloudflare (local dev, tests); empty = the RENDERER Container. */
  RENDERER_URL?: string;
  /** How many named RENDERER Container instances jobs are spread over (the only source of that number). */
  RENDERER_INSTANCES?: string;
  /** Concurrent jobs per Container instance (its SLOTS). */
  RENDERER_SLOTS?: string;
  /** Split every VIDEO composition into parts this many seconds long (fan-out); unset: the cost model decides. */
  FANOUT_SEGMENT_SECONDS?: string;
  /** How long a Container's SIGTERM lets running jobs finish before they are handed back. */
  RENDERER_DRAIN_SECONDS?: string;
  ALLOW_LOOPBACK_CALLBACKS?: string;
  /** Derives the per-organization secret that signs deliveries to a request's callbackUrl. */
  WEBHOOK_SIGNING_SECRET?: string;
  /** Bytes per part of a multipart track upload, 5 MiB to 95 MiB (default 95 MiB: fewest requests). */
  UPLOAD_PART_SIZE?: string;
  /** R2's S3 API (all four, optional): uploads then also answer presigned part URLs straight to R2. */
  R2_ACCOUNT_ID?: string;
  R2_ACCESS_KEY_ID?: string;
  /** Secret. */
  R2_SECRET_ACCESS_KEY?: string;
  /** The MEDIA binding's bucket_name. */
  R2_BUCKET?: string;
}

export type AppEnv = { Bindings: Env; Variables: { requestId: string; principal: import("./auth/principal").Principal } };
