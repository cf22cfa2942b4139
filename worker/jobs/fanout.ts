import { FORMATS, type RenderJob } from "../../contract/renderer";
import type { CompositionRow, RenderUnitRow } from "../db/schema";
import { claimUnit, insertUnits, recordUnitInstance, releaseUnit, runUnits, type NewUnit } from "../db/units";
import { findCompositionById } from "../db/compositions";
import type { Env } from "../env";
import { outputKey } from "../media/keys";
import { workerConfig } from "../config";
import { planFanout, type Window } from "./fanout-plan";
import { randomToken } from "./lease-token";
import { wakeUpToFill } from "./messages";
import { runOutputKey } from "./outputs";
import { rendererFor, rendererInstanceNames } from "./renderer";
import { internalUnitUrls, jobSettings } from "./settings";
import { failRun, stopRun } from "./fanout-reports";

// A composition split over several renderers (fan-out): its run is claimed like any other, then
// instead of one render it becomes units in its place in line — a VIDEO part per window and the
// AUDIO part (the mix, once) — each dispatched to any free slot under its own lease; when all are
// in, the JOIN unit stream-copies them into the run's output, and its completion is the run's.

/** The windows this composition's run is split into, or null to render it whole. */
export function fanoutOf(env: Env, job: RenderJob): Window[] | null {
  const { fanoutSegmentSeconds } = workerConfig(env);
  if (fanoutSegmentSeconds === 0) return null;
  return planFanout({
    type: job.type === "VIDEO" ? "VIDEO" : "AUDIO",
    outputMs: job.durationMs,
    trimmed: Boolean(job.keep),
    instances: rendererInstanceNames(env).length,
    forcedSegmentSeconds: fanoutSegmentSeconds,
  });
}

const unitId = (row: CompositionRow, token: string, tag: string) => `${row.id}~${token.slice(0, 8)}~${tag}`;

/** The run's units, queued in its place in line; a wake-up fills the free slots with them. */
export async function startFanout(env: Env, row: CompositionRow, token: string, windows: Window[], outputMs: number): Promise<void> {
  const base = { compositionId: row.id, runToken: token, priority: row.priority, queuedAt: row.queuedAt };
  const units: NewUnit[] = [
    ...windows.map((w, k) => ({ ...base, id: unitId(row, token, `v${k}`), kind: "VIDEO" as const, idx: k, ...w })),
    { ...base, id: unitId(row, token, "a"), kind: "AUDIO", idx: 0, startMs: 0, endMs: outputMs },
  ];
  await insertUnits(env.DB, units, Date.now());
  await wakeUpToFill(env.JOBS, `${row.id} split into ${windows.length} parts`);
}

/** The JOIN unit, queued once every part is in (in the run's place in line, like its parts). */
export async function queueJoin(env: Env, part: RenderUnitRow, outputMs: number): Promise<void> {
  const { compositionId, runToken, priority, queuedAt } = part;
  const id = `${part.id.slice(0, part.id.lastIndexOf("~"))}~j`;
  await insertUnits(
    env.DB,
    [{ id, compositionId, runToken, priority, queuedAt, kind: "JOIN", idx: 0, startMs: 0, endMs: outputMs }],
    Date.now(),
  );
  await wakeUpToFill(env.JOBS, `${compositionId}: parts done, join`);
}

/** Where a unit's own upload goes: a part beside the run's output, or (the JOIN) the run's output itself. */
export function unitOutputKey(parent: CompositionRow, unit: Pick<RenderUnitRow, "kind" | "idx" | "runToken">): string {
  if (unit.kind === "JOIN") return runOutputKey(parent, unit.runToken);
  return outputKey(
    parent.organizationId,
    parent.conversationId,
    parent.id,
    `part-${unit.runToken.slice(0, 16)}-${unit.kind}${unit.idx}`,
    "mp4",
  );
}

/** The unit's render job: its composition's, cut to its part (`run`: every unit of its run), with the unit's own URLs and token. */
function unitJob(
  env: Env,
  unit: RenderUnitRow,
  run: readonly RenderUnitRow[],
  parent: CompositionRow,
  token: string,
  whole: RenderJob,
): RenderJob {
  const urls = internalUnitUrls(env, unit.id);
  const base: RenderJob = {
    ...whole,
    jobId: unit.id,
    attempt: unit.attempts,
    tracks: whole.tracks.map((t) => ({ ...t, url: urls.track(t.id) })),
    // Every unit's upload is an MP4: a part (the video alone, or the mix alone), or the joined output.
    output: { url: urls.output, contentType: FORMATS[parent.format].contentType, multipartUrl: urls.multipart },
    callback: { url: urls.report, token },
  };
  if (unit.kind === "AUDIO") return { ...base, part: { kind: "AUDIO" } };
  const video = run.filter((u) => u.kind === "VIDEO").sort((a, b) => a.idx - b.idx);
  if (unit.kind === "VIDEO") {
    const count = video.length;
    return { ...base, keep: [{ startMs: unit.startMs, endMs: unit.endMs }], part: { kind: "VIDEO", index: unit.idx, count } };
  }
  const audio = run.find((u) => u.kind === "AUDIO");
  return {
    ...base,
    tracks: [],
    part: { kind: "JOIN", video: video.map((u) => urls.part(u.id)), ...(audio ? { audio: urls.part(audio.id) } : {}) },
  };
}

/**
 * Claims the next unit and hands it to a renderer; a full renderer undoes the claim. A unit whose
 * run is over (its composition cancelled or re-leased) is an orphan: its run is stopped instead.
 */
export async function dispatchUnit(
  env: Env,
  buildWhole: (row: CompositionRow, token: string) => Promise<RenderJob>,
  now = Date.now(),
): Promise<"dispatched" | "busy" | "failed" | "idle"> {
  const token = randomToken();
  const unit = await claimUnit(env.DB, token, now, jobSettings(env).leaseMs);
  if (!unit) return "idle";
  const parent = await findCompositionById(env.DB, unit.compositionId);
  if (parent?.state !== "PROCESSING" || parent.leaseToken !== unit.runToken) {
    await stopRun(env, unit.compositionId, unit.runToken);
    return "failed";
  }
  const run = await runUnits(env.DB, unit.compositionId, unit.runToken);
  let job: RenderJob;
  try {
    job = unitJob(env, unit, run, parent, token, await buildWhole(parent, unit.runToken));
  } catch (err) {
    await failRun(env, parent, unit.runToken, (err as Error).message);
    return "failed";
  }
  // Each part on an instance of its own where one is free: two parts on one instance share its cores.
  const avoid = run.flatMap((u) => (u.state === "PROCESSING" && u.rendererInstance ? [u.rendererInstance] : []));
  const started = await rendererFor(env).start(job, { avoid });
  if (started.accepted) {
    await recordUnitInstance(env.DB, unit.id, token, started.instance);
    return "dispatched";
  }
  await releaseUnit(env.DB, unit.id, token, Date.now());
  return "busy";
}
