/**
 * R2 object keys. Ids come from URLs and JWT claims, so each segment is validated against a narrow
 * alphabet and then percent-encoded: no `/` can split a segment, no `..` can climb out of a
 * tenant's prefix, and two different id tuples can never produce the same key.
 */

const SAFE_ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/;
const EXTENSION_RE = /^[a-z0-9]{1,8}$/;

/** 1–128 characters of `[A-Za-z0-9._:@-]`, and not `.` or `..`. */
export function isSafeId(id: unknown): id is string {
  return typeof id === "string" && SAFE_ID_RE.test(id) && id !== "." && id !== "..";
}

/** Throws (naming the field, never echoing a possibly huge value in full) unless {@link isSafeId}. */
export function assertSafeId(id: unknown, what = "id"): asserts id is string {
  if (!isSafeId(id)) {
    const shown = typeof id === "string" ? JSON.stringify(id.slice(0, 40)) : typeof id;
    throw new Error(`Unsafe ${what} for a storage key: ${shown} (expected 1-128 characters of [A-Za-z0-9._:@-]).`);
  }
}

function segment(id: unknown, what: string): string {
  assertSafeId(id, what);
  return encodeURIComponent(id);
}

/** Everything one organization stored; the trailing `/` keeps `acme` from also listing `acme2`. */
export function organizationPrefix(org: string): string {
  return `orgs/${segment(org, "organization")}/`;
}

function conversationPrefix(org: string, conversationId: string): string {
  return `orgs/${segment(org, "organization")}/conversations/${segment(conversationId, "conversationId")}`;
}

/** The uploaded media of one recorded track. */
export function trackKey(org: string, conversationId: string, trackId: string): string {
  return `${conversationPrefix(org, conversationId)}/tracks/${segment(trackId, "trackId")}`;
}

/**
 * Everything a composition ever stored. The trailing `/` matters: without it a listing for
 * composition `abc` would also return the objects of composition `abcd`.
 */
export function outputPrefix(org: string, conversationId: string, compositionId: string): string {
  return `${conversationPrefix(org, conversationId)}/compositions/${segment(compositionId, "compositionId")}/`;
}

/**
 * One render's output. Each run (re-execution) writes its own key, so the previous output stays
 * playable until the new run completes and replaces the pointer to it.
 */
export function outputKey(org: string, conversationId: string, compositionId: string, runId: string, ext: string): string {
  if (!EXTENSION_RE.test(ext)) throw new Error(`Unsafe file extension for a storage key: ${JSON.stringify(ext.slice(0, 16))}.`);
  return `${outputPrefix(org, conversationId, compositionId)}${segment(runId, "runId")}.${ext}`;
}
