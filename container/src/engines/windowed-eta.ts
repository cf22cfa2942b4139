// The time left of a windowed AUDIO render (parallel-audio.ts), for the job's ETA. Its position
// alone cannot tell: each window's encoder starts only once the mix has passed the window, the
// encoders then take cores from the mix, and the last window's encoder starts when the whole mix
// is done and runs alone. A rate extrapolated from the position runs ahead during the mix and the
// tail comes as a surprise (bench/vs-user.ts measured the ETA 50–65 % short on 4 × 10 min).
// So the estimate follows the pipeline's shape: the mix still to do, at the mixer's own speed
// shared with the encoders running meanwhile, then whichever window's encode ends last. Pure: the
// caller passes the clock.

/** A window of the output, in seconds: its encoder may start once the mix has reached `to`. */
export interface WindowSpan {
  from: number;
  to: number;
}

/**
 * How much of the cores one running encoder takes from the mix, and how fast an encoder runs beside
 * the mix against alone (both read off the speeds each render logs, `parallel audio: speeds …`, on
 * 2 cores: the mix of 2 tracks runs at 0.7× beside an encoder, of 4 at 1.0×; an encoder beside
 * the mix at 0.55–0.75× of the last one's, which runs alone).
 */
const ENCODER_SHARE = 0.5;
const LAME_BESIDE_MIX = 0.65;
/** An encoder's process start before it reports (its window file opened, LAME set up). */
const ENCODER_START_SECONDS = 0.15;
/** The span of recent mixer positions the mix speed is read over (shorter is noise). */
const SPEED_SPAN_SECONDS = 0.6;

interface Encoder {
  startedAt: number;
  /** Its position when first seen, so that the speed is its own after start-up. */
  first: number;
  encoded: number;
  at: number;
}

export class WindowedEta {
  private readonly mix: { at: number; seconds: number; encoders: number }[] = [];
  private readonly encoders = new Map<number, Encoder>();
  private mixDoneAt: number | undefined;
  /** The mix's progress by the encoders running meanwhile, for the log line that calibrates this. */
  private readonly mixBy: { seconds: number; time: number }[] = [];

  /**
   * @param lameRealtime the prior for one encoder's speed (seconds of output per second) until one
   * has been seen: libmp3lame's on one core of the machine bench/vs-user.ts ran on.
   * @param lameToMix when given, the prior is instead this times the mix's own speed alone: the
   * machine's speed moves from day to day (LAME ran at 130× one day and 150–245× another), and the
   * mix, seen from the first positions on, moves with it. A short call's encoders end before they
   * report, so the prior is all its ETA has.
   */
  constructor(
    private readonly windows: readonly WindowSpan[],
    private readonly cores: number,
    private readonly lameRealtime: number,
    private readonly lameToMix?: number,
  ) {}

  mixed(seconds: number, at: number): void {
    const prev = this.mix.at(-1);
    if (prev) {
      const b = (this.mixBy[prev.encoders] ??= { seconds: 0, time: 0 });
      b.seconds += seconds - prev.seconds;
      b.time += at - prev.at;
    }
    this.mix.push({ at, seconds, encoders: this.running() });
    while (this.mix.length > 2 && at - this.mix[1]!.at >= SPEED_SPAN_SECONDS) this.mix.shift();
  }

  mixDone(at: number): void {
    this.mixDoneAt ??= at;
  }

  /** Window `index`'s encoder has written `seconds` of it (its first call: it started; Infinity: it ended). */
  encoded(index: number, seconds: number, at: number): void {
    const w = this.windows[index]!;
    const now = Math.min(seconds, w.to - w.from);
    const e = this.encoders.get(index);
    if (e) Object.assign(e, { encoded: Math.max(e.encoded, now), at });
    else this.encoders.set(index, { startedAt: at, first: Number.isFinite(seconds) ? now : 0, encoded: now, at });
  }

  /** Seconds from `at` until the last encoder ends; undefined until the mixer has moved twice. */
  remaining(at: number): number | undefined {
    const lame = this.lameSpeed();
    const mixWhole = this.mixDoneAt === undefined ? this.mixTimeline() : () => 0;
    if (!mixWhole) return undefined;
    // Each window's encode ends what is left of it after its mix is whole.
    let end = mixWhole(Infinity);
    this.windows.forEach((w, k) => {
      const e = this.encoders.get(k);
      const startsIn = e ? 0 : mixWhole(w.to) + ENCODER_START_SECONDS;
      end = Math.max(end, startsIn + (w.to - w.from - (e?.encoded ?? 0)) / lame);
    });
    return Math.max(0, end - (at - this.lastSeenAt()));
  }

  /** The speeds seen, for the render's log: the mix's beside 0, 1, … encoders, then each encoder's. */
  speeds(): string {
    const x = (n: number) => `${Math.round(n)}×`;
    const mix = this.mixBy.map((b, n) => (b && b.time > 0 ? `${x(b.seconds / b.time)} beside ${n}` : "")).filter(Boolean);
    const enc = [...this.encoders.values()].map((e) => x((e.encoded - e.first) / Math.max(1e-3, e.at - e.startedAt)));
    return `mix ${mix.join(", ")}; encoders ${enc.join(", ")}`;
  }

  private lastSeenAt(): number {
    return Math.max(this.mix.at(-1)?.at ?? 0, ...[...this.encoders.values()].map((e) => e.at));
  }

  private running(): number {
    return this.windows.filter((w, k) => this.encoders.has(k) && !this.finished(k)).length;
  }

  private finished(k: number): boolean {
    const w = this.windows[k]!;
    return (this.encoders.get(k)?.encoded ?? 0) >= w.to - w.from;
  }

  /** The mixer's speed with no encoder running, from its recent speed and the encoders running then. */
  private mixAlone(): number | undefined {
    const first = this.mix[0];
    const last = this.mix.at(-1);
    if (!first || !last || last.at <= first.at || last.seconds <= first.seconds) return undefined;
    return (last.seconds - first.seconds) / (last.at - first.at) / this.share(last.encoders);
  }

  private share(encoders: number): number {
    return Math.max(0.2, 1 - (ENCODER_SHARE * Math.min(encoders, this.cores)) / this.cores);
  }

  /**
   * Seconds from the last mixer position until the mix reaches a point (Infinity: the end), its
   * speed dropping as each window's encoder joins in.
   */
  private mixTimeline(): ((to: number) => number) | undefined {
    const alone = this.mixAlone();
    if (alone === undefined) return undefined;
    const from = this.mix.at(-1)!.seconds;
    const total = this.windows.at(-1)!.to;
    const steps = [...new Set(this.windows.map((w) => w.to))].filter((t) => t > from).sort((a, b) => a - b);
    const reached: { to: number; time: number }[] = [{ to: from, time: 0 }];
    for (const to of steps) {
      const prev = reached.at(-1)!;
      const encoders = this.windows.filter((w, k) => w.to <= prev.to && !this.finished(k)).length;
      reached.push({ to, time: prev.time + (to - prev.to) / (alone * this.share(encoders)) });
    }
    return (to) => reached.find((r) => r.to >= Math.min(to, total))?.time ?? reached.at(-1)!.time;
  }

  /**
   * One encoder's speed alone: the fastest of those started after the mix (alone), else the
   * faster of the prior (from the mix's speed when it can be) and those a second or more beside
   * the mix, scaled up (without a mix-relative prior: those, else the fixed prior).
   */
  private lameSpeed(): number {
    let alone = 0;
    let beside = 0;
    for (const e of this.encoders.values()) {
      if (e.at - e.startedAt < 0.3) continue;
      const speed = (e.encoded - e.first) / (e.at - e.startedAt);
      if (this.mixDoneAt !== undefined && e.startedAt >= this.mixDoneAt) alone = Math.max(alone, speed);
      // Less than a second beside the mix is mostly the encoder's start-up.
      else if (e.at - e.startedAt >= 1) beside = Math.max(beside, speed / LAME_BESIDE_MIX);
    }
    if (alone) return alone;
    if (this.lameToMix === undefined) return beside || this.lameRealtime;
    // Beside a mix of many tracks an encoder gets less than LAME_BESIDE_MIX of a core (4 decoders
    // and the mixer: 55–60 s/s where it ran 190× alone), so its speed scaled up is a floor, not a
    // measure: the prior stands unless the encoder shows it faster.
    const mix = this.mixAlone();
    return Math.max(beside, mix === undefined ? this.lameRealtime : mix * this.lameToMix);
  }
}
