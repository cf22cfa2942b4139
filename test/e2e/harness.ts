// The running stack for end-to-end tests: real `wrangler dev` (workerd, local D1/R2/Queues) and the
// real renderer process on free ports, with throwaway state and test secrets. With E2E_RENDERER_URL
// set, the stack uses the renderer running there (the image's container: scripts/image/e2e.sh)
// instead of starting its own; files that configure or restart the renderer cannot run that way.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { freePort, startStack, type Stack } from "../../scripts/stack.ts";

export const JWT_SECRET = "e2e-jwt-secret-0123456789abcdef0123456789abcdef";
export const SIGNING_KEYS = "e2e1:e2e-media-signing-secret-0123456789abcdef";
export const WEBHOOK_SIGNING_SECRET = "e2e-webhook-signing-secret-0123456789abcdef";

export interface TestStack extends Stack {
  /** Calls the API as a user with these roles (JSON in, JSON out). */
  api: (method: string, path: string, opts?: { as?: Who; body?: unknown; headers?: Record<string, string> }) => Promise<ApiResult>;
  token: (who: Who) => Promise<string>;
  dispose: () => Promise<void>;
  /** Where the stack's local D1/R2/Queue state lives (wrangler's --persist-to). */
  persistTo: string;
}

export interface Who {
  sub: string;
  org: string;
  roles: string[];
}

export interface ApiResult {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export const SUPERVISOR: Who = { sub: "sue", org: "acme", roles: ["SUPERVISOR"] };
export const SERVICE: Who = { sub: "platform", org: "acme", roles: ["SERVICE"] };

export async function startTestStack(
  opts: { rendererEnv?: Record<string, string>; vars?: Record<string, string>; cronEveryMs?: number; renderers?: number } = {},
): Promise<TestStack> {
  const externalRendererUrl = process.env.E2E_RENDERER_URL || undefined;
  if (externalRendererUrl && opts.rendererEnv) {
    throw new Error(
      `this file sets the renderer's environment (${JSON.stringify(opts.rendererEnv)}): it cannot run against E2E_RENDERER_URL=${externalRendererUrl}`,
    );
  }
  const persistTo = mkdtempSync(join(tmpdir(), "composition-e2e-"));
  const port = await freePort();
  const rendererPort = await freePort();
  const stack = await startStack({
    port,
    rendererPort,
    externalRendererUrl,
    persistTo,
    renderers: opts.renderers,
    quiet: true,
    cronEveryMs: opts.cronEveryMs ?? 2000,
    vars: {
      JWT_SECRET,
      MEDIA_SIGNING_KEYS: SIGNING_KEYS,
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      LEASE_SECONDS: "15",
      WEBHOOK_SIGNING_SECRET,
      ALLOW_LOOPBACK_CALLBACKS: "true",
      ...opts.vars,
    },
    rendererEnv: { SLOTS: "2", ...opts.rendererEnv },
  }).catch((err) => {
    rmSync(persistTo, { recursive: true, force: true });
    throw err;
  });

  const token = (who: Who) =>
    new SignJWT({ roles: who.roles, org: who.org })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(who.sub)
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(JWT_SECRET));

  const api: TestStack["api"] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.as) headers.Authorization = `Bearer ${await token(o.as)}`;
    if (o.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(stack.apiUrl + path, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };

  return {
    ...stack,
    api,
    token,
    persistTo,
    async dispose() {
      await stack.stop();
      rmSync(persistTo, { recursive: true, force: true });
    },
  };
}

export interface TrackFile {
  id: string;
  participantId: string;
  /** Seconds from the recording's start. */
  start: number;
  /** Seconds from the recording's start; omitted = to the end. */
  stop?: number;
  audio: boolean;
  video: boolean;
  file: string;
  contentType: string;
  role?: "AGENT" | "CUSTOMER" | "SUPERVISOR" | "OTHER";
  displayName?: string;
}

const T0 = Date.parse("2026-11-20T10:00:00.000Z");
const at = (s: number) => new Date(T0 + Math.round(s * 1000)).toISOString();

/** Ingests a recording the way a contact-centre platform would: metadata, then each track's bytes. */
export async function ingestRecording(s: TestStack, conversationId: string, spanSeconds: number, tracks: TrackFile[], agentId = "alice") {
  const meta = await s.api("PUT", `/recordings/${conversationId}`, {
    as: SERVICE,
    body: {
      agentId,
      started: at(0),
      stopped: at(spanSeconds),
      tracks: tracks.map((t) => ({
        id: t.id,
        participantId: t.participantId,
        started: at(t.start),
        ...(t.stop !== undefined ? { stopped: at(t.stop) } : {}),
        audio: t.audio,
        video: t.video,
        ...(t.role ? { role: t.role } : {}),
        ...(t.displayName ? { displayName: t.displayName } : {}),
      })),
    },
  });
  if (meta.status !== 200) throw new Error(`PUT recording: ${meta.status} ${meta.text}`);
  for (const t of tracks) {
    const res = await fetch(`${s.apiUrl}/recordings/${conversationId}/tracks/${t.id}`, {
      method: "PUT",
      headers: {
        Authorization: `Bearer ${await s.token(SERVICE)}`,
        "Content-Type": t.contentType,
        "Content-Length": String(statSync(t.file).size),
      },
      body: readFileSync(t.file),
    });
    if (res.status !== 200) throw new Error(`PUT track ${t.id}: ${res.status} ${await res.text()}`);
  }
}

/** Polls the composition until it reaches one of `states` (or fails the test with its last view). */
export async function waitForState(
  s: TestStack,
  conversationId: string,
  id: string,
  states: string[],
  timeoutMs = 120_000,
  as: Who = SUPERVISOR,
  pollMs = 250,
) {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const res = await s.api("GET", `/query/conversation/${conversationId}`, { as });
    last = res.json?.compositions?.find((c: { id: string }) => c.id === id);
    if (last && states.includes(last.state)) return last;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(
    `composition ${id} did not reach ${states.join("/")} in ${timeoutMs} ms; last: ${JSON.stringify(last)}\n${s.logs().slice(-4000)}`,
  );
}

/** Downloads a COMPLETED composition through its signed inline link into a file. */
export async function downloadOutput(
  s: TestStack,
  conversationId: string,
  id: string,
  file: string,
  as: Who = SUPERVISOR,
): Promise<string> {
  const link = await s.api("GET", `/player/${conversationId}/${id}/url/inline?conversationId=${conversationId}&id=${id}`, {
    as,
    headers: { Referer: "https://agent.example/" },
  });
  if (link.status !== 200) throw new Error(`url/inline: ${link.status} ${link.text}`);
  const res = await fetch(link.json.url);
  if (res.status !== 200) throw new Error(`GET ${link.json.url}: ${res.status}`);
  const { writeFileSync } = await import("node:fs");
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return link.json.url;
}

/** Copies one object of the stack's local R2 bucket into a file (`wrangler r2 object get --local`). */
export async function readR2Object(s: TestStack, key: string, file: string): Promise<void> {
  const { execFile } = await import("node:child_process");
  const { ROOT } = await import("../../scripts/stack.ts");
  await new Promise<void>((resolve, reject) =>
    execFile(
      join(ROOT, "node_modules", ".bin", "wrangler"),
      ["r2", "object", "get", `composition-media/${key}`, "--local", "--persist-to", s.persistTo, "--file", file],
      { cwd: ROOT, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" } },
      (err, _stdout, stderr) => (err ? reject(new Error(`wrangler r2 object get failed: ${err.message}\n${stderr}`)) : resolve()),
    ),
  );
}

/**
 * Reads the stack's D1 directly (`wrangler d1 execute --local` on the same state) for what the API
 * does not show, such as a composition's attempts or recorded warnings. Takes a few seconds.
 */
export async function queryD1<T = Record<string, unknown>>(s: TestStack, sql: string): Promise<T[]> {
  const { execFile } = await import("node:child_process");
  const { ROOT } = await import("../../scripts/stack.ts");
  // A second miniflare on the same files can find the database busy while the stack writes: retry.
  const once = () =>
    new Promise<string>((resolve, reject) =>
      execFile(
        join(ROOT, "node_modules", ".bin", "wrangler"),
        ["d1", "execute", "DB", "--local", "--persist-to", s.persistTo, "--json", "--command", sql],
        { cwd: ROOT, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => (err ? reject(new Error(`wrangler d1 execute failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
  let out: string;
  for (let attempt = 1; ; attempt++) {
    try {
      out = await once();
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const parsed = JSON.parse(out) as { results: T[] }[];
  return parsed.flatMap((r) => r.results);
}

export interface ProcessInfo {
  pid: number;
  /** Process group: a stack's `wrangler dev` leads its own, with the workerd it starts. */
  pgrp: number;
  args: string[];
}

/** Every live process whose command line this user may read (as `ps` shows them to anyone). */
export function processes(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const args = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").filter(Boolean);
      // The command may hold spaces and parentheses: the fields after its closing ")" are fixed.
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (args.length) found.push({ pid: Number(d), pgrp, args });
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}
