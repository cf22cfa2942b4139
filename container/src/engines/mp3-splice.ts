// Joins MP3 files encoded in parallel from overlapping windows of one timeline into one stream that
// decodes without a seam, keeping LAME's bit reservoir (no quality given away for the split).
//
// Each part is a complete ffmpeg/LAME MP3 (ID3v2, "Info" frame with the LAME tag, audio frames)
// whose input started on a multiple of 1152 samples of the shared timeline, so frame j of a part
// starting at sample S covers the same samples as frame S/1152 + j of the whole: the parts share
// one frame grid. Joining = taking part A's frames up to a cut frame c and part B's frames from c.
// Two things would make that seam audible, and both are handled here:
//  - the bit reservoir: B's frame c may begin its data `main_data_begin` bytes back, in B's earlier
//    frames, which are not in the joined stream. Those bytes are copied into the tail of A's frames
//    before the cut, which held only the start of A's (dropped) frame c: the cut is placed where
//    B's frame c reaches back no further than A's own frame c did, so nothing A still needs is hit;
//  - the overlap-add of the synthesis filterbank: frame c is decoded against frame c-1's blocks.
//    The cut is placed where A and B chose the same block types around it, so the windows match
//    and the only difference from a single encode is each encoder's own quantisation noise.
// The Info frame is rebuilt for the whole (frame count, size, seek table, end padding, CRCs) the way
// ffmpeg's mp3 muxer writes it, so players see the exact duration and trim the encoder delay.

export const SAMPLES_PER_FRAME = 1152;

/** A part to join: its bytes and the frame of the whole timeline its first audio frame is. */
export interface SplicePart {
  bytes: Uint8Array;
  /** Start of the part's input on the timeline, in frames of 1152 samples. */
  startFrame: number;
}

export interface SpliceResult {
  bytes: Uint8Array;
  /** The global frame at which each join switched parts. */
  cuts: number[];
  frames: number;
}

export class SpliceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpliceError";
  }
}

interface Frame {
  offset: number;
  length: number;
  /** Start of this frame's main-data area (after header, CRC and side info). */
  dataOffset: number;
  mainDataBegin: number;
  /** window_switching_flag<<2 | block_type, per granule and channel. */
  blocks: number[];
}

interface ParsedMp3 {
  bytes: Uint8Array;
  /** ID3v2 tag (may be empty). */
  id3End: number;
  info: Frame;
  frames: Frame[];
  delay: number;
  padding: number;
}

const MPEG1_L3_KBPS = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MPEG1_RATES = [44100, 48000, 32000];

function readHeader(b: Uint8Array, at: number) {
  if (at + 4 > b.length || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return null;
  const version = (b[at + 1]! >> 3) & 3;
  const layer = (b[at + 1]! >> 1) & 3;
  // Only what ffmpeg writes for the mix: MPEG-1 Layer III (48 kHz stereo).
  if (version !== 3 || layer !== 1) return null;
  const crc = (b[at + 1]! & 1) === 0;
  const bitrate = MPEG1_L3_KBPS[(b[at + 2]! >> 4) & 15];
  const rate = MPEG1_RATES[(b[at + 2]! >> 2) & 3];
  if (!bitrate || !rate) return null;
  const padding = (b[at + 2]! >> 1) & 1;
  const mono = ((b[at + 3]! >> 6) & 3) === 3;
  const length = Math.floor((144 * bitrate * 1000) / rate) + padding;
  const sideInfo = mono ? 17 : 32;
  return { length, crc, mono, sideInfo };
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

function parseSideInfo(b: Uint8Array, at: number, mono: boolean): { mainDataBegin: number; blocks: number[] } {
  const nch = mono ? 1 : 2;
  const mainDataBegin = bits(b, at, 0, 9);
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

function id3v2Length(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return 0;
  const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
  const footer = (b[5]! & 0x10) !== 0 ? 10 : 0;
  return 10 + size + footer;
}

/** Offsets inside the Info frame, relative to the "Info"/"Xing" tag (ffmpeg's and LAME's layout). */
const XING = { flags: 4, frames: 8, bytes: 12, toc: 16, lame: 120 };
const LAME = { delayPadding: 21, musicLength: 28, musicCrc: 32, tagCrc: 34 };
const TAG_CRC_SPAN = 190;

function parse(bytes: Uint8Array, what: string): ParsedMp3 {
  const id3End = id3v2Length(bytes);
  const frames: Frame[] = [];
  let at = id3End;
  while (at < bytes.length) {
    const h = readHeader(bytes, at);
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

/** CRC-16/ARC (ffmpeg's AV_CRC_16_ANSI_LE, initial value 0), as the LAME tag stores it. */
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

export function crc16(data: Uint8Array, crc = 0): number {
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/** ffmpeg's Xing seek table: byte positions sampled the way mp3enc.c's "bags" do. */
function xingToc(infoSize: number, frameSizes: readonly number[]): Uint8Array {
  const NUM_BAGS = 400;
  const bag = new Array<number>(NUM_BAGS).fill(0);
  let size = infoSize;
  let want = 1;
  let seen = 0;
  let pos = 0;
  for (const s of frameSizes) {
    seen++;
    size += s;
    if (want === seen) {
      bag[pos] = size;
      if (NUM_BAGS === ++pos) {
        for (let i = 1; i < NUM_BAGS; i += 2) bag[i >> 1] = bag[i]!;
        want *= 2;
        pos = NUM_BAGS / 2;
      }
      seen = 0;
    }
  }
  const toc = new Uint8Array(100);
  for (let i = 1; i < 100; i++) {
    const j = Math.floor((i * pos) / 100);
    toc[i] = Math.min(255, Math.floor((256 * bag[j]!) / size));
  }
  return toc;
}

const sameBlocks = (a: Frame, b: Frame) => a.blocks.length === b.blocks.length && a.blocks.every((v, i) => v === b.blocks[i]);

/**
 * The first global frame ≥ `from` where B can take over from A: A still has frames c-1 and c
 * (away from its end-of-stream flush), B has c-1 and c, block types agree on both, and B's frame c
 * reaches back into the reservoir no further than A's did.
 */
function findCut(a: ParsedMp3, aStart: number, b: ParsedMp3, bStart: number, from: number): number {
  const FLUSH_GUARD = 4;
  const last = aStart + a.frames.length - FLUSH_GUARD;
  for (let c = Math.max(from, bStart + 1); c < last; c++) {
    const a0 = a.frames[c - 1 - aStart];
    const a1 = a.frames[c - aStart];
    const b0 = b.frames[c - 1 - bStart];
    const b1 = b.frames[c - bStart];
    if (!a0 || !a1 || !b0 || !b1) continue;
    if (a0.length !== b0.length || a1.length !== b1.length) continue;
    if (b1.mainDataBegin <= a1.mainDataBegin && sameBlocks(a0, b0) && sameBlocks(a1, b1)) return c;
  }
  throw new SpliceError(`no seamless cut between frames ${from} and ${last} (parts overlap too little?)`);
}

/**
 * Copies the `n` main-data bytes that precede `frames[index]` in `src` into the `n` main-data bytes
 * that precede the end of `dst` (whose last frames are described by `dstFrames`, offsets in `dst`).
 */
function copyReservoir(src: Uint8Array, srcFrames: readonly Frame[], index: number, dst: Uint8Array, dstFrames: readonly { dataOffset: number; end: number }[], n: number): void {
  const take: number[] = [];
  // Walk back through the source's main-data areas.
  for (let i = index - 1; i >= 0 && take.length < n; i--) {
    const f = srcFrames[i]!;
    for (let p = f.offset + f.length - 1; p >= f.dataOffset && take.length < n; p--) take.push(src[p]!);
  }
  if (take.length < n) throw new SpliceError("reservoir reaches before the part's first frame");
  let k = 0;
  for (let i = dstFrames.length - 1; i >= 0 && k < n; i--) {
    const f = dstFrames[i]!;
    for (let p = f.end - 1; p >= f.dataOffset && k < n; p--) dst[p] = take[k++]!;
  }
  if (k < n) throw new SpliceError("not enough room before the cut for the reservoir");
}

/**
 * Joins parts (ordered, overlapping) into one MP3. `cutsFrom[k]` is the earliest global frame at
 * which part k+1 may take over from part k (its nominal boundary, past its pre-roll).
 */
export function spliceMp3(parts: readonly SplicePart[], cutsFrom: readonly number[]): SpliceResult {
  if (parts.length === 0) throw new SpliceError("nothing to join");
  if (cutsFrom.length !== parts.length - 1) throw new SpliceError("one cut per join expected");
  const parsed = parts.map((p, i) => parse(p.bytes, `part ${i}`));
  const first = parsed[0]!;
  const lastPart = parsed[parsed.length - 1]!;

  // Frame ranges [from, to) in global frames taken from each part.
  const cuts: number[] = [];
  for (let k = 0; k + 1 < parts.length; k++) {
    const c = findCut(parsed[k]!, parts[k]!.startFrame, parsed[k + 1]!, parts[k + 1]!.startFrame, cutsFrom[k]!);
    if (cuts.length && c <= cuts[cuts.length - 1]!) throw new SpliceError("cuts out of order");
    cuts.push(c);
  }
  const ranges = parts.map((p, k) => ({
    from: k === 0 ? p.startFrame : cuts[k - 1]!,
    to: k + 1 < parts.length ? cuts[k]! : p.startFrame + parsed[k]!.frames.length,
  }));

  const infoLen = first.info.length;
  let audioBytes = 0;
  const frameSizes: number[] = [];
  ranges.forEach((r, k) => {
    const p = parsed[k]!;
    for (let g = r.from; g < r.to; g++) {
      const f = p.frames[g - parts[k]!.startFrame]!;
      audioBytes += f.length;
      frameSizes.push(f.length);
    }
  });
  const out = new Uint8Array(first.id3End + infoLen + audioBytes);
  out.set(first.bytes.subarray(0, first.id3End + infoLen), 0);

  let w = first.id3End + infoLen;
  const written: { dataOffset: number; end: number }[] = [];
  ranges.forEach((r, k) => {
    const p = parsed[k]!;
    const start = parts[k]!.startFrame;
    if (k > 0) {
      const index = r.from - start;
      const n = p.frames[index]!.mainDataBegin;
      if (n > 0) copyReservoir(p.bytes, p.frames, index, out, written, n);
    }
    for (let g = r.from; g < r.to; g++) {
      const f = p.frames[g - start]!;
      out.set(p.bytes.subarray(f.offset, f.offset + f.length), w);
      written.push({ dataOffset: w + (f.dataOffset - f.offset), end: w + f.length });
      if (written.length > 64) written.shift();
      w += f.length;
    }
  });

  // The Info frame of the whole, as ffmpeg's muxer would have written it for one encode.
  const info = first.id3End;
  const tag = info + (first.info.dataOffset - first.info.offset);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(tag + XING.frames, frameSizes.length);
  view.setUint32(tag + XING.bytes, infoLen + audioBytes);
  out.set(xingToc(infoLen, frameSizes), tag + XING.toc);
  const lame = tag + XING.lame;
  const dp = (first.delay << 12) | lastPart.padding;
  out[lame + LAME.delayPadding] = (dp >> 16) & 0xff;
  out[lame + LAME.delayPadding + 1] = (dp >> 8) & 0xff;
  out[lame + LAME.delayPadding + 2] = dp & 0xff;
  view.setUint32(lame + LAME.musicLength, infoLen + audioBytes);
  view.setUint16(lame + LAME.musicCrc, crc16(out.subarray(info + infoLen)));
  view.setUint16(lame + LAME.tagCrc, crc16(out.subarray(info, info + TAG_CRC_SPAN)));
  return { bytes: out, cuts, frames: frameSizes.length };
}
