import { Hono, type Context } from "hono";
import type { AppEnv } from "../env";
import { problem } from "../http/problem";

// Beyond the seed: the supervisor console, a static page (console/) over this API. Not in the
// OpenAPI document: it is a page, not an operation.

/** Where signed links point when PUBLIC_BASE_URL names another origin than the page's. */
function linkOrigin(env: AppEnv["Bindings"]): string {
  try {
    return env.PUBLIC_BASE_URL ? new URL(env.PUBLIC_BASE_URL).origin : "";
  } catch {
    return "";
  }
}

/**
 * Scripts, styles and fetches only from this Worker (no CDN, nothing inline); media, thumbnails
 * and fetched assets also from the signed links' origin. The token lives in the tab, so nothing
 * may frame the page.
 */
function contentSecurityPolicy(env: AppEnv["Bindings"]): string {
  const self = ["'self'", linkOrigin(env)].filter(Boolean).join(" ");
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${self}`,
    `media-src ${self}`,
    `connect-src ${self}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

async function serveAsset(c: Context<AppEnv>, file: string): Promise<Response> {
  const upstream = await c.env.ASSETS.fetch(new Request(new URL(`/${file}`, c.req.url), { method: c.req.method, headers: c.req.raw.headers }));
  if (upstream.status === 404) throw problem.notFound(`No console file "${file}".`);
  const res = new Response(upstream.body, upstream);
  // Small files, same names across deploys: revalidate (ETag) on every load instead of going stale.
  res.headers.set("Cache-Control", "no-cache");
  res.headers.set("X-Content-Type-Options", "nosniff");
  // The url/inline and url/attachment calls need a Referer; same-origin requests carry the page's.
  res.headers.set("Referrer-Policy", "same-origin");
  if (file === "index.html") {
    res.headers.set("Content-Security-Policy", contentSecurityPolicy(c.env));
    res.headers.set("X-Frame-Options", "DENY");
  }
  return res;
}

export const consolePage = new Hono<AppEnv>()
  .get("/console", (c) => serveAsset(c, "index.html"))
  .get("/console/:file{[A-Za-z0-9_-]+\\.(?:js|css|svg)}", (c) => serveAsset(c, c.req.param("file")));
