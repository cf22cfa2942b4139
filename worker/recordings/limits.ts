// Sizes the platform imposes on track bodies (no imports: the configuration parser checks
// UPLOAD_PART_SIZE against them).

/**
 * The largest body one request may carry. Cloudflare's edge refuses bodies over 100 MB on the Free
 * and Pro plans (200 MB Business, 500 MB Enterprise); larger tracks go up in parts of this size.
 */
export const MAX_BODY_BYTES = 95 * 2 ** 20;

/** R2's smallest part of a multipart upload (all but the last). */
export const MIN_PART_SIZE = 5 * 2 ** 20;
