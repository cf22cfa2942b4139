// @ts-check
/** The API as the console uses it: the token of this tab, JSON in and out, problems as errors. */

export const API = "/auvious.video/composition/api";
const TOKEN_KEY = "composition-console-token";

/**
 * @typedef {{ id: string, conversationId: string, name: string, type: string, format: string, state: string,
 *   progress: number, eta: string | null, error: string | null, created: string, completed: string | null,
 *   duration: string | null, userId: string, warnings: string[] }} Composition
 * @typedef {{ sub: string, org: string, roles: string[], exp: number | null }} Claims
 */

export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const storedToken = () => sessionStorage.getItem(TOKEN_KEY);
/** @param {string} token */
export const storeToken = (token) => sessionStorage.setItem(TOKEN_KEY, token.trim().replace(/^Bearer\s+/i, ""));
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

/** `…/console#token=<JWT>`: the fragment never reaches the server; it is moved to this tab's storage at once. */
export function takeTokenFromFragment() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!token) return;
  storeToken(token);
  history.replaceState(null, "", location.pathname + location.search);
}

/**
 * What the token says about its holder, read without verifying it: it only decides what the page
 * shows. The server checks every call.
 * @param {string} token @returns {Claims | null}
 */
export function readClaims(token) {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(
      part
        .replace(/-/g, "+")
        .replace(/_/g, "/")
        .padEnd(Math.ceil(part.length / 4) * 4, "="),
    );
    const p = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (ch) => ch.charCodeAt(0))));
    /** @type {unknown[]} */
    const roles = Array.isArray(p.roles) ? p.roles : Array.isArray(p.realm_access?.roles) ? p.realm_access.roles : [];
    return {
      sub: String(p.sub ?? ""),
      org: String(p.org ?? p.organization ?? p.tenant ?? ""),
      roles: roles.map((r) => String(r).toUpperCase()),
      exp: typeof p.exp === "number" ? p.exp : null,
    };
  } catch {
    return null;
  }
}

/** @param {unknown} json @param {Response} res */
function problemText(json, res) {
  const p = /** @type {{ detail?: string, title?: string, errors?: { field: string, message: string }[] } | null} */ (json);
  const fields = p?.errors?.map((e) => `${e.field} ${e.message}`).join("; ");
  return [p?.detail ?? p?.title ?? `${res.status} ${res.statusText}`, fields].filter(Boolean).join(" — ");
}

/**
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${storedToken() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!res.ok) throw new ApiError(res.status, problemText(json, res));
  return json;
}

const seg = encodeURIComponent;

/**
 * A signed link to a composition (or one of its review assets). The browser sends the page as the
 * Referer, as the endpoint requires.
 * @param {Pick<Composition, "conversationId" | "id">} c
 * @param {{ disposition?: "inline" | "attachment", ttl?: number, asset?: string }} [opts]
 * @returns {Promise<{ url: string, validUntil: string }>}
 */
export function signedLink(c, opts = {}) {
  const q = new URLSearchParams({ conversationId: c.conversationId, id: c.id });
  if (opts.ttl) q.set("ttl", String(opts.ttl));
  if (opts.asset) q.set("asset", opts.asset);
  return api("GET", `/player/${seg(c.conversationId)}/${seg(c.id)}/url/${opts.disposition ?? "inline"}?${q}`);
}

/** @param {Pick<Composition, "conversationId" | "id">} c @param {string} command */
export const commandPath = (c, command) => `/${seg(c.conversationId)}/${seg(c.id)}/${command}`;
