import { deliveriesOf } from "../db/webhook-deliveries";
import type { Env } from "../env";
import { isoInstant } from "../http/format";
import { displayTarget } from "./targets";
import type { EventType } from "./types";

/** The delivery log of one composition, in event order: what was sent where, and how it went. */
export async function listDeliveries(env: Env, compositionId: string) {
  const rows = await deliveriesOf(env.DB, compositionId);
  return rows.map((r) => ({
    eventId: r.eventId,
    type: r.type as EventType,
    target: displayTarget(r.targetUrl),
    endpointId: r.endpointId,
    status: r.status,
    attempts: r.attempts,
    lastStatus: r.lastStatus,
    lastError: r.lastError,
    created: isoInstant(r.createdAt),
    delivered: r.deliveredAt === null ? null : isoInstant(r.deliveredAt),
  }));
}
