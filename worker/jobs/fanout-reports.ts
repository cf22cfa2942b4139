import type { ConversationMetrics, RenderReport } from "../../contract/renderer";
import { extractToken } from "../auth/jwt";
import { findCompositionById } from "../db/compositions";
import type { CompositionRow, RenderUnitRow } from "../db/schema";
import { complete, fail, heartbeat } from "../db/transitions";
import * as units from "../db/units";
import type { Env } from "../env";
import { problem } from "../http/problem";
import { announcer } from "../webhooks/events";
import { queueDeliveries } from "../webhooks/queue";
import { leaseRenewalDue, PROGRESS_WRITE_STEP } from "./liveness";
import { wakeUp } from "./messages";
import { cleanupOutputs, runOutputKey } from "./outputs";
import { rendererFor } from "./renderer";
import { sameToken } from "./reports";
import { jobSettings } from "./settings";
import { queueJoin, unitOutputKey } from "./fanout";

// A unit's reports and its end (fan-out): its progress is its run's (summed over the units), a lost
// or failed unit is tried again alone, and the JOIN's completion completes the composition.

export interface LeasedUnit {
  unit: RenderUnitRow;
  token: string;
  parent: CompositionRow;
}

/** The unit's lease token is the renderer's credential, as a composition's is (jobs/reports.ts). */
export async function leasedUnit(env: Env, id: string, authorization: string | undefined): Promise<LeasedUnit> {
  const token = extractToken(authorization);
  const unit = await units.findUnit(env.DB, id);
  if (!unit || unit.state !== "PROCESSING" || !unit.leaseToken) throw problem.notFound("No running unit with this id.");
  if (!token || !sameToken(token, unit.leaseToken)) throw problem.forbidden("This job token is not (or no longer) valid.");
  const parent = await findCompositionById(env.DB, unit.compositionId);
  if (parent?.state !== "PROCESSING" || parent.leaseToken !== unit.runToken)
    throw problem.notFound("The unit's composition is no longer running.");
  return { unit, token, parent };
}

/** Each unit's share of its run: the parts by their length, the mix a tenth of the call, the join a twentieth. */
function weight(u: Pick<RenderUnitRow, "kind" | "startMs" | "endMs">, outputMs: number): number {
  if (u.kind === "VIDEO") return u.endMs - u.startMs;
  return u.kind === "AUDIO" ? outputMs / 10 : outputMs / 20;
}

/** The run's progress (0–99) and ETA from its units': the join, not yet queued, counts as not started. */
export function runProgress(
  all: readonly RenderUnitRow[],
  startedAt: number,
  now: number,
): { progress: number; etaSeconds: number | null } {
  const outputMs = Math.max(...all.map((u) => u.endMs));
  const join = all.some((u) => u.kind === "JOIN") ? [] : [{ kind: "JOIN" as const, startMs: 0, endMs: outputMs, progress: 0 }];
  const every = [...all, ...join];
  const total = every.reduce((s, u) => s + weight(u, outputMs), 0);
  const done = every.reduce((s, u) => s + (weight(u, outputMs) * u.progress) / 100, 0) / total;
  const elapsed = (now - startedAt) / 1000;
  return { progress: Math.min(99, Math.floor(done * 100)), etaSeconds: done > 0.02 ? Math.round((elapsed * (1 - done)) / done) : null };
}

export async function applyUnitReport(env: Env, { unit, token, parent }: LeasedUnit, report: RenderReport, now = Date.now()) {
  if (report.attempt !== unit.attempts)
    throw problem.conflict(`Report for attempt ${report.attempt}, but attempt ${unit.attempts} is running.`);
  switch (report.event) {
    case "progress":
      return unitProgressed(env, unit, token, parent, Math.floor(report.progress), report.etaSeconds ?? null, now);
    case "completed":
      return unitCompleted(env, unit, token, parent, report, now);
    case "failed":
      if (report.handedBack) {
        const back = await units.releaseUnit(env.DB, unit.id, token, now, `handed back unfinished (${report.error})`);
        await wakeUp(env.JOBS, `handed back ${unit.id}`);
        return back;
      }
      return unitFailed(env, unit, token, parent, report.error, report.retryable, now);
  }
}

async function unitProgressed(
  env: Env,
  unit: RenderUnitRow,
  token: string,
  parent: CompositionRow,
  percent: number,
  eta: number | null,
  now: number,
) {
  const { leaseMs } = jobSettings(env);
  if (!leaseRenewalDue(unit, now, leaseMs) && percent < unit.progress + PROGRESS_WRITE_STEP) return unit;
  const after = await units.unitProgress(env.DB, unit.id, token, Math.max(unit.progress, Math.min(99, percent)), eta, now, leaseMs);
  if (!after) return null;
  // The run's progress and liveness are its units': the composition's row goes through the same throttle as any job's.
  const all = await units.runUnits(env.DB, unit.compositionId, unit.runToken);
  const beat = await heartbeat(env.DB, parent, unit.runToken, runProgress(all, parent.startedAt ?? now, now), now, leaseMs, announcer(env));
  if (beat) await queueDeliveries(env, beat.deliveries);
  return after;
}

type Completed = Extract<RenderReport, { event: "completed" }>;

async function unitCompleted(env: Env, unit: RenderUnitRow, token: string, parent: CompositionRow, report: Completed, now: number) {
  const head = await env.MEDIA.head(unitOutputKey(parent, unit));
  if (!head) return unitFailed(env, unit, token, parent, "renderer reported completion but no output was uploaded", true, now);
  const done = await units.completeUnit(env.DB, unit.id, token, { ...report, size: head.size }, now);
  if (!done) return null;
  await wakeUp(env.JOBS, `slot freed by ${unit.id}`);
  if (unit.kind === "JOIN") return runCompleted(env, parent, unit.runToken, head.size, report, now);
  const all = await units.runUnits(env.DB, unit.compositionId, unit.runToken);
  if (all.every((u) => u.state === "COMPLETED") && !all.some((u) => u.kind === "JOIN"))
    await queueJoin(env, done, Math.max(...all.map((u) => u.endMs)));
  return done;
}

const reportOf = (u: RenderUnitRow) => (u.report ? (JSON.parse(u.report) as Completed) : undefined);

/** The JOIN is in: the run's output is the joined file, with the mix's metrics and every unit's warnings. */
async function runCompleted(env: Env, parent: CompositionRow, runToken: string, size: number, join: Completed, now: number) {
  const all = await units.runUnits(env.DB, parent.id, runToken);
  const metrics: ConversationMetrics | undefined = reportOf(all.find((u) => u.kind === "AUDIO")!)?.metrics;
  const warnings = [...new Set(all.flatMap((u) => reportOf(u)?.warnings ?? []))];
  const output = {
    key: runOutputKey(parent, runToken),
    size,
    durationMs: Math.round(join.durationMs),
    warnings,
    ...(metrics ? { metrics } : {}),
  };
  const completed = await complete(env.DB, parent, runToken, output, now, announcer(env));
  await units.deleteUnitsOf(env.DB, parent.id, runToken);
  if (!completed) return null;
  // The parts go with every object of the composition that is not the new run's.
  await cleanupOutputs(env, completed.row);
  await queueDeliveries(env, completed.deliveries);
  return completed.row;
}

/** A unit failed: tried again alone while attempts remain and the failure may pass; else the composition FAILS. */
async function unitFailed(
  env: Env,
  unit: RenderUnitRow,
  token: string,
  parent: CompositionRow,
  error: string,
  retryable: boolean,
  now: number,
) {
  if (retryable && unit.attempts < jobSettings(env).maxAttempts) {
    const again = await units.retryUnit(env.DB, unit.id, token, error, now);
    await wakeUp(env.JOBS, `retry ${unit.id}`);
    return again;
  }
  const what = unit.kind === "VIDEO" ? `video part ${unit.idx + 1}` : unit.kind === "AUDIO" ? "the audio part" : "the join";
  await failRun(env, parent, unit.runToken, `${what}: ${error}`);
  return null;
}

/** The whole run fails (no retry: its units had theirs), and every other unit stops. */
export async function failRun(env: Env, parent: CompositionRow, runToken: string, error: string): Promise<void> {
  const failed = await fail(env.DB, parent, runToken, { error, retryable: false }, 0, Date.now(), announcer(env));
  await stopRun(env, parent.id, runToken);
  if (!failed) return;
  await cleanupOutputs(env, failed.row);
  await queueDeliveries(env, failed.deliveries);
}

/**
 * Removes a composition's units (of one run, or every run: a cancel); the renderers running any are
 * told to stop (their next report is refused anyway).
 */
export async function stopRun(env: Env, compositionId: string, runToken?: string): Promise<void> {
  const running = await units.deleteUnitsOf(env.DB, compositionId, runToken);
  await Promise.all(
    running.map((u) =>
      rendererFor(env)
        .cancel(u.id, u.rendererInstance)
        .catch(() => undefined),
    ),
  );
  if (running.length) await wakeUp(env.JOBS, `${running.length} slot(s) freed by ${compositionId}`);
}

/** Units whose renderer went quiet are tried again alone; units of runs that are over are removed. */
export async function reclaimUnits(env: Env, now = Date.now()): Promise<void> {
  for (const unit of await units.expiredUnits(env.DB, now)) {
    const parent = await findCompositionById(env.DB, unit.compositionId);
    if (parent?.state === "PROCESSING" && parent.leaseToken === unit.runToken)
      await unitFailed(env, unit, unit.leaseToken!, parent, "renderer lost the part (lease expired)", true, now);
  }
  for (const { compositionId, runToken } of await units.orphanUnits(env.DB)) await stopRun(env, compositionId, runToken);
}
