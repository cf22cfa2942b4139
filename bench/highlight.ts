// What the speaker highlight costs a VIDEO render: the speaker pass it runs first (audio only) and
// the render with the frames drawn, against the same render without them, on the same files in the
// same process (best of BENCH_REPEAT alternating rounds). 4 cameras × 2 min, 1280x720.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { measureTalk } from "../container/src/assets/speaker-assets.ts";
import { createNativeEngine } from "../container/src/engines/native.ts";
import { planRender } from "../container/src/planner/index.ts";
import { FFMPEG, tempDir } from "../test/fixtures/media.ts";
import { cachedCameras } from "./lib/media.ts";
import { localJob, localPlan, runFfmpeg } from "./lib/plans.ts";
import { fmt, Report, runIfMain } from "./lib/report.ts";

const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2));

export async function benchHighlight(): Promise<Report[]> {
  const report = new Report("18 speaker highlight");
  const files = await cachedCameras(4, 120);
  const dir = await tempDir("bench-highlight-");
  const job = {
    ...localJob({ type: "VIDEO", spanSec: 120, tracks: files.map((file) => ({ file, offsetSec: 0, audio: true, video: true })) }),
    labels: true,
  };
  const plain = await localPlan(job, files, join(dir, "plain.mp4"));
  const highlighted = { ...job, highlight: { color: "#FFC800" } };
  const engine = createNativeEngine(FFMPEG);
  let best = { plain: Infinity, pass: Infinity, drawn: Infinity };
  for (let round = 0; round < REPEAT; round++) {
    const p = await runFfmpeg(plain.plan.args);
    const t0 = performance.now();
    const talk = await measureTalk(engine, plain.plan.speakers!, new AbortController().signal);
    const pass = (performance.now() - t0) / 1000;
    const drawnPlan = planRender(highlighted, plain.facts, { inputs: plain.inputs, output: join(dir, "drawn.mp4") }, { talk });
    for (const f of drawnPlan.textFiles ?? []) writeFileSync(f.path, f.text);
    const d = await runFfmpeg(drawnPlan.args);
    best = { plain: Math.min(best.plain, p.wall), pass: Math.min(best.pass, pass), drawn: Math.min(best.drawn, d.wall) };
  }
  const total = best.pass + best.drawn;
  report.add({ metric: "speaker pass before the render (4 tracks × 2 min of audio)", value: fmt.s(best.pass) });
  report.add({
    metric: "render with labels + highlight, pass included",
    value: fmt.s(total),
    baseline: `${fmt.s(best.plain)} with labels, no highlight`,
    ratio: fmt.x(best.plain / total),
  });
  return [report];
}

runIfMain(import.meta.url, benchHighlight);
