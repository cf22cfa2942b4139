// The native AUDIO path for long recordings: the single ffmpeg command of the plan, run as a
// pipeline of processes so that both cores work, with a byte-identical MP3 as the result.
//
//   track 0 ─ ffmpeg: decode + its source chain (aresample, aformat, adelay) ─┐ nut, f32, 1 s packets
//   track 1 ─ ffmpeg: decode + its source chain ──────────────────────────────┤
//   …                                                                        ├─ ffmpeg: the rest of the
//   track n ─ ffmpeg: decode + its source chain ──────────────────────────────┘  graph (amix, limiter,
//                                                          trims) ── f32 ── ffmpeg: MP3 encoder → file
//
// Why not the obvious "encode time chunks in parallel and join the MP3s" (measured in
// bench/audio-profile.ts): a chunk has to seek into each track, and after a seek samples are placed
// by the container's timestamps (1 ms in WebM, jittery in MediaRecorder files) while the single
// command places them by counting decoded samples; the parts come out shifted against each other by
// milliseconds and every join clicks. Splitting by stage instead keeps every sample where the single
// command puts it, and measured on 4 × 30 min of Opus it is the right cut anyway:
//  - the MP3 encoder is ~40% of the work and single-threaded: it gets a core to itself;
//  - with n inputs, ffmpeg 5.x gives each input a demuxer thread and hands every packet (20 ms of
//    Opus) across threads: that hand-off cost as much CPU as the decoding itself. Each decoder here
//    has one input (no thread), and the mixer gets 1 s packets, 50× fewer hand-offs.
//
// The plan's own filter graph is split, not rebuilt: a chain that reads one input (`[k:a]…[label]`)
// runs in that input's decoder, every other chain in the mixer, so whatever the planner composes
// (trims, selections) is rendered as it wrote it. Anything that does not fit that shape, or any
// failure, falls back to the single command (which also produces the usual error for bad media).
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import type { Readable, Writable } from "node:stream";
import type { RenderPlan } from "../planner/types.ts";
import { stopProcess } from "./native.ts";
import { EngineError, LogTail, type Engine, type RunOptions } from "./types.ts";

/**
 * Shortest output worth the extra processes: bench/engines.ts measured the pipeline slower than the
 * single command at 1 min (six process start-ups) and faster from 5 min on, 2 participants.
 */
export const PARALLEL_AUDIO_MIN_SECONDS = 120;
const MAX_INLINE_GRAPH = 64 * 1024;
/** Samples per packet between processes: one second keeps the mixer's thread hand-offs rare. */
const PACKET_SAMPLES = 48_000;

export interface ParallelAudioOptions {
  ffmpegPath?: string;
  minSeconds?: number;
  cores?: number;
  /** One line per render: how it was run, or why it fell back. */
  onInfo?: (line: string) => void;
}

interface InputSpec {
  options: string[];
  path: string;
}

export interface PipelineSpec {
  decoders: string[][];
  mixer: string[];
  encoder: string[];
  /** Graph scripts to write before starting (path → content), for graphs too long for argv. */
  scripts: Map<string, string>;
}

/** Splits on `sep` outside single quotes and brackets (ffmpeg's filtergraph quoting). */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let quote = false;
  let depth = 0;
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (c === "'") quote = !quote;
    else if (!quote && c === "[") depth++;
    else if (!quote && c === "]") depth--;
    if (c === sep && !quote && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

interface Chain {
  ins: string[];
  outs: string[];
  body: string;
}

function parseChain(text: string): Chain {
  let s = text.trim();
  const ins: string[] = [];
  const outs: string[] = [];
  for (let m = /^\[([^\]]+)\]/.exec(s); m; m = /^\[([^\]]+)\]/.exec(s)) {
    ins.push(m[1]!);
    s = s.slice(m[0].length).trimStart();
  }
  for (let m = /\[([^\]]+)\]$/.exec(s); m; m = /\[([^\]]+)\]$/.exec(s)) {
    outs.unshift(m[1]!);
    s = s.slice(0, s.length - m[0].length).trimEnd();
  }
  return { ins, outs, body: s };
}

const chainText = (c: Chain) => `${c.ins.map((l) => `[${l}]`).join("")}${c.body}${c.outs.map((l) => `[${l}]`).join("")}`;

/**
 * The process pipeline for an audio plan, or a reason why it cannot be split. Pure (the graph
 * script, if the plan has one, is passed in), so it is unit-testable.
 */
export function pipelineFor(plan: RenderPlan, graphText?: string): PipelineSpec | string {
  if (plan.kind !== "audio") return "not an audio plan";
  const a = plan.args;
  const inputs: InputSpec[] = [];
  let i = 0;
  let pending: string[] = [];
  for (; i < a.length; i++) {
    if (a[i] === "-filter_complex" || a[i] === "-filter_complex_script") break;
    if (a[i] === "-i") {
      inputs.push({ options: pending, path: a[++i]! });
      pending = [];
    } else pending.push(a[i]!);
  }
  if (pending.length || i >= a.length) return "unexpected arguments before the filter graph";
  const graph = a[i] === "-filter_complex" ? a[i + 1] : graphText;
  if (graph === undefined) return "no filter graph";
  const rest = a.slice(i + 2);
  if (rest[0] !== "-map" || rest[1] === undefined || rest.indexOf("-map", 2) >= 0) return "not a single mapped output";
  const mapped = rest[1];
  const enc = rest.slice(2);
  const f = enc.lastIndexOf("-f");
  if (f < 0 || enc[f + 1] !== "mp3" || f + 3 !== enc.length || !enc.includes("libmp3lame")) return "not an MP3 output";
  if (inputs.length < 1) return "no inputs";

  const chains = splitTop(graph, ";").map(parseChain);
  const sources: { input: number; chain: Chain }[] = [];
  for (const c of chains) {
    const m = c.ins.length === 1 ? /^(\d+):a$/.exec(c.ins[0]!) : null;
    if (m) sources.push({ input: Number(m[1]), chain: c });
  }
  const inputRefs = chains.flatMap((c) => c.ins).filter((l) => /^\d+(:|$)/.test(l));
  if (sources.length !== inputs.length || new Set(sources.map((s) => s.input)).size !== inputs.length || inputRefs.length !== inputs.length) {
    return "each input must feed exactly one chain of its own";
  }
  for (const s of sources) {
    if (s.chain.outs.length !== 1) return "a source chain must have one output";
    // f32 between processes is exact only for float (or narrower) samples.
    if (!/aformat=[^,]*sample_fmts=fltp?(:|,|$)/.test(s.chain.body)) return "a source chain does not end in float samples";
    if (/\b(amovie|movie)=/.test(s.chain.body)) return "unexpected source filter";
  }
  const rename = new Map(sources.map((s, j) => [s.chain.outs[0]!, `${j}:a`]));
  const mix = chains.filter((c) => !sources.some((s) => s.chain === c)).map((c) => ({ ...c, ins: c.ins.map((l) => rename.get(l) ?? l) }));
  if (mix.some((c) => c.outs.some((l) => rename.has(l))) || mix.flatMap((c) => c.ins).filter((l) => /^\d+:a$/.test(l)).length !== sources.length) {
    return "source outputs must each be read once by the rest of the graph";
  }

  const rateAt = enc.indexOf("-ar");
  const chAt = enc.indexOf("-ac");
  const rate = rateAt >= 0 ? enc[rateAt + 1]! : "48000";
  const channels = chAt >= 0 ? enc[chAt + 1]! : "2";
  const base = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"];
  const scripts = new Map<string, string>();
  const graphArgs = (text: string, name: string) => {
    if (text.length <= MAX_INLINE_GRAPH) return ["-filter_complex", text];
    const path = `${plan.output}.${name}.graph.txt`;
    scripts.set(path, text);
    return ["-filter_complex_script", path];
  };

  const decoders = sources.map((s, j) => {
    const input = inputs[s.input]!;
    const chain = `[0:a]${s.chain.body},asetnsamples=n=${PACKET_SAMPLES}:p=0[out]`;
    return [...base, ...input.options, "-i", input.path, ...graphArgs(chain, `dec${j}`), "-map", "[out]", "-c:a", "pcm_f32le", "-f", "nut", "pipe:1"];
  });
  const mixer = [
    ...base,
    ...sources.flatMap((_, j) => ["-f", "nut", "-i", `pipe:${3 + j}`]),
    ...graphArgs(mix.map(chainText).join(";"), "mix"),
    "-map", mapped, "-c:a", "pcm_f32le", "-ar", rate, "-ac", channels, "-f", "f32le", "pipe:1",
  ];
  const encoder = [...base, "-progress", "pipe:1", "-nostats", "-f", "f32le", "-ar", rate, "-ac", channels, "-i", "pipe:0", ...enc];
  return { decoders, mixer, encoder, scripts };
}

function stopAll(children: ChildProcess[]): void {
  for (const c of children) stopProcess(c);
}

/** Runs the pipeline; rejects with an EngineError naming the stage that failed. */
async function runPipeline(ffmpeg: string, spec: PipelineSpec, opts: RunOptions): Promise<void> {
  for (const [path, text] of spec.scripts) await writeFile(path, text);
  if (opts.signal.aborted) throw opts.signal.reason;
  const children: ChildProcess[] = [];
  const tails: LogTail[] = [];
  const start = (name: string, args: string[], stdio: ("pipe" | "ignore" | Readable | Writable)[]) => {
    const child = spawn(ffmpeg, args, { stdio });
    const tail = new LogTail(20);
    child.stderr?.setEncoding("utf8").on("data", (d: string) => tail.push(d));
    children.push(child);
    tails.push(tail);
    return Object.assign(child, { stageName: name });
  };
  // Started downstream first: each process gets the write end of its consumer's pipe, and the
  // data flows process to process (this process never touches the samples).
  const encoder = start("encoder", spec.encoder, ["pipe", "pipe", "pipe"]);
  const mixer = start("mixer", spec.mixer, ["ignore", encoder.stdin!, "pipe", ...spec.decoders.map(() => "pipe" as const)]);
  const decoders = spec.decoders.map((args, j) => start(`decoder ${j}`, args, ["ignore", mixer.stdio[3 + j] as Writable, "pipe"]));
  // Our copies of the pipe ends must go, or a consumer's death would block its producer forever.
  encoder.stdin!.destroy();
  for (let j = 0; j < spec.decoders.length; j++) (mixer.stdio[3 + j] as Writable).destroy();

  let pending = "";
  encoder.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const m = /^out_time_us=(\d+)/.exec(line);
      if (m) opts.onProgress(Number(m[1]) / 1e6);
    }
  });

  const kill = () => stopAll(children);
  opts.signal.addEventListener("abort", kill, { once: true });
  // The mixer stops reading once the output is complete (the graph trims to the span): decoders
  // still writing then die of a broken pipe, which is no failure.
  let mixed = false;
  try {
    const results = await Promise.all(
      children.map(
        (c, k) =>
          new Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; error?: Error; late: boolean }>((resolve) => {
            const name = (c as typeof encoder).stageName;
            c.once("error", (error) => resolve({ name, code: null, signal: null, error, late: false }));
            c.once("close", (code, signal) => {
              const late = mixed && k >= 2;
              if (c === mixer && code === 0) {
                mixed = true;
                stopAll(decoders);
              } else if (code !== 0 && !late) {
                // One stage down means the others can never finish: stop them now.
                kill();
              }
              resolve({ name, code, signal, late });
            });
          }),
      ),
    );
    if (opts.signal.aborted) throw opts.signal.reason;
    const bad = results.filter((r) => r.code !== 0 && !r.late);
    // The first stage to fail on its own is the cause; the others died of a broken pipe or our kill.
    const failed = bad.find((r) => r.signal === null) ?? bad[0];
    if (failed) {
      if (process.env.DEBUG_PARALLEL_AUDIO) results.forEach((r, k) => console.error(r.name, r.code, r.signal, tails[k]!.toString()));
      const log = tails[results.indexOf(failed)]!.toString();
      throw new EngineError(`${failed.name} failed (${failed.error?.message ?? failed.code ?? failed.signal}): ${log.split("\n").slice(-3).join(" | ")}`, log, failed.code === null);
    }
  } finally {
    opts.signal.removeEventListener("abort", kill);
  }
}

/**
 * Wraps the native engine so that long AUDIO plans run as the process pipeline above. Returns the
 * engine itself when the pipeline does not apply (video, wasm, a short output, a single core).
 */
export function withParallelAudio(engine: Engine, o: ParallelAudioOptions = {}): Engine {
  const cores = o.cores ?? availableParallelism();
  const env = process.env.RENDERER_PARALLEL_AUDIO_MIN_SECONDS;
  const minSeconds = o.minSeconds ?? (env !== undefined && env !== "" && Number.isFinite(Number(env)) ? Number(env) : PARALLEL_AUDIO_MIN_SECONDS);
  if (engine.name !== "native" || cores < 2) return engine;
  const ffmpeg = o.ffmpegPath ?? (process.env.FFMPEG_PATH || "ffmpeg");
  const info = o.onInfo ?? (() => {});
  return {
    name: engine.name,
    async run(plan: RenderPlan, opts: RunOptions): Promise<void> {
      if (plan.kind !== "audio" || plan.durationSeconds < minSeconds) return engine.run(plan, opts);
      const scriptAt = plan.args.indexOf("-filter_complex_script");
      const graph = scriptAt >= 0 ? await readFile(plan.args[scriptAt + 1]!, "utf8") : undefined;
      const spec = pipelineFor(plan, graph);
      if (typeof spec === "string") {
        info(`parallel audio: ${spec}; single command`);
        return engine.run(plan, opts);
      }
      let reported = 0;
      try {
        await runPipeline(ffmpeg, spec, {
          signal: opts.signal,
          onProgress: (t) => {
            reported = Math.max(reported, t);
            opts.onProgress(t);
          },
        });
        info(`parallel audio: ${spec.decoders.length} decoder(s) → mixer → encoder`);
      } catch (e) {
        if (opts.signal.aborted) throw opts.signal.reason;
        info(`parallel audio: ${(e as Error).message}; single command`);
        // The single command names the bad track the usual way. Progress continues from where it
        // was (the job's watchdog waits for it to advance).
        const d = plan.durationSeconds;
        return engine.run(plan, { signal: opts.signal, onProgress: (t) => opts.onProgress(reported + (t / d) * (d - reported)) });
      }
    },
  };
}
