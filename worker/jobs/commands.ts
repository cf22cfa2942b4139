import { formatOf } from "../../contract/formats";
import type { Principal } from "../auth/principal";
import { findVisibleComposition } from "../db/compositions";
import { exportability, findRecording, type Recording } from "../db/recordings";
import { ACTIVE_STATES, SETTLED_STATES, type CompositionRow } from "../db/schema";
import { stopRun } from "./fanout-reports";
import { cancel, deleteSettled, insertQueued, requeue } from "../db/transitions";
import type { Env } from "../env";
import { problem } from "../http/problem";
import { wakeUp } from "./messages";
import { assertNotHeld } from "./compliance";
import { cleanupOutputs } from "./outputs";
import { checkChannels } from "./channels";
import { checkRedactions } from "./redaction-spans";
import { assertNoPendingRedaction } from "./redactions";
import { rendererFor } from "./renderer";
import { hasSelection, parseOptions, select, type CompositionOptions } from "./selection";
import { announcer } from "../webhooks/events";
import { queueDeliveries } from "../webhooks/queue";
import { assertTarget } from "../webhooks/targets";

export interface CreateCommand {
  conversationId: string;
  name: string;
  type: "AUDIO" | "VIDEO";
  layout: "GRID";
  resolution: string;
  priority: number;
  /** Where this composition's status events are POSTed (besides the organization's endpoints). */
  callbackUrl?: string;
}

type CreateInput = CreateCommand & CompositionOptions;

/** The sources a composition would use, refused (409) when they cannot be composed right now. */
function composable(rec: Recording, type: "AUDIO" | "VIDEO", options: CompositionOptions) {
  const can = exportability(rec.tracks);
  if (type === "VIDEO" && !can.video) throw problem.conflict("The recording has no video, so a VIDEO composition cannot be made.");
  if (!can.audio && !can.video) throw problem.conflict("The recording has no audio or video tracks.");
  const selection = select(rec.recording, rec.tracks, type, options);
  if (options.redactions) checkRedactions(rec.recording, rec.tracks, options.redactions, "body.redactions");
  checkChannels(rec.recording, rec.tracks, selection.audio, options);
  const missing = [...new Set([...selection.audio, ...selection.video])].filter((t) => !t.mediaKey);
  if (missing.length) {
    throw problem.conflict(`The media of track(s) ${missing.map((t) => `"${t.id}"`).join(", ")} is not stored yet.`);
  }
  return selection;
}

/** A recording an AGENT may compose: its own calls only, or it could read any call of its organization. */
async function composableRecording(env: Env, p: Principal, conversationId: string) {
  const rec = await findRecording(env.DB, p.organizationId, conversationId);
  const agentOnly = !p.roles.includes("SUPERVISOR") && !p.roles.includes("SERVICE");
  if (!rec || (agentOnly && rec.recording.agentId !== p.userId)) {
    throw problem.notFound(`No recording of conversation "${conversationId}".`);
  }
  return rec;
}

export async function createComposition(env: Env, p: Principal, cmd: CreateInput, now = Date.now()) {
  assertTarget(env, cmd.callbackUrl, "body.callbackUrl");
  const rec = await composableRecording(env, p, cmd.conversationId);
  await assertNoPendingRedaction(env, p.organizationId, cmd.conversationId);
  const { audioSources, audioSourcesExcluded, videoSources, videoSourcesExcluded, trim, from, to, redactions } = cmd;
  const options: CompositionOptions = {
    audioSources,
    audioSourcesExcluded,
    videoSources,
    videoSourcesExcluded,
    trim,
    from,
    to,
    redactions,
    audioChannels: cmd.audioChannels,
    agentChannel: cmd.agentChannel,
    channelMap: cmd.channelMap,
    loudness: cmd.loudness,
    labels: cmd.labels,
    highlightSpeaker: cmd.highlightSpeaker,
    highlightColor: cmd.highlightColor,
  };
  composable(rec, cmd.type, options);
  const id = crypto.randomUUID();
  const deliveries = await insertQueued(
    env.DB,
    {
      id,
      organizationId: p.organizationId,
      conversationId: cmd.conversationId,
      userId: p.userId,
      name: cmd.name,
      type: cmd.type,
      format: formatOf(cmd.type),
      layout: cmd.layout,
      resolution: cmd.resolution,
      priority: cmd.priority,
      state: "QUEUED",
      createdAt: now,
      queuedAt: now,
      updatedAt: now,
      callbackUrl: cmd.callbackUrl ?? null,
      options: hasSelection(options) ? JSON.stringify(options) : null,
    },
    announcer(env),
  );
  // Wake-ups only once the row and its `queued` are in: a consumer that runs at once numbers `started` after it.
  await queueDeliveries(env, deliveries);
  await wakeUp(env.JOBS, `created ${id}`);
  return { conversationId: cmd.conversationId, id };
}

async function visibleOr404(env: Env, p: Principal, conversationId: string, id: string): Promise<CompositionRow> {
  const row = await findVisibleComposition(env.DB, p, conversationId, id);
  if (!row) throw problem.notFound(`No composition "${id}" in conversation "${conversationId}".`);
  return row;
}

/** `A, B or C`. */
const orList = (items: readonly string[]) => (items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : (items[0] ?? ""));
const isSettled = (state: CompositionRow["state"]) => (SETTLED_STATES as readonly string[]).includes(state);

export async function reexecuteComposition(
  env: Env,
  p: Principal,
  conversationId: string,
  id: string,
  priority: number,
  callbackUrl?: string,
) {
  assertTarget(env, callbackUrl, "body.callbackUrl");
  const row = await visibleOr404(env, p, conversationId, id);
  const rec = await findRecording(env.DB, row.organizationId, row.conversationId);
  if (!rec) throw problem.conflict("The recording of this composition no longer exists.");
  await assertNoPendingRedaction(env, row.organizationId, row.conversationId);
  if (isSettled(row.state)) composable(rec, row.type, parseOptions(row.options));
  // A new callbackUrl replaces the old one; without one the composition keeps where it reported to.
  const updated = await requeue(env.DB, row, priority, Date.now(), callbackUrl ? { callbackUrl } : {}, announcer(env));
  if (!updated) throw problem.conflict(`A ${row.state} composition cannot be re-executed; only ${orList(SETTLED_STATES)} ones can.`);
  await queueDeliveries(env, updated.deliveries);
  await wakeUp(env.JOBS, `re-executed ${id}`);
  return { conversationId, id };
}

/** Stops a job: the row changes first, so a running render's later reports are refused. */
async function stop(env: Env, row: CompositionRow): Promise<CompositionRow | null> {
  const cancelled = await cancel(env.DB, row, Date.now(), announcer(env));
  if (!cancelled) return null;
  if (row.state === "PROCESSING")
    await rendererFor(env)
      .cancel(row.id, row.rendererInstance)
      .catch(() => undefined);
  // A split run's units stop with it, each on its own renderer.
  await stopRun(env, row.id);
  await cleanupOutputs(env, cancelled.row);
  await queueDeliveries(env, cancelled.deliveries);
  if (row.state === "PROCESSING") await wakeUp(env.JOBS, `slot freed by ${row.id}`);
  return cancelled.row;
}

export async function cancelComposition(env: Env, p: Principal, conversationId: string, id: string) {
  const row = await visibleOr404(env, p, conversationId, id);
  const cancelled = await stop(env, row);
  if (!cancelled) throw problem.conflict(`A ${row.state} composition cannot be cancelled; only ${orList(ACTIVE_STATES)} ones can.`);
  return { conversationId, id, state: cancelled.state };
}

export async function deleteComposition(env: Env, p: Principal, conversationId: string, id: string) {
  const row = await visibleOr404(env, p, conversationId, id);
  await assertNotHeld(env, row.organizationId, conversationId);
  const settled = (await stop(env, row)) ?? row;
  await cleanupOutputs(env, settled, true);
  const deliveries = await deleteSettled(env.DB, settled, Date.now(), announcer(env));
  if (deliveries) await queueDeliveries(env, deliveries);
}
