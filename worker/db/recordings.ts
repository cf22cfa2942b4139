import { and, eq, notInArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { isoDuration, isoInstant } from "../http/format";
import { recordings, tracks, type RecordingRow, type TrackRow } from "./schema";

export interface Recording {
  recording: RecordingRow;
  tracks: TrackRow[];
}

export interface TrackSpec {
  id: string;
  participantId: string;
  started: number;
  stopped: number | null;
  audio: boolean;
  video: boolean;
  role: TrackRow["role"];
  displayName: string | null;
}

export async function findRecording(db: D1Database, organizationId: string, conversationId: string): Promise<Recording | null> {
  const orm = drizzle(db);
  const where = and(eq(recordings.organizationId, organizationId), eq(recordings.conversationId, conversationId));
  const trackWhere = and(eq(tracks.organizationId, organizationId), eq(tracks.conversationId, conversationId));
  const [recordingRows, trackRows] = await orm.batch([
    orm.select().from(recordings).where(where),
    orm.select().from(tracks).where(trackWhere).orderBy(tracks.started, tracks.id),
  ]);
  const recording = recordingRows[0];
  return recording ? { recording, tracks: trackRows } : null;
}

/**
 * Replaces a recording's metadata in one batch (atomic in D1). Tracks that stay keep their stored
 * media; the keys of media belonging to tracks that were dropped are returned for deletion.
 */
export async function upsertRecording(
  db: D1Database,
  row: Omit<RecordingRow, "createdAt" | "updatedAt">,
  specs: TrackSpec[],
  now: number,
): Promise<string[]> {
  const orm = drizzle(db);
  const trackWhere = and(eq(tracks.organizationId, row.organizationId), eq(tracks.conversationId, row.conversationId));
  const dropped = await orm
    .select({ key: tracks.mediaKey })
    .from(tracks)
    .where(
      and(
        trackWhere,
        notInArray(
          tracks.id,
          specs.map((s) => s.id),
        ),
      ),
    );
  await orm.batch([
    orm
      .insert(recordings)
      .values({ ...row, createdAt: now, updatedAt: now })
      .onConflictDoUpdate({
        target: [recordings.organizationId, recordings.conversationId],
        set: { agentId: row.agentId, started: row.started, stopped: row.stopped, updatedAt: now },
      }),
    orm.delete(tracks).where(
      and(
        trackWhere,
        notInArray(
          tracks.id,
          specs.map((s) => s.id),
        ),
      ),
    ),
    ...specs.map((s) =>
      orm
        .insert(tracks)
        .values({ organizationId: row.organizationId, conversationId: row.conversationId, ...s })
        .onConflictDoUpdate({
          target: [tracks.organizationId, tracks.conversationId, tracks.id],
          set: {
            participantId: s.participantId,
            started: s.started,
            stopped: s.stopped,
            audio: s.audio,
            video: s.video,
            role: s.role,
            displayName: s.displayName,
          },
        }),
    ),
  ]);
  return dropped.flatMap((d) => (d.key ? [d.key] : []));
}

export interface TrackKey {
  organizationId: string;
  conversationId: string;
  id: string;
}

const trackIs = (key: TrackKey) =>
  and(eq(tracks.organizationId, key.organizationId), eq(tracks.conversationId, key.conversationId), eq(tracks.id, key.id));

export async function markTrackStored(
  db: D1Database,
  key: TrackKey,
  media: { mediaKey: string; mediaSize: number; contentType: string },
  now: number,
): Promise<boolean> {
  const result = await drizzle(db)
    .update(tracks)
    .set({ ...media, storedAt: now })
    .where(trackIs(key))
    .returning({ id: tracks.id });
  return result.length > 0;
}

/** The track's media is not (or no longer) stored. */
export async function clearTrackMedia(db: D1Database, key: TrackKey): Promise<void> {
  await drizzle(db).update(tracks).set({ mediaKey: null, mediaSize: null, contentType: null, storedAt: null }).where(trackIs(key));
}

/** Where a track's media is stored, and as what. */
export async function findTrackMedia(db: D1Database, key: TrackKey): Promise<Pick<TrackRow, "mediaKey" | "contentType"> | null> {
  const row = await drizzle(db)
    .select({ mediaKey: tracks.mediaKey, contentType: tracks.contentType })
    .from(tracks)
    .where(trackIs(key))
    .get();
  return row ?? null;
}

/** What can be exported: a kind of media is exportable when every track that has it is stored. */
export function exportability(trackRows: TrackRow[]) {
  const audioTracks = trackRows.filter((t) => t.audio);
  const videoTracks = trackRows.filter((t) => t.video);
  const stored = (t: TrackRow) => t.storedAt !== null && t.mediaKey !== null;
  return {
    audio: audioTracks.length > 0,
    video: videoTracks.length > 0,
    canExportAudio: audioTracks.length > 0 && audioTracks.every(stored),
    canExportVideo: videoTracks.length > 0 && videoTracks.every(stored),
  };
}

/** The seed's ComposedRecordingDataMessage, derived from the recording and its tracks. */
export function recordingMessage({ recording, tracks: trackRows }: Recording) {
  return {
    agentId: recording.agentId ?? null,
    ...exportability(trackRows),
    conversationId: recording.conversationId,
    duration: isoDuration(recording.stopped - recording.started),
    organizationId: recording.organizationId,
    started: isoInstant(recording.started),
    stopped: isoInstant(recording.stopped),
    totalParticipants: new Set(trackRows.map((t) => t.participantId)).size,
  };
}
