// Both URL schemes of the renderer seam, written once: the renderer's own HTTP surface, and the
// Worker's internal routes the renderer calls (the Worker registers them from INTERNAL_ROUTES, the
// dispatcher builds a job's URLs with internalJobUrls, the renderer derives its multipart URLs with
// multipartUploadUrls).

/**
 * Where the Worker mounts its API: the Auvious Composition API's base path, under which the seed's
 * routes and the internal routes below live (scripts, tests and benchmarks build URLs from it too).
 */
export const API_BASE_PATH = "/auvious.video/composition/api";

/** The renderer's HTTP surface (paths relative to its base URL). */
export const RENDERER_PATHS = {
  /** POST a RenderJob → StartJobResponse. */
  jobs: "/jobs",
  /** DELETE cancels the job. */
  job: (jobId: string) => `/jobs/${encodeURIComponent(jobId)}`,
  /** GET → RendererHealth. */
  health: "/health",
} as const;

// The renderer only knows the multipart URL a job carries; these extend it.
const PART = "/:uploadId/:part";
const COMPLETE = "/:uploadId/complete";

/** One family of internal routes under `job` (a composition's, or a source redaction's). */
function jobRoutes<J extends string>(job: J) {
  const multipart = `${job}/output/multipart` as const;
  return {
    /** A track's media, Range-capable. */
    track: { method: "GET", path: `${job}/tracks/:trackId` },
    /** The whole output in one body (Content-Length required). */
    output: { method: "PUT", path: `${job}/output` },
    /** One review asset of the run (waveform.json, thumbnails.jpg, thumbnails.vtt), Content-Length required. */
    asset: { method: "PUT", path: `${job}/output/assets/:name` },
    /** Starts a multipart output → MultipartCreated. */
    multipartCreate: { method: "POST", path: multipart },
    /** One part, 1..10000 (Content-Length required) → MultipartPart. */
    multipartPart: { method: "PUT", path: `${multipart}${PART}` },
    /** Body MultipartComplete: assembles the parts into the output. */
    multipartComplete: { method: "POST", path: `${multipart}${COMPLETE}` },
    /** Body RenderReport. */
    report: { method: "POST", path: `${job}/report` },
  } as const;
}

/**
 * The Worker's internal routes (Hono patterns, relative to API_BASE_PATH),
 * authorized by the job's lease token alone.
 */
export const INTERNAL_ROUTES = jobRoutes("/internal/jobs/:id");
/** The same, for the TRACK jobs of a source redaction (its lease token authorizes them). */
export const REDACTION_ROUTES = jobRoutes("/internal/redactions/:id");

/**
 * The same, for one unit of a composition split over several renderers (fan-out; its own lease
 * token authorizes them), and the JOIN unit's read of the parts it joins.
 */
export const UNIT_ROUTES = jobRoutes("/internal/units/:id");
export const UNIT_PART_ROUTE = { method: "GET", path: "/internal/units/:id/parts/:partId" } as const;

/** The URL a JOIN unit reads one of its parts from. */
export function unitPartUrl(apiBase: string, joinUnitId: string, partUnitId: string): string {
  return apiBase + fill(UNIT_PART_ROUTE.path, { id: joinUnitId, partId: partUnitId });
}

export type InternalRoute = keyof typeof INTERNAL_ROUTES;

/** Fills a route pattern's `:name` segments, each URL-encoded. */
function fill(pattern: string, params: Record<string, string | number>): string {
  return pattern.replace(/:(\w+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for :${name} in ${pattern}`);
    return encodeURIComponent(value);
  });
}

/**
 * The absolute URLs of one job's internal routes. `apiBase` is where the Worker mounts its API:
 * its origin plus the API base path, without a trailing slash.
 */
export function internalJobUrls(
  apiBase: string,
  jobId: string,
  routes: typeof INTERNAL_ROUTES | typeof REDACTION_ROUTES | typeof UNIT_ROUTES = INTERNAL_ROUTES,
) {
  const url = (route: InternalRoute, params: Record<string, string> = {}) => apiBase + fill(routes[route].path, { id: jobId, ...params });
  return {
    track: (trackId: string) => url("track", { trackId }),
    output: url("output"),
    multipart: url("multipartCreate"),
    report: url("report"),
  };
}

/** A review asset's URL, next to the job's `output.url` (the renderer knows only the job's URLs). */
export function outputAssetUrl(outputUrl: string, name: string): string {
  return `${outputUrl.replace(/\/$/, "")}/assets/${encodeURIComponent(name)}`;
}

/** The multipart upload's URLs, derived from the job's `output.multipartUrl`. */
export function multipartUploadUrls(multipartUrl: string) {
  const base = multipartUrl.replace(/\/$/, "");
  return {
    create: base,
    part: (uploadId: string, partNumber: number) => base + fill(PART, { uploadId, part: partNumber }),
    complete: (uploadId: string) => base + fill(COMPLETE, { uploadId }),
  };
}
