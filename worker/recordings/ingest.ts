import type { z } from "@hono/zod-openapi";
import type { Principal } from "../auth/principal";
import { clearTrackMedia, findRecording, markTrackStored, recordingMessage, upsertRecording } from "../db/recordings";
import type { Env } from "../env";
import { problem, type FieldError } from "../http/problem";
import { trackKey } from "../media/keys";
import { fireHooks } from "../hooks/fire";
import type { RecordingInput } from "../schemas/recording";

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
    if (ts < started || ts > stopped) errors.push({ field: `body.tracks.${i}.started`, message: "must lie within the recording's started..stopped" });
    if (t.stopped !== undefined && Date.parse(t.stopped) < ts) errors.push({ field: `body.tracks.${i}.stopped`, message: "must not be before the track's started" });
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
    })),
    Date.now(),
  );
  if (dropped.length) await env.MEDIA.delete(dropped);
  const rec = await findRecording(env.DB, p.organizationId, conversationId);
  // A PUT that drops the only track still missing media completes the recording too.
  await fireHooks(env, p.organizationId, conversationId);
  return recordingMessage(rec!);
}

/** Streams the request body into R2: the Worker never holds the media in memory. */
export async function storeTrackMedia(env: Env, p: Principal, conversationId: string, trackId: string, req: Request) {
  const rec = await findRecording(env.DB, p.organizationId, conversationId);
  if (!rec) throw problem.notFound(`No recording of conversation "${conversationId}"; PUT its metadata first.`);
  if (!rec.tracks.some((t) => t.id === trackId)) throw problem.notFound(`Track "${trackId}" is not in the recording's metadata.`);

  const contentType = (req.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (!MEDIA_TYPE.test(contentType)) {
    throw problem.status(415, `Content-Type "${contentType || "(none)"}" is not media; send audio/*, video/* or application/octet-stream.`);
  }
  const declared = req.headers.get("Content-Length");
  if (declared === null) throw problem.status(411, "Content-Length is required so the media can be streamed into storage.");
  if (!/^\d{1,15}$/.test(declared.trim())) {
    throw problem.badRequest("Content-Length must be a whole number of bytes.", [{ field: "header.content-length", message: "is not a byte count" }]);
  }
  const length = Number(declared.trim());
  if (length === 0 || !req.body) throw problem.badRequest("The track's media is empty.", [{ field: "body", message: "is empty" }]);

  const key = trackKey(p.organizationId, conversationId, trackId);
  // R2 needs a stream of known length. A body that reached us through a binding (or any stream the
  // runtime cannot size) is sized by Content-Length here, which also refuses a body of another length.
  const sized = new FixedLengthStream(length);
  let pipeError: unknown = null;
  const pumped = req.body.pipeTo(sized.writable).catch((err: unknown) => {
    pipeError = err;
  });
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
    object = await env.MEDIA.put(key, sized.readable, { httpMetadata: { contentType } });
  } catch (err) {
    // The runtime reports a length mismatch on the sized stream R2 reads.
    if (/FixedLengthStream|expected bytes/i.test(String(err))) throw await wrongLength();
    throw err;
  }
  await pumped;
  if (pipeError) {
    // R2 took the announced bytes but more followed: what was stored is not the client's file.
    await env.MEDIA.delete(key);
    await clearTrackMedia(env.DB, { organizationId: p.organizationId, conversationId, id: trackId });
    throw await wrongLength();
  }
  if (!object) throw problem.status(500, "Storage refused the upload.");
  const stillThere = await markTrackStored(
    env.DB,
    { organizationId: p.organizationId, conversationId, id: trackId },
    { mediaKey: key, mediaSize: object.size, contentType },
    Date.now(),
  );
  // The metadata may have been replaced while bytes streamed in: never leave an orphan behind.
  if (!stillThere) {
    await env.MEDIA.delete(key);
    throw problem.conflict(`Track "${trackId}" was removed from the recording while its media was uploading.`);
  }
  // This track may have been the last one missing: composition hooks decide (and never throw).
  await fireHooks(env, p.organizationId, conversationId);
  return { conversationId, trackId, size: object.size, contentType };
}
