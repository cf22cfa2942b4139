import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { outputKey } from "../../worker/media/keys";
import { agent, call, createComposition, ingest, supervisor } from "./helpers";

const BYTES = new Uint8Array(100_000).map((_, i) => (i * 31) % 251);

/** A COMPLETED composition whose output is really in R2. */
async function completed(conversationId: string, name = "Call review") {
  await ingest(conversationId, { agentId: "alice" });
  const created = await createComposition(conversationId, supervisor(), { name, type: "VIDEO" });
  const id = created.json.id as string;
  const key = outputKey("acme", conversationId, id, "run-test", "mp4");
  await env.MEDIA.put(key, BYTES, { httpMetadata: { contentType: "video/mp4" } });
  await env.DB.prepare(`UPDATE compositions SET state='COMPLETED', output_key=?2, completed_at=?3, duration_ms=62500 WHERE id=?1`)
    .bind(id, key, Date.now())
    .run();
  return { id, key };
}

const linkPath = (c: string, id: string, kind = "inline", q = `conversationId=${c}&id=${id}`) => `/player/${c}/${id}/url/${kind}?${q}`;
const referer = { Referer: "https://agent.example/app" };

describe("player links", () => {
  afterEach(() => vi.useRealTimers());

  it("gives a signed absolute link that plays without credentials, with ranges", async () => {
    const { id } = await completed("conv-p1");
    const link = await call("GET", linkPath("conv-p1", id), { as: supervisor(), headers: referer });
    expect(link.status, link.text).toBe(200);
    expect(Object.keys(link.json).sort()).toEqual(["url", "validUntil"]);
    const url = new URL(link.json.url);
    expect(url.origin).toBe("http://example.com");
    expect(url.pathname).toBe(`/auvious.video/composition/api/player/inline/conv-p1/${id}/${id}.mp4`);
    expect(url.searchParams.get("Date")).toMatch(/^\d{8}T\d{6}Z$/);
    expect(url.searchParams.get("Expires")).toBe("3600");
    const validUntil = Date.parse(link.json.validUntil);
    expect(Math.abs(validUntil - (Date.now() + 3600_000))).toBeLessThan(5000);

    const full = await call("GET", link.json.url);
    expect(full.status).toBe(200);
    expect(full.headers.get("Content-Type")).toBe("video/mp4");
    expect(full.headers.get("Accept-Ranges")).toBe("bytes");
    expect(full.headers.get("Content-Disposition")).toMatch(/^inline/);
    const maxAge = Number(/max-age=(\d+)/.exec(full.headers.get("Cache-Control") ?? "")?.[1]);
    expect(maxAge).toBeGreaterThan(3500);
    expect(maxAge).toBeLessThanOrEqual(3600);

    const part = await call("GET", link.json.url, { headers: { Range: "bytes=1000-1999" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("Content-Range")).toBe(`bytes 1000-1999/${BYTES.length}`);
  });

  it("attachment links carry the composition's name as the download filename", async () => {
    const { id } = await completed("conv-p2", "Κλήση πελάτη");
    const link = await call("GET", linkPath("conv-p2", id, "attachment"), { as: agent(), headers: referer });
    expect(link.status, link.text).toBe(200);
    const res = await call("HEAD", link.json.url);
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    const cd = res.headers.get("Content-Disposition")!;
    expect(cd).toMatch(/^attachment;/);
    expect(cd).toContain(`filename*=UTF-8''${encodeURIComponent("Κλήση πελάτη.mp4")}`);
  });

  it("honours ?ttl within bounds and refuses it outside", async () => {
    const { id } = await completed("conv-p3");
    const ok = await call("GET", linkPath("conv-p3", id, "inline", `conversationId=conv-p3&id=${id}&ttl=60`), {
      as: supervisor(),
      headers: referer,
    });
    expect(new URL(ok.json.url).searchParams.get("Expires")).toBe("60");
    const bad = await call("GET", linkPath("conv-p3", id, "inline", `conversationId=conv-p3&id=${id}&ttl=604801`), {
      as: supervisor(),
      headers: referer,
    });
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0].field).toBe("query.ttl");
  });

  it("requires Referer, matching query values and a COMPLETED composition", async () => {
    const { id } = await completed("conv-p4");
    const noReferer = await call("GET", linkPath("conv-p4", id), { as: supervisor() });
    expect(noReferer.status).toBe(400);
    expect(noReferer.headers.get("Content-Type")).toBe("application/problem+json");
    expect(noReferer.json.errors.map((e: { field: string }) => e.field)).toContain("header.referer");

    const mismatch = await call("GET", linkPath("conv-p4", id, "inline", `conversationId=other&id=${id}`), {
      as: supervisor(),
      headers: referer,
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.errors[0].field).toBe("query.conversationId");
    const idMismatch = await call("GET", linkPath("conv-p4", id, "inline", `conversationId=conv-p4&id=nope`), {
      as: supervisor(),
      headers: referer,
    });
    expect(idMismatch.json.errors[0].field).toBe("query.id");

    const queued = await createComposition("conv-p4", supervisor());
    const notDone = await call("GET", linkPath("conv-p4", queued.json.id), { as: supervisor(), headers: referer });
    expect(notDone.status).toBe(409);

    const otherOrg = await call("GET", linkPath("conv-p4", id), { as: supervisor("globex"), headers: referer });
    expect(otherOrg.status).toBe(404);
    expect((await call("GET", linkPath("conv-p4", id))).status).toBe(401);
  });

  it("refuses every tampering with one identical 403, and works until validUntil only", async () => {
    const { id } = await completed("conv-p5");
    const link = await call("GET", linkPath("conv-p5", id, "inline", `conversationId=conv-p5&id=${id}&ttl=120`), {
      as: supervisor(),
      headers: referer,
    });
    const good = new URL(link.json.url);
    const variants: URL[] = [];
    const mutate = (f: (u: URL) => void) => {
      const u = new URL(good);
      f(u);
      variants.push(u);
    };
    mutate((u) => (u.pathname = u.pathname.replace("/inline/", "/attachment/")));
    mutate((u) => (u.pathname = u.pathname.replace(`${id}.mp4`, `${id}.mp3`)));
    mutate((u) => u.searchParams.set("Expires", "121"));
    mutate((u) => u.searchParams.set("Date", "20200101T000000Z"));
    // One character of the MAC changed (a fixed replacement would, once in a thousand links, be no change).
    mutate((u) => {
      const [kid, mac] = u.searchParams.get("Signature")!.split(".");
      u.searchParams.set("Signature", `${kid}.${mac![0] === "A" ? "B" : "A"}${mac!.slice(1)}`);
    });
    mutate((u) => u.searchParams.delete("Signature"));
    const bodies = new Set<string>();
    for (const v of variants) {
      const res = await call("GET", v.toString());
      expect(res.status, v.toString()).toBe(403);
      bodies.add(JSON.stringify({ ...res.json, instance: undefined, requestId: undefined }));
    }
    expect(bodies.size).toBe(1);

    vi.useFakeTimers({ now: Date.now() + 119_000, toFake: ["Date"] });
    expect((await call("GET", good.toString(), { headers: { Range: "bytes=0-9" } })).status).toBe(206);
    vi.setSystemTime(Date.now() + 2_000);
    expect((await call("GET", good.toString())).status).toBe(403);
  });

  it("answers 404 for a deleted composition's links", async () => {
    const { id, key } = await completed("conv-p6");
    const link = await call("GET", linkPath("conv-p6", id), { as: supervisor(), headers: referer });
    const del = await call("DELETE", `/conv-p6/${id}/delete`, { as: supervisor() });
    expect(del.status).toBe(204);
    expect(await env.MEDIA.head(key)).toBeNull();
    const res = await call("GET", link.json.url);
    expect(res.status).toBe(404);
  });
});
