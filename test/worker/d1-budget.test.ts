// What one composition costs D1, counted statement by statement through the real code: a 10-minute
// 2-party call ingested, requested with a callbackUrl, dispatched by the queue consumer to a fake
// renderer, which reads its inputs, reports progress at the real renderer's cadence over a simulated
// 10-minute render, uploads, completes; then one view poll, one signed link played, its webhook
// events delivered, and one cron tick. docs/capacity.md quotes the figures this prints.
import { createExecutionContext, createMessageBatch, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HEARTBEAT_SECONDS, type RenderReport } from "../../contract/renderer";
import { findCompositionById } from "../../worker/db/compositions";
import type { Env } from "../../worker/env";
import worker from "../../worker/index";
import { handleCron } from "../../worker/jobs/dispatch";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import { applyReport, leasedJob } from "../../worker/jobs/reports";
import { handleWebhookBatch, sweepDeliveries } from "../../worker/webhooks/deliver";
import type { WebhookMessage } from "../../worker/webhooks/types";
import { countingD1, noCost, since, type D1Tally } from "./d1-counter";
import { API, at, captureQueue, fakeRenderer, resetRenderer, service, supervisor, tokenFor, uid, type Caller, type FakeRenderer } from "./helpers";
import { captureWebhooks, receiver, type Sent } from "./webhook-helpers";

const RENDER_MS = 600_000;
/** The renderer's longest gap between reports (container/src/job.ts DEFAULT_HEARTBEAT_MS). */
const HEARTBEAT_MS = HEARTBEAT_SECONDS * 700;

let renderer: FakeRenderer;
let webhooks: Sent[];

beforeEach(async () => {
  captureQueue();
  webhooks = captureWebhooks();
  renderer = fakeRenderer();
  // The claim takes the best QUEUED job in the database: only this test's may be waiting.
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
});
afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

/**
 * What the renderer reports `ms` into a 10-minute job (container/src/job.ts): downloads 0–10 %
 * (20 s), the render 10–95 % with an ETA that wobbles ±10 % around the truth, the upload 95–99 %.
 */
function rendererAt(ms: number): { progress: number; etaSeconds?: number } {
  const t = ms / 1000;
  if (t < 20) return { progress: Math.floor(t / 2) };
  if (t >= 580) return { progress: Math.floor(95 + (4 * (t - 580)) / 20) };
  const frac = (t - 20) / 560;
  const progress = Math.floor(10 + 85 * frac);
  if (frac <= 0.02) return { progress };
  return { progress, etaSeconds: Math.round((580 - t) * (1 + 0.1 * Math.sin(t / 7))) };
}

function formatTable(phases: Record<string, D1Tally>): string {
  const cols = ["statements", "reads", "writes", "roundTrips", "batches"] as const;
  const width = Math.max(...Object.keys(phases).map((k) => k.length));
  const line = (name: string, cells: (string | number)[]) => `${name.padEnd(width)} | ${cells.map((c) => String(c).padStart(10)).join(" | ")}`;
  return [line("phase", [...cols]), ...Object.entries(phases).map(([name, t]) => line(name, cols.map((c) => t[c])))].join("\n");
}

describe("D1 cost of one composition", () => {
  it("stays within budget; a progress report that changes nothing visible costs one read and no write", async () => {
    const counter = countingD1(env.DB);
    const counted: Env = { ...env, DB: counter.db };
    const phases: Record<string, D1Tally> = {};
    /** Runs `work`, adding what it cost D1 to the phase `name`. */
    const phase = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const before = counter.total();
      const result = await work();
      const cost = since(before, counter.total());
      const sum = phases[name] ?? noCost();
      for (const k of Object.keys(cost) as (keyof D1Tally)[]) sum[k] += cost[k];
      phases[name] = sum;
      return result;
    };
    // Webhook messages are consumed as they are queued (within a second or so in production), so each
    // event finds its predecessor settled.
    const rx = receiver();
    let delivered = 0;
    const deliverQueued = () =>
      phase("webhook deliveries (callbackUrl)", async () => {
        for (let round = 0; delivered < webhooks.length && round < 50; round++) {
          const bodies = webhooks.slice(delivered).map((s) => s.body);
          delivered = webhooks.length;
          const batch = createMessageBatch<WebhookMessage>("composition-webhooks", bodies.map((body, i) => ({ id: `w-${delivered}-${i}`, timestamp: new Date(), attempts: 1, body })));
          await handleWebhookBatch(batch, counted, { fetch: rx.fetch });
        }
      });
    const fetchWorker = async (method: string, url: string, opts: { as?: Caller; json?: unknown; headers?: Record<string, string>; body?: BodyInit } = {}) => {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.as) headers.Authorization = `Bearer ${await tokenFor(opts.as)}`;
      if (opts.json !== undefined) headers["Content-Type"] = "application/json";
      const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
      const ctx = createExecutionContext();
      const res = await worker.fetch!(new Request(url.startsWith("http") ? url : API + url, { method, headers, body }) as never, counted, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    const org = uid("budget");
    const conv = uid("call");
    const sue = supervisor(org);

    await phase("ingest (metadata + 2 tracks)", async () => {
      const tracks = ["agent", "customer"].map((p) => ({ id: `t-${p}`, participantId: p, started: at(0), audio: true, video: true }));
      expect((await fetchWorker("PUT", `/recordings/${conv}`, { as: service(org), json: { agentId: "alice", started: at(0), stopped: at(600), tracks } })).status).toBe(200);
      for (const t of tracks) {
        const bytes = new Uint8Array(1024).fill(5);
        const res = await fetchWorker("PUT", `/recordings/${conv}/tracks/${t.id}`, { as: service(org), body: bytes, headers: { "Content-Type": "video/webm", "Content-Length": "1024" } });
        expect(res.status).toBe(200);
      }
    });
    const id = await phase("request", async () => {
      const res = await fetchWorker("POST", "/request", {
        as: sue,
        json: { conversationId: conv, layout: "GRID", name: "Budget", resolution: "640x480", type: "VIDEO", callbackUrl: "https://crm.example/cb" },
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { id: string }).id;
    });
    await deliverQueued();
    await phase("dispatch (queue consumer)", async () => {
      const batch = createMessageBatch<RenderJobMessage>("composition-jobs", [{ id: "m-1", timestamp: new Date(), attempts: 1, body: { kind: "dispatch", reason: "created" } }]);
      await worker.queue(batch as never, counted);
      expect(renderer.jobs.map((j) => j.jobId)).toEqual([id]);
    });
    await deliverQueued();
    const job = renderer.jobs[0]!;
    const auth = { Authorization: `Bearer ${job.callback.token}` };
    const startedAt = (await findCompositionById(env.DB, id))!.startedAt!;

    await phase("inputs (2 track reads)", async () => {
      for (const t of job.tracks) expect((await fetchWorker("GET", t.url, { headers: auth })).status).toBe(200);
    });

    // The report route is leasedJob + applyReport; called here with the simulated clock.
    const report = async (r: RenderReport, now: number) => {
      const { row, token } = await leasedJob(counted, id, auth.Authorization);
      return applyReport(counted, row, token, r, now);
    };
    let reports = 0;
    let idle = 0;
    for (let ms = 0; ms < RENDER_MS; ms += HEARTBEAT_MS) {
      const before = counter.total();
      const after = await phase("progress reports (10-minute render)", () => report({ event: "progress", attempt: job.attempt, ...rendererAt(ms) }, startedAt + ms));
      expect(after).not.toBeNull();
      const cost = since(before, counter.total());
      reports++;
      if (cost.writes === 0) idle++;
      await deliverQueued();
    }

    await phase("output upload", async () => {
      const bytes = new Uint8Array(4096).fill(9);
      const res = await fetchWorker("PUT", job.output.url, { body: bytes, headers: { ...auth, "Content-Type": job.output.contentType, "Content-Length": "4096" } });
      expect(res.status).toBe(200);
    });
    await phase("completed report", async () => {
      const done = await report({ event: "completed", attempt: job.attempt, durationMs: RENDER_MS, size: 4096, engine: "native" }, startedAt + RENDER_MS);
      expect(done?.state).toBe("COMPLETED");
    });
    await deliverQueued();
    await phase("one view poll", async () => {
      expect((await fetchWorker("GET", `/query/conversation/${conv}`, { as: sue })).status).toBe(200);
    });
    await phase("one signed link (get + play)", async () => {
      const query = `conversationId=${conv}&id=${id}`;
      const link = await fetchWorker("GET", `/player/${conv}/${id}/url/inline?${query}`, { as: sue, headers: { Referer: "https://agent.example/" } });
      expect(link.status).toBe(200);
      const { url } = (await link.json()) as { url: string };
      expect((await fetchWorker("GET", url)).status).toBe(200);
    });
    const events = rx.seen.map((r) => r.json.type as string);
    const perComposition = Object.values(phases).reduce((sum, t) => sum + t.statements, 0);
    await phase("cron tick (per minute, not per composition)", async () => {
      await handleCron(counted);
      await sweepDeliveries(counted);
    });

    console.log(`D1 per composition (${reports} progress reports, ${idle} of them wrote nothing; events delivered: ${events.join(", ")})`);
    console.log(formatTable(phases));
    console.log(`total per composition: ${perComposition} statements`);

    expect(events[0]).toBe("composition.queued");
    expect(events.at(-1)).toBe("composition.completed");
    expect(reports).toBe(Math.ceil(RENDER_MS / HEARTBEAT_MS));
  }, 60_000);
});
