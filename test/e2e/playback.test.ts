// Issue "Playback and download": the signed inline links of a real VIDEO (MP4) and a real AUDIO (MP3)
// composition play and seek in a real browser (headless Chromium) embedded in a web page of
// another origin, over 206 range responses and without any Authorization header; curl-style ranges
// and ffprobe work on the same links; an expired shared link is refused.
import { readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FFPROBE, makeTrack, probe, run, tempDir } from "../fixtures/media.ts";
import { ingestRecording, startTestStack, SUPERVISOR, waitForState, type TestStack, type Who } from "./harness.ts";

const SPAN = 20;
const CONVERSATION = "conv-playback";
const AGENT: Who = { sub: "alice", org: "acme", roles: ["AGENT"] };
/**
 * The browser's network is throttled to this many bytes/s (DevTools network emulation), as on a real
 * link: otherwise Chromium pulls these few hundred KB over loopback before the first second has
 * played, and a seek never has to ask the server for anything. It is above the outputs' bit rates
 * (MP3 128 kb/s = 16 KB/s; the MP4 ≈ 18 KB/s), so playback does not stall, while at the seek the
 * download is still far (more than Chromium's 5 × 32 KB "wait for the open connection" window)
 * behind the point 2 s before the end.
 */
const THROTTLE_BYTES_PER_SECOND = 24 * 1024;

interface MediaResponse {
  url: string;
  status: number;
  range: string | undefined;
  authorization: string | undefined;
  referer: string | undefined;
  contentRange: string | undefined;
  phase: string;
}

let stack: TestStack;
let dir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let pageServer: Server;
let pageOrigin: string;
const links: { video: string; audio: string } = { video: "", audio: "" };
const ids: { video: string; audio: string } = { video: "", audio: "" };
const files: { video: string; audio: string } = { video: "", audio: "" };
const responses: MediaResponse[] = [];
const pendingResponses: Promise<void>[] = [];
/** Which step of the in-page scenario is running; every media response is labelled with it. */
let phase = "load";

/** The web app: a page of its own origin embedding both links, with the player logic a real app would have. */
function playerPage(videoUrl: string, audioUrl: string): string {
  const attr = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Composition player</title></head>
<body>
<video id="video" src="${attr(videoUrl)}" preload="none" playsinline width="640" height="360"></video>
<audio id="audio" src="${attr(audioUrl)}" preload="none"></audio>
<script>
window.mediaErrors = [];
for (const el of document.querySelectorAll("video, audio")) {
  el.addEventListener("error", () => mediaErrors.push(el.id + ": " + (el.error ? el.error.code + " " + el.error.message : "?")));
}
function state(el) {
  return { currentTime: el.currentTime, duration: el.duration, paused: el.paused, ended: el.ended,
    readyState: el.readyState, networkState: el.networkState, error: el.error ? el.error.code + " " + el.error.message : null };
}
function waitFor(el, what, cond, ms) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const tick = () => {
      if (el.error) return reject(new Error(el.id + ": media error while waiting for " + what + ": " + JSON.stringify(state(el))));
      if (cond()) return resolve();
      if (performance.now() - t0 > ms) return reject(new Error(el.id + ": timed out waiting for " + what + ": " + JSON.stringify(state(el))));
      setTimeout(tick, 25);
    };
    tick();
  });
}
async function playPastOneSecond(id) {
  const el = document.getElementById(id);
  await el.play();
  await waitFor(el, "currentTime > 1", () => el.currentTime > 1, 20000);
  return state(el);
}
async function seekNearEndAndPlayOn(id) {
  const el = document.getElementById(id);
  const target = el.duration - 2;
  const before = { ...state(el), bufferedEnd: el.buffered.length ? el.buffered.end(el.buffered.length - 1) : 0 };
  const seeked = new Promise((resolve) => el.addEventListener("seeked", resolve, { once: true }));
  el.currentTime = target;
  await Promise.race([seeked, waitFor(el, "seeked", () => false, 20000)]);
  const afterSeek = state(el);
  await waitFor(el, "playback past the seek point", () => el.currentTime > target + 0.5, 20000);
  return { target, before, afterSeek, playing: state(el) };
}
</script>
</body></html>`;
}

/** The web app's server: serves whatever page `html()` returns at `/`. */
function serve(html: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/") res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(html());
    else res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

async function inlineLink(id: string, as: Who, extraQuery = ""): Promise<{ url: string; validUntil: string }> {
  const res = await stack.api("GET", `/player/${CONVERSATION}/${id}/url/inline?conversationId=${CONVERSATION}&id=${id}${extraQuery}`, {
    as,
    headers: { Referer: `${pageOrigin}/` },
  });
  expect(res.status, res.text).toBe(200);
  return res.json;
}

async function compose(type: "VIDEO" | "AUDIO"): Promise<string> {
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId: CONVERSATION, layout: "GRID", name: `Playback ${type}`, resolution: "640x360", type },
  });
  expect(res.status, res.text).toBe(200);
  return res.json.id as string;
}

beforeAll(async () => {
  dir = await tempDir("e2e-playback-");
  const launching = chromium
    .launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
      ],
    })
    .then((b) => (browser = b)); // assigned at once, so afterAll closes it even if a later step fails
  launching.catch(() => undefined); // awaited below; don't let an early rejection go unhandled
  // Media, stack and browser start side by side: the stack's start dominates the test's time.
  const [[agentCam, customerCam]] = await Promise.all([
    Promise.all([
      makeTrack({
        dir,
        name: "agent",
        format: "webm",
        durationSec: SPAN,
        video: { color: "red", width: 640, height: 360 },
        audio: { frequency: 440 },
      }),
      makeTrack({
        dir,
        name: "customer",
        format: "mp4",
        durationSec: 12,
        video: { color: "lime", width: 640, height: 360 },
        audio: { frequency: 660 },
      }),
    ]),
    startTestStack().then((s) => (stack = s)),
  ]);
  await ingestRecording(
    stack,
    CONVERSATION,
    SPAN,
    [
      { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: agentCam, contentType: "video/webm" },
      {
        id: "t-customer",
        participantId: "customer",
        start: 4,
        stop: 16,
        audio: true,
        video: true,
        file: customerCam,
        contentType: "video/mp4",
      },
    ],
    AGENT.sub,
  );
  [ids.video, ids.audio] = await Promise.all([compose("VIDEO"), compose("AUDIO")]);
  const views = await Promise.all([
    waitForState(stack, CONVERSATION, ids.video, ["COMPLETED", "FAILED"]),
    waitForState(stack, CONVERSATION, ids.audio, ["COMPLETED", "FAILED"]),
  ]);
  for (const v of views) expect(v.state, v.error).toBe("COMPLETED");
  expect(views.map((v) => v.format)).toEqual(["MP4", "MP3"]);

  await launching;
  context = await browser.newContext();
  page = await context.newPage();
  // The page's server is "the web app": its own origin (another host name and port than the API's).
  pageServer = await serve(() => playerPage(links.video, links.audio));
  pageOrigin = `http://localhost:${(pageServer.address() as AddressInfo).port}`;
  // One link asked as the supervisor, one as the recording's agent: both roles may share links.
  links.video = (await inlineLink(ids.video, SUPERVISOR)).url;
  links.audio = (await inlineLink(ids.audio, AGENT)).url;
  expect(new URL(links.video).origin).not.toBe(pageOrigin);

  files.video = join(dir, "video.mp4");
  files.audio = join(dir, "audio.mp3");
  for (const kind of ["video", "audio"] as const) {
    const res = await fetch(links[kind]);
    expect(res.status).toBe(200);
    await writeFile(files[kind], Buffer.from(await res.arrayBuffer()));
  }

  const apiOrigin = new URL(links.video).origin;
  page.on("response", (r) => {
    if (!r.url().startsWith(apiOrigin)) return;
    const label = phase;
    pendingResponses.push(
      (async () => {
        const req = await r.request().allHeaders();
        const res = await r.allHeaders();
        responses.push({
          url: r.url(),
          status: r.status(),
          range: req.range,
          authorization: req.authorization,
          referer: req.referer,
          contentRange: res["content-range"],
          phase: label,
        });
      })(),
    );
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 10,
    downloadThroughput: THROTTLE_BYTES_PER_SECOND,
    uploadThroughput: 1024 * 1024,
  });
  await page.goto(`${pageOrigin}/`);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => (pageServer ? pageServer.close(r) : r(undefined)));
  await stack?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function responsesFor(url: string, label?: string): Promise<MediaResponse[]> {
  await Promise.all(pendingResponses);
  return responses.filter((r) => r.url === url && (label === undefined || r.phase === label));
}

/** Plays, seeks to 2 s before the end and plays on, in the page; returns what the element reported. */
async function playAndSeek(kind: "video" | "audio") {
  phase = `${kind}:play`;
  const played = (await page.evaluate(`playPastOneSecond(${JSON.stringify(kind)})`)) as {
    duration: number;
    currentTime: number;
    error: string | null;
  };
  phase = `${kind}:seek`;
  const seek = (await page.evaluate(`seekNearEndAndPlayOn(${JSON.stringify(kind)})`)) as {
    target: number;
    before: { bufferedEnd: number };
    afterSeek: { currentTime: number; error: string | null };
    playing: { currentTime: number; paused: boolean; ended: boolean; duration: number; error: string | null };
  };
  phase = "after";
  await page.evaluate(`document.getElementById(${JSON.stringify(kind)}).pause()`);
  return { played, seek };
}

async function expectPlaysAndSeeks(kind: "video" | "audio") {
  const { played, seek } = await playAndSeek(kind);
  expect(played.error).toBeNull();
  expect(played.currentTime).toBeGreaterThan(1);
  expect(Math.abs(played.duration - SPAN)).toBeLessThan(0.5);
  expect(seek.target).toBeCloseTo(played.duration - 2, 5);
  // The seek point was not downloaded yet (else the check for a request below would prove nothing).
  expect(seek.before.bufferedEnd).toBeLessThan(seek.target);
  expect(Math.abs(seek.afterSeek.currentTime - seek.target)).toBeLessThan(0.5);
  expect(seek.playing.currentTime).toBeGreaterThan(seek.target + 0.5);
  expect(seek.playing.paused).toBe(false);
  expect(seek.playing.error).toBeNull();
  expect(await page.evaluate("mediaErrors")).toEqual([]);

  const all = await responsesFor(links[kind]);
  if (process.env.PLAYBACK_DEBUG)
    console.log(kind, JSON.stringify({ played, seek, all: all.map((r) => [r.phase, r.status, r.range, r.contentRange]) }));
  expect(all.length).toBeGreaterThan(0);
  // The page of another origin loaded it, and sent no credentials: the signed link alone opens it.
  for (const r of all) {
    expect(r.authorization).toBeUndefined();
    expect(r.referer).toBe(`${pageOrigin}/`);
  }
  // Every ranged request was answered with exactly that range.
  const ranged = all.filter((r) => r.range !== undefined);
  expect(ranged.length).toBeGreaterThan(0);
  for (const r of ranged) {
    expect(r.status, JSON.stringify(r)).toBe(206);
    const start = /^bytes=(\d+)-/.exec(r.range!)?.[1];
    expect(r.contentRange, JSON.stringify(r)).toMatch(new RegExp(`^bytes ${start}-\\d+/\\d+$`));
  }
  // The seek needed bytes the browser did not have yet, and asked for them from an offset past 0.
  const forSeek = (await responsesFor(links[kind], `${kind}:seek`)).filter((r) => /^bytes=[1-9]\d*-/.test(r.range ?? ""));
  expect(forSeek.length, JSON.stringify(all, null, 1)).toBeGreaterThan(0);
  for (const r of forSeek) expect(r.status).toBe(206);
}

describe("playback and download through signed links", () => {
  it("the MP4 plays, seeks and plays on in Chromium, from a page of another origin, over 206 ranges", async () => {
    await expectPlaysAndSeeks("video");
  });

  it("the MP3 plays, seeks and plays on in Chromium, over 206 ranges", async () => {
    await expectPlaysAndSeeks("audio");
  });

  it("`curl -r 0-99`: 206 with exactly the first 100 bytes of the full download, no Authorization", async () => {
    for (const kind of ["video", "audio"] as const) {
      const full = await readFile(files[kind]);
      const res = await fetch(links[kind], { headers: { Range: "bytes=0-99" } });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(`bytes 0-99/${full.length}`);
      expect(res.headers.get("content-type")).toBe(kind === "video" ? "video/mp4" : "audio/mpeg");
      const part = Buffer.from(await res.arrayBuffer());
      expect(part.length).toBe(100);
      expect(part.equals(full.subarray(0, 100))).toBe(true);
    }
  });

  it("ffprobe reads the composition's duration straight from the signed URL", async () => {
    for (const kind of ["video", "audio"] as const) {
      const r = await run(FFPROBE, ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", links[kind]]);
      expect(r.code, r.stderr).toBe(0);
      const duration = Number(r.stdout.toString().trim());
      expect(Math.abs(duration - SPAN)).toBeLessThan(0.5);
      expect(Math.abs(duration - (await probe(files[kind])).duration)).toBeLessThan(0.05);
    }
  });

  it("a shared link opened after validUntil is refused with 403", async () => {
    const link = await inlineLink(ids.audio, SUPERVISOR, "&ttl=2");
    expect(Date.parse(link.validUntil) - Date.now()).toBeLessThanOrEqual(2000);
    const before = await fetch(link.url, { headers: { Range: "bytes=0-0" } });
    await before.arrayBuffer();
    expect(before.status).toBe(206);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(link.validUntil) - Date.now()) + 1000));
    const after = await fetch(link.url, { headers: { Range: "bytes=0-0" } });
    expect(after.status).toBe(403);
    expect(await after.text()).not.toMatch(/ID3|ftyp/);
  });
});
