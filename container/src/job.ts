// One job's life: temp dir → download and probe → plan → render → upload → report, with heartbeats
// all along and cleanup in `finally` whatever happens (modelled on PeerTube's peertube-runner).
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HEARTBEAT_SECONDS, type RenderJob, type RenderReport } from "../../contract/renderer.ts";
import { FORMATS } from "../../contract/formats.ts";
import { publishReviewAssets } from "./assets/review-assets.ts";
import { chooseEngine, type AvailableEngines } from "./engines/choose.ts";
import { withParallelAudio } from "./engines/parallel-audio.ts";
import type { Engine, Prober } from "./engines/types.ts";
import { downloadTrack, JobError, LeaseLostError, sendReport, uploadOutput } from "./http-io.ts";
import { commandArgs, graphText, MAX_INLINE_GRAPH } from "./planner/graph.ts";
import type { Span } from "./assets/speakers.ts";
import { planHighlighted, type Planned } from "./highlight.ts";
import { fetchParts } from "./join.ts";
import { DOWNLOAD_CONCURRENCY, mapLimit } from "./map-limit.ts";
import { outputMsOf, type PlanFiles, type ProbeFacts, type RenderPlan } from "./planner/index.ts";
import { planJoin, planPart } from "./planner/part.ts";
import { withRenderTaps } from "./planner/taps.ts";
import { workFraction } from "./planner/work.ts";
import { planTrackRewrite } from "./planner/track.ts";
import { InvalidMediaError } from "./probe.ts";
import { classify } from "./job-errors.ts";
import { deliverSeconds, Heartbeat, percentOf, phases, type PhaseClock, type ReportSender } from "./progress.ts";

export { JobError } from "./http-io.ts";

/** Why a job was stopped from outside; only "shutdown" is reported (handed back: the Worker requeues it). */
export type StopKind = "cancel" | "shutdown" | "superseded" | "lease-lost";

export class JobStop extends Error {
  constructor(readonly kind: StopKind) {
    super(`job stopped: ${kind}`);
    this.name = "JobStop";
  }
}

export interface JobContext {
  engines: AvailableEngines & { prober: Prober };
  tmpRoot: string;
  wasmMaxBytes: number;
  /** Kill ffmpeg when its output position has not advanced for this long. */
  watchdogMs: number;
  /** Longest gap between progress reports (they are the lease heartbeat). */
  heartbeatMs: number;
  log(line: string): void;
  report?: ReportSender;
}

export interface JobOutcome {
  status: "completed" | "failed" | "stopped";
  engine?: Engine["name"];
  error?: string;
  retryable?: boolean;
  stop?: StopKind;
}

export const DEFAULT_WATCHDOG_MS = 60_000;
/** Below HEARTBEAT_SECONDS: the 1 s tick and a slow POST must still land inside the promised gap. */
export const DEFAULT_HEARTBEAT_MS = HEARTBEAT_SECONDS * 700;

/** A graph too long for one argument is handed to ffmpeg as a script file (an input, for wasm's FS). */
async function externalizeGraph(plan: RenderPlan, dir: string): Promise<RenderPlan> {
  const graph = graphText(plan.graph);
  if (graph.length <= MAX_INLINE_GRAPH) return plan;
  const script = join(dir, "graph.txt");
  await writeFile(script, graph);
  return { ...plan, args: commandArgs(plan.graph, plan.output, script), inputs: [...plan.inputs, script] };
}

/**
 * Runs one job to its end. `onFinished` is called once the work is over and the temp dir is gone,
 * just before the final report: a slot must be free by the time the Worker hears the job ended,
 * or its next dispatch would be refused as busy.
 */
export async function runJob(job: RenderJob, signal: AbortSignal, ctx: JobContext, onFinished: () => void = () => {}): Promise<JobOutcome> {
  const send: ReportSender = ctx.report ?? sendReport;
  const tag = `[job ${job.jobId}#${job.attempt}]`;
  const { outcome, final } = await execute(job, signal, ctx, send, tag);
  onFinished();
  if (final) {
    const r = await send(job, final);
    if (r !== "ok") ctx.log(`${tag} ${final.event} report not delivered (${r})`);
  }
  return outcome;
}

/** One run of a job, as its steps see it. */
interface Run {
  job: RenderJob;
  ctx: JobContext;
  tag: string;
  /** Aborted by the caller's signal, a lost lease, the watchdog, or the job's own end. */
  signal: AbortSignal;
  abort(reason: unknown): void;
  heartbeat: Heartbeat;
  /** Ends a phase of the job: its name and seconds, for the completed log line. */
  phase: PhaseClock;
  /** Talk spans measured before the render (a highlighted grid), for the sidecars to reuse. */
  talk?: Map<string, Span[]>;
}

type Ended = { outcome: JobOutcome; final?: RenderReport };

async function execute(job: RenderJob, signal: AbortSignal, ctx: JobContext, send: ReportSender, tag: string): Promise<Ended> {
  const inner = new AbortController();
  const forward = () => inner.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener("abort", forward, { once: true });
  const heartbeat = new Heartbeat(job, send, ctx.heartbeatMs, () => inner.abort(new JobStop("lease-lost")));
  const run: Run = { job, ctx, tag, signal: inner.signal, abort: (reason) => inner.abort(reason), heartbeat, phase: phases() };
  let dir: string | undefined;
  let plan: RenderPlan | undefined;
  try {
    dir = await mkdtemp(join(ctx.tmpRoot, `render-${job.jobId.replace(/[^\w.-]/g, "_").slice(0, 40)}-`));
    heartbeat.start();
    const { inputs, facts, inputBytes } = await fetchTracks(run, dir);
    run.phase("fetch");
    const files = { inputs, output: join(dir, `output.${FORMATS[job.format].extension}`) };
    const planned = await planOf(run, facts, files, dir);
    run.talk = planned.talk;
    const engine = withParallelAudio(chooseEngine(planned.plan.kind, inputBytes, ctx.engines, ctx.wasmMaxBytes), {
      onInfo: (l) => ctx.log(`${tag} ${l}`),
    });
    const tapped = engine.name === "native" ? withRenderTaps(job, planned.plan, run.talk !== undefined) : planned.plan;
    plan = job.type === "TRACK" ? tapped : await externalizeGraph(tapped, dir);
    ctx.log(
      `${tag} rendering ${plan.kind} ${plan.durationSeconds}s from ${plan.inputs.length} input(s), ${inputBytes} bytes, engine ${engine.name}`,
    );
    for (const f of plan.textFiles ?? []) await writeFile(f.path, f.text);
    run.phase("plan");
    await render(run, engine, plan);
    run.phase("render");
    return await deliver(run, plan, engine, dir);
  } catch (caught) {
    return await failed(run, caught, plan, dir);
  } finally {
    signal.removeEventListener("abort", forward);
    await heartbeat.stop();
    if (dir) await rm(dir, { recursive: true, force: true }).catch((e) => ctx.log(`${tag} cleanup failed: ${e}`));
  }
}

/** The job's plan: a track rewrite, a join of parts, or a composition (or one part of it) with its highlight. */
async function planOf(run: Run, facts: Record<string, ProbeFacts>, files: PlanFiles, dir: string): Promise<Planned> {
  const { job, ctx, tag } = run;
  if (job.type === "TRACK") return { plan: planTrackRewrite(job, facts, files) };
  if (job.part?.kind === "JOIN") {
    const parts = await fetchParts(job, dir, ctx.engines.prober, run.signal, () => run.heartbeat.set(percentOf("download", 0.5)));
    return { plan: planJoin(outputMsOf(job), parts, files.output) };
  }
  const planned = await planHighlighted(job, facts, files, ctx.engines.native, run.signal, (l) => ctx.log(`${tag} ${l}`));
  return { ...planned, plan: planPart(planned.plan, job.part) };
}

/** Downloads every track into `dir`, probing each as soon as it is down while the others still download. */
async function fetchTracks(
  run: Run,
  dir: string,
): Promise<{ inputs: Record<string, string>; facts: Record<string, ProbeFacts>; inputBytes: number }> {
  const { job, ctx, signal, heartbeat } = run;
  const total = job.tracks.reduce((n, t) => n + t.size, 0) || 1;
  let got = 0;
  const inputs: Record<string, string> = {};
  const facts: Record<string, ProbeFacts> = {};
  const sizes = await mapLimit(job.tracks, DOWNLOAD_CONCURRENCY, async (t, i) => {
    const path = join(dir, `track-${i}`);
    inputs[t.id] = path;
    const size = await downloadTrack(t, job.callback.token, path, signal, (n) =>
      heartbeat.set(percentOf("download", Math.min(total, (got += n)) / total)),
    );
    facts[t.id] = await probeOrBlame(ctx.engines.prober, path, signal, (m) => new JobError(`track "${t.id}": invalid data (${m})`, false));
    return size;
  });
  heartbeat.set(percentOf("download", 1));
  return { inputs, facts, inputBytes: sizes.reduce((a, b) => a + b, 0) };
}

/** Probes a file; unreadable media becomes the JobError `blame` makes of ffprobe's reason. */
async function probeOrBlame(prober: Prober, file: string, signal: AbortSignal, blame: (reason: string) => JobError): Promise<ProbeFacts> {
  try {
    return await prober.probe(file, signal);
  } catch (e) {
    if (e instanceof InvalidMediaError) throw blame(e.message);
    throw e;
  }
}

/** Runs the engine under the watchdog: a render whose output position stops advancing is killed. */
async function render(run: Run, engine: Engine, plan: RenderPlan): Promise<void> {
  const { ctx, heartbeat } = run;
  const started = Date.now();
  // The ETA is the job's end, not the render's.
  const tail = deliverSeconds(plan.kind, plan.durationSeconds, run.job.width * run.job.height);
  let lastAdvance = Date.now();
  let position = 0;
  let first: { at: number; frac: number } | undefined;
  const watchdog = setInterval(
    () => {
      if (Date.now() - lastAdvance > ctx.watchdogMs) {
        run.abort(new JobError(`render stalled: no progress for ${Math.round(ctx.watchdogMs / 1000)} s (killed)`, true));
      }
    },
    Math.min(5000, ctx.watchdogMs / 4),
  );
  try {
    await engine.run(plan, {
      signal: run.signal,
      onProgress: (t, remaining) => {
        if (t <= position) return;
        position = t;
        lastAdvance = Date.now();
        const frac = workFraction(plan.work, t, plan.durationSeconds);
        first ??= { at: lastAdvance, frac };
        const left = remaining ?? renderLeft(first, frac);
        heartbeat.set(percentOf("render", frac), left === undefined ? undefined : left + tail);
      },
    });
  } finally {
    clearInterval(watchdog);
  }
  ctx.log(`${run.tag} rendered in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  heartbeat.set(percentOf("render", 1), tail);
}

/**
 * The render's time left at its rate since its first progress: ffmpeg's start-up (opening the
 * inputs, the encoder's set-up) comes before any, and counted in it would make a short job's ETA long.
 * None until 2 % more of it is done.
 */
function renderLeft(first: { at: number; frac: number }, frac: number): number | undefined {
  const done = frac - first.frac;
  return done > 0.02 ? ((Date.now() - first.at) / 1000) * ((1 - frac) / done) : undefined;
}

/** Checks the output is media, uploads it and makes the completed report. */
async function deliver(run: Run, plan: RenderPlan, engine: Engine, dir: string): Promise<Ended> {
  const { job, ctx, signal, heartbeat } = run;
  const out = await probeOrBlame(
    ctx.engines.prober,
    plan.output,
    signal,
    (m) => new JobError(`render produced no valid output (${m})`, true),
  );
  const outBytes = Math.max(1, (await stat(plan.output)).size);
  let sent = 0;
  // The review assets are made while the output uploads (CPU next to network); both land before the report.
  const review = {
    output: plan.output,
    type: job.type,
    durationSec: out.durationSec ?? plan.durationSeconds,
    width: job.width,
    height: job.height,
    channels: plan.graph.output.audio?.channels ?? 2,
    dir,
    // A split composition's assets: of the mix from its AUDIO part, the thumbnails from its JOIN.
    ...(job.part?.kind === "AUDIO" ? { only: ["waveform", "speakers"] as const } : {}),
    ...(job.part?.kind === "JOIN" ? { only: ["thumbnails"] as const } : {}),
    ...(plan.speakers ? { speakers: plan.speakers } : {}),
    ...(run.talk ? { talk: run.talk } : {}),
    ...(plan.graph.sprite ? { sprite: plan.graph.sprite } : {}),
    ...(plan.graph.mixTap ? { mixSamples: plan.graph.mixTap } : {}),
  };
  const took: string[] = [];
  const timed = async <T>(name: string, p: Promise<T>) => {
    const t0 = Date.now();
    const v = await p;
    took.push(`${name} ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    return v;
  };
  const [size, metrics] = await Promise.all([
    timed(
      "upload",
      uploadOutput(job, plan.output, signal, (n) => heartbeat.set(percentOf("upload", (sent += n) / outBytes))),
    ),
    job.type === "TRACK" || job.part?.kind === "VIDEO"
      ? undefined
      : timed(
          "assets",
          publishReviewAssets(job, ctx.engines.native, review, signal, (l) => ctx.log(`${run.tag} ${l}`)),
        ),
  ]);
  await heartbeat.stop();
  if (signal.aborted) throw signal.reason;
  const report: RenderReport = {
    event: "completed",
    attempt: job.attempt,
    durationMs: Math.round((out.durationSec ?? plan.durationSeconds) * 1000),
    size,
    engine: engine.name,
    ...(metrics ? { metrics } : {}),
  };
  if (plan.warnings.length) report.warnings = plan.warnings;
  run.phase(`deliver (${took.join(" ∥ ")})`);
  ctx.log(`${run.tag} completed: ${size} bytes, ${report.durationMs} ms (${run.phase.toString()})`);
  return { outcome: { status: "completed", engine: engine.name }, final: report };
}

/** How a job that did not complete ends: stopped from outside (reported only on shutdown), or failed. */
async function failed(run: Run, caught: unknown, plan: RenderPlan | undefined, dir: string | undefined): Promise<Ended> {
  const { job, ctx, tag, signal } = run;
  const e = signal.aborted ? signal.reason : caught;
  // Siblings of a failed download or probe would otherwise keep running into a deleted dir.
  if (!signal.aborted) run.abort(new Error("job ended"));
  await run.heartbeat.stop();
  if (e instanceof JobStop || caught instanceof LeaseLostError) {
    const kind = e instanceof JobStop ? e.kind : "lease-lost";
    ctx.log(`${tag} stopped (${kind})`);
    const outcome: JobOutcome = { status: "stopped", stop: kind };
    if (kind !== "shutdown") return { outcome };
    return {
      outcome,
      final: { event: "failed", attempt: job.attempt, error: "renderer shutting down", retryable: true, handedBack: true },
    };
  }
  const { error, retryable } = classify(e, plan, dir);
  ctx.log(`${tag} failed (${retryable ? "retryable" : "final"}): ${error}`);
  return { outcome: { status: "failed", error, retryable }, final: { event: "failed", attempt: job.attempt, error, retryable } };
}
