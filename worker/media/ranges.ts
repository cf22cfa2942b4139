/**
 * Pure RFC 9110 helpers for media reads: byte ranges (§14) and conditional requests (§13).
 * No I/O, so every edge case is unit-testable and property-testable.
 */

/** One range-spec: `first-last` / `first-` (int-range) or `-suffix` (suffix-range). Numbers may exceed 2^53. */
export type RangeSpec = { first: number; last?: number } | { suffix: number };

export type RangeResult = { kind: "full" } | { kind: "partial"; start: number; end: number } | { kind: "unsatisfiable" };

export interface Validators {
  /** Strong entity tag with quotes, e.g. R2's `httpEtag` (`"abc123"`). */
  etag: string;
  lastModified: Date;
}

export type PreconditionOutcome = "not-modified" | "precondition-failed" | "proceed";

const INT_RANGE_RE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE_RE = /^-(\d+)$/;

/**
 * Syntax only (the size is not needed): the range-specs of a `Range: bytes=…` header, or null when
 * the header is absent, uses another unit or is invalid, all of which RFC 9110 §14.2 says to ignore
 * (serve 200). Empty list elements are allowed, as for every `#rule` list.
 */
export function parseRangeSpecs(header: string | null | undefined): RangeSpec[] | null {
  if (header == null) return null;
  const eq = header.indexOf("=");
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== "bytes") return null;
  const specs: RangeSpec[] = [];
  for (const raw of header.slice(eq + 1).split(",")) {
    const part = raw.trim();
    if (part === "") continue;
    const int = INT_RANGE_RE.exec(part);
    if (int) {
      const [, first, last] = int as unknown as [string, string, string];
      // Compared as digit strings: Number() would round values past 2^53 and hide last < first.
      if (last !== "" && compareDigits(last, first) < 0) return null;
      specs.push(last === "" ? { first: Number(first) } : { first: Number(first), last: Number(last) });
      continue;
    }
    const suffix = SUFFIX_RANGE_RE.exec(part);
    if (!suffix) return null;
    specs.push({ suffix: Number(suffix[1]) });
  }
  return specs.length > 0 ? specs : null;
}

/**
 * Resolves range-specs against a representation of `size` bytes. The set is satisfiable when any
 * spec is; we then answer with the FIRST satisfiable range only (a single-part 206), never a
 * multipart/byteranges body: RFC 9110 lets a server send fewer ranges than asked, media players
 * only ever ask for one, and a single part keeps the body a plain stream from R2.
 */
export function resolveRange(specs: readonly RangeSpec[], size: number): RangeResult {
  let suffixOnEmpty = false;
  for (const spec of specs) {
    if ("suffix" in spec) {
      if (spec.suffix <= 0) continue;
      // A non-empty suffix of an empty representation is satisfiable yet has no bytes to address
      // in Content-Range; answering 200 with the (empty) whole is the only honest reply.
      if (size === 0) {
        suffixOnEmpty = true;
        continue;
      }
      return { kind: "partial", start: Math.max(0, size - spec.suffix), end: size - 1 };
    }
    if (spec.first >= size) continue;
    const end = spec.last === undefined ? size - 1 : Math.min(spec.last, size - 1);
    return { kind: "partial", start: spec.first, end };
  }
  return suffixOnEmpty ? { kind: "full" } : { kind: "unsatisfiable" };
}

/** The whole decision for a `Range` header: full body, one partial range, or 416. */
export function parseRange(header: string | null, size: number): RangeResult {
  const specs = parseRangeSpecs(header);
  return specs === null ? { kind: "full" } : resolveRange(specs, size);
}

/** `Content-Range` value for a satisfied range or (with `null`) for a 416. */
export function contentRange(range: { start: number; end: number } | null, size: number): string {
  return range ? `bytes ${range.start}-${range.end}/${size}` : `bytes */${size}`;
}

type EntityTag = { weak: boolean; opaque: string };

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
const ENTITY_TAG_RE = /^(W\/)?("[\x21\x23-\x7E\x80-\xFF]*")$/;

function parseEntityTag(s: string): EntityTag | null {
  const m = ENTITY_TAG_RE.exec(s.trim());
  return m ? { weak: m[1] !== undefined, opaque: m[2]! } : null;
}

/** `*`, a list of entity tags, or null when the field value is not valid (then it is ignored). */
function parseEntityTagList(value: string): "*" | EntityTag[] | null {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  const isSpace = (c: string | undefined) => c === " " || c === "\t";
  let i = 0;
  // A scanner, not split(","): commas are legal inside an opaque tag.
  while (i < value.length) {
    while (isSpace(value[i]) || value[i] === ",") i++;
    if (i >= value.length) break;
    const start = i;
    if (value.startsWith("W/", i)) i += 2;
    if (value[i] !== '"') return null;
    const close = value.indexOf('"', i + 1);
    if (close < 0) return null;
    const tag = parseEntityTag(value.slice(start, close + 1));
    if (!tag) return null;
    tags.push(tag);
    i = close + 1;
    while (isSpace(value[i])) i++;
    if (i < value.length && value[i] !== ",") return null;
  }
  return tags.length > 0 ? tags : null;
}

/**
 * Whether a field value (`*`, one tag or a list) matches `etag`. `weak` comparison ignores `W/`
 * (If-None-Match); `strong` requires both tags to be strong (If-Match, If-Range).
 */
export function etagMatches(fieldValue: string, etag: string, comparison: "weak" | "strong" = "weak"): boolean {
  const own = parseEntityTag(etag);
  const list = parseEntityTagList(fieldValue);
  if (!own || list === null) return false;
  if (list === "*") return true;
  return list.some((t) => t.opaque === own.opaque && (comparison === "weak" || (!t.weak && !own.weak)));
}

/** HTTP-date → epoch ms; null unless the value is a single valid date (a list is invalid). */
function parseHttpDate(value: string | null): number | null {
  if (value === null) return null;
  const v = value.trim();
  // IMF-fixdate has exactly one comma ("Sun, 06 Nov 1994 …"); more means a list, which is invalid.
  if (v === "" || (v.match(/,/g) ?? []).length > 1) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : null;
}

/** HTTP dates have whole seconds; R2's `uploaded` has milliseconds that would never compare equal. */
function seconds(d: Date): number {
  return Math.floor(d.getTime() / 1000) * 1000;
}

/**
 * RFC 9110 §13.2.2 evaluation order for GET/HEAD: If-Match, else If-Unmodified-Since (→ 412), then
 * If-None-Match, else If-Modified-Since (→ 304). If-Range is separate ({@link ifRangeAllowsPartial}).
 */
export function evaluatePreconditions(headers: Headers, v: Validators, now: Date = new Date()): PreconditionOutcome {
  const ifMatch = headers.get("if-match");
  if (ifMatch !== null) {
    if (!etagMatches(ifMatch, v.etag, "strong")) return "precondition-failed";
  } else {
    const ius = parseHttpDate(headers.get("if-unmodified-since"));
    if (ius !== null && seconds(v.lastModified) > ius) return "precondition-failed";
  }
  const ifNoneMatch = headers.get("if-none-match");
  if (ifNoneMatch !== null) return etagMatches(ifNoneMatch, v.etag, "weak") ? "not-modified" : "proceed";
  const ims = parseHttpDate(headers.get("if-modified-since"));
  // A date in the future is invalid (§13.1.3): honouring it would pin a stale copy in the cache.
  if (ims !== null && ims <= now.getTime() && seconds(v.lastModified) <= ims) return "not-modified";
  return "proceed";
}

/**
 * If-Range (§13.1.5): the client holds part of a representation and wants the rest only if it is
 * unchanged. An entity tag must match strongly; a date must equal Last-Modified exactly. Anything
 * else (including a weak tag or an invalid value) means "send the whole thing".
 */
export function ifRangeAllowsPartial(ifRange: string | null, v: Validators): boolean {
  if (ifRange === null) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith("W/")) {
    const tag = parseEntityTag(value);
    const own = parseEntityTag(v.etag);
    return tag !== null && own !== null && !tag.weak && !own.weak && tag.opaque === own.opaque;
  }
  const date = parseHttpDate(value);
  return date !== null && date === seconds(v.lastModified);
}

/** Formats a Date as an IMF-fixdate (`Last-Modified`). */
export function httpDate(d: Date): string {
  return d.toUTCString();
}

/** Orders two non-negative decimal digit strings by numeric value. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, "");
  const y = b.replace(/^0+(?=\d)/, "");
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
