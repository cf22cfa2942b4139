import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { findCompositionById } from "../../worker/db/compositions";
import { heartbeat } from "../../worker/db/transitions";
import { OVERDUE_MS, sweepDeliveries } from "../../worker/webhooks/deliver";
import { announcer } from "../../worker/webhooks/events";
import { signatureHeaders, verifySignature, generateSecret } from "../../worker/webhooks/signature";
import { targetRefusal } from "../../worker/webhooks/targets";
import { agent, call, captureQueue, createComposition, fields, ingest, service, supervisor, uid } from "./helpers";
import { captureWebhooks, deliveryRows, type Sent } from "./webhook-helpers";

let sent: Sent[];
beforeEach(() => {
  captureQueue();
  sent = captureWebhooks();
});
afterEach(() => vi.restoreAllMocks());

describe("webhook endpoints (/webhooks)", () => {
  it("create, list, read, patch, rotate and delete — secrets shown only when made", async () => {
    const org = uid("wha");
    const sue = supervisor(org);
    const made = await call("POST", "/webhooks", {
      as: sue,
      body: { url: "https://ops.example/in", events: ["composition.failed", "composition.completed", "composition.failed"] },
    });
    expect(made.status, made.text).toBe(201);
    expect(Object.keys(made.json).sort()).toEqual(["created", "enabled", "events", "id", "secret", "updated", "url"]);
    expect(made.json).toMatchObject({
      url: "https://ops.example/in",
      events: ["composition.completed", "composition.failed"],
      enabled: true,
    });
    expect(made.json.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const id = made.json.id;

    const all = await call("POST", "/webhooks", { as: sue, body: { url: "https://all.example/in", enabled: false } });
    expect(all.json.events).toHaveLength(7);
    const list = await call("GET", "/webhooks", { as: sue });
    expect(list.status).toBe(200);
    expect(list.json.map((e: { id: string }) => e.id)).toEqual([id, all.json.id]);
    expect(list.text).not.toContain("whsec_");
    const one = await call("GET", `/webhooks/${id}`, { as: sue });
    expect(one.json).toEqual({ ...made.json, secret: undefined, updated: one.json.updated });

    const patched = await call("PATCH", `/webhooks/${id}`, {
      as: sue,
      body: { url: "https://ops.example/v2", events: null, enabled: false },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json).toMatchObject({ url: "https://ops.example/v2", enabled: false });
    expect(patched.json.events).toHaveLength(7);
    expect(patched.json.secret).toBeUndefined();

    const rotated = await call("POST", `/webhooks/${id}/rotate-secret`, { as: sue });
    expect(rotated.status).toBe(200);
    expect(rotated.json.secret).toMatch(/^whsec_/);
    expect(rotated.json.secret).not.toBe(made.json.secret);

    expect((await call("DELETE", `/webhooks/${id}`, { as: sue })).status).toBe(204);
    expect((await call("GET", `/webhooks/${id}`, { as: sue })).status).toBe(404);
    expect((await call("DELETE", `/webhooks/${id}`, { as: sue })).status).toBe(404);
  });

  it("is SUPERVISOR-only and organization-scoped", async () => {
    const org = uid("wha");
    const id = (await call("POST", "/webhooks", { as: supervisor(org), body: { url: "https://ops.example/in" } })).json.id;
    for (const who of [agent(org), service(org)]) {
      expect((await call("GET", "/webhooks", { as: who })).status).toBe(403);
      expect((await call("POST", "/webhooks", { as: who, body: { url: "https://x.example/" } })).status).toBe(403);
      expect((await call("GET", "/webhooks/callback-secret", { as: who })).status).toBe(403);
      expect((await call("DELETE", `/webhooks/${id}`, { as: who })).status).toBe(403);
    }
    expect((await call("GET", "/webhooks")).status).toBe(401);
    const stranger = supervisor(uid("wha"));
    expect((await call("GET", `/webhooks/${id}`, { as: stranger })).status).toBe(404);
    expect((await call("PATCH", `/webhooks/${id}`, { as: stranger, body: { enabled: false } })).status).toBe(404);
    expect((await call("POST", `/webhooks/${id}/rotate-secret`, { as: stranger })).status).toBe(404);
    expect((await call("DELETE", `/webhooks/${id}`, { as: stranger })).status).toBe(404);
    expect((await call("GET", "/webhooks", { as: stranger })).json).toEqual([]);
    expect((await call("GET", `/webhooks/${id}`, { as: supervisor(org) })).status).toBe(200);
  });

  it("refuses non-https, loopback, private and credentialed URLs and unknown events, naming the field", async () => {
    const sue = supervisor(uid("wha"));
    for (const url of [
      "http://ops.example/in",
      "http://127.0.0.1:8080/in",
      "https://localhost/in",
      "https://10.1.2.3/in",
      "https://[fd00::1]/in",
      "https://169.254.169.254/latest",
      "https://user:pw@ops.example/in",
      "ftp://ops.example/in",
      "not a url",
      "https://intranet/in",
      "https://db.internal/x",
    ]) {
      const res = await call("POST", "/webhooks", { as: sue, body: { url } });
      expect([url, res.status, fields(res)]).toEqual([url, 400, ["body.url"]]);
    }
    const events = await call("POST", "/webhooks", { as: sue, body: { url: "https://ops.example/in", events: ["composition.exploded"] } });
    expect([events.status, fields(events)]).toEqual([400, ["body.events.0"]]);
    const extra = await call("POST", "/webhooks", { as: sue, body: { url: "https://ops.example/in", secret: "mine" } });
    expect([extra.status, fields(extra)]).toEqual([400, ["body.secret"]]);
    const id = (await call("POST", "/webhooks", { as: sue, body: { url: "https://ops.example/in" } })).json.id;
    const patch = await call("PATCH", `/webhooks/${id}`, { as: sue, body: { url: "http://ops.example/in" } });
    expect([patch.status, fields(patch)]).toEqual([400, ["body.url"]]);
  });

  it("the callbackUrl of /request and /reexecute follows the same rules", async () => {
    const org = uid("wha");
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    for (const callbackUrl of ["http://crm.example/cb", "http://127.0.0.1:9000/cb", "https://192.168.1.10/cb", 42]) {
      const res = await createComposition(conv, supervisor(org), { callbackUrl });
      expect([res.status, fields(res)]).toEqual([400, ["body.callbackUrl"]]);
    }
    const ok = await createComposition(conv, supervisor(org), { callbackUrl: "https://crm.example/cb" });
    expect(ok.status, ok.text).toBe(200);
    expect((await findCompositionById(env.DB, ok.json.id))!.callbackUrl).toBe("https://crm.example/cb");
    await call("POST", `/${conv}/${ok.json.id}/cancel`, { as: supervisor(org) });
    const bad = await call("POST", "/reexecute", {
      as: supervisor(org),
      body: { conversationId: conv, id: ok.json.id, callbackUrl: "http://crm.example/cb" },
    });
    expect([bad.status, fields(bad)]).toEqual([400, ["body.callbackUrl"]]);
    const keep = await call("POST", "/reexecute", { as: supervisor(org), body: { conversationId: conv, id: ok.json.id } });
    expect(keep.status).toBe(200);
    expect((await findCompositionById(env.DB, ok.json.id))!.callbackUrl).toBe("https://crm.example/cb");
  });

  it("allows http only to loopback, and only when ALLOW_LOOPBACK_CALLBACKS is on", () => {
    for (const url of ["http://127.0.0.1:8080/in", "http://localhost:3000/x", "http://[::1]:9/x", "https://127.0.0.2/x"]) {
      expect(targetRefusal(url, true)).toBeNull();
      expect(targetRefusal(url, false)).not.toBeNull();
    }
    expect(targetRefusal("http://ops.example/in", true)).toMatch(/https/);
    expect(targetRefusal("https://ops.example/in", false)).toBeNull();
    expect(targetRefusal("https://[2001:db8::1]/in", false)).toBeNull();
    expect(targetRefusal("https://10.0.0.1/in", true)).toMatch(/private/);
  });

  it("gives each organization its own, stable callback secret", async () => {
    const a = await call("GET", "/webhooks/callback-secret", { as: supervisor("wha-a") });
    const again = await call("GET", "/webhooks/callback-secret", { as: supervisor("wha-a", "someone-else") });
    const b = await call("GET", "/webhooks/callback-secret", { as: supervisor("wha-b") });
    expect(a.status).toBe(200);
    expect(a.json.secret).toMatch(/^whsec_/);
    expect(again.json.secret).toBe(a.json.secret);
    expect(b.json.secret).not.toBe(a.json.secret);
  });
});

describe("events and the delivery log", () => {
  it("each endpoint gets only the events it asked for; disabled endpoints none", async () => {
    const org = uid("wha");
    const sue = supervisor(org);
    const done = (await call("POST", "/webhooks", { as: sue, body: { url: "https://done.example/", events: ["composition.cancelled"] } }))
      .json.id;
    await call("POST", "/webhooks", { as: sue, body: { url: "https://off.example/", enabled: false } });
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const id = (await createComposition(conv, sue)).json.id;
    await call("POST", `/${conv}/${id}/cancel`, { as: sue });
    const rows = await deliveryRows(id);
    expect(rows.map((r) => [r.type, r.endpoint_id])).toEqual([["composition.cancelled", done]]);
    expect(sent.map((s) => s.body.deliveryId)).toEqual([rows[0]!.id]);
  });

  it("throttles progress: at most one per 5 s and per 10 %, even when reports race", async () => {
    const org = uid("wha");
    await call("POST", "/webhooks", { as: supervisor(org), body: { url: "https://ops.example/" } });
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const id = (await createComposition(conv, supervisor(org))).json.id;
    const t0 = Date.now();
    await env.DB.prepare(`UPDATE compositions SET state = 'PROCESSING', lease_token = 'tok', started_at = ?2 WHERE id = ?1`)
      .bind(id, t0)
      .run();
    const beat = async (leaseToken: string, progress: number, ms: number) => {
      const row = (await findCompositionById(env.DB, id))!;
      return heartbeat(env.DB, row, leaseToken, { progress, etaSeconds: null }, t0 + ms, 60_000, announcer(env));
    };
    // Three reports racing: how many of them recorded an event.
    const at = async (progress: number, ms: number) =>
      (await Promise.all([1, 2, 3].map(() => beat("tok", progress, ms)))).filter((b) => b!.deliveries.length > 0).length;
    expect(await at(50, 1000)).toBe(0); // too soon after the start
    expect(await at(50, 5000)).toBe(1); // three racing reports, one event
    expect(await at(55, 20_000)).toBe(0); // less than 10 % more
    expect(await at(65, 9000)).toBe(0); // 10 % more but within 5 s of the last
    expect(await at(65, 10_000)).toBe(1);
    expect(await beat("other-lease", 90, 60_000)).toBeNull();
    const progress = (await deliveryRows(id))
      .filter((r) => r.type === "composition.progress")
      .map((r) => JSON.parse(r.payload).data.progress);
    expect(progress).toEqual([50, 65]);
  });

  it("the delivery log follows the composition's visibility", async () => {
    const org = uid("wha");
    const conv = uid("conv");
    await ingest(conv, { as: service(org), agentId: "alice" });
    const id = (await createComposition(conv, supervisor(org), { callbackUrl: "https://crm.example/cb?key=SECRET" })).json.id;
    const path = `/${conv}/${id}/deliveries`;
    expect((await call("GET", path, { as: supervisor(org) })).json).toHaveLength(1);
    const own = await call("GET", path, { as: agent(org, "alice") });
    expect(own.status).toBe(200);
    expect(own.json[0]).toMatchObject({
      type: "composition.queued",
      target: "https://crm.example/cb?…",
      status: "pending",
      attempts: 0,
      delivered: null,
    });
    expect(own.text).not.toContain("SECRET");
    expect((await call("GET", path, { as: agent(org, "bob") })).status).toBe(404);
    expect((await call("GET", path, { as: supervisor(uid("wha")) })).status).toBe(404);
    expect((await call("GET", path, { as: service(org) })).status).toBe(403);
  });

  it("an event emission failure never breaks the transition", async () => {
    const org = uid("wha");
    await call("POST", "/webhooks", { as: supervisor(org), body: { url: "https://ops.example/" } });
    vi.spyOn(env.WEBHOOKS, "sendBatch").mockRejectedValue(new Error("queue down"));
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const res = await createComposition(conv, supervisor(org));
    expect(res.status, res.text).toBe(200);
    // Recorded though not queued: the cron's sweep sends it once overdue.
    const rows = await deliveryRows(res.json.id);
    expect(rows.map((r) => r.status)).toEqual(["pending"]);
    sent.length = 0;
    await sweepDeliveries(env, rows[0]!.next_attempt_at + OVERDUE_MS + 1);
    expect(sent.map((s) => s.body).filter((b) => b.deliveryId === rows[0]!.id)).toEqual([
      { kind: "deliver", deliveryId: rows[0]!.id, attempt: 0 },
    ]);
  });

  it("a transition and its event are written together or not at all", async () => {
    const org = uid("wha");
    await call("POST", "/webhooks", { as: supervisor(org), body: { url: "https://ops.example/" } });
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const id = (await createComposition(conv, supervisor(org))).json.id;
    // The outbox refuses this organization's rows: the cancel that would write one fails whole.
    const trigger = `outbox_down_${org.replace(/\W/g, "_")}`;
    await env.DB.prepare(
      `CREATE TRIGGER ${trigger} BEFORE INSERT ON webhook_deliveries WHEN NEW.organization_id = '${org}' BEGIN SELECT RAISE(ABORT, 'outbox down'); END`,
    ).run();
    try {
      const refused = await call("POST", `/${conv}/${id}/cancel`, { as: supervisor(org) });
      expect(refused.status).toBe(500);
      expect(refused.headers.get("content-type")).toContain("application/problem+json");
    } finally {
      await env.DB.prepare(`DROP TRIGGER ${trigger}`).run();
    }
    const listed = await call("GET", `/query/conversation/${conv}`, { as: supervisor(org) });
    expect(listed.json.compositions.map((c: { state: string }) => c.state)).toEqual(["QUEUED"]);
    expect((await deliveryRows(id)).map((r) => r.type)).toEqual(["composition.queued"]);
    // Once the outbox takes rows again, the same command goes through with its event.
    expect((await call("POST", `/${conv}/${id}/cancel`, { as: supervisor(org) })).status).toBe(200);
    expect((await deliveryRows(id)).map((r) => r.type)).toEqual(["composition.queued", "composition.cancelled"]);
  });
});

describe("Standard Webhooks signatures", () => {
  it("verifies its own signatures and refuses tampering, stale timestamps and other secrets", async () => {
    const secret = generateSecret();
    const body = JSON.stringify({ type: "composition.completed", timestamp: "2026-11-20T10:00:00.000Z", data: { id: "x" } });
    const now = Date.now();
    const h = await signatureHeaders(secret, "evt_1", body, now);
    const parts = { id: h["webhook-id"]!, timestamp: h["webhook-timestamp"]!, signature: h["webhook-signature"]! };
    expect(parts.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(await verifySignature(secret, parts, body, now)).toBe(true);
    expect(await verifySignature(secret, { ...parts, signature: `v1,bm9wZQ== ${parts.signature}` }, body, now)).toBe(true);
    expect(await verifySignature(secret, parts, body + " ", now)).toBe(false);
    expect(await verifySignature(secret, { ...parts, id: "evt_2" }, body, now)).toBe(false);
    expect(await verifySignature(secret, parts, body, now + 10 * 60_000)).toBe(false);
    expect(await verifySignature(generateSecret(), parts, body, now)).toBe(false);
    expect(await verifySignature(secret, { ...parts, signature: parts.signature.replace("v1,", "v2,") }, body, now)).toBe(false);
  });

  it("matches the Standard Webhooks reference vector", async () => {
    // From the standard-webhooks reference libraries' test suite.
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const timestamp = 1614265330;
    const body = '{"test": 2432232314}';
    const h = await signatureHeaders(secret, id, body, timestamp * 1000);
    expect(h["webhook-signature"]).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });
});
