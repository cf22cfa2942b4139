import { FORMATS } from "../../contract/formats";
import type { CompositionRow } from "../db/schema";
import type { Env } from "../env";
import { outputKey, outputPrefix } from "../media/keys";
import { runKeys } from "./review-assets";

/** Each run writes its own object, so a re-execution never overwrites the file people are playing. */
export function runOutputKey(row: Pick<CompositionRow, "organizationId" | "conversationId" | "id" | "format">, leaseToken: string): string {
  return outputKey(row.organizationId, row.conversationId, row.id, `run-${leaseToken.slice(0, 16)}`, FORMATS[row.format].extension);
}

/** Removes every object of a composition except its current output and its review assets (all of them when `everything`). */
export async function cleanupOutputs(env: Env, row: CompositionRow, everything = false): Promise<number> {
  const prefix = outputPrefix(row.organizationId, row.conversationId, row.id);
  const keep = new Set(row.outputKey && !everything ? runKeys(row.outputKey) : []);
  let removed = 0;
  let cursor: string | undefined;
  do {
    const page = await env.MEDIA.list({ prefix, cursor });
    const doomed = page.objects.map((o) => o.key).filter((k) => !keep.has(k));
    if (doomed.length) await env.MEDIA.delete(doomed);
    removed += doomed.length;
    // Abandoned multipart uploads expire by R2's lifecycle; only whole objects are listed here.
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return removed;
}
