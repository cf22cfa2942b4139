// The renderer's HTTP surface: accept jobs up to SLOTS at once, cancel them, report health, and
// drain on SIGTERM: no new jobs, running ones finish within the grace period, the rest are handed back
// to the Worker (requeued without costing an attempt) before exiting.
import { tmpdir } from "node:os";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { realpathSync } from "node:fs";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseRenderJob, RENDERER_PATHS, type RenderJob, type RendererHealth, type StartJobResponse } from "../../contract/renderer.ts";
import { rendererConfig, StartupError } from "./config.ts";
import { WASM_MAX_INPUT_BYTES } from "./engines/choose.ts";
import { setupEngines, type EngineSet } from "./engines/setup.ts";
import { DEFAULT_HEARTBEAT_MS, DEFAULT_WATCHDOG_MS, JobStop, runJob, type JobContext, type JobOutcome } from "./job.ts";
import { listenError } from "./ports.ts";
import { workspace } from "./workspace.ts";

const MAX_BODY = 1024 * 1024;
/** A cancelled job must be gone within 5 s; SIGKILL comes at 2 s, so this is only a backstop. */
const CANCEL_WAIT_MS = 5000;
/** Jobs stopped at the end of a drain report their hand-back and clean up within this. */
const HAND_BACK_WAIT_MS = 15_000;

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
  /**
   * Drains: refuses new jobs (503 shutting-down) while health and cancel keep answering, lets running
   * jobs finish for up to `graceMs` (default 0), hands back the rest (reported failed + handedBack),
   * then closes the server. Called again during the grace, it shortens the grace to its own.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/** What the request handlers share: the running jobs and whether the renderer still takes new ones. */
interface State {
  slots: number;
  log: (line: string) => void;
  jobs: Map<string, Running>;
  ctx: JobContext;
  draining: boolean;
  onOutcome?: RendererOptions["onOutcome"];
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

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const settleWithin = (p: Promise<unknown>, ms: number) => Promise.race([p, sleep(ms)]);

function jobContext(o: RendererOptions, log: State["log"]): JobContext {
  return {
    engines: o.engines,
    tmpRoot: o.tmpRoot ?? tmpdir(),
    wasmMaxBytes: o.wasmMaxBytes ?? WASM_MAX_INPUT_BYTES,
    watchdogMs: o.watchdogMs ?? DEFAULT_WATCHDOG_MS,
    heartbeatMs: o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    log,
  };
}

function startJob(state: State, job: RenderJob): void {
  const controller = new AbortController();
  const entry: Running = { job, controller, done: Promise.resolve({ status: "stopped" }) };
  const release = () => {
    if (state.jobs.get(job.jobId) === entry) state.jobs.delete(job.jobId);
  };
  entry.done = runJob(job, controller.signal, state.ctx, release)
    .catch((e): JobOutcome => ({ status: "failed", error: String(e), retryable: true }))
    .then((outcome) => {
      release();
      state.onOutcome?.(job, outcome);
      return outcome;
    });
  state.jobs.set(job.jobId, entry);
}

/** Why a valid job cannot start now, or null when it may (superseding an older attempt of it). */
function refusal(state: State, job: RenderJob): { status: number; body: StartJobResponse } | null {
  if (state.draining) return { status: 503, body: { accepted: false, reason: "shutting-down" } };
  const current = state.jobs.get(job.jobId);
  if (current) {
    if (job.attempt <= current.job.attempt) return { status: 409, body: { accepted: false, reason: "duplicate" } };
    // The Worker re-leased the job (our lease lapsed): the old attempt's reports would be refused anyway.
    state.log(`[job ${job.jobId}] attempt ${job.attempt} supersedes attempt ${current.job.attempt}`);
    current.controller.abort(new JobStop("superseded"));
    return null;
  }
  return state.jobs.size >= state.slots ? { status: 503, body: { accepted: false, reason: "busy" } } : null;
}

async function postJob(state: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: unknown;
  try {
    body = await readJson(req);
  } catch (e) {
    return send(res, 400, { accepted: false, errors: [`invalid JSON body: ${(e as Error).message}`] });
  }
  const parsed = parseRenderJob(body);
  if (!parsed.ok) return send(res, 400, { accepted: false, errors: parsed.errors });
  const job = parsed.job;
  const refused = refusal(state, job);
  if (refused) return send(res, refused.status, refused.body);
  startJob(state, job);
  state.log(`[job ${job.jobId}#${job.attempt}] accepted (${job.type}, ${job.tracks.length} track(s))`);
  send(res, 202, { accepted: true } satisfies StartJobResponse);
}

async function deleteJob(state: State, jobId: string, res: ServerResponse): Promise<void> {
  const entry = state.jobs.get(jobId);
  if (!entry) return send(res, 404, { error: "unknown job" });
  entry.controller.abort(new JobStop("cancel"));
  await settleWithin(entry.done, CANCEL_WAIT_MS);
  send(res, 204);
}

function requestHandler(state: State, engines: EngineSet): RequestListener {
  return (req, res) => {
    const path = new URL(req.url ?? "/", "http://renderer").pathname;
    const handle = async () => {
      if (path === RENDERER_PATHS.health && (req.method === "GET" || req.method === "HEAD")) {
        const health: RendererHealth = { ok: true, engines: engines.health(), slots: state.slots, running: [...state.jobs.keys()] };
        return send(res, 200, health);
      }
      if (path === RENDERER_PATHS.jobs && req.method === "POST") return postJob(state, req, res);
      const m = /^\/jobs\/([^/]+)$/.exec(path);
      if (m && req.method === "DELETE") return deleteJob(state, decodeURIComponent(m[1]!), res);
      send(res, m || path === RENDERER_PATHS.jobs ? 405 : 404, { error: "not found" });
    };
    handle().catch((e) => {
      state.log(`request ${req.method} ${path} failed: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) send(res, 500, { error: "internal error" });
    });
  };
}

/** The grace period, which a later, shorter shutdown request may cut. */
class Grace {
  private end: () => void = () => {};
  private timer: NodeJS.Timeout | undefined;
  readonly over = new Promise<void>((r) => (this.end = r));

  constructor(ms: number) {
    this.shorten(ms);
  }

  shorten(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.end, ms);
  }

  /** Every job finished early: nothing must keep the process waiting for the rest of the grace. */
  clear(): void {
    clearTimeout(this.timer);
  }
}

async function drain(state: State, server: Server, engines: EngineSet, grace: Grace): Promise<void> {
  state.draining = true;
  const finishing = [...state.jobs.values()];
  await Promise.race([Promise.allSettled(finishing.map((j) => j.done)), grace.over]);
  grace.clear();
  const unfinished = [...state.jobs.values()];
  if (unfinished.length) state.log(`drain: handing back ${unfinished.length} unfinished job(s)`);
  for (const j of unfinished) j.controller.abort(new JobStop("shutdown"));
  // Also waits for the final reports of jobs that finished just now.
  await settleWithin(Promise.allSettled(finishing.map((j) => j.done)), HAND_BACK_WAIT_MS);
  const closed = new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections();
  await closed;
  await engines.close();
}

export function createRenderer(o: RendererOptions): Renderer {
  const log = o.log ?? ((l: string) => console.log(l));
  const state: State = {
    slots: Math.max(1, o.slots ?? 1),
    log,
    jobs: new Map(),
    ctx: jobContext(o, log),
    draining: false,
    onOutcome: o.onOutcome,
  };
  const server = createServer(requestHandler(state, o.engines));
  server.keepAliveTimeout = 5000;
  let grace: Grace | undefined;
  let drained: Promise<void> | undefined;

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
    running: () => [...state.jobs.keys()],
    shutdown(graceMs = 0) {
      if (grace && drained) {
        grace.shorten(graceMs);
        return drained;
      }
      grace = new Grace(graceMs);
      drained = drain(state, server, o.engines, grace);
      return drained;
    },
  };
}

/**
 * SIGTERM (a Cloudflare rollout, or the platform stopping an idle instance) drains for
 * RENDERER_DRAIN_SECONDS; SIGINT (Ctrl-C) hands running jobs back at once, and a second one exits now.
 */
function stopOnSignals(renderer: Renderer, drainMs: number, tmpRoot: string): void {
  let stopping = false;
  let graceCut = false;
  const stop = (sig: "SIGTERM" | "SIGINT") => {
    if (stopping) {
      // A repeated SIGTERM is often the same stop delivered twice (to the process and its group).
      if (sig === "SIGTERM") return;
      if (graceCut) process.exit(1);
      graceCut = true;
      console.log("SIGINT: handing back the jobs still running");
      void renderer.shutdown(0);
      return;
    }
    stopping = true;
    const graceMs = sig === "SIGTERM" ? drainMs : 0;
    graceCut = graceMs === 0;
    console.log(`${sig}: draining ${renderer.running().length} job(s) for up to ${Math.round(graceMs / 1000)} s, then exiting`);
    renderer.shutdown(graceMs).then(
      () => rm(tmpRoot, { recursive: true, force: true }).finally(() => process.exit(0)),
      (e) => (console.error("shutdown failed", e), process.exit(1)),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

export async function main(): Promise<void> {
  // First: a bad value stops the start before anything is loaded.
  const config = rendererConfig();
  const engines = await setupEngines(config.engines);
  const tmpRoot = await workspace(config.tmpRoot);
  const renderer = createRenderer({
    engines,
    slots: config.slots,
    tmpRoot,
    watchdogMs: config.watchdogMs,
    wasmMaxBytes: config.wasmMaxBytes,
  });
  const port = await renderer.listen(config.port, config.host).catch(async (e) => {
    throw await listenError(e, config.port, config.host);
  });
  console.log(`renderer listening on port ${port}, ${config.slots} slot(s); ${engines.summary}`);
  stopOnSignals(renderer, config.drainSeconds * 1000, tmpRoot);
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
    // What the operator can fix is said in one line; anything else keeps its stack.
    if (e instanceof StartupError) console.error(`renderer cannot start: ${e.message}`);
    else console.error("renderer failed to start:", e);
    process.exit(1);
  });
}
