import { workerConfig } from "./config";
import type { Env } from "./env";

// What the cron deletes so that D1 stays far below its 10 GB per database (docs/capacity.md lists
// every table, what makes it grow and what bounds it). Deletes go in batches of PURGE_BATCH_ROWS ids
// picked by an indexed subquery, so no statement runs long on a database that executes one statement
// at a time, and at most PURGE_BATCHES_PER_TICK per table per cron tick (a minute): up to 10,000 rows
// a minute per table, 600,000 an hour (the deliveries of ~50,000 compositions with a callbackUrl).

export const PURGE_BATCH_ROWS = 1000;
export const PURGE_BATCHES_PER_TICK = 10;
/** How long settled webhook deliveries stay in the delivery log: DELIVERY_LOG_DAYS (default 7), parsed with the rest of the configuration. */
export const deliveryLogRetentionMs = (env: Env): number => workerConfig(env).deliveryLogMs;

/**
 * Runs `purge(PURGE_BATCH_ROWS)` (which returns how many rows it deleted) until a batch comes back
 * short, at most PURGE_BATCHES_PER_TICK times. Returns the rows deleted; what is left waits for the
 * next tick.
 */
export async function inBoundedBatches(purge: (limit: number) => Promise<number>): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < PURGE_BATCHES_PER_TICK; batch++) {
    const n = await purge(PURGE_BATCH_ROWS);
    deleted += n;
    if (n < PURGE_BATCH_ROWS) break;
  }
  return deleted;
}
