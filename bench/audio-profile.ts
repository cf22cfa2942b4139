// 1a, profiled: where the AUDIO single command spends its time, and what each way of using the
// second core buys, measured on 4 × 10 min of the same Opus tracks (the first third of 1a's).
//  - CPU of the single command, and of its parts run alone: decoding (4 inputs in one process vs
//    one process per input), and the MP3 encoder fed the finished mix;
//  - the stage pipeline (container/src/engines/parallel-audio.ts) with one encoder, each stage's
//    CPU, and whether its MP3 is byte-identical to the single command's;
//  - the renderer's default, the mix cut into one time window per core, each encoded by its own
//    ffmpeg and joined (chunked-mp3.ts): its speed against the one-encoder pipeline and the single
//    command (rounds alternate, best of each), more windows per encoder, and its joins decoded
//    against the single command's output (gap, click, lag, length);
//  - the rejected alternative, time chunks of the whole command with seeked inputs, spliced
//    (bench/lib/seek-chunks.ts): its speed, and what its joins look like.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { createNativeEngine } from "../container/src/engines/native.ts";
import { withParallelAudio } from "../container/src/engines/parallel-audio.ts";
import { pipelineFor } from "../container/src/engines/pipeline-spec.ts";
import type { RenderPlan } from "../container/src/planner/types.ts";
import { FFMPEG, tempDir } from "../test/fixtures/media.ts";
import { audioSpecs, cachedCut, cachedTracks } from "./lib/media.ts";
import { localJob, localPlan, runFfmpeg } from "./lib/plans.ts";
import { fmt, loadNow, Report, runIfMain } from "./lib/report.ts";
import { compareSeams } from "../test/fixtures/seams.ts";
import { renderSeekChunks } from "./lib/seek-chunks.ts";

const SECONDS = 600;
const ROUNDS = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const TIME = "/usr/bin/time";

interface Usage {
  wall: number;
  cpu: number;
  switches: number;
}

/** The renderer's pipeline for `args`, each stage under /usr/bin/time for its CPU. */
async function timedPipeline(
  spec: Exclude<ReturnType<typeof pipelineFor>, string>,
): Promise<{ wall: number; stages: Record<string, Usage> }> {
  const t0 = performance.now();
  const stages: Record<string, Usage> = {};
  const procs: [string, ChildProcess, () => string][] = [];
  const start = (name: string, args: string[], stdio: ("pipe" | "ignore" | Writable)[]) => {
    const child = spawn(TIME, ["-f", "@@time %e %U %S %w %c", FFMPEG, ...args], { stdio });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    procs.push([name, child, () => err]);
    return child;
  };
  const encoder = start("encoder", spec.encoder, ["pipe", "ignore", "pipe"]);
  const mixer = start("mixer", spec.mixer, ["ignore", encoder.stdin!, "pipe", ...spec.decoders.map(() => "pipe" as const)]);
  spec.decoders.forEach((args, j) => start(`decoder ${j}`, args, ["ignore", mixer.stdio[3 + j] as Writable, "pipe"]));
  encoder.stdin!.destroy();
  spec.decoders.forEach((_, j) => (mixer.stdio[3 + j] as Writable).destroy());
  await Promise.all(procs.map(([, c]) => new Promise((r) => c.once("close", r))));
  for (const [name, , err] of procs) {
    const m = /@@time ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)/.exec(err());
    if (!m) throw new Error(`${name}: ${err().slice(-300)}`);
    stages[name] = { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), switches: Number(m[4]) + Number(m[5]) };
  }
  return { wall: (performance.now() - t0) / 1000, stages };
}

function timedCommand(args: string[]): Promise<Usage> {
  return new Promise((resolve, reject) => {
    const child = spawn(TIME, ["-f", "@@time %e %U %S %w %c", FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", () => {
      const m = /@@time ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)/.exec(err);
      if (!m) return reject(new Error(err.slice(-300)));
      resolve({ wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), switches: Number(m[4]) + Number(m[5]) });
    });
  });
}

export async function benchAudioProfile(): Promise<Report[]> {
  console.log(`\n## 1a, profiled: 4 × ${SECONDS / 60} min of Opus → MP3 (where the time goes, and the ways to use 2 cores)`);
  const report = new Report("1a profile 4×10 min");
  const dir = await tempDir("bench-profile-");
  try {
    const full = await cachedTracks(audioSpecs(4, 1800));
    const files = await Promise.all(full.map((f, i) => cachedCut(f, `profile-${SECONDS}s-p${i}`, SECONDS)));
    const job = localJob({
      type: "AUDIO",
      spanSec: SECONDS,
      tracks: files.map((file) => ({ file, offsetSec: 0, audio: true, video: false })),
    });
    const singleOut = join(dir, "single.mp3");
    const { plan, facts, inputs } = await localPlan(job, files, singleOut);
    console.log(`  load ${loadNow()}`);

    const single = await timedCommand(plan.args);
    const decodeTogether = await timedCommand([
      ...files.flatMap((f) => ["-i", f]),
      ...files.flatMap((_, i) => ["-map", `${i}:a`]),
      "-f",
      "null",
      "-",
    ]);
    const decodeApart = await Promise.all(files.map((f) => timedCommand(["-i", f, "-f", "null", "-"])));
    const decodeApartCpu = decodeApart.reduce((n, u) => n + u.cpu, 0);
    const spec = pipelineFor({ ...plan, output: join(dir, "pipeline.mp3"), args: [...plan.args.slice(0, -1), join(dir, "pipeline.mp3")] });
    if (typeof spec === "string") throw new Error(`pipeline does not apply: ${spec}`);
    const pipe = await timedPipeline(spec);
    const dec = Object.entries(pipe.stages).filter(([k]) => k.startsWith("decoder"));
    const decCpu = dec.reduce((n, [, u]) => n + u.cpu, 0);
    const enc = pipe.stages.encoder!;
    const mix = pipe.stages.mixer!;
    const pipeCpu = decCpu + enc.cpu + mix.cpu;
    const identical = readFileSync(singleOut).equals(readFileSync(join(dir, "pipeline.mp3")));

    report.add({
      metric: "single command",
      value: `${fmt.s(single.wall)} wall, ${fmt.s(single.cpu)} CPU`,
      note: `${single.switches} context switches`,
    });
    report.add({
      metric: "decoding 4 inputs in one ffmpeg",
      value: `${fmt.s(decodeTogether.cpu)} CPU`,
      baseline: `${fmt.s(decodeApartCpu)} CPU as 4 one-input ffmpegs`,
      ratio: fmt.x(decodeTogether.cpu / decodeApartCpu),
      note: `${decodeTogether.switches} vs ${decodeApart.reduce((n, u) => n + u.switches, 0)} context switches: one per 20 ms packet handed from an input thread`,
    });
    report.add({
      metric: "share of the work (pipeline stages' CPU)",
      value: `MP3 encoder ${fmt.s(enc.cpu)} (${((100 * enc.cpu) / pipeCpu).toFixed(0)}%), decoders ${fmt.s(decCpu)} (${((100 * decCpu) / pipeCpu).toFixed(0)}%), mix+limiter ${fmt.s(mix.cpu)} (${((100 * mix.cpu) / pipeCpu).toFixed(0)}%)`,
      baseline: `single command ${fmt.s(single.cpu)} CPU`,
    });
    report.add({
      metric: "stage pipeline (as the renderer runs it)",
      value: `${fmt.s(pipe.wall)} wall, ${fmt.s(pipeCpu)} CPU`,
      baseline: `${fmt.s(single.wall)} single command`,
      ratio: fmt.x(single.wall / pipe.wall),
      note: `MP3 ${identical ? "byte-identical to" : "DIFFERS from"} the single command's`,
    });

    // The renderer's default (one window per encoder) against the one-encoder pipeline and the
    // single command, alternating so that a burst of load hits all alike; best of each.
    const native = createNativeEngine(FFMPEG);
    const variants: [string, { chunkMinSeconds?: number; windowsPerEncoder?: number }][] = [
      ["one encoder", { chunkMinSeconds: Infinity }],
      ["2 windows", {}],
      ["8 windows", { windowsPerEncoder: 4 }],
    ];
    const best = new Map<string, number>([["single", single.wall]]);
    let joins: number[] = [];
    const windowedOut = join(dir, "windowed.mp3");
    for (let round = 0; round < ROUNDS; round++) {
      const b = await runFfmpeg(plan.args);
      best.set("single", Math.min(best.get("single")!, b.wall));
      for (const [name, o] of variants) {
        const info: string[] = [];
        const out = name === "2 windows" ? windowedOut : join(dir, `${name.replace(/\W/g, "")}.mp3`);
        const runPlan: RenderPlan = { ...plan, output: out, args: [...plan.args.slice(0, -1), out] };
        const t0 = performance.now();
        await withParallelAudio(native, { cores: 2, onInfo: (l) => info.push(l), ...o }).run(runPlan, {
          signal: new AbortController().signal,
          onProgress: () => {},
        });
        const wall = (performance.now() - t0) / 1000;
        best.set(name, Math.min(best.get(name) ?? Infinity, wall));
        if (name === "2 windows") joins = (/samples ([\d, ]+)/.exec(info.join(""))?.[1] ?? "").split(", ").filter(Boolean).map(Number);
      }
      console.log(
        `  round ${round + 1}: ${[...best.keys()].map((k) => `${k} ${fmt.s(best.get(k)!)}`).join(", ")} (best so far); load ${loadNow()}`,
      );
    }
    const windowSeams = await compareSeams(singleOut, windowedOut, joins, SECONDS * 48_000);
    const ws = windowSeams.joins[0];
    report.add({
      metric: "stage pipeline, one window per encoder (the renderer's default)",
      value: `${fmt.s(best.get("2 windows")!)} wall`,
      baseline: `${fmt.s(best.get("one encoder")!)} one encoder; ${fmt.s(best.get("single")!)} single command`,
      ratio: `${fmt.x(best.get("one encoder")! / best.get("2 windows")!)} vs one encoder; ${fmt.x(best.get("single")! / best.get("2 windows")!)} vs single`,
      note: `best of ${ROUNDS} alternating rounds`,
    });
    report.add({
      metric: "joins of the windowed MP3 vs the single command's",
      value: ws
        ? `join at ${ws.atSeconds.toFixed(3)} s: lag ${ws.lagSamples} samples, |diff| ${ws.maxDiff.toFixed(4)} at the join (${ws.controlDiff.toFixed(4)} 20 s later), steepest step ${ws.stepRatio.toFixed(2)}× the original's, quietest 5 ms ${ws.minRmsRatio.toFixed(2)}× its level`
        : "no join (one window)",
      baseline: `length ${windowSeams.samplesChunked} samples (expected ${windowSeams.expectedSamples})`,
      goal: "no gap or click, exact length",
      met: Boolean(ws) && windowSeams.seamless,
    });
    report.add({
      metric: "4 windows per encoder (8 in all)",
      value: `${fmt.s(best.get("8 windows")!)} wall`,
      baseline: `${fmt.s(best.get("2 windows")!)} one window per encoder`,
      ratio: fmt.x(best.get("2 windows")! / best.get("8 windows")!),
      note: "each window is an ffmpeg start-up (~0.15 s of CPU) and its overlap, on the same 2 cores",
    });

    // The rejected alternative: 2 time chunks (inputs seeked), encoded in parallel, spliced.
    const seekOut = join(dir, "seek.mp3");
    const t0 = performance.now();
    const chunks = await renderSeekChunks(native, job, facts, inputs, { ...plan, output: seekOut }, 2);
    const seekWall = (performance.now() - t0) / 1000;
    const seams = await compareSeams(singleOut, seekOut, chunks.joinSamples, SECONDS * 48_000);
    const j = seams.joins[0]!;
    report.add({
      metric: "time chunks in parallel, spliced (rejected)",
      value: `${fmt.s(seekWall)} wall`,
      baseline: `${fmt.s(single.wall)} single command`,
      ratio: fmt.x(single.wall / seekWall),
      note: `join at ${j.atSeconds.toFixed(3)} s: later part shifted ${j.lagSamples} samples (${((j.lagSamples / 48) * 1000).toFixed(0)} µs) against the single command; |diff| ${j.maxDiff.toFixed(3)} at the join, ${j.controlDiff.toFixed(3)} 20 s later; length ${seams.samplesChunked === seams.expectedSamples ? "exact" : `${seams.samplesChunked} ≠ ${seams.expectedSamples}`}`,
    });
    report.note(
      seams.seamless
        ? "the spliced chunks came out aligned here"
        : "chunks seek into each track, and after a seek ffmpeg places samples by the container's timestamps (1 ms in WebM, jittery in MediaRecorder files) where the single command counts decoded samples: the parts are offset against each other, so every join is a phase jump",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [report];
}

runIfMain(import.meta.url, benchAudioProfile);
