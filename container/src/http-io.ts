// The job's HTTP traffic with the Worker: track downloads, output upload, reports. Bodies are
// streamed to and from files, never held whole in memory.
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { z } from "zod";
import {
  issueMessages,
  MultipartCreatedSchema,
  MultipartPartSchema,
  multipartUploadUrls,
  type MultipartComplete,
  type RenderJob,
  type RenderReport,
} from "../../contract/renderer.ts";

/** A job-ending error with the retry verdict the Worker needs. */
export class JobError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "JobError";
  }
}

/** The Worker no longer recognises this attempt (cancelled, re-leased, deleted): stop quietly. */
export class LeaseLostError extends Error {
  constructor(what: string, status: number) {
    super(`lease lost: ${what} answered ${status}`);
    this.name = "LeaseLostError";
  }
}

export const MULTIPART_THRESHOLD = 64 * 1024 * 1024;
export const PART_SIZE = 16 * 1024 * 1024;

// 403/404 = token no longer valid, 409/410 = another attempt or state: the Worker's stale-lease answers.
const LEASE_LOST = new Set([403, 404, 409, 410]);
const transientStatus = (s: number) => s >= 500 || s === 408 || s === 429;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });

class Transient extends Error {}

/** Retries transient failures (network, 5xx) with exponential backoff; anything else passes through. */
export async function withRetries<T>(attempts: number, signal: AbortSignal | undefined, fn: (i: number) => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn(i);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      // Network errors surface as assorted TypeErrors/system errors: everything unclassified is transient.
      const transient = !(e instanceof JobError || e instanceof LeaseLostError);
      if (!transient || i + 1 >= attempts) throw e;
      await sleep(500 * 2 ** i, signal);
    }
  }
}

const errText = (e: unknown) => {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
};

/**
 * GETs a track into `dest`. A retry resumes with a Range request when the server honours it.
 * Returns the number of bytes stored.
 */
export async function downloadTrack(
  track: { id: string; url: string },
  token: string,
  dest: string,
  signal: AbortSignal,
  onBytes: (n: number) => void = () => {},
): Promise<number> {
  const name = `track "${track.id}"`;
  try {
    return await withRetries(3, signal, async () => {
      const have = await stat(dest).then(
        (s) => s.size,
        () => 0,
      );
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (have > 0) headers.range = `bytes=${have}-`;
      const res = await fetch(track.url, { headers, signal });
      if (res.status === 416 && have > 0) return have;
      if (!res.ok) {
        await res.body?.cancel();
        if (transientStatus(res.status)) throw new Transient(`HTTP ${res.status}`);
        throw new JobError(`${name}: download failed (HTTP ${res.status})`, false);
      }
      const append = res.status === 206 && have > 0;
      const expected = Number(res.headers.get("content-length") ?? NaN);
      if (!res.body) throw new Transient("empty response body");
      const counted = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
      counted.on("data", (d: Buffer) => onBytes(d.length));
      await pipeline(counted, createWriteStream(dest, { flags: append ? "a" : "w" }), { signal });
      const size = (await stat(dest)).size;
      const got = size - (append ? have : 0);
      if (Number.isFinite(expected) && !res.headers.get("content-encoding") && got !== expected) {
        throw new Transient(`truncated (${got} of ${expected} bytes)`);
      }
      if (size === 0) throw new JobError(`${name}: invalid data (empty file)`, false);
      return size;
    });
  } catch (e) {
    if (signal.aborted || e instanceof JobError) throw e;
    throw new JobError(`${name}: download failed (${errText(e)})`, true);
  }
}

export async function put(
  url: string,
  token: string,
  file: string,
  start: number,
  length: number,
  contentType: string,
  signal: AbortSignal,
): Promise<Response> {
  const body = Readable.toWeb(createReadStream(file, { start, end: start + length - 1 }));
  const res = await fetch(url, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": contentType, "content-length": String(length) },
    body: body as unknown as BodyInit,
    duplex: "half",
    signal,
  } as RequestInit);
  return check(res, `PUT ${new URL(url).pathname}`);
}

/** The Worker's JSON answer, held to the contract: a body outside it is the Worker's bug, not trusted. */
async function answer<T>(res: Response, schema: z.ZodType<T>, what: string): Promise<T> {
  const parsed = schema.safeParse(await res.json().catch(() => undefined));
  if (parsed.success) return parsed.data;
  throw new JobError(`upload failed: ${what} answered a body outside the contract (${issueMessages(parsed.error).join("; ")})`, true);
}

async function check(res: Response, what: string): Promise<Response> {
  if (res.ok) return res;
  const text = await res.text().catch(() => "");
  if (LEASE_LOST.has(res.status)) throw new LeaseLostError(what, res.status);
  if (transientStatus(res.status)) throw new Transient(`${what}: HTTP ${res.status}`);
  throw new JobError(`upload failed: ${what} answered ${res.status} ${text.slice(0, 200)}`, true);
}

/** Uploads the output: one PUT, or 16 MiB parts through the multipart endpoints above 64 MiB. */
export async function uploadOutput(
  job: RenderJob,
  file: string,
  signal: AbortSignal,
  onBytes: (n: number) => void = () => {},
  limits = { multipartAbove: MULTIPART_THRESHOLD, partSize: PART_SIZE },
): Promise<number> {
  const size = (await stat(file)).size;
  const PART = limits.partSize;
  const { token } = job.callback;
  const { url, multipartUrl, contentType } = job.output;
  try {
    if (size <= limits.multipartAbove) {
      await withRetries(3, signal, () => put(url, token, file, 0, size, contentType, signal));
      onBytes(size);
      return size;
    }
    const urls = multipartUploadUrls(multipartUrl);
    const created = await withRetries(3, signal, async () =>
      check(await fetch(urls.create, { method: "POST", headers: { authorization: `Bearer ${token}` }, signal }), "POST multipart"),
    );
    const { uploadId } = await answer(created, MultipartCreatedSchema, "POST multipart");
    const completion: MultipartComplete = { parts: [] };
    for (let partNumber = 1, start = 0; start < size; partNumber++, start += PART) {
      const length = Math.min(PART, size - start);
      const res = await withRetries(3, signal, () => put(urls.part(uploadId, partNumber), token, file, start, length, contentType, signal));
      const { etag } = await answer(res, MultipartPartSchema, `PUT part ${partNumber}`);
      completion.parts.push({ partNumber, etag });
      onBytes(length);
    }
    await withRetries(3, signal, async () =>
      check(
        await fetch(urls.complete(uploadId), {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(completion),
          signal,
        }),
        "complete multipart",
      ),
    );
    return size;
  } catch (e) {
    if (signal.aborted || e instanceof JobError || e instanceof LeaseLostError) throw e;
    throw new JobError(`upload failed (${errText(e)})`, true);
  }
}

export type ReportResult = "ok" | "lease-lost" | "failed";

/** POSTs one report; transient failures are retried `retries` times with backoff. */
export async function sendReport(job: RenderJob, report: RenderReport, retries = 4): Promise<ReportResult> {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(job.callback.url, {
        method: "POST",
        headers: { authorization: `Bearer ${job.callback.token}`, "content-type": "application/json" },
        body: JSON.stringify(report),
        signal: AbortSignal.timeout(15_000),
      });
      await res.body?.cancel();
      if (res.ok) return "ok";
      if (LEASE_LOST.has(res.status)) return "lease-lost";
      if (!transientStatus(res.status)) return "failed";
    } catch {
      // network error or timeout: retry below
    }
    if (i >= retries) return "failed";
    await sleep(500 * 2 ** i);
  }
}
