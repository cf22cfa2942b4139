/**
 * Serves one R2 object per RFC 9110: ranges, conditional requests, HEAD. Bytes are streamed from
 * R2 (ranged reads), never buffered. The common cases (plain GET, one range, a revalidation) take a
 * single R2 round trip: the range is guessed from the header's syntax alone and checked against the
 * object's size afterwards; only when the guess was wrong (clamped range, multi-range, If-Range
 * mismatch, object replaced mid-request) is a second, exact read made.
 */
import { contentRange, evaluatePreconditions, httpDate, ifRangeAllowsPartial, parseRangeSpecs, resolveRange } from "./ranges";
import type { RangeSpec, Validators } from "./ranges";

export interface ServeMediaOptions {
  /** e.g. `audio/mpeg`, `video/mp4`. */
  contentType: string;
  disposition: "inline" | "attachment";
  /** Display name for `Content-Disposition` (any Unicode; sanitised here). */
  fileName: string;
  /** Seconds the response may be cached: pass what is left of the link's validity. */
  maxAgeSeconds: number;
}

type Span = { offset: number; length: number };

/**
 * The request's conditional fields that are forwarded to R2 (conditionalHeaders), so it can skip the
 * body when the revalidation will end in 304. If-Range is not one: it only chooses between 200 and 206.
 */
const CONDITIONAL_FIELDS = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"] as const;
/** Several writers replacing one key at once is pathological; give up rather than loop. */
const MAX_ATTEMPTS = 3;

/**
 * GET (and any method the route maps to a read) or HEAD of `key`. Returns null when the object
 * does not exist, so the route renders its own 404.
 */
export async function serveMediaObject(request: Request, bucket: R2Bucket, key: string, opts: ServeMediaOptions): Promise<Response | null> {
  if (request.method.toUpperCase() === "HEAD") return serveHead(request.headers, bucket, key, opts);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const result = await serveGet(request.headers, bucket, key, opts);
    if (result !== "retry") return result;
  }
  return new Response(null, { status: 503, headers: { "Retry-After": "1", "Cache-Control": "no-store" } });
}

/**
 * `inline`, or `attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266 + RFC 8187): the
 * quoted ASCII fallback is for old clients, every current browser prefers `filename*`.
 */
export function contentDisposition(disposition: "inline" | "attachment", fileName: string): string {
  // The player URL already ends in the file name, which browsers use when saving inline media.
  if (disposition === "inline") return "inline";
  const name = cleanFileName(fileName);
  return `attachment; filename="${asciiFallback(name)}"; filename*=UTF-8''${encodeRfc8187(name)}`;
}

async function serveHead(headers: Headers, bucket: R2Bucket, key: string, opts: ServeMediaOptions): Promise<Response | null> {
  const obj = await bucket.head(key);
  if (!obj) return null;
  const early = preconditionResponse(headers, obj, opts);
  if (early) return early;
  // Range handling is defined for GET only (RFC 9110 §14.2), so HEAD describes the full representation.
  const h = representationHeaders(obj, opts);
  h.set("Content-Length", String(obj.size));
  return new Response(null, { status: 200, headers: h });
}

async function serveGet(headers: Headers, bucket: R2Bucket, key: string, opts: ServeMediaOptions): Promise<Response | null | "retry"> {
  const specs = parseRangeSpecs(headers.get("range"));
  const guess = specs?.length === 1 ? r2RangeFor(specs[0]!) : undefined;

  let obj: R2Object | R2ObjectBody | null;
  if (specs !== null && guess === undefined) {
    // Multi-range (or `-0`): which range to send depends on the size, so learn it without a body.
    obj = await bucket.head(key);
  } else {
    try {
      obj = await bucket.get(key, { range: guess, onlyIf: conditionalHeaders(headers) });
    } catch {
      // R2 refuses a range it cannot satisfy; the metadata is all that is needed to answer 416.
      obj = await bucket.head(key);
    }
  }
  if (!obj) return null;

  const early = preconditionResponse(headers, obj, opts);
  if (early) {
    discard(obj);
    return early;
  }

  const range =
    specs && ifRangeAllowsPartial(headers.get("if-range"), validators(obj)) ? resolveRange(specs, obj.size) : ({ kind: "full" } as const);
  if (range.kind === "unsatisfiable") {
    discard(obj);
    const h = representationHeaders(obj, opts);
    h.set("Content-Range", contentRange(null, obj.size));
    h.set("Cache-Control", "no-store");
    h.delete("Content-Disposition");
    return new Response(null, { status: 416, headers: h });
  }

  const want: Span = range.kind === "full" ? { offset: 0, length: obj.size } : { offset: range.start, length: range.end - range.start + 1 };
  let body: R2ObjectBody;
  if (hasBody(obj) && sameSpan(delivered(obj, guess !== undefined), want)) {
    body = obj;
  } else {
    discard(obj);
    // Pinned to the etag just evaluated: sizes, ranges and validators must describe one version.
    const exact = await bucket.get(key, {
      range: range.kind === "full" ? undefined : want,
      onlyIf: { etagMatches: obj.etag },
    });
    if (!exact) return null;
    if (!hasBody(exact)) return "retry";
    body = exact;
  }

  const h = representationHeaders(body, opts);
  h.set("Content-Length", String(want.length));
  if (range.kind === "partial") h.set("Content-Range", contentRange(range, body.size));
  return new Response(body.body, { status: range.kind === "partial" ? 206 : 200, headers: h });
}

/** 304 or 412 when a precondition decides the answer, else null. */
function preconditionResponse(headers: Headers, obj: R2Object, opts: ServeMediaOptions): Response | null {
  const outcome = evaluatePreconditions(headers, validators(obj));
  if (outcome === "proceed") return null;
  if (outcome === "precondition-failed") {
    return new Response(null, { status: 412, headers: { "Cache-Control": "no-store" } });
  }
  // A 304 carries what a cache needs to refresh its stored response, and no body.
  const h = new Headers({
    ETag: obj.httpEtag,
    "Last-Modified": httpDate(obj.uploaded),
    "Cache-Control": cacheControl(opts.maxAgeSeconds),
    "Accept-Ranges": "bytes",
  });
  return new Response(null, { status: 304, headers: h });
}

function representationHeaders(obj: R2Object, opts: ServeMediaOptions): Headers {
  return new Headers({
    "Content-Type": opts.contentType,
    "Content-Disposition": contentDisposition(opts.disposition, opts.fileName),
    "Accept-Ranges": "bytes",
    ETag: obj.httpEtag,
    "Last-Modified": httpDate(obj.uploaded),
    "Cache-Control": cacheControl(opts.maxAgeSeconds),
    // Stored media must never be sniffed into something executable (e.g. HTML) by a browser.
    "X-Content-Type-Options": "nosniff",
  });
}

/** `private`: the link is a credential, so shared caches must not hand its bytes to others. */
function cacheControl(maxAgeSeconds: number): string {
  const n = Number.isFinite(maxAgeSeconds) ? Math.max(0, Math.floor(maxAgeSeconds)) : 0;
  return `private, max-age=${n}`;
}

function validators(obj: R2Object): Validators {
  return { etag: obj.httpEtag, lastModified: obj.uploaded };
}

/** Lets R2 skip the body when a revalidation will end in 304; our own evaluation still decides. */
function conditionalHeaders(headers: Headers): Headers | undefined {
  const h = new Headers();
  for (const name of CONDITIONAL_FIELDS) {
    const value = headers.get(name);
    if (value !== null) h.set(name, value);
  }
  return [...h.keys()].length > 0 ? h : undefined;
}

/** Only a spec whose R2 form is unambiguous without knowing the size; `-0` is never satisfiable. */
function r2RangeFor(spec: RangeSpec): R2Range | undefined {
  if ("suffix" in spec) return spec.suffix > 0 && Number.isSafeInteger(spec.suffix) ? { suffix: spec.suffix } : undefined;
  if (!Number.isSafeInteger(spec.first)) return undefined;
  if (spec.last === undefined) return { offset: spec.first };
  const length = spec.last - spec.first + 1;
  return Number.isSafeInteger(length) ? { offset: spec.first, length } : undefined;
}

/**
 * What R2 says it returned, normalised to offset+length; null when unknown. R2 reports the range
 * it served, but only an exact match with what we are about to announce in Content-Range is
 * trusted, so a runtime that echoes the unclamped request costs an extra read, never wrong bytes.
 */
function delivered(obj: R2ObjectBody, ranged: boolean): Span | null {
  const r = obj.range;
  if (!ranged) return { offset: 0, length: obj.size };
  if (r === undefined) return null;
  // workerd's range object carries all three keys, unused ones undefined: test values, not `in`.
  const { offset, length, suffix } = r as { offset?: number; length?: number; suffix?: number };
  if (suffix !== undefined) return suffix <= obj.size ? { offset: obj.size - suffix, length: suffix } : null;
  return { offset: offset ?? 0, length: length ?? obj.size - (offset ?? 0) };
}

function sameSpan(a: Span | null, b: Span): boolean {
  return a !== null && a.offset === b.offset && a.length === b.length;
}

function hasBody(obj: R2Object | R2ObjectBody): obj is R2ObjectBody {
  return "body" in obj;
}

/** Releases an R2 body we will not send, so the read does not linger until the request ends. */
function discard(obj: R2Object | R2ObjectBody): void {
  if (hasBody(obj) && !obj.bodyUsed) obj.body.cancel().catch(() => {});
}

/** The display name minus what must never reach a filename: controls, bidi overrides, separators. */
function cleanFileName(fileName: string): string {
  const cleaned = toWellFormed(fileName.normalize("NFC"))
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this strips
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "")
    .replace(/[/\\]/g, "_")
    .trim()
    .replace(/^\.+/, "");
  return [...cleaned].slice(0, 200).join("") || "download";
}

/** Printable ASCII only, without quotes, backslashes or `%` (some clients percent-decode it). */
function asciiFallback(name: string): string {
  const ascii = name
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .replace(/[^\x20-\x7e]+/g, "_")
    .replace(/["]/g, "")
    .replace(/[\\%;]/g, "_")
    .trim();
  const ext = /\.[A-Za-z0-9]{1,8}$/.exec(ascii)?.[0] ?? "";
  const stem = ascii.slice(0, ascii.length - ext.length);
  return /[A-Za-z0-9]/.test(stem) ? ascii : `download${ext}`;
}

/** RFC 8187 ext-value: encodeURIComponent leaves `'()*` bare, which attr-char does not allow. */
function encodeRfc8187(name: string): string {
  return encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Lone surrogates would make encodeURIComponent throw; they become U+FFFD as in String#toWellFormed. */
function toWellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}
