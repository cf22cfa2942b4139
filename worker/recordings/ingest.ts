import type { z } from "@hono/zod-openapi";
import { API_BASE_PATH } from "../../contract/paths";
import type { Principal } from "../auth/principal";
import { clearTrackMedia, findRecording, markTrackStored, recordingMessage, upsertRecording } from "../db/recordings";
import type { Env } from "../env";
import { Problem, problem, type FieldError } from "../http/problem";
import { trackKey } from "../media/keys";
import { fireHooks } from "../hooks/fire";
import type { RecordingInput } from "../schemas/recording";
import { MAX_BODY_BYTES } from "./limits";

const MEDIA_TYPE = /^(audio|video)\/[\w.+-]+$|^application\/(octet-stream|ogg)$/;

export async function ingestRecording(env: Env, p: Principal, conversationId: string, input: z.infer<typeof RecordingInput>) {
  const started = Date.parse(input.started);
  const stopped = Date.parse(input.stopped);
  const errors: FieldError[] = [];
  if (stopped < started) errors.push({ field: "body.stopped", message: "must not be before started" });
  const seen = new Set<string>();
  input.tracks.forEach((t, i) => {
    if (seen.has(t.id)) errors.push({ field: `body.tracks.${i}.id`, message: `duplicate track id "${t.id}"` });
    seen.add(t.id);
    const ts = Date.parse(t.started);
    if (ts < started || ts > stopped)
      errors.push({ field: `body.tracks.${i}.started`, message: "must lie within the recording's started..stopped" });
    if (t.stopped !== undefined && Date.parse(t.stopped) < ts)
      errors.push({ field: `body.tracks.${i}.stopped`, message: "must not be before the track's started" });
    if (!t.audio && !t.video) errors.push({ field: `body.tracks.${i}`, message: "a track must have audio, video or both" });
  });
  if (errors.length) throw problem.badRequest(`Invalid ${errors.map((e) => e.field).join(", ")}.`, errors);

  const dropped = await upsertRecording(
    env.DB,
    { organizationId: p.organizationId, conversationId, agentId: input.agentId ?? null, started, stopped },
    input.tracks.map((t) => ({
      id: t.id,
      participantId: t.participantId,
      started: Date.parse(t.started),
      stopped: t.stopped === undefined ? null : Date.parse(t.stopped),
      audio: t.audio,
      video: t.video,
      role: t.role ?? null,
      displayName: t.displayName ?? null,
    })),
    Date.now(),
  );
  if (dropped.length) await env.MEDIA.delete(dropped);
  const rec = await findRecording(env.DB, p.organizationId, conversationId);
  // A PUT that drops the only track still missing media completes the recording too.
  await fireHooks(env, p.organizationId, conversationId);
  return recordingMessage(rec!);
}

/** The media type without parameters, lower-cased; null unless audio/*, video/* or raw bytes. */
export function mediaType(value: string | null | undefined): string | null {
  const type = (value ?? "").split(";")[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(type) ? type : null;
}

/** The recording, provided it has the track: 404 naming what is missing otherwise. */
export async function requireTrack(env: Env, p: Principal, conversationId: string, trackId: string) {
  const rec = await findRecording(env.DB, p.organizationId, conversationId);
  if (!rec) throw problem.notFound(`No recording of conversation "${conversationId}"; PUT its metadata first.`);
  if (!rec.tracks.some((t) => t.id === trackId)) throw problem.notFound(`Track "${trackId}" is not in the recording's metadata.`);
  return rec;
}

/** The body's announced length: R2 needs it to stream. 411 without one, 400 if it is no byte count. */
export function declaredLength(req: Request): number {
  const declared = req.headers.get("Content-Length");
  if (declared === null) throw problem.status(411, "Content-Length is required so the media can be streamed into storage.");
  if (!/^\d{1,15}$/.test(declared.trim())) {
    throw problem.badRequest("Content-Length must be a whole number of bytes.", [
      { field: "header.content-length", message: "is not a byte count" },
    ]);
  }
  return Number(declared.trim());
}

/**
 * R2 needs a stream of known length. A body that reached us through a binding (or any stream the
 * runtime cannot size) is sized by Content-Length here, which also refuses a body of another
 * length: a shorter one fails R2's read ({@link isLengthError}), a longer one shows in `overflowed()`
 * once R2 has taken the announced bytes.
 */
export function sizedBody(body: ReadableStream, length: number) {
  const sized = new FixedLengthStream(length);
  let pipeError: unknown = null;
  const pumped = body.pipeTo(sized.writable).catch((err: unknown) => {
    pipeError = err;
  });
  return {
    readable: sized.readable,
    overflowed: async () => {
      await pumped;
      return pipeError !== null;
    },
  };
}

/** The runtime reports a length mismatch on the sized stream R2 reads. */
export const isLengthError = (err: unknown) => /FixedLengthStream|expected bytes/i.test(String(err));

/**
 * Points the track at its stored media and lets composition hooks see it: the end of every upload,
 * a single PUT or a completed multipart one.
 */
export async function recordStoredMedia(
  env: Env,
  p: Principal,
  conversationId: string,
  trackId: string,
  media: { mediaKey: string; mediaSize: number; contentType: string },
) {
  const stillThere = await markTrackStored(env.DB, { organizationId: p.organizationId, conversationId, id: trackId }, media, Date.now());
  // The metadata may have been replaced while bytes streamed in: never leave an orphan behind.
  if (!stillThere) {
    await env.MEDIA.delete(media.mediaKey);
    throw problem.conflict(`Track "${trackId}" was removed from the recording while its media was uploading.`);
  }
  // This track may have been the last one missing: composition hooks decide (and never throw).
  await fireHooks(env, p.organizationId, conversationId);
}

/** Streams the request body into R2: the Worker never holds the media in memory. */
export async function storeTrackMedia(env: Env, p: Principal, conversationId: string, trackId: string, req: Request) {
  const rec = await requireTrack(env, p, conversationId, trackId);
  const contentType = mediaType(req.headers.get("Content-Type"));
  if (!contentType) {
    const given = (req.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
    throw problem.status(415, `Content-Type "${given || "(none)"}" is not media; send audio/*, video/* or application/octet-stream.`);
  }
  const length = declaredLength(req);
  // Refused before a byte is read: the edge would cut such a body off anyway.
  if (length > MAX_BODY_BYTES) throw tooLarge(conversationId, trackId, length);
  if (length === 0 || !req.body) throw problem.badRequest("The track's media is empty.", [{ field: "body", message: "is empty" }]);

  const key = trackKey(p.organizationId, conversationId, trackId);
  const body = sizedBody(req.body, length);
  const hadMedia = rec.tracks.some((t) => t.id === trackId && t.mediaKey !== null);
  const wrongLength = async () => {
    // A failed put leaves R2's previous object in place; a first upload must leave nothing behind.
    if (!hadMedia) await env.MEDIA.delete(key);
    return problem.badRequest(`The body is not the ${length} bytes its Content-Length announced.`, [
      { field: "body", message: "length differs from Content-Length" },
    ]);
  };
  let object: R2Object | null;
  try {
    object = await env.MEDIA.put(key, body.readable, { httpMetadata: { contentType } });
  } catch (err) {
    if (isLengthError(err)) throw await wrongLength();
    throw err;
  }
  if (await body.overflowed()) {
    // R2 took the announced bytes but more followed: what was stored is not the client's file.
    await env.MEDIA.delete(key);
    await clearTrackMedia(env.DB, { organizationId: p.organizationId, conversationId, id: trackId });
    throw await wrongLength();
  }
  if (!object) throw problem.status(500, "Storage refused the upload.");
  await recordStoredMedia(env, p, conversationId, trackId, { mediaKey: key, mediaSize: object.size, contentType });
  return { conversationId, trackId, size: object.size, contentType };
}

function tooLarge(conversationId: string, trackId: string, length: number) {
  const uploads = `${API_BASE_PATH}/recordings/${conversationId}/tracks/${trackId}/uploads`;
  return new Problem(
    413,
    "Content Too Large",
    `A single PUT takes at most ${MAX_BODY_BYTES} bytes (95 MiB); this one announces ${length}. ` +
      `Upload larger tracks in parts: POST ${uploads} (up to 5 GiB, resumable).`,
    [{ field: "header.content-length", message: `exceeds ${MAX_BODY_BYTES}` }],
  );
}
