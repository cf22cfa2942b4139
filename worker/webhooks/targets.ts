import { workerConfig } from "../config";
import type { Env } from "../env";
import { problem } from "../http/problem";

// Where status callbacks may go. Checked when a URL is given and again before every POST, because
// configuration (ALLOW_LOOPBACK_CALLBACKS) may have changed since.

export const MAX_URL_LENGTH = 2048;

export function loopbackAllowed(env: Env): boolean {
  return workerConfig(env).allowLoopbackCallbacks;
}

function ipv4(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m ? m.slice(1).map(Number) : null;
}

function isLoopback(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost") || host === "[::1]") return true;
  return ipv4(host)?.[0] === 127;
}

/** Addresses inside someone's network: never a receiver we should reach from a shared service. */
function isPrivate(host: string): boolean {
  const v4 = ipv4(host);
  if (v4) {
    const [a, b] = v4 as [number, number];
    return (
      a === 0 ||
      a === 10 ||
      (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  // IPv6 literals: only global unicast (2000::/3) is a public address.
  if (host.startsWith("[")) return !/^\[[23][0-9a-f]{0,3}:/i.test(host);
  return host.endsWith(".internal") || host.endsWith(".local") || !host.includes(".");
}

/** Why a URL may not receive callbacks, or null when it may. */
export function targetRefusal(raw: string, allowLoopback: boolean): string | null {
  if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  // Credentials in the URL would be stored and shown in delivery logs; receivers verify signatures instead.
  if (url.username || url.password) return "must not contain credentials";
  const host = url.hostname.toLowerCase();
  if (isLoopback(host)) {
    if (!allowLoopback) return "must not point to a loopback address";
    return url.protocol === "https:" || url.protocol === "http:" ? null : "must use https (or http to loopback in local development)";
  }
  if (url.protocol !== "https:") {
    return allowLoopback ? "must use https (http is allowed only to loopback addresses)" : "must use https";
  }
  if (isPrivate(host)) return "must not point to a private, link-local or internal address";
  return null;
}

/** Validates a URL given in a request body; the problem names the field, like every other 400. */
export function assertTarget(env: Env, raw: string | undefined | null, field: string): void {
  if (raw === undefined || raw === null) return;
  const why = targetRefusal(raw, loopbackAllowed(env));
  if (why) throw problem.badRequest(`Invalid ${field}: ${why}.`, [{ field, message: why }]);
}

/** What logs and API answers show of a target: no query string, which may carry a receiver's token. */
export function displayTarget(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.origin}${url.pathname}${url.search ? "?…" : ""}`;
  } catch {
    return "(invalid URL)";
  }
}
