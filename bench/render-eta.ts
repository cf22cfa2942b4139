// How far the windowed AUDIO render's own estimate of its time left (engines/windowed-eta.ts) is
// from the time it then really took, at 15–75 % of its position: the render alone, no stack, so
// the estimate's constants can be re-fitted quickly (each render also logs the speeds they come
// from: `parallel audio: speeds …`). The job's ETA adds the delivery to it (progress.ts), and
// bench/vs-user.ts measures that end to end through the view. BENCH_REPEAT runs per case (2).
import { join } from "node:path";
import { createNativeEngine } from "../container/src/engines/native.ts";
import { withParallelAudio } from "../container/src/engines/parallel-audio.ts";
import { withRenderTaps } from "../container/src/planner/taps.ts";
import { FFMPEG, tempDir } from "../test/fixtures/media.ts";
import { audioSpecs, cachedCut, cachedTracks } from "./lib/media.ts";
import { localJob, localPlan } from "./lib/plans.ts";
import { Report, runIfMain } from "./lib/report.ts";

const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2));
const MARKS = [0.15, 0.25, 0.5, 0.75];

interface Sample {
  at: number;
  position: number;
  remaining?: number;
}

/** Per mark, (estimate − real remaining) / real remaining of the first estimate past it. */
function errorsAt(samples: readonly Sample[], end: number): (number | undefined)[] {
  return MARKS.map((mark) => {
    const s = samples.find((x) => x.position >= mark && x.remaining !== undefined);
    return s && end > s.at ? (s.remaining! - (end - s.at)) / (end - s.at) : undefined;
  });
}

export async function benchRenderEta(): Promise<Report[]> {
  const report = new Report("13 render ETA");
  const dir = await tempDir("bench-render-eta-");
  const a2 = await cachedTracks(audioSpecs(2, 1800));
  const cases: [string, string[], number][] = [
    ["AUDIO 2×2 min", await Promise.all(a2.map((f, i) => cachedCut(f, `eta-120-${i}`, 120))), 120],
    ["AUDIO 2×5 min", await Promise.all(a2.map((f, i) => cachedCut(f, `eta-300-${i}`, 300))), 300],
    ["AUDIO 4×10 min", await cachedTracks(audioSpecs(4, 600)), 600],
    ["AUDIO 2×30 min", a2, 1800],
  ];
  const engine = withParallelAudio(createNativeEngine(FFMPEG), { onInfo: (l) => l.includes("speeds") && console.log(`  ${l}`) });
  for (const [name, files, span] of cases) {
    const job = localJob({
      type: "AUDIO",
      spanSec: span,
      tracks: files.map((file) => ({ file, offsetSec: 0, audio: true, video: false })),
    });
    const { plan } = await localPlan(job, files, join(dir, "out.mp3"));
    const errors: (number | undefined)[][] = [];
    for (let run = 0; run < REPEAT; run++) {
      const samples: Sample[] = [];
      const t0 = performance.now();
      await engine.run(withRenderTaps(job, plan, false), {
        signal: new AbortController().signal,
        onProgress: (t, remaining) => samples.push({ at: (performance.now() - t0) / 1000, position: t / span, remaining }),
      });
      errors.push(errorsAt(samples, (performance.now() - t0) / 1000));
    }
    MARKS.forEach((mark, k) => {
      const seen = errors.map((e) => e[k]).filter((e): e is number => e !== undefined);
      const pct = (e: number) => `${e > 0 ? "+" : ""}${Math.round(e * 100)} %`;
      report.add({
        metric: `${name}: render's estimate at ${mark * 100} % of its position`,
        value: seen.length ? seen.map(pct).join(", ") : "not seen",
        goal: "within 20 %",
        met: seen.length > 0 && seen.every((e) => Math.abs(e) <= 0.2),
      });
    });
  }
  return [report];
}

runIfMain(import.meta.url, () => benchRenderEta());
