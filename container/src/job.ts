// One job's life: temp dir → download and probe → plan → render → upload → report, with heartbeats
// all along and cleanup in `finally` whatever happens (modelled on PeerTube's peertube-runner).
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { publishReviewAssets } from "./assets/review-assets.ts";
import { HEARTBEAT_SECONDS, type RenderJob, type RenderReport } from "./contract.ts";
import { chooseEngine, type AvailableEngines } from "./engines/choose.ts";
import { withParallelAudio } from "./engines/parallel-audio.ts";
import { EngineError, type Engine, type Prober } from "./engines/types.ts";
import { downloadTrack, JobError, LeaseLostError, sendReport, uploadOutput, type ReportResult } from "./http-io.ts";
import { planRender, type ProbeFacts, type RenderPlan } from "./planner/index.ts";
import { InvalidMediaError } from "./probe.ts";

export { JobError } from "./http-io.ts";

/** Why a job was stopped from outside; only "shutdown" is reported (so the Worker requeues it). */
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
  report?: (job: RenderJob, report: RenderReport, retries?: number) => Promise<ReportResult>;
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
/** Linux refuses single arguments above 128 KiB; bigger graphs go through a script file. */
const MAX_INLINE_GRAPH = 64 * 1024;
const DOWNLOAD_CONCURRENCY = 4;

/** Sends progress at least every heartbeatMs, sooner (≥1 s apart) when the percent moves by 5. */
class Heartbeat {
  private percent = 0;
  private eta: number | undefined;
  private lastSent = 0;
  private lastPercent = -1;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly job: RenderJob,
    private readonly send: NonNullable<JobContext["report"]>,
    private readonly everyMs: number,
    private readonly onLeaseLost: () => void,
  ) {}

  set(percent: number, eta?: number): void {
    this.percent = Math.max(this.percent, Math.min(99, Math.floor(percent)));
    this.eta = eta;
  }

  start(): void {
    this.tick(true);
    this.timer = setInterval(() => this.tick(false), Math.min(1000, this.everyMs / 2));
  }

  private tick(force: boolean): void {
    const now = Date.now();
    const due =
      force ||
      now - this.lastSent >= this.everyMs ||
      (this.percent >= this.lastPercent + 5 && now - this.lastSent >= 1000);
    if (!due || this.inflight || (!this.timer && !force)) return;
    this.lastSent = now;
    this.lastPercent = this.percent;
    const report: RenderReport = { event: "progress", attempt: this.job.attempt, progress: this.percent };
    if (this.eta !== undefined) report.etaSeconds = this.eta;
    this.inflight = this.send(this.job, report, 1).then((r) => {
      this.inflight = undefined;
      if (r === "lease-lost") this.onLeaseLost();
    });
  }

  /** Stops the timer and waits for an in-flight report, so a final report is never overtaken. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inflight;
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function externalizeGraph(plan: RenderPlan, dir: string): Promise<RenderPlan> {
  const at = plan.args.indexOf("-filter_complex");
  const graph = plan.args[at + 1];
  if (at < 0 || graph === undefined || graph.length <= MAX_INLINE_GRAPH) return plan;
  const script = join(dir, "graph.txt");
  await writeFile(script, graph);
  const args = [...plan.args];
  args.splice(at, 2, "-filter_complex_script", script);
  return { ...plan, args, inputs: [...plan.inputs, script] };
}

/** Which track an ffmpeg error is about, from a path or an `#input:stream` mention in its log. */
function blamedTrack(log: string, plan: RenderPlan | undefined): string | undefined {
  if (!plan) return undefined;
  const byPath = plan.inputs.findIndex((p, i) => i < plan.inputTracks.length && log.includes(p));
  if (byPath >= 0) return plan.inputTracks[byPath];
  const m = /(?:stream|[Ii]nput) #(\d+)/.exec(log);
  return m ? plan.inputTracks[Number(m[1])] : undefined;
}

function classify(e: unknown, plan: RenderPlan | undefined, dir: string | undefined): { error: string; retryable: boolean } {
  const clean = (s: string) => (dir ? s.split(`${dir}/`).join("").split(dir).join("") : s).slice(0, 2000);
  if (e instanceof JobError) return { error: clean(e.message), retryable: e.retryable };
  if (e instanceof EngineError) {
    const track = blamedTrack(e.log, plan);
    const msg = clean(e.message);
    return { error: track ? `track "${track}": invalid data (${msg})` : msg, retryable: e.retryable };
  }
  // Disk full, out of memory, a bug: nothing says the next attempt would fail the same way.
  return { error: clean(`renderer error: ${(e as Error)?.message ?? String(e)}`), retryable: true };
}

/**
 * Runs one job to its end. `onFinished` is called once the work is over and the temp dir is gone,
 * just before the final report: a slot must be free by the time the Worker hears the job ended,
 * or its next dispatch would be refused as busy.
 */
export async function runJob(
  job: RenderJob,
  signal: AbortSignal,
  ctx: JobContext,
  onFinished: () => void = () => {},
): Promise<JobOutcome> {
  const send = ctx.report ?? sendReport;
  const tag = `[job ${job.jobId}#${job.attempt}]`;
  const { outcome, final } = await execute(job, signal, ctx, send, tag);
  onFinished();
  if (final) {
    const r = await send(job, final);
    if (r !== "ok") ctx.log(`${tag} ${final.event} report not delivered (${r})`);
  }
  return outcome;
}

async function execute(
  job: RenderJob,
  signal: AbortSignal,
  ctx: JobContext,
  send: NonNullable<JobContext["report"]>,
  tag: string,
): Promise<{ outcome: JobOutcome; final?: RenderReport }> {
  const inner = new AbortController();
  const forward = () => inner.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener("abort", forward, { once: true });
  const heartbeat = new Heartbeat(job, send, ctx.heartbeatMs, () => inner.abort(new JobStop("lease-lost")));
  const s = inner.signal;
  let dir: string | undefined;
  let plan: RenderPlan | undefined;
  try {
    dir = await mkdtemp(join(ctx.tmpRoot, `render-${job.jobId.replace(/[^\w.-]/g, "_").slice(0, 40)}-`));
    heartbeat.start();

    const total = job.tracks.reduce((n, t) => n + t.size, 0) || 1;
    let got = 0;
    const inputs: Record<string, string> = {};
    const facts: Record<string, ProbeFacts> = {};
    // Each track is probed as soon as it is down, while the others are still downloading.
    const sizes = await mapLimit(job.tracks, DOWNLOAD_CONCURRENCY, async (t, i) => {
      const path = join(dir!, `track-${i}`);
      inputs[t.id] = path;
      const size = await downloadTrack(t, job.callback.token, path, s, (n) => heartbeat.set((10 * Math.min(total, (got += n))) / total));
      try {
        facts[t.id] = await ctx.engines.prober.probe(path, s);
      } catch (e) {
        if (e instanceof InvalidMediaError) throw new JobError(`track "${t.id}": invalid data (${e.message})`, false);
        throw e;
      }
      return size;
    });
    heartbeat.set(10);

    plan = await externalizeGraph(planRender(job, facts, { inputs, output: join(dir, job.format === "MP4" ? "output.mp4" : "output.mp3") }), dir);
    const inputBytes = sizes.reduce((a, b) => a + b, 0);
    const engine = withParallelAudio(chooseEngine(plan.kind, inputBytes, ctx.engines, ctx.wasmMaxBytes), { onInfo: (l) => ctx.log(`${tag} ${l}`) });
    ctx.log(`${tag} rendering ${plan.kind} ${plan.durationSeconds}s from ${plan.inputs.length} input(s), ${inputBytes} bytes, engine ${engine.name}`);

    const started = Date.now();
    let lastAdvance = Date.now();
    let position = 0;
    const watchdog = setInterval(() => {
      if (Date.now() - lastAdvance > ctx.watchdogMs) {
        inner.abort(new JobError(`render stalled: no progress for ${Math.round(ctx.watchdogMs / 1000)} s (killed)`, true));
      }
    }, Math.min(5000, ctx.watchdogMs / 4));
    try {
      await engine.run(plan, {
        signal: s,
        onProgress: (t) => {
          if (t <= position) return;
          position = t;
          lastAdvance = Date.now();
          const frac = Math.min(1, t / plan!.durationSeconds);
          const elapsed = (Date.now() - started) / 1000;
          heartbeat.set(10 + 85 * frac, frac > 0.02 ? Math.round((elapsed * (1 - frac)) / frac) : undefined);
        },
      });
    } finally {
      clearInterval(watchdog);
    }
    ctx.log(`${tag} rendered in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    heartbeat.set(95);

    let out: ProbeFacts;
    try {
      out = await ctx.engines.prober.probe(plan.output, s);
    } catch (e) {
      if (e instanceof InvalidMediaError) throw new JobError(`render produced no valid output (${e.message})`, true);
      throw e;
    }
    const outBytes = Math.max(1, (await stat(plan.output)).size);
    let sent = 0;
    // The review assets are made while the output uploads (CPU next to network); both land before the report.
    const review = { output: plan.output, type: job.type, durationSec: out.durationSec ?? plan.durationSeconds, width: job.width, height: job.height, dir };
    const [size] = await Promise.all([
      uploadOutput(job, plan.output, s, (n) => heartbeat.set(95 + (4 * (sent += n)) / outBytes)),
      publishReviewAssets(job, ctx.engines.native, review, s, (l) => ctx.log(`${tag} ${l}`)),
    ]);
    await heartbeat.stop();
    if (s.aborted) throw s.reason;
    const report: RenderReport = {
      event: "completed",
      attempt: job.attempt,
      durationMs: Math.round((out.durationSec ?? plan.durationSeconds) * 1000),
      size,
      engine: engine.name,
    };
    if (plan.warnings.length) report.warnings = plan.warnings;
    ctx.log(`${tag} completed: ${size} bytes, ${report.durationMs} ms`);
    return { outcome: { status: "completed", engine: engine.name }, final: report };
  } catch (caught) {
    const e = s.aborted ? s.reason : caught;
    // Siblings of a failed download or probe would otherwise keep running into a deleted dir.
    if (!s.aborted) inner.abort(new Error("job ended"));
    await heartbeat.stop();
    if (e instanceof JobStop || caught instanceof LeaseLostError) {
      const kind = e instanceof JobStop ? e.kind : "lease-lost";
      ctx.log(`${tag} stopped (${kind})`);
      const outcome: JobOutcome = { status: "stopped", stop: kind };
      if (kind !== "shutdown") return { outcome };
      return { outcome, final: { event: "failed", attempt: job.attempt, error: "renderer shutting down", retryable: true } };
    }
    const { error, retryable } = classify(e, plan, dir);
    ctx.log(`${tag} failed (${retryable ? "retryable" : "final"}): ${error}`);
    return { outcome: { status: "failed", error, retryable }, final: { event: "failed", attempt: job.attempt, error, retryable } };
  } finally {
    signal.removeEventListener("abort", forward);
    await heartbeat.stop();
    if (dir) await rm(dir, { recursive: true, force: true }).catch((e) => ctx.log(`${tag} cleanup failed: ${e}`));
  }
}
