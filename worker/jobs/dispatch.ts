import { FORMATS, type RenderJob } from "../../contract/renderer";
import { countQueuedSince } from "../db/compositions";
import { findRecording } from "../db/recordings";
import type { CompositionRow, TrackRow } from "../db/schema";
import { claimNext, fail, peekQueued, reclaimExpired, recordRendererInstance, releaseClaim } from "../db/transitions";
import { peekUnit } from "../db/units";
import { dispatchUnit, fanoutOf, startFanout } from "./fanout";
import { reclaimUnits } from "./fanout-reports";
import type { Env } from "../env";
import { cleanupOutputs } from "./outputs";
import { wakeUpToFill, type RenderJobMessage } from "./messages";
import { rendererFor } from "./renderer";
import { channelsOf, whoIs } from "./channels";
import { dispatchRedaction, reclaimRedactions } from "./redaction-run";
import { renderRedactions } from "./redaction-spans";
import { parseOptions, select, type CompositionOptions } from "./selection";
import { announcer } from "../webhooks/events";
import { queueDeliveries } from "../webhooks/queue";
import { randomToken } from "./lease-token";
import { internalUrls, jobSettings } from "./settings";

export type DispatchOutcome = "dispatched" | "idle" | "busy" | "failed";

/**
 * Claims the best QUEUED job and hands it to a renderer; a full renderer undoes the claim. The
 * claim records `started`, so every report of the run (it needs the claim's token) comes after it;
 * its deliveries are queued once a renderer took the job, and taken back with a claim it did not.
 */
export async function dispatchOne(env: Env, now = Date.now()): Promise<DispatchOutcome> {
  // A pending redaction goes first: its conversation cannot be composed until it ends.
  const redaction = await dispatchRedaction(env, now);
  if (redaction) return redaction;
  // A unit of a split composition stands in its composition's place in line (strict priority).
  if (await unitGoesFirst(env.DB)) {
    const unit = await dispatchUnit(env, (row, token) => buildRenderJob(env, row, token), now);
    if (unit !== "idle") return unit;
  }
  const { leaseMs, maxAttempts } = jobSettings(env);
  const announce = announcer(env);
  const token = randomToken();
  const claim = await claimNext(env.DB, token, now, leaseMs, announce);
  if (!claim) return "idle";
  const job = claim.row;

  let renderJob: RenderJob;
  try {
    renderJob = await buildRenderJob(env, job, token);
  } catch (err) {
    const failure = { error: (err as Error).message, retryable: false };
    const failed = await fail(env.DB, job, token, failure, maxAttempts, Date.now(), announce, claim.started);
    if (failed) await queueDeliveries(env, failed.deliveries);
    return "failed";
  }
  const windows = fanoutOf(env, renderJob);
  if (windows) {
    await startFanout(env, job, token, windows, renderJob.durationMs);
    await queueDeliveries(env, claim.deliveries);
    return "dispatched";
  }
  const started = await rendererFor(env).start(renderJob);
  if (started.accepted) {
    await recordRendererInstance(env.DB, job.id, token, started.instance);
    await queueDeliveries(env, claim.deliveries);
    return "dispatched";
  }
  await releaseClaim(env.DB, job.id, token, Date.now(), claim.started);
  console.log(JSON.stringify({ msg: "renderer refused job", id: job.id, reason: started.reason }));
  return "busy";
}

/** The next unit is ahead of the next composition: a higher priority, or the same and queued no later. */
async function unitGoesFirst(db: D1Database): Promise<boolean> {
  const unit = await peekUnit(db);
  if (!unit) return false;
  const next = await peekQueued(db);
  return !next || unit.priority > next.priority || (unit.priority === next.priority && unit.queuedAt <= next.queuedAt);
}

export async function buildRenderJob(env: Env, job: CompositionRow, token: string): Promise<RenderJob> {
  const rec = await findRecording(env.DB, job.organizationId, job.conversationId);
  if (!rec) throw new Error(`the recording of conversation "${job.conversationId}" no longer exists`);
  const options = parseOptions(job.options);
  const selection = select(rec.recording, rec.tracks, job.type, options);
  const channels = channelsOf(rec.recording, selection.audio, options);
  const audioIds = new Set(selection.audio.map((t) => t.id));
  const videoIds = new Set(selection.video.map((t) => t.id));
  const wanted = rec.tracks.filter((t) => audioIds.has(t.id) || videoIds.has(t.id));
  const missing = wanted.filter((t) => !t.mediaKey);
  if (missing.length) throw new Error(`media not stored for track(s) ${missing.map((t) => `"${t.id}"`).join(", ")}`);
  const [width, height] = job.resolution.split("x").map(Number) as [number, number];
  const urls = internalUrls(env, job.id);
  return {
    jobId: job.id,
    attempt: job.attempts,
    type: job.type,
    format: job.format,
    width,
    height,
    durationMs: rec.recording.stopped - rec.recording.started,
    tracks: wanted.map((t) => ({
      id: t.id,
      participantId: t.participantId,
      url: urls.track(t.id),
      offsetMs: Math.max(0, t.started - rec.recording.started),
      ...(t.stopped !== null ? { durationMs: Math.max(0, t.stopped - t.started) } : {}),
      audio: audioIds.has(t.id),
      video: videoIds.has(t.id),
      size: t.mediaSize ?? 0,
      ...(channels?.has(t.id) ? { channel: channels.get(t.id)! } : {}),
      ...whoIs(rec.recording, t),
    })),
    ...(selection.keep ? { keep: selection.keep } : {}),
    ...redactionsOf(options, wanted),
    ...(options.loudness !== undefined ? { loudness: options.loudness } : {}),
    ...(job.type === "VIDEO" ? videoExtras(options) : {}),
    output: { url: urls.output, contentType: FORMATS[job.format].contentType, multipartUrl: urls.multipart },
    callback: { url: urls.report, token },
  };
}

/** Tile labels and the speaker highlight, both on unless the request turned them off. */
function videoExtras(o: CompositionOptions): Pick<RenderJob, "labels" | "highlight"> {
  return { labels: o.labels !== false, ...(o.highlightSpeaker !== false ? { highlight: { color: o.highlightColor ?? "#FFC800" } } : {}) };
}

/** The job's `redactions`, when its options ask for any that touch its tracks. */
function redactionsOf(options: CompositionOptions, tracks: TrackRow[]): Pick<RenderJob, "redactions"> {
  const redactions = options.redactions ? renderRedactions(options.redactions, tracks) : [];
  return redactions.length ? { redactions } : {};
}

/** Expired leases go back to the queue (with a wake-up) or end FAILED; their partial outputs go. */
export async function reclaim(env: Env, now = Date.now()): Promise<CompositionRow[]> {
  await reclaimRedactions(env, now);
  await reclaimUnits(env, now);
  const reclaimed = await reclaimExpired(env.DB, jobSettings(env).maxAttempts, now, announcer(env));
  for (const { row, deliveries } of reclaimed) {
    await cleanupOutputs(env, row);
    await queueDeliveries(env, deliveries);
    if (row.state === "QUEUED") await wakeUpToFill(env.JOBS, `lease expired: ${row.id}`);
  }
  return reclaimed.map((r) => r.row);
}

/** Backoff for a full or unreachable renderer: 2, 4, 8 … 60 s. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(60, 2 ** Math.max(1, attempts));
}

/** Bounds one wake-up's work; the renderer's whole capacity (instances × slots) is normally smaller. */
export const MAX_DISPATCHES_PER_MESSAGE = 10;

/**
 * A recovery wake-up fills every free renderer slot, not just one: when messages were lost (a
 * restarted local queue, messages dead-lettered during a long outage) the cron's single wake-up and
 * the completions' "slot freed" messages would otherwise run the backlog one job at a time.
 */
async function dispatchUntilFull(env: Env): Promise<DispatchOutcome> {
  let outcome: DispatchOutcome = "idle";
  for (let n = 0; n < MAX_DISPATCHES_PER_MESSAGE; n++) {
    outcome = await dispatchOne(env);
    if (outcome === "idle" || outcome === "busy") break;
  }
  return outcome;
}

export async function handleQueueBatch(batch: MessageBatch<RenderJobMessage>, env: Env): Promise<void> {
  await reclaim(env);
  let busy = false;
  for (const msg of batch.messages) {
    const outcome = busy ? "busy" : msg.body?.fill ? await dispatchUntilFull(env) : await dispatchOne(env);
    if (outcome === "busy") {
      busy = true;
      msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts) });
    } else {
      msg.ack();
    }
  }
}

/** The cron's safety net: reclaim leases, and wake the queue for QUEUED jobs whose messages were lost. */
export async function handleCron(env: Env, now = Date.now()): Promise<void> {
  await reclaim(env, now);
  const stale = await countQueuedSince(env.DB, now - 60_000);
  if (stale > 0) await wakeUpToFill(env.JOBS, `cron: ${stale} queued`);
}
