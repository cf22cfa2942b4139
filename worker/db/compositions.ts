import type { ConversationMetrics } from "../../contract/renderer";
import { and, asc, count, desc, eq, lt, or, sql, type SQL } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { Principal } from "../auth/principal";
import { isoDuration, isoInstant } from "../http/format";
import { projectedEtaSeconds } from "../jobs/liveness";
import { insertWhere } from "./insert";
import { compositions, recordings, type CompositionRow } from "./schema";

export type NewComposition = Omit<
  CompositionRow,
  | "progress"
  | "etaSeconds"
  | "error"
  | "warnings"
  | "attempts"
  | "leaseToken"
  | "leaseExpiresAt"
  | "rendererInstance"
  | "outputKey"
  | "outputSize"
  | "durationMs"
  | "startedAt"
  | "completedAt"
  | "callbackUrl"
  | "options"
  | "progressEventAt"
  | "progressEventValue"
  | "metrics"
> &
  Partial<Pick<CompositionRow, "callbackUrl" | "options">>;

/** The row as a fresh insert leaves it, defaults included. */
export function asInserted(row: NewComposition): CompositionRow {
  return {
    progress: 0,
    etaSeconds: null,
    error: null,
    warnings: null,
    attempts: 0,
    leaseToken: null,
    leaseExpiresAt: null,
    rendererInstance: null,
    outputKey: null,
    outputSize: null,
    durationMs: null,
    startedAt: null,
    completedAt: null,
    callbackUrl: null,
    options: null,
    progressEventAt: null,
    progressEventValue: null,
    metrics: null,
    ...row,
  };
}

/**
 * The one statement that writes a composition (requests and hooks alike): the row is written only
 * if `when` holds as the statement runs, so a batch can make it depend on a claim before it.
 */
export function compositionInsert(orm: DrizzleD1Database, row: NewComposition, when: SQL = sql`1`) {
  return insertWhere(orm, compositions, row, when).returning({ id: compositions.id });
}

/**
 * Which compositions a caller may see. Organization always bounds it (another tenant's id is a 404);
 * an AGENT sees what it created and the compositions of recordings where it is the agent.
 */
export function visibleTo(p: Principal): SQL {
  const org = eq(compositions.organizationId, p.organizationId);
  if (p.roles.includes("SUPERVISOR") || p.roles.includes("SERVICE")) return org;
  const agentOfRecording = sql`exists (select 1 from ${recordings} r where r.organization_id = ${compositions.organizationId}
    and r.conversation_id = ${compositions.conversationId} and r.agent_id = ${p.userId})`;
  return and(org, or(eq(compositions.userId, p.userId), agentOfRecording))!;
}

export async function findVisibleComposition(
  db: D1Database,
  p: Principal,
  conversationId: string,
  id: string,
): Promise<CompositionRow | null> {
  const rows = await drizzle(db)
    .select()
    .from(compositions)
    .where(and(visibleTo(p), eq(compositions.id, id), eq(compositions.conversationId, conversationId)));
  return rows[0] ?? null;
}

export async function findCompositionById(db: D1Database, id: string): Promise<CompositionRow | null> {
  const rows = await drizzle(db).select().from(compositions).where(eq(compositions.id, id));
  return rows[0] ?? null;
}

/** The output a signed link names, found by ids alone: the link's signature is the credential. */
export async function findOutput(db: D1Database, conversationId: string, id: string) {
  const row = await drizzle(db)
    .select({ id: compositions.id, format: compositions.format, name: compositions.name, outputKey: compositions.outputKey })
    .from(compositions)
    .where(and(eq(compositions.id, id), eq(compositions.conversationId, conversationId)))
    .get();
  return row ?? null;
}

/** The lease is still the one a renderer holds: the job is PROCESSING under this token. */
export async function holdsLease(db: D1Database, id: string, leaseToken: string): Promise<boolean> {
  const row = await drizzle(db)
    .select({ id: compositions.id })
    .from(compositions)
    .where(and(eq(compositions.id, id), eq(compositions.leaseToken, leaseToken), eq(compositions.state, "PROCESSING")))
    .get();
  return row !== undefined;
}

/** How many jobs have waited in the queue since before `before`. */
export async function countQueuedSince(db: D1Database, before: number): Promise<number> {
  const row = await drizzle(db)
    .select({ n: count() })
    .from(compositions)
    .where(and(eq(compositions.state, "QUEUED"), lt(compositions.queuedAt, before)))
    .get();
  return row?.n ?? 0;
}

export async function listConversationCompositions(db: D1Database, p: Principal, conversationId: string) {
  return drizzle(db)
    .select()
    .from(compositions)
    .where(and(visibleTo(p), eq(compositions.conversationId, conversationId)))
    .orderBy(desc(compositions.createdAt), asc(compositions.id));
}

export type SortField = "created" | "completed" | "name" | "state";
const SORT_COLUMNS = {
  created: compositions.createdAt,
  completed: compositions.completedAt,
  name: compositions.name,
  state: compositions.state,
} as const;

export interface PageRequest {
  where: SQL;
  offset: number;
  limit: number;
  sort: { field: SortField; direction: "asc" | "desc" }[];
}

export async function pageCompositions(db: D1Database, req: PageRequest) {
  const orm = drizzle(db);
  const order = [
    ...req.sort.map((s) => (s.direction === "asc" ? asc(SORT_COLUMNS[s.field]) : desc(SORT_COLUMNS[s.field]))),
    // A total order, so pages never overlap or skip rows that tie on the requested fields.
    desc(compositions.createdAt),
    asc(compositions.id),
  ];
  const [rows, totals] = await orm.batch([
    orm
      .select()
      .from(compositions)
      .where(req.where)
      .orderBy(...order)
      .limit(req.limit)
      .offset(req.offset),
    orm.select({ n: count() }).from(compositions).where(req.where),
  ]);
  return { rows, total: totals[0]?.n ?? 0 };
}

/**
 * The seed's CompositionView, plus the additive progress/eta/error/priority/resolution fields. The
 * ETA counts down from the last report written (reports that change little are not written).
 */
export function compositionView(row: CompositionRow) {
  const eta = row.state === "PROCESSING" ? projectedEtaSeconds(row, Date.now()) : null;
  return {
    completed: row.completedAt === null ? null : isoInstant(row.completedAt),
    conversationId: row.conversationId,
    created: isoInstant(row.createdAt),
    duration: row.durationMs === null ? null : isoDuration(row.durationMs),
    format: row.format,
    id: row.id,
    layout: row.layout,
    name: row.name,
    state: row.state,
    type: row.type,
    userId: row.userId,
    progress: row.progress,
    eta: eta === null ? null : isoDuration(eta * 1000),
    error: row.error,
    priority: row.priority,
    resolution: row.resolution,
    warnings: row.warnings ? (JSON.parse(row.warnings) as string[]) : [],
    metrics: row.state === "COMPLETED" && row.metrics ? (JSON.parse(row.metrics) as ConversationMetrics) : null,
  };
}

/** Every composition of a conversation, whoever made it (a source redaction re-executes them all). */
export async function conversationCompositions(db: D1Database, organizationId: string, conversationId: string) {
  return drizzle(db)
    .select()
    .from(compositions)
    .where(and(eq(compositions.organizationId, organizationId), eq(compositions.conversationId, conversationId)));
}
