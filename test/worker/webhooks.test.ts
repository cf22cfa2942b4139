import { env } from "cloudflare:workers";
import { createMessageBatch } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderJob } from "../../contract/renderer";
import { reclaim } from "../../worker/jobs/dispatch";
import { applyReport } from "../../worker/jobs/reports";
import { runOutputKey } from "../../worker/jobs/outputs";
import { findCompositionById } from "../../worker/db/compositions";
import { deliverOne, RETRY_WINDOW_MS, sweepDeliveries } from "../../worker/webhooks/deliver";
import { verifySignature } from "../../worker/webhooks/signature";
import worker from "../../worker/index";
import {
  at,
  call,
  captureQueue,
  createComposition,
  fakeRenderer,
  ingest,
  recordingBody,
  resetRenderer,
  runQueue,
  service,
  supervisor,
  uid,
  type FakeRenderer,
} from "./helpers";
import { setRendererForTests } from "../../worker/jobs/renderer";
import { captureWebhooks, deliveryRows, drain, independentlyVerify, receiver, type Received, type Sent } from "./webhook-helpers";
import type { WebhookMessage } from "../../worker/webhooks/types";

const CALLBACK = "https://crm.example/compositions/cb?token=receiver-own-token";
const PUBLIC = "https://compose.example";
let sent: Sent[];
let fake: FakeRenderer;

beforeEach(() => {
  captureQueue();
  sent = captureWebhooks();
  fake = fakeRenderer();
  (env as { PUBLIC_BASE_URL?: string }).PUBLIC_BASE_URL = PUBLIC;
});
afterEach(async () => {
  // Storage lives as long as the file: no job of this test may be the next one's dispatch.
  await env.DB.prepare(
    `UPDATE compositions SET state = 'CANCELLED', lease_token = NULL WHERE organization_id LIKE 'whk-%' AND state IN ('QUEUED', 'PROCESSING')`,
  ).run();
  (env as { PUBLIC_BASE_URL?: string }).PUBLIC_BASE_URL = "";
  resetRenderer();
  vi.restoreAllMocks();
});

async function endpoint(org: string, body: Record<string, unknown> = {}) {
  const res = await call("POST", "/webhooks", { as: supervisor(org), body: { url: "https://ops.example/hooks", ...body } });
  expect(res.status, res.text).toBe(201);
  return res.json as { id: string; secret: string };
}

/** A composition handed to the fake renderer; returns its id and the job the renderer got. */
async function started(org: string, extra: Record<string, unknown> = { callbackUrl: CALLBACK }) {
  const conv = uid("conv");
  await ingest(conv, { as: service(org) });
  const created = await createComposition(conv, supervisor(org), { priority: 10, ...extra });
  expect(created.status, created.text).toBe(200);
  await runQueue();
  const job = fake.jobs.at(-1)!;
  expect(job.jobId).toBe(created.json.id);
  return { conv, id: created.json.id as string, job };
}

function report(job: RenderJob, body: Record<string, unknown>) {
  return call("POST", job.callback.url, {
    headers: { Authorization: `Bearer ${job.callback.token}` },
    body: { attempt: job.attempt, ...body },
  });
}

async function complete(job: RenderJob) {
  const row = (await findCompositionById(env.DB, job.jobId))!;
  await env.MEDIA.put(runOutputKey(row, job.callback.token), new Uint8Array(4096).fill(9));
  const res = await report(job, { event: "completed", durationMs: 62_500, size: 4096, engine: "native" });
  expect(res.status, res.text).toBe(200);
}

const byTarget = (seen: Received[], prefix: string) => seen.filter((r) => r.url.startsWith(prefix));

describe("status callbacks over a composition's life", () => {
  it("sends queued, started, progress and completed in order to the callbackUrl and the org's endpoint, signed", async () => {
    const org = uid("whk");
    const ep = await endpoint(org);
    const { conv, id, job } = await started(org);
    // The throttle wants 5 s since the start: move the start back instead of waiting.
    await env.DB.prepare(`UPDATE compositions SET started_at = started_at - 10000 WHERE id = ?1`).bind(id).run();
    expect((await report(job, { event: "progress", progress: 40 })).status).toBe(200);
    await complete(job);

    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    const types = (prefix: string) => byTarget(rx.seen, prefix).map((r) => r.json.type);
    const life = ["composition.queued", "composition.started", "composition.progress", "composition.completed"];
    expect(types("https://crm.example/")).toEqual(life);
    expect(types("https://ops.example/")).toEqual(life);
    // One event, one id, whichever target receives it.
    expect(byTarget(rx.seen, "https://crm.example/").map((r) => r.id)).toEqual(byTarget(rx.seen, "https://ops.example/").map((r) => r.id));

    const callbackSecret = (await call("GET", "/webhooks/callback-secret", { as: supervisor(org) })).json.secret as string;
    expect(callbackSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    for (const r of rx.seen) {
      const secret = r.url.startsWith("https://crm.example/") ? callbackSecret : ep.secret;
      expect(await verifySignature(secret, { id: r.id, timestamp: r.timestamp, signature: r.signature }, r.body)).toBe(true);
      expect(await independentlyVerify(secret, r)).toBe(true);
      expect(await independentlyVerify(secret === ep.secret ? callbackSecret : ep.secret, r)).toBe(false);
      expect(r.id).toMatch(/^evt_[0-9a-f]{32}$/);
      expect(Math.abs(Number(r.timestamp) - Date.now() / 1000)).toBeLessThan(60);
      expect(r.headers.get("content-type")).toBe("application/json");
      expect(Object.keys(r.json).sort()).toEqual(["data", "timestamp", "type"]);
    }

    const [queued, start, progress, done] = byTarget(rx.seen, "https://crm.example/").map((r) => r.json);
    expect(queued.data).toMatchObject({
      conversationId: conv,
      id,
      state: "QUEUED",
      type: "AUDIO",
      format: "MP3",
      progress: 0,
      duration: null,
    });
    expect(start.data.state).toBe("PROCESSING");
    expect(progress.data).toMatchObject({ state: "PROCESSING", progress: 40 });
    expect(done.data).toMatchObject({ state: "COMPLETED", progress: 100, duration: "PT1M2.5S", size: 4096, error: null });
    expect(Date.parse(done.timestamp)).toBeGreaterThan(0);
    for (const kind of ["inline", "attachment"] as const) {
      const link = done.data.links[kind];
      expect(link.url.startsWith(`${PUBLIC}/auvious.video/composition/api/player/${kind}/${conv}/${id}/`)).toBe(true);
      expect(Date.parse(link.validUntil)).toBeGreaterThan(Date.now() + 23 * 3600_000);
      expect((await call("GET", link.url)).status).toBe(200);
    }

    // Nothing internal leaves: no lease token, internal route, R2 key, receiver's own query or organization.
    for (const r of rx.seen) {
      for (const secretish of [job.callback.token, "/internal/", "http://example.com", "run-", "receiver-own-token", org, "lease"]) {
        expect(r.body).not.toContain(secretish);
      }
    }

    const log = await call("GET", `/${conv}/${id}/deliveries`, { as: supervisor(org) });
    expect(log.status, log.text).toBe(200);
    expect(log.json).toHaveLength(8);
    expect(log.json.map((d: { type: string }) => d.type)).toEqual(life.flatMap((t) => [t, t]));
    expect(log.json[0]).toMatchObject({
      target: "https://crm.example/compositions/cb?…",
      endpointId: null,
      status: "delivered",
      attempts: 1,
      lastStatus: 200,
      lastError: null,
    });
    expect(log.json[1]).toMatchObject({ target: "https://ops.example/hooks", endpointId: ep.id, status: "delivered" });
    expect(log.json[0].eventId).toBe(log.json[1].eventId);
    expect(log.text).not.toContain("receiver-own-token");
  });

  it("cancel, re-execute with a new callbackUrl (which replaces the old) and delete", async () => {
    const org = uid("whk");
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const id = (await createComposition(conv, supervisor(org), { callbackUrl: "https://a.example/cb" })).json.id;
    expect((await call("POST", `/${conv}/${id}/cancel`, { as: supervisor(org) })).status).toBe(200);
    const again = await call("POST", "/reexecute", {
      as: supervisor(org),
      body: { conversationId: conv, id, callbackUrl: "https://b.example/cb" },
    });
    expect(again.status, again.text).toBe(200);
    expect((await call("DELETE", `/${conv}/${id}/delete`, { as: supervisor(org) })).status).toBe(204);

    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    expect(byTarget(rx.seen, "https://a.example/").map((r) => r.json.type)).toEqual(["composition.queued", "composition.cancelled"]);
    expect(byTarget(rx.seen, "https://b.example/").map((r) => r.json.type)).toEqual([
      "composition.queued",
      "composition.cancelled",
      "composition.deleted",
    ]);
    expect(rx.seen.at(-1)!.json.data).toMatchObject({ id, conversationId: conv });
  });

  it("a re-executed composition announces its new start and completion, after its queued", async () => {
    const org = uid("whk");
    const first = await started(org);
    await complete(first.job);
    const again = await call("POST", "/reexecute", { as: supervisor(org), body: { conversationId: first.conv, id: first.id } });
    expect(again.status, again.text).toBe(200);
    await runQueue();
    const second = fake.jobs.at(-1)!;
    expect(second.jobId).toBe(first.id);
    await complete(second);
    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    expect(rx.seen.filter((r) => r.json.data.id === first.id).map((r) => r.json.type)).toEqual([
      "composition.queued",
      "composition.started",
      "composition.completed",
      "composition.queued",
      "composition.started",
      "composition.completed",
    ]);
  });

  it("numbers started before completed when the render finishes before the dispatcher records its start", async () => {
    const org = uid("whk");
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    // A renderer so fast that its completion report lands while start() has not yet returned.
    setRendererForTests({
      async start(job) {
        await complete(job);
        return { accepted: true, instance: "fast-1" };
      },
      async cancel() {},
    });
    const created = await createComposition(conv, supervisor(org), { priority: 10, callbackUrl: CALLBACK });
    expect(created.status, created.text).toBe(200);
    await runQueue();
    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    const mine = rx.seen.filter((r) => r.json.data.id === created.json.id).map((r) => r.json.type);
    expect(mine).toEqual(["composition.queued", "composition.started", "composition.completed"]);
    const rows = await deliveryRows(created.json.id);
    expect(rows.map((r) => [r.type, r.seq])).toEqual([
      ["composition.queued", 1],
      ["composition.started", 2],
      ["composition.completed", 3],
    ]);
  });

  it("sends failed only for the final failure, with the reason minus URLs and tokens; and for a lease lost on the last attempt", async () => {
    const org = uid("whk");
    const { id, job } = await started(org);
    expect((await report(job, { event: "failed", error: "network blip", retryable: true })).status).toBe(200);
    await runQueue();
    const second = fake.jobs.at(-1)!;
    const reason = `cannot read ${second.tracks[0]!.url} (Bearer ${second.callback.token}): corrupt EBML header`;
    expect((await report(second, { event: "failed", error: reason, retryable: false })).status).toBe(200);

    const other = await started(org);
    await env.DB.prepare(`UPDATE compositions SET attempts = 3, lease_expires_at = 1 WHERE id = ?1`).bind(other.id).run();
    await reclaim(env);

    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    const mine = rx.seen.filter((r) => r.json.data.id === id).map((r) => r.json);
    expect(mine.map((e) => e.type)).toEqual(["composition.queued", "composition.started", "composition.started", "composition.failed"]);
    expect(mine[3].data.state).toBe("FAILED");
    expect(mine[3].data.error).toBe("cannot read [url] (Bearer [redacted]): corrupt EBML header");
    const lost = rx.seen.filter((r) => r.json.data.id === other.id).map((r) => r.json);
    expect(lost.at(-1)).toMatchObject({
      type: "composition.failed",
      data: { state: "FAILED", error: "renderer lost the job (lease expired) on the last of 3 attempts" },
    });
  });
});

/** From now on a wake-up runs the JOBS consumer at once, before the code that sent it goes on. */
function consumeWakeUpsAtOnce(): void {
  let running = false;
  vi.spyOn(env.JOBS, "send").mockImplementation(async () => {
    if (!running) {
      running = true;
      await runQueue().finally(() => (running = false));
    }
    return {} as QueueSendResponse;
  });
}

const typesAndSeqs = async (id: string) => (await deliveryRows(id)).map((r) => [r.type, r.seq]);

describe("the outbox: events written with their transitions", () => {
  it("numbers queued before started when the queue consumer runs at once (request, re-execute, hook)", async () => {
    const org = uid("whk");
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    consumeWakeUpsAtOnce();
    const created = await createComposition(conv, supervisor(org), { priority: 10, callbackUrl: CALLBACK });
    expect(created.status, created.text).toBe(200);
    const id = created.json.id as string;
    expect(fake.jobs.at(-1)!.jobId).toBe(id);
    expect(await typesAndSeqs(id)).toEqual([
      ["composition.queued", 1],
      ["composition.started", 2],
    ]);

    await complete(fake.jobs.at(-1)!);
    const again = await call("POST", "/reexecute", { as: supervisor(org), body: { conversationId: conv, id } });
    expect(again.status, again.text).toBe(200);
    expect(fake.jobs.at(-1)!.attempt).toBe(1);
    expect((await typesAndSeqs(id)).slice(2)).toEqual([
      ["composition.completed", 3],
      ["composition.queued", 4],
      ["composition.started", 5],
    ]);
    await complete(fake.jobs.at(-1)!);

    const rule = await call("POST", "/hooks", {
      as: supervisor(org),
      body: { type: "AUDIO", resolution: "640x360", nameTemplate: "auto", callbackUrl: CALLBACK },
    });
    expect(rule.status, rule.text).toBe(201);
    const hooked = uid("conv");
    await ingest(hooked, { as: service(org) });
    const made = fake.jobs.at(-1)!;
    expect(made.jobId).not.toBe(id);
    expect(await typesAndSeqs(made.jobId)).toEqual([
      ["composition.queued", 1],
      ["composition.started", 2],
    ]);

    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    expect(rx.seen.filter((r) => r.json.data.id === made.jobId).map((r) => r.json.type)).toEqual([
      "composition.queued",
      "composition.started",
    ]);
  });

  it("a refused transition records no event: a duplicate, late or stale-lease report changes nothing and announces nothing", async () => {
    const org = uid("whk");
    const { conv, id, job } = await started(org);
    // The row as a report read it while its lease held; the throttle would let a progress event out.
    const asRead = (await findCompositionById(env.DB, id))!;
    const stale = { ...asRead, startedAt: asRead.startedAt! - 60_000 };
    type Report = Parameters<typeof applyReport>[3];
    const late: Report[] = [
      { event: "completed", attempt: job.attempt, durationMs: 62_500, size: 4096, engine: "native" },
      { event: "failed", attempt: job.attempt, error: "late", retryable: false },
      { event: "progress", attempt: job.attempt, progress: 90 },
    ];
    await complete(job);
    for (const r of late) expect(await applyReport(env, stale, job.callback.token, r)).toBeNull();
    expect((await typesAndSeqs(id)).map(([t]) => t)).toEqual(["composition.queued", "composition.started", "composition.completed"]);

    // Cancelled while the renderer still runs: its reports come under a lease that no longer exists.
    const other = await started(org);
    const running = (await findCompositionById(env.DB, other.id))!;
    expect((await call("POST", `/${other.conv}/${other.id}/cancel`, { as: supervisor(org) })).status).toBe(200);
    await env.MEDIA.put(runOutputKey(running, other.job.callback.token), new Uint8Array(16));
    for (const r of late)
      expect(await applyReport(env, { ...running, startedAt: running.startedAt! - 60_000 }, other.job.callback.token, r)).toBeNull();
    expect((await typesAndSeqs(other.id)).map(([t]) => t)).toEqual(["composition.queued", "composition.started", "composition.cancelled"]);
    expect((await call("GET", `/query/conversation/${conv}`, { as: supervisor(org) })).json.compositions[0].state).toBe("COMPLETED");
  });

  it("a claim that never reaches a renderer announces only its outcome: nothing when refused, failed when the job cannot be built", async () => {
    const org = uid("whk");
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const id = (await createComposition(conv, supervisor(org), { priority: 10, callbackUrl: CALLBACK })).json.id as string;
    fake.answer = { accepted: false, reason: "busy" };
    await runQueue();
    await runQueue();
    expect(await typesAndSeqs(id)).toEqual([["composition.queued", 1]]);
    fake.answer = { accepted: true, instance: "fake-1" };
    await runQueue();
    const rows = await deliveryRows(id);
    expect(rows.map((r) => [r.type, r.seq])).toEqual([
      ["composition.queued", 1],
      ["composition.started", 2],
    ]);
    expect(sent.filter((m) => m.body.deliveryId === rows[1]!.id)).toHaveLength(1);

    // A track added without media: the dispatcher cannot build the job and fails it at once.
    const broken = uid("conv");
    await ingest(broken, { as: service(org) });
    const doomed = (await createComposition(broken, supervisor(org), { priority: 10, callbackUrl: CALLBACK })).json.id as string;
    const put = await call("PUT", `/recordings/${broken}`, {
      as: service(org),
      body: recordingBody("alice", [{ id: "t-late", participantId: "late", started: at(10), audio: true, video: false }]),
    });
    expect(put.status, put.text).toBe(200);
    await runQueue();
    expect((await typesAndSeqs(doomed)).map(([t]) => t)).toEqual(["composition.queued", "composition.failed"]);
  });

  it("a completion whose event cannot be built is still recorded", async () => {
    const org = uid("whk");
    const { conv, id, job } = await started(org);
    const keys = env.MEDIA_SIGNING_KEYS;
    // Links cannot be signed, so the completed event (which carries them) cannot be made.
    (env as { MEDIA_SIGNING_KEYS?: string }).MEDIA_SIGNING_KEYS = "not-a-key";
    try {
      await complete(job);
    } finally {
      (env as { MEDIA_SIGNING_KEYS?: string }).MEDIA_SIGNING_KEYS = keys;
    }
    expect((await call("GET", `/query/conversation/${conv}`, { as: supervisor(org) })).json.compositions[0].state).toBe("COMPLETED");
    expect((await typesAndSeqs(id)).map(([t]) => t)).toEqual(["composition.queued", "composition.started"]);
  });
});

describe("delivery: retries, order, dedupe, dead letters", () => {
  it("retries a failing receiver with backoff, same webhook-id, and keeps later events behind", async () => {
    const { conv, id } = await started(uid("whk"));
    const rx = receiver((n) => (n < 2 ? 500 : 200));
    await drain(sent, { fetch: rx.fetch });
    expect(rx.seen.map((r) => r.json.type)).toEqual([
      "composition.queued",
      "composition.queued",
      "composition.queued",
      "composition.started",
    ]);
    expect(new Set(rx.seen.slice(0, 3).map((r) => r.id)).size).toBe(1);
    expect(rx.seen[3]!.id).not.toBe(rx.seen[0]!.id);
    // The body is identical on every attempt; only the timestamp and signature are per attempt.
    expect(new Set(rx.seen.slice(0, 3).map((r) => r.body)).size).toBe(1);
    const retries = sent.filter((s) => s.delaySeconds > 0 && s.body.attempt > 0).map((s) => s.delaySeconds);
    expect(retries).toEqual([5, 10]);

    const log = (await call("GET", `/${conv}/${id}/deliveries`, { as: supervisor("x") })).status;
    expect(log).toBe(404);
    const rows = await deliveryRows(id);
    expect(rows.map((r) => [r.type, r.status, r.attempts, r.last_status])).toEqual([
      ["composition.queued", "delivered", 3, 200],
      ["composition.started", "delivered", 1, 200],
    ]);
  });

  it("a timeout is a failed attempt; the receiver dedupes the repeat by webhook-id", async () => {
    await started(uid("whk"));
    const rx = receiver((n) => (n === 0 ? "timeout" : 200));
    await drain(sent, { fetch: rx.fetch });
    expect(rx.seen).toHaveLength(3);
    const unique = [...new Map(rx.seen.map((r) => [r.id, r.json.type])).values()];
    expect(unique).toEqual(["composition.queued", "composition.started"]);
    const row = (await env.DB.prepare(`SELECT * FROM webhook_deliveries WHERE event_id = ?1`).bind(rx.seen[0]!.id).first<any>())!;
    expect(row).toMatchObject({ status: "delivered", attempts: 2 });
  });

  it("a duplicated or superseded queue message never sends twice", async () => {
    await started(uid("whk"));
    const rx = receiver();
    const first = [...sent];
    await drain(sent, { fetch: rx.fetch });
    expect(rx.seen).toHaveLength(2);
    for (const s of first) expect(await deliverOne(env, s.body, { fetch: rx.fetch })).toBe("settled");
    expect(rx.seen).toHaveLength(2);
  });

  it("of two messages racing for the same attempt only one sends; an attempt cut short is resumed by the cron", async () => {
    const { id } = await started(uid("whk"));
    const [queued] = await deliveryRows(id);
    const msg = { kind: "deliver" as const, deliveryId: queued!.id, attempt: 0 };
    const rx = receiver(() => 500);
    const outcomes = await Promise.all([deliverOne(env, msg, { fetch: rx.fetch }), deliverOne(env, msg, { fetch: rx.fetch })]);
    expect(outcomes.sort()).toEqual(["retrying", "stale"]);
    expect(rx.seen).toHaveLength(1);

    // A consumer that died after taking attempt 2 leaves the row pending and overdue.
    await env.DB.prepare(`UPDATE webhook_deliveries SET attempts = 2, next_attempt_at = ?2 WHERE id = ?1`)
      .bind(queued!.id, Date.now() - 600_000)
      .run();
    sent.length = 0;
    expect(await sweepDeliveries(env)).toBe(1);
    expect(sent.map((s) => s.body)).toEqual([{ kind: "deliver", deliveryId: queued!.id, attempt: 2 }]);
    expect(await deliverOne(env, sent[0]!.body, { fetch: receiver().fetch })).toBe("delivered");
  });

  it("gives up after 24 h: the delivery is marked dead and the next event goes", async () => {
    const { id } = await started(uid("whk"));
    const rx = receiver(() => 503);
    const [queued] = await deliveryRows(id);
    expect(await deliverOne(env, { kind: "deliver", deliveryId: queued!.id, attempt: 0 }, { fetch: rx.fetch })).toBe("retrying");
    const late = queued!.created_at + RETRY_WINDOW_MS + 1000;
    sent.length = 0;
    expect(await deliverOne(env, { kind: "deliver", deliveryId: queued!.id, attempt: 1 }, { fetch: rx.fetch, now: late })).toBe("dead");
    const rows = await deliveryRows(id);
    expect(rows[0]).toMatchObject({ status: "dead", attempts: 2, last_status: 503, last_error: "HTTP 503: nope" });
    // The successor (started) was kicked at once rather than waiting for its next re-check.
    expect(sent.map((s) => s.body.deliveryId)).toEqual([rows[1]!.id]);
  });

  it("a rotated secret signs alongside the new one for its grace, then alone; graceSeconds 0 ends it at once", async () => {
    const org = uid("whk");
    const ep = await endpoint(org);
    const rotated = await call("POST", `/webhooks/${ep.id}/rotate-secret`, { as: supervisor(org) });
    expect(rotated.status, rotated.text).toBe(200);
    const until = Date.parse(rotated.json.previousSecretValidUntil);
    expect(until - Date.now()).toBeGreaterThan(86_400_000 - 60_000);
    expect((await call("GET", `/webhooks/${ep.id}`, { as: supervisor(org) })).json.previousSecretValidUntil).toBe(
      rotated.json.previousSecretValidUntil,
    );

    await started(org, {});
    const during = receiver();
    await drain(sent, { fetch: during.fetch });
    expect(during.seen.length).toBeGreaterThan(0);
    for (const r of during.seen) {
      // Two signatures: receivers holding either secret accept the delivery.
      expect(r.signature.split(" ")).toHaveLength(2);
      expect(await independentlyVerify(ep.secret, r)).toBe(true);
      expect(await independentlyVerify(rotated.json.secret, r)).toBe(true);
    }

    // After the grace, the new secret alone.
    sent.length = 0;
    await started(org, {});
    const after = receiver();
    await drain(sent, { fetch: after.fetch, now: until + 1000 });
    expect(after.seen.length).toBeGreaterThan(0);
    for (const r of after.seen) {
      expect(r.signature.split(" ")).toHaveLength(1);
      expect(await independentlyVerify(rotated.json.secret, r)).toBe(true);
      expect(await independentlyVerify(ep.secret, r)).toBe(false);
    }

    // A second rotation with a grace while this one's runs would drop a secret receivers may hold.
    const again = await call("POST", `/webhooks/${ep.id}/rotate-secret`, { as: supervisor(org) });
    expect(again.status, again.text).toBe(409);
    expect(again.json.detail).toContain("graceSeconds 0");

    // A leaked secret: rotate with no grace, and the one before stops signing now.
    const leaked = await call("POST", `/webhooks/${ep.id}/rotate-secret`, { as: supervisor(org), body: { graceSeconds: 0 } });
    expect(leaked.status, leaked.text).toBe(200);
    expect(leaked.json.previousSecretValidUntil).toBeUndefined();
    sent.length = 0;
    await started(org, {});
    const now = receiver();
    await drain(sent, { fetch: now.fetch });
    for (const r of now.seen) {
      expect(r.signature.split(" ")).toHaveLength(1);
      expect(await independentlyVerify(leaked.json.secret, r)).toBe(true);
      expect(await independentlyVerify(rotated.json.secret, r)).toBe(false);
    }
  });

  it("refuses a bad graceSeconds, naming it, and keeps the secret", async () => {
    const org = uid("whk");
    const ep = await endpoint(org);
    for (const body of [
      { graceSeconds: -1 },
      { graceSeconds: 1.5 },
      { graceSeconds: "86400" },
      { graceSeconds: 8 * 86400 },
      { grace: 10 },
    ]) {
      const res = await call("POST", `/webhooks/${ep.id}/rotate-secret`, { as: supervisor(org), body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.text).toMatch(/grace/);
    }
    await started(org, {});
    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    for (const r of rx.seen) expect(await independentlyVerify(ep.secret, r)).toBe(true);
  });

  it("one failing target does not hold back another", async () => {
    const org = uid("whk");
    await endpoint(org);
    await started(org);
    const rx = receiver((_n, r) => (r.url.startsWith("https://crm.example/") ? 500 : 200));
    await drain(sent, { fetch: rx.fetch }, 3);
    expect(byTarget(rx.seen, "https://ops.example/").map((r) => r.json.type)).toEqual(["composition.queued", "composition.started"]);
    expect(byTarget(rx.seen, "https://crm.example/").every((r) => r.json.type === "composition.queued")).toBe(true);
  });

  it("re-checks the target at delivery: a URL no longer allowed, a deleted or disabled endpoint → dead without a request", async () => {
    const org = uid("whk");
    const a = await endpoint(org, { url: "https://a.example/h" });
    const b = await endpoint(org, { url: "https://b.example/h" });
    const c = await endpoint(org, { url: "https://c.example/h" });
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const id = (await createComposition(conv, supervisor(org))).json.id;
    await env.DB.prepare(`UPDATE webhook_deliveries SET target_url = 'http://127.0.0.1:9/h' WHERE endpoint_id = ?1`).bind(a.id).run();
    expect((await call("DELETE", `/webhooks/${b.id}`, { as: supervisor(org) })).status).toBe(204);
    expect((await call("PATCH", `/webhooks/${c.id}`, { as: supervisor(org), body: { enabled: false } })).status).toBe(200);
    const rx = receiver();
    await drain(sent, { fetch: rx.fetch });
    expect(rx.seen).toHaveLength(0);
    const errors = (await deliveryRows(id)).map((r) => [r.status, r.attempts, r.last_error]);
    expect(errors).toEqual([
      ["dead", 0, "not sent: the target is not allowed: it must not point to a loopback address"],
      ["dead", 0, "not sent: the webhook endpoint was deleted"],
      ["dead", 0, "not sent: the webhook endpoint is disabled"],
    ]);
  });

  it("the Worker's queue() routes composition-webhooks batches to the deliverer", async () => {
    await started(uid("whk"));
    const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("ok"));
    const batch = createMessageBatch<WebhookMessage>(
      "composition-webhooks",
      sent.map((s, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body: s.body })),
    );
    await worker.queue(batch, env);
    expect(spy.mock.calls.map((c) => String(c[0]))).toEqual([CALLBACK]);
  });

  it("the cron re-queues a delivery whose message was lost, but not one waiting its turn, and purges old ones", async () => {
    const { id } = await started(uid("whk"));
    const [queued, begun] = await deliveryRows(id);
    await env.DB.prepare(
      `UPDATE webhook_deliveries SET created_at = created_at - 600000, next_attempt_at = next_attempt_at - 600000 WHERE composition_id = ?1`,
    )
      .bind(id)
      .run();
    expect(await sweepDeliveries(env, Date.now() - 590_000)).toBe(0);
    sent.length = 0;
    expect(await sweepDeliveries(env)).toBe(1);
    expect(sent.map((s) => s.body.deliveryId)).toEqual([queued!.id]);
    await env.DB.prepare(`UPDATE webhook_deliveries SET status = 'delivered', created_at = 1 WHERE id = ?1`).bind(queued!.id).run();
    await sweepDeliveries(env);
    expect((await deliveryRows(id)).map((r) => r.id)).toEqual([begun!.id]);
  });
});
