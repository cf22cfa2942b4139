import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";
import { vi } from "vitest";
import { API_BASE_PATH, parseRenderJob, type RenderJob } from "../../contract/renderer";
import type { CompositionRow } from "../../worker/db/schema";
import type { Role } from "../../worker/auth/principal";
import worker from "../../worker/index";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import { setRendererForTests, type StartResult } from "../../worker/jobs/renderer";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- augmenting the runtime types' own namespace
  namespace Cloudflare {
    interface GlobalProps {
      // Types `exports.default` (the Worker's own default export) for tests.
      mainModule: typeof import("../../worker/index");
    }
  }
}

export const API = `http://example.com${API_BASE_PATH}`;

export interface Caller {
  sub: string;
  org: string;
  roles: Role[];
}

export const supervisor = (org = "acme", sub = "sue"): Caller => ({ sub, org, roles: ["SUPERVISOR"] });
export const agent = (org = "acme", sub = "alice"): Caller => ({ sub, org, roles: ["AGENT"] });
export const service = (org = "acme", sub = "platform"): Caller => ({ sub, org, roles: ["SERVICE"] });

export async function tokenFor(c: Caller, opts: { ttl?: number; secret?: string } = {}): Promise<string> {
  return new SignJWT({ roles: c.roles, org: c.org })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(c.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.ttl ?? 600))
    .sign(new TextEncoder().encode(opts.secret ?? env.JWT_SECRET!));
}

type Body = unknown;

/** Calls the Worker exactly as a client over HTTP would, through its default export. */
export async function call(
  method: string,
  path: string,
  opts: { as?: Caller; body?: Body; headers?: Record<string, string>; raw?: BodyInit } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.as) headers.Authorization = `Bearer ${await tokenFor(opts.as)}`;
  let body: BodyInit | undefined = opts.raw;
  if (opts.body !== undefined) {
    headers["Content-Type"] ??= "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await exports.default.fetch(new Request(path.startsWith("http") ? path : API + path, { method, headers, body }));
  const text = await res.text();
  let json: any = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}

export const T0 = Date.parse("2026-11-20T10:00:00.000Z");
export const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** A recording with an agent's audio+video track and a customer's audio-only track. */
export function recordingBody(agentId = "alice", extra: object[] = []) {
  return {
    agentId,
    started: at(0),
    stopped: at(62.5),
    tracks: [
      { id: "t-agent", participantId: "agent", started: at(0), stopped: at(62.5), audio: true, video: true },
      { id: "t-customer", participantId: "customer", started: at(5), audio: true, video: false },
      ...extra,
    ],
  };
}

export async function ingest(conversationId: string, opts: { as?: Caller; agentId?: string; media?: boolean } = {}) {
  const as = opts.as ?? service();
  const rec = await call("PUT", `/recordings/${conversationId}`, { as, body: recordingBody(opts.agentId) });
  if (rec.status !== 200) throw new Error(`ingest failed: ${rec.status} ${rec.text}`);
  if (opts.media !== false) {
    for (const id of ["t-agent", "t-customer"]) {
      const r = await call("PUT", `/recordings/${conversationId}/tracks/${id}`, {
        as,
        raw: new Uint8Array(1024).fill(7),
        headers: { "Content-Type": "video/webm", "Content-Length": "1024" },
      });
      if (r.status !== 200) throw new Error(`track upload failed: ${r.status} ${r.text}`);
    }
  }
}

export async function createComposition(conversationId: string, as: Caller, overrides: Record<string, unknown> = {}) {
  return call("POST", "/request", {
    as,
    body: { conversationId, layout: "GRID", name: "Call review", resolution: "640x360", type: "AUDIO", ...overrides },
  });
}

// ---------------------------------------------------------------------------------------------
// Queue, renderer and D1 helpers for the api-*.test.ts files.

/**
 * Captures what the Worker sends to its Queue instead of letting miniflare deliver it: a real
 * delivery runs the consumer about a second later and moves QUEUED rows under a test's feet.
 * Returns the captured message bodies; `vi.restoreAllMocks()` puts the real Queue back.
 */
export function captureQueue(): RenderJobMessage[] {
  const sent: RenderJobMessage[] = [];
  vi.spyOn(env.JOBS, "send").mockImplementation(async (body: RenderJobMessage) => {
    sent.push(body);
    return {} as QueueSendResponse;
  });
  vi.spyOn(env.JOBS, "sendBatch").mockImplementation(async (batch: Iterable<MessageSendRequest<RenderJobMessage>>) => {
    for (const m of batch) sent.push(m.body);
    return {} as QueueSendBatchResponse;
  });
  return sent;
}

export interface FakeRenderer {
  jobs: RenderJob[];
  cancels: { jobId: string; instance: string | null }[];
  /** The instances each start() was asked to avoid (a split run's other parts run there). */
  avoided: string[][];
  /** What the next start() answers (default: accepted by instance "fake-1"). */
  answer: StartResult;
}

/**
 * Replaces the renderer the Worker dispatches to (same module instance as the Worker's). Each job
 * is held to the contract as the real renderer holds it: a dispatcher that builds an invalid job
 * makes the dispatch throw, naming the fields.
 */
export function fakeRenderer(): FakeRenderer {
  const fake: FakeRenderer = { jobs: [], cancels: [], avoided: [], answer: { accepted: true, instance: "fake-1" } };
  setRendererForTests({
    async start(job, o) {
      fake.avoided.push([...(o?.avoid ?? [])]);
      const parsed = parseRenderJob(job);
      if (!parsed.ok) throw new Error(`fake renderer: the dispatched job breaks the contract: ${parsed.errors.join("; ")}`);
      fake.jobs.push(structuredClone(job));
      return fake.answer;
    },
    async cancel(jobId, instance) {
      fake.cancels.push({ jobId, instance });
    },
  });
  return fake;
}

export function resetRenderer(): void {
  setRendererForTests(null);
}

/** Runs the Worker's queue consumer on a batch of wake-up messages; returns the ack/retry outcome. */
export async function runQueue(bodies: RenderJobMessage[] = [{ kind: "dispatch", reason: "test" }]) {
  const batch = createMessageBatch<RenderJobMessage>(
    "composition-jobs",
    bodies.map((body, i) => ({ id: `msg-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body })),
  );
  // The fake batch records that a message was retried, not with which delay: record it here.
  const retryOptions: (QueueRetryOptions | undefined)[] = [];
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (options?: QueueRetryOptions) => {
      retryOptions.push(options);
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return { ...(await getQueueResult(batch, ctx)), retryOptions };
}

/** A unique, id-safe name so tests never collide on conversations. */
export const uid = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type RowState = CompositionRow["state"];

/** Moves a composition to a state directly in D1 (what the renderer's reports would have done). */
export async function setState(id: string, state: RowState, extra: { completedAt?: number; durationMs?: number; outputKey?: string } = {}) {
  await env.DB.prepare(
    `UPDATE compositions SET state = ?2, completed_at = COALESCE(?3, completed_at), duration_ms = COALESCE(?4, duration_ms),
       output_key = COALESCE(?5, output_key), lease_token = CASE WHEN ?2 = 'PROCESSING' THEN 'lease-test' ELSE NULL END
     WHERE id = ?1`,
  )
    .bind(id, state, extra.completedAt ?? null, extra.durationMs ?? null, extra.outputKey ?? null)
    .run();
}

export interface RawComposition {
  id?: string;
  organizationId: string;
  conversationId: string;
  userId: string;
  name: string;
  type?: "AUDIO" | "VIDEO";
  state?: RowState;
  priority?: number;
  resolution?: string;
  createdAt: number;
  completedAt?: number | null;
  durationMs?: number | null;
}

/** Inserts a composition row directly (for paging over many rows). */
export async function insertRaw(rows: RawComposition[]): Promise<string[]> {
  const ids: string[] = [];
  const stmts = rows.map((r) => {
    const id = r.id ?? crypto.randomUUID();
    ids.push(id);
    const type = r.type ?? "AUDIO";
    return env.DB.prepare(
      `INSERT INTO compositions (id, organization_id, conversation_id, user_id, name, type, format, layout, resolution, priority, state,
         created_at, queued_at, updated_at, completed_at, duration_ms)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'GRID', ?8, ?9, ?10, ?11, ?11, ?11, ?12, ?13)`,
    ).bind(
      id,
      r.organizationId,
      r.conversationId,
      r.userId,
      r.name,
      type,
      type === "AUDIO" ? "MP3" : "MP4",
      r.resolution ?? "640x360",
      r.priority ?? 1,
      r.state ?? "COMPLETED",
      r.createdAt,
      r.completedAt ?? null,
      r.durationMs ?? null,
    );
  });
  if (stmts.length) await env.DB.batch(stmts);
  return ids;
}

export async function countCompositions(where = "1 = 1", ...binds: unknown[]): Promise<number> {
  const row = await env.DB.prepare(`SELECT count(*) AS n FROM compositions WHERE ${where}`)
    .bind(...binds)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export async function compositionRow(id: string) {
  return env.DB.prepare(`SELECT * FROM compositions WHERE id = ?1`).bind(id).first<Record<string, unknown>>();
}

/** The `errors[].field` values of a problem+json answer. */
export const fields = (res: { json: any }): string[] => (res.json?.errors ?? []).map((e: { field: string }) => e.field);

export interface TrackDef {
  id: string;
  participantId: string;
  started: string;
  stopped?: string;
  audio: boolean;
  video: boolean;
}

/** PUTs a recording's metadata and (optionally) uploads the media of the listed tracks. */
export async function ingestTracks(
  conversationId: string,
  rec: { agentId?: string; started: string; stopped: string; tracks: TrackDef[] },
  opts: { as?: Caller; upload?: string[] } = {},
) {
  const as = opts.as ?? service();
  const put = await call("PUT", `/recordings/${conversationId}`, { as, body: rec });
  if (put.status !== 200) throw new Error(`ingest failed: ${put.status} ${put.text}`);
  for (const id of opts.upload ?? rec.tracks.map((t) => t.id)) {
    const r = await uploadTrack(conversationId, id, new Uint8Array(2048).fill(3), { as });
    if (r.status !== 200) throw new Error(`track upload failed: ${r.status} ${r.text}`);
  }
  return put;
}

export async function uploadTrack(
  conversationId: string,
  trackId: string,
  bytes: Uint8Array,
  opts: { as?: Caller; contentType?: string } = {},
) {
  return call("PUT", `/recordings/${conversationId}/tracks/${trackId}`, {
    as: opts.as ?? service(),
    raw: bytes,
    headers: { "Content-Type": opts.contentType ?? "audio/webm", "Content-Length": String(bytes.byteLength) },
  });
}
