import { Scalar } from "@scalar/hono-api-reference";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { API_BASE_PATH } from "../contract/paths";
import { ConfigError, workerConfig } from "./config";
import type { AppEnv } from "./env";
import { Problem, problem, problemResponse } from "./http/problem";
import { createRouter } from "./http/router";
import { rendererOutsideCloudflare } from "./jobs/settings";
import { audit } from "./routes/audit";
import { commands } from "./routes/commands";
import { compliance } from "./routes/compliance";
import { consolePage } from "./routes/console";
import { hooks } from "./routes/hooks";
import { internal } from "./routes/internal";
import { internalRedactions } from "./routes/internal-redactions";
import { internalUnits } from "./routes/internal-units";
import { redactions } from "./routes/redactions";
import { links } from "./routes/links";
import { player } from "./routes/player";
import { queries } from "./routes/queries";
import { recordingsRouter } from "./routes/recordings";
import { uploads } from "./routes/uploads";
import { webhooks } from "./routes/webhooks";

const noRoute = (c: Context) => problemResponse(c, problem.notFound(`No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));

export function createApp() {
  const api = createRouter();
  api.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "apiKey",
    name: "Authorization",
    in: "header",
    description: "`Bearer <JWT>` (a bare token is accepted too)",
  });
  api.openAPIRegistry.registerComponent("securitySchemes", "signature", {
    type: "apiKey",
    name: "Signature",
    in: "query",
    description:
      "Signed links (player inline/attachment): `Signature=<kid>.<HMAC-SHA256>` over the method, path, `Date` and `Expires`, " +
      "which travel in the same query. Given by the url/inline and url/attachment operations; no Authorization header.",
  });
  api
    .route("/", commands)
    .route("/", queries)
    .route("/", player)
    .route("/", links)
    .route("/", recordingsRouter)
    .route("/", uploads)
    // The renderer's side door is public only for a renderer outside Cloudflare (RENDERER_URL). A
    // Container reaches it through its outbound handler instead (createRendererApp), so from the
    // internet it does not exist, whoever holds a lease token.
    .use("/internal/*", async (c, next) => (rendererOutsideCloudflare(c.env) ? next() : noRoute(c)))
    .route("/", internal)
    .route("/", internalRedactions)
    .route("/", internalUnits)
    // After the seed's routes: GET /{conversationId}/{compositionId}/deliveries must not shadow them.
    .route("/", webhooks)
    .route("/", hooks)
    .route("/", audit)
    .route("/", compliance)
    .route("/", redactions)
    .route("/", consolePage)
    .get("/health", (c) => c.json({ status: "UP" }));
  api.get("/docs", Scalar({ url: `${API_BASE_PATH}/openapi.json`, pageTitle: "Auvious Composition API" }));

  const app = createRouter();
  app.use("*", requestId(), configured);
  app.route(API_BASE_PATH, api);
  // Documented on the top-level app, whose registry holds the routes under their full seed paths
  // (`/auvious.video/composition/api/request`), so paths + the origin server resolve to real URLs.
  app.doc31(`${API_BASE_PATH}/openapi.json`, (c) => ({
    openapi: "3.1.0",
    info: {
      title: "Auvious Composition API",
      version: "1.0",
      description: "Compositions of recorded calls: MP3 audio mixes and GRID MP4 videos, with signed, range-capable playback links.",
    },
    servers: [{ url: new URL(c.req.url).origin }],
  }));
  answerWithProblems(app);
  return app;
}

/**
 * What the renderer Container's outbound handler serves inside the Worker: the internal routes alone,
 * at the same paths, answering errors the same way.
 */
export function createRendererApp() {
  const app = createRouter();
  app.use("*", requestId(), configured);
  app.route(API_BASE_PATH, internal);
  app.route(API_BASE_PATH, internalRedactions);
  app.route(API_BASE_PATH, internalUnits);
  answerWithProblems(app);
  return app;
}

/** A bad configuration answers every request (a 500 naming the variable), not only those that read it. */
const configured: MiddlewareHandler<AppEnv> = async (c, next) => {
  workerConfig(c.env);
  await next();
};

function answerWithProblems(app: Hono<AppEnv>): void {
  app.notFound(noRoute);
  app.onError((err, c) => {
    if (err instanceof Problem) return problemResponse(c, err);
    // Logged once where it was parsed (worker/config.ts); the operator reads the variable's name here too.
    if (err instanceof ConfigError) return problemResponse(c, problem.status(500, err.message));
    if (err instanceof HTTPException) {
      // Hono's own refusals (malformed JSON, wrong content type) become the same problem shape.
      const status = err.status >= 400 && err.status < 500 ? err.status : 500;
      const detail = err.message || "The request could not be processed.";
      // A body Hono could not parse is a body error: name it like every other validation failure.
      if (status === 400) return problemResponse(c, problem.badRequest(`${detail} (body)`, [{ field: "body", message: detail }]));
      if (status === 415) {
        const errors = [{ field: "header.content-type", message: "must be application/json" }];
        return problemResponse(c, new Problem(415, "Unsupported Media Type", "The request body must be application/json.", errors));
      }
      return problemResponse(c, problem.status(status as 400, detail));
    }
    console.error(
      JSON.stringify({ msg: "unhandled error", requestId: c.get("requestId"), error: String(err), stack: (err as Error).stack }),
    );
    return problemResponse(c, problem.status(500, "An unexpected error occurred; it has been logged."));
  });
}
