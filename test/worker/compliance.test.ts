// Retention policies, legal holds and the compliance audit log, over the API and the cron's pass.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { applyRetention } from "../../worker/jobs/retention-run";
import { outputKey } from "../../worker/media/keys";
import { agent, call, captureQueue, createComposition, fields, ingest, service, setState, supervisor, uid } from "./helpers";
import { captureWebhooks, deliveryRows } from "./webhook-helpers";

beforeEach(() => {
  captureQueue();
  captureWebhooks();
});
afterEach(() => vi.restoreAllMocks());

/** An organization with one recording (stored media) and one COMPLETED composition with an output object. */
async function completedCall(org = uid("cmp")) {
  const conv = uid("conv");
  await ingest(conv, { as: service(org) });
  const created = await createComposition(conv, supervisor(org), { callbackUrl: "https://crm.example/cb" });
  expect(created.status, created.text).toBe(200);
  const id = created.json.id as string;
  const key = outputKey(org, conv, id, "run-test", "mp3");
  await env.MEDIA.put(key, new Uint8Array(64).fill(1));
  await setState(id, "COMPLETED", { completedAt: Date.now(), durationMs: 1000, outputKey: key });
  return { org, conv, id, key };
}

const SECOND = 1000;
const policy = (org: string, body: unknown) => call("PUT", "/policies/retention", { as: supervisor(org), body });
const audit = async (org: string) => (await call("GET", "/audit?size=100", { as: supervisor(org) })).json;

describe("retention policy", () => {
  it("is read back as written, per organization, and audited", async () => {
    const org = uid("pol");
    expect((await call("GET", "/policies/retention", { as: supervisor(org) })).json).toMatchObject({
      compositions: null,
      recordings: null,
    });
    const put = await policy(org, { compositions: "P90D", recordings: "PT30S" });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toMatchObject({ compositions: "P90D", recordings: "PT30S", updatedBy: "sue" });
    expect((await call("GET", "/policies/retention", { as: supervisor(org) })).json.compositions).toBe("P90D");
    expect((await call("GET", "/policies/retention", { as: supervisor(uid("other")) })).json.compositions).toBeNull();
    const log = await audit(org);
    expect(log.content[0]).toMatchObject({ action: "retention.policy.set", actor: { sub: "sue" }, details: { compositions: "P90D" } });
  });

  it.each([["P1Y"], ["90 days"], ["P"], ["PT"], ["-P1D"], ["PT0S"], ["P9999D"], [30]])("refuses %j, naming the field", async (bad) => {
    const org = uid("pol");
    const res = await policy(org, { compositions: bad, recordings: null });
    expect(res.status).toBe(400);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
    expect(fields(res)).toContain("body.compositions");
    expect((await call("GET", "/policies/retention", { as: supervisor(org) })).json.compositions).toBeNull();
  });

  it("is a SUPERVISOR's: an AGENT or SERVICE is refused", async () => {
    expect((await call("PUT", "/policies/retention", { as: agent(), body: { compositions: null, recordings: null } })).status).toBe(403);
    expect((await call("GET", "/audit", { as: service() })).status).toBe(403);
  });
});

describe("the cron's retention pass", () => {
  it("deletes an expired composition (objects, row, composition.deleted) on time and not before, and audits it", async () => {
    const { org, conv, id, key } = await completedCall();
    expect((await policy(org, { compositions: "PT30S", recordings: null })).status).toBe(200);
    await applyRetention(env, Date.now() + 20 * SECOND);
    expect((await call("GET", `/query/conversation/${conv}`, { as: supervisor(org) })).json.compositions).toHaveLength(1);
    expect(await env.MEDIA.head(key)).not.toBeNull();

    await applyRetention(env, Date.now() + 31 * SECOND);
    expect(await env.MEDIA.head(key)).toBeNull();
    expect((await call("GET", `/query/conversation/${conv}`, { as: supervisor(org) })).json.compositions ?? []).toHaveLength(0);
    expect((await deliveryRows(id)).map((d) => d.type)).toContain("composition.deleted");
    const entry = (await audit(org)).content.find((e: any) => e.action === "retention.deleted");
    expect(entry).toMatchObject({ actor: { sub: "retention", role: "SYSTEM" }, details: { compositions: [id], recordings: [] } });
  });

  it("deletes an expired recording's tracks (objects and rows)", async () => {
    const org = uid("rec");
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const before = await call("GET", `/recordings/${conv}`, { as: service(org) });
    expect(before.status).toBe(200);
    expect((await policy(org, { compositions: null, recordings: "PT30S" })).status).toBe(200);
    await applyRetention(env, Date.now() + 31 * SECOND);
    expect((await call("GET", `/recordings/${conv}`, { as: service(org) })).status).toBe(404);
    const left = await env.MEDIA.list({ prefix: `${org}/` });
    expect(left.objects.filter((o) => o.key.includes("/tracks/"))).toEqual([]);
    expect((await audit(org)).content[0]).toMatchObject({ action: "retention.deleted", details: { recordings: [conv] } });
  });
});

describe("legal hold", () => {
  it("stops retention and a manual delete (409 naming the hold) until released; both are audited", async () => {
    const { org, conv, id, key } = await completedCall();
    const placed = await call("PUT", `/recordings/${conv}/hold`, { as: supervisor(org), body: { reason: "Case 2026-114" } });
    expect(placed.status, placed.text).toBe(200);
    expect(placed.json).toMatchObject({ conversationId: conv, reason: "Case 2026-114", placedBy: "sue" });
    expect((await call("GET", `/recordings/${conv}/hold`, { as: supervisor(org) })).json.reason).toBe("Case 2026-114");

    await policy(org, { compositions: "PT30S", recordings: "PT30S" });
    await applyRetention(env, Date.now() + 3600 * SECOND);
    expect(await env.MEDIA.head(key)).not.toBeNull();
    expect((await call("GET", `/recordings/${conv}`, { as: service(org) })).status).toBe(200);

    const refused = await call("DELETE", `/${conv}/${id}/delete`, { as: supervisor(org) });
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toContain("legal hold");
    expect(refused.json.detail).toContain("Case 2026-114");
    expect(await env.MEDIA.head(key)).not.toBeNull();

    const released = await call("DELETE", `/recordings/${conv}/hold`, { as: supervisor(org), body: { reason: "Case closed" } });
    expect(released.status).toBe(204);
    expect((await call("GET", `/recordings/${conv}/hold`, { as: supervisor(org) })).status).toBe(404);
    expect((await call("DELETE", `/${conv}/${id}/delete`, { as: supervisor(org) })).status).toBe(204);
    const actions = (await audit(org)).content.map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["hold.placed", "hold.released"]));
    const entry = (await audit(org)).content.find((e: any) => e.action === "hold.released");
    expect(entry).toMatchObject({ conversationId: conv, details: { reason: "Case closed" } });
  });

  it("refuses a hold without a reason or on an unknown conversation, and a release of no hold", async () => {
    const org = uid("hold");
    const conv = uid("conv");
    await ingest(conv, { as: service(org) });
    const noReason = await call("PUT", `/recordings/${conv}/hold`, { as: supervisor(org), body: { reason: " " } });
    expect(noReason.status).toBe(400);
    expect(fields(noReason)).toContain("body.reason");
    expect((await call("PUT", `/recordings/nope/hold`, { as: supervisor(org), body: { reason: "x" } })).status).toBe(404);
    expect((await call("DELETE", `/recordings/${conv}/hold`, { as: supervisor(org), body: { reason: "x" } })).status).toBe(404);
    expect((await audit(org)).content).toEqual([]);
  });
});

describe("audit log", () => {
  it("pages newest first and shows only the caller's organization", async () => {
    const org = uid("aud");
    for (const c of ["P1D", "P2D", "P3D"]) await policy(org, { compositions: c, recordings: null });
    const first = await call("GET", "/audit?page=0&size=2", { as: supervisor(org) });
    expect(first.json).toMatchObject({ number: 0, size: 2, totalElements: 3, totalPages: 2, first: true, last: false });
    expect(first.json.content.map((e: any) => e.details.compositions)).toEqual(["P3D", "P2D"]);
    const second = await call("GET", "/audit?page=1&size=2", { as: supervisor(org) });
    expect(second.json.content.map((e: any) => e.details.compositions)).toEqual(["P1D"]);
    expect((await call("GET", "/audit", { as: supervisor(uid("else")) })).json.totalElements).toBe(0);
    expect(fields(await call("GET", "/audit?size=0", { as: supervisor(org) }))).toContain("query.size");
  });
});
