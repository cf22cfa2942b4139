// Review assets: uploaded by the renderer next to its output (keyed by the run), served through the
// seed's url/inline and url/attachment with `asset=`, revoked with the media, cleaned up with it.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RenderJob } from "../../contract/renderer";
import { findCompositionById } from "../../worker/db/compositions";
import { kindOf } from "../../worker/jobs/audit";
import { runOutputKey } from "../../worker/jobs/outputs";
import { reviewAssetKey } from "../../worker/jobs/review-assets";
import { outputKey } from "../../worker/media/keys";
import {
  call,
  captureQueue,
  createComposition,
  fakeRenderer,
  ingest,
  resetRenderer,
  runQueue,
  service,
  supervisor,
  uid,
  type FakeRenderer,
} from "./helpers";

const VTT =
  "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nthumbnails.jpg#xywh=0,0,160,90\n\n00:00:01.000 --> 00:00:02.000\nthumbnails.jpg#xywh=160,0,160,90\n";
const SPRITE = new Uint8Array(3000).map((_, i) => i % 256);
const PEAKS = JSON.stringify({
  version: 2,
  channels: 1,
  sample_rate: 48000,
  samples_per_pixel: 256,
  bits: 16,
  length: 2,
  data: [-5, 5, -9, 9],
});
const referer = { Referer: "https://console.example/" };
let fake: FakeRenderer;

beforeEach(() => {
  captureQueue();
  fake = fakeRenderer();
});
afterEach(() => {
  resetRenderer();
  vi.restoreAllMocks();
});

/** A composition claimed by the fake renderer: its job (URLs, lease token). */
async function running(type: "AUDIO" | "VIDEO", org = "acme") {
  const conv = uid("conv-ra");
  await ingest(conv, { agentId: "alice", as: service(org) });
  const created = await createComposition(conv, supervisor(org), { type, priority: 10 });
  expect(created.status, created.text).toBe(200);
  await runQueue();
  const job = fake.jobs.at(-1)!;
  expect(job.jobId).toBe(created.json.id);
  return { conv, id: created.json.id as string, job };
}

const upload = (job: RenderJob, name: string, body: BodyInit, headers: Record<string, string> = {}) =>
  call("PUT", `${job.output.url}/assets/${name}`, { raw: body, headers: { Authorization: `Bearer ${job.callback.token}`, ...headers } });

async function complete(job: RenderJob, assets: Record<string, BodyInit>) {
  expect(
    (await call("PUT", job.output.url, { raw: new Uint8Array(5000).fill(3), headers: { Authorization: `Bearer ${job.callback.token}` } }))
      .status,
  ).toBe(200);
  for (const [name, body] of Object.entries(assets)) {
    const res = await upload(job, name, body);
    expect(res.status, `${name}: ${res.text}`).toBe(200);
  }
  const done = await call("POST", job.callback.url, {
    headers: { Authorization: `Bearer ${job.callback.token}` },
    body: { event: "completed", attempt: job.attempt, durationMs: 2000, size: 5000, engine: "native" },
  });
  expect(done.status, done.text).toBe(200);
}

const assetLink = (conv: string, id: string, asset: string, kind = "inline", org = "acme") =>
  call("GET", `/player/${conv}/${id}/url/${kind}?conversationId=${conv}&id=${id}&asset=${asset}`, {
    as: supervisor(org),
    headers: referer,
  });

describe("uploading review assets (internal)", () => {
  it("takes a VIDEO's three assets under the run's key; refuses unknown names, AUDIO thumbnails, stale tokens", async () => {
    const { job } = await running("VIDEO");
    expect((await upload(job, "waveform.json", PEAKS)).status).toBe(200);
    const row = (await findCompositionById(env.DB, job.jobId))!;
    const stored = await env.MEDIA.get(reviewAssetKey(runOutputKey(row, job.callback.token), "waveform.json"));
    expect(await stored?.text()).toBe(PEAKS);
    expect(stored?.httpMetadata?.contentType).toBe("application/json");
    expect((await upload(job, "poster.png", "x")).status).toBe(400);
    expect((await upload(job, "..%2Fwaveform.json", "x")).status).toBe(400);
    const stale = await call("PUT", `${job.output.url}/assets/waveform.json`, {
      raw: "{}",
      headers: { Authorization: "Bearer not-the-lease" },
    });
    expect(stale.status).toBe(403);

    const audio = await running("AUDIO");
    expect((await upload(audio.job, "thumbnails.vtt", VTT)).status).toBe(400);
    expect((await upload(audio.job, "waveform.json", PEAKS)).status).toBe(200);
  });
});

describe("asset= on url/inline and url/attachment", () => {
  it("signs a link whose path ends with the asset; it serves the bytes with ranges, its type and open CORS", async () => {
    const { conv, id, job } = await running("VIDEO");
    await complete(job, { "waveform.json": PEAKS, "thumbnails.jpg": SPRITE, "thumbnails.vtt": VTT });

    const link = await assetLink(conv, id, "waveform.json");
    expect(link.status, link.text).toBe(200);
    const url = new URL(link.json.url);
    expect(url.pathname).toBe(`/auvious.video/composition/api/player/inline/${conv}/${id}/waveform.json`);
    const peaks = await call("GET", link.json.url);
    expect(peaks.status).toBe(200);
    expect(peaks.headers.get("Content-Type")).toBe("application/json");
    expect(peaks.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(peaks.json).toEqual(JSON.parse(PEAKS));

    const sprite = await call("GET", (await assetLink(conv, id, "thumbnails.jpg")).json.url, { headers: { Range: "bytes=100-199" } });
    expect(sprite.status).toBe(206);
    expect(sprite.headers.get("Content-Type")).toBe("image/jpeg");
    expect(sprite.headers.get("Content-Range")).toBe(`bytes 100-199/${SPRITE.length}`);

    const download = await assetLink(conv, id, "waveform.json", "attachment");
    const file = await call("GET", download.json.url);
    expect(file.headers.get("Content-Disposition")).toMatch(/^attachment; filename="waveform.json"/);
  });

  it("thumbnails.vtt points at the sprite by a signed link with its own Date and Expires, which plays", async () => {
    const { conv, id, job } = await running("VIDEO");
    await complete(job, { "waveform.json": PEAKS, "thumbnails.jpg": SPRITE, "thumbnails.vtt": VTT });
    const link = await assetLink(conv, id, "thumbnails.vtt");
    const track = await call("GET", link.json.url);
    expect(track.status).toBe(200);
    expect(track.headers.get("Content-Type")).toBe("text/vtt; charset=utf-8");
    const lines = track.text.split("\n");
    expect(lines[0]).toBe("WEBVTT");
    const targets = lines.filter((l) => l.includes("#xywh="));
    expect(targets).toHaveLength(2);
    const sprite = new URL(targets[0]!.split("#")[0]!);
    expect(sprite.pathname).toBe(`/auvious.video/composition/api/player/inline/${conv}/${id}/thumbnails.jpg`);
    const own = new URL(link.json.url).searchParams;
    expect(sprite.searchParams.get("Date")).toBe(own.get("Date"));
    expect(sprite.searchParams.get("Expires")).toBe(own.get("Expires"));
    expect(targets[1]).toBe(`${sprite.href}#xywh=160,0,160,90`);
    const image = await call("GET", sprite.href);
    expect(image.status).toBe(200);
    expect(image.headers.get("Content-Type")).toBe("image/jpeg");
    // One link, one body: a revalidation is answered 304.
    const again = await call("GET", link.json.url, { headers: { "If-None-Match": track.headers.get("ETag")! } });
    expect(again.status).toBe(304);
  });

  it("a revoke refuses the assets' links and the sprite link inside the track", async () => {
    const { conv, id, job } = await running("VIDEO");
    await complete(job, { "waveform.json": PEAKS, "thumbnails.jpg": SPRITE, "thumbnails.vtt": VTT });
    const peaks = (await assetLink(conv, id, "waveform.json")).json.url;
    const track = await call("GET", (await assetLink(conv, id, "thumbnails.vtt")).json.url);
    const sprite = track.text
      .split("\n")
      .find((l) => l.includes("#xywh="))!
      .split("#")[0]!;
    expect((await call("POST", `/${conv}/${id}/links/revoke`, { as: supervisor() })).status).toBe(200);
    for (const url of [peaks, sprite]) expect((await call("GET", url)).status).toBe(403);
    expect((await call("GET", (await assetLink(conv, id, "waveform.json")).json.url)).status).toBe(200);
  });

  it("404 for an asset the composition does not have; 400 for an unknown asset; a media link renamed to an asset is refused", async () => {
    const audio = await running("AUDIO");
    await complete(audio.job, { "waveform.json": PEAKS });
    expect((await assetLink(audio.conv, audio.id, "thumbnails.vtt")).status).toBe(404);
    expect((await assetLink(audio.conv, audio.id, "waveform.json")).status).toBe(200);
    const bad = await assetLink(audio.conv, audio.id, "poster.png");
    expect(bad.status).toBe(400);
    expect(bad.json.errors.map((e: { field: string }) => e.field)).toContain("query.asset");

    const bare = await running("VIDEO");
    await complete(bare.job, {});
    expect((await assetLink(bare.conv, bare.id, "waveform.json")).status).toBe(404);
    const media = await call("GET", `/player/${bare.conv}/${bare.id}/url/inline?conversationId=${bare.conv}&id=${bare.id}`, {
      as: supervisor(),
      headers: referer,
    });
    const renamed = media.json.url.replace(/\/[^/?]+\.mp4\?/, "/waveform.json?");
    expect((await call("GET", renamed)).status).toBe(403);
    expect((await assetLink(bare.conv, bare.id, "waveform.json", "inline", "globex")).status).toBe(404);
  });
});

describe("assets follow their run", () => {
  it("a re-execution's completion replaces the old run's assets; the audit sees no orphan; delete removes all", async () => {
    const { conv, id, job } = await running("VIDEO");
    await complete(job, { "waveform.json": PEAKS, "thumbnails.jpg": SPRITE, "thumbnails.vtt": VTT });
    const first = (await findCompositionById(env.DB, id))!.outputKey!;
    const given = (await assetLink(conv, id, "waveform.json")).json.url;
    expect((await call("POST", "/reexecute", { as: supervisor(), body: { conversationId: conv, id, priority: 10 } })).status).toBe(200);
    await runQueue();
    const second = fake.jobs.at(-1)!;
    expect(second.jobId).toBe(id);
    // While the new run renders, links already given still serve the previous run's assets.
    expect((await call("GET", given)).json).toEqual(JSON.parse(PEAKS));
    await complete(second, { "waveform.json": PEAKS.replace("-9", "-7") });
    const current = (await findCompositionById(env.DB, id))!.outputKey!;
    expect(current).not.toBe(first);
    const keys = async () =>
      (await env.MEDIA.list({ prefix: current.slice(0, current.lastIndexOf("/") + 1) })).objects.map((o) => o.key).sort();
    expect(await keys()).toEqual([current, reviewAssetKey(current, "waveform.json")].sort());
    expect((await call("GET", (await assetLink(conv, id, "waveform.json")).json.url)).json.data).toEqual([-5, 5, -7, 9]);
    expect((await assetLink(conv, id, "thumbnails.vtt")).status).toBe(404);

    // An asset of a run nothing points at any more is an orphan like its output would be.
    const strayKey = reviewAssetKey(outputKey("acme", conv, id, "run-stale", "mp4"), "waveform.json");
    await env.MEDIA.put(strayKey, PEAKS);
    expect(kindOf(strayKey)).toBe("asset");
    const audit = await call("GET", "/audit/storage", { as: supervisor() });
    expect(audit.json.orphans.filter((k: string) => k.includes(id))).toEqual([strayKey]);
    await env.MEDIA.delete(strayKey);
    expect(
      audit.json.objects
        .filter((o: { key: string }) => o.key.includes(id) && o.key !== strayKey)
        .map((o: { kind: string }) => o.kind)
        .sort(),
    ).toEqual(["asset", "output"]);

    expect((await call("DELETE", `/${conv}/${id}/delete`, { as: supervisor() })).status).toBe(204);
    expect(await keys()).toEqual([]);
  });

  it("a failed attempt's assets go with its output", async () => {
    const { job } = await running("VIDEO");
    expect((await upload(job, "waveform.json", PEAKS)).status).toBe(200);
    const row = (await findCompositionById(env.DB, job.jobId))!;
    const key = reviewAssetKey(runOutputKey(row, job.callback.token), "waveform.json");
    expect(await env.MEDIA.head(key)).not.toBeNull();
    const failed = await call("POST", job.callback.url, {
      headers: { Authorization: `Bearer ${job.callback.token}` },
      body: { event: "failed", attempt: job.attempt, error: "boom", retryable: false },
    });
    expect(failed.status, failed.text).toBe(200);
    expect(await env.MEDIA.head(key)).toBeNull();
  });
});
