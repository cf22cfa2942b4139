import type { Principal } from "../auth/principal";
import { findRecording, type Recording } from "../db/recordings";
import { insertRedaction, listRedactions, findRedaction, pendingRedaction, type RewrittenTrack } from "../db/redactions";
import type { SourceRedactionRow, TrackRow } from "../db/schema";
import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { problem } from "../http/problem";
import type { RedactionSpan } from "../schemas/compliance";
import { assertNotHeld, auditBy } from "./compliance";
import { wakeUp } from "./messages";
import { checkRedactions } from "./redaction-spans";

// Source redaction as a SUPERVISOR asks for it: checked, recorded (audited) and queued. The tracks
// are rewritten by redaction-run.ts.

export interface RedactionRequest {
  spans: RedactionSpan[];
  reason: string;
}

/** The tracks whose media a span reaches: named (or everyone), stored, and overlapping it in time. */
function tracksToRewrite(rec: Recording, spans: readonly RedactionSpan[]): TrackRow[] {
  const start = rec.recording.started;
  return rec.tracks.filter((t) => {
    const from = t.started - start;
    const to = (t.stopped ?? rec.recording.stopped) - start;
    return spans.some((s) => (!s.participants || s.participants.includes(t.participantId)) && s.from * 1000 < to && s.to * 1000 > from);
  });
}

/** Refuses (409) while a redaction of the conversation is pending: its compositions would render what it removes. */
export async function assertNoPendingRedaction(env: Env, organizationId: string, conversationId: string): Promise<void> {
  const pending = await pendingRedaction(env.DB, organizationId, conversationId);
  if (pending) {
    throw problem.conflict(
      `A redaction of conversation "${conversationId}" is ${pending.state} (${pending.id}); it can be composed once the redaction ends.`,
    );
  }
}

export async function requestRedaction(env: Env, p: Principal, conversationId: string, req: RedactionRequest) {
  const rec = await findRecording(env.DB, p.organizationId, conversationId);
  if (!rec) throw problem.notFound(`No recording of conversation "${conversationId}".`);
  checkRedactions(rec.recording, rec.tracks, req.spans, "body.spans");
  // Rewriting replaces (deletes) the original tracks, which a legal hold forbids.
  await assertNotHeld(env, p.organizationId, conversationId);
  await assertNoPendingRedaction(env, p.organizationId, conversationId);
  const affected = tracksToRewrite(rec, req.spans);
  if (affected.length === 0) throw problem.conflict("No track of the recording has media inside the spans.");
  const unstored = affected.filter((t) => !t.mediaKey);
  if (unstored.length) throw problem.conflict(`The media of track(s) ${unstored.map((t) => `"${t.id}"`).join(", ")} is not stored yet.`);
  const now = Date.now();
  const row = {
    id: crypto.randomUUID(),
    organizationId: p.organizationId,
    conversationId,
    spans: JSON.stringify(req.spans),
    reason: req.reason,
    requestedBy: p.userId,
    requestedRole: p.roles.join(","),
    state: "QUEUED" as const,
    trackIds: JSON.stringify(affected.map((t) => t.id)),
    createdAt: now,
    updatedAt: now,
  };
  const details = { redactionId: row.id, spans: req.spans, reason: req.reason, tracks: affected.map((t) => t.id) };
  await insertRedaction(env.DB, row, { ...auditBy(p, "redaction.requested", { conversationId }, details), at: now });
  await wakeUp(env.JOBS, `redaction ${row.id}`);
  return redactionView({ ...row, progress: 0, error: null, done: "[]", completedAt: null } as SourceRedactionRow);
}

export function redactionView(row: SourceRedactionRow) {
  const done = JSON.parse(row.done) as RewrittenTrack[];
  return {
    id: row.id,
    conversationId: row.conversationId,
    state: row.state,
    progress: row.progress,
    error: row.error,
    spans: JSON.parse(row.spans) as RedactionSpan[],
    reason: row.reason,
    requestedBy: row.requestedBy,
    created: isoInstant(row.createdAt),
    completed: row.completedAt === null ? null : isoInstant(row.completedAt),
    tracks: (JSON.parse(row.trackIds) as string[]).map((trackId) => {
      const d = done.find((t) => t.trackId === trackId);
      return { trackId, sha256Before: d?.sha256Before ?? null, sha256After: row.state === "COMPLETED" ? (d?.sha256After ?? null) : null };
    }),
  };
}

export async function redactionsOf(env: Env, p: Principal, conversationId: string) {
  return (await listRedactions(env.DB, p.organizationId, conversationId)).map(redactionView);
}

export async function redactionOf(env: Env, p: Principal, conversationId: string, id: string) {
  const row = await findRedaction(env.DB, p.organizationId, conversationId, id);
  if (!row) throw problem.notFound(`No redaction "${id}" of conversation "${conversationId}".`);
  return redactionView(row);
}
