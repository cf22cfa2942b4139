// Liveness without a D1 write per report (worker/jobs/liveness.ts): the lease is renewed only when
// half of it is gone, yet a live render never loses it, a dead renderer's job is still reclaimed
// once it runs out, the view's ETA keeps moving between writes, and a short lease (as the
// end-to-end tests set) renews on every report as before.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderReport } from "../../contract/renderer";
import { findCompositionById } from "../../worker/db/compositions";
import type { Env } from "../../worker/env";
import { reclaim } from "../../worker/jobs/dispatch";
import { applyReport, leasedJob } from "../../worker/jobs/reports";
import { jobSettings } from "../../worker/jobs/settings";
import { countingD1, since } from "./d1-counter";
import {
  call,
  captureQueue,
  createComposition,
  fakeRenderer,
  ingest,
  resetRenderer,
  runQueue,
  supervisor,
  uid,
  type FakeRenderer,
} from "./helpers";

let renderer: FakeRenderer;

beforeEach(async () => {
  captureQueue();
  renderer = fakeRenderer();
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
});
afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

/** A composition dispatched to the fake renderer: its id, conversation, lease token and start. */
async function running() {
  const conv = uid("live");
  await ingest(conv, { agentId: "alice" });
  const id = (await createComposition(conv, supervisor())).json.id as string;
  await runQueue();
  const job = renderer.jobs.find((j) => j.jobId === id)!;
  const startedAt = (await findCompositionById(env.DB, id))!.startedAt!;
  return { id, conv, token: job.callback.token, attempt: job.attempt, startedAt };
}

/** The report route's two steps (leasedJob, then applyReport) at a simulated instant. */
async function report(e: Env, id: string, token: string, r: RenderReport, now: number) {
  const { row } = await leasedJob(e, id, `Bearer ${token}`);
  return applyReport(e, row, token, r, now);
}

describe("liveness", () => {
  it("a render stuck at one percent renews its lease about once a minute and never lets it run out", async () => {
    const { id, token, attempt, startedAt } = await running();
    const counter = countingD1(env.DB);
    const counted = { ...env, DB: counter.db };
    const { leaseMs } = jobSettings(env);
    expect(leaseMs).toBe(120_000);
    for (let ms = 0; ms <= 600_000; ms += 4000) {
      await report(counted, id, token, { event: "progress", attempt, progress: 40 }, startedAt + ms);
      const row = (await findCompositionById(env.DB, id))!;
      expect(row.leaseExpiresAt! - (startedAt + ms)).toBeGreaterThanOrEqual(leaseMs / 2);
      // Nothing ran out in ten minutes: a reclaim at this instant leaves the job alone.
      expect(await reclaim(env, startedAt + ms)).toEqual([]);
    }
    // 151 reports: the first (40 % after 0) and one renewal a minute write.
    const written = counter.total().batches;
    expect(written).toBeGreaterThanOrEqual(10);
    expect(written).toBeLessThanOrEqual(12);
    expect(counter.total().reads).toBe(151);
  });

  it("a renderer that stops reporting loses its job once the lease runs out, not before; its late report is refused", async () => {
    const { id, token, attempt, startedAt } = await running();
    await report(env, id, token, { event: "progress", attempt, progress: 30 }, startedAt + 10_000);
    const expires = (await findCompositionById(env.DB, id))!.leaseExpiresAt!;
    expect(expires).toBe(startedAt + 10_000 + jobSettings(env).leaseMs);
    expect(await reclaim(env, expires - 1)).toEqual([]);
    const [requeued] = await reclaim(env, expires + 1);
    expect(requeued).toMatchObject({ id, state: "QUEUED", leaseToken: null, error: "renderer lost the job (lease expired); retrying" });
    await expect(report(env, id, token, { event: "progress", attempt, progress: 35 }, expires + 2000)).rejects.toMatchObject({
      status: 404,
    });
  });

  it("a report that changes nothing visible writes nothing; the view's ETA counts down between writes", async () => {
    const { id, conv, token, attempt, startedAt } = await running();
    const counter = countingD1(env.DB);
    const counted = { ...env, DB: counter.db };
    await report(counted, id, token, { event: "progress", attempt, progress: 50, etaSeconds: 300 }, startedAt + 30_000);
    const before = counter.total();
    // 4 s later: one point more and the ETA 4 s less, as a steady render reports.
    const after = await report(counted, id, token, { event: "progress", attempt, progress: 51, etaSeconds: 296 }, startedAt + 34_000);
    expect(since(before, counter.total())).toMatchObject({ reads: 1, writes: 0 });
    expect(after).toMatchObject({ progress: 50, etaSeconds: 300 });

    // The view counts the stored 300 s down from the write: shift the write 100 s into the past.
    await env.DB.prepare(`UPDATE compositions SET updated_at = ?2 WHERE id = ?1`)
      .bind(id, Date.now() - 100_000)
      .run();
    const view = (await call("GET", `/query/conversation/${conv}`, { as: supervisor() })).json.compositions[0];
    expect(view).toMatchObject({ id, state: "PROCESSING", progress: 50 });
    // In tenths of a second, counted down from 300 − 100 s (a few ms passed since).
    const sec = /^PT3M([\d.]+)S$/.exec(view.eta)?.[1];
    expect(sec, view.eta).toBeDefined();
    expect(Number(sec)).toBeGreaterThan(19);
    expect(Number(sec)).toBeLessThanOrEqual(20);
  });

  it("an ETA gone astray is rewritten within a second; a steady countdown is not", async () => {
    const { id, token, attempt, startedAt } = await running();
    await report(env, id, token, { event: "progress", attempt, progress: 40, etaSeconds: 10 }, startedAt + 10_000);
    // 0.3 s later the estimate doubled: too soon even for that.
    expect(await report(env, id, token, { event: "progress", attempt, progress: 41, etaSeconds: 20 }, startedAt + 10_300)).toMatchObject({
      etaSeconds: 10,
    });
    // 1.5 s after the write: the shown 8.5 s is half the estimate, so both are written.
    expect(await report(env, id, token, { event: "progress", attempt, progress: 42, etaSeconds: 18 }, startedAt + 11_500)).toMatchObject({
      progress: 42,
      etaSeconds: 18,
    });
    // Counting down as shown: nothing written however often it reports.
    expect(await report(env, id, token, { event: "progress", attempt, progress: 44, etaSeconds: 16 }, startedAt + 13_500)).toMatchObject({
      etaSeconds: 18,
    });
  });

  it("a fast job's view moves in 10-point steps, at most one per 2 s, not only 5 s apart", async () => {
    const { id, token, attempt, startedAt } = await running();
    const at = (ms: number, progress: number) => report(env, id, token, { event: "progress", attempt, progress }, startedAt + ms);
    await at(1_000, 20);
    // 9 points in 1.5 s: not yet (neither 5 s nor 10 points).
    expect(await at(2_500, 29)).toMatchObject({ progress: 20 });
    // 10 points, but 1.5 s after the write: within the fast step's 2 s gap, still not.
    expect(await at(2_500, 30)).toMatchObject({ progress: 20 });
    // 2 s after the write, 10 points on: written (the 5 s rule alone would have waited 3 s more).
    expect(await at(3_000, 30)).toMatchObject({ progress: 30 });
    // 5 points 1 s later: a slow job's step, which waits for its 5 s.
    expect(await at(4_000, 35)).toMatchObject({ progress: 30 });
  });

  it("a short lease (as the end-to-end tests set) is renewed by every report", async () => {
    const { id, token, attempt, startedAt } = await running();
    const counter = countingD1(env.DB);
    const short = { ...env, DB: counter.db, LEASE_SECONDS: "8" };
    // As if claimed under the short lease too.
    await env.DB.prepare(`UPDATE compositions SET lease_expires_at = ?2 WHERE id = ?1`)
      .bind(id, startedAt + 8000)
      .run();
    for (let ms = 4000; ms <= 40_000; ms += 4000) {
      const before = counter.total();
      await report(short, id, token, { event: "progress", attempt, progress: 20 }, startedAt + ms);
      expect(since(before, counter.total()).batches).toBe(1);
      expect((await findCompositionById(env.DB, id))!.leaseExpiresAt).toBe(startedAt + ms + 8000);
    }
  });
});
