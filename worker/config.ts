// The Worker's configuration (wrangler.toml [vars] and secrets), parsed with zod into one typed
// object. A Worker has no process start, so it is parsed on first use per env object and kept. A bad
// value throws a ConfigError naming the variable: every request answers it as a 500 problem and the
// queue consumer and cron throw it (worker/index.ts), instead of running on NaN leases or an empty
// renderer pool. Nothing outside this file reads a configuration variable from env.
import { z } from "zod";
import type { Env } from "./env";
import { parseSigningKeys, type SigningKey } from "./media/signing";
import { MAX_BODY_BYTES, MIN_PART_SIZE } from "./recordings/limits";
import type { S3Config } from "./recordings/presign";

export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface WorkerConfig {
  /** Origin of signed links (no trailing slash); null: the request's own origin, and no links in webhook events. */
  publicBaseUrl: string | null;
  auth: {
    jwksUrl: string | null;
    /** HS256, for dev and tests; ignored when jwksUrl is set. */
    jwtSecret: string | null;
    issuer: string | null;
    audience: string | null;
    /** Comma-separated claim paths, dots for nesting (`roles,realm_access.roles`). */
    rolesClaim: string;
    orgClaim: string;
  };
  jobs: { leaseMs: number; maxAttempts: number };
  renderer: {
    /** A renderer outside Cloudflare (local dev, tests) and where it reaches the Worker; null: the RENDERER Container. */
    outside: { urls: string[]; internalOrigin: string } | null;
    instances: number;
    slots: number;
    drainSeconds: number;
  };
  /** FANOUT_SEGMENT_SECONDS: split every VIDEO composition into parts this long; 0: never split; null: the cost model decides. */
  fanoutSegmentSeconds: number | null;
  allowLoopbackCallbacks: boolean;
  webhookSigningSecret: string | null;
  uploadPartSize: number;
  /** How long settled webhook deliveries stay in the delivery log (DELIVERY_LOG_DAYS, default 7). */
  deliveryLogMs: number;
  /** R2's S3 API credentials (all four), or null. */
  s3: S3Config | null;
  /**
   * The link signing keys, parsed on first use: a transition must not fail for want of them (a
   * completed event that cannot carry links is still recorded), but using them fails loudly.
   */
  signingKeys(): SigningKey[];
}

type Parsed<T> = { value: T } | { wrong: string };

/**
 * One variable: unset or empty (wrangler.toml's `""`) takes `fallback`. A number or boolean in
 * [vars] (`LEASE_SECONDS = 120` arrives as a number) reads as its text.
 */
function setting<T>(fallback: T, parse: (raw: string) => Parsed<NoInfer<T>>) {
  return z.unknown().transform((raw, ctx): T => {
    if (raw === undefined || raw === null) return fallback;
    const scalar = typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean";
    const value = scalar ? String(raw).trim() : null;
    if (value === "") return fallback;
    const parsed = value === null ? { wrong: "must be a string" } : parse(value);
    if ("value" in parsed) return parsed.value;
    ctx.addIssue({ code: "custom", message: parsed.wrong });
    return z.NEVER;
  });
}

const shown = (raw: string) => JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);

function wholeNumber(fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, unit = "") {
  const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
  return setting(fallback, (raw) => {
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    return n >= min && n <= max ? { value: n } : { wrong: `must be a whole number${unit} (${range}), not ${shown(raw)}` };
  });
}

/** An absolute http(s) URL; `originOnly` refuses a path, query or fragment (links append their own path). */
function httpUrl(originOnly: boolean, example: string) {
  return setting<string | null>(null, (raw) => {
    const wrong = { wrong: `must be an http(s) ${originOnly ? "origin" : "URL"} such as ${example}, not ${shown(raw)}` };
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return wrong;
    }
    if (!/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) return wrong;
    if (originOnly && url.pathname !== "/") return { wrong: `must be an origin without a path, such as ${example}, not ${shown(raw)}` };
    return { value: originOnly ? url.origin : raw.replace(/\/+$/, "") };
  });
}

/** One or more http(s) URLs, comma-separated (several renderer processes in local dev). */
function httpUrls(example: string) {
  const one = httpUrl(false, example);
  return setting<string[] | null>(null, (raw) => {
    const urls: string[] = [];
    for (const part of raw.split(",").map((p) => p.trim())) {
      const parsed = one.safeParse(part);
      if (!parsed.success || !parsed.data) return { wrong: parsed.error?.issues[0]?.message ?? `must be http(s) URLs such as ${example}` };
      urls.push(parsed.data);
    }
    return { value: urls };
  });
}

/** A positive number of days (fractions allowed: tests and small deployments keep hours). */
const days = (fallback: number) =>
  setting(fallback, (raw) => {
    const n = Number(raw);
    return Number.isFinite(n) && n > 0 ? { value: n } : { wrong: `must be a positive number of days, not ${shown(raw)}` };
  });

const boolean = setting(false, (raw) =>
  raw === "true" || raw === "false" ? { value: raw === "true" } : { wrong: `must be "true" or "false", not ${shown(raw)}` },
);

const text = setting<string | null>(null, (raw) => ({ value: raw }));

/** Claim paths: at least one non-empty name. */
const claimPaths = (fallback: string) =>
  setting(fallback, (raw) =>
    raw.split(",").some((p) => p.trim()) ? { value: raw } : { wrong: `must name at least one claim, not ${shown(raw)}` },
  );

const S3_VARS = ["R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET"] as const;

const Schema = z
  .object({
    PUBLIC_BASE_URL: httpUrl(true, "https://compositions.example.com"),
    INTERNAL_BASE_URL: httpUrl(true, "http://10.0.0.2:8787"),
    RENDERER_URL: httpUrls("http://127.0.0.1:8788"),
    JWKS_URL: httpUrl(false, "https://idp.example/.well-known/jwks.json"),
    JWT_SECRET: text,
    JWT_ISSUER: text,
    JWT_AUDIENCE: text,
    ROLES_CLAIM: claimPaths("roles"),
    ORG_CLAIM: claimPaths("org"),
    // The renderer heartbeats every 5 s (contract/renderer.ts): a shorter lease would lapse between beats.
    LEASE_SECONDS: wholeNumber(120, 5, Number.MAX_SAFE_INTEGER, " of seconds"),
    MAX_ATTEMPTS: wholeNumber(3, 1),
    RENDERER_INSTANCES: wholeNumber(4, 1),
    RENDERER_SLOTS: wholeNumber(2, 1),
    // Cloudflare SIGKILLs a container 15 minutes after SIGTERM: a drain that long hands nothing back.
    RENDERER_DRAIN_SECONDS: wholeNumber(840, 0, 899, " of seconds"),
    FANOUT_SEGMENT_SECONDS: setting<number | null>(null, (raw) =>
      /^\d+$/.test(raw) && Number(raw) !== 1
        ? { value: Number(raw) }
        : { wrong: `must be 0 (never split) or a whole number of seconds (at least 2), not ${shown(raw)}` },
    ),
    ALLOW_LOOPBACK_CALLBACKS: boolean,
    WEBHOOK_SIGNING_SECRET: text,
    DELIVERY_LOG_DAYS: days(7),
    UPLOAD_PART_SIZE: wholeNumber(MAX_BODY_BYTES, MIN_PART_SIZE, MAX_BODY_BYTES, " of bytes"),
    R2_ACCOUNT_ID: text,
    R2_ACCESS_KEY_ID: text,
    R2_SECRET_ACCESS_KEY: text,
    R2_BUCKET: text,
    MEDIA_SIGNING_KEYS: text,
  })
  .superRefine((v, ctx) => {
    // Dispatch runs in the queue consumer, with no request to take an origin from.
    if (v.RENDERER_URL && !v.INTERNAL_BASE_URL && !v.PUBLIC_BASE_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["RENDERER_URL"],
        message: "is set, so INTERNAL_BASE_URL or PUBLIC_BASE_URL must say where that renderer reaches the Worker",
      });
    }
    const missing = S3_VARS.filter((k) => !v[k]);
    if (missing.length > 0 && missing.length < S3_VARS.length) {
      ctx.addIssue({
        code: "custom",
        path: [missing[0]!],
        message: `is missing: set all four of ${S3_VARS.join(", ")}, or none (missing: ${missing.join(", ")})`,
      });
    }
  });

const VARS = Object.keys(Schema.shape) as (keyof Env)[];

// Each variable's own output (z.unknown() makes every key optional in the object's inferred type).
type Vars = { [K in keyof typeof Schema.shape]: z.output<(typeof Schema.shape)[K]> };

function lazySigningKeys(raw: string | null): () => SigningKey[] {
  let keys: SigningKey[] | undefined;
  return () => {
    try {
      keys ??= parseSigningKeys(raw ?? "");
    } catch (err) {
      // parseSigningKeys names MEDIA_SIGNING_KEYS and never quotes a secret.
      throw new ConfigError(`Invalid configuration: ${(err as Error).message}`);
    }
    return keys;
  };
}

function toConfig(v: Vars): WorkerConfig {
  const internalOrigin = v.INTERNAL_BASE_URL ?? v.PUBLIC_BASE_URL;
  return {
    publicBaseUrl: v.PUBLIC_BASE_URL,
    auth: {
      jwksUrl: v.JWKS_URL,
      jwtSecret: v.JWT_SECRET,
      issuer: v.JWT_ISSUER,
      audience: v.JWT_AUDIENCE,
      rolesClaim: v.ROLES_CLAIM,
      orgClaim: v.ORG_CLAIM,
    },
    jobs: { leaseMs: v.LEASE_SECONDS * 1000, maxAttempts: v.MAX_ATTEMPTS },
    renderer: {
      outside: v.RENDERER_URL && internalOrigin ? { urls: v.RENDERER_URL, internalOrigin } : null,
      instances: v.RENDERER_INSTANCES,
      slots: v.RENDERER_SLOTS,
      drainSeconds: v.RENDERER_DRAIN_SECONDS,
    },
    fanoutSegmentSeconds: v.FANOUT_SEGMENT_SECONDS,
    allowLoopbackCallbacks: v.ALLOW_LOOPBACK_CALLBACKS,
    webhookSigningSecret: v.WEBHOOK_SIGNING_SECRET,
    uploadPartSize: v.UPLOAD_PART_SIZE,
    deliveryLogMs: v.DELIVERY_LOG_DAYS * 24 * 3600_000,
    s3:
      v.R2_ACCOUNT_ID && v.R2_ACCESS_KEY_ID && v.R2_SECRET_ACCESS_KEY && v.R2_BUCKET
        ? { accountId: v.R2_ACCOUNT_ID, accessKeyId: v.R2_ACCESS_KEY_ID, secretAccessKey: v.R2_SECRET_ACCESS_KEY, bucket: v.R2_BUCKET }
        : null,
    signingKeys: lazySigningKeys(v.MEDIA_SIGNING_KEYS),
  };
}

/** Parses the variables; throws one ConfigError naming every bad one (`LEASE_SECONDS must be …`). */
export function parseWorkerConfig(env: Partial<Record<keyof Env, unknown>>): WorkerConfig {
  // Every variable present, unset ones as undefined: zod 4 refuses an absent key that a transform fills.
  const result = Schema.safeParse(Object.fromEntries(VARS.map((k) => [k, env[k]])));
  if (result.success) return toConfig(result.data as Vars);
  const problems = result.error.issues.map((i) => `${i.path.join(".")} ${i.message}`);
  throw new ConfigError(`Invalid configuration: ${problems.join("; ")}.`);
}

const cache = new WeakMap<object, { values: string; result: WorkerConfig | ConfigError }>();
const logged = new Set<string>();

/**
 * The configuration of this env, parsed once per env object. Its values are compared on every
 * call because tests assign to the shared env (in production they never change), so an edited env
 * is parsed again rather than served stale.
 */
export function workerConfig(env: Env): WorkerConfig {
  const values = JSON.stringify(VARS.map((k) => env[k] ?? null));
  let entry = cache.get(env);
  if (entry?.values !== values) {
    entry = { values, result: parseOrError(env) };
    cache.set(env, entry);
  }
  if (entry.result instanceof ConfigError) throw entry.result;
  return entry.result;
}

function parseOrError(env: Env): WorkerConfig | ConfigError {
  try {
    return parseWorkerConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (!logged.has(err.message)) {
      logged.add(err.message);
      console.error(JSON.stringify({ msg: "invalid configuration", error: err.message }));
    }
    return err;
  }
}
