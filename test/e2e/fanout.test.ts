// Issue 16 end to end: `RENDERERS=2` and `FANOUT_SEGMENT_SECONDS=4` as npm start passes them. A 12 s
// VIDEO call is split into three 4 s parts and the mix, rendered on both renderer processes under
// their own leases, joined by stream copy; the file plays and seeks in Chromium and shows the right
// grid on both sides of every join.
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { colorName, frameTimes, makeTrack, pixelsAt, probe, tempDir, toneLevels } from "../fixtures/media.ts";
import { downloadOutput, ingestRecording, startTestStack, SUPERVISOR, waitForState, type TestStack } from "./harness.ts";

const SPAN = 12;
const CONVERSATION = "conv-fanout";
let stack: TestStack;
let dir: string;
let file: string;
let link: string;
let id: string;
const seenRunning: Set<string>[] = [new Set(), new Set()];
const progressSeen: number[] = [];

/** Every unit each renderer process ran, from their /health, and the view's progress, until the composition settles. */
async function watch(): Promise<void> {
  for (;;) {
    const healths = await Promise.all(
      stack.rendererUrls.map((u) => fetch(`${u}/health`).then((r) => r.json() as Promise<{ running: string[] }>)),
    );
    healths.forEach((h, i) => h.running.forEach((j) => seenRunning[i]!.add(j)));
    const view = (await stack.api("GET", `/query/conversation/${CONVERSATION}`, { as: SUPERVISOR })).json?.compositions?.find(
      (c: { id: string }) => c.id === id,
    );
    if (view) progressSeen.push(view.progress);
    if (!view || ["COMPLETED", "FAILED", "CANCELLED"].includes(view.state)) return;
    await new Promise((r) => setTimeout(r, 150));
  }
}

beforeAll(async () => {
  dir = await tempDir("e2e-fanout-");
  const [agent, customer, expert] = await Promise.all([
    makeTrack({
      dir,
      name: "agent",
      format: "webm",
      durationSec: 12,
      video: { color: "red", width: 320, height: 240 },
      audio: { frequency: 440 },
    }),
    makeTrack({
      dir,
      name: "customer",
      format: "webm",
      durationSec: 4.5,
      video: { color: "lime", width: 320, height: 240 },
      audio: { frequency: 660 },
    }),
    makeTrack({
      dir,
      name: "expert",
      format: "webm",
      durationSec: 6,
      video: { color: "blue", width: 320, height: 240 },
      audio: { frequency: 880 },
    }),
  ]);
  stack = await startTestStack({ renderers: 2, vars: { FANOUT_SEGMENT_SECONDS: "4", RENDERER_SLOTS: "1" }, rendererEnv: { SLOTS: "1" } });
  await ingestRecording(stack, CONVERSATION, SPAN, [
    { id: "t-agent", participantId: "agent", start: 0, audio: true, video: true, file: agent, contentType: "video/webm" },
    // Joins inside the first part, leaves exactly on the second join.
    {
      id: "t-customer",
      participantId: "customer",
      start: 3.5,
      stop: 8,
      audio: true,
      video: true,
      file: customer,
      contentType: "video/webm",
    },
    { id: "t-expert", participantId: "expert", start: 6, audio: true, video: true, file: expert, contentType: "video/webm" },
  ]);
  const res = await stack.api("POST", "/request", {
    as: SUPERVISOR,
    body: { conversationId: CONVERSATION, layout: "GRID", name: "Split", resolution: "640x360", type: "VIDEO" },
  });
  expect(res.status, res.text).toBe(200);
  id = res.json.id;
  await watch();
  const view = await waitForState(stack, CONVERSATION, id, ["COMPLETED", "FAILED"]);
  expect(view.state, `${view.error}\n${stack.logs().slice(-3000)}`).toBe("COMPLETED");
  file = join(dir, "out.mp4");
  link = await downloadOutput(stack, CONVERSATION, id, file);
}, 300_000);

afterAll(async () => {
  await stack?.dispose();
});

const CELLS: [number, number][] = [
  [160, 90],
  [480, 90],
  [160, 270],
  [480, 270],
];

describe("fan-out over two renderer processes", () => {
  it("ran the parts as units on both renderers, and the view's progress summed them", () => {
    const units = seenRunning.map((s) => [...s].filter((j) => j.startsWith(`${id}~`)));
    expect(units[0]!.length, JSON.stringify(units)).toBeGreaterThan(0);
    expect(units[1]!.length, JSON.stringify(units)).toBeGreaterThan(0);
    const all = new Set(units.flat().map((u) => u.split("~")[2]));
    expect([...all].sort()).toEqual(["a", "j", "v0", "v1", "v2"]);
    expect(progressSeen.some((p) => p > 0 && p < 100)).toBe(true);
    expect(progressSeen.every((p, i) => i === 0 || p >= progressSeen[i - 1]!)).toBe(true);
  });

  it("is one seamless file: every frame once, 40 ms apart, audio and video ending together", async () => {
    const times = await frameTimes(file);
    expect(times.length).toBe(SPAN * 25);
    expect(new Set(times.slice(1).map((t, i) => Math.round((t - times[i]!) * 1000)))).toEqual(new Set([40]));
    const info = await probe(file);
    expect(Math.abs(info.video!.durationSec! - SPAN)).toBeLessThanOrEqual(0.04);
    expect(Math.abs(info.audio!.durationSec! - info.video!.durationSec!)).toBeLessThanOrEqual(0.04);
  });

  it("shows the grid right on both sides of every join, and the one mix", async () => {
    const at = async (t: number) => (await pixelsAt(file, t, CELLS)).map(colorName);
    expect(await at(3.96)).toEqual(["red", "green", "red", "green"]);
    expect(await at(4.04)).toEqual(["red", "green", "red", "green"]);
    expect(await at(7.96)).toEqual(["red", "green", "blue", "black"]);
    expect(await at(8.04)).toEqual(["red", "blue", "red", "blue"]);
    const [a, b, c] = await toneLevels(file, 5, 0.5, [440, 660, 880]);
    expect(a).toBeGreaterThan(0.05);
    expect(b).toBeGreaterThan(0.05);
    expect(c).toBeLessThan(0.01);
  });

  it("plays and seeks across the joins in Chromium, showing the frame of the time sought", async () => {
    const browser: Browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
    });
    try {
      const page = await browser.newPage();
      // Same origin as the link, so the canvas can read the frame.
      await page.goto(new URL(link).origin + "/");
      const seen = await page.evaluate(
        async ({ src, cells }) => {
          const v = document.createElement("video");
          v.muted = true;
          v.src = src;
          document.body.append(v);
          await v.play();
          const canvas = document.createElement("canvas");
          [canvas.width, canvas.height] = [640, 360];
          const ctx = canvas.getContext("2d")!;
          const colours: number[][][] = [];
          for (const t of [2, 6.5, 10]) {
            await new Promise((r) => {
              v.addEventListener("seeked", r, { once: true });
              v.currentTime = t;
            });
            ctx.drawImage(v, 0, 0);
            colours.push(cells.map(([x, y]) => [...ctx.getImageData(x!, y!, 1, 1).data.slice(0, 3)]));
          }
          return { duration: v.duration, colours };
        },
        { src: link, cells: CELLS },
      );
      expect(Math.abs(seen.duration - SPAN)).toBeLessThan(0.1);
      expect(seen.colours.map((cells) => cells.map(colorName))).toEqual([
        ["red", "red", "red", "red"],
        ["red", "green", "blue", "black"],
        ["red", "blue", "red", "blue"],
      ]);
    } finally {
      await browser.close();
    }
  });
});
