import { and, asc, eq, isNull, lte, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { webhookEndpoints, type WebhookEndpointRow } from "../db/schema";
import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { problem } from "../http/problem";
import { generateSecret } from "./signature";
import { assertTarget } from "./targets";
import { EVENT_TYPES, type EventType } from "./types";

/** Each endpoint costs a delivery per event: a bound keeps one organization from fanning out without limit. */
export const MAX_ENDPOINTS_PER_ORG = 25;

export interface EndpointInput {
  url: string;
  events?: EventType[] | null;
  enabled?: boolean;
}

/** Secrets are shown once, when made (create, rotate-secret); lists and reads never carry them. */
export function endpointView(row: WebhookEndpointRow) {
  return {
    id: row.id,
    url: row.url,
    events: row.events === null ? [...EVENT_TYPES] : (JSON.parse(row.events) as EventType[]),
    enabled: row.enabled,
    created: isoInstant(row.createdAt),
    updated: isoInstant(row.updatedAt),
    ...(row.previousSecret && row.previousSecretUntil && row.previousSecretUntil > Date.now()
      ? { previousSecretValidUntil: isoInstant(row.previousSecretUntil) }
      : {}),
  };
}

const withSecret = (row: WebhookEndpointRow) => ({ ...endpointView(row), secret: row.secret });

/** Stored as given, in the canonical order; null (every event, including ones added later) when omitted. */
function eventsColumn(events: EventType[] | null | undefined): string | null {
  if (!events) return null;
  return JSON.stringify(EVENT_TYPES.filter((t) => events.includes(t)));
}

const scoped = (organizationId: string, id: string) => and(eq(webhookEndpoints.organizationId, organizationId), eq(webhookEndpoints.id, id));

export async function createEndpoint(env: Env, organizationId: string, input: EndpointInput, now = Date.now()) {
  assertTarget(env, input.url, "body.url");
  const row: WebhookEndpointRow = {
    id: crypto.randomUUID(),
    organizationId,
    url: input.url,
    secret: generateSecret(),
    previousSecret: null,
    previousSecretUntil: null,
    events: eventsColumn(input.events),
    enabled: input.enabled ?? true,
    createdAt: now,
    updatedAt: now,
  };
  // Conditional insert: two concurrent creates cannot both slip under the limit.
  const res = await env.DB.prepare(
    `INSERT INTO webhook_endpoints (id, organization_id, url, secret, events, enabled, created_at, updated_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7 WHERE (SELECT count(*) FROM webhook_endpoints WHERE organization_id = ?2) < ?8`,
  )
    .bind(row.id, organizationId, row.url, row.secret, row.events, row.enabled ? 1 : 0, now, MAX_ENDPOINTS_PER_ORG)
    .run();
  if (res.meta.changes !== 1) throw problem.conflict(`An organization may have at most ${MAX_ENDPOINTS_PER_ORG} webhook endpoints.`);
  return withSecret(row);
}

export async function listEndpoints(db: D1Database, organizationId: string) {
  const rows = await drizzle(db)
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.organizationId, organizationId))
    .orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id));
  return rows.map(endpointView);
}

async function findOr404(db: D1Database, organizationId: string, id: string): Promise<WebhookEndpointRow> {
  const rows = await drizzle(db).select().from(webhookEndpoints).where(scoped(organizationId, id));
  if (!rows[0]) throw problem.notFound(`No webhook endpoint "${id}".`);
  return rows[0];
}

export async function getEndpoint(db: D1Database, organizationId: string, id: string) {
  return endpointView(await findOr404(db, organizationId, id));
}

export async function updateEndpoint(env: Env, organizationId: string, id: string, patch: Partial<EndpointInput>, now = Date.now()) {
  if (patch.url !== undefined) assertTarget(env, patch.url, "body.url");
  const set: Partial<WebhookEndpointRow> = { updatedAt: now };
  if (patch.url !== undefined) set.url = patch.url;
  if (patch.events !== undefined) set.events = eventsColumn(patch.events);
  if (patch.enabled !== undefined) set.enabled = patch.enabled;
  const rows = await drizzle(env.DB).update(webhookEndpoints).set(set).where(scoped(organizationId, id)).returning();
  if (!rows[0]) throw problem.notFound(`No webhook endpoint "${id}".`);
  return endpointView(rows[0]);
}

/** Pending deliveries to a deleted endpoint are marked dead when their turn comes (deliver.ts). */
export async function deleteEndpoint(db: D1Database, organizationId: string, id: string) {
  const rows = await drizzle(db).delete(webhookEndpoints).where(scoped(organizationId, id)).returning({ id: webhookEndpoints.id });
  if (!rows[0]) throw problem.notFound(`No webhook endpoint "${id}".`);
}

/** How long the secret before a rotation keeps signing by default: receivers get a day to switch. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600;

/**
 * A new secret signs from now on; the old one signs too (a second `v1,` signature) for
 * `graceSeconds`, so a receiver can deploy the new secret without rejecting deliveries meanwhile.
 * 0 ends the old one at once (a leaked secret). A second rotation with a grace while one is still
 * running is refused: it would silently drop the secret receivers may still hold.
 */
export async function rotateSecret(db: D1Database, organizationId: string, id: string, graceSeconds = DEFAULT_ROTATION_GRACE_SECONDS, now = Date.now()) {
  const keep = graceSeconds > 0;
  const noGraceRunning = or(isNull(webhookEndpoints.previousSecretUntil), lte(webhookEndpoints.previousSecretUntil, now));
  const rows = await drizzle(db)
    .update(webhookEndpoints)
    .set({
      previousSecret: keep ? sql`${webhookEndpoints.secret}` : null,
      previousSecretUntil: keep ? now + graceSeconds * 1000 : null,
      secret: generateSecret(),
      updatedAt: now,
    })
    .where(keep ? and(scoped(organizationId, id), noGraceRunning) : scoped(organizationId, id))
    .returning();
  if (rows[0]) return withSecret(rows[0]);
  const existing = await drizzle(db).select().from(webhookEndpoints).where(scoped(organizationId, id)).get();
  if (!existing) throw problem.notFound(`No webhook endpoint "${id}".`);
  throw problem.conflict(
    `The previous rotation's grace runs until ${isoInstant(existing.previousSecretUntil ?? now)}: rotate with body.graceSeconds 0 to end it, or wait.`,
  );
}
