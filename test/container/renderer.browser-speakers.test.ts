// The speaker timeline on real browser recordings: Chromium records each participant with
// MediaRecorder (WebM/Opus, as a contact-centre web client does) from a capture whose talk spans
// are known, over a steady noise floor; the timeline must find them within ±0.15 s, the metrics ±0.3 s.
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAudio, makeTalker, talkingTone, tempDir } from "../fixtures/media.ts";
import { FakeWorker } from "./fake-worker.ts";
import { renderCompleted, startRenderer, type RunningRenderer } from "./harness.ts";

type Span = [number, number];
const SECONDS = 10;
const AGENT: Span[] = [
  [1, 3],
  [5, 6.5],
];
const CUSTOMER: Span[] = [
  [3.5, 4.8],
  [7, 9],
];

let fw: FakeWorker;
let origin: string;
let server: Server;
let r: RunningRenderer;
let timeline: any;
const expected = new Map<string, Span[]>();

/** A capture: a voice-band tone in `spans`, over hiss about 45 dB below it. */
const capture = (dir: string, name: string, hz: number, spans: Span[]) =>
  makeTalker(join(dir, `${name}.wav`), talkingTone(hz, spans, SECONDS + 2, { amplitude: 0.25, hiss: 0.003 }), ["-c:a", "pcm_s16le"]);

/** Chromium records the capture for SECONDS with MediaRecorder (no echo cancellation, noise suppression or AGC). */
async function browserRecording(wav: string, out: string): Promise<void> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}%noloop`,
    ],
  });
  try {
    const page = await browser.newPage();
    // getUserMedia needs a secure context: loopback http is one, about:blank is not.
    await page.goto(origin);
    const base64 = await page.evaluate(async (ms) => {
      const audio = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
      const stream = await navigator.mediaDevices.getUserMedia({ audio });
      const recorder = new MediaRecorder(stream, { mimeType: "audio/webm;codecs=opus" });
      const chunks: Blob[] = [];
      recorder.ondataavailable = (e) => chunks.push(e.data);
      const stopped = new Promise((resolve) => (recorder.onstop = resolve));
      recorder.start(1000);
      await new Promise((resolve) => setTimeout(resolve, ms));
      recorder.stop();
      await stopped;
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      let s = "";
      for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s);
    }, SECONDS * 1000);
    await writeFile(out, Buffer.from(base64, "base64"));
  } finally {
    await browser.close();
  }
}

/** Where the recording's first talk begins, found on its decoded samples (the capture started before the recorder). */
async function firstOnset(file: string): Promise<number> {
  const samples = await decodeAudio(file, 0, SECONDS);
  const i = samples.findIndex((v) => Math.abs(v) > 0.1);
  return i / 48000;
}

beforeAll(async () => {
  fw = await FakeWorker.start();
  r = await startRenderer();
  server = createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>recorder</title>"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const dir = await tempDir("browser-speakers-");
  const people: [string, number, Span[]][] = [
    ["agent", 440, AGENT],
    ["customer", 660, CUSTOMER],
  ];
  const recorded = await Promise.all(
    people.map(async ([name, hz, spans]) => {
      const webm = join(dir, `${name}.webm`);
      await browserRecording(await capture(dir, name, hz, spans), webm);
      // The spans as they lie in the recording: shifted by the recorder's start after the capture's.
      const shift = spans[0]![0] - (await firstOnset(webm));
      expected.set(
        name,
        spans.map(([a, b]): Span => [a - shift, b - shift]),
      );
      return webm;
    }),
  );
  const job = fw.job({
    jobId: "browser",
    type: "AUDIO",
    durationMs: SECONDS * 1000,
    tracks: [
      { id: "agent", participantId: "agent", file: recorded[0]!, offsetMs: 0, audio: true, video: false },
      { id: "customer", participantId: "customer", file: recorded[1]!, offsetMs: 0, audio: true, video: false },
    ],
  });
  const { path } = await renderCompleted(fw, r, job);
  expect(path).toBeTruthy();
  const { readFile } = await import("node:fs/promises");
  timeline = JSON.parse(await readFile(fw.assets.get("browser")!.get("timeline.json")!, "utf8"));
}, 120_000);
afterAll(async () => {
  server?.close();
  await r?.close();
  await fw?.close();
});

describe("the speaker timeline of browser recordings", () => {
  it("finds every talk span within ±0.15 s", () => {
    for (const p of timeline.participants) {
      const want = expected.get(p.participantId)!;
      expect(p.talk.length, JSON.stringify(p.talk)).toBe(want.length);
      p.talk.forEach(([a, b]: Span, i: number) => {
        expect(Math.abs(a - want[i]![0]), `${p.participantId} start ${a} vs ${want[i]![0]}`).toBeLessThan(0.15);
        expect(Math.abs(b - want[i]![1]), `${p.participantId} end ${b} vs ${want[i]![1]}`).toBeLessThan(0.15);
      });
    }
  });

  it("gets each participant's talk time within ±0.3 s", () => {
    for (const [who, spans] of expected) {
      const want = spans.reduce((n, [a, b]) => n + b - a, 0);
      expect(Math.abs(timeline.metrics.talkSeconds[who] - want), who).toBeLessThan(0.3);
    }
  });
});
