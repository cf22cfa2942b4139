import { FORMATS, type RenderJob, type RenderReport } from "../../contract/renderer";
import { appendAudit } from "../db/compliance";
import { conversationCompositions } from "../db/compositions";
import { revokeLinks } from "../db/link-revocations";
import { findRecording, type Recording } from "../db/recordings";
import * as db from "../db/redactions";
import type { RewrittenTrack } from "../db/redactions";
import { SETTLED_STATES, type SourceRedactionRow, type TrackRow } from "../db/schema";
import { requeue } from "../db/transitions";
import type { Env } from "../env";
import { problem } from "../http/problem";
import { trackKey } from "../media/keys";
import type { RedactionSpan } from "../schemas/compliance";
import { announcer } from "../webhooks/events";
import { queueDeliveries } from "../webhooks/queue";
import { randomToken } from "./lease-token";
import { wakeUp } from "./messages";
import { cleanupOutputs } from "./outputs";
import { renderRedactions } from "./redaction-spans";
import { rendererFor } from "./renderer";
import { internalRedactionUrls, jobSettings } from "./settings";

// A source redaction's run: each affected track is one TRACK render under the redaction's lease,
// its output staged beside the original; when all are rewritten they replace the originals in one
// batch (audited with every SHA-256), the originals are deleted and the conversation's compositions
// re-executed from the redacted tracks.

const parse = <T>(json: string) => JSON.parse(json) as T;
const trackIdsOf = (row: SourceRedactionRow) => parse<string[]>(row.trackIds);
const doneOf = (row: SourceRedactionRow) => parse<RewrittenTrack[]>(row.done);

/** Where the current track's rewrite is staged: next to the original, a key of this lease's own. */
export function stagedKey(row: SourceRedactionRow, token: string): string {
  const trackId = trackIdsOf(row)[doneOf(row).length]!;
  return `${trackKey(row.organizationId, row.conversationId, trackId)}.redacted-${token.slice(0, 16)}`;
}

/** The track the current lease rewrites, with its recording (read once for both). */
export async function currentTrack(env: Env, row: SourceRedactionRow): Promise<{ rec: Recording; track: TrackRow }> {
  const rec = await findRecording(env.DB, row.organizationId, row.conversationId);
  const id = trackIdsOf(row)[doneOf(row).length];
  const track = rec?.tracks.find((t) => t.id === id);
  if (!rec || !track?.mediaKey) throw new Error(`track "${id}" of the recording has no stored media any more`);
  return { rec, track };
}

async function trackJob(env: Env, row: SourceRedactionRow, token: string): Promise<RenderJob> {
  const { rec, track } = await currentTrack(env, row);
  const offsetMs = track.started - rec.recording.started;
  const durationMs = Math.max(1, (track.stopped ?? rec.recording.stopped) - track.started);
  // On the track's own clock, clipped to it.
  const redactions = renderRedactions(parse<RedactionSpan[]>(row.spans), [track])
    .map((r) => ({ ...r, startMs: Math.max(0, r.startMs - offsetMs), endMs: Math.min(durationMs, r.endMs - offsetMs) }))
    .filter((r) => r.endMs > r.startMs);
  const urls = internalRedactionUrls(env, row.id);
  return {
    jobId: `${row.id}.${doneOf(row).length}`,
    attempt: row.attempts,
    type: "TRACK",
    format: "WEBM",
    width: 0,
    height: 0,
    durationMs,
    tracks: [
      {
        id: track.id,
        participantId: track.participantId,
        url: urls.track(track.id),
        offsetMs: 0,
        durationMs,
        audio: track.audio,
        video: track.video,
        size: track.mediaSize ?? 0,
      },
    ],
    redactions,
    output: { url: urls.output, contentType: FORMATS.WEBM.contentType, multipartUrl: urls.multipart },
    callback: { url: urls.report, token },
  };
}

/** Starts the next track of the oldest runnable redaction; null when there is none (compositions go next). */
export async function dispatchRedaction(env: Env, now = Date.now()): Promise<"dispatched" | "busy" | "failed" | null> {
  const token = randomToken();
  const row = await db.claimRedaction(env.DB, token, now, jobSettings(env).leaseMs);
  if (!row) return null;
  let job: RenderJob;
  try {
    job = await trackJob(env, row, token);
  } catch (err) {
    await settleFailure(env, row, token, (err as Error).message, false);
    return "failed";
  }
  const started = await rendererFor(env).start(job);
  if (started.accepted) {
    await db.recordRedactionInstance(env.DB, row.id, token, started.instance);
    return "dispatched";
  }
  await db.releaseRedactionClaim(env.DB, row.id, token, Date.now());
  return "busy";
}

/** Overall progress: the tracks done, and the current one's share. */
const overall = (row: SourceRedactionRow, trackPercent: number) =>
  Math.min(99, Math.floor(((doneOf(row).length + trackPercent / 100) / trackIdsOf(row).length) * 100));

/** A renderer's report on the current track; null when the lease no longer holds. */
export async function applyRedactionReport(env: Env, row: SourceRedactionRow, token: string, report: RenderReport) {
  if (report.attempt !== row.attempts)
    throw problem.conflict(`Report for attempt ${report.attempt}, but attempt ${row.attempts} is running.`);
  const now = Date.now();
  switch (report.event) {
    case "progress":
      return db.redactionHeartbeat(env.DB, row.id, token, overall(row, report.progress), now, jobSettings(env).leaseMs);
    case "completed":
      return trackRewritten(env, row, token);
    case "failed":
      if (report.handedBack) {
        const back = await db.releaseRedactionClaim(env.DB, row.id, token, now);
        await wakeUp(env.JOBS, `handed back redaction ${row.id}`);
        return back;
      }
      return settleFailure(env, row, token, report.error, report.retryable);
  }
}

async function sha256Hex(env: Env, key: string): Promise<string> {
  const object = await env.MEDIA.get(key);
  if (!object) throw new Error(`object ${key} is missing`);
  const digest = new crypto.DigestStream("SHA-256");
  await object.body.pipeTo(digest);
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function trackRewritten(env: Env, row: SourceRedactionRow, token: string) {
  const key = stagedKey(row, token);
  const head = await env.MEDIA.head(key);
  if (!head) return settleFailure(env, row, token, "renderer reported completion but no track was uploaded", true);
  const { rec, track } = await currentTrack(env, row);
  const rewritten: RewrittenTrack = {
    trackId: track.id,
    key,
    size: head.size,
    contentType: track.video ? "video/webm" : "audio/webm",
    sha256Before: await sha256Hex(env, track.mediaKey!),
    sha256After: await sha256Hex(env, key),
  };
  const done = [...doneOf(row), rewritten];
  if (done.length < trackIdsOf(row).length) {
    const next = await db.redactionTrackDone(env.DB, row.id, token, done, overall({ ...row, done: JSON.stringify(done) }, 0), Date.now());
    await wakeUp(env.JOBS, `redaction ${row.id}: next track`);
    return next;
  }
  return replaceOriginals(env, row, token, rec, done);
}

/** Every track rewritten: the swap and its audit entry in one batch, then the originals go and the compositions re-run. */
async function replaceOriginals(env: Env, row: SourceRedactionRow, token: string, rec: Recording, done: RewrittenTrack[]) {
  const original = new Map(rec.tracks.map((t) => [t.id, t.mediaKey]));
  const swaps = done.map((d) => ({ ...d, originalKey: original.get(d.trackId) ?? "" }));
  const now = Date.now();
  const audit = {
    organizationId: row.organizationId,
    at: now,
    actorSub: row.requestedBy,
    actorRole: row.requestedRole,
    action: "redaction.completed",
    conversationId: row.conversationId,
    compositionId: null,
    details: {
      redactionId: row.id,
      requested: new Date(row.createdAt).toISOString(),
      spans: parse<RedactionSpan[]>(row.spans),
      reason: row.reason,
      tracks: done.map(({ trackId, sha256Before, sha256After }) => ({ trackId, sha256Before, sha256After })),
    },
  };
  if (!(await db.completeRedaction(env.DB, row, token, swaps, audit, now))) return null;
  await env.MEDIA.delete(swaps.map((s) => s.originalKey).filter(Boolean));
  await reexecuteAll(env, row);
  await wakeUp(env.JOBS, `redaction ${row.id} completed`);
  return db.findRedactionById(env.DB, row.id);
}

/**
 * The conversation's settled compositions render again from the redacted tracks; their old outputs
 * go now, and every link given so far is revoked (it would otherwise serve the new output, or a
 * copy a browser still holds, as if nothing had changed).
 */
async function reexecuteAll(env: Env, row: SourceRedactionRow): Promise<void> {
  for (const c of await conversationCompositions(env.DB, row.organizationId, row.conversationId)) {
    if (!(SETTLED_STATES as readonly string[]).includes(c.state)) continue;
    await revokeLinks(env.DB, c.organizationId, c.id, Date.now());
    await cleanupOutputs(env, c, true);
    const requeued = await requeue(env.DB, c, c.priority, Date.now(), { outputKey: null, outputSize: null }, announcer(env));
    if (requeued) await queueDeliveries(env, requeued.deliveries);
  }
}

/** The current track failed: tried again while attempts remain, else the redaction FAILS and its staged tracks go. */
async function settleFailure(env: Env, row: SourceRedactionRow, token: string, error: string, retryable: boolean) {
  const final = !retryable || row.attempts >= jobSettings(env).maxAttempts;
  const after = await db.redactionAttemptFailed(env.DB, row.id, token, error, final, Date.now());
  if (!after) return null;
  if (final) {
    await env.MEDIA.delete([...doneOf(row).map((d) => d.key), stagedKey(row, token)]);
    await appendAudit(env.DB, {
      organizationId: row.organizationId,
      at: Date.now(),
      actorSub: "redaction",
      actorRole: "SYSTEM",
      action: "redaction.failed",
      conversationId: row.conversationId,
      compositionId: null,
      details: { redactionId: row.id, error, tracksLeftUnchanged: trackIdsOf(row) },
    });
  }
  await wakeUp(env.JOBS, final ? `redaction ${row.id} failed` : `retry redaction ${row.id}`);
  return after;
}

/** Leases whose renderer went quiet: the track is tried again, or the redaction fails. */
export async function reclaimRedactions(env: Env, now = Date.now()): Promise<void> {
  for (const row of await db.expiredRedactions(env.DB, now)) {
    await settleFailure(env, row, row.leaseToken!, "the renderer stopped reporting (lease expired)", true);
  }
}
