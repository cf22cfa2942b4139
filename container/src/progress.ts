// How a job's progress is told: the share of 0..100 % each phase gets (one table), and the
// heartbeat that sends it (progress reports are the lease heartbeat).
import { ETA_MIN_GAP_MS, etaStrayed, type RenderJob, type RenderReport } from "../../contract/renderer.ts";
import type { ReportResult } from "./http-io.ts";

/**
 * The share of 0..100 % each phase of a job reports, in order. 100 % is said by the completed
 * report alone: progress reports stop at the end of the last share.
 */
export const PROGRESS_BUDGET = {
  /** Downloading the tracks (each probed as soon as it is down), by bytes. */
  download: { from: 0, to: 10 },
  /** The render, by its work done (`plan.work`: a grid's cameras), else by the output position against the plan's length. */
  render: { from: 10, to: 95 },
  /** Probing the output, then uploading it, by bytes. */
  upload: { from: 95, to: 99 },
} as const;

export type Phase = keyof typeof PROGRESS_BUDGET;

const CEILING = PROGRESS_BUDGET.upload.to;

/** The percent at `fraction` (0..1) of a phase. */
export function percentOf(phase: Phase, fraction: number): number {
  const { from, to } = PROGRESS_BUDGET[phase];
  return from + (to - from) * fraction;
}

/**
 * Seconds a job needs after its render: the output probed and uploaded beside its review assets
 * (the waveform's peaks read from the mix the render wrote, a VIDEO's thumbnails tiled from frames
 * it took). Fitted to the renderer's `deliver …` on 2 cores (bench/vs-user.ts, 2026-12-08): AUDIO
 * 0.24–0.30 s at 2 min, 0.50–0.61 s at 10 min, 0.88–1.08 s at 30 min; VIDEO by its pixels (upload
 * and tiles grow with them): a 75 s 720p grid 0.5–0.7 s, a 180 s 640x480 one 0.5 s. The fit
 * before, on a busier day (AUDIO 0.35 s at 2 min, 1.35 s at 30; VIDEO 1.0–1.3 s), left every ETA
 * a few tenths long to the end.
 */
export function deliverSeconds(kind: "audio" | "video" | "track", outputSeconds: number, pixels = 0): number {
  const perSecond = kind === "video" ? pixels * DELIVER.videoPerPixel : DELIVER.audio;
  return DELIVER.fixed + outputSeconds * perSecond;
}
const DELIVER = { fixed: 0.2, audio: 0.45 / 1000, videoPerPixel: 6e-9 };

export type ReportSender = (job: RenderJob, report: RenderReport, retries?: number) => Promise<ReportResult>;

/**
 * Sends progress at least every `everyMs`, sooner when the percent moves by 5 (≥1 s apart) or the
 * ETA moves (≥0.5 s apart).
 */
export class Heartbeat {
  private percent = 0;
  /** When the job is expected to end (ms since the epoch); counted down between estimates. */
  private etaEnd: number | undefined;
  private sentEtaEnd: number | undefined;
  private lastSent = 0;
  private lastPercent = -1;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly job: RenderJob,
    private readonly send: ReportSender,
    private readonly everyMs: number,
    private readonly onLeaseLost: () => void,
  ) {}

  /** Progress only moves forward, and stays below 100 until the job has completed; an ETA holds until the next. */
  set(percent: number, etaSeconds?: number): void {
    this.percent = Math.max(this.percent, Math.min(CEILING, Math.floor(percent)));
    if (etaSeconds !== undefined) this.etaEnd = Date.now() + etaSeconds * 1000;
  }

  start(): void {
    this.tick(true);
    this.timer = setInterval(() => this.tick(false), Math.min(250, this.everyMs / 2));
  }

  /** The estimate moved from the one sent (counted down) as far as the Worker rewrites the view's for. */
  private etaMoved(now: number): boolean {
    if (this.etaEnd === undefined || now - this.lastSent < ETA_MIN_GAP_MS) return false;
    if (this.sentEtaEnd === undefined) return true;
    return etaStrayed((this.sentEtaEnd - now) / 1000, (this.etaEnd - now) / 1000);
  }

  private tick(force: boolean): void {
    const now = Date.now();
    const since = now - this.lastSent;
    const due = force || since >= this.everyMs || (this.percent >= this.lastPercent + 5 && since >= 1000) || this.etaMoved(now);
    if (!due || this.inflight || (!this.timer && !force)) return;
    this.lastSent = now;
    this.lastPercent = this.percent;
    this.sentEtaEnd = this.etaEnd;
    const report: RenderReport = { event: "progress", attempt: this.job.attempt, progress: this.percent };
    if (this.etaEnd !== undefined) report.etaSeconds = Math.max(0, Math.round((this.etaEnd - now) / 100) / 10);
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

/** Ends a phase of a job each call; its text lists them ("fetch 0.31 s, render 1.90 s"). */
export type PhaseClock = ((name: string) => void) & { toString(): string };

/** A phase clock: each call ends a phase; toString lists them ("fetch 0.31 s, render 1.90 s"). */
export function phases(): PhaseClock {
  const done: string[] = [];
  let last = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    done.push(`${name} ${((now - last) / 1000).toFixed(2)} s`);
    last = now;
  };
  phase.toString = () => done.join(", ");
  return phase;
}
