// What the cron deletes so that D1 does not grow without bound: settled webhook deliveries older
// than DELIVERY_LOG_DAYS and uploads past their 7 days, in batches of PURGE_BATCH_ROWS, at most
// PURGE_BATCHES_PER_TICK a tick; pending deliveries and anything recent are kept.
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../worker/index";
import { PURGE_BATCH_ROWS, PURGE_BATCHES_PER_TICK } from "../../worker/retention";
import { sweepDeliveries } from "../../worker/webhooks/deliver";
import { countingD1 } from "./d1-counter";
import { captureQueue, uid } from "./helpers";
import { captureWebhooks } from "./webhook-helpers";

const DAY = 24 * 3600_000;

beforeEach(() => {
  captureQueue();
  captureWebhooks();
});
afterEach(() => vi.restoreAllMocks());

/** Writes `n` deliveries of one made-up composition, all with this status and creation time. */
async function deliveries(composition: string, n: number, status: "pending" | "delivered" | "dead", createdAt: number): Promise<void> {
  await env.DB.prepare(
    `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?2)
     INSERT INTO webhook_deliveries (id, event_id, organization_id, composition_id, conversation_id, target_url, type, payload, seq, status, attempts, created_at, next_attempt_at)
     SELECT ?1 || '-' || ?3 || '-' || i, 'evt-' || ?1 || '-' || ?3 || '-' || i, 'org-retention', ?1, 'conv', 'https://crm.example/cb', 'composition.progress', '{}', i, ?3, 1, ?4,
            CASE WHEN ?3 = 'pending' THEN ?4 ELSE NULL END
     FROM k`,
  )
    .bind(composition, n, status, createdAt)
    .run();
}

async function left(composition: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare(
    `SELECT status, count(*) AS n FROM webhook_deliveries WHERE composition_id = ?1 GROUP BY status ORDER BY status`,
  )
    .bind(composition)
    .all<{ status: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.status, r.n]));
}

describe("the delivery log is pruned", () => {
  it("settled deliveries older than DELIVERY_LOG_DAYS (default 7) go in bounded batches; pending and recent ones stay", async () => {
    const now = Date.now();
    const old = uid("old");
    const recent = uid("recent");
    await deliveries(old, 2 * PURGE_BATCH_ROWS + 7, "delivered", now - 8 * DAY);
    await deliveries(old, 5, "dead", now - 8 * DAY);
    await deliveries(old, 3, "pending", now - 8 * DAY);
    await deliveries(recent, 4, "delivered", now - 6 * DAY);

    const counter = countingD1(env.DB);
    await sweepDeliveries({ ...env, DB: counter.db }, now);
    expect(await left(old)).toEqual({ pending: 3 });
    expect(await left(recent)).toEqual({ delivered: 4 });
    // The overdue scan, then three deletes (1000, 1000, the 12 left): the third came back short.
    expect(counter.total()).toMatchObject({ reads: 1, writes: 3 });

    await sweepDeliveries({ ...env, DELIVERY_LOG_DAYS: "5" }, now);
    expect(await left(recent)).toEqual({});
  });

  it("one tick deletes at most PURGE_BATCHES_PER_TICK batches; the next tick goes on", async () => {
    const now = Date.now();
    const backlog = uid("backlog");
    await deliveries(backlog, PURGE_BATCHES_PER_TICK * PURGE_BATCH_ROWS + 10, "delivered", now - 30 * DAY);
    await sweepDeliveries(env, now);
    expect(await left(backlog)).toEqual({ delivered: 10 });
    await sweepDeliveries(env, now);
    expect(await left(backlog)).toEqual({});
  });

  it("a DELIVERY_LOG_DAYS that is not a positive number of days is refused by name", async () => {
    await expect(sweepDeliveries({ ...env, DELIVERY_LOG_DAYS: "a week" })).rejects.toThrow(
      /DELIVERY_LOG_DAYS must be a positive number of days, not "a week"/,
    );
    await expect(sweepDeliveries({ ...env, DELIVERY_LOG_DAYS: "0" })).rejects.toThrow(/DELIVERY_LOG_DAYS/);
  });
});

describe("uploads are forgotten after 7 days", () => {
  it("the cron deletes every organization's expired uploads with their parts, and keeps the recent ones", async () => {
    const now = Date.now();
    const upload = (id: string, org: string, createdAt: number) =>
      env.DB.prepare(
        `INSERT INTO track_uploads (id, organization_id, conversation_id, track_id, size, part_size, part_count, content_type, media_key, r2_upload_id, created_at)
         VALUES (?1, ?2, 'conv', 't1', 10, 5, 2, 'audio/webm', 'orgs/x/conversations/conv/tracks/t1', 'r2-' || ?1, ?3)`,
      ).bind(id, org, createdAt);
    const part = (id: string, n: number) =>
      env.DB.prepare(
        `INSERT INTO track_upload_parts (upload_id, part_number, size, etag, uploaded_at) VALUES (?1, ?2, 5, 'etag', ?3)`,
      ).bind(id, n, now);
    const [expiredA, expiredB, fresh] = [uid("up-a"), uid("up-b"), uid("up-c")];
    await env.DB.batch([
      upload(expiredA, uid("org"), now - 8 * DAY),
      upload(expiredB, uid("org"), now - 7 * DAY - 1000),
      upload(fresh, uid("org"), now - 6 * DAY),
      part(expiredA, 1),
      part(expiredA, 2),
      part(fresh, 1),
    ]);

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);

    const ids = (
      await env.DB.prepare(`SELECT id FROM track_uploads WHERE id IN (?1, ?2, ?3)`).bind(expiredA, expiredB, fresh).all<{ id: string }>()
    ).results;
    expect(ids.map((r) => r.id)).toEqual([fresh]);
    const parts = (
      await env.DB.prepare(`SELECT upload_id FROM track_upload_parts WHERE upload_id IN (?1, ?2)`)
        .bind(expiredA, fresh)
        .all<{ upload_id: string }>()
    ).results;
    expect(parts.map((r) => r.upload_id)).toEqual([fresh]);
  });
});
