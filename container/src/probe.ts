// Learns what a downloaded track really is, in one ffprobe run: the container and its streams, and
// the packets at both ends. MediaRecorder's WebM carries no duration in its header, so when the
// container has none the length is measured from packet timestamps: the first packet and those
// after a seek to the end (5× faster than reading all of them on 30-minute tracks, same length,
// measured in bench/compose.ts), and every packet when that seek does not work.
import type { FfprobeRunner, Prober } from "./engines/types.ts";

/** The file is not readable media; the message is ffprobe's reason (no paths). */
export class InvalidMediaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidMediaError";
  }
}

const HEADER_ARGS = [
  "-v",
  "error",
  "-show_entries",
  "format=duration,start_time,format_name,probe_score:stream=index,codec_type,width,height,channels:stream_disposition=attached_pic",
  "-of",
  "json",
];
/** The first packet, then a seek past the end (lands on the last keyframe) and everything after it. */
const EDGES = ["-read_intervals", "%+#1,99999999%"];
const HEADER_AND_EDGES_ARGS = ["-v", "error", "-show_entries", `${HEADER_ARGS[3]}:packet=pts_time,duration_time`, ...EDGES, "-of", "json"];
/** ffmpeg's AVPROBE_SCORE_RETRY: at or below it ffmpeg itself warns that the format may be misdetected. */
const MIN_PROBE_SCORE = 25;
const PACKET_ARGS = ["-v", "error", "-show_entries", "packet=pts_time,duration_time", "-of", "compact=p=0"];

const num = (v: unknown): number | null => {
  const n = typeof v === "string" || typeof v === "number" ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
};

interface HeaderJson {
  format?: { duration?: string; start_time?: string; format_name?: string; probe_score?: number };
  streams?: { codec_type?: string; width?: number; height?: number; channels?: number; disposition?: { attached_pic?: number } }[];
  packets?: { pts_time?: string; duration_time?: string }[];
}

/** The last meaningful line of ffprobe's error output, with file paths removed. */
export function reasonFrom(stderr: string, file: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) =>
      l
        .split(file)
        .join("input")
        .replace(/^\[[^\]]+\]\s*/, "")
        .trim(),
    )
    .filter(Boolean);
  return lines[lines.length - 1] ?? "unreadable media";
}

/** End of the last packet minus the first start, from `pts_time=…|duration_time=…` lines. */
export function packetSpan(text: string): number | null {
  return spanOf(
    text
      .split("\n")
      .map((line) => ({ pts_time: /pts_time=([^|\s]+)/.exec(line)?.[1], duration_time: /duration_time=([^|\s]+)/.exec(line)?.[1] })),
  );
}

function spanOf(packets: readonly { pts_time?: string; duration_time?: string }[], minPackets = 1): number | null {
  let first = Infinity;
  let last = -Infinity;
  let count = 0;
  for (const p of packets) {
    const pts = num(p.pts_time);
    if (pts === null) continue;
    count++;
    first = Math.min(first, pts);
    last = Math.max(last, pts + (num(p.duration_time) ?? 0));
  }
  return count >= minPackets && last > first ? last - first : null;
}

function parse(out: { stdout: string; stderr: string }, file: string): HeaderJson {
  try {
    return JSON.parse(out.stdout || "{}") as HeaderJson;
  } catch {
    throw new InvalidMediaError(reasonFrom(out.stderr, file));
  }
}

export function createProber(run: FfprobeRunner): Prober {
  return {
    async probe(file, signal) {
      let head = await run(file, HEADER_AND_EDGES_ARGS, signal);
      let json = parse(head, file);
      // A failed seek ends ffprobe before it prints the container ("Could not seek"), and a read
      // that stopped there would look like a 20 ms track: ask for the container alone instead.
      const edgesFailed = /could not seek/i.test(head.stderr);
      if (edgesFailed) {
        head = await run(file, HEADER_ARGS, signal);
        json = parse(head, file);
      }
      // Recorders write containers (score 100); a guess at ≤ 25 ("misdetection possible") is how
      // random bytes occasionally pass as a raw elementary stream such as H.263.
      const score = json.format?.probe_score;
      if (json.format && typeof score === "number" && score <= MIN_PROBE_SCORE) {
        throw new InvalidMediaError(`unrecognised format (guessed ${json.format.format_name ?? "?"} with probe score ${score})`);
      }
      const streams = (json.streams ?? []).filter((s) => !s.disposition?.attached_pic);
      const video = streams.find((s) => s.codec_type === "video");
      const audio = streams.find((s) => s.codec_type === "audio");
      const hasAudio = Boolean(audio);
      if (!json.format || (!video && !hasAudio)) {
        throw new InvalidMediaError(head.stderr.trim() ? reasonFrom(head.stderr, file) : "no audio or video stream");
      }
      let durationSec = num(json.format.duration);
      if ((durationSec === null || durationSec <= 0) && !edgesFailed) durationSec = spanOf(json.packets ?? [], 2);
      if (durationSec === null || durationSec <= 0) {
        const packets = await run(file, PACKET_ARGS, signal);
        durationSec = packetSpan(packets.stdout);
        if (durationSec === null) {
          throw new InvalidMediaError(packets.stderr.trim() ? reasonFrom(packets.stderr, file) : "no media packets");
        }
      }
      return {
        durationSec,
        hasAudio,
        ...(typeof audio?.channels === "number" ? { audioChannels: audio.channels } : {}),
        hasVideo: Boolean(video),
        ...(video?.width && video.height ? { width: video.width, height: video.height } : {}),
      };
    },
  };
}
