// The renderer's HTTP surface: accept jobs up to SLOTS at once, cancel them, report health, and
// on SIGTERM/SIGINT hand every running job back to the Worker (failed, retryable) before exiting.
import { cpus, tmpdir } from "node:os";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { realpathSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseRenderJob, RENDERER_PATHS, type RenderJob, type RendererHealth, type StartJobResponse } from "../../contract/renderer.ts";
import { wasmMaxBytes } from "./engines/choose.ts";
import { setupEngines, type EngineSet } from "./engines/setup.ts";
import { DEFAULT_HEARTBEAT_MS, DEFAULT_WATCHDOG_MS, JobStop, runJob, type JobContext, type JobOutcome } from "./job.ts";

const MAX_BODY = 1024 * 1024;
/** A cancelled job must be gone within 5 s; SIGKILL comes at 2 s, so this is only a backstop. */
const CANCEL_WAIT_MS = 5000;
const SHUTDOWN_WAIT_MS = 15_000;

export interface RendererOptions {
  engines: EngineSet;
  slots?: number;
  tmpRoot?: string;
  wasmMaxBytes?: number;
  watchdogMs?: number;
  heartbeatMs?: number;
  log?: (line: string) => void;
  /** Called when a job settles (tests observe outcomes through it). */
  onOutcome?: (job: RenderJob, outcome: JobOutcome) => void;
}

interface Running {
  job: RenderJob;
  controller: AbortController;
  done: Promise<JobOutcome>;
}

export interface Renderer {
  server: Server;
  listen(port: number, host?: string): Promise<number>;
  running(): string[];
  /** Stops accepting, stops every job (reported failed+retryable) and closes the server. */
  shutdown(): Promise<void>;
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error("body too large");
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const settleWithin = (p: Promise<unknown>, ms: number) =>
  Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);

export function createRenderer(o: RendererOptions): Renderer {
  const slots = Math.max(1, o.slots ?? 1);
  const log = o.log ?? ((l: string) => console.log(l));
  const jobs = new Map<string, Running>();
  let closing = false;
  const ctx: JobContext = {
    engines: o.engines,
    tmpRoot: o.tmpRoot ?? tmpdir(),
    wasmMaxBytes: o.wasmMaxBytes ?? wasmMaxBytes(),
    watchdogMs: o.watchdogMs ?? DEFAULT_WATCHDOG_MS,
    heartbeatMs: o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    log,
  };

  function start(job: RenderJob): void {
    const controller = new AbortController();
    const entry: Running = { job, controller, done: Promise.resolve({ status: "stopped" }) };
    const release = () => {
      if (jobs.get(job.jobId) === entry) jobs.delete(job.jobId);
    };
    entry.done = runJob(job, controller.signal, ctx, release)
      .catch((e): JobOutcome => ({ status: "failed", error: String(e), retryable: true }))
      .then((outcome) => {
        release();
        o.onOutcome?.(job, outcome);
        return outcome;
      });
    jobs.set(job.jobId, entry);
  }

  async function postJob(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (e) {
      return send(res, 400, { accepted: false, errors: [`invalid JSON body: ${(e as Error).message}`] });
    }
    const parsed = parseRenderJob(body);
    if (!parsed.ok) return send(res, 400, { accepted: false, errors: parsed.errors });
    const job = parsed.job;
    const answer = (status: number, r: StartJobResponse) => send(res, status, r);
    if (closing) return answer(503, { accepted: false, reason: "shutting-down" });
    const current = jobs.get(job.jobId);
    if (current) {
      if (job.attempt <= current.job.attempt) return answer(409, { accepted: false, reason: "duplicate" });
      // The Worker re-leased the job (our lease lapsed): the old attempt's reports would be refused anyway.
      log(`[job ${job.jobId}] attempt ${job.attempt} supersedes attempt ${current.job.attempt}`);
      current.controller.abort(new JobStop("superseded"));
    } else if (jobs.size >= slots) {
      return answer(503, { accepted: false, reason: "busy" });
    }
    start(job);
    log(`[job ${job.jobId}#${job.attempt}] accepted (${job.type}, ${job.tracks.length} track(s))`);
    answer(202, { accepted: true });
  }

  async function deleteJob(jobId: string, res: ServerResponse): Promise<void> {
    const entry = jobs.get(jobId);
    if (!entry) return send(res, 404, { error: "unknown job" });
    entry.controller.abort(new JobStop("cancel"));
    await settleWithin(entry.done, CANCEL_WAIT_MS);
    send(res, 204);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://renderer");
    const path = url.pathname;
    const handle = async () => {
      if (path === RENDERER_PATHS.health && (req.method === "GET" || req.method === "HEAD")) {
        const health: RendererHealth = { ok: true, engines: o.engines.health(), slots, running: [...jobs.keys()] };
        return send(res, 200, health);
      }
      if (path === RENDERER_PATHS.jobs && req.method === "POST") return postJob(req, res);
      const m = /^\/jobs\/([^/]+)$/.exec(path);
      if (m && req.method === "DELETE") return deleteJob(decodeURIComponent(m[1]!), res);
      send(res, m || path === RENDERER_PATHS.jobs ? 405 : 404, { error: "not found" });
    };
    handle().catch((e) => {
      log(`request ${req.method} ${path} failed: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) send(res, 500, { error: "internal error" });
    });
  });
  server.keepAliveTimeout = 5000;

  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          const addr = server.address();
          resolve(typeof addr === "object" && addr ? addr.port : port);
        });
      }),
    running: () => [...jobs.keys()],
    async shutdown() {
      closing = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const pending = [...jobs.values()];
      for (const j of pending) j.controller.abort(new JobStop("shutdown"));
      await settleWithin(Promise.allSettled(pending.map((j) => j.done)), SHUTDOWN_WAIT_MS);
      server.closeAllConnections();
      await closed;
      await o.engines.close();
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * This process's scratch dir, `<root>/renderer-<pid>`. A killed renderer cannot clean up after
 * itself, so dirs of renderers that no longer run (and any leftovers under our own pid, which a
 * restarted container may reuse) are removed here, before any job starts.
 */
async function workspace(root: string): Promise<string> {
  await mkdir(root, { recursive: true });
  for (const name of await readdir(root)) {
    const pid = Number(/^renderer-(\d+)$/.exec(name)?.[1]);
    if (pid && (pid === process.pid || !alive(pid))) await rm(join(root, name), { recursive: true, force: true });
  }
  const mine = join(root, `renderer-${process.pid}`);
  await mkdir(mine, { recursive: true });
  return mine;
}

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) ? Math.floor(v) : fallback;
}

export async function main(): Promise<void> {
  const engines = await setupEngines();
  const slots = Math.max(1, envInt("SLOTS", cpus().length || 1));
  const tmpRoot = await workspace(process.env.RENDERER_TMPDIR || tmpdir());
  const renderer = createRenderer({
    engines,
    slots,
    tmpRoot,
    watchdogMs: envInt("RENDERER_WATCHDOG_MS", DEFAULT_WATCHDOG_MS),
  });
  const port = await renderer.listen(envInt("PORT", 8080), process.env.HOST || undefined);
  console.log(`renderer listening on port ${port}, ${slots} slot(s); ${engines.summary}`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) {
      // A repeated SIGTERM is often the same stop delivered twice (to the process and its group);
      // only a second Ctrl-C means "now".
      if (sig === "SIGINT") process.exit(1);
      return;
    }
    stopping = true;
    console.log(`${sig}: stopping ${renderer.running().length} job(s) and exiting`);
    renderer.shutdown().then(
      () => rm(tmpRoot, { recursive: true, force: true }).finally(() => process.exit(0)),
      (e) => (console.error("shutdown failed", e), process.exit(1)),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

const entry = process.argv[1];
const isMain = (() => {
  try {
    return Boolean(entry) && realpathSync(entry!) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (isMain) {
  main().catch((e) => {
    console.error("renderer failed to start:", e);
    process.exit(1);
  });
}
