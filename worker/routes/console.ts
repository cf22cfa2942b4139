import { Hono, type Context } from "hono";
import type { AppEnv } from "../env";
import { CONSOLE_FILES } from "../console/files.generated";
import { workerConfig } from "../config";
import { problem } from "../http/problem";

// Beyond the seed: the supervisor console, a static page (console/, embedded by `npm run
// build:console`) over this API. Not in the OpenAPI document: it is a page, not an operation.

/** Where signed links point when PUBLIC_BASE_URL names another origin than the page's. */
function linkOrigin(env: AppEnv["Bindings"]): string {
  const base = workerConfig(env).publicBaseUrl;
  return base ? new URL(base).origin : "";
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

/** One of the console's files, embedded in the Worker (worker/console/files.generated.ts). */
function serveFile(c: Context<AppEnv>, name: string): Response {
  const file = CONSOLE_FILES[name];
  if (!file) throw problem.notFound(`No console file "${name}".`);
  const headers = new Headers({
    "Content-Type": file.type,
    ETag: file.etag,
    // Small files, same names across deploys: revalidate (ETag) on every load instead of going stale.
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    // The url/inline and url/attachment calls need a Referer; same-origin requests carry the page's.
    "Referrer-Policy": "same-origin",
  });
  if (name === "index.html") {
    headers.set("Content-Security-Policy", contentSecurityPolicy(c.env));
    headers.set("X-Frame-Options", "DENY");
  }
  const tags = c.req
    .header("If-None-Match")
    ?.split(",")
    .map((t) => t.trim().replace(/^W\//, ""));
  if (tags?.includes(file.etag)) return new Response(null, { status: 304, headers });
  return new Response(c.req.method === "HEAD" ? null : file.body, { status: 200, headers });
}

export const consolePage = new Hono<AppEnv>()
  .get("/console", (c) => serveFile(c, "index.html"))
  .get("/console/:file{[A-Za-z0-9_-]+\\.(?:js|css|svg)}", (c) => serveFile(c, c.req.param("file")));
