import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireHooks } from "../../worker/hooks/fire";
import { agent, at, call, captureQueue, fields, ingestTracks, service, supervisor, uid, uploadTrack, type TrackDef } from "./helpers";
import { captureWebhooks, type Sent } from "./webhook-helpers";

let sent: Sent[];
let jobs: unknown[];
beforeEach(() => {
  jobs = captureQueue();
  sent = captureWebhooks();
});
afterEach(() => vi.restoreAllMocks());

const AV: TrackDef = { id: "t-agent", participantId: "agent", started: at(0), stopped: at(60), audio: true, video: true };
const A: TrackDef = { id: "t-customer", participantId: "customer", started: at(5), audio: true, video: false };
const V: TrackDef = { id: "t-screen", participantId: "agent", started: at(10), stopped: at(40), audio: false, video: true };

const recording = (tracks: TrackDef[], agentId = "alice") => ({ agentId, started: at(0), stopped: at(60), tracks });
const bytes = new Uint8Array(1024).fill(5);

async function rule(org: string, body: Record<string, unknown> = {}) {
  const res = await call("POST", "/hooks", {
    as: supervisor(org),
    body: { type: "AUDIO", resolution: "640x360", nameTemplate: "Call {conversationId}", ...body },
  });
  expect(res.status, res.text).toBe(201);
  return res.json as { id: string };
}

async function compositionsOf(org: string, conv: string) {
  const { results } = await env.DB.prepare(
    `SELECT * FROM compositions WHERE organization_id = ?1 AND conversation_id = ?2 ORDER BY created_at`,
  )
    .bind(org, conv)
    .all<Record<string, any>>();
  return results;
}

async function upload(org: string, conv: string, trackId: string) {
  const res = await uploadTrack(conv, trackId, bytes, { as: service(org) });
  expect(res.status, res.text).toBe(200);
}

describe("composition hooks", () => {
  it("fires exactly once when the last audio track lands, whatever the order and repeats", async () => {
    const org = uid("hk");
    const r = await rule(org, {
      priority: 7,
      nameTemplate: "Call {conversationId} by {agentId} at {started}",
      callbackUrl: "https://crm.example/auto",
    });
    const conv = uid("conv");
    await ingestTracks(conv, recording([AV, A]), { as: service(org), upload: [] });
    await upload(org, conv, "t-customer");
    await upload(org, conv, "t-customer");
    expect(await compositionsOf(org, conv)).toHaveLength(0);
    await upload(org, conv, "t-agent");
    await upload(org, conv, "t-agent");
    await ingestTracks(conv, recording([AV, A]), { as: service(org), upload: [] });
    await upload(org, conv, "t-customer");

    const made = await compositionsOf(org, conv);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatchObject({
      user_id: `hook:${r.id}`,
      name: `Call ${conv} by alice at ${at(0)}`,
      type: "AUDIO",
      format: "MP3",
      layout: "GRID",
      resolution: "640x360",
      priority: 7,
      state: "QUEUED",
      callback_url: "https://crm.example/auto",
    });
    expect(jobs.length).toBeGreaterThan(0);
    const { results: deliveries } = await env.DB.prepare(`SELECT type, target_url FROM webhook_deliveries WHERE composition_id = ?1`)
      .bind(made[0]!.id)
      .all();
    expect(deliveries).toEqual([{ type: "composition.queued", target_url: "https://crm.example/auto" }]);
    expect(sent).toHaveLength(1);
    // Supervisors see it like any other composition.
    const q = await call("GET", `/query/conversation/${conv}`, { as: supervisor(org) });
    expect(q.json.compositions.map((c: { userId: string }) => c.userId)).toEqual([`hook:${r.id}`]);
  });

  it("VIDEO waits for every audio and video track, and never fires for a recording without video", async () => {
    const org = uid("hk");
    await rule(org, { type: "VIDEO", resolution: "1280x720" });
    const conv = uid("conv");
    await ingestTracks(conv, recording([AV, A, V]), { as: service(org), upload: [] });
    await upload(org, conv, "t-agent");
    await upload(org, conv, "t-customer");
    expect(await compositionsOf(org, conv)).toHaveLength(0);
    await upload(org, conv, "t-screen");
    const made = await compositionsOf(org, conv);
    expect(made.map((c) => [c.type, c.format, c.resolution])).toEqual([["VIDEO", "MP4", "1280x720"]]);

    const audioOnly = uid("conv");
    await ingestTracks(audioOnly, recording([A]), { as: service(org) });
    expect(await compositionsOf(org, audioOnly)).toHaveLength(0);
  });

  it("one composition per rule: two rules make two", async () => {
    const org = uid("hk");
    await rule(org, { nameTemplate: "audio" });
    await rule(org, { type: "VIDEO", nameTemplate: "video" });
    const conv = uid("conv");
    await ingestTracks(conv, recording([AV, A]), { as: service(org) });
    expect((await compositionsOf(org, conv)).map((c) => c.name).sort()).toEqual(["audio", "video"]);
  });

  it("respects disabled rules and agent filters", async () => {
    const org = uid("hk");
    const off = await rule(org, { enabled: false, nameTemplate: "off" });
    await rule(org, { agentIds: ["bob", "carol"], nameTemplate: "bob's" });
    const alices = uid("conv");
    await ingestTracks(alices, recording([A], "alice"), { as: service(org) });
    expect(await compositionsOf(org, alices)).toHaveLength(0);
    const bobs = uid("conv");
    await ingestTracks(bobs, recording([A], "bob"), { as: service(org) });
    expect((await compositionsOf(org, bobs)).map((c) => c.name)).toEqual(["bob's"]);

    const on = await call("PATCH", `/hooks/${off.id}`, { as: supervisor(org), body: { enabled: true } });
    expect(on.status, on.text).toBe(200);
    // The next event for the recording (a repeated upload) picks the enabled rule up.
    await upload(org, alices, "t-customer");
    expect((await compositionsOf(org, alices)).map((c) => c.name)).toEqual(["off"]);
  });

  it("a recording PUT that drops the only track still missing media completes it", async () => {
    const org = uid("hk");
    await rule(org);
    const conv = uid("conv");
    await ingestTracks(conv, recording([AV, A]), { as: service(org), upload: ["t-agent"] });
    expect(await compositionsOf(org, conv)).toHaveLength(0);
    await ingestTracks(conv, recording([AV]), { as: service(org), upload: [] });
    expect(await compositionsOf(org, conv)).toHaveLength(1);
  });

  it("racing evaluations create exactly one composition", async () => {
    const org = uid("hk");
    const conv = uid("conv");
    await ingestTracks(conv, recording([AV, A]), { as: service(org) });
    const r = await rule(org);
    const created = await Promise.all(Array.from({ length: 6 }, () => fireHooks(env, org, conv)));
    expect(created.flat()).toHaveLength(1);
    expect(await compositionsOf(org, conv)).toHaveLength(1);
    const runs = await env.DB.prepare(`SELECT composition_id FROM hook_runs WHERE rule_id = ?1`)
      .bind(r.id)
      .all<{ composition_id: string }>();
    expect(runs.results.map((x) => x.composition_id)).toEqual(created.flat());
    // Deleting the composition does not make the rule fire again for the same recording.
    expect((await call("DELETE", `/${conv}/${created.flat()[0]}/delete`, { as: supervisor(org) })).status).toBe(204);
    await upload(org, conv, "t-agent");
    expect(await compositionsOf(org, conv)).toHaveLength(0);
  });
});

describe("hook rules API (/hooks)", () => {
  it("create, list, read, patch and delete; SUPERVISOR only; organization-scoped", async () => {
    const org = uid("hk");
    const sue = supervisor(org);
    const made = await call("POST", "/hooks", {
      as: sue,
      body: { type: "VIDEO", resolution: "1920x1080", nameTemplate: "{agentId} {started}", agentIds: ["a1", "a1", "a2"] },
    });
    expect(made.status, made.text).toBe(201);
    expect(made.json).toMatchObject({
      type: "VIDEO",
      resolution: "1920x1080",
      priority: 1,
      nameTemplate: "{agentId} {started}",
      callbackUrl: null,
      agentIds: ["a1", "a2"],
      enabled: true,
    });
    const id = made.json.id;
    expect((await call("GET", "/hooks", { as: sue })).json.map((h: { id: string }) => h.id)).toEqual([id]);
    expect((await call("GET", `/hooks/${id}`, { as: sue })).json).toEqual(made.json);
    const patched = await call("PATCH", `/hooks/${id}`, {
      as: sue,
      body: { agentIds: null, priority: 9, callbackUrl: "https://crm.example/x", enabled: false },
    });
    expect(patched.json).toMatchObject({ agentIds: null, priority: 9, callbackUrl: "https://crm.example/x", enabled: false });

    for (const who of [agent(org), service(org)]) {
      expect((await call("GET", "/hooks", { as: who })).status).toBe(403);
      expect((await call("POST", "/hooks", { as: who, body: { type: "AUDIO", resolution: "640x360", nameTemplate: "x" } })).status).toBe(
        403,
      );
    }
    expect((await call("GET", "/hooks")).status).toBe(401);
    const stranger = supervisor(uid("hk"));
    expect((await call("GET", `/hooks/${id}`, { as: stranger })).status).toBe(404);
    expect((await call("PATCH", `/hooks/${id}`, { as: stranger, body: { enabled: true } })).status).toBe(404);
    expect((await call("DELETE", `/hooks/${id}`, { as: stranger })).status).toBe(404);

    expect((await call("DELETE", `/hooks/${id}`, { as: sue })).status).toBe(204);
    expect((await call("GET", `/hooks/${id}`, { as: sue })).status).toBe(404);
  });

  it("validates every field, naming it", async () => {
    const sue = supervisor(uid("hk"));
    const base = { type: "AUDIO", resolution: "640x360", nameTemplate: "x" };
    const cases: [Record<string, unknown>, string[]][] = [
      [{ ...base, type: "MOVIE" }, ["body.type"]],
      [{ ...base, resolution: "1x1" }, ["body.resolution"]],
      [{ ...base, priority: 11 }, ["body.priority"]],
      [{ ...base, nameTemplate: "{conversationId} {secret}" }, ["body.nameTemplate"]],
      [{ ...base, nameTemplate: "" }, ["body.nameTemplate"]],
      [{ ...base, callbackUrl: "http://crm.example/x" }, ["body.callbackUrl"]],
      [{ ...base, agentIds: [] }, ["body.agentIds"]],
      [{ ...base, layout: "GRID" }, ["body.layout"]],
      [{ resolution: "640x360", nameTemplate: "x" }, ["body.type"]],
    ];
    for (const [body, expected] of cases) {
      const res = await call("POST", "/hooks", { as: sue, body });
      expect([JSON.stringify(body), res.status, fields(res)]).toEqual([JSON.stringify(body), 400, expected]);
    }
  });
});
