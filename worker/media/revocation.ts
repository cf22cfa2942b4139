/**
 * Revoked links. A link's `Date` has whole-second precision (the seed's format), a revocation is
 * stored to the millisecond: a link is refused when its `Date` is at or before the revocation, so a
 * link signed earlier in the same second as a revoke is refused too. A link signed after a revoke
 * in that same second would carry the same `Date`; it is dated the next second instead (well inside
 * the verifier's clock-skew allowance), so it works.
 */

/** True when a link dated `signedAt` was signed before (or in the second of) the revocation. */
export function isRevoked(signedAt: Date, revokedAt: number | null): boolean {
  return revokedAt !== null && signedAt.getTime() <= revokedAt;
}

/** The instant a link signed `now` must carry so that it outlives the revocation. */
export function signingInstant(now: Date, revokedAt: number | null): Date {
  const second = Math.floor(now.getTime() / 1000) * 1000;
  if (revokedAt === null || second > revokedAt) return now;
  return new Date(Math.floor(revokedAt / 1000) * 1000 + 1000);
}

/**
 * A browser may reuse a response it already holds for max-age without asking again, even after a
 * revoke: capped at an hour, whatever the link's lifetime (up to 7 days). Shared caches never store
 * these responses (`private`), and a revalidation goes through the signature and revocation checks.
 */
export const MAX_BROWSER_CACHE_SECONDS = 3600;
