// A stand-in for the Worker's side of the renderer contract, over real HTTP and on the contract's
// own routes: it serves track files (with Range), accepts the output (single PUT or multipart) and
// records every report. Bodies the renderer sends are held to the contract's schemas and refused
// (400) outside it, as the Worker refuses them.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { issueMessages, INTERNAL_ROUTES, internalJobUrls, MultipartCompleteSchema, RenderReportSchema } from "../../contract/renderer.ts";
import type { InternalRoute, MultipartCreated, MultipartPart, RenderJob, RenderReport } from "../../contract/renderer.ts";

export interface FakeTrack {
  id: string;
  file: string;
  offsetMs: number;
  audio: boolean;
  video: boolean;
  participantId?: string;
  durationMs?: number;
}

export interface TrackBehaviour {
  /** Answer with this status instead of the file. */
  status?: number;
  /** Hold the response until this promise settles. */
  hold?: Promise<unknown>;
}

export interface ReceivedReport {
  at: number;
  report: RenderReport;
}

export interface Upload {
  path: string;
  size: number;
  contentLength: number | null;
  parts?: number;
}

export class FakeWorker {
  readonly reports = new Map<string, ReceivedReport[]>();
  readonly uploads = new Map<string, Upload>();
  /** Review assets uploaded next to the output: job id → asset name → stored file. */
  readonly assets = new Map<string, Map<string, string>>();
  readonly unauthorized: string[] = [];
  /** Reports refused by the contract's schema: "jobId: field errors". */
  readonly rejectedReports: string[] = [];
  readonly requests: string[] = [];
  private files = new Map<string, { file: string; behaviour: TrackBehaviour }>();
  private tokens = new Map<string, string>();
  /** Status to answer reports of a job with (default 204). */
  readonly reportStatus = new Map<string, number>();
  private waiters = new Set<() => void>();
  private server!: Server;
  private dir!: string;
  private parts = new Map<string, Map<number, string>>();
  base = "";

  static async start(): Promise<FakeWorker> {
    const w = new FakeWorker();
    w.dir = await mkdtemp(join(tmpdir(), "fake-worker-"));
    w.server = createServer((req, res) => {
      w.handle(req, res).catch((e) => {
        // A client that hangs up mid-body (a cancelled download) is not an error of the fake.
        if (res.headersSent) res.destroy();
        else res.writeHead(500).end(String(e));
      });
    });
    await new Promise<void>((r) => w.server.listen(0, "127.0.0.1", r));
    const addr = w.server.address();
    w.base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    return w;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Registers the tracks and returns a RenderJob pointing at this server. */
  job(o: {
    jobId: string;
    attempt?: number;
    type: "AUDIO" | "VIDEO";
    durationMs: number;
    width?: number;
    height?: number;
    tracks: FakeTrack[];
    behaviour?: Record<string, TrackBehaviour>;
  }): RenderJob {
    const token = `tok-${o.jobId}-${Math.random().toString(36).slice(2)}`;
    this.tokens.set(o.jobId, token);
    const urls = internalJobUrls(this.base, o.jobId);
    const tracks = o.tracks.map((t) => {
      this.files.set(`${o.jobId}/${t.id}`, { file: t.file, behaviour: o.behaviour?.[t.id] ?? {} });
      return {
        id: t.id,
        participantId: t.participantId ?? `p-${t.id}`,
        url: urls.track(t.id),
        offsetMs: t.offsetMs,
        ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}),
        audio: t.audio,
        video: t.video,
        size: 0,
      };
    });
    return {
      jobId: o.jobId,
      attempt: o.attempt ?? 1,
      type: o.type,
      format: o.type === "AUDIO" ? "MP3" : "MP4",
      width: o.width ?? 0,
      height: o.height ?? 0,
      durationMs: o.durationMs,
      tracks,
      output: { url: urls.output, contentType: o.type === "AUDIO" ? "audio/mpeg" : "video/mp4", multipartUrl: urls.multipart },
      callback: { url: urls.report, token },
    };
  }

  /** Fills in each track's stored size (the renderer uses it for progress and engine choice). */
  async withSizes(job: RenderJob): Promise<RenderJob> {
    for (const t of job.tracks) t.size = (await stat(this.files.get(`${job.jobId}/${t.id}`)!.file)).size;
    return job;
  }

  reportsOf(jobId: string): RenderReport[] {
    return (this.reports.get(jobId) ?? []).map((r) => r.report);
  }

  finalReport(jobId: string): RenderReport | undefined {
    return this.reportsOf(jobId).find((r) => r.event !== "progress");
  }

  /** Resolves when `predicate` holds (re-checked on every request and every 100 ms). */
  async waitFor<T>(predicate: () => T | undefined | false, timeoutMs = 60_000, what = "condition"): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = predicate();
      if (v) return v;
      if (Date.now() > deadline) {
        const rejected = this.rejectedReports.length ? ` (reports refused by the contract: ${this.rejectedReports.join(" | ")})` : "";
        throw new Error(`timed out waiting for ${what}${rejected}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(done, 100);
        function done() {
          clearTimeout(t);
          r();
        }
        this.waiters.add(done);
      });
    }
  }

  waitForFinal(jobId: string, timeoutMs = 60_000): Promise<RenderReport> {
    return this.waitFor(() => this.finalReport(jobId), timeoutMs, `final report of ${jobId}`);
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  private authorized(req: IncomingMessage, jobId: string): boolean {
    const ok = req.headers.authorization === `Bearer ${this.tokens.get(jobId)}`;
    if (!ok) this.unauthorized.push(`${req.method} ${req.url}`);
    return ok;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.base);
    this.requests.push(`${req.method} ${url.pathname}`);
    const hit = matchRoute(req.method ?? "", url.pathname);
    try {
      if (!hit) return void res.writeHead(404).end();
      const { id: jobId = "", ...params } = hit.params;
      if (!this.authorized(req, jobId)) return void res.writeHead(401).end();
      switch (hit.route) {
        case "track":
          return await this.serveTrack(req, res, `${jobId}/${params.trackId}`);
        case "report":
          return await this.receiveReport(req, res, jobId);
        case "output":
          return await this.receiveOutput(req, res, jobId);
        case "asset":
          return await this.receiveAsset(req, res, jobId, params.name ?? "");
        case "multipartCreate":
          return this.createUpload(res);
        case "multipartPart":
          return await this.receivePart(req, res, jobId, params.uploadId ?? "", Number(params.part));
        case "multipartComplete":
          return await this.completeUpload(req, res, jobId, params.uploadId ?? "");
      }
    } finally {
      this.wake();
    }
  }

  private async receiveReport(req: IncomingMessage, res: ServerResponse, jobId: string): Promise<void> {
    const parsed = RenderReportSchema.safeParse(await jsonBody(req));
    if (!parsed.success) {
      const errors = issueMessages(parsed.error);
      this.rejectedReports.push(`${jobId}: ${errors.join("; ")}`);
      return json(res, { errors }, 400);
    }
    const list = this.reports.get(jobId) ?? [];
    list.push({ at: Date.now(), report: parsed.data });
    this.reports.set(jobId, list);
    res.writeHead(this.reportStatus.get(jobId) ?? 204).end();
  }

  private async serveTrack(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const entry = this.files.get(key);
    if (!entry) return void res.writeHead(404).end();
    await entry.behaviour.hold;
    if (entry.behaviour.status) return void res.writeHead(entry.behaviour.status).end();
    const size = (await stat(entry.file)).size;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (m) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size) return void res.writeHead(416, { "content-range": `bytes */${size}` }).end();
      res.writeHead(206, {
        "content-range": `bytes ${start}-${end}/${size}`,
        "content-length": end - start + 1,
        "accept-ranges": "bytes",
      });
      return pipeline(createReadStream(entry.file, { start, end }), res);
    }
    res.writeHead(200, { "content-length": size, "accept-ranges": "bytes" });
    return pipeline(createReadStream(entry.file), res);
  }

  private async receiveOutput(req: IncomingMessage, res: ServerResponse, jobId: string): Promise<void> {
    const cl = contentLength(req);
    if (cl === null) return void res.writeHead(411).end();
    const path = join(this.dir, `${jobId}.out`);
    await pipeline(req, createWriteStream(path));
    this.uploads.set(jobId, { path, size: (await stat(path)).size, contentLength: cl });
    json(res, { key: "output", size: cl });
  }

  private async receiveAsset(req: IncomingMessage, res: ServerResponse, jobId: string, name: string): Promise<void> {
    const cl = contentLength(req);
    if (cl === null) return void res.writeHead(411).end();
    const path = join(this.dir, `${jobId}.asset.${name}`);
    await pipeline(req, createWriteStream(path));
    this.assets.set(jobId, (this.assets.get(jobId) ?? new Map()).set(name, path));
    json(res, { key: name, size: cl });
  }

  private createUpload(res: ServerResponse): void {
    const uploadId = `up-${Math.random().toString(36).slice(2)}`;
    this.parts.set(uploadId, new Map());
    json(res, { uploadId } satisfies MultipartCreated);
  }

  private async receivePart(req: IncomingMessage, res: ServerResponse, jobId: string, uploadId: string, partNumber: number): Promise<void> {
    const parts = this.parts.get(uploadId);
    if (!parts || !Number.isInteger(partNumber)) return void res.writeHead(404).end();
    if (contentLength(req) === null) return void res.writeHead(411).end();
    const path = join(this.dir, `${jobId}.${uploadId}.${partNumber}`);
    await pipeline(req, createWriteStream(path));
    parts.set(partNumber, path);
    json(res, { partNumber, etag: `etag-${partNumber}` } satisfies MultipartPart);
  }

  private async completeUpload(req: IncomingMessage, res: ServerResponse, jobId: string, uploadId: string): Promise<void> {
    const parts = this.parts.get(uploadId);
    if (!parts) return void res.writeHead(404).end();
    const parsed = MultipartCompleteSchema.safeParse(await jsonBody(req));
    if (!parsed.success) return json(res, { errors: issueMessages(parsed.error) }, 400);
    const list = parsed.data.parts;
    const path = join(this.dir, `${jobId}.out`);
    const chunks = await Promise.all(list.map((p) => readFile(parts.get(p.partNumber) ?? "/nonexistent")));
    await writeFile(path, Buffer.concat(chunks));
    this.uploads.set(jobId, { path, size: (await stat(path)).size, contentLength: null, parts: list.length });
    json(res, { key: "output", size: (await stat(path)).size });
  }
}

/** The contract's route a request hits, with its decoded params, matched as the Worker's router does. */
function matchRoute(method: string, pathname: string): { route: InternalRoute; params: Record<string, string> } | undefined {
  for (const route of Object.keys(INTERNAL_ROUTES) as InternalRoute[]) {
    const { method: wanted, path } = INTERNAL_ROUTES[route];
    if (wanted !== method) continue;
    const names: string[] = [];
    const pattern = new RegExp(`^${path.replace(/:(\w+)/g, (_, name: string) => (names.push(name), "([^/]+)"))}$`);
    const m = pattern.exec(pathname);
    if (m) return { route, params: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(m[i + 1]!)])) };
  }
  return undefined;
}

function contentLength(req: IncomingMessage): number | null {
  return req.headers["content-length"] !== undefined ? Number(req.headers["content-length"]) : null;
}

/** The request's JSON body; anything unparsable is undefined, which every schema refuses. */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  try {
    return JSON.parse((await body(req)).toString());
  } catch {
    return undefined;
  }
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}
