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
// Reading the frames is mp3-frames.ts.
import { LAME, parseMp3, SpliceError, TAG_CRC_SPAN, XING, type Frame, type ParsedMp3 } from "./mp3-frames.ts";

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
export function xingToc(infoSize: number, frameSizes: readonly number[]): Uint8Array {
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
export function findCut(a: ParsedMp3, aStart: number, b: ParsedMp3, bStart: number, from: number): number {
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
export function copyReservoir(
  src: Uint8Array,
  srcFrames: readonly Frame[],
  index: number,
  dst: Uint8Array,
  dstFrames: readonly { dataOffset: number; end: number }[],
  n: number,
): void {
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

/** Main-data area of a frame already written to the output (offsets in the output). */
interface Written {
  dataOffset: number;
  end: number;
}

/** Frame range [from, to) of the timeline taken from a part. */
interface Range {
  from: number;
  to: number;
}

/**
 * Joins parts (ordered, overlapping) into one MP3. `cutsFrom[k]` is the earliest global frame at
 * which part k+1 may take over from part k (its nominal boundary, past its pre-roll).
 */
export function spliceMp3(parts: readonly SplicePart[], cutsFrom: readonly number[]): SpliceResult {
  if (parts.length === 0) throw new SpliceError("nothing to join");
  if (cutsFrom.length !== parts.length - 1) throw new SpliceError("one cut per join expected");
  const parsed = parts.map((p, i) => parseMp3(p.bytes, `part ${i}`));
  const cuts = chooseCuts(parsed, parts, cutsFrom);
  const ranges = parts.map((p, k) => ({
    from: k === 0 ? p.startFrame : cuts[k - 1]!,
    to: k + 1 < parts.length ? cuts[k]! : p.startFrame + parsed[k]!.frames.length,
  }));
  const frameSizes = ranges.flatMap((r, k) => taken(parsed[k]!, parts[k]!.startFrame, r).map((f) => f.length));
  const first = parsed[0]!;
  const audioBytes = frameSizes.reduce((n, s) => n + s, 0);
  const out = new Uint8Array(first.id3End + first.info.length + audioBytes);
  out.set(first.bytes.subarray(0, first.id3End + first.info.length), 0);
  writeFrames(out, first.id3End + first.info.length, parsed, parts, ranges);
  rewriteInfo(out, first, parsed[parsed.length - 1]!.padding, frameSizes);
  return { bytes: out, cuts, frames: frameSizes.length };
}

/** Where each join switches parts: the first seamless frame from its `cutsFrom` on. */
function chooseCuts(parsed: readonly ParsedMp3[], parts: readonly SplicePart[], cutsFrom: readonly number[]): number[] {
  const cuts: number[] = [];
  for (let k = 0; k + 1 < parts.length; k++) {
    const c = findCut(parsed[k]!, parts[k]!.startFrame, parsed[k + 1]!, parts[k + 1]!.startFrame, cutsFrom[k]!);
    if (cuts.length && c <= cuts[cuts.length - 1]!) throw new SpliceError("cuts out of order");
    cuts.push(c);
  }
  return cuts;
}

/** A part's frames of the global range `r`. */
function taken(p: ParsedMp3, startFrame: number, r: Range): Frame[] {
  return p.frames.slice(r.from - startFrame, r.to - startFrame);
}

/** Copies each part's range after `at`, first handing each later part's reservoir to its frame at the cut. */
function writeFrames(
  out: Uint8Array,
  at: number,
  parsed: readonly ParsedMp3[],
  parts: readonly SplicePart[],
  ranges: readonly Range[],
): void {
  let w = at;
  const written: Written[] = [];
  ranges.forEach((r, k) => {
    const p = parsed[k]!;
    const index = r.from - parts[k]!.startFrame;
    const n = k > 0 ? p.frames[index]!.mainDataBegin : 0;
    if (n > 0) copyReservoir(p.bytes, p.frames, index, out, written, n);
    for (const f of taken(p, parts[k]!.startFrame, r)) {
      out.set(p.bytes.subarray(f.offset, f.offset + f.length), w);
      written.push({ dataOffset: w + (f.dataOffset - f.offset), end: w + f.length });
      // The reservoir reaches back at most 511 bytes: a few frames are enough to keep.
      if (written.length > 64) written.shift();
      w += f.length;
    }
  });
}

/** The Info frame of the whole, as ffmpeg's muxer would have written it for one encode. */
function rewriteInfo(out: Uint8Array, first: ParsedMp3, padding: number, frameSizes: readonly number[]): void {
  const info = first.id3End;
  const infoLen = first.info.length;
  const size = infoLen + frameSizes.reduce((n, s) => n + s, 0);
  const tag = info + (first.info.dataOffset - first.info.offset);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(tag + XING.frames, frameSizes.length);
  view.setUint32(tag + XING.bytes, size);
  out.set(xingToc(infoLen, frameSizes), tag + XING.toc);
  const lame = tag + XING.lame;
  const dp = (first.delay << 12) | padding;
  out[lame + LAME.delayPadding] = (dp >> 16) & 0xff;
  out[lame + LAME.delayPadding + 1] = (dp >> 8) & 0xff;
  out[lame + LAME.delayPadding + 2] = dp & 0xff;
  view.setUint32(lame + LAME.musicLength, size);
  view.setUint16(lame + LAME.musicCrc, crc16(out.subarray(info + infoLen)));
  view.setUint16(lame + LAME.tagCrc, crc16(out.subarray(info, info + TAG_CRC_SPAN)));
}
