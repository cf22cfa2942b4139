import { API_BASE_PATH } from "../../contract/paths";

/**
 * Signed, shareable media links. The link itself is the credential (no Authorization header), so
 * everything an attacker can change in it is covered by an HMAC, and every way a link can be wrong
 * ends in the same `{ ok: false }`: the route answers one identical 403 and leaks no oracle about
 * which part was wrong.
 */

export interface SigningKey {
  kid: string;
  secret: string;
}

export interface SignedLinkParams {
  Date: string;
  Expires: string;
  Signature: string;
  validUntil: Date;
}

export type VerifyResult = { ok: true; validUntil: Date } | { ok: false };

/** A link's lifetime when the caller names none (player's `ttl`), and the longest any link may have. */
export const DEFAULT_EXPIRES_SECONDS = 3600;
export const MAX_EXPIRES_SECONDS = 604_800;
/** Clocks of the signer (another Worker instance) and the verifier may disagree a little. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const PLAYER_PATH_PREFIX = `${API_BASE_PATH}/player`;

/** Short secrets make HMAC brute-forceable offline from any leaked link. */
const MIN_SECRET_LENGTH = 16;
/** `.` separates kid from MAC in `Signature`, so a kid may not contain it. */
const KID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const ISO_BASIC_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** No leading zeros or signs: exactly one spelling per value, so the MAC covers the value. */
const EXPIRES_RE = /^[1-9]\d{0,6}$/;
/** HMAC-SHA256 is 32 bytes = 43 base64url characters without padding. */
const SIGNATURE_RE = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$/;

/** Parses `"kid2:secret2,kid1:secret1"`; the first key signs, all keys verify. */
export function parseSigningKeys(config: string | undefined): SigningKey[] {
  const entries = (config ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) {
    throw new Error('MEDIA_SIGNING_KEYS is empty: expected "kid:secret[,kid:secret…]" (the first key signs).');
  }
  const keys: SigningKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(":");
    const kid = colon < 0 ? "" : entry.slice(0, colon).trim();
    const secret = colon < 0 ? "" : entry.slice(colon + 1).trim();
    if (!KID_RE.test(kid)) {
      throw new Error(`MEDIA_SIGNING_KEYS entry ${i + 1}: expected "kid:secret" with a kid of 1-64 characters [A-Za-z0-9_-].`);
    }
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new Error(`MEDIA_SIGNING_KEYS key "${kid}": the secret must be at least ${MIN_SECRET_LENGTH} characters.`);
    }
    if (keys.some((k) => k.kid === kid)) throw new Error(`MEDIA_SIGNING_KEYS: key id "${kid}" appears twice.`);
    keys.push({ kid, secret });
  }
  return keys;
}

/** `20210114T184345Z` (UTC, whole seconds). */
export function formatIsoBasic(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
}

/** Strict inverse of {@link formatIsoBasic}; rejects impossible dates such as month 13 or Feb 30. */
export function parseIsoBasic(s: string): Date | null {
  const m = ISO_BASIC_RE.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  // Date.UTC silently rolls over (Feb 30 → Mar 2); the round trip catches that.
  return formatIsoBasic(date) === s ? date : null;
}

/** The path the link will carry, e.g. `/auvious.video/composition/api/player/inline/c1/id/Call%201.mp4`. */
export function mediaLinkPath(
  disposition: "inline" | "attachment",
  conversationId: string,
  compositionId: string,
  fileName: string,
): string {
  const seg = encodeURIComponent;
  return `${PLAYER_PATH_PREFIX}/${disposition}/${seg(conversationId)}/${seg(compositionId)}/${seg(fileName)}`;
}

/** Absolute URL from an origin (`https://host`), a path and the signed parameters. */
export function signedMediaUrl(origin: string, path: string, p: Pick<SignedLinkParams, "Date" | "Expires" | "Signature">): string {
  const q = new URLSearchParams({ Date: p.Date, Expires: p.Expires, Signature: p.Signature });
  return `${origin.replace(/\/+$/, "")}${path}?${q.toString()}`;
}

/**
 * Reads the three parameters from a request URL. A parameter given twice yields undefined (and so a
 * refusal): a proxy and this Worker could otherwise disagree about which copy counts.
 */
export function mediaLinkQuery(url: URL): { Date?: string; Expires?: string; Signature?: string } {
  const one = (name: string): string | undefined => {
    const all = url.searchParams.getAll(name);
    return all.length === 1 ? all[0] : undefined;
  };
  return { Date: one("Date"), Expires: one("Expires"), Signature: one("Signature") };
}

export async function signMediaLink(
  keys: readonly SigningKey[],
  path: string,
  now: Date,
  expiresSeconds: number = DEFAULT_EXPIRES_SECONDS,
): Promise<SignedLinkParams> {
  const key = keys[0];
  if (!key) throw new Error("signMediaLink: no signing key configured.");
  if (!Number.isInteger(expiresSeconds) || expiresSeconds < 1 || expiresSeconds > MAX_EXPIRES_SECONDS) {
    throw new RangeError(`Expires must be an integer from 1 to ${MAX_EXPIRES_SECONDS} seconds.`);
  }
  const canonical = canonicalPath(path);
  if (canonical === null) throw new Error(`signMediaLink: not an absolute URL path: ${JSON.stringify(path)}`);
  const date = formatIsoBasic(now);
  const expires = String(expiresSeconds);
  const mac = await crypto.subtle.sign("HMAC", await importKey(key.secret), stringToSign(canonical, date, expires));
  return {
    Date: date,
    Expires: expires,
    Signature: `${key.kid}.${base64UrlEncode(new Uint8Array(mac))}`,
    validUntil: new Date(Math.floor(now.getTime() / 1000) * 1000 + expiresSeconds * 1000),
  };
}

/**
 * Verifies a link. `path` is the request's URL path as it appears in the URL (percent-encoded,
 * i.e. `new URL(request.url).pathname`); a HEAD request is verified exactly like a GET.
 */
export async function verifyMediaLink(
  keys: readonly SigningKey[],
  path: string,
  query: { Date?: string; Expires?: string; Signature?: string },
  now: Date,
): Promise<VerifyResult> {
  const fail = { ok: false } as const;
  const fallbackKey = keys[0];
  if (!fallbackKey) return fail;
  const { Date: date, Expires: expires, Signature: signature } = query;
  const canonical = canonicalPath(path);
  const signedAt = date === undefined ? null : parseIsoBasic(date);
  const sig = signature === undefined ? null : SIGNATURE_RE.exec(signature);
  const mac = sig ? base64UrlDecode(sig[2]!) : null;
  const seconds = expires !== undefined && EXPIRES_RE.test(expires) ? Number(expires) : NaN;
  if (canonical === null || signedAt === null || mac === null || !(seconds <= MAX_EXPIRES_SECONDS)) return fail;

  // An unknown kid still costs one HMAC verification, so response timing says nothing about kids.
  const key = keys.find((k) => k.kid === sig![1]);
  const valid = await crypto.subtle.verify(
    "HMAC",
    await importKey((key ?? fallbackKey).secret),
    mac,
    stringToSign(canonical, date!, expires!),
  );
  if (!valid || !key) return fail;

  const validUntil = new Date(signedAt.getTime() + seconds * 1000);
  if (signedAt.getTime() - now.getTime() > MAX_CLOCK_SKEW_MS) return fail;
  if (now.getTime() >= validUntil.getTime()) return fail;
  return { ok: true, validUntil };
}

/** Seconds a response may be cached without outliving its link (never negative). */
export function secondsRemaining(validUntil: Date, now: Date): number {
  return Math.max(0, Math.floor((validUntil.getTime() - now.getTime()) / 1000));
}

// Versioned prefix: a MAC made for this purpose can never be replayed as another HMAC use of the key.
function stringToSign(path: string, date: string, expires: string): Uint8Array {
  return new TextEncoder().encode(["AUVIOUS-MEDIA-LINK-V1", "GET", path, date, expires].join("\n"));
}

/**
 * The URL parser percent-encodes some characters (spaces, quotes, non-ASCII) when it builds
 * `request.url`; running the signer's path through the same parser makes both sides MAC the same
 * bytes. The origin is prefixed (not used as a base) so `//host/x` stays a path, not a host.
 */
function canonicalPath(path: string): string | null {
  if (!path.startsWith("/") || path.includes("?") || path.includes("#")) return null;
  try {
    return new URL(`https://media.invalid${path}`).pathname;
  } catch {
    return null;
  }
}

const keyCache = new Map<string, Promise<CryptoKey>>();

function importKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    // A failed import must not poison the cache for the isolate's lifetime.
    key.catch(() => keyCache.delete(secret));
    keyCache.set(secret, key);
  }
  return key;
}

function base64UrlEncode(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Only the canonical spelling decodes: the last of 43 characters carries 2 unused bits, and
 * accepting any value there would let 4 different Signature strings pass for one MAC.
 */
function base64UrlDecode(s: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return base64UrlEncode(bytes) === s ? bytes : null;
  } catch {
    return null;
  }
}
