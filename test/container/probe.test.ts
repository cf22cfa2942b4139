// Probing and the media fixtures themselves (the e2e tests rely on both).
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
    expect(reasonFrom("[matroska @ 0x1] EBML header parsing failed\n/tmp/x/track-1: Invalid data found when processing input\n", "/tmp/x/track-1"))
      .toBe("input: Invalid data found when processing input");
  });
  it("refuses a format guessed with a low probe score (random bytes taken for raw H.263)", async () => {
    const guessed = createProber(async () => ({
      stdout: JSON.stringify({ format: { format_name: "h263", probe_score: 25 }, streams: [{ codec_type: "video", width: 0, height: 0 }] }),
      stderr: "",
    }));
    await expect(guessed.probe("/x")).rejects.toThrow("unrecognised format (guessed h263 with probe score 25)");
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
    const webm = await makeTrack({ dir, format: "webm", durationSec: 2, video: { color: "red", width: 320, height: 240 }, audio: { frequency: 440 } });
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
