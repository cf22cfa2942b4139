// Reading an ffmpeg/LAME MP3 for the splicer (engines/mp3-frames.ts): frame headers, side info, ID3v2
// and whole streams, built by hand for every edge case (real encodes: mp3-splice.test.ts).
import { describe, expect, it } from "vitest";
import { frameHeader, id3v2Length, parseMp3, parseSideInfo, SpliceError } from "../../container/src/engines/mp3-frames.ts";
import { concat, frame, header, id3, infoFrame, LONG, SHORT, sideInfo, stream, type HeaderSpec } from "../fixtures/mp3.ts";

describe("frame headers", () => {
  it("give the frame length (⌊144·bitrate/rate⌋, +1 with the padding bit), CRC and side info size", () => {
    const h = (o: HeaderSpec) => frameHeader(Uint8Array.from(header(o)), 0);
    expect(h({})).toEqual({ length: 384, crc: false, mono: false, sideInfo: 32 });
    expect(h({ padding: true })!.length).toBe(385);
    expect(h({ rateIndex: 0 })!.length).toBe(417); // 44.1 kHz
    expect(h({ rateIndex: 0, padding: true })!.length).toBe(418);
    expect(h({ rateIndex: 2, bitrateIndex: 14 })!.length).toBe(1440); // 320 kb/s at 32 kHz
    expect(h({ bitrateIndex: 1 })!.length).toBe(96); // 32 kb/s
    expect(h({ crc: true })).toMatchObject({ crc: true, sideInfo: 32 });
    expect(h({ mono: true })).toMatchObject({ mono: true, sideInfo: 17 });
  });

  it("are not found on a bad sync, another version or layer, a free-format or invalid bitrate, a reserved rate, or past the end", () => {
    const at = (bytes: number[], offset = 0) => frameHeader(Uint8Array.from(bytes), offset);
    const good = header();
    expect(at(good)).not.toBeNull();
    expect(at([0xfe, ...good.slice(1)])).toBeNull();
    expect(at([0xff, good[1]! & 0x1f, good[2]!, good[3]!])).toBeNull();
    expect(at(header({ version: 2 }))).toBeNull(); // MPEG-2
    expect(at(header({ layer: 2 }))).toBeNull(); // Layer II
    expect(at(header({ bitrateIndex: 0 }))).toBeNull(); // free format
    expect(at(header({ bitrateIndex: 15 }))).toBeNull();
    expect(at(header({ rateIndex: 3 }))).toBeNull();
    expect(at(good.slice(0, 3))).toBeNull();
    expect(at([0, ...good], 1)).not.toBeNull();
    expect(at([0, ...good.slice(0, 3)], 1)).toBeNull();
  });

  it("side info gives main_data_begin and the block type of each granule and channel", () => {
    expect(parseSideInfo(sideInfo(300, [6, 0, 5, 7]), 0, false)).toEqual({ mainDataBegin: 300, blocks: [6, 0, 5, 7] });
    expect(parseSideInfo(sideInfo(511, [0, 6], true), 0, true)).toEqual({ mainDataBegin: 511, blocks: [0, 6] });
    // A flag without a type is a window switch to block type 0 (reserved), still told apart from a long block.
    expect(parseSideInfo(concat(new Uint8Array(3), sideInfo(1, [4, 0, 0, 4])), 3, false)).toEqual({
      mainDataBegin: 1,
      blocks: [4, 0, 0, 4],
    });
  });

  it("an ID3v2 tag is skipped by its syncsafe size, with its footer", () => {
    expect(id3v2Length(id3(257))).toBe(267);
    expect(id3v2Length(id3(200_000))).toBe(200_010);
    expect(id3v2Length(id3(257, true))).toBe(277);
    expect(id3v2Length(frame())).toBe(0);
    expect(id3v2Length(Uint8Array.from([0x49, 0x44, 0x33]))).toBe(0);
  });
});

describe("parsing a stream", () => {
  it("walks every frame (padded or not) after the tag and the Info frame, and reads the LAME delay and padding", () => {
    const padded = [false, true, false, true, true];
    const bytes = concat(
      id3(35),
      stream(5, (i) => ({ padding: padded[i], mainDataBegin: i * 10, blocks: i === 2 ? SHORT : LONG }), 576, 1234),
    );
    const p = parseMp3(bytes, "x");
    expect(p.id3End).toBe(45);
    expect(p.info).toMatchObject({ offset: 45, length: 384, dataOffset: 45 + 36 });
    expect(p.delay).toBe(576);
    expect(p.padding).toBe(1234);
    expect(p.frames.map((f) => f.length)).toEqual([384, 385, 384, 385, 385]);
    let at = 45 + 384;
    for (const [i, f] of p.frames.entries()) {
      expect(f).toEqual({
        offset: at,
        length: padded[i] ? 385 : 384,
        dataOffset: at + 36,
        mainDataBegin: i * 10,
        blocks: i === 2 ? SHORT : LONG,
      });
      at += f.length;
    }
  });

  it("finds the side info after a CRC, and in mono", () => {
    const p = parseMp3(
      concat(infoFrame(576, 0), frame({ crc: true, mainDataBegin: 7 }), frame({ mono: true, blocks: [6, 5], mainDataBegin: 9 })),
      "x",
    );
    expect(p.frames[0]).toMatchObject({ dataOffset: 384 + 4 + 2 + 32, mainDataBegin: 7 });
    expect(p.frames[1]).toMatchObject({ dataOffset: 768 + 4 + 17, mainDataBegin: 9, blocks: [6, 5] });
  });

  it("takes a Xing frame as well as an Info frame, and refuses a stream without either", () => {
    expect(parseMp3(concat(infoFrame(576, 3, "Xing"), frame()), "x").padding).toBe(3);
    expect(() => parseMp3(concat(frame(), frame()), "part 1")).toThrow(
      new SpliceError('part 1: no Info/Xing frame (found "\\u0000\\u0000\\u0000\\u0000")'),
    );
    expect(() => parseMp3(id3(20), "x")).toThrow("x: no frames");
  });

  it("accepts an ID3v1 tag at the end, but no other bytes between or after frames", () => {
    const tagged = concat(
      stream(3),
      Uint8Array.from({ length: 128 }, (_, i) => (i === 0 ? 0x54 : 0x20)),
    );
    expect(parseMp3(tagged, "x").frames).toHaveLength(3);
    const junk = concat(stream(3), Uint8Array.of(1, 2, 3, 4, 5));
    expect(() => parseMp3(junk, "x")).toThrow(`x: no MP3 frame at byte ${4 * 384}`);
    expect(() => parseMp3(concat(stream(2), Uint8Array.of(0), frame()), "x")).toThrow(`x: no MP3 frame at byte ${3 * 384}`);
    // "TAG" but not a 128-byte ID3v1 tag.
    expect(() => parseMp3(concat(stream(3), Uint8Array.of(0x54, 0x41, 0x47)), "x")).toThrow(`x: no MP3 frame at byte ${4 * 384}`);
    expect(() => parseMp3(concat(stream(3), new Uint8Array(129).fill(0x54)), "x")).toThrow(`x: no MP3 frame at byte ${4 * 384}`);
  });

  it("refuses a free-format or invalid bitrate index where a frame should be", () => {
    for (const bitrateIndex of [0, 15]) {
      const bytes = stream(4, (i) => (i === 2 ? { bitrateIndex } : {}));
      expect(() => parseMp3(bytes, "x")).toThrow(`x: no MP3 frame at byte ${3 * 384}`);
    }
  });

  it("refuses a truncated last frame", () => {
    const bytes = stream(4);
    expect(() => parseMp3(bytes.subarray(0, bytes.length - 1), "part 0")).toThrow(
      new SpliceError(`part 0: truncated frame at byte ${4 * 384}`),
    );
    expect(() => parseMp3(bytes.subarray(0, 4 * 384 + 3), "x")).toThrow(`x: no MP3 frame at byte ${4 * 384}`);
  });
});
