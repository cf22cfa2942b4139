// The console in real Chromium over the running stack: sign in by link and by pasting a token, see a
// new composition appear and complete live, play it, hover the scrub bar for a thumbnail, share a
// link that plays without a token in a fresh browser, revoke it; and the sidecars the player reads
// are checked against the media. SCREENSHOTS=1 writes the README's screenshots to docs/images/.
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/stack.ts";
import { colorName, FFMPEG, makeTrack, pixelsAt, probe, run, tempDir } from "../fixtures/media.ts";
import { ingestRecording, startTestStack, SUPERVISOR, type TestStack, type Who } from "./harness.ts";

const SPAN = 12;
const CONVERSATION = "conv-console";
const AGENT: Who = { sub: "alice", org: "acme", roles: ["AGENT"] };
const SHOTS = process.env.SCREENSHOTS === "1" ? join(ROOT, "docs", "images") : "";

let stack: TestStack;
let dir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let token: string;
const requestedUrls: string[] = [];
const shared = { url: "", videoId: "", file: "" };

/** Peak |sample| of one channel of a file's audio in [from, from + seconds) (no downmix: the waveform is per channel). */
async function channelPeak(file: string, channel: number, from: number, seconds: number): Promise<number> {
  const r = await run(FFMPEG, [
    "-v",
    "error",
    "-ss",
    String(from),
    "-t",
    String(seconds),
    "-i",
    file,
    "-vn",
    "-af",
    `pan=mono|c0=c${channel}`,
    "-f",
    "f32le",
    "pipe:1",
  ]);
  const samples = new Float32Array(r.stdout.buffer.slice(r.stdout.byteOffset, r.stdout.byteOffset + (r.stdout.byteLength & ~3)));
  return samples.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

const consoleUrl = () => `${stack.apiUrl}/console`;
const row = (name: string) => page.locator("tbody tr", { has: page.getByRole("button", { name: `Open ${name}`, exact: true }) });

beforeAll(async () => {
  dir = await tempDir("e2e-console-");
  const launching = chromium
    .launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
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
    .then((b) => (browser = b));
  launching.catch(() => undefined);
  const media = async () => {
    // The agent (red) the whole call, the customer (lime) from 3 s to 8 s: one tile, two side by side, one again.
    const agent = await makeTrack({
      dir,
      name: "agent",
      format: "webm",
      durationSec: SPAN,
      video: { color: "red", width: 640, height: 360 },
      audio: { frequency: 440 },
    });
    const customer = await makeTrack({
      dir,
      name: "customer",
      format: "webm",
      durationSec: 5,
      video: { color: "lime", width: 640, height: 360 },
      audio: { frequency: 660 },
    });
    return { agent, customer };
  };
  const [{ agent, customer }] = await Promise.all([media(), startTestStack().then((s) => (stack = s))]);
  await ingestRecording(
    stack,
    CONVERSATION,
    SPAN,
    [
      { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: agent, contentType: "video/webm" },
      {
        id: "t-customer",
        participantId: "customer",
        start: 3,
        stop: 8,
        audio: true,
        video: true,
        file: customer,
        contentType: "video/webm",
      },
    ],
    AGENT.sub,
  );
  token = await stack.token(SUPERVISOR);
  await launching;
  context = await browser.newContext({ viewport: { width: 1280, height: 720 }, permissions: ["clipboard-read", "clipboard-write"] });
  page = await context.newPage();
  page.on("request", (r) => requestedUrls.push(`${r.url()} ${r.headers().referer ?? ""}`));
  page.on("dialog", (d) => d.accept());
});

afterAll(async () => {
  await browser?.close();
  await stack?.dispose();
});

describe("the console", () => {
  it("the Worker serves the console/ files as they are (npm run build:console is current)", async () => {
    const { consoleModule, GENERATED } = await import("../../scripts/build-console.ts");
    expect(readFileSync(GENERATED, "utf8"), "run npm run build:console").toBe(consoleModule());
  });

  it("signs in from …/console#token=: the token moves to session storage and never travels", async () => {
    const files: Promise<number>[] = [];
    page.on("requestfinished", (r) => {
      if (r.url().startsWith(consoleUrl())) files.push(r.sizes().then((s) => s.responseBodySize + s.responseHeadersSize));
    });
    await page.goto(`${consoleUrl()}#token=${token}`);
    await expect.poll(() => page.getByLabel("Signed-in user").textContent()).toBe("sue · SUPERVISOR · acme");
    expect(page.url()).toBe(consoleUrl());
    expect(await page.evaluate(() => sessionStorage.getItem("composition-console-token"))).toBe(token);
    expect(requestedUrls.filter((u) => u.includes(token))).toEqual([]);
    for (const region of ["Compositions", "Player"])
      await expect.poll(() => page.getByRole("region", { name: region }).isVisible()).toBe(true);
    // The page and everything it loads: 8 files, small enough to keep (a budget, uncompressed as `npm start` serves them).
    await expect.poll(() => files.length).toBe(8);
    const transferred = (await Promise.all(files)).reduce((a, b) => a + b, 0);
    console.log(`console page: ${files.length} files, ${transferred} bytes transferred`);
    expect(transferred).toBeLessThan(64 * 1024);
  });

  it("a composition requested from the form appears, moves through its states live and completes", async () => {
    await page.getByText("Request a composition", { exact: true }).click();
    const form = page.getByRole("form", { name: "Request a composition" });
    await form.getByLabel("Conversation id").fill(CONVERSATION);
    await form.getByLabel("Name").fill("Review call");
    await form.getByLabel("Type").selectOption("VIDEO");
    await form.getByLabel("Resolution").selectOption("640x360");
    await form.getByRole("button", { name: "Request" }).click();
    await expect.poll(() => row("Review call").count(), { timeout: 10_000 }).toBe(1);
    // Another one requested elsewhere (the API) shows up without a reload.
    const audio = await stack.api("POST", "/request", {
      as: SUPERVISOR,
      body: { conversationId: CONVERSATION, layout: "GRID", name: "Audio mix", resolution: "320x240", type: "AUDIO" },
    });
    expect(audio.status, audio.text).toBe(200);
    const seen = new Set<string>();
    await expect
      .poll(
        async () => {
          const state = await row("Review call").locator(".state").textContent();
          seen.add(state ?? "");
          return state;
        },
        { timeout: 120_000, interval: 200 },
      )
      .toBe("COMPLETED");
    expect(
      [...seen].some((s) => s === "QUEUED" || s === "PROCESSING"),
      [...seen].join(),
    ).toBe(true);
    await expect.poll(() => row("Audio mix").locator(".state").textContent(), { timeout: 60_000 }).toBe("COMPLETED");
    expect(await row("Review call").getByRole("progressbar", { name: "Progress of Review call" }).getAttribute("value")).toBe("100");
  });

  it("plays the selected composition; the keyboard opens it and moves the scrub bar", async () => {
    await page.getByRole("button", { name: "Open Review call", exact: true }).focus();
    await page.keyboard.press("Enter");
    const video = page.getByLabel("Video: Review call");
    await expect.poll(() => video.getAttribute("src")).toMatch(/\/player\/inline\//);
    shared.videoId = (await row("Review call").getAttribute("data-id"))!;
    const played = await video.evaluate(async (el: HTMLVideoElement) => {
      await el.play();
      await new Promise<void>((r) => {
        const t = () => (el.currentTime > 1 ? r() : setTimeout(t, 50));
        t();
      });
      el.pause();
      return { t: el.currentTime, d: el.duration };
    });
    expect(played.t).toBeGreaterThan(1);
    expect(played.d).toBeCloseTo(SPAN, 0);
    const scrub = page.getByRole("slider", { name: "Scrub bar" });
    await scrub.focus();
    const before = await video.evaluate((el: HTMLVideoElement) => el.currentTime);
    for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
    await expect.poll(() => video.evaluate((el: HTMLVideoElement) => el.currentTime)).toBeGreaterThan(before + 1.5);
  });

  it("hovering the scrub bar shows the thumbnail of that instant: the frame's tile colours", async () => {
    await expect.poll(() => page.getByRole("img", { name: "Waveform" }).isVisible(), { timeout: 20_000 }).toBe(true);
    shared.file = join(dir, "review.mp4");
    const link = await stack.api(
      "GET",
      `/player/${CONVERSATION}/${shared.videoId}/url/inline?conversationId=${CONVERSATION}&id=${shared.videoId}`,
      { as: SUPERVISOR, headers: { Referer: consoleUrl() } },
    );
    await writeFile(shared.file, Buffer.from(await (await fetch(link.json.url)).arrayBuffer()));
    const scrub = page.getByRole("slider", { name: "Scrub bar" });
    const box = (await scrub.boundingBox())!;
    const duration = await page.getByLabel("Video: Review call").evaluate((el: HTMLVideoElement) => el.duration);
    for (const t of [1.5, 4.5, 9.5]) {
      await page.mouse.move(box.x + (t / duration) * box.width, box.y + box.height / 2);
      const thumb = page.getByRole("img", { name: `Thumbnail preview at 0:0${Math.floor(t)}` });
      await expect.poll(() => thumb.isVisible(), { timeout: 10_000 }).toBe(true);
      const png = join(dir, `thumb-${t}.png`);
      await writeFile(png, await thumb.screenshot());
      // The tile's left and right halves against the frame of the output at that time.
      const shown = (
        await pixelsAt(png, 0, [
          [42, 30],
          [122, 30],
        ])
      ).map(colorName);
      const frame = (
        await pixelsAt(shared.file, t, [
          [160, 180],
          [480, 180],
        ])
      ).map(colorName);
      expect(shown, `thumbnail at ${t}s`).toEqual(frame);
    }
    expect(
      (
        await pixelsAt(join(dir, "thumb-4.5.png"), 0, [
          [42, 30],
          [122, 30],
        ])
      ).map(colorName),
    ).toEqual(["red", "green"]);
    expect(
      (
        await pixelsAt(join(dir, "thumb-9.5.png"), 0, [
          [42, 30],
          [122, 30],
        ])
      ).map(colorName),
    ).toEqual(["red", "red"]);
    // The composition's own speaker timeline (analytics) gives the player its lanes.
    expect(await page.getByRole("group", { name: "Speaker timeline" }).isVisible()).toBe(true);
    if (SHOTS) {
      await mkdir(SHOTS, { recursive: true });
      await page.mouse.move(box.x + (4.5 / duration) * box.width, box.y + box.height / 2);
      await page.screenshot({ path: join(SHOTS, "console-1280x720.png") });
    }
  });

  it("the sidecars follow the media: the waveform's length and peaks, the thumbnails' cells", async () => {
    const asset = async (name: string) => {
      const res = await stack.api(
        "GET",
        `/player/${CONVERSATION}/${shared.videoId}/url/inline?conversationId=${CONVERSATION}&id=${shared.videoId}&asset=${name}`,
        { as: SUPERVISOR, headers: { Referer: consoleUrl() } },
      );
      expect(res.status, res.text).toBe(200);
      return fetch(res.json.url);
    };
    const wf = await (await asset("waveform.json")).json();
    // A band per channel of the output (a call of mono tracks is mixed and encoded as mono).
    const audio = (await probe(shared.file)).audio!;
    const channels = audio.channels!;
    expect(wf).toMatchObject({ version: 2, channels, sample_rate: 48000, bits: 16 });
    // As long as the audio the MP4 states (what a browser plays): ffmpeg 5.1's own decode of it also
    // keeps the AAC encoder's padding of the last frame, a few hundred samples the file trims.
    expect(wf.length).toBe(Math.ceil((audio.durationSec! * wf.sample_rate) / wf.samples_per_pixel));
    const perSecond = wf.sample_rate / wf.samples_per_pixel;
    const wavePeak = (channel: number, from: number, to: number) => {
      let m = 0;
      for (let i = Math.floor(from * perSecond); i < Math.ceil(to * perSecond); i++) {
        m = Math.max(m, -wf.data[(i * channels + channel) * 2], wf.data[(i * channels + channel) * 2 + 1]);
      }
      return m / 32768;
    };
    // One voice, then two summed, then one again: each channel's peaks follow the decoded output's.
    for (const [from, to] of [
      [0.5, 2.5],
      [4, 7],
      [9, 11],
    ] as const) {
      for (let channel = 0; channel < channels; channel++) {
        const decoded = await channelPeak(shared.file, channel, from, to - from);
        const drawn = wavePeak(channel, from, to);
        expect(Math.abs(drawn - decoded), `channel ${channel}, ${from}-${to} s: waveform ${drawn}, decoded ${decoded}`).toBeLessThan(0.01);
      }
    }
    expect(wavePeak(0, 4, 7)).toBeGreaterThan(wavePeak(0, 0.5, 2.5) * 1.5);

    const cues = (await (await asset("thumbnails.vtt")).text()).trim().split("\n\n").slice(1);
    expect(cues).toHaveLength(SPAN);
    const sprite = join(dir, "sprite.jpg");
    await writeFile(sprite, Buffer.from(await (await fetch(cues[0]!.split("\n")[1]!.split("#")[0]!)).arrayBuffer()));
    // As PNG: ffmpeg's seek (used by pixelsAt) finds no frame in some single JPEGs.
    const png = join(dir, "sprite.png");
    expect((await run(FFMPEG, ["-v", "error", "-y", "-i", sprite, png])).code).toBe(0);
    for (const k of [1, 4, 9]) {
      const [x, y, w, h] = /#xywh=(\d+),(\d+),(\d+),(\d+)/.exec(cues[k]!)!.slice(1).map(Number) as [number, number, number, number];
      const cell = (
        await pixelsAt(png, 0, [
          [x + w / 4, y + h / 2],
          [x + (3 * w) / 4, y + h / 2],
        ])
      ).map(colorName);
      expect(cell, `cell ${k}`).toEqual(
        (
          await pixelsAt(shared.file, k + 0.5, [
            [160, 180],
            [480, 180],
          ])
        ).map(colorName),
      );
    }
  });

  it("speaker lanes from timeline.json (a crafted one with known spans, served by the test): a talk span seeks there", async () => {
    // The format issue 18 specifies; the browser gets it as if the Worker served it.
    const timeline = {
      duration: SPAN,
      participants: [
        {
          participantId: "agent",
          role: "AGENT",
          displayName: "Alice",
          talk: [
            [0.5, 2.5],
            [6.2, 9],
          ],
        },
        { participantId: "customer", role: "CUSTOMER", talk: [[3.5, 6.5]] },
      ],
      overtalk: [[6.2, 6.5]],
      silence: [
        [2.5, 3.5],
        [9, 12],
      ],
    };
    const fakeUrl = `${stack.apiUrl}/player/inline/${CONVERSATION}/${shared.videoId}/timeline.json?test`;
    const isLinkCall = (u: URL) => u.pathname.endsWith("/url/inline") && u.searchParams.get("asset") === "timeline.json";
    await page.route(isLinkCall, (r) => r.fulfill({ json: { url: fakeUrl, validUntil: new Date(Date.now() + 3600_000).toISOString() } }));
    await page.route(fakeUrl, (r) => r.fulfill({ json: timeline }));
    await page.getByRole("button", { name: "Open Review call", exact: true }).click();
    const lanes = page.getByRole("group", { name: "Speaker timeline" });
    await expect.poll(() => lanes.isVisible(), { timeout: 10_000 }).toBe(true);
    for (const name of ["Alice lane", "Customer lane", "Overtalk lane", "Silence lane"])
      expect(await lanes.getByRole("group", { name }).count(), name).toBe(1);
    await lanes.getByRole("button", { name: "Customer talks 0:03 to 0:06" }).click();
    await expect.poll(() => page.getByLabel("Video: Review call").evaluate((el: HTMLVideoElement) => el.currentTime)).toBeCloseTo(3.5, 1);
    await page.unrouteAll();
  });

  it("Share copies a link that plays in a fresh browser without a token; Revoke links refuses it", async () => {
    await page.getByLabel("Share link lifetime").selectOption("86400");
    await page.getByRole("button", { name: "Copy share link" }).click();
    await expect
      .poll(() => page.getByLabel("Share link", { exact: true }).inputValue())
      .toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*Expires=86400/);
    shared.url = await page.getByLabel("Share link", { exact: true }).inputValue();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(shared.url);
    expect(await page.getByRole("status").textContent()).toMatch(/plays without a token/);

    const fresh = await browser.newContext();
    const viewer = await fresh.newPage();
    const opened = await viewer.goto(shared.url);
    expect(opened?.status()).toBe(200);
    const t = await viewer.evaluate(async () => {
      const el = document.querySelector("video")!;
      el.muted = true;
      await el.play();
      await new Promise<void>((r) => {
        const tick = () => (el.currentTime > 1 ? r() : setTimeout(tick, 50));
        tick();
      });
      return el.currentTime;
    });
    expect(t).toBeGreaterThan(1);
    expect(await viewer.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
    await fresh.close();

    await page.getByRole("button", { name: "Revoke links" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toMatch(/revoked/);
    const later = await browser.newContext();
    const refused = await (await later.newPage()).goto(shared.url);
    expect(refused?.status()).toBe(403);
    await later.close();
    // The console's own player continues on a fresh link.
    const video = page.getByLabel("Video: Review call");
    await expect.poll(() => video.getAttribute("src")).not.toBe(null);
    expect((await fetch((await video.getAttribute("src"))!, { headers: { Range: "bytes=0-9" } })).status).toBe(206);
  });

  it("an AGENT signs in by pasting a token and sees only what the role allows", async () => {
    const agentContext = await browser.newContext({ viewport: { width: 375, height: 812 } });
    const phone = await agentContext.newPage();
    await phone.goto(consoleUrl());
    await phone.getByLabel("Access token (JWT)").fill(await stack.token(AGENT));
    await phone.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => phone.getByLabel("Signed-in user").textContent()).toBe("alice · AGENT · acme");
    await expect.poll(() => phone.getByRole("button", { name: "Open Review call", exact: true }).count(), { timeout: 15_000 }).toBe(1);
    expect(await phone.getByRole("button", { name: "Re-execute Review call" }).isVisible()).toBe(true);
    expect(await phone.getByRole("button", { name: "Delete Review call" }).isVisible()).toBe(false);
    await phone.getByRole("button", { name: "Open Review call", exact: true }).click();
    await expect.poll(() => phone.getByRole("button", { name: "Copy share link" }).isVisible()).toBe(true);
    expect(await phone.getByRole("button", { name: "Revoke links" }).isVisible()).toBe(false);
    // Readable on a phone: nothing wider than the screen.
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await expect.poll(() => phone.getByRole("img", { name: "Waveform" }).isVisible(), { timeout: 20_000 }).toBe(true);
    await expect
      .poll(() => phone.getByLabel("Video: Review call").evaluate((el: HTMLVideoElement) => el.readyState), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(3);
    if (SHOTS) {
      // Chromium's loading spinner fades out after the data has arrived.
      await phone.waitForTimeout(2000);
      await phone.screenshot({ path: join(SHOTS, "console-375.png"), fullPage: true });
    }
    await agentContext.close();
  });

  it("every control has an accessible name", async () => {
    const unnamed = await page.evaluate(() =>
      Array.from(document.querySelectorAll("button, input, select, textarea, video, audio, canvas, progress"))
        .filter((el) => (el as HTMLElement).offsetParent !== null)
        .filter((el) => {
          const labelled = "labels" in el && (el as HTMLInputElement).labels?.length;
          return !labelled && !el.getAttribute("aria-label") && !el.textContent?.trim();
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    );
    expect(unnamed).toEqual([]);
  });
});
