// The production renderer path: a Container instance reaches the Worker through its outbound handler
// (worker.internal, served inside the Worker with its bindings), never through the public router,
// and dispatch / cancel talk only to the instances they must. The Durable Object namespace is a fake
// behind the real Renderer (rendererFor); everything else is the real Worker over real D1 and R2.
import { createExecutionContext, env } from "cloudflare:test";
import type { OutboundHandler } from "@cloudflare/containers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { API_BASE_PATH, type RenderJob, type RenderReport } from "../../contract/renderer";
import type { Env } from "../../worker/env";
import worker, { RendererContainer } from "../../worker/index";
import { rendererBusy, rendererEnvVars } from "../../worker/container";
import { dispatchOne } from "../../worker/jobs/dispatch";
import { MAX_OFFERS_PER_DISPATCH } from "../../worker/jobs/renderer";
import { internalUrls, RENDERER_OUTBOUND_HOST } from "../../worker/jobs/settings";
import { captureQueue, compositionRow, createComposition, ingest, supervisor, tokenFor, uid } from "./helpers";

interface Seen {
  instance: string;
  method: string;
  path: string;
  job?: RenderJob;
}

/** A RENDERER namespace whose instances answer POST /jobs with `answer(instance)`; records every request. */
function fakeContainers(answer: (instance: string) => { accepted: boolean; reason?: string }) {
  const seen: Seen[] = [];
  const namespace = {
    idFromName: (name: string) => ({ name, toString: () => name }),
    get: (id: { name: string }) => ({
      async fetch(req: Request) {
        const path = new URL(req.url).pathname;
        const job = req.method === "POST" ? ((await req.json()) as RenderJob) : undefined;
        seen.push({ instance: id.name, method: req.method, path, job });
        if (req.method === "DELETE") return new Response(null, { status: 204 });
        const body = answer(id.name);
        return Response.json(body, { status: body.accepted ? 202 : 503 });
      },
    }),
  };
  // Production: no RENDERER_URL, so the Container binding is the renderer.
  const containerEnv: Env = { ...env, RENDERER_URL: "", RENDERER: namespace as unknown as DurableObjectNamespace };
  return { seen, containerEnv };
}

// Exactly what the Container class registered for the host (its ContainerProxy calls it the same way).
const outbound = RendererContainer.outboundByHost![RENDERER_OUTBOUND_HOST]! as OutboundHandler<Env>;
const fromContainer = (e: Env, url: string, init: RequestInit = {}) =>
  outbound(new Request(url, init), e, { containerId: "test", className: "RendererContainer" });
const publicFetch = (e: Env, url: string, init: RequestInit = {}) =>
  worker.fetch(new Request(url, init) as Request<unknown, IncomingRequestCfProperties>, e, createExecutionContext());
const asPublicUrl = (url: string) => url.replace(`http://${RENDERER_OUTBOUND_HOST}`, "https://compositions.example.com");

async function queuedComposition(): Promise<{ conv: string; id: string }> {
  const conv = uid("container");
  await ingest(conv, { agentId: "alice" });
  const res = await createComposition(conv, supervisor(), { type: "AUDIO" });
  expect(res.status, res.text).toBe(200);
  return { conv, id: res.json.id };
}

const report = (r: RenderReport, token: string): RequestInit => ({
  method: "POST",
  headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
  body: JSON.stringify(r),
});

beforeEach(async () => {
  captureQueue();
  // The dispatcher takes the best QUEUED job of the whole table: only this test's may compete.
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
});
afterEach(() => vi.restoreAllMocks());

describe("the renderer Container reaches the Worker through its outbound handler", () => {
  it("job URLs are on worker.internal; the handler serves track, output and reports with the bindings; the public router answers 404", async () => {
    const { seen, containerEnv } = fakeContainers(() => ({ accepted: true }));
    const { conv, id } = await queuedComposition();
    expect(await dispatchOne(containerEnv)).toBe("dispatched");
    const job = seen.find((s) => s.method === "POST")!.job!;
    const base = `http://${RENDERER_OUTBOUND_HOST}${API_BASE_PATH}/internal/jobs/${id}`;
    expect(job.callback.url).toBe(`${base}/report`);
    expect(job.output).toMatchObject({ url: `${base}/output`, multipartUrl: `${base}/output/multipart` });
    expect(job.tracks.map((t) => t.url)).toEqual(job.tracks.map((t) => `${base}/tracks/${t.id}`));
    const auth = { Authorization: `Bearer ${job.callback.token}` };

    // Through the public router (any host, even with a valid lease token): no such route.
    for (const url of [job.tracks[0]!.url, asPublicUrl(job.tracks[0]!.url)]) {
      const res = await publicFetch(containerEnv, url, { headers: auth });
      expect(res.status).toBe(404);
      expect(res.headers.get("Content-Type")).toContain("application/problem+json");
      expect(((await res.json()) as { detail: string }).detail).toMatch(/^No route for GET .*\/internal\/jobs\//);
    }
    const publicReport = await publicFetch(
      containerEnv,
      job.callback.url,
      report({ event: "progress", attempt: 1, progress: 50 }, job.callback.token),
    );
    expect(publicReport.status).toBe(404);

    // Through the outbound handler: the lease token is the credential, D1 and R2 are the Worker's.
    expect((await fromContainer(containerEnv, job.tracks[0]!.url)).status).toBe(403);
    const track = await fromContainer(containerEnv, job.tracks[0]!.url, { headers: auth });
    expect(track.status).toBe(200);
    expect(new Uint8Array(await track.arrayBuffer())).toEqual(new Uint8Array(1024).fill(7));
    const progress = await fromContainer(
      containerEnv,
      job.callback.url,
      report({ event: "progress", attempt: 1, progress: 40 }, job.callback.token),
    );
    expect(await progress.json()).toEqual({ state: "PROCESSING", progress: 40 });
    const mp3 = new Uint8Array(4096).fill(9);
    const put = await fromContainer(containerEnv, job.output.url, {
      method: "PUT",
      headers: { ...auth, "Content-Length": String(mp3.length) },
      body: mp3,
    });
    expect(put.status, await put.clone().text()).toBe(200);
    const done = await fromContainer(
      containerEnv,
      job.callback.url,
      report({ event: "completed", attempt: 1, durationMs: 62_500, size: mp3.length, engine: "native" }, job.callback.token),
    );
    expect(await done.json()).toMatchObject({ state: "COMPLETED", progress: 100 });

    // What a user sees: COMPLETED, and a signed link (its origin the request's: PUBLIC_BASE_URL is
    // empty) that plays the uploaded bytes.
    const pub = `https://compositions.example.com${API_BASE_PATH}`;
    const sup = { Authorization: `Bearer ${await tokenFor(supervisor())}` };
    const view = await publicFetch(containerEnv, `${pub}/query/conversation/${conv}`, { headers: sup });
    const composition = ((await view.json()) as { compositions: { id: string; state: string; duration: string }[] }).compositions.find(
      (c) => c.id === id,
    );
    expect(composition).toMatchObject({ state: "COMPLETED", duration: "PT1M2.5S" });
    const link = await publicFetch(containerEnv, `${pub}/player/${conv}/${id}/url/inline?conversationId=${conv}&id=${id}`, {
      headers: { ...sup, Referer: "https://agent.example/" },
    });
    const { url } = (await link.json()) as { url: string };
    expect(url.startsWith(`${pub}/`)).toBe(true);
    const media = await publicFetch(containerEnv, url);
    expect(media.status).toBe(200);
    expect(new Uint8Array(await media.arrayBuffer())).toEqual(mp3);
  });

  it("with RENDERER_URL (a renderer outside Cloudflare) the public router keeps serving the internal routes", async () => {
    const { seen, containerEnv } = fakeContainers(() => ({ accepted: true }));
    await queuedComposition();
    expect(await dispatchOne(containerEnv)).toBe("dispatched");
    const job = seen[0]!.job!;
    const local: Env = { ...containerEnv, RENDERER_URL: "http://renderer.test" };
    const res = await publicFetch(
      local,
      asPublicUrl(job.callback.url),
      report({ event: "progress", attempt: 1, progress: 20 }, job.callback.token),
    );
    expect(await res.json()).toEqual({ state: "PROCESSING", progress: 20 });
  });

  it("the renderer's origin: the fixed internal host for a Container whatever PUBLIC_BASE_URL says; a local renderer needs to be told", () => {
    const container: Env = { ...env, RENDERER_URL: "", PUBLIC_BASE_URL: "", INTERNAL_BASE_URL: "" };
    expect(internalUrls(container, "j1").report).toBe(`http://worker.internal${API_BASE_PATH}/internal/jobs/j1/report`);
    expect(internalUrls({ ...container, PUBLIC_BASE_URL: "https://compositions.example.com" }, "j1").report).toBe(
      `http://worker.internal${API_BASE_PATH}/internal/jobs/j1/report`,
    );
    const local: Env = { ...container, RENDERER_URL: "http://127.0.0.1:8788" };
    expect(internalUrls({ ...local, PUBLIC_BASE_URL: "http://127.0.0.1:8787/" }, "j1").report).toBe(
      `http://127.0.0.1:8787${API_BASE_PATH}/internal/jobs/j1/report`,
    );
    expect(internalUrls({ ...local, INTERNAL_BASE_URL: "http://10.0.0.2:8787", PUBLIC_BASE_URL: "https://x.example" }, "j1").output).toBe(
      `http://10.0.0.2:8787${API_BASE_PATH}/internal/jobs/j1/output`,
    );
    expect(() => internalUrls(local, "j1")).toThrow(/RENDERER_URL is set, so INTERNAL_BASE_URL or PUBLIC_BASE_URL must say where/);
  });
});

describe("dispatch and cancel over the Container instances", () => {
  it(`a dispatch offers the job to at most ${MAX_OFFERS_PER_DISPATCH} distinct instances; refused by both, it goes back QUEUED without an attempt`, async () => {
    const { seen, containerEnv } = fakeContainers(() => ({ accepted: false, reason: "busy" }));
    const { id } = await queuedComposition();
    expect(await dispatchOne(containerEnv)).toBe("busy");
    const offers = seen.filter((s) => s.method === "POST");
    expect(offers).toHaveLength(MAX_OFFERS_PER_DISPATCH);
    expect(new Set(offers.map((o) => o.instance)).size).toBe(MAX_OFFERS_PER_DISPATCH);
    expect(await compositionRow(id)).toMatchObject({ state: "QUEUED", attempts: 0 });
  });

  it("instances are renderer-0 … renderer-(RENDERER_INSTANCES - 1), and a refusal falls through to another one", async () => {
    const { seen, containerEnv } = fakeContainers((instance) =>
      instance === "renderer-2" ? { accepted: true } : { accepted: false, reason: "busy" },
    );
    const three: Env = { ...containerEnv, RENDERER_INSTANCES: "3" };
    const offered = new Set<string>();
    let accepted = 0;
    const conv = uid("instances");
    await ingest(conv, { agentId: "alice" });
    for (let i = 0; i < 12; i++) {
      const { id } = (await createComposition(conv, supervisor(), { name: `spread-${i}` })).json as { id: string };
      seen.length = 0;
      const outcome = await dispatchOne(three);
      for (const s of seen) offered.add(s.instance);
      expect(seen.length).toBeLessThanOrEqual(MAX_OFFERS_PER_DISPATCH);
      if (outcome === "dispatched") {
        accepted++;
        expect(await compositionRow(id)).toMatchObject({ state: "PROCESSING", renderer_instance: "renderer-2" });
      } else {
        expect(seen.map((s) => s.instance).sort()).toEqual(["renderer-0", "renderer-1"]);
        expect(await compositionRow(id)).toMatchObject({ state: "QUEUED", attempts: 0 });
      }
      await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE id = ?1`).bind(id).run();
    }
    // Every name is used (12 dispatches of 2 picks among 3), none beyond the configured count.
    expect([...offered].sort()).toEqual(["renderer-0", "renderer-1", "renderer-2"]);
    expect(accepted).toBeGreaterThan(0);
  }, 30_000);

  it("cancel tells only the instance that accepted the job; with none recorded it sends nothing (and starts no container)", async () => {
    const { seen, containerEnv } = fakeContainers(() => ({ accepted: true }));
    const sup = { Authorization: `Bearer ${await tokenFor(supervisor())}` };
    const cancel = (conv: string, id: string) =>
      publicFetch(containerEnv, `https://compositions.example.com${API_BASE_PATH}/${conv}/${id}/cancel`, { method: "POST", headers: sup });

    const running = await queuedComposition();
    expect(await dispatchOne(containerEnv)).toBe("dispatched");
    const instance = seen[0]!.instance;
    seen.length = 0;
    expect((await cancel(running.conv, running.id)).status).toBe(200);
    expect(seen).toEqual([{ instance, method: "DELETE", path: `/jobs/${running.id}`, job: undefined }]);

    // PROCESSING but no instance recorded (claimed, not yet accepted by any renderer).
    const claimed = await queuedComposition();
    await env.DB.prepare(`UPDATE compositions SET state = 'PROCESSING', lease_token = 'lease-x', renderer_instance = NULL WHERE id = ?1`)
      .bind(claimed.id)
      .run();
    seen.length = 0;
    expect((await cancel(claimed.conv, claimed.id)).status).toBe(200);
    expect(seen).toEqual([]);
    expect(await compositionRow(claimed.id)).toMatchObject({ state: "CANCELLED" });
  });
});

describe("the Container's lifecycle settings", () => {
  it("stays up while the renderer says it runs a job; sleeps when idle or not answering", async () => {
    const health = (running: string[]) => async () => Response.json({ ok: true, engines: { native: true, wasm: true }, slots: 2, running });
    expect(await rendererBusy(health(["job-1"]))).toBe(true);
    expect(await rendererBusy(health([]))).toBe(false);
    expect(await rendererBusy(async () => new Response("starting", { status: 503 }))).toBe(false);
    expect(await rendererBusy(async () => Promise.reject(new Error("connection refused")))).toBe(false);
  });

  it("the renderer gets its SLOTS and drain grace from the Worker's vars (wrangler.toml)", () => {
    expect(rendererEnvVars(env)).toEqual({ SLOTS: "2", RENDERER_DRAIN_SECONDS: "840" });
    expect(rendererEnvVars({ ...env, RENDERER_SLOTS: "4", RENDERER_DRAIN_SECONDS: "60" })).toEqual({
      SLOTS: "4",
      RENDERER_DRAIN_SECONDS: "60",
    });
  });
});
