// The MP3 splicer's parts, directly (engines/mp3-splice.ts; its frame reading: mp3-frames.test.ts):
// the join rules (block types, bit reservoir) and the Info frame on hand-built streams, and real LAME
// encodes made with ffmpeg for joins that must decode to the single encode's samples.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { chunkLayout, type ChunkLayout } from "../../container/src/engines/chunked-mp3.ts";
import { LAME, parseMp3, SpliceError, TAG_CRC_SPAN, XING, type Frame, type ParsedMp3 } from "../../container/src/engines/mp3-frames.ts";
import {
  copyReservoir,
  crc16,
  findCut,
  SAMPLES_PER_FRAME,
  spliceMp3,
  xingToc,
  type SplicePart,
} from "../../container/src/engines/mp3-splice.ts";
import { FFMPEG, run, tempDir } from "../fixtures/media.ts";
import { concat, LONG, SHORT, stream, type FrameSpec } from "../fixtures/mp3.ts";
import { compareSeams } from "../fixtures/seams.ts";

/** Parses a hand-built part (Info + frames). */
const parsed = (n: number, spec?: (i: number) => FrameSpec): ParsedMp3 => parseMp3(stream(n, spec), "p");

describe("finding the join frame", () => {
  it("is the first frame from `from` on where block types agree on both sides of it and B reaches back no further than A", () => {
    // A covers frames 0–39, B 10–49; from 20 on, frame 20 differs in block type, B's frame 22 needs more reservoir.
    const a = parsed(40, (g) => ({ mainDataBegin: 100, blocks: g === 20 ? SHORT : LONG }));
    const b = parsed(40, (j) => ({ mainDataBegin: j + 10 === 22 ? 101 : 100 }));
    // c = 20 and 21 touch frame 20 (short in A, long in B); 22: B reaches back 101 > 100.
    expect(findCut(a, 0, b, 10, 20)).toBe(23);
    // B's frame g reaches back 100 − g bytes, A's 70: B may take over from frame 30 on (equal reach included).
    const shrinking = parsed(40, (j) => ({ mainDataBegin: 90 - j }));
    const a70 = parsed(40, () => ({ mainDataBegin: 70 }));
    expect(findCut(a70, 0, shrinking, 10, 12)).toBe(30);
    expect(findCut(a70, 0, shrinking, 10, 33)).toBe(33);
  });

  it("needs frames of the same length on both sides of the cut", () => {
    const a = parsed(40, (g) => ({ padding: g === 24 }));
    expect(findCut(a, 0, parsed(40), 10, 24)).toBe(26);
  });

  it("never cuts before B's second frame, nor within the last four frames of A (its end-of-stream flush)", () => {
    expect(findCut(parsed(40), 0, parsed(40), 10, 0)).toBe(11);
    expect(findCut(parsed(40), 0, parsed(40), 10, 35)).toBe(35);
    expect(() => findCut(parsed(40), 0, parsed(40), 10, 36)).toThrow(
      new SpliceError("no seamless cut between frames 36 and 36 (parts overlap too little?)"),
    );
    // Block types that never agree: no cut anywhere.
    expect(() =>
      findCut(
        parsed(40),
        0,
        parsed(40, () => ({ blocks: SHORT })),
        10,
        12,
      ),
    ).toThrow(/no seamless cut between frames 12 and 36/);
  });
});

describe("the bit reservoir", () => {
  // Main data of frame i in the source: bytes 100 + i (so each byte says where it came from).
  const src = stream(6, (i) => ({ fill: 100 + i }));
  const srcFrames = parseMp3(src, "src").frames;
  /** The main-data bytes of `frames` from the last backwards, n of them. */
  const lastMainData = (bytes: Uint8Array, frames: readonly { dataOffset: number; end: number }[], n: number) => {
    const out: number[] = [];
    for (let i = frames.length - 1; i >= 0 && out.length < n; i--) {
      for (let p = frames[i]!.end - 1; p >= frames[i]!.dataOffset && out.length < n; p--) out.push(bytes[p]!);
    }
    return out;
  };
  const written = (p: ParsedMp3) => p.frames.map((f: Frame) => ({ dataOffset: f.dataOffset, end: f.offset + f.length }));

  it("copies the bytes before the taking-over frame's data into the main data before the cut, across frame boundaries, headers untouched", () => {
    const dstParsed = parsed(3, () => ({ fill: 7 }));
    const dst = dstParsed.bytes.slice();
    // 400 bytes: more than one frame's main data (384 − 36 = 348).
    copyReservoir(src, srcFrames, 4, dst, written(dstParsed), 400);
    const wanted = lastMainData(
      src,
      srcFrames.slice(0, 4).map((f) => ({ dataOffset: f.dataOffset, end: f.offset + f.length })),
      400,
    );
    expect(wanted.slice(0, 348)).toEqual(new Array(348).fill(103));
    expect(wanted.slice(348)).toEqual(new Array(52).fill(102));
    expect(lastMainData(dst, written(dstParsed), 400)).toEqual(wanted);
    // Everything else of the destination is as it was: its frames' headers and side info, and the data before the 400 bytes.
    const before = dstParsed.bytes;
    const changed = [...dst.keys()].filter((i) => dst[i] !== before[i]);
    expect(changed).toHaveLength(400);
    // The last frame's main data, then the last 52 bytes of the one before (which ends at 3 · 384).
    expect(Math.min(...changed)).toBe(3 * 384 - 52);
    expect(parseMp3(dst, "dst").frames.map((f) => [f.mainDataBegin, f.blocks])).toEqual(
      dstParsed.frames.map((f) => [f.mainDataBegin, f.blocks]),
    );
  });

  it("refuses a reservoir reaching before the part's first frame, or larger than the room before the cut", () => {
    const dstParsed = parsed(1);
    expect(() => copyReservoir(src, srcFrames, 1, dstParsed.bytes.slice(), written(dstParsed), 349)).toThrow(
      new SpliceError("reservoir reaches before the part's first frame"),
    );
    expect(() => copyReservoir(src, srcFrames, 4, dstParsed.bytes.slice(), written(dstParsed), 349)).toThrow(
      new SpliceError("not enough room before the cut for the reservoir"),
    );
  });
});

describe("spliceMp3 on hand-built parts", () => {
  // A: frames 0–39, B: frames 10–49, B's data from 100 + its frame index, A's from 1.
  const a = stream(40, () => ({ fill: 1, mainDataBegin: 60 }), 576, 7);
  const b = stream(40, (j) => ({ fill: (i) => (100 + j + i) & 0xff, mainDataBegin: 50 }), 576, 333);
  const parts: SplicePart[] = [
    { bytes: a, startFrame: 0 },
    { bytes: b, startFrame: 10 },
  ];

  it("takes A's frames before the cut and B's from it, hands B's reservoir over and writes the Info frame of the whole", () => {
    const r = spliceMp3(parts, [20]);
    expect(r.cuts).toEqual([20]);
    expect(r.frames).toBe(50);
    expect(r.bytes.length).toBe(384 + 50 * 384);
    const out = parseMp3(r.bytes, "out");
    const pb = parseMp3(b, "b");
    // From the cut on, B's frames byte for byte; its frame 20 finds its 50 reservoir bytes where it looks.
    expect(Buffer.from(r.bytes.subarray(384 + 20 * 384))).toEqual(Buffer.from(b.subarray(384 + 10 * 384)));
    const reach = (bytes: Uint8Array, f: Frame, frames: readonly Frame[]) => {
      const k = frames.indexOf(f);
      const data: number[] = [];
      for (let i = k - 1; data.length < f.mainDataBegin; i--) {
        for (let p = frames[i]!.offset + frames[i]!.length - 1; p >= frames[i]!.dataOffset && data.length < f.mainDataBegin; p--)
          data.push(bytes[p]!);
      }
      return data;
    };
    expect(reach(r.bytes, out.frames[20]!, out.frames)).toEqual(reach(b, pb.frames[10]!, pb.frames));
    // Before the cut, A's frames, but for the tail of the last one's main data (now B's reservoir).
    expect(Buffer.from(r.bytes.subarray(384, 384 + 20 * 384 - 50))).toEqual(Buffer.from(a.subarray(384, 384 + 20 * 384 - 50)));
    // The Info frame: frame count, bytes, delay of the first part, padding of the last, CRCs.
    const view = new DataView(r.bytes.buffer, r.bytes.byteOffset);
    const tag = 36;
    expect(view.getUint32(tag + XING.frames)).toBe(50);
    expect(view.getUint32(tag + XING.bytes)).toBe(r.bytes.length);
    expect(out.delay).toBe(576);
    expect(out.padding).toBe(333);
    expect(view.getUint32(tag + XING.lame + LAME.musicLength)).toBe(r.bytes.length);
    expect(view.getUint16(tag + XING.lame + LAME.musicCrc)).toBe(crc16(r.bytes.subarray(384)));
    expect(view.getUint16(tag + XING.lame + LAME.tagCrc)).toBe(crc16(r.bytes.subarray(0, TAG_CRC_SPAN)));
    expect(Buffer.from(r.bytes.subarray(tag + XING.toc, tag + XING.toc + 100))).toEqual(Buffer.from(xingToc(384, new Array(50).fill(384))));
  });

  it("refuses no parts, a wrong number of cuts, cuts out of order and parts that do not overlap", () => {
    expect(() => spliceMp3([], [])).toThrow(new SpliceError("nothing to join"));
    expect(() => spliceMp3(parts, [])).toThrow(new SpliceError("one cut per join expected"));
    const c = { bytes: stream(40, () => ({ mainDataBegin: 50 })), startFrame: 20 };
    expect(() => spliceMp3([...parts, c], [30, 25])).toThrow(new SpliceError("cuts out of order"));
    expect(() => spliceMp3([parts[0]!, { bytes: b, startFrame: 38 }], [38])).toThrow(SpliceError);
  });
});

describe("the Info frame's checksums and seek table", () => {
  it("crc16 is CRC-16/ARC", () => {
    expect(crc16(new TextEncoder().encode("123456789"))).toBe(0xbb3d);
    expect(crc16(new Uint8Array(0))).toBe(0);
  });

  it("the seek table has 100 entries rising from 0, each the share of the bytes before that share of the frames (× 256)", () => {
    const toc = xingToc(384, new Array(1000).fill(384));
    expect(toc[0]).toBe(0);
    for (let i = 1; i < 100; i++) {
      expect(toc[i]!).toBeGreaterThanOrEqual(toc[i - 1]!);
      expect(Math.abs(toc[i]! - (256 * i) / 100)).toBeLessThanOrEqual(2);
    }
    // Of 1000 frames the table keeps every 4th position: entry 60 is the bytes up to frame 605 (the
    // Info frame counted), entry 40 up to frame 405. One frame of 100 × 384 bytes at frame 501 makes
    // the whole 1100 × 384: entry 60 then includes it, entry 40 does not.
    expect([toc[40], toc[60]]).toEqual([Math.floor((256 * 405) / 1001), Math.floor((256 * 605) / 1001)]);
    const bump = xingToc(
      384,
      Array.from({ length: 1000 }, (_, j) => (j === 500 ? 384 * 100 : 384)),
    );
    expect([bump[40], bump[60]]).toEqual([Math.floor((256 * 405) / 1100), Math.floor((256 * (605 + 99)) / 1100)]);
  });
});

// ---- Real encodes: the mix of a click track (short blocks) and tones, 30 s, as the window encoders get it ----

const RATE = 48_000;
const SECONDS = 30;
const TOTAL = SECONDS * RATE;
let dir: string;
let mix: Buffer;
let single: Uint8Array;

async function encode(f32: string, out: string): Promise<Uint8Array> {
  // The window encoders' own arguments (pipeline-spec.ts), on raw float samples.
  const r = await run(FFMPEG, [
    "-v",
    "error",
    "-y",
    "-f",
    "f32le",
    "-ar",
    String(RATE),
    "-ac",
    "2",
    "-i",
    f32,
    "-c:a",
    "libmp3lame",
    "-b:a",
    "128k",
    "-ar",
    String(RATE),
    "-ac",
    "2",
    "-f",
    "mp3",
    out,
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
  const b = await readFile(out);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Each window of the layout encoded on its own, as the windowed render does. */
async function encodeWindows(name: string, layout: ChunkLayout): Promise<SplicePart[]> {
  return Promise.all(
    layout.windows.map(async (w, k) => {
      const f32 = join(dir, `${name}-${k}.f32`);
      await writeFile(f32, mix.subarray(w.start * 8, Number.isFinite(w.end) ? w.end * 8 : undefined));
      return { bytes: await encode(f32, join(dir, `${name}-${k}.mp3`)), startFrame: w.start / SAMPLES_PER_FRAME };
    }),
  );
}

beforeAll(async () => {
  dir = await tempDir("mp3-splice-");
  const whole = join(dir, "mix.f32");
  const clicks = `aevalsrc=0.3*sin(2*PI*440*t)+0.5*lt(mod(t\\,0.37)\\,0.004)*random(0)|0.2*sin(2*PI*660*t):s=${RATE}:d=${SECONDS}`;
  const r = await run(FFMPEG, ["-v", "error", "-y", "-f", "lavfi", "-i", clicks, "-ac", "2", "-f", "f32le", whole]);
  if (r.code !== 0) throw new Error(r.stderr);
  mix = await readFile(whole);
  single = await encode(whole, join(dir, "single.mp3"));
});

describe("real LAME encodes", () => {
  it("ffmpeg's MP3 parses as ID3v2, Info frame, frames of 1152 samples whose count less delay and padding is the exact length", () => {
    const p = parseMp3(single, "single");
    expect(p.id3End).toBeGreaterThan(0);
    expect(p.frames.length * SAMPLES_PER_FRAME - p.delay - p.padding).toBe(TOTAL);
    // The clicks make LAME switch to short blocks (types 1, 2, 3 with the window switching flag).
    expect(p.frames.some((f) => f.blocks.includes(6))).toBe(true);
    expect(p.frames.some((f) => f.mainDataBegin > 0)).toBe(true);
  });

  it("one part passes through unchanged: the Info frame is rebuilt exactly as ffmpeg's muxer wrote it", () => {
    const p = parseMp3(single, "single");
    const toc = p.info.dataOffset + XING.toc;
    expect(Buffer.from(single.subarray(toc, toc + 100))).toEqual(
      Buffer.from(
        xingToc(
          p.info.length,
          p.frames.map((f) => f.length),
        ),
      ),
    );
    const r = spliceMp3([{ bytes: single, startFrame: 0 }], []);
    expect(r.cuts).toEqual([]);
    expect(r.frames).toBe(p.frames.length);
    expect(Buffer.compare(Buffer.from(r.bytes), Buffer.from(single))).toBe(0);
  });

  it("a truncated, corrupted or ID3v1-tagged real file is refused or read as it should be", () => {
    const p = parseMp3(single, "single");
    const last = p.frames[p.frames.length - 1]!;
    expect(() => parseMp3(single.subarray(0, single.length - 1), "part 1")).toThrow(`part 1: truncated frame at byte ${last.offset}`);
    const f = p.frames[100]!;
    for (const index of [0, 15]) {
      const bad = single.slice();
      bad[f.offset + 2] = (bad[f.offset + 2]! & 0x0f) | (index << 4);
      expect(() => parseMp3(bad, "part 1")).toThrow(`part 1: no MP3 frame at byte ${f.offset}`);
    }
    const tagged = concat(
      single,
      Uint8Array.from({ length: 128 }, (_, i) => (i === 0 ? 0x54 : 0)),
    );
    expect(parseMp3(tagged, "x").frames).toEqual(p.frames);
  });

  for (const chunks of [2, 3]) {
    it(`${chunks} windows join where the encoders agree and decode to the single encode's samples, at its length`, async () => {
      const layout = chunkLayout(TOTAL, chunks);
      const parts = await encodeWindows(`w${chunks}`, layout);
      const r = spliceMp3(parts, layout.cutsFrom);
      const pieces = parts.map((p) => parseMp3(p.bytes, "part"));
      r.cuts.forEach((c, k) => {
        expect(c).toBeGreaterThanOrEqual(layout.cutsFrom[k]!);
        // The rules at the cut: same frame sizes and block types on both sides, B's reach ≤ A's.
        const [a, b] = [pieces[k]!, pieces[k + 1]!];
        const [aStart, bStart] = [parts[k]!.startFrame, parts[k + 1]!.startFrame];
        for (const g of [c - 1, c]) {
          expect(b.frames[g - bStart]!.blocks).toEqual(a.frames[g - aStart]!.blocks);
          expect(b.frames[g - bStart]!.length).toBe(a.frames[g - aStart]!.length);
        }
        expect(b.frames[c - bStart]!.mainDataBegin).toBeLessThanOrEqual(a.frames[c - aStart]!.mainDataBegin);
      });
      // The whole has the single encode's frames, delay and padding: the same duration for a player.
      const whole = parseMp3(r.bytes, "joined");
      const ref = parseMp3(single, "single");
      expect(r.frames).toBe(ref.frames.length);
      expect(whole.frames).toHaveLength(ref.frames.length);
      expect([whole.delay, whole.padding]).toEqual([ref.delay, ref.padding]);
      // Its bytes: the first part's tag and Info frame, then each part's frames between its cuts.
      const bounds = [parts[0]!.startFrame, ...r.cuts, Infinity];
      const taken = pieces.flatMap((p, k) =>
        p.frames.filter((_, j) => j + parts[k]!.startFrame >= bounds[k]! && j + parts[k]!.startFrame < bounds[k + 1]!),
      );
      expect(taken).toHaveLength(ref.frames.length);
      expect(r.bytes.length).toBe(pieces[0]!.id3End + pieces[0]!.info.length + taken.reduce((n, f) => n + f.length, 0));
      const out = join(dir, `joined-${chunks}.mp3`);
      await writeFile(out, r.bytes);
      const joins = r.cuts.map((c) => c * SAMPLES_PER_FRAME - 1105);
      const seams = await compareSeams(join(dir, "single.mp3"), out, joins, TOTAL, 5);
      expect(seams.samplesChunked).toBe(TOTAL);
      for (const j of seams.joins) {
        expect(j.lagSamples).toBe(0);
        expect(j.maxDiff).toBeLessThan(1e-3);
      }
      expect(seams.seamless).toBe(true);
    });
  }
});
