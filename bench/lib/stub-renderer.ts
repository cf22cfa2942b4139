// A stand-in for the renderer on the stack's renderer port: the Worker dispatches to it exactly as
// to the real one (POST /jobs, DELETE /jobs/:id, GET /health), and it finishes jobs through the
// Worker's internal routes (output upload, completion report) like the real one does. What it
// receives and sends is held to the renderer contract: a job outside it is refused (400) as the
// real renderer refuses it, and its answers and reports are the contract's types.
import { createServer, request as httpRequest, type Server } from "node:http";
import { parseRenderJob, RENDERER_PATHS } from "../../contract/renderer.ts";
import type { RenderJob, RendererHealth, RenderReport, StartJobResponse } from "../../contract/renderer.ts";

export interface Dispatch {
  jobId: string;
  attempt: number;
  /** performance.now() when the job was accepted. */
  at: number;
  /** Wall clock (ms) when accepted. */
  wall: number;
}

export interface StubOptions {
  /** Jobs held at once; more are refused as busy (503). Infinity = accept everything. */
  capacity: number;
  /**
   * What to do with an accepted job. Default: nothing (the job stays PROCESSING; give the stack a
   * long LEASE_SECONDS). The promise settling frees the slot.
   */
  onAccept?: (job: RenderJob) => Promise<void>;
}

export interface StubRenderer {
  server: Server;
  dispatches: Dispatch[];
  refused: number;
  running(): number;
  close(): Promise<void>;
}

export function startStubRenderer(port: number, o: StubOptions): Promise<StubRenderer> {
  const running = new Set<string>();
  const stub: StubRenderer = {
    server: undefined as unknown as Server,
    dispatches: [],
    refused: 0,
    running: () => running.size,
    close: () => new Promise((r) => stub.server.close(() => r())),
  };
  const send = (res: import("node:http").ServerResponse, status: number, body?: unknown) => {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
  };
  stub.server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://stub").pathname;
    if (path === RENDERER_PATHS.health) {
      const health: RendererHealth = { ok: true, engines: { native: true, wasm: false }, slots: o.capacity, running: [...running] };
      return send(res, 200, health);
    }
    if (path.startsWith(`${RENDERER_PATHS.jobs}/`) && req.method === "DELETE") {
      running.delete(decodeURIComponent(path.slice(RENDERER_PATHS.jobs.length + 1)));
      return send(res, 204);
    }
    if (path !== RENDERER_PATHS.jobs || req.method !== "POST") return send(res, 404, { error: "not found" });
    const answer = (status: number, r: StartJobResponse) => send(res, status, r);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const parsed = parseRenderJob(jsonOrUndefined(Buffer.concat(chunks).toString("utf8")));
      if (!parsed.ok) return send(res, 400, { accepted: false, errors: parsed.errors });
      const job = parsed.job;
      if (running.size >= o.capacity) {
        stub.refused++;
        return answer(503, { accepted: false, reason: "busy" });
      }
      running.add(job.jobId);
      stub.dispatches.push({ jobId: job.jobId, attempt: job.attempt, at: performance.now(), wall: Date.now() });
      answer(202, { accepted: true });
      if (o.onAccept) {
        o.onAccept(job)
          .catch((e) => console.error(`stub renderer: job ${job.jobId}: ${(e as Error).message}`))
          .finally(() => running.delete(job.jobId));
      }
    });
  });
  stub.server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    stub.server.once("error", reject);
    stub.server.listen(port, "127.0.0.1", () => resolve(stub));
  });
}

/** PUTs `length` bytes produced by `chunk(offset, size)` to `url`, streamed (never held whole). */
export function putStream(
  url: string,
  token: string,
  length: number,
  contentType: string,
  chunk: (offset: number, size: number) => Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": contentType, "content-length": String(length) },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    const STEP = 1 << 20;
    let offset = 0;
    const pump = () => {
      while (offset < length) {
        const size = Math.min(STEP, length - offset);
        const ok = req.write(chunk(offset, size));
        offset += size;
        if (!ok) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

/** Completes a job the way the renderer does: upload the output, then report `completed`. */
export async function completeJob(job: RenderJob, output: Buffer, durationMs = 1000): Promise<void> {
  const put = await withRestarts(() =>
    fetch(job.output.url, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${job.callback.token}`,
        "content-type": job.output.contentType,
        "content-length": String(output.length),
      },
      body: new Uint8Array(output),
    }),
  );
  if (put.status !== 200) throw new Error(`output upload: ${put.status} ${put.text}`);
  await report(job, { event: "completed", attempt: job.attempt, durationMs, size: output.length, engine: "native" });
}

export async function report(job: RenderJob, body: RenderReport): Promise<void> {
  const res = await withRestarts(() =>
    fetch(job.callback.url, {
      method: "POST",
      headers: { authorization: `Bearer ${job.callback.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  if (res.status !== 200) throw new Error(`report: ${res.status} ${res.text}`);
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A write that met a Worker reload (503 "restarted mid-request") is sent again. */
async function withRestarts(send: () => Promise<Response>): Promise<{ status: number; text: string }> {
  for (let i = 0; ; i++) {
    const res = await send();
    const text = await res.text();
    if (res.status !== 503 || !/restarted mid-request/.test(text) || i >= 4) return { status: res.status, text };
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Deterministic bytes: every 8-byte word holds its own offset, so any range can be checked. */
export function patternChunk(offset: number, size: number): Buffer {
  const start = offset - (offset % 8);
  const buf = Buffer.alloc(size + (offset - start) + 8);
  for (let o = 0; o < buf.length; o += 8) buf.writeBigUInt64BE(BigInt(start + o), o);
  return buf.subarray(offset - start, offset - start + size);
}
