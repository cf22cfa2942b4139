// Recovery wake-ups (the cron's, an expired lease's) fill every free renderer slot; an ordinary
// wake-up dispatches one job. Without this, lost queue messages left renderer slots idle: the backlog
// ran one job at a time, chained by "slot freed" messages.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { handleCron, MAX_DISPATCHES_PER_MESSAGE, reclaim } from "../../worker/jobs/dispatch";
import { setRendererForTests } from "../../worker/jobs/renderer";
import type { RenderJob } from "../../contract/renderer";
import type { RenderJobMessage } from "../../worker/jobs/messages";
import { captureQueue, compositionRow, createComposition, ingest, resetRenderer, runQueue, supervisor, uid } from "./helpers";

let sent: RenderJobMessage[];
let accepted: RenderJob[];
let slots: number;

beforeEach(async () => {
  sent = captureQueue();
  accepted = [];
  slots = 2;
  // A renderer with `slots` free slots that refuses the rest as busy.
  setRendererForTests({
    async start(job) {
      if (accepted.length >= slots) return { accepted: false, reason: "busy" };
      accepted.push(job);
      return { accepted: true, instance: "r-1" };
    },
    async cancel() {},
  });
  await env.DB.prepare(`UPDATE compositions SET state = 'CANCELLED' WHERE state IN ('QUEUED', 'PROCESSING')`).run();
});

afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

async function queued(n: number): Promise<string[]> {
  const conv = uid("fill");
  await ingest(conv, { agentId: "alice" });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await createComposition(conv, supervisor(), { name: `job-${i}` })).json.id);
  return ids;
}

const states = async (ids: string[]) => Promise.all(ids.map(async (id) => (await compositionRow(id))!.state));

describe("recovery wake-ups fill the renderer", () => {
  it("an ordinary wake-up dispatches one job", async () => {
    const ids = await queued(4);
    const outcome = await runQueue([{ kind: "dispatch", reason: "created" }]);
    expect(accepted.map((j) => j.jobId)).toEqual([ids[0]]);
    expect(outcome.explicitAcks).toHaveLength(1);
  });

  it("a fill wake-up dispatches until the renderer is full, then retries later; nothing is left PROCESSING by the refusal", async () => {
    const ids = await queued(4);
    const outcome = await runQueue([{ kind: "dispatch", reason: "cron", fill: true }]);
    expect(accepted.map((j) => j.jobId)).toEqual(ids.slice(0, 2));
    expect(await states(ids)).toEqual(["PROCESSING", "PROCESSING", "QUEUED", "QUEUED"]);
    expect((await compositionRow(ids[2]!))!.attempts).toBe(0);
    expect(outcome.retryMessages).toHaveLength(1);
  });

  it("a fill wake-up with room for everything dispatches everything and is acknowledged", async () => {
    slots = 10;
    const ids = await queued(3);
    const outcome = await runQueue([{ kind: "dispatch", reason: "cron", fill: true }]);
    expect(accepted.map((j) => j.jobId)).toEqual(ids);
    expect(outcome.explicitAcks).toHaveLength(1);
  });

  it("is bounded per message", async () => {
    slots = 100;
    const ids = await queued(MAX_DISPATCHES_PER_MESSAGE + 2);
    await runQueue([{ kind: "dispatch", reason: "cron", fill: true }]);
    expect(accepted).toHaveLength(MAX_DISPATCHES_PER_MESSAGE);
    expect((await states(ids)).filter((s) => s === "QUEUED")).toHaveLength(2);
  });

  it("the cron's wake-up for stale QUEUED jobs and an expired lease's wake-up are fill wake-ups", async () => {
    const [stale, running] = await queued(2);
    await env.DB.prepare(`UPDATE compositions SET queued_at = ?2 WHERE id = ?1`)
      .bind(stale, Date.now() - 120_000)
      .run();
    await env.DB.prepare(
      `UPDATE compositions SET state = 'PROCESSING', lease_token = 'old', lease_expires_at = 1, attempts = 1 WHERE id = ?1`,
    )
      .bind(running)
      .run();
    sent.length = 0;
    await reclaim(env);
    expect(sent).toEqual([{ kind: "dispatch", reason: `lease expired: ${running}`, fill: true }]);
    sent.length = 0;
    await handleCron(env);
    expect(sent).toContainEqual({ kind: "dispatch", reason: expect.stringMatching(/^cron: \d+ queued$/), fill: true });
  });
});
