import type { RenderReport } from "../../contract/renderer";
import { findCompositionById } from "../db/compositions";
import type { CompositionRow } from "../db/schema";
import type { Env } from "../env";
import { extractToken } from "../auth/jwt";
import { problem } from "../http/problem";
import { complete, fail, handBack, heartbeat } from "./lifecycle";
import { wakeUp } from "./messages";
import { cleanupOutputs, runOutputKey } from "./outputs";
import { jobSettings } from "./settings";
import { emitCompositionEvent, emitProgressIfDue, emitStarted } from "../webhooks/events";

function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * The renderer's credential is the lease token of the attempt it runs: once the job is cancelled,
 * deleted or re-leased the token matches nothing, so stale renderers are refused (403 / 404).
 */
export async function leasedJob(env: Env, jobId: string, authorization: string | undefined): Promise<{ row: CompositionRow; token: string }> {
  const token = extractToken(authorization);
  const row = await findCompositionById(env.DB, jobId);
  if (!row || row.state !== "PROCESSING" || !row.leaseToken) throw problem.notFound("No running job with this id.");
  if (!token || !sameToken(token, row.leaseToken)) throw problem.forbidden("This job token is not (or no longer) valid.");
  return { row, token };
}

export async function applyReport(env: Env, row: CompositionRow, token: string, report: RenderReport): Promise<CompositionRow | null> {
  const { leaseMs, maxAttempts } = jobSettings(env);
  const now = Date.now();
  if (report.attempt !== row.attempts) throw problem.conflict(`Report for attempt ${report.attempt}, but attempt ${row.attempts} is running.`);
  switch (report.event) {
    case "progress": {
      const beat = await heartbeat(env.DB, row.id, token, report.progress, report.etaSeconds ?? null, now, leaseMs);
      if (beat) await emitProgressIfDue(env, beat, token, now);
      return beat;
    }
    case "completed": {
      const key = runOutputKey(row, token);
      const head = await env.MEDIA.head(key);
      if (!head) {
        return settleFailure(env, row, token, "renderer reported completion but no output was uploaded", true, maxAttempts);
      }
      const done = await complete(env.DB, row.id, token, { key, size: head.size, durationMs: Math.round(report.durationMs), warnings: report.warnings ?? [] }, now);
      // The previous run's output (re-execution) is replaced only now that the new one is in place.
      if (done) {
        await cleanupOutputs(env, done);
        // A renderer slot just freed up: the next job need not wait for a busy message's backoff.
        await wakeUp(env.JOBS, `slot freed by ${row.id}`);
        await emitStarted(env, row);
        await emitCompositionEvent(env, done, "composition.completed");
      }
      return done;
    }
    case "failed":
      if (report.handedBack) return settleHandBack(env, row, token, report.error);
      return settleFailure(env, row, token, report.error, report.retryable, maxAttempts);
  }
}

/** Back to the queue without costing an attempt; like any requeue, not news to a webhook receiver. */
async function settleHandBack(env: Env, row: CompositionRow, token: string, reason: string) {
  const after = await handBack(env.DB, row.id, token, `handed back unfinished (${reason}); requeued`, Date.now());
  if (after) {
    await cleanupOutputs(env, after);
    await wakeUp(env.JOBS, `handed back ${row.id}`);
  }
  return after;
}

async function settleFailure(env: Env, row: CompositionRow, token: string, error: string, retryable: boolean, maxAttempts: number) {
  const after = await fail(env.DB, row.id, token, error, retryable, maxAttempts, Date.now());
  if (after) {
    await cleanupOutputs(env, after);
    await wakeUp(env.JOBS, after.state === "QUEUED" ? `retry ${row.id}` : `slot freed by ${row.id}`);
    // A failure that goes back to the queue is not news to a receiver; the final one is.
    if (after.state === "FAILED") {
      await emitStarted(env, row);
      await emitCompositionEvent(env, after, "composition.failed");
    }
  }
  return after;
}
