// The storage audit (GET /audit/storage): every object of the caller's organization with its kind,
// and the orphans — outputs no composition points to (unless a running render is writing them) and
// track objects no track row points to.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { auditStorage, kindOf } from "../../worker/jobs/audit";
import { runOutputKey } from "../../worker/jobs/outputs";
import { outputKey, trackKey } from "../../worker/media/keys";
import { agent, at, call, captureQueue, createComposition, ingestTracks, service, setState, supervisor, uid } from "./helpers";

const AUDIT = "/audit/storage";
let org: string;

beforeEach(() => {
  captureQueue();
  // A fresh organization per test: its prefix holds exactly what the test stored.
  org = uid("org-audit");
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function recording(conv: string) {
  await ingestTracks(
    conv,
    {
      agentId: "alice",
      started: at(0),
      stopped: at(10),
      tracks: [
        { id: "t1", participantId: "agent", started: at(0), audio: true, video: false },
        { id: "t2", participantId: "customer", started: at(1), audio: true, video: false },
      ],
    },
    { as: service(org) },
  );
}

async function compose(conv: string): Promise<string> {
  const res = await createComposition(conv, supervisor(org));
  expect(res.status, res.text).toBe(200);
  return res.json.id;
}

const put = (key: string, bytes = 16) => env.MEDIA.put(key, new Uint8Array(bytes).fill(1));

describe("GET /audit/storage", () => {
  it("lists tracks and outputs with sizes and kinds; a consistent store has no orphans", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await compose(conv);
    const out = outputKey(org, conv, id, "run-abc", "mp3");
    await put(out, 100);
    await setState(id, "COMPLETED", { outputKey: out, completedAt: Date.now(), durationMs: 10_000 });

    const res = await call("GET", AUDIT, { as: supervisor(org) });
    expect(res.status, res.text).toBe(200);
    expect(res.json.orphans).toEqual([]);
    const objects = [...res.json.objects].sort((a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key));
    expect(objects).toEqual(
      [
        { key: out, size: 100, kind: "output" },
        { key: trackKey(org, conv, "t1"), size: 2048, kind: "track" },
        { key: trackKey(org, conv, "t2"), size: 2048, kind: "track" },
      ].sort((a, b) => a.key.localeCompare(b.key)),
    );
  });

  it("an output no composition points to is an orphan; a running render's in-flight output is not", async () => {
    const conv = uid("conv");
    await recording(conv);
    const done = await compose(conv);
    const running = await compose(conv);
    const current = outputKey(org, conv, done, "run-current", "mp3");
    const stale = outputKey(org, conv, done, "run-stale", "mp3");
    await put(current);
    await put(stale);
    await setState(done, "COMPLETED", { outputKey: current, completedAt: Date.now(), durationMs: 1 });
    await setState(running, "PROCESSING"); // lease token "lease-test"
    const row = (await env.DB.prepare(`SELECT * FROM compositions WHERE id = ?1`).bind(running).first<Record<string, string>>())!;
    const inFlight = runOutputKey({ organizationId: org, conversationId: conv, id: running, format: "MP3" }, row.lease_token!);
    const leftover = outputKey(org, conv, running, "run-earlier-attempt", "mp3");
    await put(inFlight);
    await put(leftover);

    const audit = await auditStorage(env, org);
    expect(audit.orphans.sort()).toEqual([leftover, stale].sort());
    expect(
      audit.objects
        .filter((o) => o.kind === "output")
        .map((o) => o.key)
        .sort(),
    ).toEqual([current, inFlight, leftover, stale].sort());

    // Once the lease is gone (cancelled), the in-flight object belongs to nobody either.
    await setState(running, "CANCELLED");
    expect((await auditStorage(env, org)).orphans.sort()).toEqual([inFlight, leftover, stale].sort());
  });

  it("a track object no track row points to is an orphan, and so is an unknown key", async () => {
    const conv = uid("conv");
    await recording(conv);
    const ghost = trackKey(org, conv, "t-removed");
    const ghostConv = trackKey(org, uid("gone"), "t1");
    const stray = `orgs/${org}/something-else`;
    await put(ghost);
    await put(ghostConv);
    await put(stray);
    const res = await call("GET", AUDIT, { as: supervisor(org) });
    expect(res.status).toBe(200);
    expect(res.json.orphans.sort()).toEqual([ghost, ghostConv, stray].sort());
    expect(res.json.objects.find((o: { key: string }) => o.key === stray).kind).toBe("other");
  });

  it("a deleted composition leaves nothing behind (the audit sees the delete's cleanup)", async () => {
    const conv = uid("conv");
    await recording(conv);
    const id = await compose(conv);
    const out = outputKey(org, conv, id, "run-1", "mp3");
    await put(out);
    await setState(id, "COMPLETED", { outputKey: out, completedAt: Date.now(), durationMs: 1 });
    const del = await call("DELETE", `/${conv}/${id}/delete`, { as: supervisor(org) });
    expect(del.status, del.text).toBeLessThan(300);
    const audit = await auditStorage(env, org);
    expect(audit.objects.filter((o) => o.kind === "output")).toEqual([]);
    expect(audit.orphans).toEqual([]);
  });

  it("only the caller's organization is listed", async () => {
    const conv = uid("conv");
    await recording(conv);
    const other = uid("org-other");
    const theirs = trackKey(other, conv, "t1");
    await put(theirs);
    // An organization whose id extends ours must not be listed under our prefix either.
    const longer = trackKey(`${org}x`, conv, "t1");
    await put(longer);
    const res = await call("GET", AUDIT, { as: supervisor(org) });
    const keys = res.json.objects.map((o: { key: string }) => o.key);
    expect(keys).not.toContain(theirs);
    expect(keys).not.toContain(longer);
    expect(keys).toHaveLength(2);
    const theirAudit = await call("GET", AUDIT, { as: supervisor(other) });
    expect(theirAudit.json).toEqual({ objects: [{ key: theirs, size: 16, kind: "track" }], orphans: [theirs] });
  });

  it("needs SUPERVISOR: no token → 401, AGENT or SERVICE → 403", async () => {
    expect((await call("GET", AUDIT)).status).toBe(401);
    expect((await call("GET", AUDIT, { as: agent(org) })).status).toBe(403);
    expect((await call("GET", AUDIT, { as: service(org) })).status).toBe(403);
  });

  it("is in the OpenAPI document", async () => {
    const doc = await call("GET", "/openapi.json");
    expect(doc.json.paths["/auvious.video/composition/api/audit/storage"]?.get).toBeDefined();
  });

  it("classifies keys by shape", () => {
    expect(kindOf("orgs/a/conversations/c/tracks/t")).toBe("track");
    expect(kindOf("orgs/a/conversations/c/compositions/x/run-1.mp3")).toBe("output");
    expect(kindOf("orgs/a/conversations/c/compositions/x/")).toBe("other");
    expect(kindOf("orgs/a/elsewhere")).toBe("other");
  });
});
