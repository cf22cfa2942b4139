// The ffmpeg commands a user would write for the same outputs (issue 13's baselines): the yardstick
// a customer who leaves us compares with, lighter than the renderer's own graph (no gap filling,
// no limiter, no exact-length trims, a fixed grid).
import { FPS } from "../../container/src/planner/types.ts";

export interface UserTrack {
  file: string;
  offsetSec: number;
}

/** `amix=inputs=N:normalize=0 -ar 48000 -c:a libmp3lame -b:a 128k`. */
export function userAudioArgs(tracks: readonly UserTrack[], out: string): string[] {
  return [
    ...tracks.flatMap((t) => ["-i", t.file]),
    "-filter_complex",
    `amix=inputs=${tracks.length}:normalize=0`,
    "-ar",
    "48000",
    "-c:a",
    "libmp3lame",
    "-b:a",
    "128k",
    out,
  ];
}

/**
 * A fixed grid: each input scaled and padded into its cell, `setpts`/`adelay` for the join
 * offsets, overlaid in turn onto a black `color` source of the whole span; `amix`; x264 veryfast
 * crf 23 yuv420p, AAC 128k, +faststart.
 */
export function userVideoArgs(tracks: readonly UserTrack[], spanSec: number, width: number, height: number, out: string): string[] {
  const cols = Math.ceil(Math.sqrt(tracks.length));
  const rows = Math.ceil(tracks.length / cols);
  const cw = 2 * Math.floor(width / cols / 2);
  const ch = 2 * Math.floor(height / rows / 2);
  const chains = [`color=c=black:s=${width}x${height}:r=${FPS}:d=${spanSec}[base]`];
  tracks.forEach((t, i) => {
    chains.push(
      `[${i}:v]scale=${cw}:${ch}:force_original_aspect_ratio=decrease,pad=${cw}:${ch}:(ow-iw)/2:(oh-ih)/2,setpts=PTS-STARTPTS+${t.offsetSec}/TB[v${i}]`,
    );
    chains.push(`[${i}:a]adelay=${Math.round(t.offsetSec * 1000)}:all=1[a${i}]`);
  });
  let last = "base";
  tracks.forEach((_, i) => {
    const x = (i % cols) * cw;
    const y = Math.floor(i / cols) * ch;
    chains.push(`[${last}][v${i}]overlay=x=${x}:y=${y}:eof_action=pass[o${i}]`);
    last = `o${i}`;
  });
  chains.push(`${tracks.map((_, i) => `[a${i}]`).join("")}amix=inputs=${tracks.length}:normalize=0[aout]`);
  return [
    ...tracks.flatMap((t) => ["-i", t.file]),
    "-filter_complex",
    chains.join(";"),
    "-map",
    `[${last}]`,
    "-map",
    "[aout]",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "23",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-b:a",
    "128k",
    "-movflags",
    "+faststart",
    out,
  ];
}
