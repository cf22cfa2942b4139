// Engines directly (no HTTP): native vs wasm on the same plan, cancellation, errors, engine choice,
// and a mid-stream resolution change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RenderJob } from "../../contract/renderer.ts";
import { chooseEngine } from "../../container/src/engines/choose.ts";
import { createNativeEngine, nativeFfprobe } from "../../container/src/engines/native.ts";
import { withParallelAudio } from "../../container/src/engines/parallel-audio.ts";
import { EngineError, type Engine } from "../../container/src/engines/types.ts";
import { createWasmRuntime, type WasmRuntime } from "../../container/src/engines/wasm.ts";
import { planRender, type RenderPlan } from "../../container/src/planner/index.ts";
import { withSpeakerTaps } from "../../container/src/planner/speakers.ts";
import { withMixTap } from "../../container/src/planner/taps.ts";
import { createProber, InvalidMediaError } from "../../container/src/probe.ts";
import { compareSeams } from "../fixtures/seams.ts";
import { colorName, concatWebm, makeGarbage, makeTrack, peakLevel, pixelsAt, probe, tempDir } from "../fixtures/media.ts";

let dir: string;
let wasm: WasmRuntime;
const native = createNativeEngine("ffmpeg");
const nativeProber = createProber(nativeFfprobe("ffprobe"));
let files: Record<string, string>;

function job(type: "AUDIO" | "VIDEO", tracks: { id: string; offsetMs: number; video?: boolean }[], durationMs: number): RenderJob {
  return {
    jobId: "e",
    attempt: 1,
    type,
    format: type === "AUDIO" ? "MP3" : "MP4",
    width: 640,
    height: 360,
    durationMs,
    tracks: tracks.map((t) => ({ participantId: t.id, url: "http://x/", audio: true, video: t.video ?? false, size: 1, ...t })),
    output: { url: "http://x/", contentType: "x", multipartUrl: "http://x/" },
    callback: { url: "http://x/", token: "t" },
  };
}

/** A 12 s AUDIO composition of two tones, the second (9 s) joining 2.5 s in: its plan per output name. */
async function twoTonesPlan(prefix: string): Promise<(out: string) => RenderPlan> {
  const [x, y] = await Promise.all([
    makeTrack({ dir, name: `${prefix}x`, format: "webm", durationSec: 12, audio: { frequency: 440 } }),
    makeTrack({ dir, name: `${prefix}y`, format: "webm", durationSec: 9, audio: { frequency: 660 } }),
  ]);
  const j = job(
    "AUDIO",
    [
      { id: "x", offsetMs: 0 },
      { id: "y", offsetMs: 2500 },
    ],
    12_000,
  );
  const facts = { x: await nativeProber.probe(x), y: await nativeProber.probe(y) };
  return (out) => planRender(j, facts, { inputs: { x, y }, output: `${dir}/${out}` });
}

/** Every shape a native AUDIO render can take: the single command, the process pipeline, its windows. */
const nativeAudioShapes = (): [string, Engine][] => [
  ["single command", native],
  ["pipeline", withParallelAudio(native, { minSeconds: 0, cores: 2 })],
  ["windows", withParallelAudio(native, { minSeconds: 0, cores: 2, chunkMinSeconds: 4 })],
];

async function audioPlan(out: string) {
  const j = job(
    "AUDIO",
    [
      { id: "a", offsetMs: 0 },
      { id: "b", offsetMs: 1500 },
    ],
    4000,
  );
  const facts = { a: await nativeProber.probe(files.a!), b: await nativeProber.probe(files.b!) };
  return planRender(j, facts, { inputs: { a: files.a!, b: files.b! }, output: out });
}

beforeAll(async () => {
  dir = await tempDir("engines-");
  wasm = createWasmRuntime();
  const [a, b, big, small, garbage] = await Promise.all([
    makeTrack({ dir, name: "a", format: "webm", durationSec: 4, audio: { frequency: 440 } }),
    makeTrack({ dir, name: "b", format: "wav", durationSec: 2, audio: { frequency: 660 } }),
    makeTrack({
      dir,
      name: "big",
      format: "webm",
      durationSec: 1.5,
      video: { color: "red", width: 640, height: 480 },
      audio: { frequency: 440 },
    }),
    makeTrack({
      dir,
      name: "small",
      format: "webm",
      durationSec: 1.5,
      video: { color: "blue", width: 240, height: 320 },
      audio: { frequency: 440 },
    }),
    makeGarbage(dir, "garbage.bin"),
    wasm.load(),
  ]);
  files = { a, b, big, small, garbage } as Record<string, string>;
});
afterAll(() => wasm.close());

describe("engines", () => {
  it("the parallel audio pipeline gives the single command's MP3, byte for byte, and can be cancelled", async () => {
    const [x, y] = await Promise.all([
      makeTrack({ dir, name: "px", format: "webm", durationSec: 6, audio: { frequency: 440 } }),
      makeTrack({ dir, name: "py", format: "wav", durationSec: 4, audio: { frequency: 660 } }),
    ]);
    const j = job(
      "AUDIO",
      [
        { id: "x", offsetMs: 0 },
        { id: "y", offsetMs: 2000 },
      ],
      6000,
    );
    const facts = { x: await nativeProber.probe(x), y: await nativeProber.probe(y) };
    const plan = (out: string) => planRender(j, facts, { inputs: { x, y }, output: out });
    const said: string[] = [];
    const parallel = withParallelAudio(native, { minSeconds: 0, cores: 2, onInfo: (l) => said.push(l) });
    const single = plan(`${dir}/single.mp3`);
    const piped = plan(`${dir}/piped.mp3`);
    await native.run(single, { signal: new AbortController().signal, onProgress: () => undefined });
    await parallel.run(piped, { signal: new AbortController().signal, onProgress: () => undefined });
    const { readFile } = await import("node:fs/promises");
    expect(said).toEqual(["parallel audio: 2 decoder(s) → mixer → encoder"]);
    expect(Buffer.compare(await readFile(single.output), await readFile(piped.output))).toBe(0);

    const abort = new AbortController();
    const running = parallel.run(plan(`${dir}/aborted.mp3`), { signal: abort.signal, onProgress: () => undefined });
    abort.abort();
    await expect(running).rejects.toThrow();
  });

  it("a long mix cut into windows encoded in parallel joins without a seam, at the exact length", async () => {
    const [x, y] = await Promise.all([
      makeTrack({ dir, name: "wx", format: "webm", durationSec: 24, audio: { frequency: 440 } }),
      makeTrack({ dir, name: "wy", format: "webm", durationSec: 20, audio: { frequency: 660 } }),
    ]);
    const j = job(
      "AUDIO",
      [
        { id: "x", offsetMs: 0 },
        { id: "y", offsetMs: 3000 },
      ],
      24_000,
    );
    const facts = { x: await nativeProber.probe(x), y: await nativeProber.probe(y) };
    const plan = (out: string) => planRender(j, facts, { inputs: { x, y }, output: out });
    const said: string[] = [];
    const windowed = withParallelAudio(native, { minSeconds: 0, cores: 2, chunkMinSeconds: 5, onInfo: (l) => said.push(l) });
    const single = plan(`${dir}/w-single.mp3`);
    const cut = plan(`${dir}/w-cut.mp3`);
    const progress: number[] = [];
    await native.run(single, { signal: new AbortController().signal, onProgress: () => undefined });
    await windowed.run(cut, { signal: new AbortController().signal, onProgress: (t) => progress.push(t) });
    // How it ran, and the speeds its ETA read (windowed-eta.ts), for whoever re-fits that.
    expect(said).toHaveLength(2);
    expect(said[1]).toMatch(/^parallel audio: speeds mix \d+× beside 0(, \d+× beside 1)?; encoders \d+×, \d+×$/);
    expect(said[0]).toMatch(/^parallel audio: 2 decoder\(s\) → mixer → 2 windows, 2 encoders at a time \(joined at samples \d+\)$/);
    const joins = [Number(/samples (\d+)/.exec(said[0]!)![1])];
    // The join lies past the nominal half, inside the overlap.
    expect(joins[0]! / 48_000).toBeGreaterThan(11);
    expect(joins[0]! / 48_000).toBeLessThan(14);
    const seams = await compareSeams(single.output, cut.output, joins, 24 * 48_000, 5);
    expect(seams.samplesChunked).toBe(24 * 48_000);
    expect(seams.joins[0]!.lagSamples).toBe(0);
    expect(seams.joins[0]!.maxDiff).toBeLessThan(1e-3);
    expect(seams.seamless).toBe(true);
    // Progress moved forward to the whole length; no window file or part is left behind.
    expect(progress.every((t, i) => i === 0 || t >= progress[i - 1]!)).toBe(true);
    expect(progress.at(-1)).toBeCloseTo(24, 0);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(dir)).filter((f) => f.startsWith("w-cut.mp3."))).toEqual([]);

    // Cancelled while its windows are being written and encoded: it stops, and leaves nothing.
    const abort = new AbortController();
    const running = windowed.run(plan(`${dir}/w-aborted.mp3`), { signal: abort.signal, onProgress: () => undefined });
    setTimeout(() => abort.abort(new Error("cancelled")), 150);
    await expect(running).rejects.toThrow("cancelled");
    await new Promise((r) => setTimeout(r, 300));
    expect((await readdir(dir)).filter((f) => f.startsWith("w-aborted.mp3"))).toEqual([]);
  });

  it("a tapped render writes the speaker pass's samples itself, the pass's own bytes, in every native shape", async () => {
    const { readFile } = await import("node:fs/promises");
    const plan = await twoTonesPlan("t");
    const signal = new AbortController().signal;
    const own = plan("taps-own.mp3").speakers!;
    await native.runArgs!(own.args, { signal, onProgress: () => undefined });
    const want = await Promise.all(own.tracks.map((t) => readFile(t.pcm)));
    // Each track from 0 to its end on the window's clock (delay included), 8 kHz 16-bit mono.
    expect(want.map((b) => Math.round(b.length / 16_000))).toEqual([12, 12]);
    const shapes = nativeAudioShapes();
    for (const [name, engine] of shapes) {
      const tapped = withSpeakerTaps(plan(`taps-${name.replace(" ", "-")}.mp3`));
      expect(tapped.speakers!.inRender).toBe(true);
      await engine.run(tapped, { signal, onProgress: () => undefined });
      const got = await Promise.all(tapped.speakers!.tracks.map((t) => readFile(t.pcm)));
      got.forEach((b, k) => expect(Buffer.compare(b, want[k]!), `${name}, track ${k}`).toBe(0));
      // The render itself is untouched: the same MP3 as without the taps.
      const plain = plan(`taps-plain-${name.replace(" ", "-")}.mp3`);
      await engine.run(plain, { signal, onProgress: () => undefined });
      expect(Buffer.compare(await readFile(tapped.output), await readFile(plain.output)), name).toBe(0);
    }

    const v = job("VIDEO", [{ id: "big", offsetMs: 500, video: true }], 2000);
    const vFacts = { big: await nativeProber.probe(files.big!) };
    const vPlan = (out: string) => planRender(v, vFacts, { inputs: { big: files.big! }, output: `${dir}/${out}` });
    const vOwn = vPlan("taps-v-own.mp4").speakers!;
    await native.runArgs!(vOwn.args, { signal, onProgress: () => undefined });
    const vTapped = withSpeakerTaps(vPlan("taps-v.mp4"));
    await native.run(vTapped, { signal, onProgress: () => undefined });
    expect(Buffer.compare(await readFile(vTapped.speakers!.tracks[0]!.pcm), await readFile(vOwn.tracks[0]!.pcm))).toBe(0);
    expect((await probe(vTapped.output)).streams.map((s) => s.type).sort()).toEqual(["audio", "video"]);
  });

  it("a mix-tapped render writes the mix it encodes, the same samples in every native shape, and the output unchanged", async () => {
    const { readFile } = await import("node:fs/promises");
    const plan = await twoTonesPlan("m");
    const signal = new AbortController().signal;
    const shapes = nativeAudioShapes();
    const taps: Buffer[] = [];
    for (const [name, engine] of shapes) {
      const tapped = withMixTap(plan(`mixtap-${name.replace(" ", "-")}.mp3`));
      await engine.run(tapped, { signal, onProgress: () => undefined });
      taps.push(await readFile(tapped.graph.mixTap!));
      const plain = plan(`mixtap-plain-${name.replace(" ", "-")}.mp3`);
      await engine.run(plain, { signal, onProgress: () => undefined });
      expect(Buffer.compare(await readFile(tapped.output), await readFile(plain.output)), name).toBe(0);
    }
    // Exactly the output's length (12 s, mono 16-bit), and the same samples whatever ran the graph.
    expect(taps[0]!.length).toBe(12 * 48_000 * 2);
    taps.forEach((t, k) => expect(Buffer.compare(t, taps[0]!), shapes[k]![0]).toBe(0));
    // Both tones where the output has them: 440 Hz alone before y joins at 2.5 s, both after.
    const level = (fromSec: number) => {
      const s = new Int16Array(taps[0]!.buffer, taps[0]!.byteOffset + fromSec * 96_000, 48_000);
      return Math.max(...s.map(Math.abs)) / 32768;
    };
    expect(level(1)).toBeGreaterThan(0.1);
    expect(level(5)).toBeGreaterThan(level(1) * 1.3);

    const v = job("VIDEO", [{ id: "big", offsetMs: 500, video: true }], 2000);
    const vFacts = { big: await nativeProber.probe(files.big!) };
    const vTapped = withMixTap(planRender(v, vFacts, { inputs: { big: files.big! }, output: `${dir}/mixtap-v.mp4` }));
    await native.run(vTapped, { signal, onProgress: () => undefined });
    const channels = vTapped.graph.output.audio!.channels;
    expect((await readFile(vTapped.graph.mixTap!)).length).toBe(2 * 48_000 * 2 * channels);
    expect((await probe(vTapped.output)).streams.map((s) => s.type).sort()).toEqual(["audio", "video"]);
  });

  it("wasm reads inputs larger than its 1 MiB copy chunk intact", async () => {
    // 14 s of 48 kHz stereo PCM is 2.6 MiB: three chunks into MEMFS, each must land where it belongs.
    const long = await makeTrack({ dir, name: "long", format: "wav", durationSec: 14, audio: { frequency: 550 } });
    const j = job("AUDIO", [{ id: "long", offsetMs: 0 }], 14_000);
    const plan = planRender(j, { long: await nativeProber.probe(long) }, { inputs: { long }, output: `${dir}/long-wasm.mp3` });
    await wasm.engine.run(plan, { signal: new AbortController().signal, onProgress: () => undefined });
    expect(Math.abs((await probe(plan.output)).duration - 14)).toBeLessThan(0.3);
    expect(await peakLevel(plan.output, 12, 1)).toBeGreaterThan(0.05);
  });

  it("native and wasm render the same plan to the same length, reporting progress", async () => {
    const timings: Record<string, number> = {};
    for (const [name, engine] of [
      ["native", native],
      ["wasm", wasm.engine],
      ["wasm-warm", wasm.engine],
    ] as [string, Engine][]) {
      const plan = await audioPlan(`${dir}/out-${name}.mp3`);
      const seen: number[] = [];
      const t0 = performance.now();
      await engine.run(plan, { signal: new AbortController().signal, onProgress: (s) => seen.push(s) });
      timings[name] = Math.round(performance.now() - t0);
      expect(Math.abs((await probe(plan.output)).duration - 4)).toBeLessThan(0.3);
      expect(seen.length).toBeGreaterThan(0);
    }
    console.log(`engine.run for a 4 s two-track mix (ms): ${JSON.stringify(timings)}`);
  });

  it("wasm: a cancel stops the run at once and the runtime keeps working", async () => {
    const plan = await audioPlan(`${dir}/cancelled.mp3`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("cancelled")), 20);
    const t0 = Date.now();
    await expect(wasm.engine.run(plan, { signal: ac.signal, onProgress: () => {} })).rejects.toThrow("cancelled");
    expect(Date.now() - t0).toBeLessThan(1000);
    const again = await audioPlan(`${dir}/after-cancel.mp3`);
    await wasm.engine.run(again, { signal: new AbortController().signal, onProgress: () => {} });
    expect(Math.abs((await probe(again.output)).duration - 4)).toBeLessThan(0.3);
  });

  it("both engines reject unreadable input with an EngineError carrying ffmpeg's reason", async () => {
    const plan = await audioPlan(`${dir}/bad.mp3`);
    const bad = { ...plan, args: plan.args.map((x) => (x === files.b ? files.garbage! : x)), inputs: [plan.inputs[0]!, files.garbage!] };
    for (const engine of [native, wasm.engine]) {
      const err = await engine.run(bad, { signal: new AbortController().signal, onProgress: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).log).toMatch(/Invalid data/);
    }
  });

  it("wasm ffprobe measures what native ffprobe measures (including WebM without a duration)", async () => {
    const wasmProber = createProber(wasm.ffprobe);
    for (const f of [files.a!, files.b!, files.big!]) {
      const [n, w] = await Promise.all([nativeProber.probe(f), wasmProber.probe(f)]);
      expect(w).toEqual(n);
    }
    expect((await nativeProber.probe(files.a!)).durationSec).toBeCloseTo(4, 1);
    await expect(wasmProber.probe(files.garbage!)).rejects.toBeInstanceOf(InvalidMediaError);
  });

  it("the mix of loud speakers is limited instead of clipping", async () => {
    // Three tones at 0.375 each: their plain sum peaks at 1.125.
    const loud = await Promise.all(
      [440, 660, 880].map((f) => makeTrack({ dir, name: `loud${f}`, format: "wav", durationSec: 2, audio: { frequency: f, volume: 3 } })),
    );
    const j = job(
      "AUDIO",
      [
        { id: "x", offsetMs: 0 },
        { id: "y", offsetMs: 0 },
        { id: "z", offsetMs: 0 },
      ],
      2000,
    );
    const facts = { durationSec: 2, hasAudio: true, hasVideo: false };
    const plan = planRender(
      j,
      { x: facts, y: facts, z: facts },
      { inputs: { x: loud[0]!, y: loud[1]!, z: loud[2]! }, output: `${dir}/loud.mp3` },
    );
    await native.run(plan, { signal: new AbortController().signal, onProgress: () => {} });
    const peak = await peakLevel(plan.output, 0.2, 1.5);
    expect(peak).toBeGreaterThan(0.6);
    expect(peak).toBeLessThan(0.98);
  });

  it("a track whose frame size changes mid-stream stays in its tile", async () => {
    const changing = await concatWebm(dir, "changing", [files.big!, files.small!]);
    const j = job("VIDEO", [{ id: "c", offsetMs: 0, video: true }], 3000);
    const plan = planRender(j, { c: await nativeProber.probe(changing) }, { inputs: { c: changing }, output: `${dir}/changing.mp4` });
    await native.run(plan, { signal: new AbortController().signal, onProgress: () => {} });
    expect(Math.abs((await probe(plan.output)).duration - 3)).toBeLessThan(0.3);
    // Both parts are pillarboxed (4:3, then portrait) in the 16:9 frame: the edges stay black.
    expect(
      (
        await pixelsAt(plan.output, 0.7, [
          [320, 180],
          [10, 180],
        ])
      ).map(colorName),
    ).toEqual(["red", "black"]);
    expect(
      (
        await pixelsAt(plan.output, 2.2, [
          [320, 180],
          [150, 180],
        ])
      ).map(colorName),
    ).toEqual(["blue", "black"]);
  });
});

describe("chooseEngine", () => {
  const n = { name: "native" } as Engine;
  const w = { name: "wasm" } as Engine;
  it("wasm for small audio jobs, native otherwise, wasm for everything without native", () => {
    expect(chooseEngine("audio", 1000, { native: n, wasm: w }, 8 << 20)).toBe(w);
    expect(chooseEngine("audio", 9 << 20, { native: n, wasm: w }, 8 << 20)).toBe(n);
    expect(chooseEngine("video", 1000, { native: n, wasm: w }, 8 << 20)).toBe(n);
    expect(chooseEngine("video", 1 << 30, { wasm: w }, 8 << 20)).toBe(w);
    expect(chooseEngine("audio", 1000, { native: n }, 8 << 20)).toBe(n);
    expect(() => chooseEngine("audio", 1, {})).toThrow(/no render engine/);
  });
});
