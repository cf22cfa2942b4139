import { workerConfig } from "../config";
import type { CompositionRow } from "../db/schema";
import type { Announce } from "../db/webhook-deliveries";
import type { Env } from "../env";
import { isoDuration, isoInstant } from "../http/format";
import { signLink } from "../media/links";
import type { EventType } from "./types";

/** Links in a completed event last a day: a receiver may act on it late, but not for the 7-day maximum. */
export const EVENT_LINK_SECONDS = 86_400;

/**
 * Receivers are outside the service: renderer errors can quote internal job URLs or tokens, so
 * anything URL- or token-shaped is masked before it leaves.
 */
export function redact(text: string | null): string | null {
  if (text === null) return null;
  return text
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>)]+/gi, "[url]")
    .replace(/\b(Bearer|token|secret|signature)([=:\s]+)[\w.~+/=-]{8,}/gi, "$1$2[redacted]");
}

async function completedLinks(env: Env, row: CompositionRow) {
  // Only the public origin may appear; without one there is no link a receiver could use.
  const origin = workerConfig(env).publicBaseUrl;
  if (!origin || !row.outputKey) return null;
  const [inline, attachment] = await Promise.all([
    signLink(env, row, "inline", EVENT_LINK_SECONDS, origin),
    signLink(env, row, "attachment", EVENT_LINK_SECONDS, origin),
  ]);
  return { inline, attachment };
}

/** The event's `data`: what the query API shows of the composition, never keys, tokens or hosts. */
export async function eventData(env: Env, row: CompositionRow, type: EventType): Promise<Record<string, unknown>> {
  return {
    conversationId: row.conversationId,
    id: row.id,
    name: row.name,
    state: row.state,
    type: row.type,
    format: row.format,
    progress: row.progress,
    duration: row.durationMs === null ? null : isoDuration(row.durationMs),
    error: redact(row.error),
    created: isoInstant(row.createdAt),
    completed: row.completedAt === null ? null : isoInstant(row.completedAt),
    ...(type === "composition.completed" ? { size: row.outputSize, links: await completedLinks(env, row) } : {}),
  };
}

/**
 * The events of this Worker's transitions, each built from the row as its transition leaves it.
 * Never throws: an event that cannot be built (links that cannot be signed, say) is logged and its
 * transition goes ahead without it.
 */
export function announcer(env: Env): Announce {
  return async (row, type, at) => {
    try {
      const payload = JSON.stringify({ type, timestamp: isoInstant(at), data: await eventData(env, row, type) });
      const id = `evt_${crypto.randomUUID().replace(/-/g, "")}`;
      return {
        id,
        type,
        compositionId: row.id,
        organizationId: row.organizationId,
        conversationId: row.conversationId,
        callbackUrl: row.callbackUrl,
        payload,
        at,
      };
    } catch (err) {
      console.error(
        JSON.stringify({ msg: "webhook event not built; the transition goes ahead without it", type, id: row.id, error: String(err) }),
      );
      return null;
    }
  };
}
