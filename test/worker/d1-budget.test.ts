// What one composition costs D1, counted statement by statement through the real code: a 10-minute
// 2-party call ingested, requested with a callbackUrl, dispatched by the queue consumer to a fake
// renderer, which reads its inputs, reports progress at the real renderer's cadence over a
// simulated render, uploads and completes; then one view poll, one signed link played, the
// webhook events delivered as they are queued, and one cron tick. docs/capacity.md quotes the
// figures it prints (npx vitest run --config vitest.worker.config.mts test/worker/d1-budget.test.ts).
import { createExecutionContext, createMessageBatch, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HEARTBEAT_SECONDS, type RenderReport } from "../../contract/renderer";
import { findCompositionById } from "../../worker/db/compositions";
import type { Env } from "../../worker/env";
import worker from "../../worker/index";
import { handleCron } from "../../worker/jobs/dispatch";
import { projectedEtaSeconds } from "../../worker/jobs/liveness";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import { applyReport, leasedJob } from "../../worker/jobs/reports";
import { jobSettings } from "../../worker/jobs/settings";
import { handleWebhookBatch, sweepDeliveries } from "../../worker/webhooks/deliver";
import type { WebhookMessage } from "../../worker/webhooks/types";
import { countingD1, noCost, since, type D1Tally } from "./d1-counter";
import {
  API,
  at,
  captureQueue,
  fakeRenderer,
  resetRenderer,
  service,
  supervisor,
  tokenFor,
  uid,
  type Caller,
  type FakeRenderer,
} from "./helpers";
import { captureWebhooks, receiver, type Sent } from "./webhook-helpers";

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
 * What the renderer reports at `ms` into a job of `renderMs` (container/src/job.ts): the download
 * 0–10 % (the first 1/30), the render 10–95 % with an ETA that wobbles ±10 % around the truth, the
 * upload 95–99 % (the last 1/30).
 */
function rendererAt(ms: number, renderMs: number): { progress: number; etaSeconds?: number } {
  const f = ms / renderMs;
  if (f < 1 / 30) return { progress: Math.floor(300 * f) };
  if (f >= 29 / 30) return { progress: Math.floor(95 + 120 * (f - 29 / 30)) };
  const frac = (f - 1 / 30) / (28 / 30);
  const progress = Math.floor(10 + 85 * frac);
  if (frac <= 0.02) return { progress };
  return { progress, etaSeconds: Math.round((renderMs / 1000) * (29 / 30 - f) * (1 + 0.1 * Math.sin(ms / 7000))) };
}

/**
 * When the renderer sends (container/src/job.ts, class Heartbeat): at the start, then on its 1 s
 * tick once DEFAULT_HEARTBEAT_MS (0.7 × HEARTBEAT_SECONDS) have passed, or sooner (≥ 1 s apart)
 * when the percent has moved by 5.
 */
function reportTimes(renderMs: number): number[] {
  const everyMs = HEARTBEAT_SECONDS * 700;
  const times = [0];
  let lastPercent = 0;
  for (let ms = 1000; ms < renderMs; ms += 1000) {
    const percent = rendererAt(ms, renderMs).progress;
    if (ms - times.at(-1)! >= everyMs || percent >= lastPercent + 5) {
      times.push(ms);
      lastPercent = percent;
    }
  }
  return times;
}

function formatTable(phases: Record<string, D1Tally>): string {
  const cols = ["statements", "reads", "writes", "roundTrips", "batches"] as const;
  const width = Math.max(...Object.keys(phases).map((k) => k.length));
  const line = (name: string, cells: (string | number)[]) =>
    `${name.padEnd(width)} | ${cells.map((c) => String(c).padStart(10)).join(" | ")}`;
  return [
    line("phase", [...cols]),
    ...Object.entries(phases).map(([name, t]) =>
      line(
        name,
        cols.map((c) => t[c]),
      ),
    ),
  ].join("\n");
}

// Typical calls: a 2-party AUDIO call renders in seconds, a 640x480 VIDEO one in about a minute (see
// docs/capacity.md); the 10-minute render is the long case, where liveness used to cost the most.
const CASES = [
  { name: "AUDIO, 6 s render", type: "AUDIO", renderMs: 6_000, budget: { progressWrites: 3, total: 85 } },
  { name: "VIDEO 640x480, 60 s render", type: "VIDEO", renderMs: 60_000, budget: { progressWrites: 14, total: 150 } },
  { name: "10-minute render", type: "VIDEO", renderMs: 600_000, budget: { progressWrites: 25, total: 330 } },
] as const;

describe("D1 cost of one composition", () => {
  it.each(CASES)(
    "$name: within budget, and a report that changes nothing visible costs one read and no write",
    async ({ name, type, renderMs, budget }) => {
      const counter = countingD1(env.DB);
      // A whole composition's cost: a split one's units are counted in docs/capacity.md's fan-out section.
      const counted: Env = { ...env, DB: counter.db, FANOUT_SEGMENT_SECONDS: "0" };
      const phases: Record<string, D1Tally> = {};
      /** Runs `work`, adding what it cost D1 to the phase `label`; returns its result and that cost. */
      const phase = async <T>(label: string, work: () => Promise<T>): Promise<{ result: T; cost: D1Tally }> => {
        const before = counter.total();
        const result = await work();
        const cost = since(before, counter.total());
        const sum = phases[label] ?? noCost();
        for (const k of Object.keys(cost) as (keyof D1Tally)[]) sum[k] += cost[k];
        phases[label] = sum;
        return { result, cost };
      };
      const fetchWorker = async (
        method: string,
        url: string,
        opts: { as?: Caller; json?: unknown; headers?: Record<string, string>; body?: BodyInit } = {},
      ) => {
        const headers: Record<string, string> = { ...opts.headers };
        if (opts.as) headers.Authorization = `Bearer ${await tokenFor(opts.as)}`;
        if (opts.json !== undefined) headers["Content-Type"] = "application/json";
        const ctx = createExecutionContext();
        const request = new Request(url.startsWith("http") ? url : API + url, {
          method,
          headers,
          body: opts.json !== undefined ? JSON.stringify(opts.json) : opts.body,
        });
        const res = await worker.fetch!(request as never, counted, ctx);
        await waitOnExecutionContext(ctx);
        return res;
      };
      // Webhook messages are consumed as they are queued (within a second or so in production), so
      // each event finds the one before it settled.
      const rx = receiver();
      let consumed = 0;
      const deliverQueued = () =>
        phase("webhook deliveries (callbackUrl)", async () => {
          for (let round = 0; consumed < webhooks.length && round < 50; round++) {
            const bodies = webhooks.slice(consumed).map((s) => s.body);
            consumed = webhooks.length;
            const batch = createMessageBatch<WebhookMessage>(
              "composition-webhooks",
              bodies.map((body, i) => ({ id: `w-${consumed}-${i}`, timestamp: new Date(), attempts: 1, body })),
            );
            await handleWebhookBatch(batch, counted, { fetch: rx.fetch });
          }
        });
      const org = uid("budget");
      const conv = uid("call");
      const sue = supervisor(org);

      await phase("ingest (metadata + 2 tracks)", async () => {
        const tracks = ["agent", "customer"].map((p) => ({
          id: `t-${p}`,
          participantId: p,
          started: at(0),
          audio: true,
          video: type === "VIDEO",
        }));
        expect(
          (
            await fetchWorker("PUT", `/recordings/${conv}`, {
              as: service(org),
              json: { agentId: "alice", started: at(0), stopped: at(600), tracks },
            })
          ).status,
        ).toBe(200);
        for (const t of tracks) {
          const res = await fetchWorker("PUT", `/recordings/${conv}/tracks/${t.id}`, {
            as: service(org),
            body: new Uint8Array(1024).fill(5),
            headers: { "Content-Type": "video/webm", "Content-Length": "1024" },
          });
          expect(res.status).toBe(200);
        }
      });
      const { result: id } = await phase("request", async () => {
        const body = {
          conversationId: conv,
          layout: "GRID",
          name: "Budget",
          resolution: "640x480",
          type,
          callbackUrl: "https://crm.example/cb",
        };
        const res = await fetchWorker("POST", "/request", { as: sue, json: body });
        expect(res.status).toBe(200);
        return ((await res.json()) as { id: string }).id;
      });
      await deliverQueued();
      await phase("dispatch (queue consumer)", async () => {
        const batch = createMessageBatch<RenderJobMessage>("composition-jobs", [
          { id: "m-1", timestamp: new Date(), attempts: 1, body: { kind: "dispatch", reason: "created" } },
        ]);
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
      const { leaseMs } = jobSettings(env);
      const times = reportTimes(renderMs);
      let idle = 0;
      for (const ms of times) {
        const sent = rendererAt(ms, renderMs);
        const now = startedAt + ms;
        const { result, cost } = await phase("progress reports", () => report({ event: "progress", attempt: job.attempt, ...sent }, now));
        expect(result).not.toBeNull();
        if (cost.writes === 0) {
          idle++;
          expect(cost).toEqual({ statements: 1, reads: 1, writes: 0, roundTrips: 1, batches: 0 });
        }
        // What every report must leave true, written or not (read outside the count).
        const row = (await findCompositionById(env.DB, id))!;
        const recent = now - row.updatedAt < 5_000;
        expect(row.leaseExpiresAt! - now, `lease left at ${ms} ms`).toBeGreaterThanOrEqual(leaseMs / 2);
        if (!recent) expect(row.progress, `view progress at ${ms} ms`).toBeGreaterThan(sent.progress - 5);
        const shown = projectedEtaSeconds(row, now);
        if (!recent && sent.etaSeconds !== undefined)
          expect(Math.abs(shown! - sent.etaSeconds), `view ETA at ${ms} ms`).toBeLessThanOrEqual(Math.max(10, 0.25 * shown!));
        await deliverQueued();
      }

      await phase("output upload", async () => {
        const res = await fetchWorker("PUT", job.output.url, {
          body: new Uint8Array(4096).fill(9),
          headers: { ...auth, "Content-Type": job.output.contentType, "Content-Length": "4096" },
        });
        expect(res.status).toBe(200);
      });
      await phase("completed report", async () => {
        const done = await report(
          { event: "completed", attempt: job.attempt, durationMs: 600_000, size: 4096, engine: "native" },
          startedAt + renderMs,
        );
        expect(done?.state).toBe("COMPLETED");
      });
      await deliverQueued();
      await phase("one view poll", async () => {
        expect((await fetchWorker("GET", `/query/conversation/${conv}`, { as: sue })).status).toBe(200);
      });
      await phase("one signed link (get + play)", async () => {
        const link = await fetchWorker("GET", `/player/${conv}/${id}/url/inline?conversationId=${conv}&id=${id}`, {
          as: sue,
          headers: { Referer: "https://agent.example/" },
        });
        expect(link.status).toBe(200);
        expect((await fetchWorker("GET", ((await link.json()) as { url: string }).url)).status).toBe(200);
      });
      const total = Object.values(phases).reduce((sum, t) => sum + t.statements, 0);
      const progressWrites = phases["progress reports"]!.batches;
      await phase("cron tick (per minute, not per composition)", async () => {
        await handleCron(counted);
        await sweepDeliveries(counted);
      });

      const events = rx.seen.map((r) => r.json.type as string);
      console.log(
        `${name}: ${times.length} progress reports, ${progressWrites} written, ${idle} cost one read; ${events.length} events delivered (${events.filter((e) => e === "composition.progress").length} progress)`,
      );
      console.log(formatTable(phases));
      console.log(`total per composition (cron tick excluded): ${total} statements`);

      expect(events[0]).toBe("composition.queued");
      expect(events.at(-1)).toBe("composition.completed");
      expect(idle).toBe(times.length - progressWrites);
      // A heartbeat that wrote on every report again would blow these.
      expect(progressWrites).toBeLessThanOrEqual(budget.progressWrites);
      expect(total).toBeLessThanOrEqual(budget.total);
    },
    60_000,
  );
});
