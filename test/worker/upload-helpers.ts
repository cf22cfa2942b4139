// Helpers of the multipart track upload tests: one recording with one audio track "t1", uploads in
// PART-sized parts (UPLOAD_PART_SIZE = 5 MiB in vitest.worker.config.mts), read back through the
// renderer's input route.
import { exports } from "cloudflare:workers";
import { afterEach, beforeEach, expect, vi } from "vitest";
import { API, at, call, captureQueue, ingestTracks, service, setState, supervisor, uid, type Caller } from "./helpers";
import { captureWebhooks } from "./webhook-helpers";

export const PART = 5 * 2 ** 20;
export const TAIL = 12_345;
export const SIZE = 2 * PART + TAIL; // three parts: 5 MiB, 5 MiB, 12,345 bytes
/** The running test's organization and its SERVICE caller (see {@link useFreshOrganization}). */
export let org = "";
export let as: Caller = service();

/** A fresh organization per test: its storage prefix holds exactly what the test stored. */
export function useFreshOrganization(): void {
  beforeEach(() => {
    captureQueue();
    captureWebhooks();
    org = uid("org-up");
    as = service(org);
  });
  afterEach(() => vi.restoreAllMocks());
}

/** A recording with one audio track (so an AUDIO composition needs exactly that track's media). */
export async function recording(conv: string, who: Caller = as) {
  await ingestTracks(
    conv,
    {
      agentId: "alice",
      started: at(0),
      stopped: at(60),
      tracks: [{ id: "t1", participantId: "agent", started: at(0), audio: true, video: false }],
    },
    { as: who, upload: [] },
  );
}

/** Random bytes (getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65_536)));
  return out;
}

export const uploadsOf = (conv: string, track = "t1") => `/recordings/${conv}/tracks/${track}/uploads`;

export async function start(conv: string, size = SIZE, who: Caller = as, track = "t1") {
  return call("POST", uploadsOf(conv, track), { as: who, body: { size, contentType: "audio/webm" } });
}

export async function started(conv: string, size = SIZE): Promise<string> {
  const res = await start(conv, size);
  expect(res.status, res.text).toBe(201);
  return res.json.uploadId;
}

export function sendPart(
  conv: string,
  uploadId: string,
  n: number | string,
  bytes: Uint8Array,
  opts: { who?: Caller; length?: number; body?: BodyInit } = {},
) {
  return call("PUT", `${uploadsOf(conv)}/${uploadId}/parts/${n}`, {
    as: opts.who ?? as,
    raw: opts.body ?? bytes,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(opts.length ?? bytes.byteLength) },
  });
}

/** Part `n` (1-based) of `bytes` cut into PART-sized pieces. */
export const slice = (bytes: Uint8Array, n: number) => bytes.subarray((n - 1) * PART, n * PART);

export async function sendParts(conv: string, uploadId: string, bytes: Uint8Array, order: number[]) {
  for (const n of order) {
    const res = await sendPart(conv, uploadId, n, slice(bytes, n));
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ partNumber: n, size: slice(bytes, n).byteLength });
  }
}

export const complete = (conv: string, uploadId: string, who: Caller = as) =>
  call("POST", `${uploadsOf(conv)}/${uploadId}/complete`, { as: who });
export const status = (conv: string, uploadId: string, who: Caller = as) => call("GET", `${uploadsOf(conv)}/${uploadId}`, { as: who });
export const abort = (conv: string, uploadId: string, who: Caller = as) => call("DELETE", `${uploadsOf(conv)}/${uploadId}`, { as: who });

/**
 * Reads the track back the way the renderer does: through the job input route, under the lease of
 * a composition of this recording (setState gives it the lease token "lease-test").
 */
export async function readTrack(conv: string, range?: string) {
  const req = await call("POST", "/request", {
    as: supervisor(org),
    body: { conversationId: conv, layout: "GRID", name: "check", resolution: "640x360", type: "AUDIO" },
  });
  expect(req.status, req.text).toBe(200);
  await setState(req.json.id, "PROCESSING");
  const headers: Record<string, string> = { Authorization: "Bearer lease-test", ...(range ? { Range: range } : {}) };
  const res = await exports.default.fetch(new Request(`${API}/internal/jobs/${req.json.id}/tracks/t1`, { headers }));
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

export async function sha256(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function audit() {
  const res = await call("GET", "/audit/storage", { as: supervisor(org) });
  expect(res.status, res.text).toBe(200);
  return res.json as { objects: { key: string; size: number; kind: string }[]; orphans: string[] };
}
