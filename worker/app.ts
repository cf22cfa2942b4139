import { Scalar } from "@scalar/hono-api-reference";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { AppEnv } from "./env";
import { Problem, problem, problemResponse } from "./http/problem";
import { createRouter } from "./http/router";
import { API_BASE } from "./jobs/settings";
import { commands } from "./routes/commands";
import { internal } from "./routes/internal";
import { player } from "./routes/player";
import { queries } from "./routes/queries";
import { recordingsRouter } from "./routes/recordings";

export function createApp() {
  const api = createRouter();
  api.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "apiKey",
    name: "Authorization",
    in: "header",
    description: "`Bearer <JWT>` (a bare token is accepted too)",
  });
  api
    .route("/", commands)
    .route("/", queries)
    .route("/", player)
    .route("/", recordingsRouter)
    .route("/", internal)
    .get("/health", (c) => c.json({ status: "UP" }));
  api.doc31("/openapi.json", (c) => ({
      openapi: "3.1.0",
      info: {
        title: "Auvious Composition API",
        version: "1.0",
        description: "Compositions of recorded calls: MP3 audio mixes and GRID MP4 videos, with signed, range-capable playback links.",
      },
      servers: [{ url: new URL(c.req.url).origin }],
    }));
  api.get("/docs", Scalar({ url: `${API_BASE}/openapi.json`, pageTitle: "Auvious Composition API" }));

  const app = createRouter();
  app.use("*", requestId());
  app.route(API_BASE, api);
  app.notFound((c) => problemResponse(c, problem.notFound(`No route for ${c.req.method} ${new URL(c.req.url).pathname}.`)));
  app.onError((err, c) => {
    if (err instanceof Problem) return problemResponse(c, err);
    if (err instanceof HTTPException) {
      // Hono's own refusals (malformed JSON, wrong content type) become the same problem shape.
      const status = err.status >= 400 && err.status < 500 ? err.status : 500;
      const detail = err.message || "The request could not be processed.";
      return problemResponse(c, problem.status(status as 400, status === 400 ? `${detail} (body)` : detail));
    }
    console.error(JSON.stringify({ msg: "unhandled error", requestId: c.get("requestId"), error: String(err), stack: (err as Error).stack }));
    return problemResponse(c, problem.status(500, "An unexpected error occurred; it has been logged."));
  });
  return app;
}
