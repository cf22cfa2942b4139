// Standard Webhooks (https://www.standardwebhooks.com): `whsec_<base64 key>` secrets and
// `v1,<base64 HMAC-SHA256(key, "${id}.${timestamp}.${body}")>` signatures, timestamps in unix seconds.

const PREFIX = "whsec_";
const encoder = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
}

async function hmac(key: Uint8Array, message: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, encoder.encode(message)));
}

/** A fresh endpoint secret: 32 random bytes, as receivers' Standard Webhooks libraries expect. */
export function generateSecret(): string {
  return PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

export function secretKey(secret: string): Uint8Array {
  return fromBase64(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret);
}

/**
 * The secret for deliveries to a request's own callbackUrl (which has no endpoint row): derived from
 * the service secret per organization, so it needs no storage and one org cannot verify another's.
 */
export async function callbackSecret(serviceSecret: string | undefined, organizationId: string): Promise<string> {
  if (!serviceSecret) throw new Error("WEBHOOK_SIGNING_SECRET is not configured");
  return PREFIX + toBase64(await hmac(encoder.encode(serviceSecret), organizationId));
}

export async function signPayload(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  return `v1,${toBase64(await hmac(secretKey(secret), `${id}.${timestamp}.${body}`))}`;
}

/**
 * The three headers of one attempt; the timestamp is the attempt's, the id the event's. Several
 * secrets (during a rotation) give space-separated signatures, as Standard Webhooks specifies.
 */
export async function signatureHeaders(
  secret: string | readonly string[],
  id: string,
  body: string,
  nowMs = Date.now(),
): Promise<Record<string, string>> {
  const timestamp = Math.floor(nowMs / 1000);
  const secrets = typeof secret === "string" ? [secret] : secret;
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": (await Promise.all(secrets.map((s) => signPayload(s, id, timestamp, body)))).join(" "),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * What a receiver does: the timestamp must be within `toleranceSeconds` (replays), and one of the
 * space-separated `v1,` signatures must match (several appear while a secret is being rotated).
 */
export async function verifySignature(
  secret: string,
  headers: { id: string | null; timestamp: string | null; signature: string | null },
  body: string,
  nowMs = Date.now(),
  toleranceSeconds = 300,
): Promise<boolean> {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = await hmac(secretKey(secret), `${id}.${timestamp}.${body}`);
  for (const part of signature.split(" ")) {
    const [version, value] = part.split(",", 2);
    if (version !== "v1" || !value) continue;
    let given: Uint8Array;
    try {
      given = fromBase64(value);
    } catch {
      continue;
    }
    if (sameBytes(given, expected)) return true;
  }
  return false;
}
