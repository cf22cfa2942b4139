// 13. End to end against the command a user would write (bench/lib/user-commands.ts), through the
// running stack: request → COMPLETED (the view's `created` → `completed`, server clock), BENCH_RUNS
// runs per case (default 5) for p50/p95, each baseline run twice and the faster kept; the
// renderer's own single command for the same output beside it. The view is polled meanwhile, and
// the ETA it showed at 25/50/75 % is compared with the time the job then really took.
//   goals: AUDIO ≥ 1.5× the user's command from 2 min on; VIDEO ≥ 1.0×; ETA within 20 %.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SUPERVISOR } from "../test/e2e/harness.ts";
import { tempDir } from "../test/fixtures/media.ts";
import { audioSpecs, cachedCameras, cachedCut, cachedTracks } from "./lib/media.ts";
import { localJob, localPlan, runFfmpeg } from "./lib/plans.ts";
import { fmt, Report, runIfMain } from "./lib/report.ts";
import { benchStack, ingestCall, requestComposition, type BenchStack, type Requested } from "./lib/stack.ts";
import { userAudioArgs, userVideoArgs } from "./lib/user-commands.ts";

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const POLL_MS = 500;
const MARKS = [25, 50, 75] as const;

interface Case {
  name: string;
  type: "AUDIO" | "VIDEO";
  resolution: "640x480" | "1280x720";
  files: string[];
  offsets: number[];
  spanSec: number;
  goal: number;
}

interface Sample {
  at: number;
  progress: number;
  etaSec: number | null;
}

interface StackRun {
  seconds: number;
  /** Per mark: (shown ETA − real remaining) / real remaining, when the view was seen past it. */
  etaError: Partial<Record<(typeof MARKS)[number], number>>;
}

/** "PT1M2.5S" → 62.5. */
function isoSeconds(iso: string | null | undefined): number | null {
  const m = iso ? /^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(iso) : null;
  return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : null;
}

/** Polls the view until the composition ends; its samples and the final view. */
async function watch(s: BenchStack, conversationId: string, id: string): Promise<{ samples: Sample[]; view: any }> {
  const samples: Sample[] = [];
  const deadline = Date.now() + 15 * 60_000;
  while (Date.now() < deadline) {
    const t0 = Date.now();
    const res = await s.api("GET", `/query/conversation/${conversationId}`, { as: SUPERVISOR });
    const view = res.json?.compositions?.find((c: { id: string }) => c.id === id);
    if (view && ["COMPLETED", "FAILED", "CANCELLED"].includes(view.state)) return { samples, view };
    if (view?.state === "PROCESSING")
      samples.push({ at: (t0 + Date.now()) / 2, progress: view.progress ?? 0, etaSec: isoSeconds(view.eta) });
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`composition ${id} did not end`);
}

async function stackRun(s: BenchStack, c: Case, conversationId: string): Promise<StackRun> {
  const r: Requested = await requestComposition(s, { conversationId, type: c.type, resolution: c.resolution });
  const { samples, view } = await watch(s, conversationId, r.id);
  if (view.state !== "COMPLETED") throw new Error(`${c.name}: ${view.state} ${view.error}\n${s.logs().slice(-3000)}`);
  const completed = Date.parse(view.completed);
  const etaError: StackRun["etaError"] = {};
  for (const mark of MARKS) {
    const seen = samples.find((x) => x.progress >= mark && x.etaSec !== null);
    const real = seen ? (completed - seen.at) / 1000 : 0;
    if (seen && real > 0) etaError[mark] = (seen.etaSec! - real) / real;
  }
  // BENCH_SAMPLES=1: what the view showed, to see where an ETA strayed (seconds before COMPLETED).
  if (process.env.BENCH_SAMPLES)
    console.log(
      samples.map((x) => `    ${((completed - x.at) / 1000).toFixed(1)} s left: ${x.progress} %, ETA ${x.etaSec ?? "-"}`).join("\n"),
    );
  return { seconds: (completed - r.sentWall) / 1000, etaError };
}

/** Nearest-rank percentile. */
function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function runCase(s: BenchStack, c: Case, dir: string, table: Report, eta: Report): Promise<void> {
  const conversationId = `vs-user-${c.name.replace(/[^A-Za-z0-9]+/g, "-")}`;
  const [width, height] = c.resolution.split("x").map(Number) as [number, number];
  await ingestCall(s, conversationId, c.type, c.spanSec, c.files, c.offsets);
  const ext = c.type === "AUDIO" ? "mp3" : "mp4";
  const user = c.files.map((file, i) => ({ file, offsetSec: c.offsets[i]! }));
  const userArgs =
    c.type === "AUDIO"
      ? userAudioArgs(user, join(dir, `user.${ext}`))
      : userVideoArgs(user, c.spanSec, width, height, join(dir, `user.${ext}`));
  const job = localJob({
    type: c.type,
    spanSec: c.spanSec,
    width,
    height,
    tracks: user.map((u) => ({ ...u, audio: true, video: c.type === "VIDEO" })),
  });
  const own = (await localPlan(job, c.files, join(dir, `own.${ext}`))).plan;

  const userTimes: number[] = [];
  const ownTimes: number[] = [];
  const runs: StackRun[] = [];
  for (let round = 0; round < RUNS; round++) {
    // Baselines twice each, interleaved with the stack's runs so a burst of load hits both.
    if (round < 2) userTimes.push((await runFfmpeg(userArgs)).wall);
    if (round < 2) ownTimes.push((await runFfmpeg(own.args)).wall);
    runs.push(await stackRun(s, c, conversationId));
    console.log(`  ${c.name} round ${round + 1}: stack ${fmt.s(runs.at(-1)!.seconds)}`);
  }
  const userBest = Math.min(...userTimes);
  const ownBest = Math.min(...ownTimes);
  const times = runs.map((r) => r.seconds);
  const p50 = percentile(times, 50);
  const p95 = percentile(times, 95);
  table.add({
    metric: `${c.name}: request → COMPLETED, p50 / p95 of ${runs.length}`,
    value: `${fmt.s(p50)} / ${fmt.s(p95)}`,
    baseline: `${fmt.s(userBest)} user's command; ${fmt.s(ownBest)} renderer's own command`,
    ratio: `${fmt.x(userBest / p50)} vs user's (best run ${fmt.x(userBest / Math.min(...times))}); ${fmt.x(ownBest / p50)} vs own`,
    goal: `≥ ${c.goal}× the user's command (p50)`,
    met: userBest / p50 >= c.goal,
  });
  for (const mark of MARKS) {
    const errs = runs.map((r) => r.etaError[mark]).filter((e): e is number => e !== undefined);
    if (!errs.length) {
      eta.note(`${c.name}: the view was never seen PROCESSING past ${mark} % with an ETA (polled every ${POLL_MS} ms)`);
      continue;
    }
    const worst = errs.reduce((m, e) => (Math.abs(e) > Math.abs(m) ? e : m));
    const median = percentile(errs.map(Math.abs), 50);
    eta.add({
      metric: `${c.name}: ETA error at ${mark} %`,
      value: `median |error| ${(median * 100).toFixed(0)} %, worst ${(worst * 100).toFixed(0)} % (${errs.length} of ${runs.length} runs seen)`,
      goal: "within 20 %",
      met: median <= 0.2,
    });
  }
}

async function cases(): Promise<Case[]> {
  const a2 = await cachedTracks(audioSpecs(2, 1800));
  const a4 = await cachedTracks(audioSpecs(4, 600));
  const cut = (files: string[], sec: number) => Promise.all(files.map((f, i) => cachedCut(f, `audio-cut-${sec}s-p${i}`, sec)));
  const audio = (name: string, files: string[], spanSec: number): Case => ({
    name,
    type: "AUDIO",
    resolution: "1280x720",
    files,
    offsets: files.map(() => 0),
    spanSec,
    goal: 1.5,
  });
  const cams3 = await cachedCameras(2, 180);
  const cams1 = await cachedCameras(4, 60);
  return [
    audio("AUDIO 2×2 min", await cut(a2, 120), 120),
    audio("AUDIO 2×5 min", await cut(a2, 300), 300),
    audio("AUDIO 4×10 min", a4, 600),
    audio("AUDIO 2×30 min", a2, 1800),
    { name: "VIDEO 640x480 2×3 min", type: "VIDEO", resolution: "640x480", files: cams3, offsets: [0, 0], spanSec: 180, goal: 1 },
    {
      name: "VIDEO 1280x720 4×1 min, joins 5 s apart",
      type: "VIDEO",
      resolution: "1280x720",
      files: cams1,
      offsets: [0, 5, 10, 15],
      spanSec: 75,
      goal: 1,
    },
  ];
}

export async function benchVsUser(only?: string): Promise<Report[]> {
  console.log("\n# 13. end to end against the user's own ffmpeg command");
  const all = (await cases()).filter((c) => !only || c.name.toLowerCase().includes(only.toLowerCase()));
  const table = new Report("13 vs user's command");
  const eta = new Report("13 ETA");
  const dir = await tempDir("bench-vs-user-");
  const s = await benchStack();
  try {
    for (const c of all) await runCase(s, c, dir, table, eta);
  } finally {
    // BENCH_LOGS=1: the renderer's job lines (each job's phases: fetch, plan, render, deliver).
    if (process.env.BENCH_LOGS)
      console.log(
        s
          .logs()
          .split("\n")
          .filter((l) => l.includes("[job "))
          .join("\n"),
      );
    await s.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  return [table, eta];
}

runIfMain(import.meta.url, () => benchVsUser(process.argv[2]));
