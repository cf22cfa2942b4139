// The Worker's configuration: parsed once per env, and a bad value fails loudly naming the variable:
// every request answers a 500 problem saying what is wrong, the queue consumer and the cron throw it.
import { createExecutionContext, createMessageBatch, createScheduledController, env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, parseWorkerConfig, workerConfig } from "../../worker/config";
import type { Env } from "../../worker/env";
import worker from "../../worker/index";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import { API, service, tokenFor } from "./helpers";

const MIB = 2 ** 20;
const parsing = (vars: Partial<Record<keyof Env, unknown>>) => () => parseWorkerConfig({ ...env, ...vars });

afterEach(() => vi.restoreAllMocks());

describe("parsing the configuration", () => {
  it("reads the test env (wrangler.toml [vars] and the test bindings) into typed values", () => {
    const config = parseWorkerConfig(env);
    expect(config.jobs).toEqual({ leaseMs: 120_000, maxAttempts: 3 });
    expect(config.renderer).toEqual({
      outside: { urls: ["http://renderer.test"], internalOrigin: "http://example.com" },
      instances: 4,
      slots: 2,
      drainSeconds: 840,
    });
    expect(config.auth).toMatchObject({
      jwksUrl: null,
      issuer: null,
      audience: null,
      rolesClaim: "roles,realm_access.roles",
      orgClaim: "org,organization,tenant",
    });
    expect(config.publicBaseUrl).toBeNull();
    expect(config.allowLoopbackCallbacks).toBe(false);
    expect(config.uploadPartSize).toBe(5 * MIB);
    expect(config.s3).toBeNull();
    expect(config.signingKeys().map((k) => k.kid)).toEqual(["k2", "k1"]);
  });

  it("takes the defaults for unset or empty variables, and normalizes URLs", () => {
    const config = parseWorkerConfig({
      LEASE_SECONDS: "",
      ROLES_CLAIM: undefined,
      PUBLIC_BASE_URL: "https://compositions.example.com/",
      RENDERER_URL: "http://127.0.0.1:8788/",
    });
    expect(config.jobs).toEqual({ leaseMs: 120_000, maxAttempts: 3 });
    expect(config.renderer).toEqual({
      outside: { urls: ["http://127.0.0.1:8788"], internalOrigin: "https://compositions.example.com" },
      instances: 4,
      slots: 2,
      drainSeconds: 840,
    });
    expect(config.auth).toMatchObject({ rolesClaim: "roles", orgClaim: "org" });
    expect(config.uploadPartSize).toBe(95 * MIB);
    expect(parseWorkerConfig({ LEASE_SECONDS: 12 }).jobs.leaseMs).toBe(12_000);
    // Several local renderer processes (RENDERERS=2 npm start), and forced fan-out.
    const two = parseWorkerConfig({
      PUBLIC_BASE_URL: "http://127.0.0.1:8787",
      RENDERER_URL: "http://127.0.0.1:8788, http://127.0.0.1:8789/",
      FANOUT_SEGMENT_SECONDS: "30",
    });
    expect([two.renderer.outside?.urls, two.fanoutSegmentSeconds]).toEqual([["http://127.0.0.1:8788", "http://127.0.0.1:8789"], 30]);
    expect(config.fanoutSegmentSeconds).toBeNull();
  });

  it.each([
    ["LEASE_SECONDS", "abc", /LEASE_SECONDS must be a whole number of seconds \(at least 5\), not "abc"/],
    ["LEASE_SECONDS", "2", /LEASE_SECONDS must be a whole number of seconds \(at least 5\), not "2"/],
    ["LEASE_SECONDS", "7.5", /LEASE_SECONDS must be a whole number/],
    ["MAX_ATTEMPTS", "-1", /MAX_ATTEMPTS must be a whole number \(at least 1\), not "-1"/],
    ["MAX_ATTEMPTS", "0", /MAX_ATTEMPTS must be a whole number \(at least 1\), not "0"/],
    ["RENDERER_INSTANCES", "0", /RENDERER_INSTANCES must be a whole number \(at least 1\), not "0"/],
    ["RENDERER_INSTANCES", "four", /RENDERER_INSTANCES must be a whole number/],
    ["RENDERER_SLOTS", "0", /RENDERER_SLOTS must be a whole number \(at least 1\)/],
    [
      "FANOUT_SEGMENT_SECONDS",
      "1",
      /FANOUT_SEGMENT_SECONDS must be 0 \(never split\) or a whole number of seconds \(at least 2\), not "1"/,
    ],
    ["RENDERER_URL", "http://127.0.0.1:8788,ftp://x", /RENDERER_URL must be an http\(s\) URL/],
    ["RENDERER_DRAIN_SECONDS", "900", /RENDERER_DRAIN_SECONDS must be a whole number of seconds \(from 0 to 899\), not "900"/],
    ["UPLOAD_PART_SIZE", "1024", /UPLOAD_PART_SIZE must be a whole number of bytes \(from 5242880 to 99614720\), not "1024"/],
    ["UPLOAD_PART_SIZE", "100MB", /UPLOAD_PART_SIZE must be a whole number of bytes/],
    [
      "PUBLIC_BASE_URL",
      "compositions.example.com",
      /PUBLIC_BASE_URL must be an http\(s\) origin such as https:\/\/compositions.example.com, not "compositions.example.com"/,
    ],
    ["PUBLIC_BASE_URL", "ftp://compositions.example.com", /PUBLIC_BASE_URL must be an http\(s\) origin/],
    ["PUBLIC_BASE_URL", "https://compositions.example.com/api", /PUBLIC_BASE_URL must be an origin without a path/],
    ["INTERNAL_BASE_URL", "http://10.0.0.2:8787?x=1", /INTERNAL_BASE_URL must be an http\(s\) origin/],
    ["RENDERER_URL", "localhost:8788", /RENDERER_URL must be an http\(s\) URL such as http:\/\/127.0.0.1:8788, not "localhost:8788"/],
    ["JWKS_URL", "not a url", /JWKS_URL must be an http\(s\) URL/],
    ["ALLOW_LOOPBACK_CALLBACKS", "yes", /ALLOW_LOOPBACK_CALLBACKS must be "true" or "false", not "yes"/],
    ["ORG_CLAIM", " , ", /ORG_CLAIM must name at least one claim/],
    ["ROLES_CLAIM", {}, /ROLES_CLAIM must be a string/],
  ])("%s=%j fails naming the variable and what is wrong", (name, value, message) => {
    expect(parsing({ [name]: value })).toThrow(ConfigError);
    expect(parsing({ [name]: value })).toThrow(message);
  });

  it("names every bad variable at once", () => {
    expect(parsing({ LEASE_SECONDS: "abc", RENDERER_INSTANCES: "0" })).toThrow(
      /^Invalid configuration: LEASE_SECONDS must .*; RENDERER_INSTANCES must .*\.$/,
    );
  });

  it("a renderer outside Cloudflare must be told where it reaches the Worker", () => {
    expect(parsing({ RENDERER_URL: "http://127.0.0.1:8788", INTERNAL_BASE_URL: "", PUBLIC_BASE_URL: "" })).toThrow(
      /RENDERER_URL is set, so INTERNAL_BASE_URL or PUBLIC_BASE_URL must say where that renderer reaches the Worker/,
    );
  });

  it("R2's S3 API credentials are all four or none, and a secret is never quoted", () => {
    const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const partial = parsing({ R2_ACCOUNT_ID: "0123456789abcdef", R2_SECRET_ACCESS_KEY: secret });
    expect(partial).toThrow(
      /R2_ACCESS_KEY_ID is missing: set all four of R2_ACCOUNT_ID, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY, R2_BUCKET, or none \(missing: R2_ACCESS_KEY_ID, R2_BUCKET\)/,
    );
    expect(partial).not.toThrow(secret);
    const all = parseWorkerConfig({
      ...env,
      R2_ACCOUNT_ID: "0123456789abcdef",
      R2_ACCESS_KEY_ID: "AKID",
      R2_SECRET_ACCESS_KEY: secret,
      R2_BUCKET: "media",
    });
    expect(all.s3).toEqual({ accountId: "0123456789abcdef", accessKeyId: "AKID", secretAccessKey: secret, bucket: "media" });
  });

  it("bad MEDIA_SIGNING_KEYS fail where links are signed, naming the variable, without quoting the key", () => {
    const config = parseWorkerConfig({ ...env, MEDIA_SIGNING_KEYS: "k1:short" });
    expect(() => config.signingKeys()).toThrow(ConfigError);
    expect(() => config.signingKeys()).toThrow(/MEDIA_SIGNING_KEYS key "k1": the secret must be at least 16 characters/);
    expect(() => config.signingKeys()).not.toThrow("short");
  });

  it("is parsed once per env object, and again when a value of it changes", () => {
    const own: Env = { ...env };
    const first = workerConfig(own);
    expect(workerConfig(own)).toBe(first);
    own.MAX_ATTEMPTS = "5";
    expect(workerConfig(own).jobs.maxAttempts).toBe(5);
    expect(workerConfig({ ...env })).not.toBe(first);
  });
});

describe("a bad configuration, as a user and the platform see it", () => {
  const bad: Env = { ...env, LEASE_SECONDS: "abc" };
  const detail = 'Invalid configuration: LEASE_SECONDS must be a whole number of seconds (at least 5), not "abc".';
  const fetchWith = (e: Env, path: string, init: RequestInit = {}) =>
    worker.fetch(new Request(API + path, init) as Request<unknown, IncomingRequestCfProperties>, e, createExecutionContext());

  it("every request, even /health and an authorized one, answers a 500 problem naming the variable; it is logged once", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const badEnv: Env = { ...env, RENDERER_INSTANCES: "0" };
    const auth = { Authorization: `Bearer ${await tokenFor(service())}` };
    for (const [path, init] of [
      ["/health", {}],
      ["/query/composition", { headers: auth }],
      ["/no-such-route", {}],
    ] as const) {
      const res = await fetchWith(badEnv, path, init);
      expect(res.status, path).toBe(500);
      expect(res.headers.get("Content-Type")).toBe("application/problem+json");
      expect(await res.json()).toMatchObject({
        status: 500,
        title: "Internal Server Error",
        detail: 'Invalid configuration: RENDERER_INSTANCES must be a whole number (at least 1), not "0".',
      });
    }
    const logged = errors.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("RENDERER_INSTANCES"));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!)).toEqual({
      msg: "invalid configuration",
      error: 'Invalid configuration: RENDERER_INSTANCES must be a whole number (at least 1), not "0".',
    });
    // The same Worker with a good env answers as ever.
    expect((await fetchWith(env, "/health")).status).toBe(200);
  });

  it("the queue consumer and the cron throw the same message (the batch is retried, nothing half-done)", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const batch = createMessageBatch<RenderJobMessage>("composition-jobs", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { kind: "dispatch", reason: "test" } },
    ]);
    await expect(worker.queue(batch, bad)).rejects.toThrow(detail);
    await expect(worker.scheduled(createScheduledController(), bad, createExecutionContext())).rejects.toThrow(detail);
  });
});
