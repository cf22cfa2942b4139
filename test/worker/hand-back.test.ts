// A renderer that must stop (a rollout's SIGTERM after its drain grace) hands its unfinished jobs
// back: the report is `failed` with `handedBack`, and the job goes back to the queue at its place in
// line WITHOUT costing an attempt, where an ordinary retryable failure counts one.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderReport } from "../../contract/renderer";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import {
  call,
  captureQueue,
  compositionRow,
  createComposition,
  fakeRenderer,
  ingest,
  resetRenderer,
  runQueue,
  supervisor,
  uid,
  type FakeRenderer,
} from "./helpers";

let sent: RenderJobMessage[];
let renderer: FakeRenderer;

beforeEach(async () => {
  sent = captureQueue();
  renderer = fakeRenderer();
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
});
afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

const report = (id: string, token: string, body: RenderReport | Record<string, unknown>) =>
  call("POST", `/internal/jobs/${id}/report`, { body, headers: { Authorization: `Bearer ${token}` } });

/** Dispatches the (only) queued job; returns the lease token and attempt the renderer got. */
async function dispatch(): Promise<{ token: string; attempt: number }> {
  const before = renderer.jobs.length;
  await runQueue();
  expect(renderer.jobs).toHaveLength(before + 1);
  const job = renderer.jobs.at(-1)!;
  return { token: job.callback.token, attempt: job.attempt };
}

async function queued(): Promise<{ conv: string; id: string }> {
  const conv = uid("handback");
  await ingest(conv, { agentId: "alice" });
  const res = await createComposition(conv, supervisor());
  expect(res.status, res.text).toBe(200);
  return { conv, id: res.json.id };
}

const handBack = (attempt: number): RenderReport => ({
  event: "failed",
  attempt,
  error: "renderer shutting down",
  retryable: true,
  handedBack: true,
});

describe("a job handed back by a stopping renderer", () => {
  it("is requeued at its place in line, its attempt not counted, and its old lease refused", async () => {
    const { conv, id } = await queued();
    const queuedAt = (await compositionRow(id))!.queued_at;
    const { token, attempt } = await dispatch();
    expect(attempt).toBe(1);
    expect((await report(id, token, { event: "progress", attempt: 1, progress: 40 })).status).toBe(200);
    sent.length = 0;

    const res = await report(id, token, handBack(1));
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ state: "QUEUED", progress: 0 });
    expect(await compositionRow(id)).toMatchObject({ state: "QUEUED", attempts: 0, lease_token: null, queued_at: queuedAt, progress: 0 });
    expect(sent).toEqual([{ kind: "dispatch", reason: `handed back ${id}` }]);
    const view = await call("GET", `/query/conversation/${conv}`, { as: supervisor() });
    expect(view.json.compositions[0]).toMatchObject({ id, state: "QUEUED", progress: 0 });
    expect(view.json.compositions[0].error).toMatch(/handed back unfinished \(renderer shutting down\); requeued/);

    // The stopped renderer's lease is gone; the next renderer runs it as attempt 1 again.
    expect((await report(id, token, { event: "progress", attempt: 1, progress: 50 })).status).toBe(404);
    expect((await dispatch()).attempt).toBe(1);
    expect(await compositionRow(id)).toMatchObject({ state: "PROCESSING", attempts: 1, error: null });
  });

  it("handed back more often than MAX_ATTEMPTS, it never ends FAILED; an ordinary retryable failure does count", async () => {
    const { id } = await queued();
    for (let i = 0; i < 4; i++) {
      const { token, attempt } = await dispatch();
      expect(attempt).toBe(1);
      expect((await report(id, token, handBack(attempt))).json.state).toBe("QUEUED");
    }
    const { token } = await dispatch();
    const failed = await report(id, token, { event: "failed", attempt: 1, error: "disk full", retryable: true });
    expect(failed.json.state).toBe("QUEUED");
    expect(await compositionRow(id)).toMatchObject({ state: "QUEUED", attempts: 1 });
    expect((await dispatch()).attempt).toBe(2);
  });

  it("a handedBack that is not a boolean is refused (400) and changes nothing", async () => {
    const { id } = await queued();
    const { token } = await dispatch();
    const res = await report(id, token, { ...handBack(1), handedBack: "yes" });
    expect(res.status).toBe(400);
    expect(res.json.detail).toContain("handedBack");
    expect(await compositionRow(id)).toMatchObject({ state: "PROCESSING", attempts: 1, lease_token: token });
  });
});
