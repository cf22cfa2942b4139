// The process pipeline of a long AUDIO render, worked out from the plan's single command (pure, so
// unit-testable): which chain runs in which decoder, what the mixer runs, and the encoder(s).
// parallel-audio.ts explains the shape and runs it.
import type { RenderPlan } from "../planner/types.ts";
import type { ChunkLayout, WindowFiles } from "./chunked-mp3.ts";

const MAX_INLINE_GRAPH = 64 * 1024;
/** Samples per packet between processes: one second keeps the mixer's thread hand-offs rare. */
const PACKET_SAMPLES = 48_000;

interface InputSpec {
  options: string[];
  path: string;
}

export interface PipelineSpec {
  decoders: string[][];
  mixer: string[];
  encoder: string[];
  /**
   * When the mix is cut in time (more than one window): the mixer writes each window to its own
   * file and `encoder` is unused; each window's encoder reads that file into its part.
   */
  windows: WindowFiles[];
  rate: number;
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
export function pipelineFor(plan: RenderPlan, graphText?: string, layout?: ChunkLayout): PipelineSpec | string {
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
  const toFloat = ["-c:a", "pcm_f32le", "-ar", rate, "-ac", channels];
  const mixGraph = mix.map(chainText).join(";");
  const mixInputs = sources.flatMap((_, j) => ["-f", "nut", "-i", `pipe:${3 + j}`]);
  const encoder = [...base, "-progress", "pipe:1", "-nostats", "-f", "f32le", "-ar", rate, "-ac", channels, "-i", "pipe:0", ...enc];
  const cut = layout && layout.windows.length > 1 ? layout.windows : undefined;
  if (!cut) {
    const mixer = [...base, ...mixInputs, ...graphArgs(mixGraph, "mix"), "-map", mapped, ...toFloat, "-f", "f32le", "pipe:1"];
    return { decoders, mixer, encoder, windows: [], rate: Number(rate), scripts };
  }
  // Every window is an output of the mixer, trimmed by sample count (the graph ends in
  // asetpts=N/SR/TB, so timestamps count samples); flush_packets makes a window's file whole as
  // soon as its last samples are mixed, while the mixer goes on with the next ones.
  const bytesPerSample = 4 * Number(channels);
  const labels = cut.map((_, k) => `w${k}`);
  const split = [
    `${mapped}asplit=${cut.length}${labels.map((l) => `[${l}]`).join("")}`,
    ...cut.map((w, k) => `[${labels[k]}]atrim=start_sample=${w.start}${Number.isFinite(w.end) ? `:end_sample=${w.end}` : ""}[o${k}]`),
  ];
  const windows = cut.map((w, k) => ({
    raw: `${plan.output}.window${k}.f32`,
    part: `${plan.output}.part${k}.mp3`,
    bytes: Number.isFinite(w.end) ? (w.end - w.start) * bytesPerSample : undefined,
  }));
  // Its -progress is the job's heartbeat until the first window is whole (half the mix, or more).
  const mixer = [
    ...base, "-progress", "pipe:1", "-nostats", ...mixInputs, ...graphArgs(`${mixGraph};${split.join(";")}`, "mix"),
    ...windows.flatMap((w, k) => ["-map", `[o${k}]`, ...toFloat, "-flush_packets", "1", "-f", "f32le", w.raw]),
  ];
  // A window is cut by the samples it is given: no -t, and the part's own path for the output.
  const t = enc.indexOf("-t");
  const encodeArgs = (t >= 0 ? [...enc.slice(0, t), ...enc.slice(t + 2)] : enc).slice(0, -1);
  return {
    decoders,
    mixer,
    encoder,
    windows: windows.map((w) => ({
      ...w,
      encoder: [...base, "-progress", "pipe:1", "-nostats", "-f", "f32le", "-ar", rate, "-ac", channels, "-i", w.raw, ...encodeArgs, w.part],
    })),
    rate: Number(rate),
    scripts,
  };
}
