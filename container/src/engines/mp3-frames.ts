// Reading an ffmpeg/LAME MP3 the way mp3-splice.ts needs it: the ID3v2 tag, the Info frame and its
// LAME tag (encoder delay, end padding), and per audio frame where it lies, where its main data
// starts, how far back into the bit reservoir that data begins, and its block types.
// Only what ffmpeg writes for the mix is accepted: MPEG-1 Layer III at a fixed bitrate index.

export class SpliceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpliceError";
  }
}

export interface FrameHeader {
  /** Bytes of the whole frame: ⌊144 · bitrate / rate⌋, plus one with the padding bit. */
  length: number;
  /** A 16-bit CRC follows the header (protection bit 0). */
  crc: boolean;
  mono: boolean;
  /** Bytes of side info after the header (and CRC). */
  sideInfo: number;
}

export interface Frame {
  offset: number;
  length: number;
  /** Start of this frame's main-data area (after header, CRC and side info). */
  dataOffset: number;
  /** How many bytes before dataOffset (in earlier frames' main data) this frame's data begins. */
  mainDataBegin: number;
  /** window_switching_flag<<2 | block_type, per granule and channel. */
  blocks: number[];
}

export interface ParsedMp3 {
  bytes: Uint8Array;
  /** End of the ID3v2 tag (0 without one). */
  id3End: number;
  /** The Info (or Xing) frame, first of the stream. */
  info: Frame;
  /** The audio frames after it. */
  frames: Frame[];
  /** Encoder delay and end padding from the LAME tag, in samples. */
  delay: number;
  padding: number;
}

/** kbit/s by bitrate index; 0 is free format and 15 is invalid: neither is accepted. */
const MPEG1_L3_KBPS = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MPEG1_RATES = [44100, 48000, 32000];

/** The MPEG-1 Layer III frame header at `at`, or null where there is none. */
export function frameHeader(b: Uint8Array, at: number): FrameHeader | null {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return null;
  const version = (b[at + 1]! >> 3) & 3;
  const layer = (b[at + 1]! >> 1) & 3;
  if (version !== 3 || layer !== 1) return null;
  const crc = (b[at + 1]! & 1) === 0;
  const bitrate = MPEG1_L3_KBPS[(b[at + 2]! >> 4) & 15];
  const rate = MPEG1_RATES[(b[at + 2]! >> 2) & 3];
  if (!bitrate || !rate) return null;
  const padding = (b[at + 2]! >> 1) & 1;
  const mono = ((b[at + 3]! >> 6) & 3) === 3;
  const length = Math.floor((144 * bitrate * 1000) / rate) + padding;
  return { length, crc, mono, sideInfo: mono ? 17 : 32 };
}

/** Reads `n` bits MSB-first from a byte array starting at bit `pos`. */
function bits(b: Uint8Array, start: number, pos: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const bit = pos + i;
    v = (v << 1) | ((b[start + (bit >> 3)]! >> (7 - (bit & 7))) & 1);
  }
  return v;
}

/** main_data_begin and the block types of the side info at `at` (MPEG-1: two granules). */
export function parseSideInfo(b: Uint8Array, at: number, mono: boolean): { mainDataBegin: number; blocks: number[] } {
  const nch = mono ? 1 : 2;
  const mainDataBegin = bits(b, at, 0, 9);
  // private_bits, then scfsi (4 bits per channel).
  let pos = 9 + (mono ? 5 : 3) + 4 * nch;
  const blocks: number[] = [];
  for (let gr = 0; gr < 2; gr++) {
    for (let ch = 0; ch < nch; ch++) {
      // part2_3_length 12, big_values 9, global_gain 8, scalefac_compress 4
      const wsf = bits(b, at, pos + 33, 1);
      const blockType = wsf ? bits(b, at, pos + 34, 2) : 0;
      blocks.push((wsf << 2) | blockType);
      pos += 59;
    }
  }
  return { mainDataBegin, blocks };
}

/** Bytes of the ID3v2 tag at the start (header, syncsafe size, footer), 0 without one. */
export function id3v2Length(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return 0;
  const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
  const footer = (b[5]! & 0x10) !== 0 ? 10 : 0;
  return 10 + size + footer;
}

/** Offsets inside the Info frame, relative to the "Info"/"Xing" tag (ffmpeg's and LAME's layout). */
export const XING = { flags: 4, frames: 8, bytes: 12, toc: 16, lame: 120 };
export const LAME = { delayPadding: 21, musicLength: 28, musicCrc: 32, tagCrc: 34 };
/** The LAME tag's CRC covers the Info frame's first bytes, up to the CRC itself. */
export const TAG_CRC_SPAN = 190;

/** Every frame of an ffmpeg MP3; `what` names it in errors. */
export function parseMp3(bytes: Uint8Array, what: string): ParsedMp3 {
  const id3End = id3v2Length(bytes);
  const frames: Frame[] = [];
  let at = id3End;
  while (at < bytes.length) {
    const h = frameHeader(bytes, at);
    if (!h) {
      // ID3v1 or trailing junk: ffmpeg writes none by default; anything else is not ours to join.
      if (bytes.length - at === 128 && bytes[at] === 0x54) break;
      throw new SpliceError(`${what}: no MP3 frame at byte ${at}`);
    }
    if (at + h.length > bytes.length) throw new SpliceError(`${what}: truncated frame at byte ${at}`);
    const si = at + 4 + (h.crc ? 2 : 0);
    const { mainDataBegin, blocks } = parseSideInfo(bytes, si, h.mono);
    frames.push({ offset: at, length: h.length, dataOffset: si + h.sideInfo, mainDataBegin, blocks });
    at += h.length;
  }
  const info = frames.shift();
  if (!info) throw new SpliceError(`${what}: no frames`);
  const tag = info.dataOffset;
  const id = String.fromCharCode(...bytes.subarray(tag, tag + 4));
  if (id !== "Info" && id !== "Xing") throw new SpliceError(`${what}: no Info/Xing frame (found ${JSON.stringify(id)})`);
  const dp = tag + XING.lame + LAME.delayPadding;
  const v = (bytes[dp]! << 16) | (bytes[dp + 1]! << 8) | bytes[dp + 2]!;
  return { bytes, id3End, info, frames, delay: v >> 12, padding: v & 0xfff };
}
