import {
  deleteEndpointRow,
  findEndpoint,
  insertEndpointWithin,
  listEndpointRows,
  replaceSecret,
  updateEndpointRow,
} from "../db/webhook-endpoints";
import type { WebhookEndpointRow } from "../db/schema";
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
  if (!(await insertEndpointWithin(env.DB, row, MAX_ENDPOINTS_PER_ORG)))
    throw problem.conflict(`An organization may have at most ${MAX_ENDPOINTS_PER_ORG} webhook endpoints.`);
  return withSecret(row);
}

export async function listEndpoints(db: D1Database, organizationId: string) {
  return (await listEndpointRows(db, organizationId)).map(endpointView);
}

async function findOr404(db: D1Database, organizationId: string, id: string): Promise<WebhookEndpointRow> {
  const row = await findEndpoint(db, organizationId, id);
  if (!row) throw problem.notFound(`No webhook endpoint "${id}".`);
  return row;
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
  const row = await updateEndpointRow(env.DB, organizationId, id, set);
  if (!row) throw problem.notFound(`No webhook endpoint "${id}".`);
  return endpointView(row);
}

/** Pending deliveries to a deleted endpoint are marked dead when their turn comes (deliver.ts). */
export async function deleteEndpoint(db: D1Database, organizationId: string, id: string) {
  if (!(await deleteEndpointRow(db, organizationId, id))) throw problem.notFound(`No webhook endpoint "${id}".`);
}

/** How long the secret before a rotation keeps signing by default: receivers get a day to switch. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600;

/**
 * A new secret signs from now on; the old one signs too (a second `v1,` signature) for
 * `graceSeconds`, so a receiver can deploy the new secret without rejecting deliveries meanwhile.
 * 0 ends the old one at once (a leaked secret). A second rotation with a grace while one is still
 * running is refused: it would silently drop the secret receivers may still hold.
 */
export async function rotateSecret(
  db: D1Database,
  organizationId: string,
  id: string,
  graceSeconds = DEFAULT_ROTATION_GRACE_SECONDS,
  now = Date.now(),
) {
  const rotated = await replaceSecret(db, organizationId, id, generateSecret(), graceSeconds > 0 ? now + graceSeconds * 1000 : null, now);
  if (rotated) return withSecret(rotated);
  const existing = await findEndpoint(db, organizationId, id);
  if (!existing) throw problem.notFound(`No webhook endpoint "${id}".`);
  throw problem.conflict(
    `The previous rotation's grace runs until ${isoInstant(existing.previousSecretUntil ?? now)}: rotate with body.graceSeconds 0 to end it, or wait.`,
  );
}
