import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { outputKey } from "../../worker/media/keys";
import { isRevoked, signingInstant } from "../../worker/media/revocation";
import { agent, call, createComposition, ingest, service, supervisor, uid } from "./helpers";

const BYTES = new Uint8Array(20_000).map((_, i) => (i * 7) % 253);
const referer = { Referer: "https://agent.example/app" };

/** A COMPLETED composition (organization `org`) whose output is really in R2. */
async function completed(org = "acme") {
  const conversationId = uid("conv-rv");
  await ingest(conversationId, { agentId: "alice", as: service(org) });
  const created = await createComposition(conversationId, supervisor(org), { type: "VIDEO" });
  const id = created.json.id as string;
  const key = outputKey(org, conversationId, id, "run-test", "mp4");
  await env.MEDIA.put(key, BYTES, { httpMetadata: { contentType: "video/mp4" } });
  await env.DB.prepare(`UPDATE compositions SET state='COMPLETED', output_key=?2, completed_at=?3, duration_ms=1000 WHERE id=?1`)
    .bind(id, key, Date.now())
    .run();
  return { conversationId, id };
}

async function link(c: { conversationId: string; id: string }, kind = "inline", extra = "", org = "acme") {
  const res = await call("GET", `/player/${c.conversationId}/${c.id}/url/${kind}?conversationId=${c.conversationId}&id=${c.id}${extra}`, {
    as: supervisor(org),
    headers: referer,
  });
  expect(res.status, res.text).toBe(200);
  return res.json.url as string;
}

const revoke = (c: { conversationId: string; id: string }, as = supervisor()) =>
  call("POST", `/${c.conversationId}/${c.id}/links/revoke`, { as });

describe("POST /{conversationId}/{compositionId}/links/revoke", () => {
  afterEach(() => vi.useRealTimers());

  it("refuses every link signed before it (media, HEAD, ranges, attachment) and serves links signed after", async () => {
    const c = await completed();
    const inline = await link(c);
    const attachment = await link(c, "attachment");
    expect((await call("GET", inline)).status).toBe(200);

    const res = await revoke(c);
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(["conversationId", "id", "linksRevokedAt"]);
    expect(res.json).toMatchObject({ conversationId: c.conversationId, id: c.id });
    expect(Math.abs(Date.parse(res.json.linksRevokedAt) - Date.now())).toBeLessThan(5000);

    for (const [method, url, headers] of [
      ["GET", inline, {}],
      ["HEAD", inline, {}],
      ["GET", inline, { Range: "bytes=0-99" }],
      ["GET", attachment, {}],
    ] as const) {
      const refused = await call(method, url, { headers });
      expect(refused.status, `${method} ${JSON.stringify(headers)}`).toBe(403);
      if (method === "GET") expect(refused.headers.get("Content-Type")).toBe("application/problem+json");
    }

    const fresh = await call("GET", await link(c), { headers: { Range: "bytes=0-99" } });
    expect(fresh.status).toBe(206);
    expect(fresh.headers.get("Content-Range")).toBe(`bytes 0-99/${BYTES.length}`);
    expect((await call("GET", await link(c, "attachment"))).status).toBe(200);
  });

  it("a browser's revalidation of a revoked link is refused, not answered 304", async () => {
    const c = await completed();
    const url = await link(c);
    const first = await call("GET", url);
    const etag = first.headers.get("ETag")!;
    expect((await call("GET", url, { headers: { "If-None-Match": etag } })).status).toBe(304);
    expect((await revoke(c)).status).toBe(200);
    expect((await call("GET", url, { headers: { "If-None-Match": etag } })).status).toBe(403);
  });

  it("same second: a link signed just before the revoke is refused, one signed just after works", async () => {
    const c = await completed();
    const second = Math.floor(Date.now() / 1000) * 1000 + 2000;
    vi.useFakeTimers({ now: second + 200, toFake: ["Date"] });
    const before = await link(c);
    vi.setSystemTime(second + 500);
    expect((await revoke(c)).status).toBe(200);
    vi.setSystemTime(second + 800);
    const after = await link(c);
    expect(new URL(before).searchParams.get("Date")).not.toBe(new URL(after).searchParams.get("Date"));
    expect((await call("GET", before)).status).toBe(403);
    expect((await call("GET", after)).status).toBe(200);
    // A later revoke refuses the link dated the next second as well.
    vi.setSystemTime(second + 1500);
    expect((await revoke(c)).status).toBe(200);
    expect((await call("GET", after)).status).toBe(403);
  });

  it("an earlier clock never moves the revocation back", async () => {
    const c = await completed();
    vi.useFakeTimers({ now: Date.now() + 60_000, toFake: ["Date"] });
    const late = (await revoke(c)).json.linksRevokedAt;
    vi.setSystemTime(Date.now() - 30_000);
    const again = await revoke(c);
    expect(again.json.linksRevokedAt).toBe(late);
  });

  it("an AGENT gets 403, a SERVICE 403, another organization 404; none of them revokes anything", async () => {
    const c = await completed();
    const url = await link(c);
    const asAgent = await revoke(c, agent());
    expect(asAgent.status).toBe(403);
    expect(asAgent.headers.get("Content-Type")).toBe("application/problem+json");
    expect((await revoke(c, service())).status).toBe(403);
    expect((await revoke(c, supervisor("globex"))).status).toBe(404);
    expect((await call("POST", `/${c.conversationId}/${c.id}/links/revoke`)).status).toBe(401);
    expect((await revoke({ conversationId: c.conversationId, id: "no-such-id" })).status).toBe(404);
    expect((await call("GET", url)).status).toBe(200);
  });

  it("revoking one composition leaves another's links working", async () => {
    const a = await completed();
    const b = await completed();
    const urlB = await link(b);
    expect((await revoke(a)).status).toBe(200);
    expect((await call("GET", urlB)).status).toBe(200);
  });

  it("Cache-Control: private (no shared cache stores it), max-age never past the link nor past an hour", async () => {
    const c = await completed();
    const week = await call("GET", await link(c, "inline", "&ttl=604800"));
    expect(week.headers.get("Cache-Control")).toMatch(/^private, max-age=\d+$/);
    const maxAge = Number(/max-age=(\d+)/.exec(week.headers.get("Cache-Control")!)![1]);
    expect(maxAge).toBeGreaterThan(3500);
    expect(maxAge).toBeLessThanOrEqual(3600);
    const short = await call("GET", await link(c, "inline", "&ttl=60"));
    expect(Number(/max-age=(\d+)/.exec(short.headers.get("Cache-Control")!)![1])).toBeLessThanOrEqual(60);
  });
});

describe("revocation instants", () => {
  const R = Date.parse("2026-11-20T10:00:00.500Z");
  it("a Date at or before the revocation is revoked, a later one is not", () => {
    expect(isRevoked(new Date("2026-11-20T10:00:00Z"), R)).toBe(true);
    expect(isRevoked(new Date("2026-11-20T09:00:00Z"), R)).toBe(true);
    expect(isRevoked(new Date("2026-11-20T10:00:01Z"), R)).toBe(false);
    expect(isRevoked(new Date("2026-11-20T10:00:00Z"), null)).toBe(false);
  });
  it("a link signed in the revoke's second is dated the next second", () => {
    expect(signingInstant(new Date(R + 100), R).toISOString()).toBe("2026-11-20T10:00:01.000Z");
    expect(signingInstant(new Date(R + 600), R).toISOString()).toBe("2026-11-20T10:00:01.100Z");
    expect(signingInstant(new Date(R + 600), null).toISOString()).toBe("2026-11-20T10:00:01.100Z");
  });
});
