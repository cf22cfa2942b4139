import { storageReferences } from "../db/audit";
import type { Env } from "../env";
import { organizationPrefix } from "../media/keys";
import { runOutputKey } from "./outputs";
import { isReviewAssetKey, runKeys } from "./review-assets";

// The storage audit: every R2 object of one organization, and which of them nothing refers to.
//   track  orgs/{org}/conversations/{conv}/tracks/{trackId}               ← tracks.media_key
//   output orgs/{org}/conversations/{conv}/compositions/{id}/run-….{ext}   ← compositions.output_key,
//          or the in-flight output of a PROCESSING composition's current lease (runOutputKey)
//   asset  …/compositions/{id}/run-….waveform.json (thumbnails.jpg, thumbnails.vtt): a run's review
//          assets, referenced with that run's output (see review-assets.ts)
// Anything else under the organization's prefix was written by nothing we know: kind "other", orphan.

export type StoredKind = "track" | "output" | "asset" | "other";

export interface StoredObject {
  key: string;
  size: number;
  kind: StoredKind;
}

export interface StorageAudit {
  objects: StoredObject[];
  orphans: string[];
}

const TRACK_RE = /^orgs\/[^/]+\/conversations\/[^/]+\/tracks\/[^/]+$/;
const OUTPUT_RE = /^orgs\/[^/]+\/conversations\/[^/]+\/compositions\/[^/]+\/[^/]+$/;

export function kindOf(key: string): StoredKind {
  if (TRACK_RE.test(key)) return "track";
  if (OUTPUT_RE.test(key)) return isReviewAssetKey(key) ? "asset" : "output";
  return "other";
}

async function listAll(bucket: R2Bucket, prefix: string): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor, limit: 1000 });
    for (const o of page.objects) objects.push({ key: o.key, size: o.size, kind: kindOf(o.key) });
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return objects;
}

/** The keys the organization's rows refer to right now (stored tracks, outputs, in-flight outputs). */
export async function referencedKeys(db: D1Database, organizationId: string): Promise<Set<string>> {
  const refs = await storageReferences(db, organizationId);
  const keys = new Set(refs.trackKeys);
  for (const row of refs.compositions) {
    if (row.outputKey) for (const k of runKeys(row.outputKey)) keys.add(k);
    if (row.state === "PROCESSING" && row.leaseToken) for (const k of runKeys(runOutputKey(row, row.leaseToken))) keys.add(k);
  }
  return keys;
}

/**
 * Lists the organization's objects and names the orphans. The listing is taken between two reads
 * of D1 and an object is an orphan only if neither read refers to it, so work in flight (an output
 * replaced and being cleaned up, a lease that just ended) is never reported. An upload whose row is
 * not yet written can still show up for an instant; a real orphan shows up on every audit.
 */
export async function auditStorage(env: Env, organizationId: string): Promise<StorageAudit> {
  const before = await referencedKeys(env.DB, organizationId);
  const objects = await listAll(env.MEDIA, organizationPrefix(organizationId));
  const after = await referencedKeys(env.DB, organizationId);
  const orphans = objects.filter((o) => !before.has(o.key) && !after.has(o.key)).map((o) => o.key);
  return { objects, orphans };
}
