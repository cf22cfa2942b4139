// Redaction spans as a user gives them (seconds, participants) checked against a recording, and as
// the renderer takes them (ms, track ids). Used by a redacted export and by the source redaction.
import type { Redaction } from "../../contract/renderer";
import type { RecordingRow, TrackRow } from "../db/schema";
import { problem, type FieldError } from "../http/problem";
import type { RedactionSpan } from "../schemas/compliance";

/** Refuses (400, naming each field) spans outside the recording or naming someone not in it. */
export function checkRedactions(
  recording: RecordingRow,
  tracks: readonly TrackRow[],
  spans: readonly RedactionSpan[],
  field: string,
): void {
  const spanSec = (recording.stopped - recording.started) / 1000;
  const people = new Set(tracks.map((t) => t.participantId));
  const errors: FieldError[] = [];
  spans.forEach((s, i) => {
    if (s.from >= spanSec) errors.push({ field: `${field}.${i}.from`, message: `is past the end of the recording (${spanSec} s)` });
    if (s.to > spanSec) errors.push({ field: `${field}.${i}.to`, message: `is past the end of the recording (${spanSec} s)` });
    s.participants?.forEach((p, j) => {
      if (!people.has(p))
        errors.push({ field: `${field}.${i}.participants.${j}`, message: `"${p}" is not a participant of this recording` });
    });
  });
  if (errors.length) throw problem.badRequest("A redaction span does not fit the recording.", errors);
}

/** The spans on the renderer's terms: ms on the recording's timeline, and the tracks of `tracks` they name. */
export function renderRedactions(spans: readonly RedactionSpan[], tracks: readonly Pick<TrackRow, "id" | "participantId">[]): Redaction[] {
  return spans.flatMap((s) => {
    const named = tracks.filter((t) => !s.participants || s.participants.includes(t.participantId)).map((t) => t.id);
    if (named.length === 0) return [];
    return [{ startMs: Math.round(s.from * 1000), endMs: Math.round(s.to * 1000), tracks: named, audio: s.audio, video: s.video }];
  });
}
