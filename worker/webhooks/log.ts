import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { displayTarget } from "./targets";
import type { EventType } from "./types";

/** The delivery log of one composition, in event order: what was sent where, and how it went. */
export async function listDeliveries(env: Env, compositionId: string) {
  const { results } = await env.DB.prepare(
    `SELECT event_id, type, target_url, endpoint_id, status, attempts, last_status, last_error, created_at, delivered_at
     FROM webhook_deliveries WHERE composition_id = ?1 ORDER BY seq, created_at, endpoint_id NULLS FIRST, id`,
  )
    .bind(compositionId)
    .all<{
      event_id: string;
      type: EventType;
      target_url: string;
      endpoint_id: string | null;
      status: "pending" | "delivered" | "dead";
      attempts: number;
      last_status: number | null;
      last_error: string | null;
      created_at: number;
      delivered_at: number | null;
    }>();
  return results.map((r) => ({
    eventId: r.event_id,
    type: r.type,
    target: displayTarget(r.target_url),
    endpointId: r.endpoint_id,
    status: r.status,
    attempts: r.attempts,
    lastStatus: r.last_status,
    lastError: r.last_error,
    created: isoInstant(r.created_at),
    delivered: r.delivered_at === null ? null : isoInstant(r.delivered_at),
  }));
}
