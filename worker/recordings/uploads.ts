import type { z } from "@hono/zod-openapi";
import type { Principal } from "../auth/principal";
import { findRecording, recordingMessage } from "../db/recordings";
import type { TrackUploadRow } from "../db/schema";
import {
  claimCompletion,
  deleteExpiredUploads,
  deleteUpload,
  findUpload,
  forgetPart,
  insertUpload,
  purgeExpiredUploads,
  putPart,
  releaseCompletion,
  type Upload,
  type UploadOwner,
} from "../db/uploads";
import { workerConfig } from "../config";
import type { Env } from "../env";
import { Problem, problem } from "../http/problem";
import { inBoundedBatches } from "../retention";
import { trackKey } from "../media/keys";
import type { CompleteInput, UploadInput } from "../schemas/uploads";
import { declaredLength, isLengthError, mediaType, recordStoredMedia, requireTrack, sizedBody } from "./ingest";
import { PRESIGN_SECONDS, presignParts } from "./presign";

// Tracks larger than one request may carry (Cloudflare's edge: 100 MB on Free/Pro), in parts. Each
// upload is one R2 multipart upload straight to the track's key: until it completes R2 holds no
// object there (a track that had media keeps serving it), and an aborted one leaves nothing.

/** R2 aborts a multipart upload left incomplete this long (its default lifecycle rule). */
const UPLOAD_TTL_MS = 7 * 24 * 3600 * 1000;

/**
 * Parts are as large as a request may be (fewest requests), unless UPLOAD_PART_SIZE asks for less
 * (worker/config.ts). R2 wants every part but the last of one size, at least 5 MiB: with at most
 * 5 GiB that is at most 1024 parts, well inside R2's 10,000.
 */
const partSize = (env: Env): number => workerConfig(env).uploadPartSize;

const owner = (p: Principal, conversationId: string, trackId: string): UploadOwner => ({
  organizationId: p.organizationId,
  conversationId,
  trackId,
});

/** The size part `n` must have: `partSize`, except the last, which holds the rest. */
function expectedSize(u: TrackUploadRow, n: number): number {
  return n < u.partCount ? u.partSize : u.size - u.partSize * (u.partCount - 1);
}

/** R2's answer when the multipart upload is gone (aborted, completed, or expired). */
const isNoSuchUpload = (err: unknown) => /\(10024\)|multipart upload does not exist/i.test(String(err));
/** R2's answer when a listed part's etag is not the part it holds (it was sent again meanwhile). */
const isInvalidPart = (err: unknown) => /\(10025\)|parts could not be found/i.test(String(err));

export async function createUpload(env: Env, p: Principal, conversationId: string, trackId: string, input: z.infer<typeof UploadInput>) {
  await requireTrack(env, p, conversationId, trackId);
  const contentType = mediaType(input.contentType);
  if (!contentType) {
    throw problem.badRequest(`contentType "${input.contentType.slice(0, 64)}" is not media.`, [
      { field: "body.contentType", message: "must be audio/*, video/* or application/octet-stream" },
    ]);
  }
  const now = Date.now();
  // Uploads R2 has aborted by now are forgotten here, so abandoned ones do not pile up in D1.
  await deleteExpiredUploads(env.DB, p.organizationId, now - UPLOAD_TTL_MS);
  const partBytes = partSize(env);
  const mediaKey = trackKey(p.organizationId, conversationId, trackId);
  const r2 = await env.MEDIA.createMultipartUpload(mediaKey, { httpMetadata: { contentType } });
  const row: TrackUploadRow = {
    id: crypto.randomUUID(),
    ...owner(p, conversationId, trackId),
    size: input.size,
    partSize: partBytes,
    partCount: Math.ceil(input.size / partBytes),
    contentType,
    mediaKey,
    r2UploadId: r2.uploadId,
    createdAt: now,
    completedAt: null,
  };
  await insertUpload(env.DB, row);
  const created = { uploadId: row.id, partSize: row.partSize, partCount: row.partCount };
  const s3 = workerConfig(env).s3;
  if (!s3) return created;
  const parts = await presignParts(s3, {
    mediaKey,
    r2UploadId: r2.uploadId,
    partCount: row.partCount,
    sizeOf: (n) => expectedSize(row, n),
  });
  return { ...created, parts, expiresInSeconds: PRESIGN_SECONDS };
}

/** The upload, if it is this organization's and R2 still holds it; 404 otherwise. */
async function requireUpload(env: Env, p: Principal, conversationId: string, trackId: string, uploadId: string): Promise<Upload> {
  const found = await findUpload(env.DB, owner(p, conversationId, trackId), uploadId);
  if (!found || found.upload.createdAt < Date.now() - UPLOAD_TTL_MS) {
    throw problem.notFound(`No upload "${uploadId}" of track "${trackId}" (unknown, aborted, or expired after 7 days).`);
  }
  return found;
}

const alreadyCompleted = (u: TrackUploadRow) => problem.conflict(`Upload "${u.id}" is already completed.`);

function uploadStatus({ upload: u, parts }: Upload) {
  return {
    uploadId: u.id,
    size: u.size,
    partSize: u.partSize,
    partCount: u.partCount,
    contentType: u.contentType,
    completed: u.completedAt !== null,
    parts: parts.map((part) => ({ partNumber: part.partNumber, size: part.size })),
  };
}

export async function getUpload(env: Env, p: Principal, conversationId: string, trackId: string, uploadId: string) {
  return uploadStatus(await requireUpload(env, p, conversationId, trackId, uploadId));
}

/** Streams one part into the R2 upload. Its size is known before a byte is read: refused if wrong. */
export async function uploadPart(
  env: Env,
  p: Principal,
  conversationId: string,
  trackId: string,
  uploadId: string,
  n: number,
  req: Request,
) {
  const { upload: u } = await requireUpload(env, p, conversationId, trackId, uploadId);
  if (u.completedAt !== null) throw alreadyCompleted(u);
  if (n > u.partCount) {
    throw problem.badRequest(`Part ${n} is beyond this upload's ${u.partCount} parts.`, [
      { field: "path.partNumber", message: `must be from 1 to ${u.partCount}` },
    ]);
  }
  const expected = expectedSize(u, n);
  const length = declaredLength(req);
  if (length !== expected) {
    throw problem.badRequest(`Part ${n} must be exactly ${expected} bytes; this one announces ${length}.`, [
      { field: "path.partNumber", message: `part ${n} must be ${expected} bytes, not ${length}` },
    ]);
  }
  if (!req.body) throw problem.badRequest(`Part ${n} is empty.`, [{ field: "body", message: "is empty" }]);

  const body = sizedBody(req.body, expected);
  const wrongLength = async () => {
    // R2 may now hold this part or the one before it: either way the client must send it again.
    await forgetPart(env.DB, u.id, n);
    return problem.badRequest(`The body of part ${n} is not the ${expected} bytes its Content-Length announced.`, [
      { field: "body", message: "length differs from Content-Length" },
    ]);
  };
  let etag: string;
  try {
    ({ etag } = await env.MEDIA.resumeMultipartUpload(u.mediaKey, u.r2UploadId).uploadPart(n, body.readable));
  } catch (err) {
    if (isLengthError(err)) throw await wrongLength();
    if (isNoSuchUpload(err)) throw await storageForgot(env, u);
    throw err;
  }
  if (await body.overflowed()) throw await wrongLength();
  try {
    await putPart(env.DB, { uploadId: u.id, partNumber: n, size: expected, etag, uploadedAt: Date.now() });
  } catch (err) {
    // Aborted while this part streamed in: the part row has no upload to belong to.
    if (/FOREIGN KEY/i.test(String(err))) throw problem.notFound(`Upload "${u.id}" was aborted while part ${n} was uploading.`);
    throw err;
  }
  return { partNumber: n, size: expected };
}

/** R2 no longer has the upload (its lifecycle aborted it): forget it too. */
async function storageForgot(env: Env, u: TrackUploadRow): Promise<Problem> {
  await deleteUpload(env.DB, u.id);
  return problem.notFound(`Upload "${u.id}" no longer exists in storage; start a new one.`);
}

/** "1, 3-5, 9": the part numbers in `1..count` that `have` lacks. */
function missingParts(have: number[], count: number): string {
  const got = new Set(have);
  const runs: [number, number][] = [];
  for (let n = 1; n <= count; n++) {
    if (got.has(n)) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === n - 1) last[1] = n;
    else runs.push([n, n]);
  }
  return runs.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ");
}

/**
 * The parts to assemble, in order: those received through the part route, and those the client
 * sent to presigned URLs (listed with R2's ETag; a listed part wins, the client sent it last).
 */
function partList(u: TrackUploadRow, received: Upload["parts"], listed: NonNullable<z.infer<typeof CompleteInput>["parts"]>) {
  const etags = new Map(received.map((part) => [part.partNumber, part.etag]));
  const seen = new Set<number>();
  listed.forEach((part, i) => {
    if (part.partNumber > u.partCount || seen.has(part.partNumber)) {
      const why = seen.has(part.partNumber) ? "is listed twice" : `must be from 1 to ${u.partCount}`;
      throw problem.badRequest(`Invalid body.parts.${i}.partNumber.`, [{ field: `body.parts.${i}.partNumber`, message: why }]);
    }
    seen.add(part.partNumber);
    // S3 clients quote ETags as the header carries them; R2 takes them bare.
    etags.set(part.partNumber, part.etag.replace(/^"(.*)"$/, "$1"));
  });
  const missing = missingParts([...etags.keys()], u.partCount);
  if (missing) {
    throw new Problem(409, "Conflict", `Parts ${missing} of ${u.partCount} are missing: upload them, then complete again.`, [
      { field: "parts", message: `missing ${missing}` },
    ]);
  }
  return [...etags].sort(([a], [b]) => a - b).map(([partNumber, etag]) => ({ partNumber, etag }));
}

/** Assembles the parts into the track's object and stores the track as a single PUT does. */
export async function completeUpload(
  env: Env,
  p: Principal,
  conversationId: string,
  trackId: string,
  uploadId: string,
  input: z.infer<typeof CompleteInput>,
) {
  const { upload: u, parts } = await requireUpload(env, p, conversationId, trackId, uploadId);
  if (u.completedAt !== null) throw alreadyCompleted(u);
  const list = partList(u, parts, input.parts ?? []);
  // Two completes at once: one claims, the other is refused as for a completed upload.
  if (!(await claimCompletion(env.DB, u.id, Date.now()))) throw alreadyCompleted(u);

  let object: R2Object;
  try {
    object = await env.MEDIA.resumeMultipartUpload(u.mediaKey, u.r2UploadId).complete(list);
  } catch (err) {
    if (isNoSuchUpload(err)) throw await storageForgot(env, u);
    await releaseCompletion(env.DB, u.id);
    // A part re-sent while completing (or a wrong ETag listed) does not match what R2 holds.
    if (isInvalidPart(err))
      throw problem.conflict("A part is not the one storage holds (re-sent meanwhile, or a wrong etag); complete again.");
    throw err;
  }
  await recordStoredMedia(env, p, conversationId, trackId, { mediaKey: u.mediaKey, mediaSize: object.size, contentType: u.contentType });
  const rec = await findRecording(env.DB, p.organizationId, conversationId);
  return recordingMessage(rec!);
}

/** Aborts the R2 upload (R2 keeps nothing of it) and forgets it; a completed one is only forgotten. */
export async function abortUpload(env: Env, p: Principal, conversationId: string, trackId: string, uploadId: string): Promise<void> {
  const { upload: u } = await requireUpload(env, p, conversationId, trackId, uploadId);
  if (u.completedAt === null) {
    try {
      await env.MEDIA.resumeMultipartUpload(u.mediaKey, u.r2UploadId).abort();
    } catch (err) {
      if (!isNoSuchUpload(err)) throw err;
    }
  }
  await deleteUpload(env.DB, u.id);
}

/** Cron: forgets every organization's uploads past UPLOAD_TTL_MS, so one that stops uploading leaves none behind. */
export function forgetExpiredUploads(env: Env, now = Date.now()): Promise<number> {
  return inBoundedBatches((limit) => purgeExpiredUploads(env.DB, now - UPLOAD_TTL_MS, limit));
}
