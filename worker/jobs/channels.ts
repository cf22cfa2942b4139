// QA stereo (analytics): with audioChannels STEREO_SPLIT the agent side (AGENT and SUPERVISOR
// tracks, or a track without a role whose participant is the recording's agent) is mixed on one
// channel and everyone else on the other, as contact-centre speech analytics expect.
import type { RecordingRow, TrackRow } from "../db/schema";
import { problem } from "../http/problem";
import type { CompositionOptions } from "./selection";

export type Channel = "LEFT" | "RIGHT";

const other = (c: Channel): Channel => (c === "LEFT" ? "RIGHT" : "LEFT");

function agentSide(recording: RecordingRow, t: TrackRow): boolean {
  const { role } = whoIs(recording, t);
  return role === "AGENT" || role === "SUPERVISOR";
}

/** A track's role as the renderer is told it (a track without one is the AGENT when it is the recording's agent), and its name. */
export function whoIs(recording: RecordingRow, t: TrackRow): { role?: NonNullable<TrackRow["role"]>; displayName?: string } {
  const role = t.role ?? (recording.agentId !== null && t.participantId === recording.agentId ? "AGENT" : null);
  return { ...(role ? { role } : {}), ...(t.displayName ? { displayName: t.displayName } : {}) };
}

/** Each audio track's channel (by track id), or null when the output is the plain mix. */
export function channelsOf(recording: RecordingRow, audio: readonly TrackRow[], o: CompositionOptions): Map<string, Channel> | null {
  if (o.audioChannels !== "STEREO_SPLIT") return null;
  const agent = o.agentChannel ?? "RIGHT";
  return new Map(audio.map((t) => [t.id, o.channelMap?.[t.participantId] ?? (agentSide(recording, t) ? agent : other(agent))]));
}

/** Refuses a channelMap naming someone not in the call (400) and a split with one side empty (409). */
export function checkChannels(
  recording: RecordingRow,
  tracks: readonly TrackRow[],
  audio: readonly TrackRow[],
  o: CompositionOptions,
): void {
  const people = new Set(tracks.map((t) => t.participantId));
  const unknown = Object.keys(o.channelMap ?? {}).filter((p) => !people.has(p));
  if (unknown.length) {
    throw problem.badRequest(`channelMap names ${unknown.map((p) => `"${p}"`).join(", ")}, not a participant of this recording.`, [
      { field: "body.channelMap", message: `unknown participant(s): ${unknown.join(", ")}` },
    ]);
  }
  const channels = channelsOf(recording, audio, o);
  if (!channels) return;
  const agent = o.agentChannel ?? "RIGHT";
  const used = new Set(channels.values());
  if (!used.has(agent) || !used.has(other(agent))) {
    const empty = used.has(agent) ? `the other side (${other(agent)})` : `the agent side (${agent})`;
    throw problem.conflict(
      `STEREO_SPLIT needs someone on each channel, but nobody is on ${empty}: give tracks a role, set agentId, or use channelMap.`,
    );
  }
}
