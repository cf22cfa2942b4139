// The renderer contract on its own: what a job and a report may be, and that the URLs the
// dispatcher builds are exactly the ones the Worker's internal router serves (matched by Hono, the
// Worker's router, registered from the same route table the Worker registers from).
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import {
  API_BASE_PATH,
  INTERNAL_ROUTES,
  internalJobUrls,
  multipartUploadUrls,
  parseRenderJob,
  RenderReportSchema,
  type InternalRoute,
  type RenderJob,
} from "../../contract/renderer.ts";

function validJob(): RenderJob {
  return {
    jobId: "job-1",
    attempt: 1,
    type: "VIDEO",
    format: "MP4",
    width: 640,
    height: 360,
    durationMs: 20_000,
    tracks: [
      { id: "a", participantId: "agent", url: "https://w.test/a", offsetMs: 0, durationMs: 20_000, audio: true, video: true, size: 10 },
      { id: "b", participantId: "customer", url: "https://w.test/b", offsetMs: 5000, audio: true, video: false, size: 10 },
    ],
    keep: [
      { startMs: 0, endMs: 4000 },
      { startMs: 8000, endMs: 12_000 },
    ],
    output: { url: "https://w.test/o", contentType: "video/mp4", multipartUrl: "https://w.test/m" },
    callback: { url: "https://w.test/r", token: "secret" },
  };
}

/** The field paths of a refused job's errors ("keep.1.startMs: …" → "keep.1.startMs"). */
function refusedPaths(body: unknown): string[] {
  const r = parseRenderJob(body);
  if (r.ok) throw new Error("the job was accepted");
  return r.errors.map((e) => e.slice(0, e.indexOf(":")));
}

describe("RenderJob", () => {
  it("accepts a valid job unchanged", () => {
    expect(parseRenderJob(validJob())).toEqual({ ok: true, job: validJob() });
  });

  it.each<[string, (j: RenderJob) => unknown, string]>([
    ["AUDIO rendered as MP4", (j) => ({ ...j, type: "AUDIO" }), "format"],
    ["an odd VIDEO width", (j) => ({ ...j, width: 641 }), "width"],
    ["a VIDEO height under 16", (j) => ({ ...j, height: 8 }), "height"],
    [
      "overlapping keep spans",
      (j) => ({
        ...j,
        keep: [
          { startMs: 0, endMs: 5000 },
          { startMs: 4000, endMs: 6000 },
        ],
      }),
      "keep.1.startMs",
    ],
    ["a duplicate track id", (j) => ({ ...j, tracks: [j.tracks[0], { ...j.tracks[1], id: "a" }] }), "tracks.1.id"],
    ["a track URL that is not http(s)", (j) => ({ ...j, tracks: [{ ...j.tracks[0], url: "file:///etc/passwd" }] }), "tracks.0.url"],
  ])("refuses %s, naming the field", (_, change, path) => {
    expect(refusedPaths(change(validJob()))).toEqual([path]);
  });

  it("refuses a body that is not a job at all", () => {
    expect(refusedPaths(undefined)).toEqual(["(body)"]);
  });
});

describe("RenderReport", () => {
  const progress = (progress: number) => ({ event: "progress", attempt: 1, progress });

  it("accepts progress from 0 to 100 and refuses it outside", () => {
    expect(RenderReportSchema.safeParse(progress(0)).success).toBe(true);
    expect(RenderReportSchema.safeParse(progress(100)).success).toBe(true);
    for (const out of [-1, 100.5]) {
      const r = RenderReportSchema.safeParse(progress(out));
      expect(r.success).toBe(false);
      expect(r.error?.issues.map((i) => i.path.join("."))).toEqual(["progress"]);
    }
  });

  it("refuses an event outside the union and a completion without its engine", () => {
    expect(RenderReportSchema.safeParse({ event: "paused", attempt: 1 }).success).toBe(false);
    expect(RenderReportSchema.safeParse({ event: "completed", attempt: 1, durationMs: 1, size: 1 }).success).toBe(false);
  });
});

describe("internal URLs", () => {
  const API = `https://api.example${API_BASE_PATH}`;

  /** The internal routes as the Worker mounts them, each answering its name and decoded params. */
  function router() {
    const internal = new Hono();
    for (const route of Object.keys(INTERNAL_ROUTES) as InternalRoute[]) {
      const { method, path } = INTERNAL_ROUTES[route];
      internal.on(method, path, (c) => c.json({ route, params: c.req.param() }));
    }
    return new Hono().route(new URL(API).pathname, internal);
  }

  async function hit(method: string, url: string) {
    const res = await router().request(url, { method });
    return { status: res.status, body: res.status === 200 ? await res.json() : undefined };
  }

  // Ids are opaque to the contract: spaces, slashes and non-ASCII must survive the round trip.
  const jobId = "job 1/ä";
  const urls = internalJobUrls(API, jobId);

  it.each<[string, string, () => string, InternalRoute, Record<string, string>]>([
    ["a track", "GET", () => urls.track("t/1 ö"), "track", { trackId: "t/1 ö" }],
    ["the output", "PUT", () => urls.output, "output", {}],
    ["a multipart start", "POST", () => multipartUploadUrls(urls.multipart).create, "multipartCreate", {}],
    ["a part", "PUT", () => multipartUploadUrls(urls.multipart).part("up 1", 7), "multipartPart", { uploadId: "up 1", part: "7" }],
    ["a completion", "POST", () => multipartUploadUrls(urls.multipart).complete("up 1"), "multipartComplete", { uploadId: "up 1" }],
    ["a report", "POST", () => urls.report, "report", {}],
  ])("%s URL is served by its internal route", async (_, method, url, route, params) => {
    expect(url().startsWith(`${API}/internal/jobs/`)).toBe(true);
    expect(await hit(method, url())).toEqual({ status: 200, body: { route, params: { id: jobId, ...params } } });
  });

  it("no route answers a URL outside the scheme", async () => {
    expect((await hit("GET", `${API}/internal/jobs/x/tracks`)).status).toBe(404);
    expect((await hit("POST", urls.output)).status).toBe(404);
  });
});
