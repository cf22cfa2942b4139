import type { RenderReport } from "../../contract/renderer";
import { findCompositionById } from "../db/compositions";
import type { CompositionRow } from "../db/schema";
import { complete, fail, handBack, heartbeat } from "../db/transitions";
import type { Env } from "../env";
import { extractToken } from "../auth/jwt";
import { problem } from "../http/problem";
import { wakeUp } from "./messages";
import { cleanupOutputs, runOutputKey } from "./outputs";
import { jobSettings } from "./settings";
import { announcer } from "../webhooks/events";
import { queueDeliveries } from "../webhooks/queue";

/** Constant-time comparison of two lease tokens. */
export function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * The renderer's credential is the lease token of the attempt it runs: once the job is cancelled,
 * deleted or re-leased the token matches nothing, so stale renderers are refused (403 / 404).
 */
export async function leasedJob(
  env: Env,
  jobId: string,
  authorization: string | undefined,
): Promise<{ row: CompositionRow; token: string }> {
  const token = extractToken(authorization);
  const row = await findCompositionById(env.DB, jobId);
  if (!row || row.state !== "PROCESSING" || !row.leaseToken) throw problem.notFound("No running job with this id.");
  if (!token || !sameToken(token, row.leaseToken)) throw problem.forbidden("This job token is not (or no longer) valid.");
  return { row, token };
}

/**
 * Applies a renderer's report; null when the lease it was made under no longer holds (nothing
 * changed). `now` is the report's arrival (tests pass a simulated clock).
 */
export async function applyReport(
  env: Env,
  row: CompositionRow,
  token: string,
  report: RenderReport,
  now = Date.now(),
): Promise<CompositionRow | null> {
  const { leaseMs, maxAttempts } = jobSettings(env);
  if (report.attempt !== row.attempts)
    throw problem.conflict(`Report for attempt ${report.attempt}, but attempt ${row.attempts} is running.`);
  switch (report.event) {
    case "progress": {
      const beat = await heartbeat(
        env.DB,
        row,
        token,
        { progress: report.progress, etaSeconds: report.etaSeconds ?? null },
        now,
        leaseMs,
        announcer(env),
      );
      if (beat) await queueDeliveries(env, beat.deliveries);
      return beat?.row ?? null;
    }
    case "completed": {
      const key = runOutputKey(row, token);
      const head = await env.MEDIA.head(key);
      if (!head) {
        return settleFailure(env, row, token, "renderer reported completion but no output was uploaded", true, maxAttempts, now);
      }
      const output = {
        key,
        size: head.size,
        durationMs: Math.round(report.durationMs),
        warnings: report.warnings ?? [],
        ...(report.metrics ? { metrics: report.metrics } : {}),
      };
      const done = await complete(env.DB, row, token, output, now, announcer(env));
      if (!done) return null;
      // The previous run's output (re-execution) is replaced only now that the new one is in place.
      await cleanupOutputs(env, done.row);
      await queueDeliveries(env, done.deliveries);
      // A renderer slot just freed up: the next job need not wait for a busy message's backoff.
      await wakeUp(env.JOBS, `slot freed by ${row.id}`);
      return done.row;
    }
    case "failed":
      if (report.handedBack) return settleHandBack(env, row, token, report.error, now);
      return settleFailure(env, row, token, report.error, report.retryable, maxAttempts, now);
  }
}

/** Back to the queue without costing an attempt; like any requeue, not news to a webhook receiver. */
async function settleHandBack(env: Env, row: CompositionRow, token: string, reason: string, now: number) {
  const after = await handBack(env.DB, row.id, token, `handed back unfinished (${reason}); requeued`, now);
  if (!after) return null;
  await cleanupOutputs(env, after.row);
  await wakeUp(env.JOBS, `handed back ${row.id}`);
  return after.row;
}

async function settleFailure(
  env: Env,
  row: CompositionRow,
  token: string,
  error: string,
  retryable: boolean,
  maxAttempts: number,
  now: number,
) {
  const after = await fail(env.DB, row, token, { error, retryable }, maxAttempts, now, announcer(env));
  if (!after) return null;
  await cleanupOutputs(env, after.row);
  await queueDeliveries(env, after.deliveries);
  await wakeUp(env.JOBS, after.row.state === "QUEUED" ? `retry ${row.id}` : `slot freed by ${row.id}`);
  return after.row;
}
