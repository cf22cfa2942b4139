import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";
import type { Role } from "../../worker/auth/principal";

export const API = "http://example.com/auvious.video/composition/api";

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
export async function call(method: string, path: string, opts: { as?: Caller; body?: Body; headers?: Record<string, string>; raw?: BodyInit } = {}) {
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
