// Plans for local files exactly as the renderer makes them (same planner, same probe), and the
// baseline: the plan's single ffmpeg command run directly, with its CPU time.
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import type { RenderJob } from "../../contract/renderer.ts";
import { nativeFfprobe } from "../../container/src/engines/native.ts";
import { planRender, type ProbeFacts, type RenderPlan } from "../../container/src/planner/index.ts";
import { createProber } from "../../container/src/probe.ts";
import { FFMPEG, FFPROBE } from "../../test/fixtures/media.ts";

export interface LocalTrack {
  file: string;
  offsetSec: number;
  audio: boolean;
  video: boolean;
}

/** The RenderJob the Worker would build for this recording (URLs unused). */
export function localJob(o: {
  type: "AUDIO" | "VIDEO";
  spanSec: number;
  tracks: readonly LocalTrack[];
  width?: number;
  height?: number;
}): RenderJob {
  return {
    jobId: "bench",
    attempt: 1,
    type: o.type,
    format: o.type === "AUDIO" ? "MP3" : "MP4",
    width: o.width ?? 1280,
    height: o.height ?? 720,
    durationMs: Math.round(o.spanSec * 1000),
    tracks: o.tracks.map((t, i) => ({
      id: `t${i}`,
      participantId: `p${i}`,
      url: "",
      offsetMs: Math.round(t.offsetSec * 1000),
      audio: t.audio,
      video: o.type === "VIDEO" && t.video,
      size: statSync(t.file).size,
    })),
    output: { url: "", contentType: "", multipartUrl: "" },
    callback: { url: "", token: "" },
  };
}

const prober = createProber(nativeFfprobe(FFPROBE));

export async function localPlan(
  job: RenderJob,
  files: readonly string[],
  output: string,
): Promise<{ plan: RenderPlan; facts: Record<string, ProbeFacts>; inputs: Record<string, string> }> {
  const facts: Record<string, ProbeFacts> = {};
  const inputs: Record<string, string> = {};
  await Promise.all(
    job.tracks.map(async (t, i) => {
      inputs[t.id] = files[i]!;
      facts[t.id] = await prober.probe(files[i]!);
    }),
  );
  return { plan: planRender(job, facts, { inputs, output }), facts, inputs };
}

export interface CommandTime {
  wall: number;
  user: number;
  sys: number;
}

const TIME = "/usr/bin/time";

/** Runs ffmpeg with `args` (no progress pipe, errors only) and measures wall and CPU seconds. */
export function runFfmpeg(args: readonly string[]): Promise<CommandTime> {
  const full = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", ...args];
  const withTime = existsSync(TIME);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = withTime
      ? spawn(TIME, ["-f", "@@time %e %U %S", FFMPEG, ...full], { stdio: ["ignore", "ignore", "pipe"] })
      : spawn(FFMPEG, full, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`ffmpeg failed (${code}): ${err.slice(-600)}`));
      const m = /@@time ([\d.]+) ([\d.]+) ([\d.]+)/.exec(err);
      resolve({ wall, user: m ? Number(m[2]) : NaN, sys: m ? Number(m[3]) : NaN });
    });
  });
}
