import type { Principal } from "../auth/principal";
import { findHold, findRetentionPolicy, pageAudit, placeHold, putRetentionPolicy, releaseHold, type NewAuditEntry } from "../db/compliance";
import { findRecording } from "../db/recordings";
import type { AuditEntryRow } from "../db/schema";
import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { problem } from "../http/problem";
import { durationMs } from "../schemas/compliance";

// Retention policies, legal holds and the audit log, as a SUPERVISOR manages them.

/** An audit entry of what this principal did now. */
export function auditBy(
  p: Principal,
  action: string,
  about: Partial<Pick<NewAuditEntry, "conversationId" | "compositionId">>,
  details = {},
) {
  return {
    organizationId: p.organizationId,
    at: Date.now(),
    actorSub: p.userId,
    actorRole: p.roles.join(","),
    action,
    conversationId: about.conversationId ?? null,
    compositionId: about.compositionId ?? null,
    details,
  } satisfies NewAuditEntry;
}

export async function getRetentionPolicy(env: Env, organizationId: string) {
  const row = await findRetentionPolicy(env.DB, organizationId);
  return {
    compositions: row?.compositions ?? null,
    recordings: row?.recordings ?? null,
    updated: row ? isoInstant(row.updatedAt) : null,
    updatedBy: row?.updatedBy ?? null,
  };
}

export async function setRetentionPolicy(env: Env, p: Principal, policy: { compositions: string | null; recordings: string | null }) {
  const now = Date.now();
  await putRetentionPolicy(
    env.DB,
    {
      organizationId: p.organizationId,
      compositions: policy.compositions,
      compositionsMs: policy.compositions === null ? null : durationMs(policy.compositions),
      recordings: policy.recordings,
      recordingsMs: policy.recordings === null ? null : durationMs(policy.recordings),
      updatedAt: now,
      updatedBy: p.userId,
    },
    { ...auditBy(p, "retention.policy.set", {}, policy), at: now },
  );
  return getRetentionPolicy(env, p.organizationId);
}

const holdView = (h: { conversationId: string; reason: string; placedBy: string; placedAt: number }) => ({
  conversationId: h.conversationId,
  reason: h.reason,
  placedBy: h.placedBy,
  placed: isoInstant(h.placedAt),
});

export async function holdConversation(env: Env, p: Principal, conversationId: string, reason: string) {
  if (!(await findRecording(env.DB, p.organizationId, conversationId))) {
    throw problem.notFound(`No recording of conversation "${conversationId}".`);
  }
  const hold = { organizationId: p.organizationId, conversationId, reason, placedBy: p.userId, placedAt: Date.now() };
  await placeHold(env.DB, hold, { ...auditBy(p, "hold.placed", { conversationId }, { reason }), at: hold.placedAt });
  return holdView(hold);
}

export async function releaseConversation(env: Env, p: Principal, conversationId: string, reason: string) {
  const released = await releaseHold(env.DB, p.organizationId, conversationId, auditBy(p, "hold.released", { conversationId }, { reason }));
  if (!released) throw problem.notFound(`Conversation "${conversationId}" is not on hold.`);
}

export async function currentHold(env: Env, p: Principal, conversationId: string) {
  const hold = await findHold(env.DB, p.organizationId, conversationId);
  if (!hold) throw problem.notFound(`Conversation "${conversationId}" is not on hold.`);
  return holdView(hold);
}

/** Refuses (409) to delete anything of a held conversation, naming the hold. */
export async function assertNotHeld(env: Env, organizationId: string, conversationId: string): Promise<void> {
  const hold = await findHold(env.DB, organizationId, conversationId);
  if (hold) {
    throw problem.conflict(
      `Conversation "${conversationId}" is under a legal hold placed by ${hold.placedBy} at ${isoInstant(hold.placedAt)} ` +
        `("${hold.reason}"): nothing of it can be deleted until the hold is released.`,
    );
  }
}

const entryView = (e: AuditEntryRow) => ({
  id: e.id,
  at: isoInstant(e.at),
  actor: { sub: e.actorSub, role: e.actorRole },
  action: e.action,
  conversationId: e.conversationId,
  compositionId: e.compositionId,
  details: JSON.parse(e.details) as Record<string, unknown>,
});

export async function auditLog(env: Env, organizationId: string, page = 0, size = 50) {
  const { rows, total } = await pageAudit(env.DB, organizationId, page * size, size);
  const totalPages = Math.ceil(total / size);
  return {
    content: rows.map(entryView),
    number: page,
    size,
    totalElements: total,
    totalPages,
    first: page === 0,
    last: page >= totalPages - 1,
  };
}
