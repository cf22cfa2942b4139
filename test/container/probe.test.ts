// Probing and the media fixtures themselves (the e2e tests rely on both).
import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { nativeFfprobe } from "../../container/src/engines/native.ts";
import { createProber, InvalidMediaError, packetSpan, reasonFrom } from "../../container/src/probe.ts";
import { decodedDuration, goertzel, makeGarbage, makeTrack, peakLevel, probe, tempDir } from "../fixtures/media.ts";

const prober = createProber(nativeFfprobe("ffprobe"));

describe("probe helpers", () => {
  it("measures the span of packet timestamps", () => {
    expect(packetSpan("pts_time=0.007000|duration_time=0.020000\npts_time=2.987000|duration_time=0.020000\n")).toBeCloseTo(3, 6);
    expect(packetSpan("pts_time=N/A|duration_time=N/A\n")).toBeNull();
  });
  it("keeps ffprobe's reason without the file path", () => {
    expect(
      reasonFrom(
        "[matroska @ 0x1] EBML header parsing failed\n/tmp/x/track-1: Invalid data found when processing input\n",
        "/tmp/x/track-1",
      ),
    ).toBe("input: Invalid data found when processing input");
  });
  it("refuses a format guessed with a low probe score (random bytes taken for raw H.263)", async () => {
    const guessed = createProber(async () => ({
      stdout: JSON.stringify({ format: { format_name: "h263", probe_score: 25 }, streams: [{ codec_type: "video", width: 0, height: 0 }] }),
      stderr: "",
    }));
    await expect(guessed.probe("/x")).rejects.toThrow("unrecognised format (guessed h263 with probe score 25)");
  });
  it("falls back to reading every packet when the seek to the end fails", async () => {
    const calls: string[][] = [];
    const noDuration = JSON.stringify({ format: { format_name: "matroska,webm", probe_score: 100 }, streams: [{ codec_type: "audio" }] });
    const failingSeek = createProber(async (_file, args) => {
      calls.push([...args]);
      // ffprobe stops at the failed seek: the first packet is out, the container is not.
      if (args.includes("-read_intervals"))
        return {
          stdout: JSON.stringify({ packets: [{ pts_time: "0.000000", duration_time: "0.020000" }] }),
          stderr: "Could not seek to position 99999999000000",
        };
      if (args.some((a) => a.startsWith("format="))) return { stdout: noDuration, stderr: "" };
      return { stdout: "pts_time=0.000000|duration_time=0.020000\npts_time=59.980000|duration_time=0.020000\n", stderr: "" };
    });
    expect((await failingSeek.probe("/x")).durationSec).toBeCloseTo(60, 6);
    expect(calls.map((a) => a.includes("-read_intervals"))).toEqual([true, false, false]);
  });
  it("goertzel reads a sine's amplitude and ignores other frequencies", () => {
    const s = new Float32Array(24000).map((_, i) => 0.25 * Math.sin((2 * Math.PI * 440 * i) / 48000));
    expect(goertzel(s, 48000, 440)).toBeCloseTo(0.25, 2);
    expect(goertzel(s, 48000, 660)).toBeLessThan(0.001);
  });
});

describe("fixtures and prober", () => {
  it("makes MediaRecorder-like WebM without duration, and the prober measures it", async () => {
    const dir = await tempDir("probe-");
    const webm = await makeTrack({
      dir,
      format: "webm",
      durationSec: 2,
      video: { color: "red", width: 320, height: 240 },
      audio: { frequency: 440 },
    });
    const info = await probe(webm);
    expect(info.durationSec).toBeNull();
    expect(Number.isNaN(info.duration)).toBe(true);
    expect(info.video).toMatchObject({ codec: "vp8", width: 320, height: 240 });
    expect(info.audio?.codec).toBe("opus");
    expect(await decodedDuration(webm)).toBeCloseTo(2, 1);
    const facts = await prober.probe(webm);
    expect(facts).toMatchObject({ hasAudio: true, hasVideo: true, width: 320, height: 240 });
    expect(facts.durationSec!).toBeCloseTo(2, 1);
  });

  it("measures a WebM without duration from its edges exactly as from every packet", async () => {
    const dir = await tempDir("probe-");
    const webm = await makeTrack({ dir, name: "edges", format: "webm", durationSec: 37, audio: { frequency: 330 } });
    const everyPacket = await new Promise<number | null>((resolve, reject) =>
      execFile("ffprobe", ["-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "compact=p=0", webm], (e, out) =>
        e ? reject(e) : resolve(packetSpan(out)),
      ),
    );
    const runs: string[][] = [];
    const run = nativeFfprobe("ffprobe");
    const counted = createProber((file, args, signal) => (runs.push([...args]), run(file, args, signal)));
    expect((await counted.probe(webm)).durationSec).toBe(everyPacket);
    expect(everyPacket!).toBeCloseTo(37, 1);
    // One run: the container and the packets at both ends; no full scan.
    expect(runs.map((a) => a.includes("-read_intervals"))).toEqual([true]);
  });

  it("makes MP4, Ogg and WAV with real headers", async () => {
    const dir = await tempDir("probe-");
    const [mp4, ogg, wav] = await Promise.all([
      makeTrack({ dir, format: "mp4", durationSec: 1, video: { color: "blue", width: 240, height: 320 }, audio: { frequency: 660 } }),
      makeTrack({ dir, format: "ogg", durationSec: 1, audio: { frequency: 660 } }),
      makeTrack({ dir, format: "wav", durationSec: 1, audio: { frequency: 660, volume: 2 } }),
    ]);
    expect((await probe(mp4)).video).toMatchObject({ codec: "h264", width: 240, height: 320 });
    expect((await probe(ogg)).audio?.codec).toBe("opus");
    expect((await probe(wav)).duration).toBeCloseTo(1, 2);
    expect(await peakLevel(wav, 0.2, 0.5)).toBeCloseTo(0.25, 1);
    expect(await prober.probe(ogg)).toMatchObject({ hasAudio: true, hasVideo: false });
  });

  it("rejects random bytes as invalid media", async () => {
    const dir = await tempDir("probe-");
    const err = await prober.probe(await makeGarbage(dir, "junk.webm")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidMediaError);
    expect((err as Error).message).not.toContain(dir);
  });
});
