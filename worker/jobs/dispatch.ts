import type { RenderJob } from "../../contract/renderer";
import { findRecording } from "../db/recordings";
import type { CompositionRow } from "../db/schema";
import type { Env } from "../env";
import { cleanupOutputs } from "./outputs";
import { claimNext, fail, reclaimExpired, recordRendererInstance, releaseClaim } from "./lifecycle";
import { wakeUp, wakeUpToFill, type RenderJobMessage } from "./messages";
import { rendererFor } from "./renderer";
import { parseOptions, select } from "./selection";
import { emitCompositionEvent, emitStarted } from "../webhooks/events";
import { internalUrls, jobSettings } from "./settings";

export type DispatchOutcome = "dispatched" | "idle" | "busy" | "failed";

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Claims the best QUEUED job and hands it to a renderer; a full renderer undoes the claim. */
export async function dispatchOne(env: Env, now = Date.now()): Promise<DispatchOutcome> {
  const { leaseMs, maxAttempts } = jobSettings(env);
  const token = randomToken();
  const job = await claimNext(env.DB, token, now, leaseMs);
  if (!job) return "idle";

  let renderJob: RenderJob;
  try {
    renderJob = await buildRenderJob(env, job, token);
  } catch (err) {
    const failed = await fail(env.DB, job.id, token, (err as Error).message, false, maxAttempts, Date.now());
    if (failed) await emitCompositionEvent(env, failed, "composition.failed");
    return "failed";
  }
  const started = await rendererFor(env).start(renderJob);
  if (started.accepted) {
    await recordRendererInstance(env.DB, job.id, token, started.instance);
    await emitStarted(env, { ...job, rendererInstance: started.instance });
    return "dispatched";
  }
  await releaseClaim(env.DB, job.id, token, Date.now());
  console.log(JSON.stringify({ msg: "renderer refused job", id: job.id, reason: started.reason }));
  return "busy";
}

export async function buildRenderJob(env: Env, job: CompositionRow, token: string): Promise<RenderJob> {
  const rec = await findRecording(env.DB, job.organizationId, job.conversationId);
  if (!rec) throw new Error(`the recording of conversation "${job.conversationId}" no longer exists`);
  const selection = select(rec.recording, rec.tracks, job.type, parseOptions(job.options));
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
    })),
    ...(selection.keep ? { keep: selection.keep } : {}),
    output: { url: urls.output, contentType: job.format === "MP3" ? "audio/mpeg" : "video/mp4", multipartUrl: urls.multipart },
    callback: { url: urls.report, token },
  };
}

/** Expired leases go back to the queue (with a wake-up) or end FAILED; their partial outputs go. */
export async function reclaim(env: Env, now = Date.now()): Promise<CompositionRow[]> {
  const rows = await reclaimExpired(env.DB, jobSettings(env).maxAttempts, now);
  for (const row of rows) {
    await cleanupOutputs(env, row);
    if (row.state === "QUEUED") await wakeUpToFill(env.JOBS, `lease expired: ${row.id}`);
    if (row.state === "FAILED") await emitCompositionEvent(env, row, "composition.failed");
  }
  return rows;
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
  const stale = await env.DB.prepare(`SELECT count(*) AS n FROM compositions WHERE state = 'QUEUED' AND queued_at < ?1`)
    .bind(now - 60_000)
    .first<{ n: number }>();
  if (stale && stale.n > 0) await wakeUpToFill(env.JOBS, `cron: ${stale.n} queued`);
}
